"""A plan with nothing to do, on the whole 4,500-person sample, against the bare read.

In one run: a fresh Samba DC on a free loopback address, the five workplace hosts as folders
and the lab's Graph emulator (a tenant per partner); the sample is applied once through the CLI
(accounts, groups, members, hosts, the cloud partners' users), and the lab's Entra Connect
copies the hybrid partners' accounts into their tenants. Then, through the CLI: the first plan
after that apply, rounds of a plan with nothing changed since (of AD + hosts, the target
figure, and of AD + hosts + Graph), each round beside the bare baseline measured in this
process: one bare paged ldap3 search of the managed OUs for the attributes the tool reads
(`bareread.py`), the same read of each host the plan makes, and the Graph tenants read bare
with httpx. Then `drift`, and the parts of a plan: loading the inventory, a full directory
read and a read of what changed, derive + diff, the host bundle, one read of each host, and
the full check-mode Ansible run over the hosts that `drift` makes.
Run: `make bench` or `python bench/plan_nochange.py [--rounds N] [--no-graph]`.
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

import yaml
from bareread import GraphAccess, bare_directory_read, bare_graph_read
from benchlab import ROOT, TARGET, TODAY, cli, cli_options, write_targets

from ssc_infra.ad import snapshot as ad_snapshot
from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.ad.connection import connect
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hosts.backend import read_hosts, run_hosts
from ssc_infra.hosts.sync import load_records
from ssc_infra.run import RunRequest, host_bundle, plan_run
from ssc_infra.run.directory import scope_of
from ssc_infra.run.targets import ad_settings, ansible_settings, load_target
from ssc_infra.sources.files import FilesSource, load
from ssc_infra_lab.dc import free_loopback_address, start_dc, stop_dc
from ssc_infra_lab.graph import LabGraph, entra_sync, start_graph_emulator, stop_graph_emulator

T = TypeVar("T")
GRAPH_TARGET = f"{TARGET}-graph"  # the same DC and hosts, and the lab's Graph emulator


def timed(label: str, run: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    print(f"  {label:<58} {seconds:6.2f} s", flush=True)
    return seconds, result


def add_graph_target(targets: Path, graph: LabGraph) -> None:
    """The targets file with a second target: the bench target and the lab's Graph."""
    data = yaml.safe_load(targets.read_text(encoding="utf-8"))
    data[GRAPH_TARGET] = {**data[TARGET], "graph": graph.target()}
    targets.write_text(yaml.safe_dump(data), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    parser.add_argument("--rounds", type=int, default=3, help="no-change plans of each kind")
    parser.add_argument("--no-graph", action="store_true", help="AD and hosts only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ssc-bench-plan-") as tmp:
        work = Path(tmp)
        region = load(args.inventory, TODAY)
        dc = start_dc(work / "dc", "ssc.frl", free_loopback_address(), fresh=True)
        graph = None if args.no_graph else start_graph_emulator(work / "graph", dc.address,
                                                                region)
        try:
            targets = write_targets(work, dc, workers=4)
            if graph is not None:
                add_graph_target(targets, graph)
            state = work / "state"
            common = cli_options(args.inventory, targets, state)
            with_graph = [*common[:-3], GRAPH_TARGET, *common[-2:]]
            print("applying the sample once (accounts, hosts"
                  f"{', cloud users' if graph else ''})...", flush=True)
            _, code = timed("apply of the sample to an empty DC and hosts",
                            lambda: cli("apply", "--yes", *(with_graph if graph else common)))
            if code != 0:
                sys.exit(f"the apply failed (exit {code})")
            first, code = timed("first plan after the apply (reads what it changed)",
                                lambda: cli("plan", *common))
            if code != 0:
                sys.exit(f"the plan was not empty (exit {code})")
            if graph is not None:
                settings = ad_settings(load_target(targets, TARGET), TARGET)
                directory = LdapDirectory(settings).read(scope_of(region), 4)
                timed("the lab's Entra Connect: hybrid accounts into their tenants",
                      lambda: entra_sync(region, directory, graph.tenants, graph.control()))
                _, code = timed("first plan with Graph after that sync",
                                lambda: cli("plan", *with_graph))
                if code != 0:
                    sys.exit(f"the plan with Graph was not empty (exit {code})")
            print(f"a plan with nothing changed since, beside the bare read ({args.rounds} "
                  "rounds):", flush=True)
            figures = rounds(args, targets, state, common, with_graph, graph)
            drift, _ = timed("ssc-infra drift (AD + hosts: reads and checks all in full)",
                             lambda: cli("drift", *common))
            print("its parts, in this process:", flush=True)
            parts(args.inventory, targets, state)
            report(figures, first, drift)
        finally:
            if graph is not None:
                stop_graph_emulator(graph)
            stop_dc(dc)
            shutil.rmtree(work / "hosts", ignore_errors=True)


Figures = dict[str, list[float]]


def rounds(args: argparse.Namespace, targets: Path, state: Path, common: list[str],
           with_graph: list[str], graph: LabGraph | None) -> Figures:
    """Each round: the no-change plans through the CLI and the bare reads, one after the
    other, so that the machine's other load falls on both sides alike."""
    region = load(args.inventory, TODAY)
    target = load_target(targets, TARGET)
    settings = ad_settings(target, TARGET)
    ansible = ansible_settings(target)
    assert ansible is not None
    scope = scope_of(region)
    records = load_records(state)
    access = None
    if graph is not None:
        secret = Path(graph.secret_file).read_text(encoding="utf-8").strip()
        access = GraphAccess(graph.url, graph.login_url, graph.client_id, secret,
                             graph.ca_file)
    tenants = [(p.code, graph.tenants[p.code]) for p in region.partners] if graph else []
    figures: Figures = {k: [] for k in ("plan", "bare", "hosts", "graph plan", "graph bare")}
    for n in range(1, args.rounds + 1):
        print(f" round {n}:", flush=True)
        seconds, code = timed("ssc-infra plan, AD + hosts (through the CLI, all of it)",
                              lambda: cli("plan", *common))
        if code != 0:
            sys.exit(f"a plan was not empty (exit {code})")
        figures["plan"].append(seconds)
        seconds, entries = timed("bare ldap3: paged search of the managed OUs",
                                 lambda: bare_directory_read(settings, scope))
        figures["bare"].append(seconds)
        seconds, read = timed("hosts check: the same read of each host",
                              lambda: read_hosts(region, ansible, state, records))
        if len(read) != len(records):
            sys.exit(f"the hosts check read {len(read)} of {len(records)} hosts")
        figures["hosts"].append(seconds)
        if access is not None:
            seconds, code = timed("ssc-infra plan, AD + hosts + Graph",
                                  lambda: cli("plan", *with_graph))
            if code != 0:
                sys.exit(f"a plan with Graph was not empty (exit {code})")
            figures["graph plan"].append(seconds)
            seconds, count = timed("bare httpx: every tenant's users, groups, members, seats",
                                   lambda: bare_graph_read(access, tenants))
            figures["graph bare"].append(seconds)
    print(f"  (bare reads: {entries:,} directory entries, {len(read)} hosts"
          + (f", {count.objects:,} Graph objects in {count.requests} requests)" if access
             else ")"), flush=True)
    timed("bare ldap3, members as plain DNs (no extended-DN control)",
                       lambda: bare_directory_read(settings, scope, extended=False))
    return figures


def report(figures: Figures, first: float, drift: float) -> None:
    """The side-by-side lines: medians of the rounds, and the ratios plan / baseline."""
    med = {k: statistics.median(v) for k, v in figures.items() if v}
    baseline = med["bare"] + med["hosts"]
    print(f"no-change plan, AD + hosts: {med['plan']:.2f} s (median of "
          f"{len(figures['plan'])}) against the bare baseline {baseline:.2f} s = bare read "
          f"{med['bare']:.2f} s + hosts check {med['hosts']:.2f} s -> "
          f"{med['plan'] / baseline:.2f}x (target <= 1.5x)")
    if "graph plan" in med:
        total = baseline + med["graph bare"]
        print(f"with Graph: {med['graph plan']:.2f} s against {total:.2f} s (+ bare Graph "
              f"read {med['graph bare']:.2f} s) -> {med['graph plan'] / total:.2f}x")
    print(f"first plan after the apply {first:.2f} s; drift {drift:.2f} s")


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
