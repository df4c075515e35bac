"""The diff as data cases: a directory in sync with the mini inventory, then edits."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.ad.diff import diff_directory, directory_names, new_accounts
from ssc_infra.core.desired import derive
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    ObjectKind,
    Plan,
    Section,
    Unmanaged,
    plan_from_dict,
    plan_to_dict,
)
from ssc_infra.sources.files import load
from ssc_infra.sources.holds import HOLDS_FILE, NO_HOLDS, load_holds, parse_enable
from tests.conftest import MINI, TODAY, data_cases
from tests.support import desired_for, directory_as_desired, edit_directory, plan_for
from tests.unit.test_inventory import apply_edits


def _matches(change: Change, expected: dict[str, Any]) -> bool:
    if (change.kind.value, change.action.value, change.key) != (
        expected.get("kind", "account"), expected.get("action", change.action.value),
        expected["key"],
    ):
        return False
    if "dn" in expected and change.dn != expected["dn"]:
        return False
    if "label" in expected and change.label != expected["label"]:
        return False
    for side in ("before", "after"):
        values = getattr(change, side)
        for name, value in expected.get(side, {}).items():
            if values.get(name) != value:
                return False
    return True


def _actual(mini: Path, case: dict[str, Any]) -> Any:
    # The directory is built from the mini inventory, optionally edited first.
    source = mini.parent / "before"
    shutil.copytree(MINI, source)
    apply_edits(source, case.get("directory_edits_before", []))
    actual = directory_as_desired(desired_for(source, TODAY))
    actual = edit_directory(actual, case.get("directory", []))
    if case.get("taken"):
        actual = dataclasses.replace(actual, taken_names=actual.taken_names | set(case["taken"]))
    return actual


def _plan(mini: Path, case: dict[str, Any]) -> Any:
    actual = _actual(mini, case)
    apply_edits(mini, case.get("edits", []))
    if "holds" not in case and "enable" not in case:
        return plan_for(mini, TODAY, actual)
    region = load(mini, TODAY)
    (mini / HOLDS_FILE).write_text(case.get("holds", ""), encoding="utf-8")
    holds = load_holds(mini / HOLDS_FILE, region) if case.get("holds") else NO_HOLDS
    existing, reserved, moves = directory_names(region, actual)
    desired = derive(region, TODAY, existing, reserved)
    return diff_directory(desired, actual, moves, holds=holds,
                          enable=parse_enable(case.get("enable", []), region))


@pytest.mark.parametrize("case", data_cases("diff"))
def test_plan_holds_exactly_the_expected_changes(mini: Path, case: dict[str, Any]) -> None:
    plan = _plan(mini, case)
    if "expect_account" in case:
        changes = [c for c in plan.changes if c.kind is ObjectKind.ACCOUNT]
        expected = [{"kind": "account", **e} for e in case["expect_account"]]
    else:
        changes, expected = list(plan.changes), case["expect"]
    missing = [e for e in expected if not any(_matches(c, e) for c in changes)]
    extra = [c for c in changes if not any(_matches(c, e) for e in expected)]
    shown = [(c.kind.value, c.action.value, c.key, dict(c.after)) for c in changes]
    assert not missing, f"missing {missing}\nplan: {shown}"
    assert not extra, f"unexpected {[(c.kind.value, c.action.value, c.key) for c in extra]}"
    assert [u.dn for u in plan.unmanaged] == case.get("unmanaged", [])
    # Everything reported is drift, unless the holds file acknowledges it.
    assert [u.dn for u in plan.acknowledged] == case.get("acknowledged", [])
    if "unmanaged_labels" in case:
        assert [u.label for u in plan.unmanaged] == case["unmanaged_labels"]
    said = [f"{u.reason} {u.known}" for u in plan.unmanaged]
    for text in case.get("reported", []):
        assert any(text in line for line in said), f"no report says {text!r}: {said}"


@pytest.mark.parametrize("case", data_cases("diff"))
def test_the_accounts_to_create_are_the_ones_the_diff_creates(mini: Path,
                                                              case: dict[str, Any]) -> None:
    """`new_accounts` (what the free-name search asks about) agrees with the full diff."""
    actual = _actual(mini, case)
    apply_edits(mini, case.get("edits", []))
    region = load(mini, TODAY)
    existing, reserved, moves = directory_names(region, actual)
    desired = derive(region, TODAY, existing, reserved)
    created = {c.key for c in diff_directory(desired, actual, moves).changes
               if c.kind is ObjectKind.ACCOUNT and c.action is Action.CREATE}
    assert {f"{a.partner}/{a.employee_id}" for a in new_accounts(desired, actual, moves)} == \
        created


def test_a_second_plan_after_applying_finds_nothing(mini: Path) -> None:
    apply_edits(mini, [{"file": "people/alpha.csv",
                        "append": "1006,Sytse,,Hiemstra,Ruimte,Adviseur,alp-hq,vdi,2026-10-01,\n"}])
    applied = directory_as_desired(desired_for(mini, TODAY))
    assert plan_for(mini, TODAY, applied).empty


def test_unacknowledged_findings_are_drift_even_when_nothing_is_to_apply() -> None:
    found = Unmanaged("alpha", "CN=Scanner,OU=Users", "no employeeID")
    known = Unmanaged("alpha", "CN=Printer,OU=Users", "no employeeID", known="known: printer")
    assert Section(Backend.DIRECTORY, unmanaged=(found, known)).empty
    assert Section(Backend.DIRECTORY, unmanaged=(found, known)).drift == (found,)
    assert Section(Backend.DIRECTORY, unmanaged=(known,)).acknowledged == (known,)
    assert not Section(Backend.DIRECTORY, unmanaged=(known,)).drift


def test_findings_survive_a_saved_plan() -> None:
    lock = Unmanaged("alpha", "CN=Jan", "disabled outside the tool", "alpha/1002",
                     "held until 2026-12-31: INC-1")
    plan, _, _ = plan_from_dict(plan_to_dict(Plan((Section(Backend.DIRECTORY,
                                                        unmanaged=(lock,)),)), {}))
    assert plan.unmanaged == (lock,)
