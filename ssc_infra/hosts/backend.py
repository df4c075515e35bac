"""The workplace hosts: render the bundle, run the playbook in check or normal mode.

The real `HostsBackend` (`AnsibleHosts`), and the one place that strings the steps together
for the hosts, as `run/directory.py` does for AD:
derive -> render (a bundle in the state dir, named by its digest) -> Ansible in check + diff
mode for plan and drift, or normal mode for apply. Addresses handed out are kept in the state
dir, so a laptop or thin client keeps its address across runs.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import DesiredState
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Region
from ssc_infra.core.packaged import PLAYBOOKS, packaged_path
from ssc_infra.core.plan import Backend, Change, ObjectKind, Section
from ssc_infra.core.workplaces import Workplaces, derive_workplaces
from ssc_infra.hosts.ansible import (
    AnsibleSettings,
    HostOutcome,
    RunResult,
    TaskEvent,
    host_inventory,
    host_of,
    run_playbook,
)
from ssc_infra.hosts.checks import CheckResult, check_host_files
from ssc_infra.hosts.render import (
    MANIFEST,
    HostFiles,
    bundle_digest,
    render_host_files,
    write_host_files,
)
from ssc_infra.hosts.sync import (
    InSync,
    after_run,
    host_key,
    in_sync,
    load_records,
    read_command,
    save_records,
    tree_digest,
)
from ssc_infra.state.allocations import load_allocations, save_allocations
from ssc_infra.state.folder import private_dir, write_private

# What a daemon's package makes on a real host; a lab host root gets the same folders.
LAB_FOLDERS = ("etc/samba", "etc/wireguard", "etc/kea", "etc/freeradius/3.0/mods-config/files",
               "usr/local/sbin", "srv")


@dataclass(frozen=True, slots=True)
class Bundle:
    path: Path
    digest: str
    workplaces: Workplaces


@dataclass(frozen=True, slots=True)
class HostPlan:
    bundle: Bundle
    result: RunResult
    refused: tuple[CheckResult, ...] = ()  # changed files that their daemon's checker refuses

    @property
    def empty(self) -> bool:
        return not self.result.changes

    def changes_for(self, partners: Collection[str]) -> list[Change]:
        """The changes to show for these partners: their homes and every shared file."""
        return [c for c in self.result.changes
                if not partners or not c.partner or c.partner in partners]

    def section(self, partners: Collection[str] = ()) -> Section:
        """The hosts' section of the run's plan (for these partners; () for all)."""
        return Section(Backend.HOSTS, tuple(self.changes_for(partners)))


# The lists of a homes change whose entries ("partner/sam") are people's home folders.
_PEOPLE_LISTS = ("create", "restore", "archive", "fix")


def home_names(desired: DesiredState, actual: DirectoryState) -> dict[str, str]:
    """Whose home folder is whose: "partner/sam" (lowercase) -> the person's display name.

    The desired state names everyone the inventory holds; the directory names those gone
    from the HR export, whose homes are the ones archived.
    """
    names = {f"{a.partner}/{a.sam}".lower(): a.display_name or a.full_name
             for a in actual.accounts if a.display_name or a.full_name}
    names.update({f"{a.partner}/{a.name.sam}".lower(): a.name.display_name
                  for p in desired.partners for a in p.accounts})
    return names


def name_homes(changes: tuple[Change, ...], names: Mapping[str, str]) -> tuple[Change, ...]:
    """The homes changes with the person of each home folder they touch (`Change.names`)."""
    named: list[Change] = []
    for change in changes:
        if change.kind is ObjectKind.HOMES:
            entries = [str(e) for what in _PEOPLE_LISTS for e in change.after.get(what, ())]
            found = {e: names[e.lower()] for e in entries if e.lower() in names}
            if found:
                change = dataclasses.replace(change, names=found)
        named.append(change)
    return tuple(named)


def make_bundle(region: Region, desired: DesiredState, state: Path) -> Bundle:
    """Derive and render every host's files into STATE/bundles/<digest>; reused when there."""
    workplaces = derive_workplaces(region, desired, load_allocations(state))
    rendered = render_host_files(region, workplaces)
    digest = rendered.digest()
    path = state / "bundles" / digest[:16]
    if bundle_digest(path) != digest:
        shutil.rmtree(path, ignore_errors=True)
        write_host_files(rendered, private_dir(path))
    _prune(state / "bundles", keep=path)
    return Bundle(path, digest, workplaces)


def refused_files(region: Region, bundle: Bundle, result: RunResult) -> tuple[CheckResult, ...]:
    """The files a check run would change that their daemon's checker refuses, where it runs.

    Check mode cannot run Ansible's `validate:`; this runs the same checkers on the control
    machine, so a plan shows what apply would refuse (and keep the old file for). A checker
    not installed here is passed over: apply still checks on the host.
    """
    changed = {(host_of(c), c.target.lstrip("/")) for c in result.changes
               if c.kind is ObjectKind.FILE}
    if not changed:
        return ()
    return tuple(r for r in check_host_files(region, bundle.path, changed) if r.status == "failed")


