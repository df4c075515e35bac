"""`make demo` as a newcomer runs it, into a state folder of its own: it goes through (plan,
apply, Entra Connect of the lab, onboarding Harlingen, a drift check that finds nothing), and
everything it leaves that can name a person is private — files 0600, folders 0700.

The lab's DC and host folders keep their own modes inside (Samba's database, a host's
/etc/samba/smb.conf as on a real host); their folders are 0700, so only their owner gets in.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.integration

# Folders whose insides are a server's or a host's own (their modes are theirs), checked as a
# whole: 0700.
OWN_MODES = ("lab/dc", "lab/hosts")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    root = tmp_path_factory.mktemp("demo")
    state = root / "ssc"
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MAKEFLAGS", None)
    env.pop("MAKELEVEL", None)
    try:
        done = subprocess.run(
            ["make", "--no-print-directory", "demo", f"STATE={state}",
             f"TARGETS={root / 'targets.yaml'}", "LAB_ADDRESS=auto"],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
        yield state, (done.stdout + done.stderr) if done.returncode else ""
    finally:
        subprocess.run([str(bin_dir / "ssc-infra"), "lab", "down", "--state-dir", str(state)],
                       env=env, capture_output=True, check=False)


def test_the_demo_goes_through_and_finds_no_drift(demo: tuple[Path, str]) -> None:
    state, failed = demo
    assert not failed, failed[-6000:]
    assert (state / "drift-report" / "latest.html").is_file()
    assert (state / "demo-inventory" / "partners" / "harlingen.yaml").is_file()


def test_everything_the_demo_leaves_is_private(demo: tuple[Path, str]) -> None:
    state, failed = demo
    assert not failed, failed[-6000:]
    loose = []
    for path in sorted([state, *state.rglob("*")]):
        rel = path.relative_to(state).as_posix()
        if path.is_symlink() or any(rel.startswith(f"{own}/") for own in OWN_MODES):
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        # a folder 0700; a file 0600, or 0700 when it is a program (the inventory's script)
        if mode != 0o700 and (path.is_dir() or mode != 0o600):
            loose.append(f"{rel or '.'} {mode:o}")
    assert not loose, "not private:\n" + "\n".join(loose)
    # the walk saw the files the issue named: the captured plan and onboarding, the lab
    for name in ("demo.plan.txt", "demo.onboard.txt", "lab/dc", "lab/hosts",
                 "demo-inventory/people/harlingen.csv", "audit.jsonl", "credentials"):
        assert (state / name).exists(), name
