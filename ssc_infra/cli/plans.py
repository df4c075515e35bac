"""Showing a planned run and the result of an apply: what `plan`, `drift`, `apply` and the
partner lifecycle commands print, and the exit code a plan gives.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    HOOKS,
    check_partners,
    err,
    out,
    print_json,
)
from ssc_infra.core.governance import GOVERNANCE_FILE, Governance
from ssc_infra.hosts.ansible import host_of
from ssc_infra.report import (
    HostPart,
    host_lines,
    shown_plan_lines,
)
from ssc_infra.report.saved import SavedPlan, SavedPlanError
from ssc_infra.run import (
    Outcome,
    PlannedRun,
    Prepared,
    RunRequest,
    load_inventory,
    plan_run,
)
from ssc_infra.run.approvals import ApprovalState, approval_state
from ssc_infra.sources import Kept, RunInventory
from ssc_infra.state.seal import KEY_FILE, SealCheck

HELD_SHOWN = 10  # problems shown per held-back partner; `validate` lists them all


def planned_run(request: RunRequest, check_hosts: bool = True) -> PlannedRun:
    """The plan of a run, saying first which partners are held back and why."""
    inventory = load_inventory(request)
    check_partners(inventory.region,
                   tuple(c for c in request.partners if c not in inventory.held))
    print_held_inventory(inventory)
    planned = plan_run(request, HOOKS, check_hosts, inventory)
    for conflict in planned.name_conflicts:
        err.print(f"[yellow]name kept by the directory:[/] {escape(str(conflict))}",
                  soft_wrap=True)
    scope = planned.scope
    if scope is not None and scope.waiting:
        err.print(f"[yellow]held back:[/] the workplace hosts — {escape(scope.waiting)}",
                  soft_wrap=True)
    elif scope is not None and scope.kept:
        err.print(f"the workplace hosts go on: {escape(kept_parts(scope.kept))}",
                  soft_wrap=True)
    return planned


def kept_parts(kept: Mapping[str, Kept]) -> str:
    """Whose part of the host files stays as applied when, one clause per time: a run for one
    partner keeps the other partners' parts, usually all of one earlier apply."""
    by_time: dict[str, list[str]] = {}
    for code, k in sorted(kept.items()):
        by_time.setdefault(f"{k.time:%Y-%m-%d %H:%M} UTC", []).append(code)
    return "; ".join(
        f"{codes[0]}'s part of their files stays as applied {when}" if len(codes) == 1 else
        f"the parts of {', '.join(codes[:-1])} and {codes[-1]} in their files stay as applied "
        f"{when}" for when, codes in by_time.items())


def print_held_inventory(inventory: RunInventory) -> None:
    for code, found in inventory.shown.items():
        err.print(f"[yellow]held back:[/] partner {escape(code)} — {len(found)} problem"
                  f"{'s' if len(found) != 1 else ''} in its HR export, device list or "
                  f"moves.yaml; nothing of {escape(code)} is read or changed in this run:",
                  soft_wrap=True)
        for problem in found[:HELD_SHOWN]:
            err.print(f"  {problem}", soft_wrap=True, highlight=False, markup=False)
        if len(found) > HELD_SHOWN:
            err.print(f"  ... and {len(found) - HELD_SHOWN} more: `ssc-infra validate` lists "
                      "them all")


def show_plan(planned: PlannedRun, fmt: str, meta: dict[str, Any],
              compact: bool = False) -> None:
    if fmt == "json":
        print_json(planned.to_dict(meta))
        return
    hosts = None
    if planned.hosts is not None:
        hosts = HostPart(planned.hosts.changes_for(planned.partners),
                         planned.hosts.result.failed_hosts, planned.hosts.refused,
                         len(planned.hosts.result.in_sync))
    names = {p.code: p.name for p in planned.region.partners}
    for line in shown_plan_lines(planned.plan, names, hosts, planned.hosts_held, compact):
        out.print(line, soft_wrap=True)


def plan_exit_code(planned: PlannedRun) -> int:
    if planned.incomplete:
        return EXIT_ERROR
    return EXIT_OK if planned.empty else EXIT_CHANGES


