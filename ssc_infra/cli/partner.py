"""`ssc-infra partner ...`: a partner's life in the SSC.
Options and output only; the work is `ssc_infra.lifecycle`."""

from __future__ import annotations

import dataclasses
import sys
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    HOOKS,
    err,
    format_option,
    inventory_options,
    item_progress,
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
    print_apply_result,
    show_plan,
)
from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.core.model import HostRole, Region
from ssc_infra.hosts.storage import read_home_folders
from ssc_infra.lifecycle.handover import BundleCheck, BundleError, bundle_folder, remove_bundle
from ssc_infra.lifecycle.intake import Given, Onboarded, onboard_files, onboard_netbox, read_given
from ssc_infra.lifecycle.merge import (
    IdMap,
    MergeRequest,
    check_staged,
    merge_files,
    read_ids,
    write_merge,
)
from ssc_infra.lifecycle.offboard import (
    gather,
    mark_offboarded,
    partner_file,
    unmark,
    write_handover,
)
from ssc_infra.lifecycle.onboard import PartnerOptions
from ssc_infra.lifecycle.people import new_export, write_export
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.report import problem_lines, problems_json
from ssc_infra.run import (
    PlannedRun,
    check_base_dn,
    execute_apply,
    locked,
    prepare_apply,
    real_backends,
)
from ssc_infra.run.directory import scope_of
from ssc_infra.run.targets import Target, ad_settings, ansible_settings, load_target
from ssc_infra.sources.hrexport import DEFAULT, load_mapping, read_export
from ssc_infra.sources.located import decode, read_regular
from ssc_infra.state.folder import StateDir

