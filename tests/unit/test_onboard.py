"""Onboarding a partner: the documents as data cases (tests/cases/onboard/*.yaml), checked with
the whole mini region; the command itself, which never writes over a partner or half a one."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.errors import Problem
from ssc_infra.lifecycle.intake import Given, onboard_files, read_given
from ssc_infra.lifecycle.onboard import PartnerOptions, SiteGiven, parse_site
from ssc_infra.lifecycle.staging import PlaceError, place
from ssc_infra.sources.files import load
from tests.conftest import ROOT, TODAY, data_cases
from tests.unit.test_hrexport import assert_problems

EXAMPLES = ROOT / "examples" / "hr"
SAMPLE = ROOT / "inventory"
EXPORT = (
    "employee_id,given_name,infix,surname,department,job_title,site,workplace,start_date,"
    "end_date\n"
    "3001,Amelia,,van de Wal,Burgerzaken,Medewerker,gam-hq,vdi,2016-03-01,\n"
    "3002,Jan,de,Vries,Financiën,Controller,gam-hq,laptop,2019-09-15,\n"
)
DEFAULTS: dict[str, Any] = {
    "code": "gamma", "name": "Gemeente Gamma", "upn_suffix": "gamma.example",
    "sites": ["code=gam-hq,name=Gemeentehuis Gamma,vlan=310,subnet=10.40.0.0/24"],
}


def tree(folder: Path) -> dict[str, str]:
    """Every file below `folder` with the digest of its bytes: to prove nothing changed."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _given(folder: Path, case: dict[str, Any]) -> Given:
    """The case's options and files; the files named as the engineer would, in `folder`."""
    options = {**DEFAULTS, **case.get("options", {})}
    text = case.get("export", EXPORT)
    if "long_given_name" in case:
        text = text.replace(",Amelia,", f",{'A' * case['long_given_name']},")
    (folder / "export.csv").write_text(text, encoding="utf-8")
    files: dict[str, Path | None] = {}
    for key, name in (("mapping", "mapping.yaml"), ("sites_file", "sites.yaml"),
                      ("devices", "devices.csv")):
        files[key] = Path(name) if key in case else None
        if key in case:
            (folder / name).write_text(case[key], encoding="utf-8")
    partner = PartnerOptions(options["code"], options["name"], options["upn_suffix"],
                             options.get("kind", "municipality"),
                             options.get("identity", "hybrid"),
                             tuple(options.get("services", ())), options.get("quota"))
    return Given(partner, Path("export.csv"), files["mapping"], files["devices"],
                 files["sites_file"], tuple(options["sites"]))


@pytest.mark.parametrize("case", data_cases("onboard"))
def test_a_partner_is_written_whole_or_told_where_to_fix_it(
        mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        case: dict[str, Any]) -> None:
    monkeypatch.chdir(tmp_path)  # problems name the files as the engineer named them
    given = _given(tmp_path, case)
    before = tree(mini)
    done = onboard_files(mini, read_given(given), TODAY)
    if "problems" in case:
        assert_problems(list(done.problems), case["problems"])
        assert tree(mini) == before, "nothing is written when anything is wrong"
        return
    assert done.ok, [str(p) for p in done.problems]
    for rel, text in case["files"].items():
        assert (mini / rel).read_text(encoding="utf-8") == text, rel
    region = load(mini, TODAY)  # the inventory loads with the partner in it
    assert region.partner("gamma").people


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _onboard(inventory: Path, export: Path, *extra: str) -> tuple[int, str, str]:
    return run("partner", "onboard", "gamma", "--name", "Gemeente Gamma", "--upn-suffix",
               "gamma.example", "--people", str(export), "--site",
               "code=gam-hq,name=Gemeentehuis Gamma,vlan=310,subnet=10.40.0.0/24",
               "--inventory", str(inventory), "--today", TODAY.isoformat(), *extra)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    path = tmp_path / "gamma.csv"
    path.write_text(EXPORT, encoding="utf-8")
    return path


def test_onboard_writes_the_files_and_says_how_to_see_the_plan(mini: Path,
                                                               export: Path) -> None:
    code, out, err = _onboard(mini, export, "--no-plan")
    assert code == 0, err
    assert "gamma — Gemeente Gamma: 2 people (1 surname split into infix and surname)" in out
    assert "ssc-infra plan --partner gamma" in out
    assert (mini / "partners" / "gamma.yaml").is_file()
    assert load(mini, TODAY).partner("gamma").people[0].infix == "van de"


def test_without_a_target_the_partner_is_onboarded_and_the_plan_named(
        mini: Path, export: Path, tmp_path: Path) -> None:
    code, _, err = _onboard(mini, export, "--targets", str(tmp_path / "none.yaml"))
    assert code == 0
    assert "no plan:" in err and "ssc-infra plan --partner gamma" in err
    assert (mini / "people" / "gamma.csv").is_file()


def test_an_existing_partner_is_never_overwritten(mini: Path, export: Path) -> None:
    assert _onboard(mini, export, "--no-plan")[0] == 0
    before = tree(mini)
    code, _, err = _onboard(mini, export, "--no-plan")
    assert code == 1 and "partner 'gamma' exists already in the inventory" in err
    assert tree(mini) == before
    code, _, err = run("partner", "onboard", "alpha", "--name", "X", "--upn-suffix", "x.example",
                       "--people", str(export), "--inventory", str(mini), "--no-plan")
    assert code == 1 and "partner 'alpha' exists already" in err


def test_a_data_file_left_behind_is_not_overwritten_either(mini: Path, export: Path) -> None:
    (mini / "people" / "gamma.csv").write_text("left from an earlier partner\n")
    before = tree(mini)
    code, _, err = _onboard(mini, export, "--no-plan")
    assert code == 1 and "people/gamma.csv exists already" in err and "Move it away" in err
    assert tree(mini) == before


