"""The ssc_files Ansible module's logic on a temp folder: digests, the plan's refusal, the
checker, validation and the atomic replace, without Ansible around it."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.hosts.ansible import task_changes
from tests.conftest import playbook_module

files_module = playbook_module("ssc_files")
CONF = "/etc/samba/smb.conf"
SEEN: list[str] = []


def run_command(argv: list[str]) -> tuple[int, str, str]:
    """The module's own, noting the file each check was given."""
    SEEN.append(argv[-1])
    result: tuple[int, str, str] = files_module.run_command(argv)
    return result


def params(root: Path, content: str = "[global]\nworkgroup = SSC\n", mode: str = "0644",
           validate: str = "", **extra: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "root": str(root), "expect": {}, "checker": "#!/bin/sh\nexit 0\n",
        "checker_path": str(root / "usr/local/sbin/ssc-check"),
        "files": [{"path": CONF, "content": content, "mode": mode, "validate": validate}]}
    values.update(extra)
    return values


def run(values: dict[str, Any], check_mode: bool = False) -> dict[str, Any]:
    result: dict[str, Any] = files_module.run(values, check_mode, True, run_command)
    return result


def test_a_first_run_writes_the_file_and_the_checker_and_a_second_changes_nothing(
        tmp_path: Path) -> None:
    first = run(params(tmp_path))
    conf = tmp_path / CONF.lstrip("/")
    assert first["changed"] and first["checker_changed"]
    assert first["ssc_files"] == [{"path": CONF, "sha256": "absent", "changed": True}]
    assert conf.read_text() == "[global]\nworkgroup = SSC\n"
    assert conf.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "usr/local/sbin/ssc-check").stat().st_mode & 0o777 == 0o755
    second = run(params(tmp_path))
    assert not second["changed"] and "diff" not in second
    assert second["ssc_files"][0]["sha256"] == files_module.digest(conf.read_bytes())
    assert sorted(p.name for p in conf.parent.iterdir()) == ["smb.conf"]  # no temp left


def test_check_mode_shows_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    result = run(params(tmp_path), check_mode=True)
    assert result["changed"] and result["checker_changed"]
    assert result["diff"] == [{"before_header": CONF, "after_header": CONF, "before": "",
                               "after": "[global]\nworkgroup = SSC\n"}]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "usr").exists()


def test_a_file_changed_since_the_plan_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    run(params(tmp_path))
    conf = tmp_path / CONF.lstrip("/")
    conf.write_text("[global]\nworkgroup = BY HAND\n")
    with pytest.raises(files_module.Failure) as refused:
        run(params(tmp_path, "[global]\nworkgroup = NEW\n", expect={CONF: "0" * 64}))
    assert "changed since the plan was made" in refused.value.msg
    assert refused.value.extra["ssc_files"][0]["sha256"] == files_module.digest(
        conf.read_bytes())
    assert conf.read_text() == "[global]\nworkgroup = BY HAND\n"


def test_a_file_its_checker_refuses_leaves_the_old_one(tmp_path: Path) -> None:
    run(params(tmp_path))
    conf = tmp_path / CONF.lstrip("/")
    SEEN.clear()
    with pytest.raises(files_module.Failure) as refused:
        run(params(tmp_path, "[global]\nread only = maybe\n",
                   validate="sh -c 'grep -q maybe \"$0\" && echo refused >&2 && exit 1' %s"))
    assert refused.value.msg == "failed to validate"
    assert refused.value.extra["stderr"].strip() == "refused"
    assert conf.read_text() == "[global]\nworkgroup = SSC\n"
    assert Path(SEEN[0]).name == "smb.conf"  # checked under its own name (wg-quick cares)
    assert sorted(p.name for p in conf.parent.iterdir()) == ["smb.conf"]


def test_a_new_mode_alone_is_a_change_that_names_both_modes(tmp_path: Path) -> None:
    run(params(tmp_path))
    result = run(params(tmp_path, mode="0600"))
    assert result["ssc_files"][0]["mode"] == ["0644", "0600"] and "diff" not in result
    assert (tmp_path / CONF.lstrip("/")).stat().st_mode & 0o777 == 0o600
    (change,) = task_changes("fs01", "smb", result)
    assert change.target == CONF and change.after["diff"] == "~ mode 0644 -> 0600"


@pytest.mark.parametrize(("files", "message"), [
    ([{"path": "etc/x", "content": "x"}], "an absolute path"),
    ([{"path": "/etc/x"}], "an absolute path and a content"),
    ([{"path": "/etc/x", "content": "x", "mode": "rw"}], "is not octal"),
    ([{"path": "/etc/x", "content": "x", "validate": "kea-dhcp4 -t"}], "has no %s"),
])
def test_a_bad_argument_fails_before_anything_is_written(
        tmp_path: Path, files: list[dict[str, str]], message: str) -> None:
    with pytest.raises(files_module.Failure, match=message):
        run(params(tmp_path, files=files))
    assert not any(tmp_path.iterdir())


def test_a_run_result_becomes_one_change_per_file_and_one_for_the_checker(
        tmp_path: Path) -> None:
    result = run(params(tmp_path), check_mode=True)
    checker, conf = task_changes("fs01", "smb", result)
    assert (checker.key, conf.key) == ("fs01:ssc-check", f"fs01:{CONF}")
    assert conf.after["added"] == 2 and conf.after["removed"] == 0
    assert "+workgroup = SSC" in conf.after["diff"]


def test_what_a_killed_run_left_beside_a_file_is_cleared_and_nothing_else(
        tmp_path: Path) -> None:
    """A run killed between writing the checked file and renaming it leaves a .ssc-* folder
    beside it (the old file in place); the next write there removes it once it is an hour
    old, and only a folder of exactly that shape."""
    etc = tmp_path / "etc/samba"
    etc.mkdir(parents=True)
    old = time.time() - 2 * files_module.LEFTOVER_AGE
    made = {}
    for name, inside in (("left", "smb.conf"), ("empty", None), ("other", "notes.txt"),
                         ("young", "smb.conf"), ("sub", "smb.conf/")):
        folder = etc / f".ssc-{name}"
        folder.mkdir()
        if inside and inside.endswith("/"):
            (folder / inside.rstrip("/")).mkdir()
        elif inside:
            (folder / inside).write_text("[global]\n")
        if name != "young":
            os.utime(folder, (old, old))
        made[name] = folder
    (etc / ".ssc-link").symlink_to(made["other"])
    (etc / ".ssc-x.conf").write_text("a file, not a folder")
    os.utime(etc / ".ssc-x.conf", (old, old))

    result = run(params(tmp_path))
    assert result["changed"]
    left = sorted(p.name for p in etc.iterdir())
    assert left == [".ssc-link", ".ssc-other", ".ssc-sub", ".ssc-x.conf", ".ssc-young",
                    "smb.conf"]
    assert (etc / "smb.conf").read_text() == "[global]\nworkgroup = SSC\n"
