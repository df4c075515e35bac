"""The NetBox push ceiling: the push's objects created by bare httpx bulk POSTs.

Nothing of the tool runs here but the payloads it would send (the plan's changes, in their
order): ids are taken from each answer and put into the next payloads, a list of `batch`
objects a POST, one POST at a time, the hosts' primary IPs set by one bulk PATCH at the end.
`probe` measures which batch size NetBox takes best, on devices (the kind that is most of the
push's time), each size from an empty NetBox.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import httpx

# kind -> list endpoint: spelt out here so the ceiling needs nothing of the tool's client
PATHS = {
    "tag": "extras/tags", "custom-field": "extras/custom-fields",
    "tenant-group": "tenancy/tenant-groups", "tenant": "tenancy/tenants",
    "manufacturer": "dcim/manufacturers", "device-type": "dcim/device-types",
    "device-role": "dcim/device-roles", "site": "dcim/sites", "vlan": "ipam/vlans",
    "prefix": "ipam/prefixes", "device": "dcim/devices", "mac-address": "dcim/mac-addresses",
    "interface": "dcim/interfaces", "ip-address": "ipam/ip-addresses",
}
# (kind, key, fields as the plan has them: other objects as {"ref", "key"}, tags as slugs)
Payload = tuple[str, str, Mapping[str, Any]]


@dataclass
class RawPush:
    """Bulk POSTs of payloads, ids learnt from the answers; `requests` counts every request."""

    url: str
    token: str
    batch: int
    requests: int = 0
    created: int = 0
    skipped: int = 0  # objects referring to one outside the payloads (a `--partners` run)

    def __post_init__(self) -> None:
        self.ids: dict[tuple[str, str], int] = {}
        self.client = httpx.Client(
            base_url=self.url.rstrip("/") + "/api/", timeout=1800,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"})

    def close(self) -> None:
        self.client.close()

    def run(self, objects: Iterable[Payload]) -> None:
        """Create the objects kind after kind, in the order given."""
        primary: list[tuple[str, Mapping[str, Any]]] = []
        for kind, group in groupby(objects, key=lambda o: o[0]):
            items: list[tuple[str, dict[str, Any]]] = []
            for _, key, fields in group:
                body = dict(fields)
                if kind == "device" and body.get("primary_ip4") is not None:
                    primary.append((key, body.pop("primary_ip4")))
                body.pop("primary_ip4", None)
                items.append((key, body))
            for start in range(0, len(items), self.batch):
                self.post(kind, items[start:start + self.batch])
        if primary:
            rows = [{"id": self.ids[("device", key)], **self._body({"primary_ip4": ip})}
                    for key, ip in primary if ("device", key) in self.ids
                    and self._known({"primary_ip4": ip})]
            if rows:
                self._send("PATCH", "device", rows)

    def post(self, kind: str, items: Sequence[tuple[str, Mapping[str, Any]]]) -> None:
        known = [(key, fields) for key, fields in items if self._known(fields)]
        self.skipped += len(items) - len(known)
        items = known
        if not items:
            return
        made = self._send("POST", kind, [self._body(fields) for _, fields in items])
        for (key, _), obj in zip(items, made, strict=True):
            self.ids[(kind, key)] = int(obj["id"])
        self.created += len(made)

    def _send(self, method: str, kind: str, rows: list[dict[str, Any]]) -> list[Any]:
        answer = self.client.request(method, PATHS[kind] + "/", json=rows)
        self.requests += 1
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {PATHS[kind]}: HTTP {answer.status_code}: "
                               f"{answer.text[:500]}")
        body = answer.json()
        assert isinstance(body, list)
        return body

    def _known(self, fields: Mapping[str, Any]) -> bool:
        return all((v["ref"], v["key"]) in self.ids for v in fields.values()
                   if isinstance(v, dict) and set(v) == {"ref", "key"})

    def _body(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if isinstance(value, dict) and set(value) == {"ref", "key"}:
                body[name] = self.ids[(value["ref"], value["key"])]
            elif name == "tags":
                body[name] = [self.ids[("tag", slug)] for slug in value]
            else:
                body[name] = value
        return body


@dataclass(frozen=True)
class ProbeResult:
    batch: int
    objects: int
    requests: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.objects / self.seconds


def probe(url: str, token: str, objects: Sequence[Payload], sizes: Sequence[int], count: int,
          reset: Callable[[], None]) -> list[ProbeResult]:
    """Devices made in lists of each size, `count` of them a size, each from an empty NetBox.

    What the devices need (the kinds before them in `objects`) is made first, untimed; the
    devices are copies of the first laptop of `objects` under new names.
    """
    before = [o for o in objects[:next(i for i, o in enumerate(objects) if o[0] == "device")]]
    laptop = next(o for o in objects if o[0] == "device"
                  and o[2].get("device_type", {}).get("key") == "ssc-laptop")
    out: list[ProbeResult] = []
    for size in sizes:
        reset()
        raw = RawPush(url, token, size)
        try:
            raw.run(before)
            devices = [("device", f"probe-{i}", {**laptop[2], "name": f"probe-{i:05d}",
                                                 "primary_ip4": None})
                       for i in range(count)]
            sent = raw.requests
            started = time.perf_counter()
            raw.run(devices)
            out.append(ProbeResult(size, count, raw.requests - sent,
                                   time.perf_counter() - started))
        finally:
            raw.close()
    return out
