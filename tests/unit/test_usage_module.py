"""The ssc_usage Ansible module's logic on a temp folder: bytes per partner, read only."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import playbook_module

usage_module = playbook_module("ssc_usage")


def params(root: Path, partners: list[str]) -> dict[str, Any]:
    return {"root": str(root), "partners": partners, "homes_dir": "/srv/homes",
            "archive_dir": "/srv/archive/homes"}


def _write(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    return path


def _tree(path: Path) -> list[tuple[str, int, float]]:
    return sorted((str(p), p.lstat().st_mode, p.lstat().st_mtime) for p in path.rglob("*"))


def test_counts_the_bytes_of_each_partners_homes_and_archive_and_changes_nothing(
        tmp_path: Path) -> None:
    homes = tmp_path / "srv/homes"
    _write(homes / "alpha/wbuma/notes.txt", 1000)
    _write(homes / "alpha/wbuma/deep/er/report.odt", 24_576)
    _write(homes / "alpha/jvries/.profile", 7)
    _write(tmp_path / "srv/archive/homes/alpha/yvmeer/old.txt", 300)
    _write(homes / "beta/jhoekstra/a.bin", 5)
    before = _tree(tmp_path)
    found = usage_module.run(params(tmp_path, ["alpha", "beta", "gamma"]))
    assert found["alpha"] == {"homes_bytes": 25_583, "homes_files": 3, "archive_bytes": 300,
                              "archive_files": 1, "unreadable": 0, "problems": []}
    assert found["beta"]["homes_bytes"] == 5
    assert found["gamma"]["homes_bytes"] == 0 and found["gamma"]["unreadable"] == 0  # no folder
    assert _tree(tmp_path) == before


def test_a_hard_linked_file_counts_once_and_a_symlink_is_not_followed(tmp_path: Path) -> None:
    home = tmp_path / "srv/homes/alpha/wbuma"
    big = _write(home / "big.iso", 4096)
    os.link(big, home / "same.iso")
    _write(tmp_path / "elsewhere/secret.bin", 1_000_000)
    (home / "link").symlink_to(tmp_path / "elsewhere")
    (home / "file-link").symlink_to(tmp_path / "elsewhere/secret.bin")
    found = usage_module.run(params(tmp_path, ["alpha"]))
    assert found["alpha"]["homes_bytes"] == 4096 and found["alpha"]["homes_files"] == 1


def test_a_folder_that_cannot_be_read_is_reported_with_its_path_on_the_host(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "srv/homes/alpha/wbuma/a.txt", 10)
    _write(tmp_path / "srv/homes/alpha/jvries/b.txt", 20)
    real = os.scandir
    locked = str(tmp_path / "srv/homes/alpha/jvries")

    def scandir(path: Any) -> Any:
        if str(path) == locked:  # root reads everything: a denial is made here
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(usage_module.os, "scandir", scandir)
    found = usage_module.run(params(tmp_path, ["alpha"]))["alpha"]
    assert found["homes_bytes"] == 10 and found["unreadable"] == 1
    assert found["problems"] == ["/srv/homes/alpha/jvries: Permission denied"]


def test_a_partner_code_that_is_no_code_is_refused(tmp_path: Path) -> None:
    for bad in ("../etc", "alpha/x", "", ".ssh", "Alpha"):
        with pytest.raises(ValueError, match="not a partner code"):
            usage_module.run(params(tmp_path, [bad]))
