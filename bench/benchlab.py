"""What the benchmarks share: a fresh lab DC, its settings, a targets file and the CLI.

Every DC starts from the provisioned template on a free loopback address, so two benchmarks
(or a benchmark and the tests) never collide, and each measurement starts from the same state.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import yaml

from ssc_infra.ad.connection import AdSettings
from ssc_infra.core.secrets import Secret
from ssc_infra_lab.dc import DomainController, free_loopback_address, start_dc, stop_dc

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
TARGET = "bench"


def settings(dc: DomainController, timeout: int = 30) -> AdSettings:
    """The tool's connection settings for a lab DC (LDAPS, verified with the DC's CA)."""
    return AdSettings(url=dc.url, bind_user=dc.bind_user, password=Secret(dc.password()),
                      base_dn=dc.base_dn, ca_file=str(dc.ca_file), tls_names=(dc.tls_name,),
                      timeout=timeout)


@contextlib.contextmanager
def fresh_dc(folder: Path) -> Iterator[DomainController]:
    """An empty DC, unpacked afresh from the template into `folder`; stopped on the way out."""
    dc = start_dc(folder, "ssc.frl", free_loopback_address(), fresh=True)
    try:
        yield dc
    finally:
        stop_dc(dc)


def write_targets(work: Path, dc: DomainController, workers: int | None = None) -> Path:
    """A targets file with the `bench` target: the DC, and the hosts as folders below work.

    Args:
        workers: the AD writer's connections; None leaves the tool's default.
    """
    ad: dict[str, object] = {"url": dc.url, "bind_user": dc.bind_user, "base_dn": dc.base_dn,
                             "ca_file": str(dc.ca_file), "tls_names": [dc.tls_name],
                             "bind_password_file": str(dc.password_file)}
    if workers is not None:
        ad["workers"] = workers
    targets = work / "targets.yaml"
    targets.write_text(yaml.safe_dump({TARGET: {
        "ad": ad,
        "ansible": {"connection": "local", "root": str(work / "hosts"), "reload": False,
                    "unknown_owner": "keep"}}}), encoding="utf-8")
    return targets


def cli_options(inventory: Path, targets: Path, state: Path) -> list[str]:
    """The options every CLI call of a benchmark takes: its inventory, day, target, state."""
    return ["--inventory", str(inventory), "--today", TODAY.isoformat(), "--targets",
            str(targets), "--target", TARGET, "--state-dir", str(state)]


def cli(*args: str) -> int:
    """Run `ssc-infra` from this Python's environment, its output discarded; the exit code."""
    command = [str(Path(sys.executable).parent / "ssc-infra"), *args]
    return subprocess.run(command, capture_output=True, check=False).returncode


def dc_cpu_seconds(dc: DomainController) -> float:
    """CPU seconds the DC's processes (its process group) have used so far; 0 off Linux.

    Beside a figure of wall time this shows how much of it the DC was busy: the DC's work is
    what the ceilings measure, and the machine's other load shows as the rest.
    """
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text(encoding="ascii", errors="replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == dc.pid:  # the process group: samba runs in a session of its own
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")
