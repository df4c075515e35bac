"""Shared test helpers: the mini inventory and the data-case loader."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "fixtures" / "mini"
CASES = ROOT / "tests" / "cases"
TODAY = date(2026, 11, 23)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile` (make test), with every file that uses NetBox in one process (one
    NetBox for the run instead of one per process: starting one takes half a minute), and the
    files handed out longest first by kind: the `make demo` test (a third of the run), the
    other integration files, then the unit files, so that the run ends on short files in both
    processes rather than one process on the demo."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling  # type: ignore[import-untyped]

    class FilesAndNetBox(LoadFileScheduling):  # type: ignore[misc]
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return "NetBox" if path in uses_netbox else path

        def _assign_work_unit(self, node: Any) -> None:
            if not self.ordered:  # pytest-xdist put the files with the most tests first
                queue = sorted(self.workqueue.items(), key=lambda item: _kind(item[0]))
                self.workqueue.clear()
                self.workqueue.update(queue)
                self.ordered = True
            super()._assign_work_unit(node)

    # A file that takes the NetBox fixture names its type (the fixture is in netbox_server.py).
    uses_netbox = {path.relative_to(ROOT).as_posix()
                   for path in (ROOT / "tests").rglob("test_*.py")
                   if "NetBoxServer" in path.read_text(encoding="utf-8")}
    return FilesAndNetBox(config, log)


def _kind(scope: str) -> int:
    """The order in which `make test` hands out the test files (stable within a kind)."""
    if scope.endswith("/test_demo.py"):
        return 0
    return 2 if scope.startswith("tests/unit/") else 1


def data_cases(concept: str) -> list[Any]:
    """Every case of tests/cases/<concept>/*.yaml as pytest params, with readable ids."""
    params = []
    for path in sorted((CASES / concept).glob("*.yaml")):
        for case in yaml.safe_load(path.read_text(encoding="utf-8")):
            params.append(pytest.param(case, id=f"{path.stem}: {case['name']}"))
    return params


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A fresh copy of the mini inventory that a test may break."""
    target = tmp_path / "inventory"
    shutil.copytree(MINI, target)
    return target


def playbook_module(name: str) -> ModuleType:
    """One of the project's Ansible modules (playbooks/library/NAME.py), imported to test its
    logic without Ansible around it."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "playbooks" / "library" /
                                                  f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def as_ansible_runs_it(name: str, params: Any, folder: Path) -> tuple[int, dict[str, Any]]:
    """Run playbooks/library/NAME.py as Ansible runs a WANT_JSON module: its arguments in a
    JSON file (written to FOLDER), its result on stdout; the exit code and the result."""
    args = folder / "args.json"
    args.write_text(json.dumps(params), encoding="utf-8")
    done = subprocess.run([sys.executable, str(ROOT / "playbooks" / "library" / f"{name}.py"),
                           str(args)], capture_output=True, text=True, check=False)
    assert done.stderr == ""
    result: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, result


def write_or_fifo(path: Path, content: bytes | None) -> Path:
    """`content` written at `path`, or with None a FIFO there (a reader must not wait on it)."""
    if content is None:
        os.mkfifo(path)
    else:
        path.write_bytes(content)
    return path


def drop_target(mini: Path, *folders: Path) -> Path:
    """A targets file whose `lab` target lets export files be read from FOLDERS."""
    targets = mini / "targets.yaml"
    targets.write_text(yaml.safe_dump({"lab": {"hr": {"drop_folders": [str(f) for f in
                                                                       folders]}}}),
                       encoding="utf-8")
    return targets
