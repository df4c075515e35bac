"""render --check where a daemon's checker is not installed: skipped, naming the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc_infra.checks import NEEDS, check_file
from ssc_infra.model import HostRole
from ssc_infra.render import ROLE_FILES


def test_every_role_file_has_a_known_check() -> None:
    assert {f.check for files in ROLE_FILES.values() for f in files} <= set(NEEDS)
    assert set(ROLE_FILES) == set(HostRole)


def test_a_missing_checker_is_skipped_with_the_package_that_brings_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("ssc_infra.checks.shutil.which", lambda _: None)
    result = check_file("dhcp01", "etc/kea/kea-dhcp4.conf", ("kea-dhcp4", "-t"), tmp_path / "x")
    assert result.status == "skipped"
    assert "apt-get install kea-dhcp4-server" in result.message


def test_our_own_check_needs_nothing_installed(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setattr("ssc_infra.checks.shutil.which", lambda _: None)
    bad = tmp_path / "assignments.json"
    bad.write_text('{"format": "something/else"}')
    result = check_file("vdi01", "etc/ssc-vdi/assignments.json", ("ssc-check", "vdi"), bad)
    assert result.status == "failed"
    assert "unknown format 'something/else'" in result.message
