"""`partner offboard --to`: the bundle's folder is checked before anything is read or written
— resolved to the absolute path the partner file records, or refused naming `--to`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.lifecycle.handover import BundleError, bundle_folder
from tests.conftest import MINI


def test_dot_dot_parts_and_relative_paths_resolve_to_the_absolute_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    found = bundle_folder(Path("../probe/.ssc/../../pt/rel"))
    assert found == tmp_path / "a" / "pt" / "rel"
    assert found.is_absolute() and ".." not in found.parts
    assert not found.exists()  # nothing is made before the bundle is written


def test_a_symlink_to_an_empty_folder_is_the_folder_it_points_to(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert bundle_folder(tmp_path / "link") == real


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.write_text("x"), "is a file, not a folder"),
    (lambda p: (p.mkdir(), (p / "old.csv").write_text("x")), "is not an empty folder (1 entry)"),
    (lambda p: ((p.parent / "target.txt").write_text("x"),
                p.symlink_to(p.parent / "target.txt")), "is a file, not a folder"),
    (lambda p: p.symlink_to(p), "cannot be resolved"),
])
def test_what_is_refused_names_the_option_and_says_what_to_give(
        tmp_path: Path, make: object, says: str) -> None:
    target = tmp_path / "bundle"
    make(target)  # type: ignore[operator]
    with pytest.raises(BundleError, match=r"^--to ") as raised:
        bundle_folder(target)
    assert says in str(raised.value)


@pytest.mark.parametrize("name", ["new\nline", "tab\there", "x" * 1100])
def test_a_path_the_partner_file_cannot_hold_is_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BundleError, match="partner file records the bundle's folder"):
        bundle_folder(tmp_path / name[:255] / name[255:] if len(name) > 255 else tmp_path / name)


def test_the_command_refuses_before_it_reads_anything(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("someone's files")
    result = CliRunner().invoke(main, [
        "partner", "offboard", "alpha", "--to", str(taken), "--inventory", str(MINI),
        "--targets", str(tmp_path / "no-such-targets.yaml"), "--state-dir",
        str(tmp_path / "state")])
    assert result.exit_code == 1
    assert "Invalid value for --to:" in result.stderr and "is not an empty folder" in result.stderr
    assert sorted(p.name for p in taken.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "state").exists()


def test_a_bundle_inside_the_inventory_is_refused(tmp_path: Path) -> None:
    import shutil

    inventory = tmp_path / "inventory"
    shutil.copytree(MINI, inventory)
    result = CliRunner().invoke(main, [
        "partner", "offboard", "alpha", "--to", str(inventory / "handover"), "--inventory",
        str(inventory), "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 1
    assert "Invalid value for --to:" in result.stderr and "inside the inventory" in result.stderr
    assert not (inventory / "handover").exists()
