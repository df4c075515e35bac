"""Plan and apply runs: load -> derive -> read -> diff -> guard -> apply, for AD and the hosts.

`plan_run` makes the plan of one run (what `plan`, `apply` and `drift` show); `prepare_apply`
turns it, or a sealed saved plan, into what will be applied; `execute_apply` applies it and
records every item. The CLI only parses options, calls these and prints; the work and its
rules live here.

Held means held everywhere: a partner that is not applied in a run — held by a guard or by its
own bad data, or not asked for with `--partner` — keeps its accounts, its homes and its part of
every host file exactly as last applied. The host files are rendered from a region in which
those partners' own files are the copies kept at their last apply, and only the partners that
were applied are recorded as applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from ssc_infra.ad.apply import ApplyReport, apply_changes
from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.ad.client import AdSettings
from ssc_infra.ad.diff import directory_names, stale_reason
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import DesiredState, derive
from ssc_infra.core.errors import Problem, SscError
from ssc_infra.core.model import HostRole, Region
from ssc_infra.core.naming import ExistingName
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    Held,
    ItemResult,
    ObjectKind,
    Plan,
    Section,
    plan_from_dict,
    plan_to_dict,
)
from ssc_infra.hosts.ansible import AnsibleSettings, RunResult, TaskEvent
from ssc_infra.hosts.backend import (
    AnsibleHosts,
    Bundle,
    HostPlan,
    home_names,
    host_plan_extra,
    make_bundle,
    name_homes,
    refused_files,
    use_bundle,
    write_job,
)
from ssc_infra.m365.backend import M365
from ssc_infra.m365.diff import diff_graph, stale_graph
from ssc_infra.m365.graph import GraphCounter
from ssc_infra.run.directory import plan_with, scope_of
from ssc_infra.run.protocols import Backends, GraphBackend
from ssc_infra.run.targets import Target, ad_settings, ansible_settings, graph_settings, load_target
from ssc_infra.sources import InventorySource, Kept, RunInventory
from ssc_infra.sources.holds import NO_HOLDS, load_holds, parse_enable
from ssc_infra.state.audit import AuditEntry
from ssc_infra.state.folder import StateDir, now, recorded_passwords, run_id, write_private
from ssc_infra.state.ledger import NameConflict, load_ledger, record_names
from ssc_infra.state.seal import plan_key, seal, unseal

HOST_RUN_NICE = 10  # the nice value of host runs beside the directory writes


class Status(Protocol):
    def update(self, text: str) -> None: ...


class _Quiet:
    def update(self, text: str) -> None:
        pass


def _no_status(_text: str) -> contextlib.AbstractContextManager[Status]:
    return contextlib.nullcontext(_Quiet())


@dataclass(frozen=True)
class Hooks:
    """How a run shows its progress; the CLI passes rich spinners, tests nothing."""

    status: Callable[[str], contextlib.AbstractContextManager[Status]] = _no_status
    on_item: Callable[[ItemResult, int, int], None] | None = None  # result, failed, total


@dataclass(frozen=True)
class RunRequest:
    """What one plan/apply/drift run is asked to do."""

    source: InventorySource
    today: date
    targets_file: Path
    target_name: str
    state_dir: Path
    partners: tuple[str, ...] = ()
    allow_disable: Mapping[str, int] = field(default_factory=dict)
    command: str = "plan"
    enable: tuple[str, ...] = ()  # PARTNER/ID: accounts locked by hand that may be enabled
    holds_file: Path | None = None  # accounts locked on purpose, known unmanaged objects
    # partners planned as one (a merge): one of them held back holds back all of them
    together: tuple[str, ...] = ()


@dataclass(frozen=True)
class HostScope:
    """Whose part of the host files follows the inventory in this run, and whose is kept."""

    applied: tuple[str, ...]  # their part (and homes) follows the inventory now
    kept: Mapping[str, Kept]  # rendered from their files as last applied
    left_out: tuple[str, ...]  # never applied: not on the hosts yet, not now either
    waiting: str = ""  # why the hosts wait for a fix ("" when they go on)


@dataclass
class PlannedRun:
    """Everything one plan/apply/drift run works with."""

    request: RunRequest
    region: Region
    settings: AdSettings
    workers: int
    actual: DirectoryState
    directory: Section  # the directory's section of the plan
    desired: DesiredState
    ansible: AnsibleSettings | None
    state: StateDir
    partners: tuple[str, ...]
    inventory: RunInventory
    backends: Backends
    scope: HostScope | None = None
    hosts: HostPlan | None = None
    name_conflicts: tuple[NameConflict, ...] = ()
    graph: Section | None = None  # Microsoft 365's section (the target has a `graph:`)

    @property
    def target(self) -> str:
        return self.request.target_name

    @property
    def held_partners(self) -> frozenset[str]:
        """Partners a guard (or a seat shortage, or their tenant) held back: nothing of theirs
        changes, on the hosts neither."""
        held = {h.partner for h in self.directory.held}
        if self.graph is not None:
            held |= {h.partner for h in self.graph.held}
        return frozenset(held)

    @property
    def plan(self) -> Plan:
        """The run's plan: the directory's section, then the hosts' (for the asked partners).

        A partner held back in one section is held back in every one."""
        sections = [self.directory]
        if self.graph is not None:
            sections.append(self.graph)
        if self.hosts is not None:
            sections.append(self.hosts.section(self.partners))
        return Plan(tuple(sections)).held_everywhere()

    @property
    def held_inventory(self) -> dict[str, tuple[Problem, ...]]:
        """Partners left out for problems in their own data (those this run was asked for)."""
        return self.inventory.shown

    @property
    def hosts_held(self) -> bool:
        return self.scope is not None and bool(self.scope.waiting)

    @property
    def empty(self) -> bool:
        """Nothing to apply and nothing that differs unacknowledged (drift: exit 2)."""
        return self.plan.empty and not self.plan.drift and \
            (self.hosts is None or self.hosts.empty)  # every partner's, not only the shown

    @property
    def incomplete(self) -> list[str]:
        """Why this run did not cover everything it was asked to (an error for scripts)."""
        why = [f"partner {code} held back (inventory problems)" for code in self.held_inventory]
        if self.hosts_held:
            why.append("workplace hosts held back")
        if self.hosts is not None and self.hosts.result.failed_hosts:
            why.append("hosts failed")
        if self.hosts is not None and self.hosts.refused:
            why.append(f"{len(self.hosts.refused)} host files refused by their checker")
        return why

    def meta(self) -> dict[str, Any]:
        r = self.request
        return {"region": self.region.code, "target": r.target_name,
                "base_dn": self.settings.base_dn, "today": r.today.isoformat(),
                "partners": list(r.partners), "created": now(),
                # for the headings when the plan is shown again (`show PLAN`)
                "partner_names": {p.code: p.name for p in self.region.partners}}

    def to_dict(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        extra: dict[Backend, dict[str, Any]] = {}
        if self.hosts is not None:
            extra[Backend.HOSTS] = {**host_plan_extra(self.hosts),
                                    "expect": self.hosts.result.digests,
                                    "homes_for": list(self.scope.applied) if self.scope else []}
        data = plan_to_dict(self.plan, meta, extra)
        if self.held_inventory or self.hosts_held:
            data["held_inventory"] = [
                {"partner": code, "problems": [dataclasses.asdict(p) for p in found]}
                for code, found in self.held_inventory.items()]
            data["hosts_held"] = self.hosts_held
        return data


def check_base_dn(settings: AdSettings, region: Region) -> None:
    if settings.base_dn.lower() != region.directory.base_dn.lower():
        raise SscError(
            f"the target's base_dn {settings.base_dn!r} does not match region.yaml's domain "
            f"{region.directory.domain!r} ({region.directory.base_dn}): wrong target?"
        )


def real_backends(settings: AdSettings, ansible: AnsibleSettings | None,
                  state: Path | None = None, target: Target | None = None,
                  target_name: str = "") -> Backends:
    """The systems a target names: the directory over ldap3, the hosts over Ansible,
    Microsoft 365 over Graph.

    `state`: where the directory keeps its last read, for a plan to read only what changed,
    and Graph its delta links.
    """
    graph = None
    if target is not None and target.graph is not None and state is not None:
        entry = target.graph
        graph = M365(graph_settings(target, target_name), entry.tenant_of, state)
    return Backends(LdapDirectory(settings, state), AnsibleHosts(ansible) if ansible else None,
                    graph)


def load_inventory(request: RunRequest) -> RunInventory:
    """The run's inventory from its source: partners with bad data of their own held back."""
    return request.source.load_for_run(request.today, request.partners, request.state_dir,
                                       request.allow_disable)


