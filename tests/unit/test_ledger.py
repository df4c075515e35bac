"""The name ledger: tests/cases/naming/ledger.yaml (names) and ledger_files.yaml (the file)."""

from __future__ import annotations

import dataclasses
import json
import stat
from datetime import date
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

import pytest
import yaml

from ssc_infra.core.desired import derive
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import (
    Directory,
    Guards,
    Identity,
    NamingPolicy,
    Partner,
    PartnerKind,
    Person,
    PersonKey,
    Region,
    Site,
    Workplace,
)
from ssc_infra.core.naming import AccountName, ExistingName
from ssc_infra.run.directory import derive_with_free_names
from ssc_infra.state.ledger import (
    FILE,
    PREVIOUS,
    Ledger,
    LedgerEntry,
    LedgerError,
    forget_names,
    kept_names,
    ledger_after,
    load_ledger,
    merge_names,
    record_names,
)
from tests.conftest import CASES, TODAY
from tests.support import directory_as_desired

PARTNERS = {"gemeente": (Identity.HYBRID, "gemeente.example"),
            "bv-sport": (Identity.CLOUD, "bvsport.example"),
            "nieuw": (Identity.CLOUD, "nieuw.example")}


def _cases(name: str) -> list[Any]:
    cases = yaml.safe_load((CASES / "naming" / name).read_text(encoding="utf-8"))
    return [pytest.param(c, id=c["name"]) for c in cases]


def _key(text: str) -> PersonKey:
    partner, _, employee_id = text.partition("/")
    return (partner, employee_id)


def _region(rows: list[list[Any]]) -> Region:
    """A region of the three test partners holding these people."""
    people: dict[str, list[Person]] = {code: [] for code in PARTNERS}
    for partner, employee_id, given, infix, surname, start, *end in rows:
        people[partner].append(Person(partner, employee_id, given, infix, surname, "Sport",
                                      "Medewerker", f"{partner}-hq", Workplace.VDI, start,
                                      end[0] if end else None))
    partners = tuple(
        Partner(code, code.title(), PartnerKind.AFFILIATED, suffix, identity, (),
                (Site(f"{code}-hq", "Kantoor", code, 100 + i, IPv4Network(f"10.{i}.0.0/24")),),
                tuple(people[code]), ())
        for i, (code, (identity, suffix)) in enumerate(PARTNERS.items()))
    return Region("frl", "SSC", Directory("ssc.test"), NamingPolicy(), Guards(), (), (),
                  partners)


def _names(region: Region, existing: dict[PersonKey, ExistingName],
           reserved: list[str]) -> dict[PersonKey, AccountName]:
    desired = derive(region, TODAY, existing, reserved)
    return {a.key: a.name for p in desired.partners for a in p.accounts}


def _check(names: dict[PersonKey, AccountName], expected: dict[str, Any]) -> None:
    for text, want in expected.items():
        got = names[_key(text)]
        if isinstance(want, str):
            assert got.sam == want, text
        else:
            assert (got.sam, got.upn) == (want["sam"], want["upn"]), text


@pytest.mark.parametrize("case", _cases("ledger.yaml"))
def test_kept_names_stay_with_their_people(case: dict[str, Any], tmp_path: Path) -> None:
    directory = {_key(k): ExistingName(v["sam"], v["upn"])
                 for k, v in case.get("directory", {}).items()}
    reserved: list[str] = case.get("reserved", [])
    if "applied" in case:  # an apply, then its names recorded as the CLI does
        before = derive(_region(case["applied"]), TODAY, directory, reserved)
        ledger = record_names(tmp_path, before)
    else:
        ledger = Ledger(tmp_path / FILE, tuple(
            LedgerEntry(*_key(k), sam, local, date(2025, 1, 1))
            for k, (sam, local) in case["ledger"].items()))
    region = _region(case["people"])
    if case.get("offline"):
        directory = {}
    merged = merge_names(load_ledger(tmp_path) if "applied" in case else ledger, region,
                         directory, reserved)
    assert sorted(f"{c.key[0]}/{c.key[1]}" for c in merged.conflicts) == \
        sorted(case.get("conflicts", []))
    if case.get("offline"):
        assert merged.existing == kept_names(ledger, region)
    names = _names(region, merged.existing, reserved)
    _check(names, case["expect"])
    if "without_ledger" in case:  # the rename the ledger prevents really happens without it
        _check(_names(region, directory, reserved), case["without_ledger"])
        assert any(names[_key(k)] != _names(region, directory, reserved)[_key(k)]
                   for k in case["without_ledger"])


@pytest.mark.parametrize("case", _cases("ledger_files.yaml"))
def test_a_damaged_or_hostile_ledger_is_refused_with_the_file_named(
        case: dict[str, Any], tmp_path: Path) -> None:
    text = case["text"] if "text" in case else json.dumps(
        {"version": 1, "names": case["names"]} if "names" in case else case["json"])
    (tmp_path / FILE).write_text(text, encoding="utf-8")
    with pytest.raises(LedgerError, match=case["error"]) as caught:
        load_ledger(tmp_path)
    assert str(tmp_path / FILE) in str(caught.value)
    assert "\n" not in str(caught.value)  # a hostile value cannot forge lines in the output


def test_no_ledger_before_the_first_apply_is_an_empty_one(tmp_path: Path) -> None:
    assert len(load_ledger(tmp_path / "not-made-yet")) == 0
    assert len(load_ledger(tmp_path)) == 0


