"""HR exports in other shapes, as data cases: tests/cases/hrexport/{exports,mappings}.yaml; the
Dutch voorvoegsels: tests/cases/infix/split.yaml; and the shipped examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ssc_infra.core.errors import Problem
from ssc_infra.core.infix import VOORVOEGSELS, split_infix
from ssc_infra.sources.hrexport import (
    DEFAULT,
    HrMapping,
    convert,
    load_mapping,
    people_csv,
    read_export,
)
from ssc_infra.sources.people import PEOPLE_COLUMNS
from tests.conftest import ROOT, data_cases

EXAMPLES = ROOT / "examples" / "hr"


def matches(problem: Problem, expected: dict[str, Any]) -> bool:
    return (problem.file == expected["file"]
            and ("line" not in expected or problem.line == expected["line"])
            and expected["message"] in problem.message
            and expected.get("hint", "") in problem.hint)


def assert_problems(found: list[Problem], expected: list[dict[str, Any]]) -> None:
    missing = [e for e in expected if not any(matches(p, e) for p in found)]
    unexpected = [p for p in found if not any(matches(p, e) for e in expected)]
    assert not missing, f"not reported: {missing}\nreported: {[str(p) for p in found]}"
    assert not unexpected, f"reported but not expected: {[str(p) for p in unexpected]}"
    assert all(p.hint for p in found), "every problem says what to do next"


def _mapping(tmp_path: Path, text: str | None) -> HrMapping | list[Problem]:
    if text is None:
        return DEFAULT
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path, "mapping.yaml")


@pytest.mark.parametrize("case", [c for c in data_cases("hrexport")
                                  if "export" in c.values[0] or "bytes" in c.values[0]])
def test_an_export_converts_or_says_which_rows_are_bad(tmp_path: Path,
                                                        case: dict[str, Any]) -> None:
    mapping = _mapping(tmp_path, case.get("mapping"))
    assert isinstance(mapping, HrMapping), [str(p) for p in mapping]
    export = tmp_path / "export.csv"
    if "bytes" in case:
        export.write_bytes(case["bytes"].encode("latin-1"))
    else:
        text = case["export"] + "x" * case.get("long_field", 0)
        export.write_bytes(text.encode(case.get("encoding", "utf-8")))
    converted = read_export(export, "export.csv", mapping)
    assert_problems(list(converted.problems), case.get("problems", []))
    if "rows" in case:
        assert len(converted.rows) == len(case["rows"])
        for row, expected in zip(converted.rows, case["rows"], strict=True):
            assert set(row) == set(PEOPLE_COLUMNS)
            assert {k: row[k] for k in expected} == expected
    if "split" in case:
        assert converted.split == case["split"]
    if "lines" in case:
        assert list(converted.lines) == case["lines"]


@pytest.mark.parametrize("case", [c for c in data_cases("hrexport")
                                  if "export" not in c.values[0] and "bytes" not in c.values[0]])
def test_a_bad_mapping_file_is_told_at_its_lines(tmp_path: Path, case: dict[str, Any]) -> None:
    found = _mapping(tmp_path, case["mapping"])
    assert isinstance(found, list)
    assert_problems(found, case["problems"])


@pytest.mark.parametrize("case", data_cases("infix"))
def test_voorvoegsels_are_split_off_a_surname(case: dict[str, Any]) -> None:
    assert list(split_infix(case["surname"])) == case["expect"]


@given(st.lists(st.sampled_from([*sorted(VOORVOEGSELS), "Wal", "Vries", "De", "Meer-de Jong",
                                 "Bûmâ"]), max_size=6))
def test_a_split_keeps_every_word_and_never_empties_the_surname(words: list[str]) -> None:
    surname = " ".join(words)
    infix, rest = split_infix(surname)
    assert " ".join(p for p in (infix, rest) if p) == " ".join(surname.split())
    assert rest or not surname.strip()


def test_the_people_csv_counts_the_lines_of_each_row() -> None:
    rows = tuple({c: "" for c in PEOPLE_COLUMNS} | {"employee_id": str(i),
                                                     "department": "a\nb" * (i % 2)}
                 for i in range(4))
    text, starts = people_csv(rows)
    assert text.startswith(",".join(PEOPLE_COLUMNS) + "\n")
    assert starts == (2, 3, 5, 6)


@pytest.mark.parametrize(("mapping", "export", "people", "split"), [
    ("afas.yaml", "harlingen-afas.csv", 12, 5),
    ("youforce.yaml", "achtkarspelen-youforce.tsv", 5, 4),
])
def test_the_example_exports_convert_with_their_mappings(mapping: str, export: str,
                                                         people: int, split: int) -> None:
    loaded = load_mapping(EXAMPLES / mapping, mapping)
    assert isinstance(loaded, HrMapping), [str(p) for p in loaded]
    converted = read_export(EXAMPLES / export, export, loaded)
    assert not converted.problems, [str(p) for p in converted.problems]
    assert len(converted.rows) == people and converted.split == split
    assert all(r["workplace"] in {"vdi", "laptop", "thin_client"} for r in converted.rows)


def test_a_hostile_value_passes_conversion_as_data() -> None:
    """The loader judges the fields; conversion neither chokes on nor alters them."""
    hostile = "[/x]<script>" + "x" * 10_000
    text = ("employee_id,given_name,surname,site,workplace,start_date\n"
            f"1,\"{hostile}\",\"van de\nWal\",alp-hq,vdi,2020-01-01\n")
    converted = convert(text, DEFAULT, "export.csv")
    assert not converted.problems
    assert converted.rows[0]["given_name"] == hostile
    assert (converted.rows[0]["infix"], converted.rows[0]["surname"]) == ("van de", "Wal")
