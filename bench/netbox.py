"""NetBox: the whole sample pushed into an empty NetBox, read back, pushed again with nothing to
do; beside it, in the same run, the same read by raw httpx paging and nb_inventory's time.

A real NetBox 4.7 (PostgreSQL, Redis, gunicorn, two workers of four threads) from the cached
migrated dump, on a free loopback port. Each figure is requests and seconds:
  1. push the sample (sites, hosts, ~2,900 devices, their interfaces, MACs and addresses) into
     the empty NetBox: the plan's reads, then the bulk writes;
  2. read the region back as the NetBox source does (`read_documents`: one request per kind
     and page of 1,000), and the whole load (snapshot + the files loader's checks);
  3. the same objects by raw httpx paging (same filters, same field selection), no parsing;
  4. a push with nothing to do (reads + diff);
  5. nb_inventory (netbox.netbox) listing the infrastructure hosts.
Targets: the read within 1.5x of raw paging; the no-change push under 15 s, a few dozen
requests. Run: `make bench` or `python bench/netbox.py`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from benchlab import ROOT, TODAY

from ssc_infra.core.plan import ObjectKind
from ssc_infra.core.secrets import Secret
from ssc_infra.netbox.client import PAGE, READ_FIELDS, NetBox, NetBoxSettings
from ssc_infra.netbox.diff import endpoint
from ssc_infra.netbox.objects import DEVICE_ROLES, LAN_INTERFACE, infra_slug
from ssc_infra.netbox.push import plan_netbox, push
from ssc_infra.netbox.source import NetBoxSource, read_documents
from ssc_infra.sources.files import FilesSource
from ssc_infra_lab.netbox import start_netbox, stop_netbox
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


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("starting NetBox (the first time installs and migrates it: ~5 min)...",
              flush=True)
        server, started = timed(lambda: start_netbox(work / "netbox"))
        print(f"  NetBox up in {started:.1f} s at {server.url}", flush=True)
        try:
            settings = NetBoxSettings(server.url, Secret(server.token()), timeout=600)
            state = work / "state"
            inventory = FilesSource(SAMPLE).load_for_run(TODAY, (), state, {})

            planned, plan_s = timed(lambda: plan_netbox(inventory, settings, state, TODAY))
            reads = planned.netbox.count.requests
            changes = list(planned.section.changes)
            print(f"  push, plan: {len(changes):,} changes, {reads} requests, {plan_s:.1f} s",
                  flush=True)
            results, push_s = timed(lambda: push(planned, changes, state, "bench"))
            failed = sum(1 for r in results if not r.ok)
            writes = planned.netbox.count.requests - reads
            print(f"1. push into an empty NetBox: {len(results):,} objects, {failed} failed, "
                  f"{writes} write requests, {push_s:.1f} s (+ plan {plan_s:.1f} s)", flush=True)

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


if __name__ == "__main__":
    main()
