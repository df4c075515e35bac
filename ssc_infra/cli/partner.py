"""`ssc-infra partner ...`: a partner's life in the SSC.
Options and output only; the work is `ssc_infra.lifecycle`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    err,
    format_option,
    inventory_options,
    out,
    print_json,
    run_request,
    source_for,
    source_target_options,
    target_options,
)
from ssc_infra.cli.plans import (
    plan_exit_code,
    planned_run,
    show_plan,
)
from ssc_infra.core.errors import InventoryError, Problem, SscError, quoted
from ssc_infra.lifecycle.intake import Given, Onboarded, onboard_files, onboard_netbox, read_given
from ssc_infra.lifecycle.onboard import PartnerOptions
from ssc_infra.lifecycle.people import new_export, write_export
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.report import problem_lines, problems_json
from ssc_infra.run import (
    PlannedRun,
)
from ssc_infra.sources.hrexport import DEFAULT, load_mapping, read_export

_PATH = click.Path(path_type=Path)  # existence and kind are checked when read, as hostile input


@click.group()
def partner() -> None:
    """Onboard a partner, offboard one with nothing lost, merge partners.

    \b
    Every command changes the inventory, then shows that partner's plan; nothing changes in
    AD, Microsoft 365 or on the hosts before the plan is applied.
    """


@partner.command("onboard")
@click.argument("code")
@click.option("--name", required=True, help="The partner's name, e.g. 'Gemeente Harlingen'.")
@click.option("--upn-suffix", "upn_suffix", required=True,
              help="Its UPN and mail domain, e.g. harlingen.nl (no other partner's).")
@click.option("--people", "people_file", required=True, type=_PATH,
              help="The partner's HR export (CSV).")
@click.option("--columns", "columns_file", type=_PATH,
              help="A mapping file for an export in another shape: column names, date "
                   "formats, encoding, separator, values (examples/hr/*.yaml). Without it "
                   "the export has the inventory's columns.")
@click.option("--site", "site_options", multiple=True,
              metavar="code=C,name=N,vlan=V,subnet=S[,flex_desks=F][,shared=true]",
              help="A site of the partner (repeatable); its VLAN and subnet must be free in "
                   "the region.")
@click.option("--sites", "sites_file", type=_PATH,
              help="A YAML file with the partner's sites, as in a partner file.")
@click.option("--devices", "devices_file", type=_PATH,
              help="Its device list, in the inventory's columns (asset_tag, kind, "
                   "employee_id, site, mac, wg_public_key).")
@click.option("--services", "services", multiple=True, metavar="CODE[,CODE...]",
              help="The services it opts in to, from region.yaml's catalogue (comma-separated "
                   "or repeated).")
@click.option("--quota", type=click.IntRange(min=0),
              help="The most people (not yet left) it may have, as agreed.")
@click.option("--kind", type=click.Choice(["municipality", "affiliated"]),
              default="municipality", show_default=True)
@click.option("--identity", type=click.Choice(["hybrid", "cloud"]), default="hybrid",
              show_default=True,
              help="hybrid: AD accounts, synchronised to Microsoft 365; cloud: Microsoft 365 "
                   "only.")
@click.option("--dry-run", is_flag=True, help="Check the partner with the whole region and "
              "say what would be written; write nothing.")
@click.option("--no-plan", is_flag=True,
              help="Write the files, but do not make the partner's plan (no target needed).")
@inventory_options
@target_options
@format_option
def onboard(code: str, name: str, upn_suffix: str, people_file: Path,
            columns_file: Path | None, site_options: tuple[str, ...], sites_file: Path | None,
            devices_file: Path | None, services: tuple[str, ...], quota: int | None,
            kind: str, identity: str, dry_run: bool, no_plan: bool, inventory: Path,
            today: date, targets_file: Path, target_name: str, state_dir: Path,
            fmt: str) -> None:
    """Onboard a partner: write its inventory files, checked with the whole region, and
    show its plan.

    The HR export is converted to the inventory's people CSV (with --columns: from another
    HR system's shape); a surname with the infix inside ("van de Wal", no infix) is split.
    The partner file, the people CSV and the device list are first checked with every
    partner by the inventory's own loader — VLANs, subnets, site codes and UPN suffix free in
    the region, the quota, every row of the export (told at the export's own line) — and
    only then written; nothing is ever written over an existing partner. Names come from the
    naming policy, the name ledger and the directory: nobody who has an account is renamed.

    \b
    Examples:
      ssc-infra partner onboard harlingen --name "Gemeente Harlingen" \\
          --upn-suffix harlingen.nl --people examples/hr/harlingen-afas.csv \\
          --columns examples/hr/afas.yaml --sites examples/hr/harlingen-sites.yaml \\
          --services m365-e3,zaaksysteem-rex,vpn --quota 60
      ssc-infra partner onboard sport --name "Sportbedrijf" --kind affiliated \\
          --identity cloud --upn-suffix sport.example --people sport.csv \\
          --site code=spo-hal,name=Sporthal,vlan=140,subnet=10.40.0.0/24 --dry-run
      ssc-infra partner onboard ... --source netbox   # the partner's objects into NetBox
    Exit code 1 when it cannot be onboarded (nothing written); else the plan's: 2 changes
    pending, 0 nothing to do — and 0 with --dry-run, --no-plan or no target to plan against.
    """
    options = PartnerOptions(
        code, name, upn_suffix, kind, identity,
        tuple(s.strip() for text in services for s in text.split(",") if s.strip()), quota)
    given = Given(options, people_file, columns_file, devices_file, sites_file, site_options)
    request = read_given(given)
    source = source_for(inventory)
    netbox = isinstance(source, NetBoxSource)
    if isinstance(source, NetBoxSource):
        with err.status(escape(f"reading {source.describe()}...")):
            done = onboard_netbox(source, request, today, state_dir, target_name,
                                  write=not dry_run)
    else:
        done = onboard_files(inventory, request, today, write=not dry_run)
    if not done.ok:
        _refused(code, list(done.problems), fmt, inventory)
    result = _result(done, dry_run)
    if fmt == "text":
        _print_onboarded(done, inventory, dry_run, netbox)
    failed = [r for r in done.pushed if not r.ok]
    if failed:
        if fmt == "json":
            print_json(result)
        sys.exit(EXIT_ERROR)
    if dry_run or no_plan:
        if fmt == "json":
            print_json(result)
        elif not dry_run:
            out.print(f"its plan: `ssc-infra plan --partner {escape(code)}`")
        sys.exit(EXIT_OK)
    planned = _plan(inventory, today, targets_file, target_name, state_dir, code, fmt)
    if planned is None:
        if fmt == "json":
            print_json(result)
        sys.exit(EXIT_OK)
    if fmt == "json":
        print_json({**result, "plan": planned.to_dict(planned.meta())})
    else:
        show_plan(planned, "text", {})
    sys.exit(plan_exit_code(planned))


def _plan(inventory: Path, today: date, targets_file: Path, target_name: str,
          state_dir: Path, code: str, fmt: str) -> PlannedRun | None:
    """The partner's plan as `plan --partner CODE` makes it; None (said why) when the target
    cannot be planned against."""
    request = run_request(inventory, today, targets_file, target_name, state_dir, (code,), (),
                          "plan")
    try:
        return planned_run(request)
    except InventoryError:
        raise
    except SscError as e:
        err.print(f"[yellow]no plan:[/] {escape(str(e))}", soft_wrap=True)
        err.print(f"the partner is onboarded; see its plan with `ssc-infra plan --partner "
                  f"{escape(code)}` once target {escape(target_name)!r} answers.",
                  soft_wrap=True)
        return None


def _result(done: Onboarded, dry_run: bool) -> dict[str, Any]:
    made = done.partner
    assert made is not None
    failed = [r for r in done.pushed if not r.ok]
    return {"partner": made.code, "onboarded": not dry_run and not failed,
            "dry_run": dry_run, "written": list(done.written),
            "files": list(made.files), "people": made.people, "split_surnames": made.split,
            "others_held": list(done.others_held), "problems": [], "plan": None,
            **({"netbox": {"pushed": len(done.pushed) - len(failed),
                           "failed": [{"kind": r.change.kind.value, "key": r.change.key,
                                       "message": r.message} for r in failed]}}
               if done.pushed else {})}


def _print_onboarded(done: Onboarded, inventory: Path, dry_run: bool, netbox: bool) -> None:
    made = done.partner
    assert made is not None
    region = done.region
    partner = region.partner(made.code) if region is not None else None
    split = (f" ({made.split} surname{'s' if made.split != 1 else ''} split into infix and "
             "surname)" if made.split else "")
    where = "NetBox and the inventory" if netbox else "the whole region"
    if partner is not None:
        out.print(f"[green]✓[/] {escape(partner.code)} — {escape(partner.name)}: "
                  f"{made.people:,} people{split}, {len(partner.sites)} "
                  f"site{'s' if len(partner.sites) != 1 else ''}, {len(partner.devices):,} "
                  f"devices; checked with {where}", soft_wrap=True)
    for code in done.others_held:
        err.print(f"[yellow]note:[/] partner {escape(code)} has problems in its own HR export "
                  "or device list (onboarding does not touch it): `ssc-infra validate` lists "
                  "them", soft_wrap=True)
    if dry_run:
        out.print("nothing written (--dry-run); it would write: "
                  + ", ".join(escape(str(inventory / rel)) for rel in made.files
                              if not netbox or rel.startswith("people/"))
                  + (f", and push {escape(made.code)}'s objects into NetBox" if netbox else ""),
                  soft_wrap=True)
        return
    out.print("wrote " + ", ".join(escape(str(inventory / rel)) for rel in done.written),
              soft_wrap=True)
    if done.pushed:
        failed = [r for r in done.pushed if not r.ok]
        for r in failed[:20]:
            err.print(f"[red]failed[/] {r.change.kind.value} {escape(r.change.key)}: "
                      f"{escape(r.message)}", soft_wrap=True)
        out.print(f"pushed {len(done.pushed) - len(failed):,} of {len(done.pushed):,} objects "
                  f"of {escape(made.code)} to NetBox"
                  + (f", [red]{len(failed)} failed[/]" if failed else ""))
        if failed:
            err.print(f"NetBox holds part of {escape(made.code)} now (tagged ssc-infra): make "
                      "the rest there, or delete those objects and the HR export written "
                      "above, and onboard again.", soft_wrap=True)


def _refused(code: str, problems: list[Problem], fmt: str, inventory: Path) -> NoReturn:
    if fmt == "json":
        print_json({"partner": code, "onboarded": False, "written": [],
                     "problems": problems_json(problems)})
        sys.exit(EXIT_ERROR)
    count = len(problems)
    shown = code if len(code) <= 40 else quoted(code)  # a code is checked: it may be anything
    err.print(f"[bold red]partner {escape(shown)} cannot be onboarded: {count} "
              f"problem{'s' if count != 1 else ''}[/] (nothing was written to "
              f"{escape(str(inventory))}):", soft_wrap=True)
    for line in list(problem_lines(problems))[1:]:
        err.print(line, soft_wrap=True)
    sys.exit(EXIT_ERROR)



@partner.command("people")
@inventory_options
@source_target_options
@format_option
@click.argument("code")
@click.option("--people", "people_file", required=True, type=_PATH,
              help="The partner's new HR export.")
@click.option("--columns", "columns_file", type=_PATH,
              help="The mapping file of its HR system's export (as at onboarding); without "
                   "it the export has the inventory's columns.")
@click.option("--dry-run", is_flag=True, help="Check it with the whole region; write nothing.")
def people(inventory: Path, today: date, fmt: str, code: str, people_file: Path,
           columns_file: Path | None, dry_run: bool) -> None:
    """Take in a partner's next HR export: converted, checked, written over its people CSV.

    The export may be in its HR system's own shape (AFAS, Visma/Raet, YouForce...) with the
    mapping file used at onboarding. It is checked with the whole region in a staged copy and
    written only when the region loads with it (every problem at the export's line). What it
    changes for people is the next plan's: `ssc-infra plan --partner CODE` shows it, and a
    truncated export is held there by the guard.

    \b
    Examples:
      ssc-infra partner people harlingen --people afas-2027-01.csv --columns afas.yaml
      ssc-infra partner people ameland --people ameland.csv --dry-run --format json
    Exit code 0 written (or would be, with --dry-run), 1 refused (nothing written).
    """
    source = source_for(inventory)
    if isinstance(source, NetBoxSource):
        raise SscError("partner people writes the HR export into the inventory folder: run it "
                       "with --source files (NetBox holds no people)")
    loaded = source.load(today)
    if code not in loaded.data_files:
        raise click.BadParameter(f"no partner {quoted(code)} in the inventory", param_hint="CODE")
    mapping = load_mapping(columns_file, str(columns_file)) if columns_file else DEFAULT
    if isinstance(mapping, list):
        raise InventoryError(mapping)
    partner_ = next((p for p in loaded.region.partners if p.code == code), None)
    rel = (loaded.data_files[code] or ("",))[0]
    if partner_ is None or not rel:
        raise SscError(f"{code} has no HR export the inventory reads (offboarded, merged, or "
                       "held by problems of its own partner file: `ssc-infra validate`)")
    found = new_export(inventory, partner_, rel, read_export(people_file, str(people_file),
                                                            mapping), today)
    if isinstance(found, list):
        raise InventoryError(found)
    if not dry_run:
        write_export(inventory, found)
    summary = {"partner": code, "file": rel, "people": found.rows, "split": found.split,
               "joined": list(found.joined), "gone": list(found.gone),
               "changed": list(found.changed), "written": not dry_run}
    if fmt == "json":
        print_json(summary)
        return
    verb = "would write" if dry_run else "wrote"
    out.print(f"{verb} {escape(str(inventory / rel))}: {found.rows:,} people "
              f"({len(found.joined):,} new in the export, {len(found.gone):,} gone from it, "
              f"{len(found.changed):,} changed; {found.split:,} surnames split into infix and "
              "surname)")
    if not dry_run:
        out.print(f"next: `ssc-infra plan --partner {escape(code)}` shows what it changes")
