"""`hr pull` from export files (the `csv` system: no server): a good answer is written, the
same answer leaves the file alone, and an answer that lost people, holds none, has a bad
record or breaks the region is held with the last good file kept, the other partner pulled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ssc_infra.cli.main import main
from tests.conftest import TODAY, drop_target

HEADER = ("employee_id,given_name,infix,surname,department,job_title,site,workplace,"
          "start_date,end_date\n")


def _hr_from(inventory: Path, partner: str, export: Path, **more: object) -> None:
    path = inventory / "partners" / f"{partner}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["hr"] = {"system": "csv", "file": str(export), **more}
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")


@pytest.fixture
def drops(mini: Path, tmp_path: Path) -> dict[str, Path]:
    """Both partners' HR systems drop an export in the target's drop folder: at first the
    people they have now."""
    found = {}
    (tmp_path / "drop").mkdir()
    drop_target(mini, tmp_path / "drop")
    for partner in ("alpha", "beta"):
        export = tmp_path / "drop" / f"{partner}-drop.csv"
        export.write_text((mini / "people" / f"{partner}.csv").read_text(encoding="utf-8"),
                          encoding="utf-8")
        _hr_from(mini, partner, export)
        found[partner] = export
    return found


def _pull(mini: Path, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = CliRunner().invoke(main, ["hr", "pull", "--inventory", str(mini), "--today",
                                       TODAY.isoformat(), "--format", "json", "--targets",
                                       str(mini / "targets.yaml"), *args])
    assert result.exit_code in (0, 2), result.output
    return result.exit_code, {p["partner"]: p for p in json.loads(result.output)["partners"]}


def test_the_same_answer_changes_nothing_and_a_joiner_is_written(
        mini: Path, drops: dict[str, Path]) -> None:
    code, done = _pull(mini)
    assert code == 0
    assert {p: d["status"] for p, d in done.items()} == {"alpha": "unchanged",
                                                         "beta": "unchanged"}
    with drops["alpha"].open("a", encoding="utf-8") as f:
        f.write("1006,Sjoukje,,Zijlstra,Ruimte,Adviseur,alp-hq,vdi,2027-01-04,\n")
    text = drops["alpha"].read_text(encoding="utf-8")
    drops["alpha"].write_text(text.replace("1003,Jelle,de,Vries,Ruimte",
                                           "1003,Jelle,de,Vries,Burgerzaken"), encoding="utf-8")
    code, done = _pull(mini)
    assert code == 0
    assert done["alpha"]["status"] == "written"
    assert (done["alpha"]["joiners"], done["alpha"]["movers"]) == (["1006"], ["1003"])
    assert done["alpha"]["changed"] == {"department": 1}
    assert "1006,Sjoukje" in (mini / "people" / "alpha.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize(("cut", "reason"), [
    (lambda text: text.rsplit("\n", 3)[0] + "\n", "gone from the answer"),
    (lambda text: HEADER, "problems in the answer"),
    (lambda text: "", "problems in the answer"),
    (lambda text: text + "1009,Bad\u0007Name,,X,,,alp-hq,laptop,2020-01-01,\n",
     "problems with the whole region"),
    (lambda text: text + "1010,Anna,,Smit,,,nowhere,laptop,2020-01-01,\n",
     "problems with the whole region"),
])
def test_a_bad_answer_holds_its_partner_and_keeps_the_last_good_file(
        mini: Path, drops: dict[str, Path], cut: object, reason: str) -> None:
    before = (mini / "people" / "alpha.csv").read_bytes()
    drops["alpha"].write_text(cut(drops["alpha"].read_text(encoding="utf-8")),  # type: ignore[operator]
                              encoding="utf-8")
    with drops["beta"].open("a", encoding="utf-8") as f:
        f.write("2003,Lieuwe,,Kingma,Handhaving,Inspecteur,bet-kantoor,laptop,2027-01-04,\n")
    code, done = _pull(mini)
    assert code == 2
    assert done["alpha"]["status"] == "held"
    assert reason in str(done["alpha"]["reason"])
    assert (mini / "people" / "alpha.csv").read_bytes() == before
    assert done["beta"]["status"] == "written", "one partner's bad answer never stops another"


def test_a_known_loss_goes_through_with_allow_lost(mini: Path, drops: dict[str, Path]) -> None:
    lines = drops["alpha"].read_text(encoding="utf-8").splitlines(keepends=True)
    drops["alpha"].write_text("".join(lines[:2] + lines[3:]), encoding="utf-8")  # 1002 gone
    code, done = _pull(mini, "--partner", "alpha")
    assert (code, done["alpha"]["lost"]) == (2, 1)
    code, done = _pull(mini, "--partner", "alpha", "--allow-lost", "alpha=1")
    assert (code, done["alpha"]["status"], done["alpha"]["leavers"]) == (0, "written", ["1002"])


def test_dry_run_writes_nothing(mini: Path, drops: dict[str, Path]) -> None:
    with drops["beta"].open("a", encoding="utf-8") as f:
        f.write("2003,Lieuwe,,Kingma,Handhaving,Inspecteur,bet-kantoor,laptop,2027-01-04,\n")
    before = (mini / "people" / "beta.csv").read_bytes()
    code, done = _pull(mini, "--partner", "beta", "--dry-run")
    assert (code, done["beta"]["status"]) == (0, "would write")
    assert (mini / "people" / "beta.csv").read_bytes() == before


def test_a_partner_without_hr_and_a_missing_target_are_clear(mini: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["hr", "pull", "--inventory", str(mini)])
    assert result.exit_code == 1 and "no partner names an HR system" in result.output
    result = runner.invoke(main, ["hr", "pull", "--inventory", str(mini), "--partner", "alpha"])
    assert result.exit_code == 1 and "names no HR system" in result.output
    _hr_from(mini, "alpha", Path("/nonexistent"))
    path = mini / "partners" / "alpha.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc["hr"] = {"system": "afas", "environment": "12345"}
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = runner.invoke(main, ["hr", "pull", "--inventory", str(mini), "--targets",
                                  str(mini / "none.yaml")])
    assert result.exit_code == 1 and "no targets file" in result.output


@pytest.mark.parametrize("where", ["elsewhere", "symlink", "dotdot", "the folder itself"])
def test_an_export_file_outside_the_targets_drop_folders_is_not_read(
        mini: Path, drops: dict[str, Path], tmp_path: Path, where: str) -> None:
    """A partner file names the file, the target where such files may be: a partner file
    cannot have the tool read (and quote in its problems) a file outside those folders."""
    secret = tmp_path / "secret.csv"
    secret.write_text("root:$y$secret-hash:19000:0:99999:7:::\n", encoding="utf-8")
    named = {"elsewhere": secret, "symlink": tmp_path / "drop" / "link.csv",
             "dotdot": tmp_path / "drop" / "sub" / ".." / ".." / "secret.csv",
             "the folder itself": tmp_path / "drop"}[where]
    if where == "symlink":
        named.symlink_to(secret)
    (tmp_path / "drop" / "sub").mkdir()
    before = (mini / "people" / "alpha.csv").read_bytes()
    if where == "dotdot":  # the partner file's schema refuses '..' already
        _hr_from(mini, "alpha", named)
        code, out = _pull_raw(mini)
        assert code == 1 and "'..'" in out
        return
    _hr_from(mini, "alpha", named)
    code, done = _pull(mini)
    assert code == 2 and done["alpha"]["status"] == "held"
    shown = json.dumps(done["alpha"])
    assert "secret-hash" not in shown
    assert "outside the folders it may be read from" in shown or "not a regular file" in shown
    assert (mini / "people" / "alpha.csv").read_bytes() == before
    assert done["beta"]["status"] == "unchanged", "the other partner is pulled all the same"


def test_an_export_file_needs_a_target_naming_its_drop_folder(
        mini: Path, drops: dict[str, Path]) -> None:
    drop_target(mini)  # no drop folders at all
    code, done = _pull(mini)
    assert code == 2
    assert "hr.drop_folders" in str(done["alpha"]["reason"])
    (mini / "targets.yaml").unlink()
    code, out = _pull_raw(mini)
    assert code == 1 and "no targets file" in out


def _pull_raw(mini: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["hr", "pull", "--inventory", str(mini), "--today",
                                       TODAY.isoformat(), "--targets",
                                       str(mini / "targets.yaml")])
    return result.exit_code, result.output


def test_validate_tells_a_broken_mapping_file_ahead_of_the_pull(
        mini: Path, drops: dict[str, Path]) -> None:
    (mini / "hr").mkdir()
    (mini / "hr" / "alpha.yaml").write_text("columns:\n  surname: Achternaam\n  sirname: X\n",
                                            encoding="utf-8")
    _hr_from(mini, "alpha", drops["alpha"], mapping="hr/alpha.yaml")
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "--inventory", str(mini), "--today",
                                  TODAY.isoformat(), "--format", "json"])
    assert result.exit_code == 1
    found = json.loads(result.output)
    assert (found["held_partners"], found["hr_pull_held_partners"]) == ([], ["alpha"])
    [problem] = found["problems"]
    assert problem["file"] == "hr/alpha.yaml" and problem["line"] == 3
    assert "sirname" in problem["message"] and "surname" in problem["hint"]
    result = runner.invoke(main, ["validate", "--inventory", str(mini), "--today",
                                  TODAY.isoformat()])
    assert result.exit_code == 1
    assert "hr pull would hold back alpha" in result.output
    assert "plan, apply and drift are not held by it" in result.output
    code, done = _pull(mini)
    assert code == 2 and "hr/alpha.yaml:3" in str(done["alpha"]["reason"])
    assert done["beta"]["status"] == "unchanged"


@pytest.mark.parametrize("folder", ["/", "//", "/srv/..", "srv/sftp", "/srv/sftp\n/etc"])
def test_a_drop_folder_is_an_absolute_folder_and_not_the_root(
        mini: Path, drops: dict[str, Path], folder: str) -> None:
    (mini / "targets.yaml").write_text(
        yaml.safe_dump({"lab": {"hr": {"drop_folders": [folder]}}}), encoding="utf-8")
    code, out = _pull_raw(mini)
    assert code == 1 and "drop_folders" in out, out
