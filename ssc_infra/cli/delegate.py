"""`ssc-infra delegate`: a partner's own bind account gets rights in that partner's OUs only,
set in the DC's security descriptors. Options and output only; the work is
`ssc_infra.ad.delegation`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from rich.markup import escape

from ssc_infra.ad.connection import connect
from ssc_infra.ad.delegation import delegate, partner_ous
from ssc_infra.cli.common import (
    check_partners,
    inventory_options,
    load_region,
    out,
    target_options,
)
from ssc_infra.run import check_base_dn
from ssc_infra.run.targets import ad_settings, load_target


@click.command("delegate")
@inventory_options
@target_options
@click.option("--partner", "partner", required=True, metavar="CODE",
              help="The partner whose OUs the account may write.")
@click.option("--account", required=True, metavar="SAM",
              help="The partner's bind account (its sAMAccountName); make it first.")
def delegate_command(inventory: Path, today: date, targets_file: Path, target_name: str,
                     state_dir: Path, partner: str, account: str) -> None:
    """Give a partner's own bind account the rights to its OUs, and nowhere else.

    Adds to the partner's OU and its OU among the leavers the entries that let ACCOUNT create,
    change, move and disable users and groups there (every right on them but their
    permissions). Nothing else is granted: with ACCOUNT, a write into another partner's OU or
    a privileged group is refused by the DC itself. Run it with the target's own (region)
    bind account, which needs the right to change those OUs' permissions; running it again
    adds nothing. Then name the account in the target:

    \b
      ad:
        partners:
          waadhoeke: {bind_user: svc-ssc-wdh@ssc.frl, bind_password_env: SSC_AD_WDH}
    and a run with `--partner waadhoeke` binds with it.

    \b
    Examples:
      ssc-infra delegate --partner waadhoeke --account svc-ssc-wdh --target production
    Exit code 0 done, 1 error (no such account or OU, the DC refused).
    """
    region = load_region(inventory, today)
    check_partners(region, (partner,))
    target = load_target(targets_file, target_name)
    settings = ad_settings(target, target_name)
    check_base_dn(settings, region)
    d = region.directory
    conn = connect(settings)
    try:
        done = delegate(conn, settings.base_dn,
                        partner_ous(settings.base_dn, d.partners_ou, d.leavers_ou, partner),
                        account)
    finally:
        conn.unbind()
    for ou in done:
        what = f"{ou.added} entries added" if ou.added else "delegated already"
        out.print(f"{escape(ou.dn)}: {what}", soft_wrap=True)
    out.print(f"{escape(account)} may now write {escape(partner)}'s users and groups, and "
              "nothing else; name it under ad.partners in the target")
