"""The audit log's hash chain: a line edited, removed or put in between is found by number,
and lines cut off at the end by the head file; written by threads and processes at once, the
chain still holds."""

from __future__ import annotations

import json
import multiprocessing
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.state.audit import verify_log
from ssc_infra.state.chain import GENESIS, digest
from ssc_infra.state.folder import StateDir


def _write(state: Path, n: int, start: int = 0) -> None:
    folder = StateDir(state)
    for i in range(start, start + n):
        folder.audit({"run": "r1", "command": "apply", "kind": "account", "action": "create",
                      "key": f"alpha/{i}", "result": "ok"})


def _lines(state: Path) -> list[bytes]:
    return (state / "audit.jsonl").read_bytes().split(b"\n")[:-1]


def _put(state: Path, lines: list[bytes]) -> None:
    (state / "audit.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))


def test_every_line_says_when_who_where_from_and_links_to_the_one_before(tmp_path: Path) -> None:
    _write(tmp_path, 3)
    lines = _lines(tmp_path)
    entries = [json.loads(line) for line in lines]
    assert entries[0]["prev"] == GENESIS
    assert [e["prev"] for e in entries[1:]] == [digest(line) for line in lines[:-1]]
    for e in entries:
        assert e["time"] and "@" in e["operator"] and e["host"] and e["origin"]
    report = verify_log(tmp_path / "audit.jsonl")
    assert report.intact and report.lines == report.chained == 3


@pytest.mark.parametrize(("how", "line"), [
    ("edit", 4), ("remove", 3), ("insert", 4), ("swap", 3), ("remove first", 1)])
def test_a_line_changed_removed_or_put_in_is_found_by_number(
        tmp_path: Path, how: str, line: int) -> None:
    _write(tmp_path, 6)
    lines = _lines(tmp_path)
    if how == "edit":  # a failed item made to look fine
        lines[2] = lines[2].replace(b'"result": "ok"', b'"result": "failed"')
    elif how == "remove":
        del lines[2]
    elif how == "insert":
        lines.insert(3, lines[1])
    elif how == "swap":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        del lines[0]
    _put(tmp_path, lines)
    report = verify_log(tmp_path / "audit.jsonl")
    assert not report.intact
    assert line in [f.line for f in report.findings], report.findings


def test_lines_cut_off_at_the_end_or_a_last_line_changed_are_found_by_the_head(
        tmp_path: Path) -> None:
    _write(tmp_path, 4)
    lines = _lines(tmp_path)
    _put(tmp_path, lines[:-1])
    assert "were removed" in verify_log(tmp_path / "audit.jsonl").findings[0].problem
    _put(tmp_path, [*lines[:-1], lines[-1].replace(b"alpha/3", b"alpha/9")])
    assert "changed" in verify_log(tmp_path / "audit.jsonl").findings[0].problem
    (tmp_path / "audit.jsonl.head").unlink()
    _put(tmp_path, lines)
    assert "head file" in verify_log(tmp_path / "audit.jsonl").findings[0].problem


def test_lines_of_an_earlier_version_stay_and_the_chain_begins_after_them(
        tmp_path: Path) -> None:
    old = [json.dumps({"time": "2026-11-01T00:00:00+00:00", "run": "r0", "result": "ok"})
           .encode() for _ in range(2)]
    _put(tmp_path, old)
    _write(tmp_path, 2)
    report = verify_log(tmp_path / "audit.jsonl")
    assert report.intact and (report.unchained, report.chained) == (2, 2)
    assert json.loads(_lines(tmp_path)[2])["prev"] == digest(old[1])


def test_a_line_cut_off_by_a_crash_stays_a_line_and_the_next_entry_starts_its_own(
        tmp_path: Path) -> None:
    _write(tmp_path, 2)
    with (tmp_path / "audit.jsonl").open("ab") as handle:
        handle.write(b'{"time": "2026-')  # killed mid-write
    _write(tmp_path, 1, start=2)
    lines = _lines(tmp_path)
    assert len(lines) == 4 and json.loads(lines[3])["key"] == "alpha/2"
    report = verify_log(tmp_path / "audit.jsonl")
    assert [f.line for f in report.findings] == [3]  # named, not hidden


def _write_in_process(state: str, start: int) -> None:
    _write(Path(state), 100, start)


def test_threads_and_processes_appending_at_once_make_one_chain(tmp_path: Path) -> None:
    threads = [threading.Thread(target=_write, args=(tmp_path, 100, i * 100)) for i in range(3)]
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=_write_in_process, args=(str(tmp_path), 1000 + i * 100))
                 for i in range(2)]
    for process in processes:
        process.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join()
    report = verify_log(tmp_path / "audit.jsonl")
    assert report.intact and report.lines == 500, report.findings[:3]


def test_history_verify_says_whether_the_chain_holds(tmp_path: Path) -> None:
    _write(tmp_path, 3)
    runner = CliRunner()
    good = runner.invoke(main, ["history", "--verify", "--state-dir", str(tmp_path)])
    assert good.exit_code == 0 and "the chain holds" in good.output
    lines = _lines(tmp_path)
    del lines[1]
    _put(tmp_path, lines)
    bad = runner.invoke(main, ["history", "--verify", "--state-dir", str(tmp_path),
                               "--format", "json"])
    assert bad.exit_code == 1
    assert json.loads(bad.output)["findings"][0]["line"] == 2
