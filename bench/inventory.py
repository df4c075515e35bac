"""Load + validate + derive, and the offline parts of a plan: time and peak memory per size.

For the sample (inventory/) and for regions generated at 4,500, 50,000 and 200,000 people
(about 667 people a partner, as in the sample), each measured in a fresh interpreter so the
peak memory is that run's alone:
  - load + validate (`sources.files.load`) and derive (`core.desired.derive`): the target is
    under 3 s and 500 MiB for 200,000 people;
  - the offline parts of a first plan: the directory's diff against an empty directory with
    its guards, the workplaces derived and every host file rendered — what `plan` does besides
    reading AD and the hosts;
and, for comparison in the same run, a bare `csv.reader` over the same CSV files. Then the
cost per person at each size and the slope between sizes (microseconds per extra person): a
plan that grows linearly has about the same cost per person at every size.
Run: `make bench` or `python bench/inventory.py [--sizes 4500,50000,200000]`.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)
PEOPLE_PER_PARTNER = 667  # 200,000 people in 300 partners; the sample has 4,500 in 11

_CHILD = """
import csv, json, resource, sys, time
from datetime import date
from pathlib import Path
from ssc_infra.ad.diff import diff_directory
from ssc_infra.ad.guards import guard_directory
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.addresses import AddressError
from ssc_infra.core.desired import derive
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.hosts.render import render_host_files
from ssc_infra.sources.files import load
folder, today = Path(sys.argv[1]), date.fromisoformat(sys.argv[2])
b0 = time.perf_counter()
rows = 0
for path in sorted(folder.glob("*/*.csv")):
    with path.open(encoding="utf-8") as handle:
        rows += sum(1 for _ in csv.reader(handle))
b1 = time.perf_counter()
t0 = time.perf_counter()
region = load(folder, today)
t1 = time.perf_counter()
state = derive(region, today)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
empty = DirectoryState(frozenset(), (), ())
section = guard_directory(diff_directory(state, empty), empty, region.guards)
t3 = time.perf_counter()
try:
    files = render_host_files(region, derive_workplaces(region, state)).files
except AddressError as e:  # one VPN network for the whole region: 65,519 laptops at most
    files, unfit = {}, str(e)
else:
    unfit = ""
t4 = time.perf_counter()
print(json.dumps({"unfit": unfit, "people": region.people_count, "partners": len(region.partners),
                  "accounts": sum(len(p.accounts) for p in state.partners),
                  "changes": len(section.changes),
                  "host_bytes": sum(len(t) for f in files.values() for t in f.values()),
                  "raw_csv": b1 - b0, "load": t1 - t0, "derive": t2 - t1, "peak": peak,
                  "diff": t3 - t2, "hosts": t4 - t3,
                  "plan_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def measure(inventory: Path) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter, so peak memory is this run's alone."""
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(inventory), TODAY.isoformat()],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def report(label: str, figures: dict[str, Any]) -> None:
    total = figures["load"] + figures["derive"]
    print(
        f"{label:<22} {figures['people']:>8,} people {figures['partners']:>4} "
        f"partners  load+validate {figures['load']:5.2f} s  derive {figures['derive']:5.2f} s  "
        f"total {total:5.2f} s  peak {figures['peak'] / 2**20:4.0f} MiB  "
        f"(bare csv.reader {figures['raw_csv']:4.2f} s)"
    )
    hosts = (f"does not fit: {figures['unfit']}" if figures["unfit"] else
             f"{figures['hosts']:5.2f} s ({figures['host_bytes'] / 2**20:.1f} MiB)")
    plan = total + figures["diff"] + (0 if figures["unfit"] else figures["hosts"])
    print(f"{'':<22} offline plan: + diff and guards {figures['diff']:5.2f} s "
          f"({figures['changes']:,} changes)  + workplaces and host files {hosts}")
    print(f"{'':<22} = {plan:5.2f} s{' without the hosts' if figures['unfit'] else ''}, "
          f"peak {figures['plan_peak'] / 2**20:4.0f} MiB")


def slopes(sized: list[dict[str, Any]]) -> None:
    """Microseconds per person at each size, and per extra person between sizes, of each part
    (the host files only between sizes where they fit)."""
    parts: dict[str, Callable[[dict[str, Any]], float | None]] = {
        "load+derive": lambda f: f["load"] + f["derive"], "diff": lambda f: f["diff"],
        "host files": lambda f: None if f["unfit"] else f["hosts"]}
    for name, part in parts.items():
        seconds = [(f["people"], part(f)) for f in sized]
        known = [(people, s) for people, s in seconds if s is not None]
        each = [f"{people:,}: {1e6 * s / people:.1f}" for people, s in known]
        between = [f"{n0:,} -> {n1:,}: {1e6 * (s1 - s0) / (n1 - n0):.1f}"
                   for (n0, s0), (n1, s1) in itertools.pairwise(known)]
        print(f"{name:<12} µs per person {'  '.join(each):<44} per extra person (slope) "
              f"{'  '.join(between)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="4500,50000,200000",
                        help="people in the generated regions, comma separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    gc.collect()
    print(f"python {sys.version.split()[0]}, today {TODAY}")
    report("sample (inventory/)", measure(ROOT / "inventory"))
    from ssc_infra.sources.sample import write_sample

    sized: list[dict[str, Any]] = []
    for people in sizes:
        with tempfile.TemporaryDirectory(prefix="ssc-bench-") as tmp:
            partners = max(1, round(people / PEOPLE_PER_PARTNER))
            started = time.perf_counter()
            write_sample(Path(tmp) / "big", people=people, seed=7, partners=partners)
            generated = time.perf_counter() - started
            figures = measure(Path(tmp) / "big")
            report(f"generated ({people:,})", figures)
            print(f"{'':<22} (generating it took {generated:.1f} s)")
            sized.append(figures)
    slopes(sized)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(the benchmark driver itself peaked at {own:.0f} MiB)")


if __name__ == "__main__":
    main()
