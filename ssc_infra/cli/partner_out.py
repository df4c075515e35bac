"""`ssc-infra partner offboard` and `partner merge`: a partner leaves the SSC, or partners
become one. Options and output only; the work is `ssc_infra.lifecycle`. The commands join the
`partner` group in `ssc_infra.cli.main`.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    HOOKS,
    approval_option,
    err,
    inventory_options,
    item_progress,
    operation_approvals,
    out,
    run_request,
    target_options,
)
from ssc_infra.cli.plans import (
    planned_run,
    print_apply_result,
    show_plan,
)
from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.core.model import HostRole, Region
from ssc_infra.hosts.storage import read_home_folders
from ssc_infra.lifecycle.handover import BundleCheck, BundleError, bundle_folder, remove_bundle
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
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.run import (
    check_base_dn,
    execute_apply,
    locked,
    prepare_apply,
    real_backends,
)
from ssc_infra.run.approvals import approve_operation
from ssc_infra.run.directory import scope_of
from ssc_infra.run.targets import Target, ad_settings, ansible_settings, load_target
from ssc_infra.sources.located import read_text
from ssc_infra.state.folder import StateDir

# An offboarding disables every account of the partner: the guard is sized by the operator,
# who sees the whole plan before confirming (or asked for it with --yes).
WHOLE_PARTNER = 10**9


@click.command("offboard")
@inventory_options
@target_options
@click.argument("code")
@click.option("--to", "folder", required=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="A new (or empty) folder for the handover bundle.")
@click.option("--yes", is_flag=True, help="Apply without asking (scripts).")
@approval_option
def offboard(inventory: Path, today: date, targets_file: Path, target_name: str,
             state_dir: Path, code: str, folder: Path, yes: bool,
             approval_file: Path | None) -> None:
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
    When governance.yaml asks for four eyes on lifecycle operations, another engineer first
    runs `ssc-infra approve --operation offboard --partner vlieland --out FILE`; pass it with
    --approval FILE (checked before anything is written).
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
        approvals = operation_approvals(approval_file)  # checked before anything is written
        approve_operation(request.governance, "offboard", loaded.region.code, (code,),
                          approvals)
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
                                      command="apply", operation="offboard",
                                      approvals=approvals)
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


@click.command("merge")
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
@approval_option
def merge(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          sources: tuple[str, ...], into: str, name: str, upn_suffix: str, kind: str,
          ids_file: Path | None, yes: bool, approval_file: Path | None) -> None:
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
        approvals = operation_approvals(approval_file)  # checked before anything is written
        approve_operation(request.governance, "merge", loaded.region.code, codes, approvals)
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
                                      allow_disable={code: WHOLE_PARTNER for code in codes},
                                      operation="merge", approvals=approvals)
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
    text = read_text(path, str(path), 10 * 1024 * 1024, "save it as CSV UTF-8")
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
