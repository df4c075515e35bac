"""A plan with nothing to do, on the whole 4,500-person sample: the whole and its parts.

In one run: a fresh Samba DC on a free loopback address and the five workplace hosts as
folders; the sample is applied once through the CLI (accounts, groups, members, hosts); then
the no-change `plan` is timed through the CLI, side by side with its parts measured in the
same process: load the inventory, read + derive + diff the directory, render the host bundle,
and the hosts' check-mode Ansible run.
Run: `make bench` or `python bench/plan_nochange.py`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import yaml

from ssc_infra.backends.ansible import AnsibleSettings
from ssc_infra.lab import free_loopback_address, start_dc, stop_dc
from ssc_infra.run import RunRequest, host_bundle, plan_run
from ssc_infra.sources.files import FilesSource

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
T = TypeVar("T")


def timed(label: str, run: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"  {label:<52} {seconds:6.2f} s")
    return seconds, result


def cli(*args: str) -> int:
    command = [str(Path(sys.executable).parent / "ssc-infra"), *args]
    return subprocess.run(command, capture_output=True, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ssc-bench-plan-") as tmp:
        work = Path(tmp)
        dc = start_dc(work / "dc", "ssc.frl", free_loopback_address(), fresh=True)
        try:
            targets = work / "targets.yaml"
            targets.write_text(yaml.safe_dump({"bench": {
                "ad": {"url": dc.url, "bind_user": dc.bind_user, "base_dn": dc.base_dn,
                       "ca_file": str(dc.ca_file), "tls_names": [dc.tls_name],
                       "bind_password_file": str(dc.password_file), "workers": 4},
                "ansible": {"connection": "local", "root": str(work / "hosts"),
                            "reload": False, "unknown_owner": "keep"}}}))
            common = ["--inventory", str(args.inventory), "--today", TODAY.isoformat(),
                      "--targets", str(targets), "--target", "bench", "--state-dir",
                      str(work / "state")]
            print("applying the sample once (accounts and hosts)...")
            _, code = timed("apply of the sample to an empty DC and hosts",
                            lambda: cli("apply", "--yes", *common))
            if code != 0:
                sys.exit(f"the apply failed (exit {code})")
            print("a plan with nothing to do:")
            whole, code = timed("ssc-infra plan (through the CLI, all of it)",
                                lambda: cli("plan", *common))
            if code != 0:
                sys.exit(f"the plan was not empty (exit {code})")
            request = RunRequest(FilesSource(args.inventory), TODAY, targets, "bench",
                                 work / "state")
            _, planned = timed("  load + directory read, derive, diff (no hosts)",
                               lambda: plan_run(request, check_hosts=False))
            assert planned.scope is not None
            _, bundle = timed("  host bundle: derive + render", lambda: host_bundle(planned))
            from ssc_infra.hostplan import run_hosts

            ansible = planned.ansible
            assert isinstance(ansible, AnsibleSettings)
            timed("  hosts: check-mode Ansible run over 5 hosts",
                  lambda: run_hosts(planned.region, bundle, ansible, planned.state.path,
                                    check=True))
            print(f"plan with nothing to do: {whole:.2f} s (target < 3 s)")
        finally:
            stop_dc(dc)
            shutil.rmtree(work / "hosts", ignore_errors=True)


if __name__ == "__main__":
    main()