def _prune(folder: Path, keep: Path, count: int = 10) -> None:
    """Keep the newest bundles only (saved plans older than that cannot be applied)."""
    bundles = sorted((p for p in folder.iterdir() if p.is_dir() and p != keep),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in bundles[count:]:
        shutil.rmtree(old, ignore_errors=True)


def files_digest(path: Path) -> str | None:
    """The digest of a written bundle's files as they are on disk (not as its manifest says);
    None when the manifest is missing, names a path outside the bundle, or a file is gone."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, dict[str, str]] = {}
        for host, names in manifest["hosts"].items():
            files[str(host)] = {}
            for name in names:
                target = (path / str(host) / str(name)).resolve()
                if not target.is_relative_to(path.resolve()):
                    return None
                files[str(host)][str(name)] = target.read_text(encoding="utf-8")
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return HostFiles(files).digest()


def use_bundle(path: Path, digest: str, region: Region, desired: DesiredState,
               state: Path) -> Bundle:
    """A saved plan's bundle, exactly as it was reviewed; refused when it changed or is gone."""
    if files_digest(path) != digest:  # the files themselves, not what the manifest claims
        raise SscError(f"the plan's host files in {path} are gone or changed since the plan "
                       "was made; make a new plan")
    workplaces = derive_workplaces(region, desired, load_allocations(state))
    return Bundle(path, digest, workplaces)


def run_hosts(
    region: Region,
    bundle: Bundle,
    settings: AnsibleSettings,
    state: Path,
    *,
    check: bool,
    partners: Collection[str] | None = None,
    held: Collection[str] = (),
    on_event: Callable[[TaskEvent], None] | None = None,
    expect: Mapping[str, Mapping[str, str]] | None = None,
    fast: bool = False,
    reads: Mapping[str, str] | None = None,
    allow: Mapping[str, int] | None = None,
) -> RunResult:
    """Run the playbook for every host with the bundle: check mode for plan/drift, else apply.

    Args:
        partners: limit the home directories touched to these partners; None: every partner
            (shared files are whole files: they always carry every partner).
        held: partners a guard held back: their leavers' homes are not archived in this run.
        expect: what the reviewed plan saw on each host (host -> path or "homes" -> digest):
            a file or the homes that changed since are refused, the rest goes on.
        fast: (check mode) a host recorded in sync with this bundle whose one-command read is
            unchanged is not checked again (see `hostsync`); the others are checked in full.
        reads: what `read_ahead` read (host -> read); None: read the hosts here.
        allow: partner -> the homes this run may archive for it, above the guard
            (`--allow-disable`, an offboarding).
    """
    _lab_folders(region, settings)
    extravars = job_vars(region, bundle, settings, partners, held, expect, allow=allow)
    names = [h.name for h in region.hosts]
    commands = {h: read_command(bundle.path, h, _root(settings, h)) for h in names}
    extravars["ssc_read"] = commands
    with packaged_path(PLAYBOOKS) as folder:
        playbooks = tree_digest(folder)
    keys = {h: host_key(bundle.path, h, playbooks, extravars) for h in names}
    records = load_records(state)
    if fast and check and reads is None:
        reads = read_hosts(region, settings, state, {h: r for h, r in records.items()
                                                 if keys.get(h) == r.key})
    known = in_sync(records, keys, reads or {}) if fast and check else {}
    rest = [h for h in names if h not in known]
    result = RunResult("successful", 0, {}, ())
    if rest:
        result = run_playbook(
            private_data_dir=state / "ansible", inventory=host_inventory(region, settings),
            extravars=extravars, check=check, forks=settings.forks, on_event=on_event,
            limit=",".join(rest) if known else None,
        )
    save_records(state, after_run(records, result, check=check, hosts=rest, keys=keys,
                                  commands=commands, bundle=bundle.path))
    if not check:
        save_allocations(state, bundle.workplaces)
    return dataclasses.replace(
        result, hosts={**{h: HostOutcome(h, ok=1) for h in known}, **result.hosts},
        digests={**{h: dict(r.expect) for h, r in known.items()}, **result.digests},
        in_sync=tuple(sorted(known)))


def _root(settings: AnsibleSettings, host: str) -> str:
    return str(settings.root / host) if settings.root is not None else ""


def read_hosts(region: Region, settings: AnsibleSettings, state: Path,
          records: Mapping[str, InSync]) -> dict[str, str]:
    """One read of each recorded host, with the command recorded for it: host -> what it gave."""
    wanted = {h.name: records[h.name].command for h in region.hosts if h.name in records}
    if not wanted:
        return {}
    result = run_playbook(
        private_data_dir=state / "ansible", inventory=host_inventory(region, settings),
        extravars={"ssc_read": wanted}, check=False, forks=settings.forks,
        limit=",".join(sorted(wanted)), playbook="read.yml",
    )
    return {h: o.read for h, o in result.hosts.items() if o.read is not None}


def read_ahead(region: Region, settings: AnsibleSettings, state: Path) -> Future[dict[str, str]]:
    """Start reading every recorded host now, while the directory is read (see `run_hosts`)."""
    records = load_records(state)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="host-read")
    try:
        return pool.submit(read_hosts, region, settings, state, records)
    finally:
        pool.shutdown(wait=False)


