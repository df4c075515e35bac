"""The command line: exit codes, messages, JSON for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from tests.conftest import ROOT

SAMPLE = str(ROOT / "inventory")
TODAY = ["--today", "2026-11-23"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_validate_passes_on_the_sample_and_counts_people() -> None:
    code, out, _ = run("validate", "--inventory", SAMPLE, *TODAY)
    assert code == 0
    assert "11 partners, 4,500 people" in out


def test_validate_json_for_scripts() -> None:
    code, out, _ = run("validate", "--inventory", SAMPLE, *TODAY, "--format", "json")
    data = json.loads(out)
    assert code == 0 and data["valid"] and data["partners"] == 11


def test_validate_lists_every_problem_with_file_line_and_hint(mini: Path) -> None:
    partner = mini / "partners" / "alpha.yaml"
    partner.write_text(partner.read_text().replace("services:", "servces:"))
    people = mini / "people" / "beta.csv"
    people.write_text(people.read_text().replace("2019-02-01", "2019-02-31"))
    code, _, err = run("validate", "--inventory", str(mini), *TODAY)
    assert code == 1
    assert "The inventory has 2 problems" in err
    assert "partners/alpha.yaml:6: unknown key 'servces'" in err
    assert "hint: did you mean 'services'?" in err
    assert "people/beta.csv:2: invalid start_date '2019-02-31'" in err
    assert "stop plan, apply and drift for every partner" in err  # alpha.yaml is the SSC's


def test_validate_says_which_partner_a_run_would_hold_back(mini: Path) -> None:
    people = mini / "people" / "beta.csv"
    people.write_text(people.read_text().replace("2019-02-01", "2019-02-31"))
    code, _, err = run("validate", "--inventory", str(mini), *TODAY)
    assert code == 1
    assert "would hold back beta" in err and "go on with the other partners" in err


def test_validate_json_lists_problems(mini: Path) -> None:
    (mini / "people" / "beta.csv").write_text("employee_id\n1\n")
    code, out, _ = run("validate", "--inventory", str(mini), *TODAY, "--format", "json")
    data = json.loads(out)
    assert code == 1 and not data["valid"]
    assert {p["file"] for p in data["problems"]} >= {"people/beta.csv"}
    assert data["held_partners"] == ["beta"]


def test_show_prints_a_row_per_partner() -> None:
    code, out, _ = run("show", "--inventory", SAMPLE, *TODAY)
    assert code == 0
    for partner in ("leeuwarden", "vlieland", "riec-noord", "total"):
        assert partner in out


def test_desired_json_for_one_partner() -> None:
    code, out, _ = run("desired", "--inventory", SAMPLE, *TODAY, "--partner", "vlieland",
                       "--format", "json")
    data = json.loads(out)
    assert code == 0
    [vlieland] = data["partners"]
    assert vlieland["code"] == "vlieland"
    assert vlieland["ou"] == "OU=vlieland,OU=Partners,DC=ssc,DC=frl"
    assert {g["name"] for g in vlieland["groups"]} >= {"vlieland-all", "vlieland-app-afas-ehrm"}
    assert len(vlieland["accounts"]) == 40


def test_desired_refuses_an_unknown_partner() -> None:
    code, _, err = run("desired", "--inventory", SAMPLE, *TODAY, "--partner", "harlingen")
    assert code == 1  # a usage error is an error, never "changes pending"
    assert "unknown partner 'harlingen'" in err and "vlieland" in err


def test_schema_writes_json_schemas(tmp_path: Path) -> None:
    code, _, _ = run("schema", "--out", str(tmp_path))
    assert code == 0
    partner = json.loads((tmp_path / "partner.schema.json").read_text())
    assert "upn_suffix" in partner["properties"]
    assert partner["additionalProperties"] is False


def test_sample_writes_a_valid_region_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "region"
    code, _, _ = run("sample", "--people", "300", "--seed", "3", "--out", str(out))
    assert code == 0
    assert run("validate", "--inventory", str(out), *TODAY)[0] == 0
    code, _, err = run("sample", "--people", "300", "--out", str(out))
    assert code == 1 and "not empty" in err


def test_a_bad_today_is_a_usage_error() -> None:
    code, _, err = run("validate", "--inventory", SAMPLE, "--today", "23-11-2026")
    assert code == 1 and "YYYY-MM-DD" in err


LONG = "a" * 10_000


@pytest.mark.parametrize("args", [
    ("desired", "--partner", LONG),
    ("validate", "--today", LONG),
    ("plan", "--allow-disable", LONG),
])
def test_a_value_of_ten_thousand_characters_is_cut_short_in_the_error(
        args: tuple[str, ...]) -> None:
    code, out, err = run(*args, "--inventory", SAMPLE)
    assert code == 1 and "(10000 characters)" in err
    assert len(out + err) < 2_000
