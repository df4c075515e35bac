"""Which hosts a plan may trust by one read: the records and the read command (pure parts)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from ssc_infra.hosts.ansible import HostOutcome, RunResult, file_change
from ssc_infra.hosts.sync import (
    RECORDS,
    InSync,
    after_run,
    host_key,
    in_sync,
    load_records,
    read_command,
    save_records,
)


def _bundle(tmp_path: Path, smb: str = "[global]\n") -> Path:
    bundle = tmp_path / "bundle"
    (bundle / "fs01/etc/samba").mkdir(parents=True)
    (bundle / "fs01/.ssc").mkdir()
    (bundle / "fs01/etc/samba/smb.conf").write_text(smb)
    (bundle / "fs01/.ssc/homes.json").write_text(json.dumps({"partners": ["alpha"]}))
    (bundle / "manifest.json").write_text(json.dumps(
        {"digest": "x", "hosts": {"fs01": [".ssc/homes.json", "etc/samba/smb.conf"]}}))
    return bundle


def test_the_read_quotes_every_path_and_reads_files_modes_and_homes(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    root = tmp_path / "a root with 'quotes' and $(touch pwned)"
    (root / "etc/samba").mkdir(parents=True)
    (root / "etc/samba/smb.conf").write_text("[global]\n")
    (root / "etc/samba/smb.conf").chmod(0o644)  # whatever the umask
    (root / "srv/homes/alpha/jan").mkdir(parents=True)
    command = read_command(bundle, "fs01", str(root))
    assert ".ssc/homes.json" not in command  # the tool's own data is not on the host

    def read() -> str:
        return subprocess.run(["sh", "-c", command], capture_output=True, text=True,
                              check=True, cwd=tmp_path).stdout.strip()

    first = read()
    assert len(first.split()[0]) == 64 and read() == first  # a hash; the same when unchanged
    (root / "etc/samba/smb.conf").chmod(0o600)
    assert read() != first
    (root / "etc/samba/smb.conf").chmod(0o644)
    assert read() == first
    (root / "srv/homes/alpha/jan").rmdir()
    assert read() != first
    assert not (tmp_path / "pwned").exists()  # nothing in the root's name ran


def test_a_record_holds_only_for_the_same_bundle_playbooks_and_run(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path)
    key = host_key(bundle, "fs01", "p1", {"ssc_hold_archive": []})
    assert key == host_key(bundle, "fs01", "p1", {"ssc_hold_archive": [], "ssc_expect": {1: 2}})
    assert key != host_key(bundle, "fs01", "p2", {"ssc_hold_archive": []})
    assert key != host_key(bundle, "fs01", "p1", {"ssc_hold_archive": ["alpha"]})
    other = _bundle(tmp_path / "other", smb="[global]\nx = y\n")
    assert key != host_key(other, "fs01", "p1", {"ssc_hold_archive": []})


def _result(outcome: HostOutcome, *, changed: bool = False,
            digests: dict[str, str] | None = None) -> RunResult:
    changes = (file_change("fs01", "/etc/samba/smb.conf", "", 1, 0),) if changed else ()
    return RunResult("successful", 0, {"fs01": outcome}, changes,
                     {"fs01": digests or {"/etc/samba/smb.conf": "seen", "homes": "h0"}})


@pytest.mark.parametrize(("check", "outcome", "changed", "recorded"), [
    pytest.param(True, HostOutcome("fs01", read="r"), False, True, id="check-found-nothing"),
    pytest.param(True, HostOutcome("fs01", read="r"), True, False, id="check-found-a-change"),
    pytest.param(False, HostOutcome("fs01", read="r", homes_after="h1"), True, True,
                 id="apply-went-well"),
    pytest.param(False, HostOutcome("fs01", read="r", homes_after="h1", failed=True), True,
                 False, id="apply-failed"),
    pytest.param(False, HostOutcome("fs01", read="r", homes_after="h1", homes_held=True), True,
                 False, id="homes-held-by-the-archive-limit"),
    pytest.param(True, HostOutcome("fs01", read=None), False, False, id="no-read"),
    pytest.param(False, HostOutcome("fs01", read="r"), False, False, id="homes-not-done"),
])
def test_a_host_is_recorded_only_when_the_run_left_it_as_the_bundle_wants(
        tmp_path: Path, check: bool, outcome: HostOutcome, changed: bool, recorded: bool) -> None:
    bundle = _bundle(tmp_path)
    old = {"fs01": InSync("k0", "c0", "r0", {}), "vpn01": InSync("k", "c", "r", {"a": "b"})}
    records = after_run(old, _result(outcome, changed=changed), check=check, hosts=["fs01"],
                        keys={"fs01": "k1"}, commands={"fs01": "c1"}, bundle=bundle)
    assert records["vpn01"] == old["vpn01"]  # hosts not in the run keep their record
    assert ("fs01" in records) is recorded
    if recorded and not check:  # after an apply the host holds the bundle's file
        assert records["fs01"].expect == {
            "/etc/samba/smb.conf": hashlib.sha256(b"[global]\n").hexdigest(), "homes": "h1"}
    if recorded and check:
        assert records["fs01"].expect == {"/etc/samba/smb.conf": "seen", "homes": "h0"}


def test_in_sync_needs_the_same_key_and_the_same_read() -> None:
    records = {"a": InSync("k", "c", "r", {}), "b": InSync("k", "c", "r", {}),
               "c": InSync("k", "c", "", {})}
    assert set(in_sync(records, {"a": "k", "b": "other", "c": "k"},
                       {"a": "r", "b": "r", "c": ""})) == {"a"}
    assert in_sync(records, {"a": "k"}, {"a": "changed"}) == {}


def test_records_survive_a_round_trip_and_a_damaged_file_means_a_full_check(
        tmp_path: Path) -> None:
    records = {"fs01": InSync("k", "c", "r", {"homes": "h"})}
    save_records(tmp_path, records)
    assert load_records(tmp_path) == records
    assert (tmp_path / RECORDS).stat().st_mode & 0o777 == 0o600
    for damaged in ("", "{", "[]", '{"fs01": {"key": 1}}', '{"fs01": 3}'):
        (tmp_path / RECORDS).write_text(damaged)
        assert load_records(tmp_path) == {}


def test_playbook_runs_in_threads_at_once_put_the_umask_back_once_all_are_done() -> None:
    from ssc_infra.hosts.ansible import owner_only_umask

    before = os.umask(0o022)
    try:
        first, second = owner_only_umask(), owner_only_umask()
        first.__enter__()
        second.__enter__()
        first.__exit__(None, None, None)  # the first ends while the second still runs
        assert os.umask(0o077) == 0o077
        second.__exit__(None, None, None)
        assert os.umask(0o022) == 0o022
    finally:
        os.umask(before)