def plan_run(request: RunRequest, hooks: Hooks = Hooks(), check_hosts: bool = True,
             inventory: RunInventory | None = None,
             backends: Backends | None = None) -> PlannedRun:
    """Load, read the directory and the hosts, diff and guard: the plan of one run.

    Args:
        inventory: the run's inventory, when the caller loaded it already (`load_inventory`).
        backends: the systems to read and write; default the ones the target names (tests
            pass in-memory ones).
    """
    inventory = inventory or load_inventory(request)
    region = inventory.region
    target = load_target(request.targets_file, request.target_name)
    settings = ad_settings(target, request.target_name)
    check_base_dn(settings, region)
    workers = target.ad.workers if target.ad else 4
    try:
        enable = parse_enable(request.enable, region)
    except ValueError as e:
        raise SscError(str(e)) from None
    holds = (load_holds(request.holds_file, region, str(request.holds_file), required=True)
             if request.holds_file is not None else NO_HOLDS)
    ledger = load_ledger(request.state_dir)
    ansible = ansible_settings(target)
    backends = backends or real_backends(settings, ansible, StateDir(request.state_dir).ensure(),
                                         target, request.target_name)
    # A plan may trust what the last run recorded and read only what changed since; apply
    # and drift read everything.
    fast = request.command == "plan"
    if check_hosts and fast and backends.hosts is not None and region.hosts:
        backends.hosts.read_ahead(region, request.state_dir)  # while the directory is read
    with hooks.status(f"reading the directory of target {request.target_name!r}..."):
        run = plan_with(backends.directory, region, request.today, inventory.partners,
                        request.allow_disable, workers, holds, enable, ledger,
                        recorded_passwords(request.state_dir), full_read=not fast)
    planned = PlannedRun(request, region, settings, workers, run.actual, run.plan,
                         run.desired, ansible, StateDir(request.state_dir),
                         inventory.partners, inventory, backends,
                         name_conflicts=run.name_conflicts)
    if backends.graph is not None:
        with hooks.status("reading Microsoft 365 (Graph)..."):
            planned.graph = plan_graph(planned, backends.graph)
    hold_together(planned)
    if planned.ansible is None or backends.hosts is None or not region.hosts:
        return planned
    planned.scope = host_scope(planned)
    if check_hosts and not planned.scope.waiting:
        bundle = host_bundle(planned)
        # A plan trusts what a run recorded, after one read of each host.
        result = _named_homes(planned, _run_hosts(planned, bundle, hooks, check=True,
                                                  fast=fast))
        with hooks.status("checking the changed host files with the daemons' checkers..."):
            planned.hosts = HostPlan(bundle, result, refused_files(region, bundle, result))
    return planned


