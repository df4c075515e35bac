"""Apply a planned run: `prepare_apply` turns the fresh plan, or a sealed saved plan checked
item by item against now, into what will be applied; `execute_apply` applies it and records
every item; `settle` keeps the applied partners' files as last applied.

Only the partners that were applied are recorded as applied: a partner held back keeps its
part of every host file exactly as last applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ssc_infra.ad.apply import ApplyReport, apply_changes
from ssc_infra.ad.stale import stale_reason
from ssc_infra.core.desired import DesiredState
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import HostRole
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    ItemResult,
    ObjectKind,
    Plan,
    Section,
    plan_from_dict,
)
from ssc_infra.hosts.ansible import RunResult
from ssc_infra.hosts.backend import Bundle, use_bundle
from ssc_infra.m365.counter import GraphCounter
from ssc_infra.m365.diff import stale_graph
from ssc_infra.run.approvals import approve_fresh, approve_saved
from ssc_infra.run.directory import scope_of
from ssc_infra.run.hostpart import host_bundle, named_homes, run_hosts
from ssc_infra.run.planned import PlannedRun
from ssc_infra.run.request import NO_HOOKS, Hooks
from ssc_infra.sources.planfile import read_plan_json
from ssc_infra.state.audit import AuditEntry
from ssc_infra.state.folder import run_id
from ssc_infra.state.ledger import record_names
from ssc_infra.state.seal import plan_key, unseal

HOST_RUN_NICE = 10  # the nice value of host runs beside the directory writes
# Below this many new accounts every host is applied in one run after the directory: a DC
# writes about 40 accounts with their passwords a second, and a second Ansible run over the
# hosts costs 2-4 s on its own, so splitting the hosts pays only for longer writes.
SPLIT_HOSTS_FROM = 150


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

    @property
    def nothing_to_apply(self) -> bool:
        """No directory, Microsoft 365 or host change is left to make."""
        return not (self.plan.directory.changes or self.plan.section(Backend.GRAPH).changes
                    or self.applies_hosts)

    @property
    def left_undone(self) -> bool:
        """A partner held back, a change refused as stale, or drift left as it is: the run
        did what it could, and says so with "changes pending" (exit 2)."""
        return bool(self.refused or self.plan.held or self.plan.drift)


def prepare_apply(planned: PlannedRun, plan_file: Path | None) -> Prepared:
    """What to apply: the fresh plan, or a sealed saved plan item by item against now."""
    request = planned.request
    if plan_file is None:
        planned.approved = approve_fresh(planned.plan, request.governance, planned.region.code,
                                         planned.partners or request.partners,
                                         request.operation, request.approvals)
        hosts = planned.hosts
        if hosts is None and _hosts_go_on(planned):
            # Not checked ahead (nobody reviews an `apply --yes`): the apply's own run with
            # every checker is the check, and its changes are what is shown.
            return Prepared(planned.plan, [], host_bundle(planned), hosts_unchecked=True)
        if hosts is None:
            return Prepared(planned.plan)
        return Prepared(planned.plan, [], hosts.bundle, len(hosts.result.changes),
                        hosts.result.digests)
    raw = read_plan_json(plan_file)
    data = unseal(raw, plan_key(planned.state.ensure()), str(plan_file))
    try:
        saved, meta, extra = plan_from_dict(data)
    except ValueError as e:
        raise SscError(f"cannot use the plan file {plan_file}: {e}") from e
    if meta.get("target") != planned.target or meta.get("base_dn") != planned.settings.base_dn:
        raise SscError(f"{plan_file} was made for target {meta.get('target')!r} "
                       f"({meta.get('base_dn')}); this run is for {planned.target!r}")
    planned.approved = approve_saved(data, meta, saved, request.governance)
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


@dataclass
class Outcome:
    report: ApplyReport
    credentials: Path | None
    hosts: RunResult | None
    cloud_credentials: Path | None = None  # the new cloud users' initial passwords
    graph_traffic: GraphCounter | None = None  # what the run sent to Graph, throttling included


def execute_apply(planned: PlannedRun, prepared: Prepared, hooks: Hooks = NO_HOOKS) -> Outcome:
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
                runs.append(pool.submit(run_hosts, part, bundle, Hooks(), False,
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
        hosts = run_hosts(planned, bundle, hooks, check=False, expect=prepared.expect)
        _audit_hosts(planned, hosts, rid)
    if hosts is not None:
        hosts = named_homes(planned, hosts)
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
    (one run of every host after the directory) when the plan writes fewer than
    SPLIT_HOSTS_FROM new accounts or the hosts are all of one kind."""
    new_accounts = sum(1 for c in prepared.plan.directory.changes
                       if c.kind is ObjectKind.ACCOUNT and c.action is Action.CREATE)
    if new_accounts < SPLIT_HOSTS_FROM:
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
                                      planned.target).approved(planned.approved).as_dict())
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
                                              planned.target).approved(planned.approved)
                                .as_dict())
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
                                          request.command, planned.target)
                            .approved(planned.approved).as_dict())
    for h in result.failed_hosts:
        planned.state.audit(AuditEntry(
            run=rid, command=request.command, target=planned.target, partner="",
            kind="host", action="update", key=h.host, result="failed",
            message="; ".join(h.messages), backend=Backend.HOSTS.value)
            .approved(planned.approved).as_dict())


def _host_message(change: Change) -> str:
    if change.kind is ObjectKind.HOMES:
        return ", ".join(f"{len(v)} {k}" for k, v in change.after.items())
    return f"+{change.after.get('added', 0)} -{change.after.get('removed', 0)}"
