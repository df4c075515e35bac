"""Personal data at rest is 0600 in a 0700 state dir: a plan and an apply through the CLI, as an
engineer with the common umask 0o022 runs them, against the test DC and lab hosts."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ssc_infra.ad.connection import connect
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import empty_directory, settings_for
from tests.integration.test_ad import Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)

pytestmark = pytest.mark.integration

# Files in the state dir that modules other than state/folder.py write, by the first folder or the
# name below the state dir; each goes through state.write_private / private_dir:
#   run/plan.py             plan --out files (here: plan.json), drift reports (reports/)
#   sources/applied.py      the HR copies (applied-inventory/)
#   hosts/backend.py        bundles (bundles/); state/allocations.py addresses.json
#   hosts/ansible.py        the runner's private data dir (ansible/)
OTHERS = ("plan.json", "reports", "applied-inventory", "bundles", "addresses.json", "ansible")


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory, samba_dc: DomainController,
            validators: None) -> Iterator[Lab]:  # noqa: F811
    """A plan saved in the state dir and applied with --yes: accounts, passwords, host files;
    made once for the tests here, which only look at what it left."""
    old = os.umask(0o022)  # the common umask of an engineer's shell
    conn = connect(settings_for(samba_dc))
    try:
        empty_directory(conn, samba_dc.base_dn)
        root = tmp_path_factory.mktemp("modes")
        lab = Lab(root, samba_dc, conn)
        lab.with_host_folders()
        plan_file = lab.state / "plan.json"
        planned = lab.cli("plan", "--out", str(plan_file))
        assert planned.code == 2, planned.err
        done = lab.apply(str(plan_file))
        assert done.code == 0, done.out + done.err
        assert list((lab.state / "credentials").glob("*.csv")), "no initial passwords were written"
        yield lab
    finally:
        os.umask(old)
        conn.unbind()


def _loose(state: Path, kind: str, wanted: int, *, others: bool) -> list[str]:
    """Paths (relative) of `kind` ('dir' or 'file') whose mode is not `wanted`, either among the
    ones other modules write (others=True) or among the rest."""
    found = []
    for path in sorted([state, *state.rglob("*")]):
        rel = path.relative_to(state)
        if path.is_symlink() or (kind == "dir") != path.is_dir():
            continue
        if (bool(rel.parts) and rel.parts[0] in OTHERS) != others:
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode != wanted:
            found.append(f"{rel or '.'} {mode:o}")
    return found


def test_the_state_dir_and_its_folders_are_0700_and_state_files_0600(applied: Lab) -> None:
    state = applied.state
    loose = _loose(state, "dir", 0o700, others=False) + _loose(state, "file", 0o600, others=False)
    assert not loose, "not private:\n" + "\n".join(loose)
    names = {p.name for p in state.iterdir()}
    assert {"audit.jsonl", "run.lock", "credentials"} <= names  # the walk saw the real thing


def test_files_and_folders_other_modules_write_are_private(applied: Lab) -> None:
    state = applied.state
    loose = (_loose(state, "dir", 0o700, others=True)
             + _loose(state, "file", 0o600, others=True))
    assert not loose, "not private:\n" + "\n".join(loose)
