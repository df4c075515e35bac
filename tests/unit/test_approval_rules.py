"""Four eyes, the pure rules: which plans need an approval, when one holds, and the governance
file's checks (each problem at its line). Signatures themselves: tests/integration/test_approval.
"""

from __future__ import annotations

import base64
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ssc_infra.core.approval import (
    Approval,
    ApprovalPolicy,
    Approver,
    approval_from,
    approval_problem,
    approval_reasons,
    operation_subject,
    plan_subject,
)
from ssc_infra.core.errors import InventoryError
from ssc_infra.core.governance import Governance, key_fingerprint
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind, Plan, Section
from ssc_infra.run.approvals import approval_state
from ssc_infra.sources.governance import load_governance

MADE = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
KEY = "ssh-ed25519 " + base64.b64encode(
    len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + (32).to_bytes(4, "big")
    + bytes(range(32))).decode()
APPROVERS = {"tvdmeer": Approver("tvdmeer", KEY, key_fingerprint(KEY))}


def _plan(*changes: Change) -> Plan:
    return Plan((Section(Backend.DIRECTORY, changes),))


def _disable(partner: str, n: int) -> Change:
    return Change(ObjectKind.ACCOUNT, Action.DISABLE, partner, f"{partner}/{n}", f"CN={n}")


CREATE = Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", "alpha/1", "CN=1")
ADMINS = Change(ObjectKind.MEMBERS, Action.UPDATE, "", "Domain Admins", "CN=Domain Admins")


@pytest.mark.parametrize(("policy", "plan", "operation", "expected"), [
    (ApprovalPolicy(), _plan(CREATE, _disable("alpha", 1)), "offboard", []),
    (ApprovalPolicy(always=True), _plan(), "", []),  # nothing to do: nothing to approve
    (ApprovalPolicy(always=True), _plan(CREATE), "", ["approval.always"]),
    (ApprovalPolicy(destructive=1), _plan(_disable("alpha", 1), _disable("beta", 1)), "", []),
    (ApprovalPolicy(destructive=1), _plan(_disable("alpha", 1), _disable("alpha", 2)), "",
     ["alpha (2)"]),
    (ApprovalPolicy(privileged=True), _plan(ADMINS), "", ["Domain Admins"]),
    (ApprovalPolicy(privileged=True), _plan(CREATE), "", []),
    (ApprovalPolicy(lifecycle=True), _plan(), "purge", ["purge"]),
    (ApprovalPolicy(lifecycle=True), _plan(CREATE), "", []),
])
def test_the_policy_names_why_a_plan_needs_a_second_engineer(
        policy: ApprovalPolicy, plan: Plan, operation: str, expected: list[str]) -> None:
    reasons = approval_reasons(plan, policy, ["domain admins"], operation)
    assert len(reasons) == len(expected)
    for reason, word in zip(reasons, expected, strict=True):
        assert word in reason


SUBJECT = plan_subject("ab" * 32)


def _approval(**changed: object) -> Approval:
    fields: dict[str, object] = {"subject": SUBJECT, "approver": "tvdmeer",
                                 "fingerprint": key_fingerprint(KEY),
                                 "signed": MADE + timedelta(minutes=10), "signature": "sig"}
    fields.update(changed)
    return Approval(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("approval", "planner", "now", "problem"), [
    (_approval(), "root", MADE + timedelta(hours=1), ""),
    (_approval(), "tvdmeer", MADE + timedelta(hours=1), "made the plan"),
    (_approval(subject=plan_subject("cd" * 32)), "root", MADE, "approves something else"),
    (_approval(approver="jdevries"), "root", MADE, "not an approver"),
    (_approval(fingerprint="SHA256:other"), "root", MADE, "not tvdmeer's key"),
    (_approval(signed=MADE - timedelta(hours=1)), "root", MADE, "before the plan"),
    (_approval(signed=MADE + timedelta(hours=3)), "root", MADE, "in the future"),
    (_approval(), "root", MADE + timedelta(hours=25), "expired at 2026-12-07T09:10"),
])
def test_an_approval_holds_only_from_another_listed_engineer_in_its_time(
        approval: Approval, planner: str, now: datetime, problem: str) -> None:
    found = approval_problem(approval, SUBJECT, planner, MADE, now, ApprovalPolicy(always=True),
                             APPROVERS)
    assert (problem in found) if problem else found == ""


