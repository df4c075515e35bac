"""NetBox: the whole sample pushed into an empty NetBox against the ceiling of bare bulk POSTs,
read back, pushed again with nothing to do; beside it, in the same run, the same read by raw
httpx paging and nb_inventory's time.

Two real NetBox 4.7 servers (PostgreSQL, Redis, gunicorn, two workers of four threads) from the
cached migrated dump, each on free loopback ports. Each figure is requests and seconds:
  0. the ceiling, on the second NetBox: which list size NetBox takes best (devices made in
     lists of 50 ... 1,000, each size from an empty NetBox), then the push's objects created
     by bare httpx bulk POSTs of that size, one at a time, in the push's order
     (`netbox_ceiling.py`);
  1. push the sample (sites, hosts, ~2,900 devices, their interfaces, MACs and addresses) into
     the empty first NetBox: the plan's reads, then the bulk writes; ratio ceiling / tool
     (target >= 0.8);
  2. read the region back as the NetBox source does (`read_documents`: one request per kind
     and page of 1,000), and the whole load (snapshot + the files loader's checks);
  3. the same objects by raw httpx paging (same filters, same field selection), no parsing;
  4. a push with nothing to do (reads + diff);
  5. nb_inventory (netbox.netbox) listing the infrastructure hosts.
Targets: the read within 1.5x of raw paging; the no-change push under 15 s, a few dozen
requests. Run: `make bench` or `python bench/netbox.py [--partners a,b] [--probe N]`
(`--partners` pushes only those partners' objects, for a quick run; `--probe 0 --batch N`
skips the probe).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from benchlab import ROOT, TODAY
from netbox_ceiling import Payload, RawPush, probe

from ssc_infra.core.plan import ObjectKind
from ssc_infra.core.secrets import Secret
from ssc_infra.netbox.client import PAGE, READ_FIELDS, NetBox, NetBoxSettings
from ssc_infra.netbox.diff import endpoint
from ssc_infra.netbox.objects import DEVICE_ROLES, LAN_INTERFACE, infra_slug
from ssc_infra.netbox.push import plan_netbox, push
from ssc_infra.netbox.source import NetBoxSource, read_documents
from ssc_infra.sources.files import FilesSource
from ssc_infra_lab.netbox import NetBoxServer, reset_netbox, start_netbox, stop_netbox
from ssc_infra_lab.peer_inventory import nb_inventory

T = TypeVar("T")
SAMPLE = ROOT / "inventory"


def timed(call: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    value = call()
    return value, time.perf_counter() - started


def raw_read(url: str, token: str, region: str) -> tuple[int, int]:
    """The objects `read_documents` reads, paged with httpx: (requests, objects)."""
    requests = objects = 0
    with httpx.Client(base_url=url.rstrip("/") + "/api/", timeout=120,
                      headers={"Authorization": f"Bearer {token}",
                               "Accept": "application/json"}) as client:

        def pages(kind: ObjectKind, **params: Any) -> list[dict[str, Any]]:
            nonlocal requests, objects
            out: list[dict[str, Any]] = []
            offset = 0
            query = {"limit": PAGE, **params}
            if kind in READ_FIELDS:
                query["fields"] = READ_FIELDS[kind]
            while True:
                page = client.get(endpoint(kind) + "/", params={**query, "offset": offset})
                requests += 1
                body = page.json()
                out += body["results"]
                if not body.get("next"):
                    objects += len(out)
                    return out
                offset += len(body["results"])

        [group] = pages(ObjectKind.NB_TENANT_GROUP, slug=region)
        pages(ObjectKind.NB_TENANT, group_id=group["id"])
        sites = pages(ObjectKind.NB_SITE, tenant_group_id=group["id"])
        pages(ObjectKind.NB_SITE, slug=infra_slug(region))
        pages(ObjectKind.NB_VLAN, tenant_group_id=group["id"])
        pages(ObjectKind.NB_PREFIX, tenant_group_id=group["id"])
        pages(ObjectKind.NB_DEVICE, tenant_group_id=group["id"],
              role=sorted(DEVICE_ROLES.values()))
        pages(ObjectKind.NB_DEVICE, site=infra_slug(region))
        pages(ObjectKind.NB_INTERFACE, site_id=[s["id"] for s in sites], name=LAN_INTERFACE)
    return requests, objects


def ceiling(server: NetBoxServer, objects: list[Payload], sizes: list[int], count: int,
            batch: int) -> tuple[RawPush, float]:
    """The probe of list sizes (when `count`), then the objects by bare bulk POSTs."""
    if count:
        found = probe(server.url, server.token(), objects, sizes, count,
                      lambda: reset_netbox(server))
        for one in found:
            print(f"   lists of {one.batch:>5}: {one.objects} devices in {one.requests} "
                  f"requests, {one.seconds:.1f} s = {one.rate:.1f} devices/s", flush=True)
        batch = max(found, key=lambda r: r.rate).batch
        reset_netbox(server)
    raw = RawPush(server.url, server.token(), batch)
    try:
        _, seconds = timed(lambda: raw.run(objects))
    finally:
        raw.close()
    return raw, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--partners", default="",
                        help="push only these partners' objects (comma-separated)")
    parser.add_argument("--probe", type=int, default=1000,
                        help="devices made for each list size tried (0: no probe)")
    parser.add_argument("--sizes", default="50,100,250,500,1000")
    parser.add_argument("--batch", type=int, default=250, help="the list size without a probe")
    args = parser.parse_args()
    partners = tuple(p for p in args.partners.split(",") if p)
    sizes = [int(s) for s in args.sizes.split(",") if int(s) <= max(args.probe, 1)]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("starting two NetBox servers (the first time installs and migrates it: "
              "~5 min)...", flush=True)
        server, started = timed(lambda: start_netbox(work / "netbox"))
        print(f"  NetBox up in {started:.1f} s at {server.url}", flush=True)
        second = start_netbox(work / "netbox-ceiling")
        print(f"  the ceiling's NetBox at {second.url}", flush=True)
        try:
            settings = NetBoxSettings(server.url, Secret(server.token()), timeout=600)
            state = work / "state"
            inventory = FilesSource(SAMPLE).load_for_run(TODAY, (), state, {})

            planned, plan_s = timed(lambda: plan_netbox(inventory, settings, state, TODAY,
                                                        partners=partners))
            reads = planned.netbox.count.requests
            changes = list(planned.section.changes)
            print(f"  push, plan: {len(changes):,} changes, {reads} requests, {plan_s:.1f} s",
                  flush=True)
            objects = [(c.kind.value, c.key, c.after) for c in changes]
            print("0. the ceiling: bare httpx bulk POSTs into the second empty NetBox",
                  flush=True)
            raw, raw_push_s = ceiling(second, objects, sizes, args.probe, args.batch)
            stop_netbox(second)
            print(f"   {raw.created:,} objects in {raw.requests} requests of up to "
                  f"{raw.batch}, {raw_push_s:.1f} s ({raw.skipped} not sent: they refer to "
                  f"objects outside --partners)", flush=True)
            assert partners or raw.created == len(changes), (raw.created, len(changes))

            results, push_s = timed(lambda: push(planned, changes, state, "bench"))
            failed = sum(1 for r in results if not r.ok)
            writes = planned.netbox.count.requests - reads
            print(f"1. push into an empty NetBox: {len(results):,} objects, {failed} failed, "
                  f"{writes} write requests, {push_s:.1f} s (+ plan {plan_s:.1f} s); the "
                  f"ceiling {raw_push_s:.1f} s -> ceiling / tool = {raw_push_s / push_s:.2f} "
                  f"(target >= 0.8)", flush=True)
            if partners:
                again, again_s = timed(lambda: plan_netbox(inventory, settings, state, TODAY,
                                                           partners=partners))
                # what referred to a site outside --partners was not sent: still to do
                print(f"4. push again: {len(again.section.changes)} changes left ({failed} "
                      f"were not sent), {again.netbox.count.requests} requests, "
                      f"{again_s:.2f} s", flush=True)
                return

            netbox = NetBox(settings)
            documents, read_s = timed(lambda: read_documents(netbox, "frl"))
            devices = sum(len(rows) for rows in documents.devices.values())
            source = NetBoxSource(SAMPLE, lambda: settings, work / "state2")
            loaded, load_s = timed(lambda: source.load(TODAY))
            assert not loaded.held
            same = loaded.region == FilesSource(SAMPLE).load(TODAY).region
            print(f"   the Region read from NetBox equals the files' Region: {same}")
            print(f"2. read the region from NetBox: {netbox.count.requests} requests, "
                  f"{read_s:.2f} s ({devices:,} devices); the whole load (+ snapshot and the "
                  f"loader's checks) {load_s:.2f} s", flush=True)
            (raw_requests, raw_objects), raw_s = timed(
                lambda: raw_read(server.url, server.token(), "frl"))
            print(f"3. the same by raw httpx paging: {raw_requests} requests, {raw_objects:,} "
                  f"objects, {raw_s:.2f} s -> the source's read is {read_s / raw_s:.2f}x "
                  f"(target <= 1.5x)", flush=True)

            again, again_s = timed(lambda: plan_netbox(inventory, settings, state, TODAY))
            assert again.section.empty, again.section.changes[:3]
            print(f"4. push with nothing to do: {again.netbox.count.requests} requests, "
                  f"{again_s:.2f} s (waiting on NetBox {again.netbox.count.seconds:.2f} s), "
                  f"0 changes (target < 15 s, a few dozen requests); "
                  f"slowest reads: {again.netbox.count.slowest()}", flush=True)

            hosts, peer_s = timed(lambda: nb_inventory(server.url, server.token(),
                                                       infra_slug("frl")))
            count = len(hosts.get("_meta", {}).get("hostvars", {}))
            print(f"5. nb_inventory (netbox.netbox) for the hosts: {count} hosts, "
                  f"{peer_s:.2f} s", flush=True)
        finally:
            stop_netbox(server)
            stop_netbox(second)


if __name__ == "__main__":
    main()
