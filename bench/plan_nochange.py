"""A plan with nothing to do, on the whole 4,500-person sample: the whole and its parts.

In one run: a fresh Samba DC on a free loopback address and the five workplace hosts as
folders; the sample is applied once through the CLI (accounts, groups, members, hosts). Then,
through the CLI: the first plan after that apply (it reads what the apply changed), a plan with
nothing changed since (three times: the target figure), and `drift` (which reads and checks
everything in full). Side by side, measured in the same process: loading the inventory, a full
directory read and a read of what changed, derive + diff, the host bundle, one read of each
host, and the full check-mode Ansible run over the hosts that `drift` makes.
Run: `make bench` or `python bench/plan_nochange.py`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from benchlab import ROOT, TARGET, TODAY, cli, cli_options, write_targets

from ssc_infra.ad import snapshot as ad_snapshot
from ssc_infra.ad.connection import connect
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hosts.backend import read_hosts, run_hosts
from ssc_infra.hosts.sync import load_records
from ssc_infra.run import RunRequest, host_bundle, plan_run
from ssc_infra.run.directory import scope_of
from ssc_infra.run.targets import ad_settings, load_target
from ssc_infra.sources.files import FilesSource, load
from ssc_infra_lab.dc import free_loopback_address, start_dc, stop_dc

T = TypeVar("T")


def timed(label: str, run: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"  {label:<52} {seconds:6.2f} s")
    return seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ssc-bench-plan-") as tmp:
        work = Path(tmp)
        dc = start_dc(work / "dc", "ssc.frl", free_loopback_address(), fresh=True)
        try:
            targets = write_targets(work, dc, workers=4)
            common = cli_options(args.inventory, targets, work / "state")
            print("applying the sample once (accounts and hosts)...")
            _, code = timed("apply of the sample to an empty DC and hosts",
                            lambda: cli("apply", "--yes", *common))
            if code != 0:
                sys.exit(f"the apply failed (exit {code})")
            first, code = timed("first plan after the apply (reads what it changed)",
                                lambda: cli("plan", *common))
            if code != 0:
                sys.exit(f"the plan was not empty (exit {code})")
            print("a plan with nothing changed since (three runs):")
            runs = [timed("ssc-infra plan (through the CLI, all of it)",
                          lambda: cli("plan", *common)) for _ in range(3)]
            if any(code != 0 for _, code in runs):
                sys.exit("a plan was not empty")
            whole = statistics.median(seconds for seconds, _ in runs)
            drift, _ = timed("ssc-infra drift (reads and checks everything in full)",
                             lambda: cli("drift", *common))
            print("its parts, in this process:")
            parts(args.inventory, targets, work / "state")
            print(f"plan with nothing to do: {whole:.2f} s (target < 3 s); first plan after "
                  f"the apply {first:.2f} s; drift {drift:.2f} s")
        finally:
            stop_dc(dc)
            shutil.rmtree(work / "hosts", ignore_errors=True)


def parts(inventory: Path, targets: Path, state: Path) -> None:
    region = timed("  load the inventory (4,500 people)", lambda: load(inventory, TODAY))[1]
    settings = ad_settings(load_target(targets, TARGET), TARGET)
    scope = scope_of(region)
    timed("  directory: a full read (apply, drift)",
          lambda: ad_snapshot.read(lambda: connect(settings), scope, 4, state, True))
    timed("  directory: a read of what changed since (plan)",
          lambda: ad_snapshot.read(lambda: connect(settings), scope, 4, state, False))
    request = RunRequest(FilesSource(inventory), TODAY, targets, TARGET, state)
    _, planned = timed("  load + read + derive + diff (no hosts)",
                       lambda: plan_run(request, check_hosts=False))
    _, bundle = timed("  host bundle: derive + render", lambda: host_bundle(planned))
    ansible = planned.ansible
    assert isinstance(ansible, AnsibleSettings)
    records = load_records(state)
    timed("  hosts: one read of each (plan; runs beside the directory read)",
          lambda: read_hosts(planned.region, ansible, state, records))
    timed("  hosts: full check-mode Ansible run over 5 hosts (drift)",
          lambda: run_hosts(planned.region, bundle, ansible, planned.state.path, check=True))


if __name__ == "__main__":
    main()