def hold_together(planned: PlannedRun) -> None:
    """Partners planned as one go on together or wait together: a merge half applied would
    retire the old partners' groups while the new partner's accounts stay where they were."""
    together = planned.request.together
    held = sorted(planned.held_partners & set(together))
    others = tuple(c for c in together if c not in held)
    if not held or not others:
        return
    why = f"planned as one with {', '.join(held)}, which {'is' if len(held) == 1 else 'are'} " \
          "held back"
    section = planned.directory.holding(others)
    planned.directory = dataclasses.replace(section, held=(
        *section.held, *(Held(code, 0, 0, 0, "", reason=why) for code in others)))


def _named_homes(planned: PlannedRun, result: RunResult) -> RunResult:
    """The host run's result with each home folder's person named, for the reader."""
    names = home_names(planned.desired, planned.actual)
    return dataclasses.replace(result, changes=name_homes(result.changes, names))


def plan_graph(planned: PlannedRun, graph: GraphBackend) -> Section:
    """Microsoft 365's section: each partner's tenant read, diffed, its seats counted."""
    region = planned.region
    held = set(planned.inventory.held)
    asked = set(planned.partners) or {p.code for p in region.partners}
    partners = [p for p in region.partners if p.code in asked and p.code not in held]
    tenants, unreadable = graph.read(partners)
    return diff_graph(region, planned.desired, tenants, planned.partners, planned.directory,
                      planned.request.allow_disable, unreadable)


