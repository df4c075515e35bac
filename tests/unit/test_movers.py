"""Movers: a new department, job title, site or workplace inside a partner, and a move to
another partner through moves.yaml — one account kept with its logon name, one plan, a line
that says who moves where, and a move held on both sides when one side is held."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import Move, Person, Workplace
from ssc_infra.core.movers import Account, find_movers
from ssc_infra.core.plan import Action, Backend, ObjectKind, Plan, plan_from_dict, plan_to_dict
from ssc_infra.report.text import shown_plan_lines
from ssc_infra.run import PlannedRun, RunRequest
from ssc_infra.sources.files import FilesSource, load_holding
from ssc_infra.sources.moves import MOVES_FILE
from tests.conftest import TODAY, data_cases
from tests.unit.test_inventory import apply_edits
from tests.unit.test_merge import GAMMA, GAMMA_PEOPLE
from tests.unit.test_run import FilesEdits, MemoryDirectory, MemoryHosts, World, memory_targets

NEWCOMERS = ("G77,Jan,de,Vries,Ruimte,Adviseur,gam-hq,vdi,2026-11-01,\n"
             "G78,Jelle,de,Vries,Ruimte,Adviseur,gam-hq,vdi,2027-01-01,\n")
JAN = "1002,Jan,de,Vries,Burgerzaken,Teamleider,alp-hq,vdi,2012-01-01,\n"
WATSE = "1001,Wâtse,,Bûmâ,Burgerzaken,Medewerker,alp-hq,laptop,2015-03-01,\n"


@pytest.fixture
def region(mini: Path) -> Path:
    """The mini inventory with gamma, a second hybrid municipality."""
    (mini / "partners" / "gamma.yaml").write_text(GAMMA, encoding="utf-8")
    (mini / "people" / "gamma.csv").write_text(GAMMA_PEOPLE, encoding="utf-8")
    return mini


# -- moves.yaml read and carried out, as data ---------------------------------------------


def _problems(folder: Path) -> tuple[list[Problem], Any]:
    try:
        loaded = load_holding(folder, TODAY)
    except InventoryError as e:
        return e.problems, None
    return list(loaded.problems), loaded


@pytest.mark.parametrize("case", data_cases("moves"))
def test_moves_file(region: Path, case: dict[str, Any]) -> None:
    apply_edits(region, [{"file": "people/gamma.csv", "append": NEWCOMERS},
                         *case.get("edits", [])])
    (region / MOVES_FILE).write_text(case["text"], encoding="utf-8")
    problems, loaded = _problems(region)
    found = sorted((p.line, p.message, p.partner) for p in problems if p.file == MOVES_FILE)
    expected = sorted((e["line"], e["message"], e["partner"]) for e in case["problems"])
    assert len(found) == len(expected), found
    for (line, message, partner), (want_line, want, want_partner) in zip(found, expected,
                                                                           strict=True):
        assert (line, partner) == (want_line, want_partner) and want in message, found
    assert all(p.file == MOVES_FILE for p in problems), problems  # nothing else is said
    if loaded is None:
        return
    assert sorted(loaded.held) == case.get("held", [])
    people = {p.code: p for p in loaded.region.partners}
    for code, ids in case.get("people", {}).items():
        assert [p.employee_id for p in people[code].people] == ids
    previous = {f"{p.partner}/{p.employee_id}": "/".join(p.previous)
                for partner in loaded.region.partners for p in partner.people if p.previous}
    assert previous == case.get("previous", {})


def test_a_region_without_moves_yaml_has_no_moves(region: Path) -> None:
    assert load_holding(region, TODAY).region.moves == ()


# -- the line of a mover, as data ---------------------------------------------------------


@pytest.mark.parametrize("case", data_cases("movers"))
def test_mover_line(case: dict[str, Any]) -> None:
    p = case["person"]
    person = Person(p["partner"], p["employee_id"], "Wâtse", "", "Bûmâ", p["department"],
                    p["job_title"], p["site"], Workplace(p["workplace"]), date(2020, 1, 1))
    was = {}
    if "account" in case:
        a = case["account"]
        was[person.key] = Account(tuple(a["key"].split("/")), a["department"], a["title"])
    kept = {}
    if "kept" in case:
        k = case["kept"]
        kept[tuple(case["account"]["key"].split("/"))] = (k["department"], k["job_title"],
                                                           k["site"], k["workplace"])
    moves = []
    if "move" in case:
        m = case["move"]
        moves.append(Move(tuple(m["person"].split("/")), tuple(m["to"].split("/")), m["reason"],
                          m["where"]))
    names = {"waadhoeke": "Gemeente Waadhoeke", "ameland": "Gemeente Ameland",
             "leeuwarden": "Gemeente Leeuwarden"}
    movers = find_movers([(person, "Wâtse Bûmâ")], was, kept, names, moves)
    if case["text"] is None:
        assert movers == ()
        return
    [mover] = movers
    assert mover.text() == case["text"]
    assert list(mover.changed) == case["changed"]
    assert mover.entry == case.get("entry", "")


# -- a run with in-memory systems over the files -------------------------------------------


@pytest.fixture
def world(region: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    targets = memory_targets(tmp_path, monkeypatch)
    request = RunRequest(FilesSource(region), TODAY, targets, "test", tmp_path / "state")
    directory = MemoryDirectory()
    world = World(request, directory, MemoryHosts(), FilesEdits(region))
    world.apply(world.plan())
    assert world.plan().empty
    return world


def _accounts(planned: PlannedRun) -> dict[str, Any]:
    return {c.key: c for c in planned.plan.changes if c.kind is ObjectKind.ACCOUNT}


def _members(planned: PlannedRun) -> dict[str, tuple[list[str], list[str]]]:
    return {c.key: (list(c.after.get("add_keys", [])), list(c.after.get("remove_keys", [])))
            for c in planned.plan.changes if c.kind is ObjectKind.MEMBERS}


def _text(planned: PlannedRun) -> list[str]:
    names = {p.code: p.name for p in planned.region.partners}
    return list(shown_plan_lines(planned.plan, names, None))


def test_a_new_department_site_and_workplace_is_one_line_and_renames_nothing(
        world: World, region: Path) -> None:
    apply_edits(region, [{"file": "people/alpha.csv", "replace": [
        WATSE, "1001,Wâtse,,Bûmâ,Vergunningen,Medewerker,alp-werf,vdi,2015-03-01,\n"]}])
    planned = world.plan()
    [mover] = planned.movers
    line = ("alpha/1001 Wâtse Bûmâ moves from Burgerzaken (alp-hq, laptop) to Vergunningen "
            "(alp-werf, vdi)")
    assert mover.text() == line
    # The detail changes: the department, and the groups; no name, no UPN, no OU changes.
    account = _accounts(planned)["alpha/1001"]
    assert account.action is Action.UPDATE
    assert dict(account.after) == {"department": "Vergunningen"}
    members = _members(planned)
    assert members["alpha-dep-vergunningen"] == (["alpha/1001"], [])
    assert members["alpha-dep-burgerzaken"] == ([], ["alpha/1001"])
    assert members["alpha-acc-vpn"] == ([], ["alpha/1001"])  # no laptop, no remote access
    assert any(c.key == "alpha-dep-vergunningen" and c.action is Action.CREATE
               for c in planned.plan.changes)
    assert any(c.backend is Backend.HOSTS for c in planned.plan.changes)  # the VDI file
    # The text plan says it in the partner's part, before the details; the JSON has it too.
    lines = _text(planned)
    heading = lines.index("[bold]alpha[/] — Gemeente Alpha")
    assert lines[heading + 1] == f"  [cyan]»[/] {line}"
    assert "1 person moves (» above)." in lines[-1]
    data = json.loads(json.dumps(planned.to_dict(planned.meta())))
    assert data["moves"] == [{
        "key": "alpha/1001", "was": "alpha/1001", "partner": "alpha", "name": "Wâtse Bûmâ",
        "changed": ["department", "site", "workplace"],
        "before": {"partner": "alpha", "partner_name": "Gemeente Alpha", "employee_id": "1001",
                   "department": "Burgerzaken", "job_title": "Medewerker", "site": "alp-hq",
                   "workplace": "laptop"},
        "after": {"partner": "alpha", "partner_name": "Gemeente Alpha", "employee_id": "1001",
                  "department": "Vergunningen", "job_title": "Medewerker",
                  "site": "alp-werf", "workplace": "vdi"},
        "entry": "", "reason": "", "text": line}]
    # Applied, it converges: nothing left, nobody moving.
    world.apply(planned)
    again = world.plan()
    assert again.empty and again.movers == ()


def _move_jan(region: Path, old_row: str | None = JAN) -> None:
    """Jan de Vries (alpha/1002) is gamma/G77 since 2026-11-01; alpha's export lists him as
    `old_row` (None: not at all)."""
    apply_edits(region, [{"file": "people/gamma.csv", "append": NEWCOMERS}])
    (region / MOVES_FILE).write_text(
        "moves:\n  - person: alpha/1002\n    to: gamma/G77\n"
        "    reason: overplaatsing per 2026-11-01\n", encoding="utf-8")
    if old_row != JAN:
        apply_edits(region, [{"file": "people/alpha.csv", "replace": [JAN, old_row or ""]}])


@pytest.mark.parametrize("old_row", [
    JAN, JAN.replace(",\n", ",2026-10-31\n"), None], ids=["current", "leaver", "gone"])
def test_a_move_to_another_partner_moves_the_account_and_disables_nobody(
        world: World, region: Path, old_row: str | None) -> None:
    jan = next(a for a in world.directory.state.accounts if a.key == ("alpha", "1002"))
    _move_jan(region, old_row)
    planned = world.plan()
    accounts = _accounts(planned)
    assert "alpha/1002" not in accounts  # never disabled, never parked
    moved = accounts["gamma/G77"]
    assert moved.action is Action.MOVE and moved.target == jan.dn
    assert moved.after["dn"] == "CN=Jan de Vries,OU=Users,OU=gamma,OU=Partners,DC=ssc,DC=test"
    assert moved.after["employeeID"] == "G77" and moved.after["company"] == "Gemeente Gamma"
    assert moved.after["userPrincipalName"] == "jan.devries@gamma.example"
    assert "sAMAccountName" not in moved.after  # the logon name stays
    assert not any(c.destructive for c in planned.plan.changes)
    members = _members(planned)
    assert members["gamma-all"] == (["gamma/G77"], [])
    assert members["alpha-all"] == ([], ["alpha/1002"])
    assert members["alpha-lic-m365-e3"] == ([], ["alpha/1002"])
    assert members["gamma-lic-m365-e3"] == (["gamma/G77"], [])
    [mover] = planned.movers
    assert mover.text() == ("alpha/1002 → gamma/G77 Jan de Vries moves from Gemeente Alpha "
                            "(Burgerzaken, Teamleider, alp-hq) to Gemeente Gamma (Ruimte, "
                            "Adviseur, gam-hq)")
    assert (mover.entry, mover.reason) == ("moves.yaml:2", "overplaatsing per 2026-11-01")
    assert "        [dim]moves.yaml:2: overplaatsing per 2026-11-01[/]" in _text(planned)
    world.apply(planned)
    again = world.plan()
    assert again.empty and again.movers == (), again.plan.changes
    [account] = [a for a in world.directory.state.accounts if a.sam == jan.sam]
    assert account.key == ("gamma", "G77")


def test_a_move_still_ahead_makes_no_second_account(world: World, region: Path) -> None:
    apply_edits(region, [{"file": "people/gamma.csv", "append": NEWCOMERS.splitlines()[1]
                          + "\n"}])
    (region / MOVES_FILE).write_text(
        "moves:\n  - {person: alpha/1003, to: gamma/G78, reason: per 2027-01-01}\n",
        encoding="utf-8")
    planned = world.plan()
    assert planned.empty, planned.plan.changes  # G78 waits, alpha/1003 stays as it is
    ahead = RunRequest(world.request.source, date(2027, 1, 4), world.request.targets_file,
                       "test", world.request.state_dir)
    world.request = ahead
    on_the_day = world.plan()
    moved = _accounts(on_the_day)["gamma/G78"]
    assert moved.action is Action.MOVE and "alpha/1003" not in _accounts(on_the_day)


def test_a_move_is_held_on_both_sides(world: World, region: Path) -> None:
    _move_jan(region)
    # alpha's guard trips (a leaver among four enabled accounts): gamma waits with it.
    apply_edits(region, [{"file": "people/alpha.csv", "replace": [
        WATSE, WATSE.replace(",\n", ",2026-11-01\n")]}])
    planned = world.plan()
    held = {h.partner: h.message() for h in planned.plan.held}
    assert set(held) == {"alpha", "gamma"}
    assert "moves.yaml:2: alpha/1002 moves to gamma/G77, and alpha is held back" in held["gamma"]
    assert not any(c.partner in ("alpha", "gamma") for c in planned.plan.changes)
    assert planned.movers == ()


def test_a_move_waits_for_a_run_of_both_partners(world: World, region: Path) -> None:
    _move_jan(region)
    alone = world.plan(("gamma",))
    [held] = alone.plan.held
    assert held.partner == "gamma" and "plan both (--partner alpha --partner gamma)" in \
        held.message()
    assert not alone.plan.changes
    both = world.plan(("alpha", "gamma"))
    assert not both.plan.held and "gamma/G77" in _accounts(both)


def test_a_new_partner_with_a_bad_export_holds_the_old_one_while_the_account_waits(
        world: World, region: Path) -> None:
    _move_jan(region, None)
    apply_edits(region, [{"file": "people/gamma.csv", "append": "G90,,,Nobody,,,gam-hq,vdi,"
                                                               "2026-01-01,\n"}])
    # A partner big enough that one leaver does not trip its guard: only the move holds it.
    world.request = dataclasses.replace(world.request, allow_disable={"alpha": 5})
    planned = world.plan()
    assert set(planned.inventory.held) == {"gamma"}
    held = {h.partner: h.message() for h in planned.plan.held}
    assert "gamma is held back" in held["alpha"]
    assert not any(c.partner == "alpha" for c in planned.plan.changes)  # 1002 not disabled


def test_a_missing_new_person_holds_both_partners(world: World, region: Path) -> None:
    _move_jan(region, None)
    apply_edits(region, [{"file": "people/gamma.csv", "replace": [NEWCOMERS, ""]}])
    planned = world.plan()
    [problem] = planned.inventory.held["gamma"]
    assert problem.where() == "moves.yaml:2" and "gamma/G77 is not in gamma's HR export" in \
        problem.message
    assert {h.partner for h in planned.plan.held} == {"alpha"}
    assert not any(c.partner == "alpha" for c in planned.plan.changes)


def test_once_moved_the_old_partner_goes_on_alone(world: World, region: Path) -> None:
    _move_jan(region, None)
    world.apply(world.plan())
    apply_edits(region, [{"file": "people/gamma.csv", "append": "G90,,,Nobody,,,gam-hq,vdi,"
                                                               "2026-01-01,\n"}])
    planned = world.plan()
    assert set(planned.inventory.held) == {"gamma"} and not planned.plan.held


def test_movers_survive_a_saved_plan_and_a_damaged_one_is_refused() -> None:
    from ssc_infra.core.movers import Mover, Place

    mover = Mover("Wâtse Bûmâ", Place("a", "A", "1", "X", "Y", "s1", "vdi"),
                  Place("b", "B", "2", "X", "Y", "s2", "vdi"), "moves.yaml:2", "r")
    data = json.loads(json.dumps(plan_to_dict(Plan((), (mover,)), {"region": "tst"})))
    plan, meta, _ = plan_from_dict(data)
    assert plan.movers == (mover,) and "moves" not in meta
    del data["moves"]  # a plan of an earlier version
    assert plan_from_dict(data)[0].movers == ()
    for damaged in ([{"name": 7}], ["text"], [{"before": "x"}]):
        with pytest.raises(ValueError, match="damaged"):
            plan_from_dict({**data, "moves": damaged})



def test_a_saved_move_whose_account_changed_since_is_refused(world: World, region: Path,
                                                             tmp_path: Path) -> None:
    from ssc_infra.run import prepare_apply, save_plan

    _move_jan(region)
    path = tmp_path / "move.plan.json"
    save_plan(world.plan(), path)
    state = world.directory.state
    world.directory.state = dataclasses.replace(state, accounts=tuple(
        dataclasses.replace(a, title="Directeur") if a.key == ("alpha", "1002") else a
        for a in state.accounts))
    prepared = prepare_apply(world.plan(), path)
    refused = {c.key: why for c, why in prepared.refused}
    assert refused["gamma/G77"] == "title changed since the plan was made"
    assert "gamma/G77" not in {c.key for c in prepared.plan.changes}
    assert [m.key for m in prepared.plan.movers] == ["gamma/G77"]  # as reviewed


@pytest.mark.parametrize("value", ["Smit[/x]", "[bold]de Boer[/bold]", ":x: Hoekstra", "[/]",
                                   "\\[red]", "ends in \\"])
def test_mover_lines_print_values_literally(value: str) -> None:
    from rich.console import Console

    from ssc_infra.core.movers import Mover, Place
    from ssc_infra.report import plan_lines

    mover = Mover(value, Place("alpha", value, "1", value, "x", "s", "vdi"),
                  Place("gamma", "G", "2", "Ruimte", "x", "s", "vdi"), value, value)
    console = Console(record=True, width=400, emoji=False, highlight=False)
    for line in plan_lines(Plan((), (mover,)), {"gamma": value}):
        console.print(line)
    text = console.export_text()
    assert text.count(value) >= 5, text