def test_a_missing_ledger_beside_its_previous_version_says_how_to_restore(
        tmp_path: Path) -> None:
    (tmp_path / PREVIOUS).write_text('{"version": 1, "names": []}', encoding="utf-8")
    with pytest.raises(LedgerError, match=f"{FILE} is missing.*copy {PREVIOUS} to {FILE}"):
        load_ledger(tmp_path)


def test_the_ledger_is_written_whole_private_and_read_back(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = derive(_region([["bv-sport", "12", "Anne", "", "Hiemstra", date(2020, 3, 1)]]),
                   TODAY)
    ledger = record_names(state, first)
    assert load_ledger(state) == ledger
    assert ledger.entries == (LedgerEntry("bv-sport", "12", "ahiemstra", "anne.hiemstra",
                                          TODAY),)
    assert stat.S_IMODE((state / FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    later = dataclasses.replace(first, today=date(2027, 1, 1))
    record_names(state, later)
    assert load_ledger(state).entries[0].since == TODAY  # the date first given stays
    assert stat.S_IMODE((state / PREVIOUS).stat().st_mode) == 0o600
    assert sorted(p.name for p in state.iterdir()) == [FILE, PREVIOUS]  # no temp files left


def test_a_full_disk_keeps_the_old_ledger_and_says_what_to_do(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = derive(_region([["nieuw", "1", "Jan", "", "Vries", date(2020, 1, 1)]]), TODAY)
    kept = record_names(tmp_path, first)
    grown = derive(_region([["nieuw", "1", "Jan", "", "Vries", date(2020, 1, 1)],
                            ["nieuw", "2", "Jelle", "", "Vries", date(2021, 1, 1)]]), TODAY)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ssc_infra.state.ledger.os.fsync", disk_full)
    with pytest.raises(LedgerError, match=r"No space left on device.*then apply again"):
        record_names(tmp_path, grown)
    monkeypatch.undo()
    assert load_ledger(tmp_path) == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]  # no temp file left behind


def test_a_symlink_or_a_huge_file_is_not_read(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "elsewhere.json"
    target.write_text('{"version": 1, "names": []}', encoding="utf-8")
    state = tmp_path / "state"
    state.mkdir()
    (state / FILE).symlink_to(target)
    with pytest.raises(LedgerError, match="cannot open the name ledger"):
        load_ledger(state)
    (state / FILE).unlink()
    (state / FILE).write_bytes(b" " * 100)
    monkeypatch.setattr("ssc_infra.state.ledger.MAX_BYTES", 99)
    with pytest.raises(LedgerError, match="larger than"):
        load_ledger(state)


def test_bytes_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    (tmp_path / FILE).write_bytes(b'{"version": 1, "names": ["\xff"]}')
    with pytest.raises(LedgerError, match="not valid JSON"):
        load_ledger(tmp_path)


def test_a_forgotten_name_is_free_again(tmp_path: Path) -> None:
    record_names(tmp_path, derive(_region([["bv-sport", "12", "Anne", "", "Hiemstra",
                                            date(2020, 3, 1)]]), TODAY))
    newcomer = _region([["bv-sport", "30", "Arjen", "", "Hiemstra", date(2026, 11, 2)]])
    assert _names(newcomer, kept_names(load_ledger(tmp_path), newcomer), [])[
        ("bv-sport", "30")].sam == "ahiemstra2"
    forget_names(tmp_path, [("bv-sport", "12")])
    assert _names(newcomer, kept_names(load_ledger(tmp_path), newcomer), [])[
        ("bv-sport", "30")].sam == "ahiemstra"


def test_recording_drops_an_entry_whose_name_went_to_someone_else(tmp_path: Path) -> None:
    old = Ledger(tmp_path / FILE, (LedgerEntry("bv-sport", "12", "ahiemstra", "anne.hiemstra",
                                               date(2025, 1, 1)),))
    region = _region([["gemeente", "4", "Auke", "", "Hiemstra", date(2021, 3, 1)]])
    desired = derive(region, TODAY, {("gemeente", "4"): ExistingName("ahiemstra", None)})
    after = ledger_after(old, desired)
    assert [(e.key, e.sam) for e in after.entries] == [(("gemeente", "4"), "ahiemstra")]


def test_a_kept_name_found_taken_elsewhere_in_the_domain_is_given_up(tmp_path: Path) -> None:
    """A hybrid account recorded but not made yet, whose name a hand-made account took."""
    sport = _region([["gemeente", "1", "Jildou", "", "Hiemstra", date(2020, 1, 1)]])
    region = _region([["gemeente", "1", "Jildou", "", "Hiemstra", date(2020, 1, 1)],
                      ["gemeente", "2", "Jan", "", "Hiemstra", date(2026, 11, 1)]])
    ledger = ledger_after(Ledger(tmp_path / FILE), derive(region, TODAY))
    actual = directory_as_desired(derive(sport, TODAY))

    def lookup(sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]:
        return ({"jhiemstra2"} & sams, set())

    named = derive_with_free_names(region, TODAY, actual, lookup, ledger=ledger)
    names = {a.key: a.name.sam for p in named.desired.partners for a in p.accounts}
    assert names == {("gemeente", "1"): "jhiemstra", ("gemeente", "2"): "jhiemstra3"}
    assert [c.key for c in named.conflicts] == [("gemeente", "2")]
    assert "an object in the directory that the tool does not manage" in str(named.conflicts[0])


def test_ledger_errors_reach_the_user_as_ssc_errors() -> None:
    assert issubclass(LedgerError, SscError)  # the CLI turns SscError into exit code 1
