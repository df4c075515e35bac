"""`ssc-infra approve`: a second engineer signs a saved plan, or a lifecycle operation, with
their own SSH key (four eyes, BIO 5.03). Options and output only; the rules are
`ssc_infra.core.approval`, the signing `ssc_infra.state.approval`.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from rich.markup import escape

from ssc_infra.cli.common import EXIT_CHANGES, EXIT_ERROR, EXIT_OK, err, out
from ssc_infra.cli.plans import show_approval_state, show_saved_plan
from ssc_infra.core.approval import (
    LIFECYCLE_OPERATIONS,
    login_of,
    operation_subject,
    plan_subject,
)
from ssc_infra.core.errors import SscError
from ssc_infra.core.governance import GOVERNANCE_FILE
from ssc_infra.report.saved import read_saved_plan
from ssc_infra.sources.governance import load_governance
from ssc_infra.sources.regionfiles import read_region
from ssc_infra.state.approval import add_approval, approver_for, sign, write_approval
from ssc_infra.state.folder import operator
from ssc_infra.state.seal import SealCheck, plan_digest

DEFAULT_KEY = Path("~/.ssh/id_ed25519")


@click.command()
@click.argument("plan_file", required=False, metavar="[PLAN]",
                type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--key", "key_file", type=click.Path(path_type=Path, dir_okay=False),
              envvar="SSC_APPROVAL_KEY", default=DEFAULT_KEY, show_default=True,
              help="Your SSH key: the private key, or its .pub with the private key in "
                   "ssh-agent (or $SSC_APPROVAL_KEY). It must be yours in governance.yaml.")
@click.option("--inventory", type=click.Path(path_type=Path, file_okay=False),
              default=Path("inventory"), show_default=True,
              help="The inventory folder: its governance.yaml lists the approvers.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True,
              help="Its plan.key checks the plan's seal before you approve it.")
@click.option("--operation", type=click.Choice(LIFECYCLE_OPERATIONS),
              help="Approve a lifecycle operation instead of a plan file (with --partner, "
                   "--region and --out): an offboarding, a purge or a merge.")
@click.option("--partner", "partners", multiple=True, metavar="CODE",
              help="With --operation: the partner(s) it is for (repeatable; a merge names "
                   "every partner that merges).")
@click.option("--region", "region_code", metavar="CODE",
              help="With --operation: the region's code (default: region.yaml's).")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="With --operation: the approval file to write.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def approve(plan_file: Path | None, key_file: Path, inventory: Path, state_dir: Path,
            operation: str | None, partners: tuple[str, ...], region_code: str | None,
            out_file: Path | None, yes: bool) -> None:
    """Approve a saved plan as the second engineer: your signature goes into the plan file.

    The plan is shown first, with why the region's policy (governance.yaml `approval:`) wants
    an approval. You sign with your own SSH key (`ssh-keygen -Y sign`); `apply PLAN` then checks
    that the signature is a listed approver's, not the planner's own, made after the plan and
    not expired. Any change to the plan file after that makes apply refuse it whole.

    \b
    Examples:
      ssc-infra approve today.plan.json
      ssc-infra approve today.plan.json --key ~/.ssh/id_ed25519.pub   # key in ssh-agent
      ssc-infra approve --operation offboard --partner vlieland --out vlieland.approval.json
        # then: ssc-infra partner offboard vlieland --to DIR --approval vlieland.approval.json
    Exit code 0 approved, 2 not confirmed, 1 refused (your own plan, not an approver, ...).
    """
    governance = load_governance(inventory)
    if not governance.approvers:
        raise SscError(f"{inventory / GOVERNANCE_FILE} lists no approvers: add each engineer's "
                       "name and SSH public key under `approvers:` first")
    key = key_file.expanduser()
    approver = approver_for(key, governance.approvers)
    me = login_of(operator())
    if approver.name != me:
        err.print(f"[yellow]note:[/] you sign as {escape(approver.name)} (the key's owner in "
                  f"{GOVERNANCE_FILE}) while logged in as {escape(me)}", soft_wrap=True)
    if operation is not None:
        _approve_operation(operation, partners, region_code, out_file, inventory, approver.name,
                           key, yes)
        return
    if plan_file is None:
        raise click.UsageError("give the PLAN file to approve, or --operation")
    saved = read_saved_plan(plan_file, state_dir)
    if saved.seal is SealCheck.UNSEALED:
        raise SscError(f"{plan_file} has no seal: only a plan saved with `ssc-infra plan --out` "
                       "can be approved")
    show_saved_plan(saved, state_dir, "text", compact=True)
    state = show_approval_state(saved, governance)
    if state.planner == approver.name:
        out.print(f"[red]refused:[/] you ({escape(approver.name)}) made this plan; another "
                  "engineer approves it (four eyes)")
        sys.exit(EXIT_ERROR)
    if not yes and not click.confirm(f"Approve this plan as {approver.name}?", default=False,
                                     err=True):
        err.print("not approved.")
        sys.exit(EXIT_CHANGES)
    approval = sign(plan_subject(plan_digest(saved.data)), approver, key)
    add_approval(plan_file, approval)
    until = approval.signed + timedelta(hours=governance.approval.valid_hours)
    out.print(f"[green]approved[/] by {escape(approver.name)} ({escape(approver.fingerprint)}); "
              f"it holds until {until:%Y-%m-%d %H:%M} UTC. Apply it with `ssc-infra apply "
              f"{escape(str(plan_file))}`", soft_wrap=True)
    sys.exit(EXIT_OK)


def _approve_operation(operation: str, partners: tuple[str, ...], region_code: str | None,
                       out_file: Path | None, inventory: Path, name: str, key: Path,
                       yes: bool) -> None:
    if not partners or out_file is None:
        raise click.UsageError("--operation needs --partner and --out")
    region = region_code or _region_code(inventory)
    subject = operation_subject(operation, region, partners)
    out.print(f"approve: {escape(subject)}", soft_wrap=True)
    if not yes and not click.confirm(f"Approve the {operation} of {', '.join(partners)} as "
                                     f"{name}?", default=False, err=True):
        err.print("not approved.")
        sys.exit(EXIT_CHANGES)
    write_approval(out_file, sign(subject, approver_for(key, load_governance(inventory)
                                                        .approvers), key))
    out.print(f"[green]approved[/]: {escape(subject)}, in {escape(str(out_file))}; the engineer "
              f"who runs it passes --approval {escape(str(out_file))}", soft_wrap=True)
    sys.exit(EXIT_OK)


def _region_code(inventory: Path) -> str:
    spec, problems = read_region(inventory)
    if spec is None:
        raise SscError(f"cannot read {inventory / 'region.yaml'} for the region's code "
                       "(pass --region CODE): " + "; ".join(str(p) for p in problems[:3]))
    return spec.region.code
