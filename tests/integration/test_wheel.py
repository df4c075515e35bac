"""An installed wheel works away from a checkout: the templates and the playbooks ship in it,
the lab does not.

The wheel is built offline from a copy of the checkout (everything but what .gitignore keeps
out: no venv, no stale build/), so pyproject.toml alone decides what goes in; the project venv
has setuptools. It is installed without its dependencies into a fresh venv under tmp_path that
sees the project venv's packages through a .pth line (a plain path line does not run the
editable install's hook, so the checkout stays out of sight). Every command then runs from a
folder outside the repository, on a copy of the sample inventory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ssc_infra_lab.dc import DomainController, stop_dc
from tests.conftest import ROOT, TODAY
from tests.integration.conftest import start_or_give_up, write_targets

pytestmark = pytest.mark.integration
# Kept out of the copy the wheel is built from: what .gitignore keeps out of the checkout.
NOT_IN_CHECKOUT = shutil.ignore_patterns(
    ".git", ".venv*", ".ssc", "build", "dist", "*.egg-info", "__pycache__", "*.pyc",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "out", "targets.yaml")
# The folders the wheel carries from the top of the repository, and the package each becomes.
SHIPPED = {"playbooks": "ssc_infra/playbooks", "templates": "ssc_infra/templates"}
# The lab (DC, NetBox, Graph emulator, the peer inventory) is a distribution of its own
# (lab/): none of it ships in ssc-infra's wheel.
LAB_MODULES = ("lab.py", "netbox_lab.py", "graph_lab.py", "peer_inventory.py")
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
# What plan does with the hosts, without a directory to plan against: the bundle, then the
# playbooks in check mode through ansible-runner, on hosts that are folders.
PLAN_HOSTS = """
import json
import sys
from datetime import date
from pathlib import Path

from ssc_infra.core.desired import derive
from ssc_infra.core.packaged import PLAYBOOKS, packaged_path
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hosts.backend import make_bundle, run_hosts
from ssc_infra.sources.files import load

inventory, today, state, hosts = sys.argv[1:]
region = load(Path(inventory), date.fromisoformat(today))
bundle = make_bundle(region, derive(region, date.fromisoformat(today)), Path(state))
settings = AnsibleSettings(connection="local", root=Path(hosts), reload=False,
                           unknown_owner="keep")
result = run_hosts(region, bundle, settings, Path(state), check=True)
with packaged_path(PLAYBOOKS) as playbooks:
    print(json.dumps({"playbooks": str(playbooks.resolve()), "status": result.status,
                      "failed": {h.host: h.messages for h in result.failed_hosts},
                      "changes": sorted(c.key for c in result.changes)}))
