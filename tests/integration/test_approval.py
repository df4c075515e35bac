"""Four eyes against the real DC: a plan the policy says needs a second engineer is applied
only from a saved plan approved by another listed engineer's SSH key, made after the plan and
not expired; an edited plan, a self-approval, a copied or expired approval are refused, and the
nightly drift check needs none. Signatures by the real ssh-keygen."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.approval import login_of, plan_subject
from ssc_infra.sources.governance import load_governance
from ssc_infra.state.approval import add_approval, sign
from ssc_infra.state.folder import operator
from ssc_infra.state.seal import plan_digest
from tests.integration.test_ad import Lab
from tests.integration.test_ad import lab as ad_lab  # noqa: F401  (the fixture, by this name)

pytestmark = pytest.mark.integration

ME = login_of(operator())  # who runs the tests plans, as an engineer would
OTHER = "tvdmeer"


@pytest.fixture
def lab(ad_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    """The mini inventory and the test DC, as in test_ad."""
    return ad_lab


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for name in (ME, OTHER, "stranger"):
        key = tmp_path / "keys" / name
        key.parent.mkdir(exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f",
                        str(key)], check=True)
        found[name] = key
    return found


def _governance(lab: Lab, keys: dict[str, Path], approval: str) -> None:
    approvers = "".join(
        f"  - {{name: {name}, key: \"{Path(f'{keys[name]}.pub').read_text().strip()}\"}}\n"
        for name in (ME, OTHER))
    (lab.inventory / "governance.yaml").write_text(f"approvers:\n{approvers}approval: {approval}\n")


def _approve(lab: Lab, plan: Path, key: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["approve", str(plan), "--key", str(key), "--yes",
                                       "--inventory", str(lab.inventory), "--state-dir",
                                       str(lab.state)])
    return result.exit_code, result.stdout + result.stderr


def _audit(lab: Lab) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (lab.state / "audit.jsonl").read_text().splitlines()]


def test_an_approved_plan_applies_and_its_audit_names_planner_and_approver(
        lab: Lab, keys: dict[str, Path], tmp_path: Path) -> None:
    _governance(lab, keys, "{always: true}")
    refused = lab.apply()
    assert refused.code == 1 and "needs a second engineer's approval" in refused.err
    assert "ssc-infra approve FILE" in refused.err and lab.users() == {}
    plan = tmp_path / "today.plan.json"
    assert lab.cli("plan", "--out", str(plan)).code == 2
    unapproved = lab.apply(str(plan))
    assert unapproved.code == 1 and "It has no approval" in unapproved.err
    shown = lab.cli("show", str(plan))
    assert "approval" in shown.err and "needed" in shown.err

    code, text = _approve(lab, plan, keys[ME])  # the planner's own key
    assert code == 1 and "made this plan" in text
    code, text = _approve(lab, plan, keys["stranger"])  # no approver
    assert code == 1 and "no approver's key" in text
    code, text = _approve(lab, plan, keys[OTHER])
    assert code == 0, text
    assert "approved by tvdmeer" in lab.cli("show", str(plan)).err

    applied = lab.apply(str(plan))
    assert applied.code == 0, applied.out + applied.err
    assert len(lab.users()) == 4
    entries = [e for e in _audit(lab) if e.get("command") == "apply"]
    assert entries and all(e["planner"] == ME for e in entries)
    assert all(str(e["approvers"][0]).startswith(f"{OTHER} (SHA256:") for e in entries)
    assert all(e["origin"] and e["host"] and e["operator"] for e in entries)
    assert lab.cli("drift").code == 0  # the nightly check needs no approval


def test_a_plan_changed_after_its_approval_or_an_approval_moved_is_refused(
        lab: Lab, keys: dict[str, Path], tmp_path: Path) -> None:
    _governance(lab, keys, "{always: true}")
    plan = tmp_path / "a.plan.json"
    assert lab.cli("plan", "--out", str(plan)).code == 2
    assert _approve(lab, plan, keys[OTHER])[0] == 0
    data = json.loads(plan.read_text())

    edited = tmp_path / "edited.plan.json"  # a change dropped after the approval
    data_edited = {**data, "sections": {**data["sections"], "directory": {
        **data["sections"]["directory"],
        "changes": data["sections"]["directory"]["changes"][:-1]}}}
    edited.write_text(json.dumps(data_edited))
    refused = lab.apply(str(edited))
    assert refused.code == 1 and "seal does not match" in refused.err

    lab.edit({"file": "people/alpha.csv",
              "append": "1099,Sytske,,Wiersma,Burgerzaken,Medewerker,alp-hq,vdi,2020-01-01,\n"})
    other = tmp_path / "b.plan.json"
    assert lab.cli("plan", "--out", str(other)).code == 2
    moved = json.loads(other.read_text())
    moved["approvals"] = data["approvals"]  # the first plan's approval, copied over
    other.write_text(json.dumps(moved))
    refused = lab.apply(str(other))
    assert refused.code == 1 and "approves something else" in refused.err

    forged = json.loads(plan.read_text())
    forged["approvals"][0]["signed"] = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    plan.write_text(json.dumps(forged))  # the time moved: the signature no longer fits
    refused = lab.apply(str(plan))
    assert refused.code == 1 and "signature does not match" in refused.err
    assert lab.users() == {}


def test_an_expired_approval_or_one_made_before_the_plan_is_refused(
        lab: Lab, keys: dict[str, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    _governance(lab, keys, "{always: true, valid_hours: 1}")
    plan = tmp_path / "a.plan.json"
    assert lab.cli("plan", "--out", str(plan)).code == 2
    data = json.loads(plan.read_text())
    subject = plan_subject(plan_digest(data))
    made = datetime.fromisoformat(data["created"])
    approver = load_governance(lab.inventory).approvers[OTHER]
    add_approval(plan, sign(subject, approver, keys[OTHER], now=made - timedelta(hours=1)))
    refused = lab.apply(str(plan))
    assert refused.code == 1 and "signed before the plan was made" in refused.err
    add_approval(plan, sign(subject, approver, keys[OTHER]))  # replaces the first: it holds

    class TwoHoursLater(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> TwoHoursLater:
            return cls.fromtimestamp(datetime.now(tz).timestamp() + 7200, tz)

    monkeypatch.setattr("ssc_infra.run.approvals.datetime", TwoHoursLater)
    refused = lab.apply(str(plan))
    assert refused.code == 1 and "expired at" in refused.err
    assert lab.users() == {}
    monkeypatch.undo()
    assert lab.apply(str(plan)).code == 0


def test_a_change_the_policy_does_not_name_applies_without_approval(
        lab: Lab, keys: dict[str, Path]) -> None:
    _governance(lab, keys, "{destructive: 10, privileged: true, lifecycle: true}")
    applied = lab.apply()  # creates only: nothing the policy names
    assert applied.code == 0, applied.out + applied.err
    assert len(lab.users()) == 4
    entries = [e for e in _audit(lab) if e.get("command") == "apply"]
    assert entries and all(e["planner"] == ME and e["approvers"] == [] for e in entries)


def test_a_lifecycle_operation_needs_an_approval_of_that_operation(
        lab: Lab, keys: dict[str, Path], tmp_path: Path) -> None:
    _governance(lab, keys, "{lifecycle: true}")
    assert lab.apply().code == 0
    refused = lab.cli("partner", "offboard", "alpha", "--to", str(tmp_path / "alpha"), "--yes")
    assert refused.code == 1 and "needs a second engineer's approval" in refused.err
    assert not (tmp_path / "alpha").exists()  # refused before anything was written
    approval = tmp_path / "alpha.approval.json"

    def approve_offboarding(partner: str) -> None:
        made = CliRunner().invoke(main, ["approve", "--operation", "offboard", "--partner",
                                         partner, "--out", str(approval), "--key",
                                         str(keys[OTHER]), "--yes", "--inventory",
                                         str(lab.inventory)])
        assert made.exit_code == 0, made.output

    approve_offboarding("beta")
    refused = lab.cli("partner", "offboard", "alpha", "--to", str(tmp_path / "alpha"), "--yes",
                      "--approval", str(approval))
    assert refused.code == 1 and "approves something else" in refused.err
    approve_offboarding("alpha")
    done = lab.cli("partner", "offboard", "alpha", "--to", str(tmp_path / "alpha"), "--yes",
                   "--approval", str(approval))
    assert done.code == 0, done.out + done.err
    offboarded = [e for e in _audit(lab) if e.get("command") == "apply"
                  and e.get("partner") == "alpha" and e.get("action") == "disable"]
    assert offboarded and all(str(e["approvers"][0]).startswith(OTHER) for e in offboarded)