# -- the workplace hosts: held means held -----------------------------------------------


def host_scope(planned: PlannedRun) -> HostScope:
    """Which partners' part of the host files follows the inventory, and which is kept."""
    inventory = planned.inventory
    # Every partner of the inventory, a held one too (its data may be missing from the region).
    everyone = sorted({p.code for p in inventory.region.partners} | set(inventory.data_files))
    guard_held = planned.held_partners
    asked = inventory.partners or tuple(c for c in everyone if c not in inventory.held)
    applied = tuple(c for c in asked if c not in guard_held and c not in inventory.held)
    others = [c for c in everyone if c not in applied]
    ever = inventory.applied_ever
    left_out = tuple(c for c in others if ever is not None and c not in ever
                     and c not in inventory.held)
    from_copy = [c for c in others if c not in left_out]
    kept = {c: inventory.copies[c] for c in from_copy if c in inventory.copies}
    if len(kept) < len(from_copy):
        missing = ", ".join(from_copy)
        return HostScope(applied, {}, left_out,
                         f"the host files hold every partner, and there is no copy of {missing}"
                         "'s files as last applied to keep its part as it is; fix its problems "
                         "or apply every partner once")
    return HostScope(applied, kept, left_out)


def host_bundle(planned: PlannedRun) -> Bundle:
    """Render the hosts' files: the applied partners as now, the others as last applied."""
    scope = planned.scope
    assert scope is not None
    request = planned.request
    region = planned.region
    if scope.kept or scope.left_out:
        combined = request.source.with_applied(planned.inventory, scope.kept,
                                               request.state_dir, request.today, scope.left_out)
        if combined is None:
            raise SscError("the partners' files as last applied no longer load with this "
                           "region.yaml; fix the inventory, or apply every partner once")
        region = combined
    desired = _host_desired(planned, region, scope)
    return make_bundle(region, desired, planned.state.ensure())


def _host_desired(planned: PlannedRun, region: Region, scope: HostScope) -> DesiredState:
    """The desired state of the hosts' region, with the names the directory plan settled.

    A partner kept as last applied is derived for the day of that apply, so that nobody's
    end date passing while the partner is held changes its part of the files.
    """
    existing, reserved, _ = directory_names(region, planned.actual)
    names: dict[Any, ExistingName] = dict(existing)
    names.update({a.key: ExistingName(a.name.sam, a.name.upn)
                  for p in planned.desired.partners for a in p.accounts})
    today = planned.request.today
    desired = derive(region, today, names, reserved)
    days = {k.today for code, k in scope.kept.items() if k.today != today}
    if not days:
        return desired
    partners = {p.code: p for p in desired.partners}
    for day in sorted(days):
        then = derive(region, day, names, reserved)
        for p in then.partners:
            if p.code in scope.kept and scope.kept[p.code].today == day:
                partners[p.code] = p
    return dataclasses.replace(desired, partners=tuple(partners[p.code]
                                                       for p in desired.partners))


def _run_hosts(planned: PlannedRun, bundle: Bundle, hooks: Hooks, check: bool,
               expect: Mapping[str, Mapping[str, str]] | None = None,
               fast: bool = False) -> RunResult:
    """The playbook over every host, with a live line per host and task."""
    assert planned.ansible is not None and planned.scope is not None
    verb = "checking" if check else "applying"
    everyone = {p.code for p in planned.region.partners}
    homes_for = None if set(planned.scope.applied) >= everyone else planned.scope.applied
    with hooks.status(f"{verb} the workplace hosts...") as status:
        def on_event(event: TaskEvent) -> None:
            status.update(f"{verb} the workplace hosts: {event.host} — {event.task} "
                          f"({event.status})")

        assert planned.backends.hosts is not None
        return planned.backends.hosts.run(planned.region, bundle, planned.state.path,
                                          check=check, partners=homes_for,
                                          held=sorted(planned.held_partners),
                                          on_event=on_event, expect=expect, fast=fast,
                                          allow=planned.request.allow_disable)


