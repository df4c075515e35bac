"""The AWX / execution-node path: the bundle a plan made, run through ansible-runner's
streaming trio (transmit | worker | process) as AWX's mesh runs it, and a playbook that will
not render on its own."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ssc_infra.hosts.backend import write_job
from tests.conftest import ROOT
from tests.integration.test_hosts import (
    Lab,
    validators,  # noqa: F401  (skips without checkers)
)
from tests.integration.test_hosts import lab as hosts_lab  # noqa: F401  (fixture `hosts_lab`)

pytestmark = pytest.mark.integration
RUNNER = Path(sys.executable).parent / "ansible-runner"


@pytest.fixture
def lab(hosts_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    return hosts_lab


def _stream(job: Path, out: Path) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PATH": f"{RUNNER.parent}:{os.environ.get('PATH', '')}",
           "ANSIBLE_NOCOLOR": "1"}
    transmit = subprocess.run([str(RUNNER), "transmit", str(job), "-p", "site.yml"],
                              capture_output=True, check=True, env=env)
    # The worker exits non-zero when the job fails; its stream still goes to `process`.
    worker = subprocess.run([str(RUNNER), "worker"], input=transmit.stdout,
                            capture_output=True, check=False, env=env)
    out.mkdir(exist_ok=True)
    return subprocess.run([str(RUNNER), "process", str(out)], input=worker.stdout,
                          capture_output=True, check=False, env=env)


def test_an_execution_node_pushes_exactly_the_planned_bundle(lab: Lab, tmp_path: Path) -> None:
    bundle = lab.bundle()
    job = write_job(lab.region, bundle, lab.settings, tmp_path / "job")
    assert (job.stat().st_mode & 0o777) == 0o700
    done = _stream(job, tmp_path / "out")
    assert done.returncode == 0, done.stdout.decode()[-2000:] + done.stderr.decode()[-2000:]
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    for host, files in manifest["hosts"].items():
        for path in files:
            if not path.startswith(".ssc/"):
                assert lab.file(host, path).read_text() == \
                    (bundle.path / host / path).read_text(), f"{host}:/{path}"
    assert (lab.file("fs01", "srv/homes/alpha") / "wbuma").is_dir()


def test_a_changed_bundle_is_refused_before_any_host_sees_it(lab: Lab, tmp_path: Path) -> None:
    bundle = lab.bundle()
    job = write_job(lab.region, bundle, lab.settings, tmp_path / "job")
    wg = job / "project/bundle/vpn01/etc/wireguard/wg0.conf"
    wg.write_text(wg.read_text() + "\n[Peer]\nPublicKey = x\nAllowedIPs = 10.0.0.0/8\n")
    done = _stream(job, tmp_path / "out")
    output = done.stdout.decode()
    assert "was changed after ssc-infra made it" in output
    assert re.search(r"localhost\s*:.*failed=1", output), output[-1500:]
    assert not lab.file("vpn01", "etc/wireguard/wg0.conf").exists()


def test_the_playbook_refuses_to_render_on_its_own(lab: Lab, tmp_path: Path) -> None:
    bundle = lab.bundle()
    playbook = ROOT / "playbooks" / "site.yml"
    done = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook), "-i",
         "localhost,", "-c", "local", "-e", "ssc_render=true", "-e",
         f"ssc_bundle={bundle.path}"], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "does not render host files" in done.stdout
    assert shutil.which("ssc-infra") is None or "ssc-infra render" not in done.stdout
