"""Shared test helpers: the mini inventory and the data-case loader."""

from __future__ import annotations

import importlib.util
import shutil
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


# The longest files of tests/integration/ first, then the other integration tests, the unit
# tests last: `make test` hands out whole files in this order (pytest-xdist --dist loadfile
# --no-loadscope-reorder), so no long file starts last and keeps one process busy alone at
# the end (the longest first is how a schedule of unequal jobs over few workers ends soonest).
LONGEST_FIRST = ("test_demo.py", "test_run_safety.py", "test_one_plan.py", "test_lifecycle.py",
                 "test_hosts.py", "test_host_sync.py", "test_onboard.py", "test_netbox.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> tuple[int, int]:
        name, integration = item.path.name, "integration" in item.path.parts
        if integration and item.path.parent.name == "integration" and name in LONGEST_FIRST:
            return 0, LONGEST_FIRST.index(name)
        return (1 if integration else 2), 0

    items.sort(key=rank)  # stable: each file's tests stay in their order