# -- saved plans ------------------------------------------------------------------------


def save_plan(planned: PlannedRun, path: Path) -> dict[str, Any]:
    """Write the sealed plan file; returns what was written (unsealed)."""
    data = planned.to_dict(planned.meta())
    sealed = seal(data, plan_key(planned.state.ensure()))
    write_private(path, json.dumps(sealed, indent=1, ensure_ascii=False) + "\n")
    return data


@dataclass
class Prepared:
    """What an apply will do: the directory changes, the host bundle, what was refused."""

    plan: Plan
    refused: list[tuple[Change, str]] = field(default_factory=list)
    bundle: Bundle | None = None
    host_changes: int = 0
    expect: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    hosts_not_applied: int = 0  # host changes of a saved plan left out (hosts held)
    from_file: bool = False
    hosts_unchecked: bool = False  # no check run ahead (`apply --yes`): the apply shows them

    @property
    def applies_hosts(self) -> bool:
        return self.bundle is not None and (self.host_changes > 0 or self.hosts_unchecked)


def prepare_apply(planned: PlannedRun, plan_file: Path | None) -> Prepared:
    """What to apply: the fresh plan, or a sealed saved plan item by item against now."""
    if plan_file is None:
        hosts = planned.hosts
        if hosts is None and _hosts_go_on(planned):
            # Not checked ahead (nobody reviews an `apply --yes`): the apply's own run with
            # every checker is the check, and its changes are what is shown.
            return Prepared(planned.plan, [], host_bundle(planned), hosts_unchecked=True)
        if hosts is None:
            return Prepared(planned.plan)
        return Prepared(planned.plan, [], hosts.bundle, len(hosts.result.changes),
                        hosts.result.digests)
    try:
        raw = json.loads(plan_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SscError(f"cannot use the plan file {plan_file}: {e}") from e
    data = unseal(raw, plan_key(planned.state.ensure()), str(plan_file))
    try:
        saved, meta, extra = plan_from_dict(data)
    except ValueError as e:
        raise SscError(f"cannot use the plan file {plan_file}: {e}") from e
    if meta.get("target") != planned.target or meta.get("base_dn") != planned.settings.base_dn:
        raise SscError(f"{plan_file} was made for target {meta.get('target')!r} "
                       f"({meta.get('base_dn')}); this run is for {planned.target!r}")
    directory = saved.directory
    refused = [(c, r) for c in directory.changes
               if (r := stale_reason(c, planned.actual)) is not None]
    stale = {c.ident for c, _ in refused}
    keep = dataclasses.replace(directory,
                               changes=tuple(c for c in directory.changes
                                             if c.ident not in stale))
    plan = saved.replaced(keep)
    if saved.section(Backend.GRAPH).changes:
        graph, graph_refused = stale_graph(saved.section(Backend.GRAPH), planned.graph)
        plan = plan.replaced(graph)
        refused += graph_refused
    prepared = Prepared(plan, refused, from_file=True)
    saw = extra.get(Backend.HOSTS)
    if not saw or planned.ansible is None:
        return prepared
    # The hosts' items are checked on each host against what the plan saw there (`expect`):
    # a file or the homes changed since are refused by the playbook, the rest goes on.
    changes = len(saved.section(Backend.HOSTS).changes)
    if planned.hosts_held:
        prepared.hosts_not_applied = changes
        return prepared
    try:
        prepared.bundle = use_bundle(Path(saw["bundle"]), str(saw["digest"]),
                                     planned.region, planned.desired, planned.state.path)
        prepared.expect = dict(saw.get("expect") or {})
        homes_for = tuple(saw.get("homes_for") or ())
    except (KeyError, TypeError, ValueError) as e:
        raise SscError(f"cannot use the plan file {plan_file}: its hosts' section is "
                       f"damaged ({e!r}); make a new plan") from e
    prepared.host_changes = changes
    if planned.scope is not None:  # the homes the reviewed plan was for, no others
        planned.scope = dataclasses.replace(planned.scope, applied=homes_for)
    return prepared


def _hosts_go_on(planned: PlannedRun) -> bool:
    return planned.ansible is not None and planned.backends.hosts is not None and \
        bool(planned.region.hosts) and planned.scope is not None and not planned.scope.waiting


# -- apply ------------------------------------------------------------------------------


@dataclass
class Outcome:
    report: ApplyReport
    credentials: Path | None
    hosts: RunResult | None
    cloud_credentials: Path | None = None  # the new cloud users' initial passwords
    graph_traffic: GraphCounter | None = None  # what the run sent to Graph, throttling included


def execute_apply(planned: PlannedRun, prepared: Prepared, hooks: Hooks = Hooks()) -> Outcome:
    """Apply the directory changes and the hosts; record every item and what was applied.

    A file server's homes belong to accounts, so it waits for the accounts to be written.
    When the plan writes accounts, the hosts that need none (DHCP, RADIUS, VPN, VDI) are
    applied meanwhile, and a file server once the accounts are done (while the memberships
    are written); one host run at a time, each audited.
    """
    rid = run_id()
    bundle = prepared.bundle if prepared.applies_hosts else None
    early, late = _host_parts(planned, prepared) if bundle is not None else (None, None)
    runs: list[Future[RunResult]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hosts",
                            initializer=_second_place) as pool:

        def start(part: PlannedRun | None) -> None:
            if part is not None and bundle is not None:  # quiet: the directory shows progress
                runs.append(pool.submit(_run_hosts, part, bundle, Hooks(), False,
                                        prepared.expect))

        def on_done(kind: ObjectKind) -> None:
            if kind is ObjectKind.ACCOUNT:
                start(late)

        start(early)
        try:
            directory = prepared.plan.directory
            report, credentials = (
                _apply_directory(planned, directory, rid, hooks, on_done)
                if directory.changes else (ApplyReport(), None))
            graph = prepared.plan.section(Backend.GRAPH)
            cloud = None
            if graph.changes and planned.backends.graph is not None:
                cloud_report, cloud = _apply_graph(planned, graph, rid, hooks)
                report = ApplyReport([*report.results, *cloud_report.results])
            if (directory.changes or graph.changes) and (
                    not prepared.from_file or names_as_planned(report, planned.desired)):
                # Names are only ever kept, never moved: recording after a partial failure is
                # safe. A saved plan's names are kept when they are the ones the inventory
                # gives now (else its accounts hold the names and the next plan reads them).
                record_names(planned.state.ensure(), planned.desired)
        except BaseException:
            _finish_hosts(planned, runs, hooks, rid, raise_error=False)  # the first error wins
            raise
        results = _finish_hosts(planned, runs, hooks, rid)
    hosts = _combined(results) if results else None
    if bundle is not None and not runs:  # every host in one run, after the directory
        hosts = _run_hosts(planned, bundle, hooks, check=False, expect=prepared.expect)
        _audit_hosts(planned, hosts, rid)
    if hosts is not None:
        hosts = _named_homes(planned, hosts)
    if prepared.bundle is not None and (hosts is None or not hosts.failed_hosts):
        settle(planned, prepared, report)
    traffic = planned.backends.graph.traffic() \
        if planned.backends.graph is not None and graph.changes else None
    return Outcome(report, credentials, hosts, cloud, traffic)


def names_as_planned(report: ApplyReport, desired: DesiredState) -> bool:
    """Whether every account and cloud user a saved plan made carries the name the desired
    state gives its person now (pure)."""
    names = {f"{a.partner}/{a.employee_id}": a.name for p in desired.partners
             for a in p.accounts}
    for result in report.results:
        change = result.change
        if not result.ok or change.action is not Action.CREATE or change.kind not in (
                ObjectKind.ACCOUNT, ObjectKind.CLOUD_USER):
            continue
        name = names.get(change.key)
        made = change.after.get("sAMAccountName", change.after.get("mailNickname"))
        if name is None or made != name.sam or \
                change.after.get("userPrincipalName") != name.upn:
            return False
    return True


def _second_place() -> None:
    """Host runs beside the directory writes take what CPU the writer leaves: on a control
    machine that also runs a DC (a lab, a small site) the DC's writes come first. The nice
    value is this thread's (Linux), and the Ansible processes it starts inherit it."""
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HOST_RUN_NICE)