def _lab_folders(region: Region, settings: AnsibleSettings) -> None:
    if settings.root is not None:
        # Host folders hold what real hosts hold (people's names among it): 0700 on top.
        private_dir(settings.root)
        for host in region.hosts:
            for folder in LAB_FOLDERS:
                (settings.root / host.name / folder).mkdir(parents=True, exist_ok=True)


def job_vars(region: Region, bundle: Bundle, settings: AnsibleSettings,
             partners: Collection[str] | None = None, held: Collection[str] = (),
             expect: Mapping[str, Mapping[str, str]] | None = None,
             bundle_path: str | None = None,
             allow: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The playbook's variables for one run of a bundle (see `run_hosts`)."""
    extravars: dict[str, Any] = {
        "ssc_bundle": bundle_path or str(bundle.path.resolve()),
        "ssc_bundle_digest": bundle.digest,
        "ssc_reload": settings.reload,
        "ssc_unknown_owner": settings.unknown_owner,
        "ssc_expect": {host: dict(found) for host, found in (expect or {}).items()},
        "ssc_max_archive": region.guards.max_disable,
        "ssc_hold_archive": sorted(held),
        "ssc_allow_archive": dict(sorted((allow or {}).items())),
    }
    if partners is not None:
        extravars["ssc_only_partners"] = sorted(partners)
    return extravars


def write_job(region: Region, bundle: Bundle, settings: AnsibleSettings, folder: Path,
              expect: Mapping[str, Mapping[str, str]] | None = None) -> Path:
    """An ansible-runner private data dir that carries the bundle, for an execution node.

    `ansible-runner transmit FOLDER -p site.yml | ansible-runner worker | ansible-runner
    process OUT` (AWX/AAP's mesh does the same) then pushes exactly this bundle, which the
    playbook checks against its digest before any host sees it. The job holds people's
    names: the folder is 0700 and its files 0600.
    """
    private_dir(folder)
    project = folder / "project"
    with packaged_path(PLAYBOOKS) as playbooks:
        shutil.copytree(playbooks, project, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(bundle.path, project / "bundle", dirs_exist_ok=True)
    _lab_folders(region, settings)
    extravars = job_vars(region, bundle, settings, expect=expect,
                         bundle_path="{{ playbook_dir }}/bundle")
    write_private(folder / "inventory" / "hosts.json",
                  json.dumps(host_inventory(region, settings), indent=1))
    write_private(folder / "env" / "extravars", json.dumps(extravars, indent=1))
    return folder


@dataclass
class AnsibleHosts:
    """The workplace hosts over ansible-runner: the real `HostsBackend`."""

    settings: AnsibleSettings
    _ahead: Future[dict[str, str]] | None = None

    def read_ahead(self, region: Region, state: Path) -> None:
        self._ahead = read_ahead(region, self.settings, state)

    def run(self, region: Region, bundle: Bundle, state: Path, *, check: bool,
            partners: Collection[str] | None, held: Collection[str],
            on_event: Callable[[TaskEvent], None] | None,
            expect: Mapping[str, Mapping[str, str]] | None, fast: bool = False,
            allow: Mapping[str, int] | None = None) -> RunResult:
        reads = None
        if fast and self._ahead is not None:
            reads, self._ahead = self._ahead.result(), None
        return run_hosts(region, bundle, self.settings, state, check=check, partners=partners,
                         held=held, on_event=on_event, expect=expect, fast=fast, reads=reads,
                         allow=allow)


def host_plan_extra(plan: HostPlan) -> dict[str, Any]:
    """What the hosts' section of a saved plan carries besides its changes."""
    return {
        "bundle": str(plan.bundle.path),
        "digest": plan.bundle.digest,
        "failed": [{"host": h.host, "unreachable": h.unreachable, "messages": h.messages}
                   for h in plan.result.failed_hosts],
        "refused": [{"host": r.host, "path": f"/{r.path}", "message": r.message}
                    for r in plan.refused],
        "in_sync": list(plan.result.in_sync),
    }
