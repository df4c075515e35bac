"""holds.yaml: checked like the rest of the inventory, with file:line for every problem."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.errors import InventoryError
from ssc_infra.sources.files import load
from ssc_infra.sources.holds import HOLDS_FILE, load_holds, load_run_holds, parse_enable
from tests.conftest import MINI, TODAY, data_cases


@pytest.mark.parametrize("case", data_cases("holds"))
def test_holds_file_problems_are_found_at_their_line(tmp_path: Path, case: dict[str, Any]) -> None:
    path = tmp_path / HOLDS_FILE
    path.write_text(case["text"], encoding="utf-8")
    region = load(MINI, TODAY)
    if not case["problems"]:
        holds = load_holds(path, region)
        assert holds.holds or holds.known
        return
    with pytest.raises(InventoryError) as caught:
        load_holds(path, region)
    found = [(p.line, p.message) for p in caught.value.problems]
    for expected in case["problems"]:
        assert any(line == expected["line"] and expected["message"] in message
                   for line, message in found), f"{expected} not in {found}"
    assert len(found) == len(case["problems"]), found
    assert all(p.file == HOLDS_FILE and p.hint for p in caught.value.problems)


def test_a_missing_default_holds_file_means_no_holds(tmp_path: Path) -> None:
    holds = load_holds(tmp_path / HOLDS_FILE, load(MINI, TODAY))
    assert not holds.holds and not holds.known


def test_a_holds_file_passed_in_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="file not found"):
        load_holds(tmp_path / "elsewhere.yaml", load(MINI, TODAY), "elsewhere.yaml",
                   required=True)


@pytest.mark.parametrize(("value", "message"), [
    ("alpha", "write PARTNER/EMPLOYEE_ID"),
    ("alpha/1002/x", "write PARTNER/EMPLOYEE_ID"),
    ("alpha/9999", "no such person"),
])
def test_enable_names_a_known_person(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_enable([value], load(MINI, TODAY))


def test_enable_parses_several() -> None:
    assert parse_enable(["alpha/1002", "alpha/1003"], load(MINI, TODAY)) == {
        ("alpha", "1002"), ("alpha", "1003")}


HOLD = "holds:\n  - {{person: {person}, reason: INC-4711, until: 2026-12-31}}\n"


def test_a_hold_of_a_person_not_in_the_export_is_a_problem_of_that_partner_alone(
        tmp_path: Path) -> None:
    path = tmp_path / HOLDS_FILE
    path.write_text(HOLD.format(person="alpha/9999") + "  - {person: beta/1001, reason: x, "
                    "until: 2026-12-31}\n", encoding="utf-8")
    holds, bad = load_run_holds(path, load(MINI, TODAY))
    assert [h.person for h in holds.holds] == [("beta", "1001")]  # the sound one is used
    assert list(bad) == ["alpha"]
    [problem] = bad["alpha"]
    assert (problem.line, problem.partner) == (2, "alpha")
    assert "unknown person alpha/9999" in problem.message
    with pytest.raises(InventoryError, match="alpha/9999"):  # validate, strict: a problem
        load_holds(path, load(MINI, TODAY))


def test_a_hold_naming_no_partner_stops_every_run(tmp_path: Path) -> None:
    path = tmp_path / HOLDS_FILE
    path.write_text(HOLD.format(person="gamma/1001"), encoding="utf-8")
    with pytest.raises(InventoryError, match="no partner 'gamma' in the inventory"):
        load_run_holds(path, load(MINI, TODAY))


def test_a_hold_of_a_partner_held_back_for_its_own_data_is_kept_unchecked(
        tmp_path: Path) -> None:
    path = tmp_path / HOLDS_FILE
    path.write_text(HOLD.format(person="beta/4242"), encoding="utf-8")
    region = load(MINI, TODAY)
    without_beta = dataclasses.replace(
        region, partners=tuple(p for p in region.partners if p.code != "beta"))
    holds, bad = load_run_holds(path, without_beta, held={"beta": ()})
    assert not bad and [h.person for h in holds.holds] == [("beta", "4242")]