def _host_parts(planned: PlannedRun,
                prepared: Prepared) -> tuple[PlannedRun | None, PlannedRun | None]:
    """The run limited to the hosts that need no account, and to those that do; both None
    (one run of every host after the directory) when the plan writes no account or the
    hosts are all of one kind."""
    if not any(c.kind is ObjectKind.ACCOUNT for c in prepared.plan.directory.changes):
        return None, None
    region = planned.region
    owners = tuple(h for h in region.hosts if HostRole.FILESERVER in h.roles)
    others = tuple(h for h in region.hosts if HostRole.FILESERVER not in h.roles)
    if not owners or not others:
        return None, None
    return (dataclasses.replace(planned, region=dataclasses.replace(region, hosts=others)),
            dataclasses.replace(planned, region=dataclasses.replace(region, hosts=owners)))


def _finish_hosts(planned: PlannedRun, runs: list[Future[RunResult]], hooks: Hooks,
                  rid: str, raise_error: bool = True) -> list[RunResult]:
    """Wait for the host runs started beside the directory and audit each; the error of one
    that could not run is raised once the others are audited."""
    if not runs:
        return []
    results: list[RunResult] = []
    error: BaseException | None = None
    with hooks.status("applying the workplace hosts..."):
        for run in runs:
            try:
                results.append(run.result())
            except Exception as e:  # raised below, once every other run is audited
                error = error or e
    for result in results:
        _audit_hosts(planned, result, rid)
    if error is not None and raise_error:
        raise error
    return results


