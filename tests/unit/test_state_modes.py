"""Personal data at rest is 0600 in a 0700 state dir, whatever the umask of the operator."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssc_infra.state.folder import (
    StateDir,
    StateError,
    open_private,
    private_dir,
    tighten,
    write_private,
)

HR_ROW = "1001,Wâtse,,Bûmâ,Burgerzaken,Adviseur,alp-hq,vdi,2020-01-01,\n"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Umask 0o000: anything created without an explicit mode would be world-writable."""
    old = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def modes_below(root: Path) -> dict[str, int]:
    found = {".": mode(root)}
    for path in sorted(root.rglob("*")):
        found[str(path.relative_to(root))] = mode(path)
    return found


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_state_dir_and_its_missing_parents_are_0700(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "work" / "checkout" / ".ssc")
    state.ensure()
    assert mode(tmp_path / "work") == 0o700
    assert mode(tmp_path / "work" / "checkout") == 0o700
    assert mode(state.path) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_an_existing_loose_state_dir_is_tightened_with_every_folder_below(tmp_path: Path) -> None:
    root = tmp_path / ".ssc"
    for folder in (root, root / "reports", root / "applied-inventory" / "people",
                   root / "bundles" / "0123abcd"):
        folder.mkdir(parents=True, mode=0o777)
        folder.chmod(0o777)
    StateDir(root).ensure()
    assert set(modes_below(root).values()) == {0o700}


@pytest.mark.usefixtures("permissive_umask")
def test_the_lab_keeps_the_modes_its_dc_and_hosts_need(tmp_path: Path) -> None:
    # Samba refuses to start when ldap_priv is not 0750; a lab home's mode is managed state.
    ldap_priv = tmp_path / ".ssc" / "lab" / "dc" / "private" / "ldap_priv"
    homes = tmp_path / ".ssc" / "lab" / "hosts" / "fs01" / "srv" / "homes"
    for folder, wanted in ((ldap_priv, 0o750), (homes, 0o755)):
        folder.mkdir(parents=True)
        folder.chmod(wanted)
    (tmp_path / ".ssc").chmod(0o755)
    StateDir(tmp_path / ".ssc").ensure()
    assert mode(tmp_path / ".ssc") == 0o700
    assert mode(ldap_priv) == 0o750 and mode(homes) == 0o755


@pytest.mark.usefixtures("permissive_umask")
def test_a_symlinked_folder_in_the_state_dir_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared-with-the-team"
    elsewhere.mkdir(mode=0o755)
    elsewhere.chmod(0o755)
    root = private_dir(tmp_path / ".ssc")
    (root / "link").symlink_to(elsewhere, target_is_directory=True)
    tighten(root)
    assert mode(elsewhere) == 0o755


@pytest.mark.usefixtures("permissive_umask")
def test_write_private_makes_a_0600_file_and_0700_folders(tmp_path: Path) -> None:
    target = tmp_path / ".ssc" / "applied-inventory" / "people" / "alpha.csv"
    write_private(target, HR_ROW)
    assert target.read_text(encoding="utf-8") == HR_ROW
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700 and mode(tmp_path / ".ssc") == 0o700
    write_private(target, HR_ROW.encode("utf-8") * 2)  # bytes too; replaces the content
    assert target.read_text(encoding="utf-8") == HR_ROW * 2
    assert [p.name for p in target.parent.iterdir()] == ["alpha.csv"]  # no temp file left


@pytest.mark.usefixtures("permissive_umask")
def test_write_private_replaces_a_loose_file_without_ever_exposing_the_new_data(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "plan.json"
    target.write_text("{}")
    target.chmod(0o644)
    seen: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:  # the moment the data is on disk, before the rename
        seen.append(stat.S_IMODE(os.fstat(fd).st_mode))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    write_private(target, '{"changes": []}\n')
    assert seen[0] == 0o600
    assert mode(target) == 0o600 and target.read_text() == '{"changes": []}\n'


@pytest.mark.usefixtures("permissive_umask")
def test_write_private_leaves_an_existing_folder_of_the_operator_alone(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    checkout.chmod(0o755)
    write_private(checkout / "demo.plan.json", "{}\n")  # plan --out next to the inventory
    assert mode(checkout) == 0o755
    assert mode(checkout / "demo.plan.json") == 0o600


@pytest.mark.usefixtures("permissive_umask")
def test_a_failed_write_leaves_the_old_file_and_no_temp_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "addresses.json"
    write_private(target, "old\n")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(StateError, match=r"cannot write .*addresses.json: No space left"):
        write_private(target, "new\n")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["addresses.json"]


@pytest.mark.usefixtures("permissive_umask")
def test_the_audit_log_and_the_run_lock_are_0600(tmp_path: Path) -> None:
    state = StateDir(tmp_path / ".ssc")
    with state.run_lock("ssc-infra apply --yes"):
        state.audit({"command": "apply", "key": "alpha/1001", "result": "ok"})
    assert mode(state.path / "run.lock") == 0o600
    assert mode(state.audit_log) == 0o600
    assert set(modes_below(state.path).values()) == {0o700, 0o600}


@pytest.mark.usefixtures("permissive_umask")
def test_a_loose_audit_log_is_tightened_before_the_next_line(tmp_path: Path) -> None:
    state = StateDir(private_dir(tmp_path / ".ssc"))
    state.audit_log.write_text('{"old": true}\n')
    state.audit_log.chmod(0o644)
    state.audit({"command": "apply", "key": "alpha/1002", "result": "ok"})
    assert mode(state.audit_log) == 0o600
    assert state.audit_log.read_text().count("\n") == 2  # appended, nothing lost


@pytest.mark.usefixtures("permissive_umask")
def test_open_private_truncates_or_appends_at_0600(tmp_path: Path) -> None:
    path = tmp_path / ".ssc" / "reports" / "drift.txt"
    with open_private(path) as handle:
        handle.write("one\n")
    with open_private(path, append=True) as handle:
        handle.write("two\n")
    assert path.read_text() == "one\ntwo\n" and mode(path) == 0o600
    with open_private(path) as handle:
        handle.write("three\n")
    assert path.read_text() == "three\n"


@pytest.mark.usefixtures("permissive_umask")
def test_the_credentials_folder_is_tightened_too(tmp_path: Path) -> None:
    state = StateDir(tmp_path / ".ssc")
    (state.path / "credentials").mkdir(parents=True)
    (state.path / "credentials").chmod(0o755)
    with state.credentials("run1") as credentials:
        credentials.add("alpha", "1001", "wbuma", "watse.buma@alpha.example", "Xk3#pw9vLq2")
    assert mode(state.path / "credentials") == 0o700
    assert mode(credentials.path) == 0o600


def test_a_state_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    (tmp_path / ".ssc").write_text("not a folder")
    with pytest.raises(StateError, match=r"\.ssc is not a folder"):
        StateDir(tmp_path / ".ssc").ensure()


@pytest.mark.usefixtures("permissive_umask")
def test_concurrent_writers_each_leave_a_whole_private_file(tmp_path: Path) -> None:
    target = tmp_path / ".ssc" / "addresses.json"
    texts = [f'{{"writer": {n}}}\n' * 200 for n in range(8)]
    threads = [threading.Thread(target=write_private, args=(target, t)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert target.read_text() in texts and mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["addresses.json"]
