"""Four eyes at apply time: a plan the region's policy says needs a second engineer is applied
only from a saved plan file that holds an approval that holds (`ssc_infra.core.approval`),
and a lifecycle operation (offboarding, purge, merge) only with an approval of that operation.

A fresh `apply` of such a plan is refused with what to do: save it, have it approved, apply the
file. Nothing here runs for the nightly drift check: it applies nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ssc_infra.core.approval import (
    Approval,
    Approved,
    approval_from,
    approval_problem,
    approval_reasons,
    login_of,
    operation_subject,
    plan_subject,
)
from ssc_infra.core.errors import SscError
from ssc_infra.core.governance import Governance
from ssc_infra.core.plan import Plan
from ssc_infra.state.approval import APPROVALS, signature_holds
from ssc_infra.state.folder import operator
from ssc_infra.state.seal import plan_digest

MAX_APPROVALS = 20  # a plan is approved by one or two engineers; a flood is no approval


class ApprovalRequired(SscError):
    """The plan needs an approval that holds, and has none."""


def reasons_for(plan: Plan, governance: Governance, operation: str = "") -> list[str]:
    return approval_reasons(plan, governance.approval, governance.privileged_groups, operation)


def approve_fresh(plan: Plan, governance: Governance, region: str, partners: Sequence[str],
                  operation: str = "", approvals: Iterable[Approval] = (),
                  now: datetime | None = None) -> Approved:
    """The planner (who runs this) and, when the policy asks, the approvals of the operation
    that hold. A fresh plain apply that needs an approval is refused: only a saved plan can
    be approved.

    Raises:
        ApprovalRequired: the plan needs an approval and none holds.
    """
    planner = login_of(operator())
    reasons = reasons_for(plan, governance, operation)
    if not reasons:
        return Approved(planner)
    if not operation:
        raise ApprovalRequired(
            "this plan needs a second engineer's approval (" + "; ".join(reasons) + "). Save "
            "it with `ssc-infra plan --out FILE`, have another engineer run `ssc-infra approve "
            "FILE`, then run `ssc-infra apply FILE`")
    subject = operation_subject(operation, region, partners)
    now = now or datetime.now(UTC)
    held, problems = _holding(list(approvals), subject, planner, now, now, governance)
    if not held:
        raise ApprovalRequired(
            f"this {operation} needs a second engineer's approval (" + "; ".join(reasons)
            + "). " + _why_not(problems) + f"Another engineer runs `ssc-infra approve "
            f"--operation {operation} --partner {','.join(partners)} --out FILE`; pass that "
            "file with --approval FILE")
    return Approved(planner, tuple(held))


def approve_operation(governance: Governance, operation: str, region: str,
                      partners: Sequence[str], approvals: Iterable[Approval] = (),
                      now: datetime | None = None) -> Approved:
    """Before a lifecycle operation writes anything: its approval, when the policy asks.

    Raises:
        ApprovalRequired: the policy wants one and none holds.
    """
    if not governance.approval.lifecycle:
        return Approved(login_of(operator()))
    return approve_fresh(Plan(()), governance, region, partners, operation, approvals, now)


@dataclass(frozen=True)
class ApprovalState:
    """A saved plan's approvals as apply would see them now (`show PLAN`, `approve`)."""

    planner: str  # who made the plan ("" when an earlier version made it)
    reasons: tuple[str, ...]  # why the policy wants an approval; empty: it does not
    held: tuple[Approval, ...]  # the approvals that hold
    problems: tuple[str, ...]  # why each other one does not

    @property
    def needed(self) -> bool:
        return bool(self.reasons)

    @property
    def satisfied(self) -> bool:
        return not self.reasons or bool(self.held)


def approval_state(data: Mapping[str, Any], meta: Mapping[str, Any], plan: Plan,
                   governance: Governance, now: datetime | None = None) -> ApprovalState:
    """What the saved plan (`data`: the file without its seal) needs and holds."""
    planner = login_of(str(meta.get("planner") or ""))
    reasons = tuple(reasons_for(plan, governance))
    raw = data.get(APPROVALS)
    approvals: list[Approval] = []
    problems: list[str] = []
    entries = raw if isinstance(raw, list) else []
    if len(entries) > MAX_APPROVALS:  # each is checked by a process of its own
        problems.append(f"{len(entries)} approvals in the file, at most {MAX_APPROVALS} are "
                        "read: the first ones")
        entries = entries[:MAX_APPROVALS]
    for index, entry in enumerate(entries, start=1):
        try:
            approvals.append(approval_from(entry))
        except ValueError as e:
            problems.append(f"approval {index}: {e}")
    try:
        made = datetime.fromisoformat(str(meta.get("created")))
    except ValueError:
        return ApprovalState(planner, reasons, (), (*problems, "the plan does not say when "
                                                    "it was made: make a new plan"))
    if made.tzinfo is None:
        made = made.replace(tzinfo=UTC)
    if not planner:
        problems.append("the plan does not say who made it (made by an earlier version): "
                        "make a new plan")
        return ApprovalState(planner, reasons, (), tuple(problems))
    held, found = _holding(approvals, plan_subject(plan_digest(data)), planner, made,
                           now or datetime.now(UTC), governance)
    return ApprovalState(planner, reasons, tuple(held), (*problems, *found))


def approve_saved(data: Mapping[str, Any], meta: Mapping[str, Any], plan: Plan,
                  governance: Governance, now: datetime | None = None) -> Approved:
    """The planner and approvals of a saved plan (`data`: the unsealed file) that holds them.

    Raises:
        ApprovalRequired: the plan needs an approval and none holds.
    """
    state = approval_state(data, meta, plan, governance, now)
    if not state.satisfied:
        raise ApprovalRequired(
            f"this plan needs a second engineer's approval ({'; '.join(state.reasons)}). "
            + _why_not(list(state.problems)) + "Another engineer (not "
            f"{state.planner or 'who made it'}) runs `ssc-infra approve FILE`, then apply the "
            "file again")
    return Approved(state.planner, state.held)


def _holding(approvals: list[Approval], subject: str, planner: str, made: datetime,
             now: datetime, governance: Governance) -> tuple[list[Approval], list[str]]:
    """The approvals that hold, and why each other one does not."""
    held: list[Approval] = []
    problems: list[str] = []
    for approval in approvals:
        problem = approval_problem(approval, subject, planner, made, now,
                                   governance.approval, governance.approvers)
        if not problem and not signature_holds(approval,
                                               governance.approvers[approval.approver]):
            problem = "its signature does not match the statement and the approver's key"
        if problem:
            problems.append(f"{approval.approver}'s approval: {problem}")
        else:
            held.append(approval)
    return held, problems


def _why_not(problems: list[str]) -> str:
    if not problems:
        return "It has no approval. "
    return "No approval holds: " + "; ".join(problems) + ". "
