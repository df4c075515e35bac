"""Load + validate + derive: time and peak memory for the sample and for a big region.

Prints one line per size. The big region is generated into a temporary folder (not kept).
Run: `make bench` or `python bench/inventory.py [--big N] [--partners P]`.
"""

from __future__ import annotations

import argparse
import gc
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TODAY = date(2026, 11, 23)

_CHILD = """
import gc, json, resource, sys, time
from datetime import date
from pathlib import Path
from ssc_infra.sources.files import load
from ssc_infra.core.desired import derive
import csv
b0 = time.perf_counter()
rows = 0
for path in sorted(Path(sys.argv[1]).glob("*/*.csv")):
    with path.open(encoding="utf-8") as handle:
        rows += sum(1 for _ in csv.reader(handle))
b1 = time.perf_counter()
t0 = time.perf_counter()
region = load(Path(sys.argv[1]), date.fromisoformat(sys.argv[2]))
t1 = time.perf_counter()
state = derive(region, date.fromisoformat(sys.argv[2]))
t2 = time.perf_counter()
accounts = sum(len(p.accounts) for p in state.partners)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"people": region.people_count, "partners": len(region.partners),
                  "accounts": accounts, "raw_csv": b1 - b0, "load": t1 - t0,
                  "derive": t2 - t1, "peak": peak}))
"""


def measure(inventory: Path) -> dict[str, float]:
    """Run one measurement in a fresh interpreter, so peak memory is this run's alone."""
    import json

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(inventory), TODAY.isoformat()],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def report(label: str, figures: dict[str, float]) -> None:
    total = figures["load"] + figures["derive"]
    print(
        f"{label:<28} {int(figures['people']):>8,} people {int(figures['partners']):>4} partners  "
        f"load+validate {figures['load']:6.2f} s  derive {figures['derive']:6.2f} s  "
        f"total {total:6.2f} s  peak {figures['peak'] / 2**20:7.0f} MiB  "
        f"(baseline: bare csv.reader over the same files {figures['raw_csv']:5.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big", type=int, default=200_000, help="people in the big region")
    parser.add_argument("--partners", type=int, default=300, help="partners in the big region")
    args = parser.parse_args()
    gc.collect()
    print(f"python {sys.version.split()[0]}, today {TODAY}")
    report("sample (inventory/)", measure(ROOT / "inventory"))
    with tempfile.TemporaryDirectory(prefix="ssc-bench-") as tmp:
        from ssc_infra.sources.sample import write_sample

        started = time.perf_counter()
        write_sample(Path(tmp) / "big", people=args.big, seed=7, partners=args.partners)
        print(f"{'(generating the big region)':<28} {time.perf_counter() - started:.1f} s")
        report(f"generated ({args.big:,})", measure(Path(tmp) / "big"))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(the benchmark driver itself peaked at {own:.0f} MiB)")


if __name__ == "__main__":
    main()
