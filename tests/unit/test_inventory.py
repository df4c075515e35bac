"""Loading and validating the inventory: every problem reported, with file, line and hint."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import (
    DATA_PATH_PATTERN,
    PRINTABLE_PATTERN,
    SAMBA_TEXT_PATTERN,
    SKU_PATTERN,
    DeviceKind,
    Identity,
    Workplace,
)
from ssc_infra.sources.files import load, load_holding
from ssc_infra.sources.schema import json_schemas
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


# -- Hostile files: each is a problem naming the file, never a traceback, a hang or a crash ----

BILLION_LAUGHS = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10))


def _write(path: Path, data: str | bytes) -> None:
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)


def _replace_with_dir(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _replace_with_link_loop(path: Path) -> None:
    path.unlink()
    path.symlink_to(path.name)


def _replace_with_device(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _replace_with_link_out(path: Path) -> None:
    """A symlink to a file outside the inventory, whose first line problems would quote."""
    secret = path.parent.parent.parent / "secret.csv"
    secret.write_text("root:$6$not-for-a-problem-message:20228:0:99999:7:::\n", encoding="utf-8")
    path.unlink()
    path.symlink_to(secret)


def _grow(path: Path, size: int) -> None:
    with path.open("r+b") as f:
        f.truncate(size)  # sparse: costs no disk


HOSTILE_FILES: list[tuple[str, str, Any, int, str]] = [
    ("billion-laughs", "region.yaml", lambda p: _write(p, BILLION_LAUGHS), 7,
     "more than 50 aliases"),
    ("few-aliases-many-values", "region.yaml", lambda p: _write(p, "a0: &a0 [" + ", ".join(
        ["x"] * 400) + "]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}]\n"
                                       for i in range(1, 12))), 1, "more than 20000 values"),
    ("self-referencing-anchor", "region.yaml", lambda p: _write(p, "region: &r {x: *r}\n"), 1,
     "alias *r refers to the value it stands in"),
    ("deep-nesting", "region.yaml", lambda p: _write(p, "region: " + "[" * 200_000), 1,
     "nested deeper than 20 levels"),
    ("control-character", "partners/alpha.yaml",
     lambda p: _write(p, p.read_text(encoding="utf-8").replace("kind:", "kind: \x07\nx:")), 3,
     "character U+0007 is not allowed in YAML"),
    ("python-tag", "partners/alpha.yaml", lambda p: _write(p, p.read_text(encoding="utf-8")
     .replace("name: Gemeente Alpha", "name: !!python/object/apply:os.system [ls]")), 2,
     "name: Input should be a valid string"),
    ("impossible-date", "partners/alpha.yaml", lambda p: _write(p, p.read_text(encoding="utf-8")
     .replace("name: Gemeente Alpha", "name: 2026-02-30")), 2, "cannot read the value: day is"),
    ("5000-digit-number", "region.yaml", lambda p: _write(p, p.read_text(encoding="utf-8")
     .replace("retention_days: 90", "retention_days: " + "9" * 5000)), 7,
     "cannot read the value: Exceeds the limit"),
    ("yaml-not-utf8", "partners/beta.yaml", lambda p: _write(p, b"code: beta\nname: B\xe8ta\n"), 2,
     "not UTF-8 text"),
    ("yaml-directory", "region.yaml", _replace_with_dir, 0, "not a regular file but a directory"),
    ("yaml-symlink-loop", "partners/beta.yaml", _replace_with_link_loop, 0,
     "cannot open the file: Too many levels of symbolic links"),
    ("yaml-too-large", "region.yaml", lambda p: _grow(p, (1 << 20) + 1), 0,
     "larger than 1 MiB"),
    ("csv-device", "people/alpha.csv", _replace_with_device, 0,
     "not a regular file but a character device"),
    ("csv-symlink-out", "people/beta.csv", _replace_with_link_out, 0,
     "is outside the folders it may be read from"),
    ("yaml-symlink-out", "partners/beta.yaml", _replace_with_link_out, 0,
     "is outside the folders it may be read from"),
    ("csv-too-large", "devices/beta.csv", lambda p: _grow(p, (50 << 20) + 1), 0,
     "larger than 50 MiB"),
    ("csv-not-utf8", "people/beta.csv", lambda p: _write(p, p.read_bytes().replace(
        b"Vries", "Vri\xebs".encode("latin-1"))), 3, "not UTF-8 text (invalid"),
    ("csv-empty", "people/beta.csv", lambda p: _write(p, ""), 0, "the file is empty"),
    ("csv-header-only", "people/beta.csv",
     lambda p: _write(p, p.read_text(encoding="utf-8").split("\n")[0] + "\n"), 1,
     "the HR export has a header but no people"),
    ("csv-cut-mid-field", "people/beta.csv",
     lambda p: _write(p, p.read_text(encoding="utf-8")[:-25]), 3,
     "ends inside this row (7 fields where the header has 10, and no line end): the export "
     "looks cut off"),
    ("csv-cut-in-quotes", "people/beta.csv",
     lambda p: _write(p, p.read_text(encoding="utf-8") + '2003,"Sjo'), 4,
     "2 fields where the header has 10"),
    ("csv-huge-field", "people/beta.csv",
     lambda p: _write(p, p.read_text(encoding="utf-8") + "2003," + "x" * 200_000 + "\n"), 4,
     "unreadable CSV: field larger than field limit"),
]


@pytest.mark.parametrize(("file", "break_it", "line", "message"),
                         [pytest.param(*case[1:], id=case[0]) for case in HOSTILE_FILES])
def test_a_hostile_file_is_a_problem_of_that_file(
    mini: Path, file: str, break_it: Any, line: int, message: str
) -> None:
    break_it(mini / file)
    with pytest.raises(InventoryError) as raised:
        load(mini, TODAY)
    found = [p for p in raised.value.problems if p.file == file and message in p.message]
    assert found, [str(p) for p in raised.value.problems]
    assert found[0].line == line and found[0].hint
    assert not any("not-for-a-problem-message" in str(p) for p in raised.value.problems)


def test_a_fifo_where_a_file_should_be_never_blocks(mini: Path) -> None:
    fifo = mini / "people" / "beta.csv"
    fifo.unlink()
    os.mkfifo(fifo)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            load(mini, TODAY)
            outcome.append(None)
        except BaseException as e:  # handed to the test thread
            outcome.append(e)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert outcome, "load() blocked on a FIFO"
    assert isinstance(outcome[0], InventoryError)
    (problem,) = outcome[0].problems
    assert (problem.file, problem.message) == ("people/beta.csv",
                                               "not a regular file but a FIFO (named pipe)")


def test_the_json_schema_publishes_the_field_patterns() -> None:
    partner = json_schemas()["partners/*.yaml"]
    name = partner["properties"]["name"]
    assert name["pattern"] == SAMBA_TEXT_PATTERN and name["maxLength"] == 64
    assert partner["properties"]["people"]["pattern"] == DATA_PATH_PATTERN
    assert partner["$defs"]["SiteEntry"]["properties"]["name"]["pattern"] == PRINTABLE_PATTERN
    region = json_schemas()["region.yaml"]
    assert region["$defs"]["ServiceEntry"]["properties"]["sku"]["anyOf"][0]["pattern"] \
        == SKU_PATTERN


def test_a_symlink_that_stays_inside_the_inventory_is_followed(mini: Path) -> None:
    shared = mini / "exports"
    shared.mkdir()
    people = mini / "people" / "beta.csv"
    people.rename(shared / "beta.csv")
    people.symlink_to(Path("..") / "exports" / "beta.csv")
    region = load(mini, TODAY)
    assert len(region.partner("beta").people) == 2