"""


@dataclass(frozen=True)
class Installed:
    venv: Path
    work: Path  # outside the repository: every command runs here
    inventory: str  # the copy of the sample inventory, relative to `work`

    def run(self, program: str | Path, *args: str) -> subprocess.CompletedProcess[str]:
        """A program of the new venv (by name) or any other (by path), in `work`."""
        path = program if isinstance(program, Path) else self.venv / "bin" / program
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SSC_TEMPLATES")}
        # ansible-playbook is the project venv's (ansible-core is a dependency, not installed
        # into the new venv), whether or not that venv's bin/ is on PATH already
        env["PATH"] = os.pathsep.join([str(self.venv / "bin"), str(Path(sys.executable).parent),
                                       env.get("PATH", "")])
        return subprocess.run([str(path), *args], cwd=self.work, env=env, capture_output=True,
                              text=True, check=False)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # the checkout, without a stale build/ to end up in the wheel
    shutil.copytree(ROOT, source, ignore=NOT_IN_CHECKOUT, symlinks=True)
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet",
                    "wheel", str(source), "--no-deps", "--no-build-isolation", "--no-index",
                    "--wheel-dir", str(dist)], check=True, cwd=root)
    (built,) = dist.glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = Path(subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()"
         "['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "project-deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet",
                    "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", str(wheel)], check=True)
    work = root / "work"
    work.mkdir()
    shutil.copytree(ROOT / "inventory", work / "inventory",
                    ignore=shutil.ignore_patterns("__pycache__"))
    yield Installed(venv, work, "inventory")


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts}


def test_the_wheel_carries_the_playbooks_and_the_templates_and_no_lab(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
    for folder, package in SHIPPED.items():
        missing = {f for f in _files(ROOT / folder) if f"{package}/{f}" not in names}
        assert not missing, f"{folder}/ files not in the wheel: {sorted(missing)}"
    for rel in ("playbooks/site.yml", "playbooks/library/ssc_homes.py",
                "playbooks/files/ssc-check", "templates/smb.conf.j2",
                "templates/report/drift.html.j2", "templates/report/drift.css"):
        assert f"ssc_infra/{rel}" in names, rel
    # one package, mapped in: no top-level playbooks/ or templates/, no lab distribution
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"ssc_infra"}, sorted(tops)
    # The lab moved out of ssc_infra (into the lab/ distribution): none of it is in the wheel.
    assert not [n for n in names if n.startswith("ssc_infra/graph_emulator/")]
    assert not [n for n in names if n.removeprefix("ssc_infra/") in LAB_MODULES]


def test_the_installed_package_is_the_one_that_runs(installed: Installed) -> None:
    done = installed.run("python", "-c", "import ssc_infra; print(ssc_infra.__file__)")
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed.venv), done.stdout


def test_the_playbooks_and_the_templates_are_found_in_the_installed_wheel(
        installed: Installed) -> None:
    done = installed.run("python", "-c", "from importlib.resources import files\n"
                         "for p in ('ssc_infra.playbooks', 'ssc_infra.templates'):\n"
                         "    print(files(p))")
    assert done.returncode == 0, done.stderr
    playbooks, templates = (Path(line) for line in done.stdout.split())
    assert playbooks.is_relative_to(installed.venv) and templates.is_relative_to(installed.venv)
    assert (playbooks / "site.yml").is_file() and (templates / "smb.conf.j2").is_file()


def test_render_finds_the_templates_and_the_checker_in_the_wheel(installed: Installed) -> None:
    common = ["--inventory", installed.inventory, "--today", TODAY.isoformat()]
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
    done = installed.run("python", "-c", WRITE_JOB, installed.inventory, TODAY.isoformat(),
                         "state", "lab-hosts", str(job))
    assert done.returncode == 0, done.stderr
    project = job / "project"
    for rel in ("site.yml", "roles/fileserver/tasks/main.yml", "library/ssc_homes.py",
                "files/ssc-check", "group_vars/all/ssc.yml", "bundle/manifest.json"):
        assert (project / rel).is_file(), rel
    # The roles and modules site.yml names are all there: Ansible resolves them.
    syntax = installed.run(Path(sys.executable).parent / "ansible-playbook", "--syntax-check", "-i",
                           str(job / "inventory/hosts.json"), str(project / "site.yml"))
    assert syntax.returncode == 0, syntax.stdout + syntax.stderr


def test_the_hosts_plan_runs_the_playbooks_of_the_wheel(installed: Installed) -> None:
    done = installed.run("python", "-c", PLAN_HOSTS, installed.inventory, TODAY.isoformat(),
                         "plan-state", "plan-hosts")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    ran = json.loads(done.stdout.splitlines()[-1])
    assert Path(ran["playbooks"]).is_relative_to(installed.venv.resolve()), ran["playbooks"]
    assert not ran["failed"], ran["failed"]
    # check mode on empty host folders: every host's files are to be made, nothing is made
    assert "fs01:/etc/samba/smb.conf" in ran["changes"], ran["changes"][:20]
    assert "vdi01:/etc/ssc-vdi/assignments.json" in ran["changes"], ran["changes"][:20]
    assert not (installed.work / "plan-hosts/fs01/etc/samba/smb.conf").exists()


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


@pytest.fixture(scope="module")
def sample_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainController]:
    """A DC for the sample region's domain (ssc.frl), for a plan of the whole sample."""
    dc = start_or_give_up(tmp_path_factory.mktemp("sample-dc") / "dc", "ssc.frl")
    yield dc
    stop_dc(dc)


def test_plan_of_the_sample_runs_from_the_wheel(installed: Installed,
                                                sample_dc: DomainController) -> None:
    targets = write_targets(installed.work / "targets.yaml", sample_dc)
    entry = yaml.safe_load(targets.read_text())
    entry["test"]["ansible"] = {"connection": "local", "root": str(installed.work / "dc-hosts"),
                                "reload": False, "unknown_owner": "keep"}
    targets.write_text(yaml.safe_dump(entry))
    done = installed.run("ssc-infra", "plan", "--inventory", installed.inventory, "--today",
                         TODAY.isoformat(), "--targets", "targets.yaml", "--target", "test",
                         "--state-dir", "plan-state", "--compact", "--out", "sample.plan.json")
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-3000:]  # changes pending
    assert "Plan: " in done.stdout and "to create" in done.stdout, done.stdout[-1000:]
    assert "Hosts: " in done.stdout, done.stdout[-1000:]
    saved = json.loads((installed.work / "sample.plan.json").read_text())
    assert saved["sections"]["directory"]["changes"], "no directory changes in the saved plan"


def test_the_lab_is_not_part_of_the_wheel_and_says_so(installed: Installed) -> None:
    done = installed.run("ssc-infra", "lab", "up")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "the lab is not installed here" in done.stderr, done.stderr
