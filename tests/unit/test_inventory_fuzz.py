"""Fuzzing the loader: whatever the files hold, load() gives a Region or an InventoryError.

The mini inventory is mutated line by line, field by field and byte by byte, with text that
holds control characters, YAML and CSV syntax and the characters of the host files. Derandomized
and capped, so CI runs the same examples every time in a few seconds.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ssc_infra.core.errors import InventoryError
from ssc_infra.core.model import Device, Person, Region
from ssc_infra.sources.devices import DeviceReader
from ssc_infra.sources.files import load, load_holding
from ssc_infra.sources.people import PeopleReader
from ssc_infra.sources.schema import unprintable
from tests.conftest import MINI, TODAY

FILES = sorted(str(p.relative_to(MINI)) for p in MINI.rglob("*") if p.is_file())
YAML_FILES = [f for f in FILES if f.endswith(".yaml")]
CSV_FILES = [f for f in FILES if f.endswith(".csv")]

# The characters that are syntax somewhere: YAML, CSV, smb.conf, wg0.conf, JSON, LDAP DNs.
SPECIAL = st.sampled_from([
    "\x00", "\n", "\r", "\t", "\x07", "\x1b", "\x7f", "\x85", "\x9f", "\u2028", "\u2029",
    "\u202e", "\ufeff", "\xa0", "[", "]", "{", "}", '"', "'", ",", ";", ":", "=", "&", "*",
    "!", "#", "%", "|", ">", "-", "\\", "/", "..", "=\n", "&a", "*a", "!!python/object",
    "Wâtse", "Bûmâ", "van 't", "x" * 300,
])
TEXT = st.lists(st.one_of(SPECIAL, st.text(st.characters(exclude_categories=["Cs"]),
                                           max_size=8)), max_size=6).map("".join)

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One copy of the mini inventory per module; each example changes a file and puts it back."""
    root = tmp_path_factory.mktemp("fuzz") / "inventory"
    shutil.copytree(MINI, root)
    yield root


def _load_changed(root: Path, rel: str, data: bytes) -> None:
    """Load the inventory with `rel` holding `data`: a Region or an InventoryError, nothing else."""
    (root / rel).write_bytes(data)
    try:
        try:
            region = load(root, TODAY)
        except InventoryError as e:
            assert e.problems
            str(e).encode("utf-8")  # every message can be printed
            with contextlib.suppress(InventoryError):
                load_holding(root, TODAY)  # the lenient form, for plan and apply
        else:
            _assert_clean(region)
    finally:
        shutil.copyfile(MINI / rel, root / rel)


def _assert_clean(region: Region) -> None:
    """What a Region holds is fit for every target: no control characters in any text."""
    texts = [region.name, region.code]
    for partner in region.partners:
        texts += [partner.name, partner.upn_suffix, *(s.name for s in partner.sites)]
        items: list[Person | Device] = [*partner.people, *partner.devices]
        for item in items:
            texts += [getattr(item, f.name) for f in fields(item)
                      if isinstance(getattr(item, f.name), str)]
    bad = [t for t in texts if unprintable(t)]
    assert not bad, bad


def _original(rel: str) -> str:
    return (MINI / rel).read_text(encoding="utf-8")


@SETTINGS
@given(st.sampled_from(FILES), st.data())
def test_a_line_replaced_or_inserted_gives_a_region_or_problems(
    scratch: Path, rel: str, data: st.DataObject
) -> None:
    lines = _original(rel).split("\n")
    index = data.draw(st.integers(0, len(lines) - 1))
    text = data.draw(TEXT)
    if data.draw(st.booleans()):
        lines[index] = text
    else:
        cut = data.draw(st.integers(0, len(lines[index])))
        lines[index] = lines[index][:cut] + text + lines[index][cut:]
    _load_changed(scratch, rel, "\n".join(lines).encode("utf-8"))


@SETTINGS
@given(st.sampled_from(CSV_FILES), st.data())
def test_a_csv_field_set_to_anything_gives_a_region_or_problems(
    scratch: Path, rel: str, data: st.DataObject
) -> None:
    rows = list(csv.reader(io.StringIO(_original(rel))))
    row = data.draw(st.integers(1, len(rows) - 1))
    column = data.draw(st.integers(0, len(rows[row]) - 1))
    rows[row][column] = data.draw(TEXT)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    _load_changed(scratch, rel, out.getvalue().encode("utf-8"))


@SETTINGS
@given(st.sampled_from(YAML_FILES), st.data())
def test_a_yaml_value_set_to_anything_gives_a_region_or_problems(
    scratch: Path, rel: str, data: st.DataObject
) -> None:
    # Quoted the YAML way (double quotes, escapes), so the hostile text reaches the checks.
    lines = _original(rel).split("\n")
    keyed = [i for i, line in enumerate(lines) if ": " in line and not line.startswith("#")]
    index = data.draw(st.sampled_from(keyed))
    key = lines[index].split(": ", 1)[0]
    text = data.draw(TEXT)
    quoted = '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}"
                           for c in text) + '"'
    lines[index] = f"{key}: {quoted}"
    _load_changed(scratch, rel, "\n".join(lines).encode("utf-8"))


@SETTINGS
@given(st.sampled_from(FILES), st.binary(max_size=300), st.data())
def test_random_bytes_anywhere_give_a_region_or_problems(
    scratch: Path, rel: str, junk: bytes, data: st.DataObject
) -> None:
    original = (MINI / rel).read_bytes()
    start = data.draw(st.integers(0, len(original)))
    end = data.draw(st.integers(start, len(original)))
    _load_changed(scratch, rel, original[:start] + junk + original[end:])


def _outcome(root: Path) -> object:
    """What load() makes of the inventory: the Region, or the problems it words."""
    try:
        return load(root, TODAY)
    except InventoryError as e:
        return e.problems


@SETTINGS
@given(st.sampled_from(CSV_FILES), st.data())
def test_the_quick_row_checks_agree_with_the_worded_ones(
    scratch: Path, rel: str, data: st.DataObject
) -> None:
    # A plain export whose rows all pass every check is taken a column at a time
    # (`_fit_table`); else rows that pass are taken in one go (`_fit`) and the others get the
    # worded checks. Whatever a row holds, all three ways give the same Region or problems.
    rows = list(csv.reader(io.StringIO(_original(rel))))
    for _ in range(data.draw(st.integers(1, 3))):
        row = data.draw(st.integers(1, len(rows) - 1))
        column = data.draw(st.integers(0, len(rows[row]) - 1))
        rows[row][column] = data.draw(st.one_of(TEXT, st.sampled_from(
            [r[column] for r in rows[1:] if column < len(r)])))  # also: a duplicate value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    (scratch / rel).write_bytes(out.getvalue().encode("utf-8"))
    no_tables = (mock.patch.object(PeopleReader, "_fit_table", return_value=None),
                 mock.patch.object(DeviceReader, "_fit_table", return_value=None))
    try:
        quick = _outcome(scratch)
        with no_tables[0], no_tables[1]:
            by_row = _outcome(scratch)
            with mock.patch.object(PeopleReader, "_fit", return_value=None), \
                    mock.patch.object(DeviceReader, "_fit", return_value=None):
                worded = _outcome(scratch)
    finally:
        shutil.copyfile(MINI / rel, scratch / rel)
    assert quick == by_row == worded