def print_apply_result(outcome: Outcome, planned: PlannedRun, prepared: Prepared) -> None:
    report, hosts, state = outcome.report, outcome.hosts, planned.state
    for result in report.failed:
        c = result.change
        err.print(f"[red]failed[/] {escape(c.partner)} {c.kind.value} {escape(c.key)}: "
                  f"{escape(result.message)}", soft_wrap=True)
    refused = prepared.refused
    out.print(f"applied {report.succeeded:,} of {len(report.results):,} changes"
              + (f", [red]{len(report.failed):,} failed[/]" if report.failed else "")
              + (f", {len(refused)} refused as stale" if refused else ""))
    for held in prepared.plan.held:
        err.print(f"[yellow]held back:[/] {escape(held.message())}", soft_wrap=True)
    if hosts is not None:
        if prepared.hosts_unchecked:  # not shown ahead: what the run changed
            for line in host_lines(hosts.changes, ()):
                out.print(line, soft_wrap=True)
        for line in host_lines([], hosts.failed_hosts):
            err.print(line, soft_wrap=True)
        changed = {host_of(c) for c in hosts.changes}
        out.print(f"hosts: {len(hosts.changes)} changes on {len(changed)} hosts"
                  + (f", [red]{len(hosts.failed_hosts)} hosts failed[/]"
                     if hosts.failed_hosts else ""))
    if outcome.credentials is not None:
        out.print(f"initial passwords: {escape(str(outcome.credentials))} (mode 0600; keep it "
                  "until these people have logged on)")
    if outcome.graph_traffic is not None:
        out.print(f"Microsoft 365: {escape(outcome.graph_traffic.summary())}")
    if outcome.cloud_credentials is not None:
        out.print(f"initial passwords of the new Microsoft 365 users: "
                  f"{escape(str(outcome.cloud_credentials))} (mode 0600)")
    out.print(f"audit log: {escape(str(state.audit_log))}")
    if report.failed or (hosts is not None and hosts.failed_hosts):
        err.print("run `ssc-infra plan` to see what is left; a re-run of apply converges.")
        sys.exit(EXIT_ERROR)
    if planned.held_inventory or planned.hosts_held:
        err.print("[yellow]not everything was applied:[/] fix the held-back inventory "
                  "(`ssc-infra validate`) and apply again.")
        sys.exit(EXIT_ERROR)
    for item in prepared.plan.drift:
        err.print(f"[magenta]drift left as it is:[/] {escape(item.key or item.dn)}: "
                  f"{escape(item.reason)}", soft_wrap=True)
    sys.exit(EXIT_CHANGES if prepared.left_undone else EXIT_OK)


def show_saved_plan(saved: SavedPlan, state_dir: Path, fmt: str, compact: bool) -> None:
    """A saved plan as `plan` showed it, after what its seal says (`show PLAN`, `approve`)."""
    where = escape(str(saved.path))
    if saved.seal is SealCheck.VERIFIED:
        err.print(f"[green]✓[/] {where}: sealed, the seal checked with "
                  f"{escape(str(state_dir / KEY_FILE))}", soft_wrap=True)
    elif saved.seal is SealCheck.UNVERIFIED:
        err.print(f"[yellow]warning:[/] {where} is sealed, but {escape(str(state_dir))} has no "
                  f"{KEY_FILE} to check the seal with: shown unchecked. Pass the --state-dir "
                  "the plan was made with; apply checks the seal in any case.", soft_wrap=True)
    else:
        err.print(f"[yellow]warning:[/] {where} has no seal (a drift report, or `--format "
                  "json` output): shown as data; apply would refuse it.", soft_wrap=True)
    if fmt == "json":
        print_json({"file": str(saved.path), "seal": saved.seal.value, "plan": saved.data})
        return
    meta = saved.meta
    asked = meta.get("partners") or []
    heading = (f"plan of region {meta.get('region', '?')} for target {meta.get('target', '?')}, "
               f"day {meta.get('today', '?')}, made {meta.get('created', '?')}"
               + (f", for {', '.join(str(p) for p in asked)}" if asked else ""))
    try:  # an unsealed file may hold anything: a value of the wrong type is a damaged file
        lines = list(shown_plan_lines(saved.plan, saved.partner_names, saved.hosts,
                                      saved.hosts_held, compact))
    except (TypeError, ValueError, AttributeError, KeyError) as e:
        raise SavedPlanError(f"{saved.path}: the plan is damaged ({e!r}); make a new one") from e
    out.print(f"[dim]{escape(heading)}[/]", soft_wrap=True)
    for line in lines:
        out.print(line, soft_wrap=True)


def show_approval_state(saved: SavedPlan, governance: Governance) -> ApprovalState:
    """Whether the saved plan needs a second engineer, and whose approvals it holds now."""
    state = approval_state(saved.data, saved.meta, saved.plan, governance)
    made_by = f"made by {escape(state.planner)}" if state.planner else "maker unknown"
    if state.needed:
        err.print(f"[bold]approval[/] ({made_by}): needed — " + escape("; ".join(state.reasons)),
                  soft_wrap=True)
    else:
        err.print(f"[bold]approval[/] ({made_by}): not needed by the policy in "
                  f"{GOVERNANCE_FILE}", soft_wrap=True)
    for approval in state.held:
        until = approval.signed + timedelta(hours=governance.approval.valid_hours)
        err.print(f"  [green]✓[/] approved by {escape(approval.approver)} "
                  f"({escape(approval.fingerprint)}) at {approval.signed:%Y-%m-%d %H:%M} UTC, "
                  f"holds until {until:%Y-%m-%d %H:%M} UTC", soft_wrap=True)
    for problem in state.problems:
        err.print(f"  [red]✗[/] {escape(problem)}", soft_wrap=True)
    if state.needed and not state.held:
        err.print("  [yellow]apply refuses it until another engineer runs `ssc-infra approve "
                  f"{escape(str(saved.path))}`[/]", soft_wrap=True)
    return state