def _combined(results: list[RunResult]) -> RunResult:
    """One result for host runs over disjoint hosts."""
    failed = next((r for r in results if r.status != "successful"), None)
    return RunResult(failed.status if failed else "successful", max(r.rc for r in results),
                     {h: o for r in results for h, o in r.hosts.items()},
                     tuple(c for r in results for c in r.changes),
                     {h: d for r in results for h, d in r.digests.items()},
                     tuple(sorted(h for r in results for h in r.in_sync)))


def settle(planned: PlannedRun, prepared: Prepared, report: ApplyReport | None = None) -> None:
    """The hosts now hold the prepared bundle: keep the applied partners' files as applied.

    A saved plan made before the last edit of the inventory holds other data than the files
    on disk now: then nothing is kept (the copies stay as they were).
    """
    if prepared.bundle is None or planned.scope is None or planned.scope.waiting:
        return
    if prepared.from_file and host_bundle(planned).digest != prepared.bundle.digest:
        return
    remember_applied(planned, report or ApplyReport())


def remember_applied(planned: PlannedRun, report: ApplyReport) -> None:
    """Keep the files of the partners this run applied (and only those) as last applied."""
    scope = planned.scope
    if scope is None or scope.waiting:
        return
    failed = {r.change.partner for r in report.failed}
    applied = [code for code in scope.applied if code not in failed]
    planned.request.source.remember(planned.inventory, applied, planned.state.ensure(),
                                    planned.request.today)


