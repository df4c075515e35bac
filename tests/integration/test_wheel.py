"""An installed wheel works away from a checkout: the templates and the playbooks ship in it.

The wheel is built offline from a copy of the package (the project venv has setuptools), and
installed without its dependencies into a fresh venv that sees the project venv's packages
through a .pth line (a plain path line does not run the editable install's hook, so the
checkout stays out of sight). Every command then runs from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, TODAY

pytestmark = pytest.mark.integration
SAMPLE = ROOT / "inventory"
# What plan --job does with the playbooks, without a directory to plan against.
WRITE_JOB = """
import sys
from datetime import date
from pathlib import Path

from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.core.desired import derive
from ssc_infra.hosts.backend import make_bundle, write_job
from ssc_infra.sources.files import load

inventory, today, state, hosts, job = sys.argv[1:]
region = load(Path(inventory), date.fromisoformat(today))
bundle = make_bundle(region, derive(region, date.fromisoformat(today)), Path(state))
write_job(region, bundle, AnsibleSettings(connection="local", root=Path(hosts)), Path(job))
"""


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path  # outside the repository: every command runs here

    def run(self, program: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
        """A program of the new venv (by name) or any other (by path), in `work`."""
        path = program if isinstance(program, Path) else self.venv / "bin" / program
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SSC_TEMPLATES")}
        return subprocess.run([str(path), *args], cwd=self.work, env=env, capture_output=True,
                              text=True, check=False)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # a clean copy: no stale build/ of the checkout in the wheel
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "ssc_infra", source / "ssc_infra",
                    ignore=shutil.ignore_patterns("__pycache__"))
    dist = root / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "wheel", str(source), "--no-deps", "--no-build-isolation",
                    "--no-index", "--wheel-dir", str(dist)], check=True, cwd=root)
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "project-deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", *map(str, dist.glob("*.whl"))], check=True)
    work = root / "work"
    work.mkdir()
    yield Installed(venv, work)


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    done = installed.run("python", "-c", "import ssc_infra; print(ssc_infra.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.venv), done.stdout


def test_render_finds_the_templates_and_the_checker_in_the_wheel(installed: Installed) -> None:
    common = ["--inventory", str(SAMPLE), "--today", TODAY.isoformat()]
    valid = installed.run("ssc-infra", "validate", *common)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    done = installed.run("ssc-infra", "render", *common, "--out", "hosts",
                         "--state-dir", "state", "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[global]" in (installed.work / "hosts/fs01/etc/samba/smb.conf").read_text()
    # ssc-check (playbooks/files) checks the VDI file whatever else is installed here
    assert "ok vdi01:/etc/ssc-vdi/assignments.json" in done.stderr, done.stderr
    assert "5 files checked" in done.stderr


def test_a_job_carries_the_playbooks_of_the_wheel(installed: Installed) -> None:
    job = installed.work / "job"
    done = installed.run("python", "-c", WRITE_JOB, str(SAMPLE), TODAY.isoformat(), "state",
                         "lab-hosts", str(job))
    assert done.returncode == 0, done.stderr
    project = job / "project"
    for rel in ("site.yml", "roles/fileserver/tasks/main.yml", "library/ssc_homes.py",
                "files/ssc-check", "group_vars/all/ssc.yml", "bundle/manifest.json"):
        assert (project / rel).is_file(), rel
    # The roles and modules site.yml names are all there: Ansible resolves them.
    syntax = installed.run(Path(sys.executable).parent / "ansible-playbook", "--syntax-check", "-i",
                           str(job / "inventory/hosts.json"), str(project / "site.yml"))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


# What `drift --report` does with the page's template, without a directory to check.
WRITE_REPORT = """
import sys
from datetime import UTC, datetime
from pathlib import Path

from ssc_infra.core.plan import Plan
from ssc_infra.report.folder import write_report
from ssc_infra.report.nightly import DriftRun

files = write_report(Path(sys.argv[1]), DriftRun(
    "frl", "SSC Leeuwarden", "lab", "2026-11-23", datetime.now(UTC),
    (("ameland", "Gemeente Ameland"),), Plan(), 0))
print(files.latest_html)
"""


def test_the_drift_report_page_comes_from_the_wheel(installed: Installed) -> None:
    done = installed.run("python", "-c", WRITE_REPORT, "report")
    assert done.returncode == 0, done.stderr
    page = Path(installed.work / done.stdout.strip()).read_text(encoding="utf-8")
    assert "Content-Security-Policy" in page and "<style>:root" in page
    assert "ameland" in page and "no drift: 0 items" in page