def test_a_dry_run_writes_nothing(mini: Path, export: Path) -> None:
    before = tree(mini)
    code, out, _ = _onboard(mini, export, "--dry-run")
    assert code == 0 and "nothing written (--dry-run)" in out
    assert "people/gamma.csv" in out and "partners/gamma.yaml" in out
    assert tree(mini) == before


def test_problems_for_scripts_and_nothing_written(mini: Path, export: Path) -> None:
    before = tree(mini)
    code, out, _ = run("partner", "onboard", "gamma", "--name", "G", "--upn-suffix",
                       "alpha.example", "--people", str(export), "--site",
                       "code=gam-hq,name=G,vlan=110,subnet=10.40.0.0/24", "--inventory",
                       str(mini), "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["onboarded"] is False and data["written"] == []
    assert {p["file"] for p in data["problems"]} == {"--upn-suffix", "--site"}
    assert tree(mini) == before


def test_values_are_shown_as_data(mini: Path, export: Path) -> None:
    code, out, err = run("partner", "onboard", "gamma", "--name", "[bold]Gamma[/bold]",
                         "--upn-suffix", "gamma.example", "--people", str(export), "--site",
                         "code=gam-hq,name=[red]x,vlan=310,subnet=10.40.0.0/24",
                         "--inventory", str(mini), "--no-plan")
    assert code == 0, err
    assert "gamma — [bold]Gamma[/bold]:" in out  # printed as written, not as markup
    code, _, err = run("partner", "onboard", "delta", "--name", "[/x]\n", "--upn-suffix",
                       "delta.example", "--people", str(export), "--site", "code=[/x]",
                       "--inventory", str(mini), "--no-plan")
    assert code == 1 and "'[/x]\\n' is not valid" in err and "Traceback" not in err


def test_an_unreadable_export_is_a_problem_not_a_traceback(mini: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    code, _, err = _onboard(mini, fifo, "--no-plan")
    assert code == 1 and "not a regular file but a FIFO" in err
    code, _, err = _onboard(mini, tmp_path / "missing.csv", "--no-plan")
    assert code == 1 and "missing.csv: file not found" in err
    cut = tmp_path / "cut.csv"
    cut.write_bytes(EXPORT.encode()[:-40])
    code, _, err = _onboard(mini, cut, "--no-plan")
    assert code == 1 and "cut.csv:3" in err


def test_place_writes_nothing_over_a_file_and_takes_back_what_it_placed(mini: Path) -> None:
    (mini / "partners" / "gamma.yaml").write_text("made meanwhile\n")
    files = {"people/gamma.csv": "x\n", "partners/gamma.yaml": "code: gamma\n"}
    with pytest.raises(PlaceError, match="exists already"):
        place(mini, files)
    assert not (mini / "people" / "gamma.csv").exists()
    assert (mini / "partners" / "gamma.yaml").read_text() == "made meanwhile\n"
    assert not [p for p in mini.rglob(".*.new")]


def test_a_site_option_is_key_value_pairs() -> None:
    site = parse_site("code=hrl-stadhuis, name=Stadhuis Harlingen ,vlan=116,"
                      "subnet=10.16.32.0/23,shared=true")
    assert isinstance(site, SiteGiven)
    assert dict(site.values) == {"code": "hrl-stadhuis", "name": "Stadhuis Harlingen",
                                 "vlan": "116", "subnet": "10.16.32.0/23", "shared": "true"}
    twice = parse_site("code=a,code=b")
    assert isinstance(twice, Problem) and "'code' given twice" in twice.message


@pytest.mark.parametrize(("code", "options"), [
    ("harlingen", ["--name", "Gemeente Harlingen", "--upn-suffix", "harlingen.nl",
                   "--people", str(EXAMPLES / "harlingen-afas.csv"),
                   "--columns", str(EXAMPLES / "afas.yaml"),
                   "--sites", str(EXAMPLES / "harlingen-sites.yaml"),
                   "--devices", str(EXAMPLES / "harlingen-devices.csv"),
                   "--services", "m365-e3,zaaksysteem-rex,vpn", "--quota", "60"]),
    ("achtkarspelen", ["--name", "Gemeente Achtkarspelen", "--upn-suffix",
                       "achtkarspelen.nl", "--people",
                       str(EXAMPLES / "achtkarspelen-youforce.tsv"),
                       "--columns", str(EXAMPLES / "youforce.yaml"), "--site",
                       "code=akp-buitenpost,name=Gemeentehuis Buitenpost,vlan=118,"
                       "subnet=10.16.36.0/23,flex_desks=30", "--services", "m365-e3"]),
])
def test_the_examples_fit_the_sample_region(tmp_path: Path, code: str,
                                            options: list[str]) -> None:
    inventory = tmp_path / "inventory"
    shutil.copytree(SAMPLE, inventory)
    result, out, err = run("partner", "onboard", code, *options, "--inventory",
                           str(inventory), "--today", TODAY.isoformat(), "--no-plan")
    assert result == 0, out + err
    partner = load(inventory, TODAY).partner(code)
    assert partner.people and all(p.surname.split()[0].lower() not in {"van", "de", "ter"}
                                  for p in partner.people if " " in p.surname)


def test_a_code_of_ten_thousand_characters_is_cut_short_where_it_is_said(
        mini: Path, export: Path) -> None:
    before = tree(mini)
    code, _, err = run("partner", "onboard", "a" * 10_000, "--name", "G", "--upn-suffix",
                       "g.example", "--people", str(export), "--inventory", str(mini))
    assert code == 1 and "invalid partner code" in err and "(10000 characters)" in err
    assert "a" * 100 not in err
    assert tree(mini) == before
