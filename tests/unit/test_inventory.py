"""Loading and validating the inventory: every problem reported, with file, line and hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ssc_infra.errors import InventoryError, Problem
from ssc_infra.inventory.files import load, load_holding
from ssc_infra.model import DeviceKind, Identity, Workplace
from tests.conftest import MINI, TODAY, data_cases


def apply_edits(root: Path, edits: list[dict[str, Any]]) -> None:
    for edit in edits:
        path = root / edit["file"]
        if edit.get("delete"):
            path.unlink()
        elif "write" in edit:
            path.write_text(edit["write"], encoding="utf-8")
        elif "append" in edit:
            path.write_text(path.read_text(encoding="utf-8") + edit["append"], encoding="utf-8")
        else:
            old, new = edit["replace"]
            text = path.read_text(encoding="utf-8")
            assert old in text, f"case edit {old!r} not found in {edit['file']}"
            path.write_text(text.replace(old, new, 1), encoding="utf-8")


def matches(problem: Problem, expected: dict[str, Any]) -> bool:
    return (
        problem.file == expected["file"]
        and problem.line == expected["line"]
        and expected["message"] in problem.message
        and expected.get("hint", "") in problem.hint
    )


@pytest.mark.parametrize("case", data_cases("inventory"))
def test_broken_inventory_reports_every_problem(mini: Path, case: dict[str, Any]) -> None:
    apply_edits(mini, case["edits"])
    expected = case["problems"]
    if not expected:
        load(mini, TODAY)
        return
    with pytest.raises(InventoryError) as raised:
        load(mini, TODAY)
    found = raised.value.problems
    missing = [e for e in expected if not any(matches(p, e) for p in found)]
    unexpected = [p for p in found if not any(matches(p, e) for e in expected)]
    assert not missing, f"not reported: {missing}\nreported: {[str(p) for p in found]}"
    assert not unexpected, f"reported but not expected: {[str(p) for p in unexpected]}"
    assert all(p.hint for p in found), "every problem says what to do next"


def test_mini_inventory_loads_into_typed_region() -> None:
    region = load(MINI, TODAY)
    assert [p.code for p in region.partners] == ["alpha", "beta"]
    alpha = region.partner("alpha")
    assert alpha.identity is Identity.HYBRID
    assert region.partner("beta").identity is Identity.CLOUD
    wâtse = alpha.people[0]
    assert (wâtse.given_name, wâtse.surname, wâtse.workplace) == ("Wâtse", "Bûmâ", Workplace.LAPTOP)
    assert alpha.people[3].end_date is not None
    assert {d.kind for d in alpha.devices} == {DeviceKind.LAPTOP, DeviceKind.THIN_CLIENT}
    assert region.directory.base_dn == "DC=ssc,DC=test"
    assert region.partner("beta").people[1].site == "alp-hq"  # a shared flex site of alpha


def test_region_is_immutable() -> None:
    region = load(MINI, TODAY)
    with pytest.raises(AttributeError):
        region.partners[0].code = "other"  # type: ignore[misc]


def test_missing_inventory_folder_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as raised:
        load(tmp_path / "nowhere", TODAY)
    assert "no such inventory folder" in str(raised.value)
    assert "--inventory" in raised.value.problems[0].hint


def test_unknown_partner_names_the_known_ones() -> None:
    region = load(MINI, TODAY)
    with pytest.raises(KeyError, match="known: alpha, beta"):
        region.partner("gamma")


BAD_ROW = ("2002,Johan,de,Vries,Handhaving,Inspecteur,alp-hq,thin_client,2021-04-01,",
           "2002,Johan,de,Vries,Handhaving,Inspecteur,alp-hq,thin_client,2021-04-31,")


def test_a_bad_hr_export_holds_only_its_own_partner(mini: Path) -> None:
    apply_edits(mini, [{"file": "people/beta.csv", "replace": list(BAD_ROW)}])
    with pytest.raises(InventoryError):
        load(mini, TODAY)  # validate, show, render: strict
    loaded = load_holding(mini, TODAY)
    assert [p.code for p in loaded.region.partners] == ["alpha"]
    assert list(loaded.held) == ["beta"]
    (problem,) = loaded.held["beta"]
    assert (problem.file, problem.line) == ("people/beta.csv", 3)
    assert "2021-04-31" in problem.message


def test_a_clean_inventory_holds_nobody(mini: Path) -> None:
    loaded = load_holding(mini, TODAY)
    assert loaded.held == {}
    assert loaded.region == load(mini, TODAY)


@pytest.mark.parametrize("edits", [
    # a partner file the SSC edits may touch every partner: it stops the run
    [{"file": "people/beta.csv", "replace": list(BAD_ROW)},
     {"file": "partners/alpha.yaml", "replace": ["kind: municipality", "kind: village"]}],
    # with every partner held there is nothing left to run
    [{"file": "people/beta.csv", "replace": list(BAD_ROW)},
     {"file": "people/alpha.csv", "replace": ["2015-03-01", "2015-13-01"]}],
], ids=["partner-file", "every-partner"])
def test_what_cannot_be_held_stops_the_run(mini: Path, edits: list[dict[str, Any]]) -> None:
    apply_edits(mini, edits)
    with pytest.raises(InventoryError):
        load_holding(mini, TODAY)
