"""`ssc-infra lab up|down|status|entra-sync`: the local lab (a Samba AD DC on loopback, the
Graph emulator, optionally NetBox), for trying the tool and for the demo.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_ERROR,
    err,
    inventory_options,
    load_region,
    out,
)
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Identity
from ssc_infra.run.targets import (
    DEFAULT_TARGETS,
    ad_settings,
    load_target,
    write_target,
)


@click.group()
def lab() -> None:
    """A throwaway Samba AD DC on loopback, for trying the tool and for the demo.

    \b
    Examples:
      ssc-infra lab up          # installs Samba if needed, starts the DC, writes target `lab`
      ssc-infra plan            # the lab is the default target
      ssc-infra lab down
    """


def _lab_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "dc"


def _netbox_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "netbox"


def _graph_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "graph"


def _hr_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "hr"


@lab.command("up")
@inventory_options
@click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_TARGETS, show_default=True, help="Where to write the lab target.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="The lab lives in STATE_DIR/lab.")
@click.option("--address", default="auto", show_default=True,
              help="Loopback address for the DC (ports 389 and 636); `auto` keeps the lab's "
                   "last address while it is free, else picks a free one in 127.0.0.0/8.")
@click.option("--fresh", is_flag=True, help="Start from an empty domain (drops the lab's data).")
@click.option("--with-netbox", is_flag=True,
              help="Also start a NetBox 4.7 (PostgreSQL, Redis, gunicorn on a free loopback "
                   "port) and add it to the target. The first time installs it (~5 min).")
def lab_up(inventory: Path, today: date, targets_file: Path, state_dir: Path,
           address: str, fresh: bool, with_netbox: bool) -> None:
    """Start the lab DC for the inventory's domain and write the `lab` target.

    The lab keeps its data between `lab down` and `lab up`; `--fresh` starts it empty.

    \b
    Examples:
      ssc-infra lab up
      ssc-infra lab up --with-netbox && ssc-infra netbox push --yes
      ssc-infra lab up --with-netbox --source netbox   # tenants for partners in NetBox
    """
    from ssc_infra_lab.dc import lab_address, start_dc

    netbox: dict[str, Any] = {}
    if with_netbox:
        # NetBox first: with `--source netbox` the region is read from it (the lab's tenants
        # follow a partner onboarded into NetBox).
        from ssc_infra_lab.netbox import start_netbox

        with err.status("starting the lab NetBox (the first time installs and migrates it: "
                        "~5 min)..."):
            server = start_netbox(_netbox_dir(state_dir))
        netbox = {"netbox": {"url": server.url, "token_file": str(server.token_file)}}
        out.print(f"lab NetBox runs at {server.url}/ — web UI login: user admin, password "
                  f"in {server.admin_password_file} (0600)")
        if targets_file.exists():  # where it runs now (its port may be another than before)
            write_target(targets_file, "lab", netbox, merge=True)
    region = load_region(inventory, today)
    address = lab_address(_lab_dir(state_dir), address)
    with err.status("starting the lab DC (the first time provisions a domain: ~10 s)..."):
        dc = start_dc(_lab_dir(state_dir), region.directory.domain, address, fresh=fresh)
    from ssc_infra_lab.graph import start_graph_emulator

    with err.status("starting the lab's Graph emulator (a tenant per partner)..."):
        graph = start_graph_emulator(_graph_dir(state_dir), address, region)
    out.print(f"lab Microsoft 365: the Graph EMULATOR (not a real tenant) runs at {graph.url} "
              f"with {len(graph.tenants)} tenants, one per partner")
    from ssc_infra_lab.hr import seeds_of, start_hr_emulator

    hr_entry: dict[str, Any] = {}
    seeds = seeds_of(inventory)
    if seeds:
        with err.status("starting the lab's HR emulator (AFAS Profit, Visma Raet)..."):
            hr = start_hr_emulator(_hr_dir(state_dir), address, seeds)
        hr_entry = {"hr": hr.target()}
        out.print(f"lab HR systems: the HR EMULATOR (not a real AFAS or Visma) runs at "
                  f"{hr.url} for {', '.join(sorted(hr.partners))}")
    write_target(targets_file, "lab", {**netbox, **hr_entry, "graph": graph.target(), "ad": {
        "url": dc.url, "bind_user": dc.bind_user, "base_dn": dc.base_dn,
        "ca_file": str(dc.ca_file), "tls_names": [dc.tls_name],
        "bind_password_file": str(dc.password_file), "workers": 8,
    }, "ansible": {
        # The workplace hosts of the lab are folders: every managed path is below ROOT/<host>.
        "connection": "local", "root": str(state_dir.resolve() / "lab" / "hosts"),
        "reload": False, "unknown_owner": "keep",
    }})
    out.print(f"lab DC for {dc.domain} runs at {dc.url} (pid {dc.pid}); workplace hosts are "
              f"folders in {state_dir / 'lab' / 'hosts'}; target `lab` written to {targets_file}")


@lab.command("down")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True)
def lab_down(state_dir: Path) -> None:
    """Stop the lab DC (its data stays in STATE_DIR/lab until the next `lab up`)."""
    from ssc_infra_lab.dc import dc_status, stop_dc
    from ssc_infra_lab.graph import graph_status, stop_graph_emulator
    from ssc_infra_lab.netbox import netbox_status, stop_netbox

    server = netbox_status(_netbox_dir(state_dir))
    if server is not None:
        stop_netbox(server)
        out.print(f"stopped the lab NetBox at {server.url}")
    graph = graph_status(_graph_dir(state_dir))
    if graph is not None:
        stop_graph_emulator(graph)
        out.print(f"stopped the lab's Graph emulator at {graph.url}")
    from ssc_infra_lab.hr import hr_status, stop_hr_emulator

    hr = hr_status(_hr_dir(state_dir))
    if hr is not None:
        stop_hr_emulator(hr)
        out.print(f"stopped the lab's HR emulator at {hr.url}")
    dc = dc_status(_lab_dir(state_dir))
    if dc is None:
        out.print("the lab DC is not running")
        return
    stop_dc(dc)
    out.print(f"stopped the lab DC (pid {dc.pid})")


@lab.command("status")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True)
def lab_status(state_dir: Path) -> None:
    """Is the lab DC running? Exit 0 when it is, 1 when not."""
    from ssc_infra_lab.dc import dc_status

    dc = dc_status(_lab_dir(state_dir))
    if dc is None:
        out.print("the lab DC is not running; start it with `ssc-infra lab up`")
        sys.exit(EXIT_ERROR)
    out.print(f"the lab DC for {dc.domain} runs at {dc.url} (pid {dc.pid})")
    from ssc_infra_lab.netbox import netbox_status

    server = netbox_status(_netbox_dir(state_dir))
    if server is not None:
        out.print(f"the lab NetBox runs at {server.url}/")
    from ssc_infra_lab.graph import graph_status

    graph = graph_status(_graph_dir(state_dir))
    if graph is not None:
        out.print(f"the lab's Graph emulator runs at {graph.url} (pid {graph.pid})")
    from ssc_infra_lab.hr import hr_status

    hr = hr_status(_hr_dir(state_dir))
    if hr is not None:
        out.print(f"the lab's HR emulator runs at {hr.url} (pid {hr.pid})")


@lab.command("entra-sync")
@inventory_options
@click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_TARGETS, show_default=True, help="The targets file.")
@click.option("--target", "target_name", envvar="SSC_TARGET", default="lab", show_default=True,
              help="The lab target (its DC is read).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="The lab lives in STATE_DIR/lab.")
def lab_entra_sync(inventory: Path, today: date, targets_file: Path, target_name: str,
                   state_dir: Path) -> None:
    """The lab's Entra Connect: copy the hybrid partners' AD accounts and licence groups into
    their tenants in the Graph emulator, with group-based licensing on the licence groups.

    A real tenant gets this from Entra Connect every 30 minutes; the lab has none, so run this
    after an apply to see the hybrid partners verified (`drift` reports users not synced yet
    as waiting, not as drift).

    \b
    Examples:
      ssc-infra apply --yes && ssc-infra lab entra-sync && ssc-infra drift
    """
    from ssc_infra.ad.backend import LdapDirectory
    from ssc_infra.run.directory import scope_of
    from ssc_infra_lab.graph import entra_sync, graph_status

    graph = graph_status(_graph_dir(state_dir))
    if graph is None:
        raise SscError("the lab's Graph emulator is not running: start it with `ssc-infra lab "
                       "up`")
    region = load_region(inventory, today)
    target = load_target(targets_file, target_name)
    with err.status("reading the lab DC..."):
        state = LdapDirectory(ad_settings(target, target_name)).read(scope_of(region), 4)
    if target.graph is None or not target.graph.emulator:
        raise SscError(f"target {target_name!r} is not the lab's: its `graph:` is not the "
                       "emulator (a real tenant has Entra Connect of its own)")
    # The lab names a tenant per partner; one onboarded since `lab up` has none yet.
    tenants = {p.code: target.graph.tenants[p.code] for p in region.partners
               if p.code in target.graph.tenants}
    for p in region.partners:
        if p.code not in tenants and p.identity is Identity.HYBRID:
            err.print(f"[yellow]{escape(p.code)}: no tenant in the lab's Graph emulator yet[/] "
                      "(onboarded since `lab up`): run `ssc-infra lab up` to add it")
    synced_any = False
    for synced in entra_sync(region, state, tenants, graph.control()):
        synced_any = True
        groups = "licence group" + ("" if synced.groups == 1 else "s")
        out.print(f"{escape(synced.partner)}: {synced.users:,} accounts and {synced.groups} "
                  f"{groups} synchronised into its tenant (emulator)")
    if not synced_any:
        out.print("no hybrid partner to synchronise")


@lab.command("delegate")
@inventory_options
@click.option("--partner", "partners", multiple=True, metavar="CODE",
              help="Give this partner a bind account of its own (repeatable). Default: every "
                   "partner of the region with accounts in AD.")
@click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_TARGETS, show_default=True, help="The targets file.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="The lab lives in STATE_DIR/lab.")
def lab_delegate(inventory: Path, today: date, partners: tuple[str, ...], targets_file: Path,
                 state_dir: Path) -> None:
    """Partner-scoped credentials in the lab: an account per partner (svc-ssc-CODE, its
    password in a 0600 file of the lab), delegated to that partner's OUs only (as `ssc-infra
    delegate` does on a real AD), and named under ad.partners in the lab target. A run with
    `--partner CODE` then binds with it. Run it after the first whole-region apply (it makes
    the partners' OUs).

    \b
    Examples:
      ssc-infra apply --yes && ssc-infra lab delegate --partner waadhoeke
      ssc-infra plan --partner waadhoeke      # binds as svc-ssc-waadhoeke
    """
    from ssc_infra.ad.connection import connect
    from ssc_infra.ad.delegation import delegate, partner_ous
    from ssc_infra_lab.dc import make_service_account

    region = load_region(inventory, today)
    codes = partners or tuple(p.code for p in region.partners
                              if p.identity is Identity.HYBRID and p.active)
    target = load_target(targets_file, "lab")
    settings = ad_settings(target, "lab")
    folder = _lab_dir(state_dir).parent / "delegated"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    binds: dict[str, Any] = dict(target.ad.partners) if target.ad else {}
    d = region.directory
    conn = connect(settings)
    try:
        for code in codes:
            account, password_file = make_service_account(conn, settings.base_dn, code, folder)
            done = delegate(conn, settings.base_dn,
                            partner_ous(settings.base_dn, d.partners_ou, d.leavers_ou, code),
                            account)
            added = sum(ou.added for ou in done)
            binds[code] = {"bind_user": f"{account}@{region.directory.domain}",
                           "bind_password_file": str(password_file)}
            out.print(f"{escape(code)}: {escape(account)} may write its OUs only"
                      + (f" ({added} entries added)" if added else " (delegated already)"))
    finally:
        conn.unbind()
    ad = target.ad.model_dump() if target.ad else {}
    ad["partners"] = {code: b if isinstance(b, dict) else b.model_dump(exclude_none=True)
                      for code, b in binds.items()}
    write_target(targets_file, "lab", {"ad": ad}, merge=True)
    out.print("the lab target names their accounts under ad.partners "
              f"({escape(str(targets_file))})")


@lab.command("approver")
@click.option("--inventory", type=click.Path(path_type=Path, file_okay=False),
              default=Path("inventory"), show_default=True,
              help="The inventory whose governance.yaml lists the approver.")
@click.option("--name", required=True, help="The approver's name in governance.yaml.")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path,
                                                                   dir_okay=False),
              help="The public key (.pub) the lab's approver signs with.")
def lab_approver(inventory: Path, name: str, key_file: Path) -> None:
    """Give an approver of the lab's inventory a key the lab holds, for the demo's four eyes.

    The sample's governance.yaml lists fictional engineers with public keys whose private
    halves nobody has; the demo makes a key and puts it in for one of them, in its copy of the
    inventory only. The entry stays one line: `- {name: NAME, key: "..."}`.

    \b
    Examples:
      ssh-keygen -t ed25519 -f .ssc/demo-keys/tvdmeer && \\
      ssc-infra lab approver --inventory .ssc/demo-inventory --name tvdmeer \\
        --key .ssc/demo-keys/tvdmeer.pub
    """
    path = inventory / "governance.yaml"
    key = " ".join(key_file.read_text(encoding="ascii").split()[:2])
    text = path.read_text(encoding="utf-8")
    entry = re.compile(rf'^(\s*- \{{name: {re.escape(name)}, key: )"[^"]*"(}}\s*)$', re.M)
    if not entry.search(text):
        raise SscError(f"{path} has no one-line approver entry for {name!r}")
    path.write_text(entry.sub(lambda m: f'{m.group(1)}"{key} {name} (lab)"{m.group(2)}', text),
                    encoding="utf-8")
    out.print(f"{escape(name)} approves with {escape(str(key_file))} in {escape(str(path))}")