def test_an_operation_names_region_and_partners_in_a_fixed_order() -> None:
    assert operation_subject("merge", "frl", ["wadden", "ameland"]) == "merge frl/ameland,wadden"


def test_the_fingerprint_is_the_one_ssh_keygen_shows(tmp_path: Path) -> None:
    key = tmp_path / "k"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    shown = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True,
                           capture_output=True, text=True).stdout.split()[1]
    assert key_fingerprint(Path(f"{key}.pub").read_text()) == shown
    with pytest.raises(ValueError, match="not a ssh-rsa key"):
        key_fingerprint(KEY.replace("ssh-ed25519", "ssh-rsa", 1))


@pytest.mark.parametrize(("text", "line", "message"), [
    ("approvers:\n  - {name: Tvdmeer, key: x}\n", 2, "approvers.0.name"),
    (f"approvers:\n  - {{name: a, key: '{KEY}'}}\n  - {{name: a, key: '{KEY}2'}}\n", 3,
     "approvers.1.key"),
    (f"approvers:\n  - {{name: a, key: '{KEY}'}}\n  - {{name: b, key: '{KEY}'}}\n", 3,
     "b's key is a's too"),
    (f"approvers:\n  - {{name: a, key: '{KEY}'}}\n  - {{name: a, key: '{KEY} x'}}\n", 3,
     "listed twice"),
    ("approval: {destructive: -1}\n", 1, "approval.destructive"),
    ("approval: {sometimes: true}\n", 1, "sometimes"),
    ("privileged_groups:\n  Domain Admins: [a]\n  domain admins: [b]\n", 3, "again"),
    ("privileged_groups:\n  'x[/x]': [a]\n", 2, "privileged_groups"),
])
def test_a_bad_governance_file_names_file_line_and_what_is_wrong(
        tmp_path: Path, text: str, line: int, message: str) -> None:
    (tmp_path / "governance.yaml").write_text(text)
    with pytest.raises(InventoryError) as raised:
        load_governance(tmp_path)
    found = raised.value.problems
    assert any(p.file == "governance.yaml" and p.line == line and message in p.message
               for p in found), [str(p) for p in found]


def test_without_a_governance_file_nothing_needs_approval_and_the_builtin_groups_are_watched(
        tmp_path: Path) -> None:
    governance = load_governance(tmp_path)
    assert not governance.approval.active and not governance.approvers
    assert governance.privileged_groups["Domain Admins"] == ("Administrator",)


@pytest.mark.parametrize("entry", [
    "a string", {"subject": "x"}, {**_approval().to_dict(), "signed": "9999-12-31T23:59:59+00:00"},
    {**_approval().to_dict(), "signed": "2026-12-06T10:00:00"},
    {**_approval().to_dict(), "signed": "not a time"}, {**_approval().to_dict(), "approver": 7},
])
def test_a_hand_made_approval_is_a_clear_error_not_a_crash(entry: object) -> None:
    with pytest.raises(ValueError, match="approval"):
        approval_from(entry)


def test_a_flood_of_approvals_is_read_no_further_than_twenty() -> None:
    entry = {**_approval().to_dict(), "signature": "x"}
    data = {"approvals": [entry] * 10_000}
    meta = {"planner": "root@host", "created": MADE.isoformat()}
    state = approval_state(data, meta, _plan(CREATE),
                           Governance(APPROVERS, ApprovalPolicy(always=True)), MADE)
    assert not state.satisfied
    assert "10000 approvals in the file, at most 20" in state.problems[0]
    assert len(state.problems) <= 21  # each approval refused once, none beyond twenty


def test_an_approval_with_a_huge_field_is_refused() -> None:
    with pytest.raises(ValueError, match="over 4096"):
        approval_from({**_approval().to_dict(), "signature": "x" * 5000})
