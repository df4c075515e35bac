"""Microsoft 365: a 1,000-person cloud partner provisioned through Graph, against the project's
Graph EMULATOR with the real tenant's write limit (3,000 writes per 150 s per app and tenant,
`$batch` of at most 20), printed against the floor those limits allow; then a no-change plan.

Beside it, in the same run, the Graph libraries compared for what the tool needs (a paged read
of the tenant's users): the project's small client (`ssc_infra.m365.graph`: httpx, MSAL,
tenacity) and Microsoft's `msgraph-core` (with azure-identity), which runs in a venv of its own
(requirements/graph-bench-lock.txt, made on first use): import time, requests and seconds.

Run: `make bench` or `python bench/graph.py [--people N]`.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchlab import ROOT, TODAY

from ssc_infra.core.desired import derive
from ssc_infra.core.plan import ObjectKind
from ssc_infra.core.secrets import Secret
from ssc_infra.m365.backend import M365
from ssc_infra.m365.diff import diff_graph
from ssc_infra.m365.settings import GraphSettings
from ssc_infra.m365.tenant import USER_SELECT
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.sample import generate, write
from ssc_infra_lab.graph_emulator import GraphEmulator, Sku

TENANT = "0b5e7c1a-bench-4000-8000-000000000001"
LIMIT, WINDOW = 3000, 150.0
VENV = ROOT / ".venv-graph-bench"
LOCK = ROOT / "requirements" / "graph-bench-lock.txt"


def cloud_region(folder: Path, people: int) -> Path:
    """A one-partner sample region of `people` people, the partner made a cloud partner."""
    write(generate(people=people, seed=11, partners=1), folder)
    [partner_file] = (folder / "partners").glob("*.yaml")
    text = partner_file.read_text(encoding="utf-8")
    lines = [("identity: cloud" if line.startswith("identity:") else line)
             for line in text.splitlines()]
    partner_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def floor_seconds(writes: int) -> float:
    """The least time `writes` writes take under LIMIT per WINDOW (the first LIMIT at once)."""
    return max(0, math.ceil(writes / LIMIT) - 1) * WINDOW


def own_client_read(emulator: GraphEmulator, secret: str) -> tuple[float, int, float]:
    """(import seconds, requests, read seconds) of the project's client reading every user."""
    code = (
        "import time, sys; t = time.perf_counter()\n"
        "from ssc_infra.m365.graph import Graph\n"
        "from ssc_infra.m365.settings import GraphSettings\n"
        "from ssc_infra.core.secrets import Secret\n"
        "imported = time.perf_counter() - t\n"
        f"g = Graph(GraphSettings({TENANT!r}, {emulator.client_id!r}, Secret({secret!r}), "
        f"graph_url={emulator.url!r}, login_url={emulator.login_url!r}, "
        f"ca_file={str(emulator.ca_file)!r}))\n"
        "t = time.perf_counter(); users = g.pages('/users', {'$top': 999, '$select': "
        f"{','.join(USER_SELECT)!r}}})\n"
        "print(imported, g.count.requests, time.perf_counter() - t, len(users))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout.split()
    return float(out[0]), int(out[1]), float(out[2])


def msgraph_core_read(emulator: GraphEmulator, secret: str) -> tuple[float, int, float] | str:
    """The same read with msgraph-core (its default middleware: retries, paging by hand)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print("   (making the msgraph-core venv from requirements/graph-bench-lock.txt...)",
              flush=True)
        made = subprocess.run(
            [sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        if made.returncode == 0:
            made = subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                                   "--require-hashes", "-r", str(LOCK)],
                                  capture_output=True, text=True)
        if made.returncode != 0:
            return f"msgraph-core could not be installed: {made.stderr.strip()[-200:]}"
    script = ROOT / "bench" / "graph_msgraph_core.py"
    done = subprocess.run([str(python), str(script), emulator.url, emulator.login_url,
                           TENANT, emulator.client_id, str(emulator.ca_file)],
                          capture_output=True, text=True, input=secret)
    if done.returncode != 0:
        return f"msgraph-core read failed: {done.stderr.strip()[-300:]}"
    out = done.stdout.split()
    return float(out[0]), int(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        region = FilesSource(cloud_region(work / "inventory", args.people)).load(TODAY).region
        [partner] = region.partners
        with GraphEmulator(work / "emulator", write_limit=LIMIT,
                           write_window=WINDOW) as emulator:
            emulator.add_tenant(TENANT, [partner.upn_suffix],
                                [Sku("05e9a617-0261-4cee-bb44-138d3ef5d965", "M365_E3",
                                     len(partner.people) + 50)])
            secret = emulator.client_secret
            settings = GraphSettings(TENANT, emulator.client_id, Secret(secret),
                                     graph_url=emulator.url, login_url=emulator.login_url,
                                     ca_file=str(emulator.ca_file), max_wait=WINDOW)
            m365 = M365({TENANT: settings}, lambda _code: TENANT, work / "state")
            desired = derive(region, TODAY)
            started = time.perf_counter()
            tenants, _ = m365.read([partner])
            section = diff_graph(region, desired, tenants,
                                 allow_disable={partner.code: 10_000})
            assert not section.held, section.held
            passwords = []
            results = m365.apply(section.changes, lambda _c, p: passwords.append(p))
            seconds = time.perf_counter() - started
            failed = [r for r in results if not r.ok]
            [client] = m365.clients.values()
            count = client.count
            applied = emulator.writes(TENANT)
            # each change is one write, a members change one per member added or removed
            needed = sum(len(c.after.get("add", ())) + len(c.after.get("remove", ()))
                         if c.kind is ObjectKind.CLOUD_MEMBERS else 1 for c in section.changes)
            twice = len(applied) - needed
            floor = floor_seconds(len(applied))
            kinds = Counter(c.kind.value for c in section.changes)
            print(f"1. a {len(partner.people):,}-person cloud partner from nothing: "
                  f"{len(section.changes):,} changes ({dict(kinds)}), {len(failed)} failed; "
                  f"{len(applied):,} writes applied by the emulator for {needed:,} needed "
                  f"({twice} extra: none lost, none twice when 0)",
                  flush=True)
            print(f"   {count.requests:,} requests, {count.batches:,} $batch, "
                  f"{count.sub_requests:,} sub-requests ({count.writes_sent:,} writes sent), "
                  f"{count.retries:,} re-sent, {count.throttled:,} answered 429, waited "
                  f"{count.waited:.1f} s", flush=True)
            ratio = seconds / floor if floor else float("nan")
            print(f"   {seconds:.1f} s; the floor of {LIMIT:,} writes per {WINDOW:.0f} s for "
                  f"{len(applied):,} writes is {floor:.0f} s -> {ratio:.2f}x the floor "
                  "(goal: within 10%)", flush=True)
            before = client.count.requests
            again_started = time.perf_counter()
            tenants, _ = m365.read([partner])
            again = diff_graph(region, desired, tenants, allow_disable={partner.code: 10_000})
            print(f"2. plan with nothing to do: {len(again.changes)} changes, "
                  f"{client.count.requests - before} requests (users by delta, groups, members, "
                  "skus), "
                  f"{time.perf_counter() - again_started:.2f} s", flush=True)
            m365.close()
            own = own_client_read(emulator, secret)
            print(f"3. read every user, the project's client (httpx + MSAL + tenacity): "
                  f"import {own[0]:.2f} s, {own[1]} requests, {own[2]:.2f} s", flush=True)
            core = msgraph_core_read(emulator, secret)
            if isinstance(core, str):
                print(f"   msgraph-core: {core}", flush=True)
            else:
                print(f"   the same with msgraph-core + azure-identity: import {core[0]:.2f} s, "
                      f"{core[1]} requests, {core[2]:.2f} s", flush=True)


if __name__ == "__main__":
    main()
