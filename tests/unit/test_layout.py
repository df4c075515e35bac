"""The structure stays as docs/architecture.md draws it: modules small enough to read, no
module reaching into another's private names, and the product holding no lab.

The layers, the independence of the per-system packages and the absence of import circles are
import-linter's contracts (`make lint`); what it cannot see is checked here, from the source.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAX_LINES = 600
CODE = ("ssc_infra", "lab/ssc_infra_lab", "tests", "bench")
# Ansible modules and the host-side checker run on the managed host, in Ansible's own style.
HOST_SIDE = ("playbooks",)


def _modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def _module_name(path: Path) -> str:
    relative = path.relative_to(ROOT / "lab" if path.is_relative_to(ROOT / "lab") else ROOT)
    parts = relative.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _private_imports(path: Path) -> Iterator[str]:
    """`from a.b import _x` where a.b is another module (not the importer's own package's
    `__init__` re-exporting its parts)."""
    own = _module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or node.module is None or node.level:
            continue
        if not node.module.startswith(("ssc_infra", "tests", "bench")):
            continue
        for alias in node.names:
            private = alias.name.startswith("_") and not alias.name.startswith("__")
            if private and node.module != own:
                yield f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{alias.name}"


def test_no_module_is_longer_than_the_limit() -> None:
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in _modules(*CODE)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"split these by concept (at most {MAX_LINES} lines): {long}"


def test_no_module_imports_another_modules_private_names() -> None:
    found = [line for p in _modules(*CODE) for line in _private_imports(p)]
    assert not found, f"make these public, or test the public behaviour: {found}"


@pytest.mark.parametrize("folder", ["inventory", "playbooks", "templates"])
def test_the_ansible_and_inventory_folders_are_at_the_top_level(folder: str) -> None:
    assert (ROOT / folder).is_dir()
    assert not (ROOT / "ssc_infra" / folder).exists()


def test_the_product_package_holds_no_lab_and_no_emulator() -> None:
    product = ROOT / "ssc_infra"
    lab_like = [p.relative_to(ROOT) for p in product.rglob("*")
                if any(word in p.name for word in ("lab", "emulator"))
                and p.suffix in (".py", "")]
    assert not lab_like
    mentions = [f"{p.relative_to(ROOT)}:{n}" for p in _modules("ssc_infra")
                for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                if line.lstrip().startswith(("import ssc_infra_lab", "from ssc_infra_lab"))]
    assert not mentions
