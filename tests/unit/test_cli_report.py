"""`drift --report`, `show PLAN` and `history` through the command line, with the in-memory
backends of `test_run` standing in for the directory and the hosts (no server)."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.actual import DirectoryAccount
from ssc_infra.report.nightly import REPORT_FORMAT, REPORT_NAME, REPORT_VERSION
from ssc_infra.run.protocols import Backends
from tests.conftest import TODAY, write_or_fifo
from tests.support import desired_for, directory_as_desired
from tests.unit.test_run import MemoryDirectory, MemoryHosts, memory_targets

HOSTILE = "<script>alert(1)</script>"
BASE = "DC=ssc,DC=test"


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    inventory: Path
    targets: Path
    state: Path
    directory: MemoryDirectory
    hosts: MemoryHosts

    def __call__(self, *args: str, common: bool = True) -> Run:
        extra = ["--inventory", str(self.inventory), "--today", TODAY.isoformat(),
                 "--targets", str(self.targets), "--target", "test",
                 "--state-dir", str(self.state)] if common else []
        result = CliRunner().invoke(main, [*args, *extra])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    def applied(self) -> None:
        """The directory now holds what the inventory wants (apply is not what is tested)."""
        self.directory.state = directory_as_desired(desired_for(self.inventory, TODAY))


@pytest.fixture
def cli(mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    directory = MemoryDirectory()
    hosts = MemoryHosts()
    monkeypatch.setattr("ssc_infra.run.plan.real_backends",
                        lambda *_a, **_k: Backends(directory, hosts, None))
    return Cli(mini, memory_targets(tmp_path, monkeypatch), tmp_path / "state", directory,
               hosts)


def _latest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "latest.json").read_text(encoding="utf-8")))


# -- drift --report -------------------------------------------------------------------------


def test_drift_report_writes_json_and_a_page_and_keeps_the_exit_code(cli: Cli,
                                                                     tmp_path: Path) -> None:
    plain = cli("drift")
    folder = tmp_path / "nightly"
    run = cli("drift", "--report", str(folder))
    assert plain.code == run.code == 2  # the empty directory: everything is pending
    assert f"nightly report: {folder / 'latest.html'}" in run.out
    data = _latest(folder)
    assert (data["format"], data["version"]) == (REPORT_FORMAT, REPORT_VERSION)
    assert data["result"] == {"exit_code": 2, "verdict": "drift found", "incomplete": [],
                              "failed_hosts": []}
    summary = data["summary"]
    # every partner has its counts, zero included (beta is cloud: nothing of it in AD)
    assert set(summary["partners"]) == {"alpha", "beta", ""}
    beta = summary["partners"]["beta"]
    assert beta["items"] == 0 and beta["by_backend"] == {"directory": 0, "graph": 0, "hosts": 0}
    alpha = summary["partners"]["alpha"]
    assert alpha["by_kind"]["account"] == alpha["by_action"]["create"] - alpha["by_kind"]["ou"] \
        - alpha["by_kind"]["group"] > 0
    assert summary["total"]["items"] == sum(p["items"] for p in summary["partners"].values())
    assert summary["total"]["pending"] == summary["total"]["items"]
    reports = sorted(p.name for p in folder.iterdir())
    assert len(reports) == 4 and reports[-2:] == ["latest.html", "latest.json"]
    assert all(oct((folder / name).stat().st_mode & 0o777) == "0o600" for name in reports)
    assert oct(folder.stat().st_mode & 0o777) == "0o700"  # made here: it names people


def test_the_report_names_people_and_lists_drift_with_hostile_values_as_data(
        cli: Cli, tmp_path: Path) -> None:
    cli.applied()
    assert cli("apply", "--yes").code == 0  # the hosts get their files
    folder = tmp_path / "nightly"
    assert cli("drift", "--report", str(folder)).code == 0
    state = cli.directory.state
    gone = DirectoryAccount(f"CN=Piet Post,OU=Users,OU=alpha,OU=Partners,{BASE}",
                            "ppost", "alpha", "1099", display_name=f"Post, Piet {HOSTILE}")
    odd = DirectoryAccount(f"CN={HOSTILE},OU=Users,OU=alpha,OU=Partners,{BASE}",
                           "odd", "alpha", None)
    cli.directory.state = dataclasses.replace(state, accounts=(*state.accounts, gone, odd))
    run = cli("drift", "--report", str(folder))
    assert run.code == 2
    assert f"? unmanaged CN={HOSTILE},OU=Users" in run.out
    data = _latest(folder)
    [alpha] = [p for p in data["partners"] if p["code"] == "alpha"]
    # one disable of alpha's few accounts trips the guard: held, and named all the same
    assert any("the plan disables 1 of" in why for why in alpha["held"])
    found = {(i["status"], i["key"], i["label"]) for i in alpha["items"]}
    assert ("held", "alpha/1099", f"Post, Piet {HOSTILE}") in found
    assert any(status == "drift" and HOSTILE in key for status, key, _ in found)
    page = (folder / "latest.html").read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()
    # the trend: tonight and the report before it
    assert data["summary"]["total"]["held"] >= 1 and data["summary"]["total"]["drift"] == 1
    assert "trend (2 reports)" in page


def test_keep_prunes_the_oldest_reports_and_nothing_else(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "nightly"
    folder.mkdir()
    (folder / "notes.txt").write_text("ours, not the tool's\n")
    (folder / "drift-report-20200101T000000Z-zzzzzz.json").write_text("not a report name\n")
    for _ in range(3):
        assert cli("drift", "--report", str(folder), "--keep", "2").code == 2
    names = sorted(p.name for p in folder.iterdir())
    reports = [n for n in names if REPORT_NAME.match(n)]
    assert len(reports) == 4  # two reports, a page and a JSON each
    assert "notes.txt" in names and "drift-report-20200101T000000Z-zzzzzz.json" in names


def test_a_damaged_earlier_report_is_left_out_of_the_trend_and_named(cli: Cli,
                                                                      tmp_path: Path) -> None:
    folder = tmp_path / "nightly"
    assert cli("drift", "--report", str(folder)).code == 2
    [first] = [p for p in folder.glob("drift-report-*.json")]
    first.write_bytes(first.read_bytes()[:100])  # cut off
    run = cli("drift", "--report", str(folder))
    assert run.code == 2
    assert f"left out of the trend: {first.name}" in run.err
    assert f"left out of the trend: {first.name}" in \
        (folder / "latest.html").read_text(encoding="utf-8")


def test_a_report_folder_that_cannot_be_written_is_an_error_naming_it(cli: Cli,
                                                                      tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    run = cli("drift", "--report", str(blocker / "reports"))
    assert run.code == 1
    assert str(blocker) in run.err and "Traceback" not in run.err


# -- show PLAN --------------------------------------------------------------------------------


def test_show_prints_a_saved_plan_as_plan_did_and_checks_its_seal(cli: Cli,
                                                                  tmp_path: Path) -> None:
    cli.applied()
    state = cli.directory.state
    # 1003's account is gone (to create again), 1001's department was changed by hand
    cli.directory.state = dataclasses.replace(state, accounts=tuple(
        dataclasses.replace(a, department="Oud") if a.employee_id == "1001" else a
        for a in state.accounts if a.employee_id != "1003"))
    saved = tmp_path / "today.plan.json"
    made = cli("plan", "--out", str(saved))
    assert made.code == 2
    shown = cli("show", str(saved), "--state-dir", str(cli.state), common=False)
    assert shown.code == 0
    assert "the seal checked with" in shown.err
    heading, *lines = shown.out.splitlines()
    assert heading.startswith("plan of region tst for target test, day 2026-11-23")
    assert lines == made.out.splitlines()  # the same lines as `plan` printed
    assert "alpha — Gemeente Alpha" in shown.out
    compact = cli("show", str(saved), "--compact", "--state-dir", str(cli.state), common=False)
    assert "department: 'Oud' -> " in shown.out and "department:" not in compact.out
    assert 'alpha/1001 "Bûmâ, Wâtse" (update)' in compact.out
    as_json = cli("show", str(saved), "--format", "json", "--state-dir", str(cli.state),
                  common=False)
    data = json.loads(as_json.out)
    assert data["seal"] == "verified" and data["plan"]["format"] == 2


def test_show_refuses_an_edited_plan_and_warns_when_it_cannot_check_the_seal(
        cli: Cli, tmp_path: Path) -> None:
    saved = tmp_path / "today.plan.json"
    cli("plan", "--out", str(saved))
    elsewhere = cli("show", str(saved), "--state-dir", str(tmp_path / "other"), common=False)
    assert elsewhere.code == 0 and "shown unchecked" in elsewhere.err
    assert not (tmp_path / "other").exists()  # showing makes no key, no state dir
    data = json.loads(saved.read_text(encoding="utf-8"))
    data["sections"]["directory"]["changes"][0]["after"]["ou"] = "Elsewhere"
    saved.write_text(json.dumps(data), encoding="utf-8")
    edited = cli("show", str(saved), "--state-dir", str(cli.state), common=False)
    assert edited.code == 1
    assert "its seal does not match the key in" in edited.err and "--state-dir" in edited.err
    assert "apply would refuse it whole" in edited.err
    assert edited.out == ""
    saved.write_text(json.dumps({**data, "seal": {"algorithm": "none"}}), encoding="utf-8")
    damaged = cli("show", str(saved), "--state-dir", str(cli.state), common=False)
    assert damaged.code == 1 and "has a damaged seal" in damaged.err


def test_show_reads_a_drift_report_kept_in_the_state_dir_as_unsealed_data(cli: Cli) -> None:
    cli("drift")
    [kept] = (cli.state / "reports").glob("drift-*.json")
    shown = cli("show", str(kept), "--state-dir", str(cli.state), common=False)
    assert shown.code == 0 and "has no seal" in shown.err
    assert "Plan: " in shown.out


@pytest.mark.parametrize(("content", "says"), [
    (b'{"format": 2, "sections": {', "not JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"[1, 2]", "not a plan file"),
    (b'{"format": 1, "sections": {}}', "not a plan file of format 2"),
    (b'{"format": 2, "sections": {"directory": {"changes": [{"kind": "nope"}]}}}', "damaged"),
    (b'{"format": 2, "sections": {"hosts": {"changes": [{"backend": "hosts", "kind": "file",'
     b' "action": "update", "partner": "", "key": "fs01:/x", "target": "/x", "before": {},'
     b' "after": {"diff": "--- a\\n+++ b\\n+x", "added": "many"}}]}}}', "damaged"),
])
def test_show_names_a_file_it_cannot_show_without_a_traceback(cli: Cli, tmp_path: Path,
                                                              content: bytes, says: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    run = cli("show", str(bad), "--state-dir", str(cli.state), common=False)
    assert run.code == 1, run.out
    assert says in run.err and str(bad) in run.err
    assert "Traceback" not in run.err + run.out


def test_show_refuses_a_fifo_at_once(cli: Cli, tmp_path: Path) -> None:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    run = cli("show", str(fifo), "--state-dir", str(cli.state), common=False)
    assert run.code == 1 and "not a regular file" in run.err


@pytest.mark.parametrize(("content", "says"), [
    (None, "not a regular file"),  # a FIFO: refused at once, never waited on
    (b'{"format": 2, "sections": {', ":1:28: not JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_apply_names_a_plan_file_it_cannot_read_as_show_does(
        cli: Cli, tmp_path: Path, content: bytes | None, says: str) -> None:
    bad = write_or_fifo(tmp_path / "bad.plan.json", content)
    run = cli("apply", str(bad), "--yes")
    assert run.code == 1, run.out
    assert says in run.err and str(bad) in run.err
    assert "Traceback" not in run.err + run.out


# -- history ----------------------------------------------------------------------------------


def test_history_lists_the_runs_of_the_audit_log(cli: Cli) -> None:
    assert cli("apply", "--yes").code == 0
    cli.applied()
    run = cli("history", "--state-dir", str(cli.state), common=False)
    assert run.code == 0
    assert "the last 1 of 1 runs" in run.out and "apply" in run.out and "ok" in run.out
    assert "alpha" in run.out and "create" in run.out
    data = json.loads(cli("history", "--format", "json", "--state-dir", str(cli.state),
                          common=False).out)
    [record] = data["runs"]
    assert record["commands"] == ["apply"] and record["targets"] == ["test"]
    assert record["failed"] == 0 and record["result"] == "ok"
    assert record["items"] == sum(record["actions"].values()) > 0
    assert record["operators"] and data["damaged"] == []


def test_history_names_damaged_lines_by_number_and_shows_the_rest(cli: Cli) -> None:
    assert cli("apply", "--yes").code == 0
    log = cli.state / "audit.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join([lines[0], b"\xff not utf-8\n", b"[1]\n", *lines[1:],
                              b'{"run": "x", "time": "2026-11-23T02:'[:20]]))
    run = cli("history", "--state-dir", str(cli.state), common=False)
    assert run.code == 1
    assert f"{log}:2: not UTF-8" in run.err and f"{log}:3: not a JSON object" in run.err
    assert f"{log}:{len(lines) + 3}: not JSON" in run.err
    assert "the last 1 of 1 runs" in run.out  # the good lines still make their run


def test_history_of_a_new_state_dir_says_there_is_none_yet(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["history", "--state-dir", str(tmp_path / "new")])
    assert result.exit_code == 0 and "does not exist yet" in result.stdout


# -- holds.yaml --------------------------------------------------------------------------------


def test_a_hold_of_a_person_not_in_the_export_holds_back_that_partner_alone(cli: Cli) -> None:
    assert cli("apply", "--yes").code == 0
    cli.applied()
    people = cli.inventory / "people" / "alpha.csv"
    people.write_text(people.read_text(encoding="utf-8").replace("Medewerker", "Adviseur", 1),
                      encoding="utf-8")
    (cli.inventory / "holds.yaml").write_text(
        "holds:\n  - {person: beta/9999, reason: INC-4711, until: 2026-12-31}\n",
        encoding="utf-8")
    checked = cli("validate")
    assert checked.code == 1
    assert "holds.yaml:2: unknown person beta/9999" in checked.err
    assert "would hold back beta" in checked.err and "the other partners" in checked.err
    planned = cli("plan", "--format", "json")
    assert planned.code == 2, planned.err
    directory = json.loads(planned.out)["sections"]["directory"]
    [held] = directory["held"]
    assert held["partner"] == "beta" and "unknown person beta/9999" in held["reason"]
    assert {c["partner"] for c in directory["changes"]} == {"alpha"}  # alpha goes on
    cli.directory.applied.clear()
    assert cli("apply", "--yes").code == 2  # applied; a partner held back
    assert {c.partner for c in cli.directory.applied} == {"alpha"}
