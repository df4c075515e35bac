"""pyproject.toml names every package the wheel carries: setuptools' `find` cannot see the two
that package-dir maps in from the top of the repository, so the list is by name, and a new
package of ssc_infra/ left out of it would be missing from an installed ssc-infra. (The wheel
itself is built and checked by tests/integration/test_wheel.py.)
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.errors import SscError
from ssc_infra.core.packaged import CHECKER, PLAYBOOKS, REPORT_TEMPLATES, TEMPLATES, packaged
from tests.conftest import ROOT


def _setuptools() -> Any:
    with (ROOT / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["tool"]["setuptools"]


def test_every_package_of_the_checkout_is_in_the_wheel() -> None:
    config = _setuptools()
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "ssc_infra").rglob("__init__.py") if "__pycache__" not in p.parts}
    assert set(config["packages"]) == found | set(config["package-dir"])


def test_the_mapped_packages_are_the_top_level_folders() -> None:
    mapped = _setuptools()["package-dir"]
    assert mapped == {"ssc_infra.playbooks": PLAYBOOKS, "ssc_infra.templates": TEMPLATES}
    for package, folder in mapped.items():
        assert (ROOT / folder / "__init__.py").is_file(), folder
        # the editable install of the project venv maps them to this checkout
        assert Path(str(resources.files(package))).resolve() == ROOT / folder


def test_the_packaged_files_are_found() -> None:
    assert packaged(f"{PLAYBOOKS}/site.yml").is_file()
    assert packaged(CHECKER).is_file()
    assert packaged(f"{TEMPLATES}/smb.conf.j2").is_file()
    assert packaged(f"{REPORT_TEMPLATES}/drift.html.j2").is_file()


def test_a_leftover_folder_in_place_of_a_package_is_named(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # what a namespace package ssc_infra/playbooks/ (a stale __pycache__) gives in its place
    (tmp_path / "__pycache__").mkdir()
    monkeypatch.setattr(resources, "files", lambda package: tmp_path)
    with pytest.raises(SscError, match=r"remove a leftover folder ssc_infra/playbooks/"):
        packaged(f"{PLAYBOOKS}/site.yml")