def _apply_directory(planned: PlannedRun, plan: Section, rid: str, hooks: Hooks,
                     on_done: Callable[[ObjectKind], None] | None = None,
                     ) -> tuple[ApplyReport, Path | None]:
    state = planned.state
    total = len(plan.changes)
    with state.credentials(rid) as credentials:
        failed = 0
        one_at_a_time = threading.Lock()

        def on_password(change: Change, password: str) -> None:
            after = change.after
            partner, _, employee_id = change.key.partition("/")
            with one_at_a_time:  # the writer's threads: one whole row written and synced
                credentials.add(partner, employee_id, str(after.get("sAMAccountName")),
                                str(after.get("userPrincipalName")), password)

        def on_result(result: ItemResult) -> None:
            nonlocal failed
            state.audit(AuditEntry.of(result, rid, planned.request.command,
                                      planned.target).as_dict())
            failed += 0 if result.ok else 1
            if hooks.on_item is not None:
                hooks.on_item(result, failed, total)

        writer = planned.backends.directory.writer(scope_of(planned.region), planned.workers,
                                                   on_password)
        try:
            report = apply_changes(plan.changes, writer, on_result, on_done)
        finally:
            writer.close()
        path = credentials.path if credentials.count else None
    return report, path


def _apply_graph(planned: PlannedRun, plan: Section, rid: str,
                 hooks: Hooks) -> tuple[ApplyReport, Path | None]:
    """Microsoft 365's changes, each audited; new users' passwords written ahead (0600)."""
    graph = planned.backends.graph
    assert graph is not None
    total = len(plan.changes)
    results: list[ItemResult] = []
    with planned.state.credentials(f"{rid}-m365") as credentials:
        failed = 0

        def on_password(change: Change, password: str) -> None:
            partner, _, employee_id = change.key.partition("/")
            credentials.add(partner, employee_id, str(change.after.get("mailNickname")),
                            str(change.after.get("userPrincipalName")), password)

        def on_result(result: ItemResult) -> None:
            nonlocal failed
            planned.state.audit(AuditEntry.of(result, rid, planned.request.command,
                                              planned.target).as_dict())
            failed += 0 if result.ok else 1
            results.append(result)
            if hooks.on_item is not None:
                hooks.on_item(result, failed, total)

        with hooks.status(f"applying {total:,} Microsoft 365 changes (Graph $batch)..."):
            graph.apply(plan.changes, on_password, on_result)
        path = credentials.path if credentials.count else None
    return ApplyReport(results), path


def _audit_hosts(planned: PlannedRun, result: RunResult, rid: str) -> None:
    request = planned.request
    for change in result.changes:
        planned.state.audit(AuditEntry.of(ItemResult(change, True, _host_message(change)), rid,
                                          request.command, planned.target).as_dict())
    for h in result.failed_hosts:
        planned.state.audit(AuditEntry(
            run=rid, command=request.command, target=planned.target, partner="",
            kind="host", action="update", key=h.host, result="failed",
            message="; ".join(h.messages), backend=Backend.HOSTS.value).as_dict())


def _host_message(change: Change) -> str:
    if change.kind is ObjectKind.HOMES:
        return ", ".join(f"{len(v)} {k}" for k, v in change.after.items())
    return f"+{change.after.get('added', 0)} -{change.after.get('removed', 0)}"


@contextlib.contextmanager
def locked(request: RunRequest, what: str) -> Iterator[None]:
    """Hold the state dir's run lock for an apply; a second one fails at once."""
    with StateDir(request.state_dir).run_lock(what):
        yield


def write_plan_job(planned: PlannedRun, folder: Path) -> Path:
    """The plan's host part as an ansible-runner job, for an AWX/AAP execution node.

    The job carries the bundle and the digests the plan saw on each host: run it with
    `ansible-runner transmit FOLDER -p site.yml | ansible-runner worker | ansible-runner
    process OUT`; the playbook checks the bundle and refuses files changed since the plan.
    """
    if planned.hosts is None or planned.ansible is None:
        raise SscError("this plan has no host part (no `ansible:` in the target, no hosts, or "
                       "the hosts are held back): there is no job to write")
    return write_job(planned.region, planned.hosts.bundle, planned.ansible, folder,
                     planned.hosts.result.digests)


def write_drift_report(planned: PlannedRun, meta: Mapping[str, Any]) -> Path:
    """Keep the drift check's plan as a JSON report in STATE/reports (0600)."""
    reports = planned.state.ensure() / "reports"
    reports.mkdir(exist_ok=True, mode=0o700)
    path = reports / f"drift-{run_id()}.json"
    write_private(path, json.dumps(planned.to_dict(meta), indent=1, ensure_ascii=False) + "\n")
    return path