# An offboarding disables every account of the partner: the guard is sized by the operator,
# who sees the whole plan before confirming (or asked for it with --yes).
WHOLE_PARTNER = 10**9

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
    err.print(f"[bold red]partner {escape(code)} cannot be onboarded: {count} "
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
        raise click.BadParameter(f"no partner {code!r} in the inventory", param_hint="CODE")
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


@partner.command("offboard")
@inventory_options
@target_options
@click.argument("code")
@click.option("--to", "folder", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="A new (or empty) folder for the handover bundle.")
@click.option("--yes", is_flag=True, help="Apply without asking (scripts).")
def offboard(inventory: Path, today: date, targets_file: Path, target_name: str,
             state_dir: Path, code: str, folder: Path, yes: bool) -> None:
    """Offboard a partner: its handover bundle first, then (plan, confirm) take it out.

    The bundle (people, accounts with every attribute, groups and members, Microsoft 365
    users and licences, devices, addresses, the partner's part of every host file, with a
    manifest of counts and SHA-256 checksums; JSON and CSV, LDIF for the accounts) is written
    and read back before anything changes. Then the partner is marked offboarded in its
    partners/CODE.yaml and the plan is shown: its accounts disabled and moved to its leavers
    OU, out of every group, licence and shared service, its addresses released, its homes
    archived. Nothing is deleted. Declining leaves the partner file as it was (the bundle
    stays).

    \b
    Examples:
      ssc-infra partner offboard vlieland --to /srv/handover/vlieland-2026-12
      ssc-infra bundle verify /srv/handover/vlieland-2026-12
    Exit code 0 offboarded, 2 not confirmed or a partner held, 1 error.
    """
    try:
        folder = bundle_folder(folder)
    except BundleError as e:
        raise click.BadParameter(str(e).removeprefix("--to ").strip(),
                                 param_hint="--to") from None
    if folder.is_relative_to(inventory.resolve()):
        raise click.BadParameter(f"{str(folder)!r} is inside the inventory folder: the bundle "
                                 "holds personal data and the inventory is shared (often a "
                                 "git repository); give a folder outside it", param_hint="--to")
    existed = folder.is_dir()
    request = run_request(inventory, today, targets_file, target_name, state_dir, (code,), (),
                          "offboard")
    if isinstance(request.source, NetBoxSource):
        raise SscError("partner offboard works on the inventory folder's files: offboard with "
                       "--source files, then `ssc-infra netbox push` carries the mark to NetBox")
    with locked(request, f"ssc-infra partner offboard {code}"):
        loaded = request.source.load(today)
        if code in loaded.held:
            raise SscError(f"{code}'s HR export or device list has problems (`ssc-infra "
                           "validate` lists them): its handover bundle must hold its people "
                           "as they are; fix them first")
        check = _write_bundle(loaded.region, code, folder, targets_file, target_name,
                              state_dir, today)
        path = partner_file(inventory, code)
        try:
            before = mark_offboarded(path, today, check)
        except BaseException:
            _take_back(check.folder, existed, "its partner file could not be marked")
            raise
        try:
            run = dataclasses.replace(request, allow_disable={code: WHOLE_PARTNER},
                                      command="apply")
            planned = planned_run(run, check_hosts=not yes)
            prepared = prepare_apply(planned, None)
            show_plan(planned, "text", {})
            if not yes and not click.confirm(f"Offboard {code} with this plan?", default=False,
                                             err=True):
                unmark(path, before)
                err.print(f"nothing applied; {escape(str(path))} is as it was. The bundle "
                          f"stays in {escape(str(check.folder))}.")
                sys.exit(EXIT_CHANGES)
        except BaseException as e:
            if not isinstance(e, SystemExit):
                unmark(path, before)
                _take_back(check.folder, existed, "the offboarding stopped before its plan "
                                                  "was applied")
            raise
        out.print(f"{escape(str(path))}: {escape(code)} marked offboarded on {today}")
        with item_progress() as hooks:
            outcome = execute_apply(planned, prepared, hooks)
    print_apply_result(outcome, planned, prepared)


def _take_back(folder: Path, existed: bool, why: str) -> None:
    """The bundle this run wrote goes again when the partner is not offboarded after all."""
    remove_bundle(folder, existed)
    err.print(f"[yellow]removed the handover bundle this run wrote to {escape(str(folder))}[/]"
              f": {escape(why)}; the partner is not offboarded, its file is as it was",
              soft_wrap=True)


@partner.command("merge")
@inventory_options
@target_options
@click.argument("sources", nargs=-1, required=True, metavar="PARTNER PARTNER...")
@click.option("--into", "into", required=True, metavar="CODE",
              help="The merged partner: a new code, or one of the PARTNERs (it absorbs the "
                   "others).")
@click.option("--name", default="", help="Its name (default: the absorbing partner's).")
@click.option("--upn-suffix", "upn_suffix", default="", metavar="DOMAIN",
              help="Its UPN and mail domain (default: the absorbing partner's).")
@click.option("--kind", type=click.Choice(["municipality", "affiliated"]),
              default="municipality", show_default=True)
@click.option("--ids", "ids_file", type=click.Path(path_type=Path, dir_okay=False),
              help="CSV partner,employee_id,new_employee_id: new employee ids, for ids that "
                   "collide between the partners (refused without it).")
@click.option("--yes", is_flag=True, help="Apply without asking (scripts).")
def merge(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          sources: tuple[str, ...], into: str, name: str, upn_suffix: str, kind: str,
          ids_file: Path | None, yes: bool) -> None:
    """Merge partners into one (municipalities that form one work organisation).

    People keep their accounts and logon names: their accounts move to the merged partner's
    OU and UPN suffix (the old address kept as an alias), with its groups, licences, shared
    services, homes and workplaces; the merged partners' groups are emptied and marked
    retired; nothing is disabled or deleted. The inventory gets the merged partner's files
    (one HR export, one device list, merges/CODE.csv saying who each person was) and keeps the
    others as records; the plan is shown before anything in AD or on the hosts changes, and
    declining puts the inventory back as it was. Guards are sized for the merge: the plan is
    what you confirm (or --yes).

    \b
    Examples:
      ssc-infra partner merge bergen uitgeest castricum heiloo --into buch \\
          --name "Werkorganisatie BUCH" --upn-suffix buch.nl --ids buch-ids.csv
      ssc-infra partner merge haarlemmerliede haarlem --into haarlem --yes
    Exit code 0 merged, 2 not confirmed or a partner held, 1 error.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, (), (),
                          "merge")
    if isinstance(request.source, NetBoxSource):
        raise SscError("partner merge works on the inventory folder's files: merge with "
                       "--source files, then `ssc-infra netbox push` carries it to NetBox")
    codes = tuple(dict.fromkeys((*sources, into)))
    with locked(request, f"ssc-infra partner merge {' '.join(sources)} --into {into}"):
        loaded = request.source.load(today)
        held = [code for code in sources if code in loaded.held]
        if held:
            raise SscError(f"{', '.join(held)}: problems in the HR export or device list "
                           "(`ssc-infra validate` lists them); fix them before the merge")
        ids = _merge_ids(ids_file)
        paths = {p.stem: f"partners/{p.name}" for p in (inventory / "partners").glob("*.y*ml")}
        found = merge_files(loaded.region, MergeRequest(sources, into, name, upn_suffix, kind,
                                                        ids), today, paths)
        if isinstance(found, list):
            raise InventoryError(found)
        problems = check_staged(inventory, found, today, codes)
        if problems:
            raise InventoryError(problems)
        written = write_merge(inventory, found)
        try:
            run = dataclasses.replace(request, partners=codes, command="apply", together=codes,
                                      allow_disable={code: WHOLE_PARTNER for code in codes})
            planned = planned_run(run, check_hosts=not yes)
            prepared = prepare_apply(planned, None)
            show_plan(planned, "text", {})
            held = [code for code in codes if code in planned.held_partners]
            if held:  # put back by the handler below
                raise SscError(f"nothing merged: {', '.join(held)} held back (see above), and a "
                               "merge goes whole or not at all; the inventory is as it was. "
                               "Fix what holds it (seats in its tenant, a tenant for "
                               f"{into} in the target's graph.tenants) and merge again")
            if not yes and not click.confirm(f"Merge {', '.join(sources)} into {into} with "
                                             "this plan?", default=False, err=True):
                written.undo()
                err.print("nothing applied; the inventory is as it was.")
                sys.exit(EXIT_CHANGES)
        except BaseException as e:
            if not isinstance(e, SystemExit):
                written.undo()
            raise
        out.print(f"inventory: {escape(into)} holds {found.moved:,} people of "
                  f"{escape(', '.join(c for c in sources if c != into))} "
                  f"({found.renumbered:,} with a new employee id); wrote "
                  f"{escape(', '.join(sorted({**found.new, **found.replaced})))}")
        with item_progress() as hooks:
            outcome = execute_apply(planned, prepared, hooks)
    print_apply_result(outcome, planned, prepared)


def _merge_ids(path: Path | None) -> IdMap | None:
    if path is None:
        return None
    data = read_regular(path, str(path), 10 * 1024 * 1024)
    text = decode(data, str(path), "save it as CSV UTF-8") if isinstance(data, bytes) else data
    if isinstance(text, Problem):
        raise InventoryError([text])
    found = read_ids(path, text)
    if isinstance(found, list):
        raise InventoryError(found)
    return found


def _write_bundle(region: Region, code: str, folder: Path, targets_file: Path,
                  target_name: str, state_dir: Path, today: date) -> BundleCheck:
    try:
        partner_ = region.partner(code)
    except KeyError as e:
        raise click.BadParameter(str(e.args[0]), param_hint="CODE") from None
    if partner_.offboarded is not None:
        raise SscError(f"{code} was offboarded on {partner_.offboarded.on}; its bundle is in "
                       f"{partner_.offboarded.bundle} (`ssc-infra bundle verify` checks it). "
                       f"If its plan was not applied then, `ssc-infra plan --partner {code}` "
                       f"shows it and `ssc-infra apply --partner {code} --allow-disable "
                       f"{code}=N` applies it")
    target = load_target(targets_file, target_name)
    settings = ad_settings(target, target_name)
    check_base_dn(settings, region)
    cloud = None
    if target.graph is not None:
        backends = real_backends(settings, None, StateDir(state_dir).ensure(), target,
                                 target_name)
        assert backends.graph is not None
        with err.status("reading its Microsoft 365 tenant..."):
            found, failed = backends.graph.read([partner_])
        backends.graph.close()
        if failed:
            raise SscError(f"{failed[0].reason}; a bundle without its Microsoft 365 users "
                           "would not be complete: nothing was written or changed")
        cloud = found.get(code)
    homes, notes = _home_folders(region, code, target, state_dir)
    with HOOKS.status(f"reading everything of {code} for its handover bundle..."):
        handover = gather(region, code, settings, state_dir, today, target_name, cloud,
                          homes, notes)
        check = write_handover(handover, folder, scope_of(region).leavers_dn)
    counts = check.manifest.get("counts", {})
    out.print(f"handover bundle of {escape(code)} written to {escape(str(check.folder))} "
              f"({len(check.manifest.get('files', {}))} files; manifest SHA-256 "
              f"{check.manifest_sha256}):")
    out.print("  " + ", ".join(f"{escape(str(k))} {v:,}" for k, v in counts.items()))
    for note in check.manifest.get("notes", []):
        err.print(f"  [yellow]note:[/] {escape(str(note))}", soft_wrap=True)
    return check


def _home_folders(region: Region, code: str, target: Target, state_dir: Path,
                  ) -> tuple[list[dict[str, Any]] | None, tuple[str, ...]]:
    """The partner's home folders on the file servers, for the bundle's manifest of homes."""
    settings = ansible_settings(target)
    if settings is None or not region.hosts_with(HostRole.FILESERVER):
        return None, ("homes: the target reaches no file server (no `ansible:`), so the "
                      "bundle lists no home folders",)
    with HOOKS.status(f"listing {code}'s home folders on the file servers..."):
        found = read_home_folders(region, settings, StateDir(state_dir).ensure(), code)
    if isinstance(found, str):
        raise SscError(f"the home folders of {code} could not be listed: {found}; a bundle "
                       "without them would not be complete: nothing was written or changed")
    return found, ()
