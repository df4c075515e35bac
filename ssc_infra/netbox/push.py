"""`netbox plan` and `netbox push`: make NetBox hold the inventory, as a section of a plan.

load -> derive (the addresses the hosts get) -> read NetBox in bulk -> diff -> guard, and for a
push the changes applied in bulk, each one audited. A partner held by the inventory (bad data
of its own) is held here too. A saved plan is sealed like the main plan; its items are checked
against NetBox again before they are sent, and one whose object changed since is refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.core.desired import derive
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Region
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    Held,
    ItemResult,
    ObjectKind,
    Plan,
    Section,
    plan_from_dict,
    plan_to_dict,
)
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.netbox.client import NetBox, NetBoxSettings, Refs, existing_objects
from ssc_infra.netbox.diff import Existing, diff_netbox
from ssc_infra.netbox.objects import (
    DEVICE_TYPES,
    MANUFACTURER,
    OWNER_TAG,
    SERVER_TYPE,
    NbObject,
    desired_objects,
    infra_site,
)
from ssc_infra.sources import RunInventory
from ssc_infra.sources.planfile import read_plan_json
from ssc_infra.state.allocations import load_allocations
from ssc_infra.state.audit import AuditEntry
from ssc_infra.state.folder import StateDir, run_id, write_private
from ssc_infra.state.ledger import kept_names, load_ledger
from ssc_infra.state.seal import plan_key, seal, unseal

READERS = 4  # NetBox reads at once: the lab's gunicorn has 2 workers of 4 threads


@dataclass
class NetBoxPlan:
    region: Region
    inventory: RunInventory
    section: Section
    netbox: NetBox
    refs: Refs
    existing: dict[tuple[ObjectKind, str], Existing] = field(default_factory=dict)

    @property
    def plan(self) -> Plan:
        return Plan((self.section,))


def plan_netbox(inventory: RunInventory, settings: NetBoxSettings, state: Path, today: date,
                prune: bool = False, allow_delete: Mapping[str, int] | None = None,
                partners: tuple[str, ...] = (), from_netbox: bool = False) -> NetBoxPlan:
    """The NetBox section for the inventory: what a push would create, update and delete.

    Args:
        from_netbox: the inventory was read from this NetBox (`--source netbox`): the push
            then adds what the tool derives (the addresses it hands out) and adopts, without
            touching them, the objects engineers made there.
    """
    region = inventory.region
    desired_state = derive(region, today, kept_names(load_ledger(state), region))
    workplaces = derive_workplaces(region, desired_state, load_allocations(state))
    desired = desired_objects(region, workplaces)
    netbox = NetBox(settings)
    refs = Refs()
    existing = read_existing(netbox, region, desired, refs)
    section = diff_netbox(desired, existing, region.guards, prune, allow_delete, partners,
                          adopt=from_netbox)
    held = {code: found for code, found in inventory.held.items()}
    if held:  # held by the inventory: held here too
        codes = set(held) & {c.partner for c in section.changes}
        section = Section(Backend.NETBOX,
                          tuple(c for c in section.changes if c.partner not in codes),
                          (*section.held, *(Held(code, 0, 0, 0, "", reason=(
                              f"{len(held[code])} problem(s) in its own inventory data"))
                              for code in sorted(codes))),
                          (*section.held_changes,
                           *(c for c in section.changes if c.partner in codes)),
                          section.unmanaged)
    return NetBoxPlan(region, inventory, section, netbox, refs,
                      {(e.kind, e.key): e for e in existing})


def read_existing(netbox: NetBox, region: Region, desired: list[NbObject],
                  refs: Refs) -> list[Existing]:
    """What NetBox holds of the region, and of the shared objects the region needs."""
    wanted: dict[ObjectKind, list[str]] = {}
    for obj in desired:
        wanted.setdefault(obj.kind, []).append(obj.key)
    raw: dict[ObjectKind, list[dict[str, Any]]] = {}
    raw[ObjectKind.NB_TAG] = [t for t in netbox.read(ObjectKind.NB_TAG)
                              if str(t.get("slug", "")).startswith("ssc-")]
    raw[ObjectKind.NB_CUSTOM_FIELD] = [c for c in netbox.read(ObjectKind.NB_CUSTOM_FIELD)
                                       if str(c.get("name", "")).startswith("ssc_")]
    raw[ObjectKind.NB_TENANT_GROUP] = netbox.read(ObjectKind.NB_TENANT_GROUP, slug=region.code)
    raw[ObjectKind.NB_MANUFACTURER] = netbox.read(ObjectKind.NB_MANUFACTURER, slug=MANUFACTURER)
    raw[ObjectKind.NB_DEVICE_TYPE] = netbox.read(
        ObjectKind.NB_DEVICE_TYPE, slug=[SERVER_TYPE, *DEVICE_TYPES.values()])
    raw[ObjectKind.NB_DEVICE_ROLE] = netbox.read(
        ObjectKind.NB_DEVICE_ROLE, slug=wanted.get(ObjectKind.NB_DEVICE_ROLE, []))
    group_ids = [g["id"] for g in raw[ObjectKind.NB_TENANT_GROUP]]
    in_group: dict[str, Any] = {"tenant_group_id": group_ids} if group_ids else {}
    tenants = _merged(netbox.read(ObjectKind.NB_TENANT, group_id=group_ids) if group_ids
                      else [],
                      netbox.read(ObjectKind.NB_TENANT, slug=wanted.get(ObjectKind.NB_TENANT))
                      if wanted.get(ObjectKind.NB_TENANT) else [])
    raw[ObjectKind.NB_TENANT] = tenants
    sites = _merged(netbox.read(ObjectKind.NB_SITE, **in_group) if in_group else [],
                    netbox.read(ObjectKind.NB_SITE, slug=wanted.get(ObjectKind.NB_SITE, [])))
    raw[ObjectKind.NB_SITE] = sites
    # NetBox refuses a filter by a tag it does not have: before the first push, nothing is owned.
    tagged = any(t.get("slug") == OWNER_TAG for t in raw[ObjectKind.NB_TAG])
    owned = {"tag": OWNER_TAG}
    infra = infra_site(region)
    site_ids = [s["id"] for s in sites]
    has_infra = any(s.get("slug") == infra for s in sites)
    # The big reads do not depend on each other: NetBox serves them side by side (its
    # workers and PostgreSQL), which halves a no-change push.
    reads: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "vlans": lambda: netbox.read(ObjectKind.NB_VLAN, **in_group, **owned)
        if in_group and tagged else [],
        "prefixes": lambda: netbox.read(ObjectKind.NB_PREFIX, **in_group, **owned)
        if in_group and tagged else [],
        "devices": lambda: netbox.read(ObjectKind.NB_DEVICE, **in_group) if in_group else [],
        "hosts": lambda: netbox.read(ObjectKind.NB_DEVICE, site=infra) if has_infra else [],
        "interfaces": lambda: netbox.read(ObjectKind.NB_INTERFACE, site_id=site_ids)
        if site_ids else [],
        "macs": lambda: netbox.read(ObjectKind.NB_MAC, **owned) if tagged else [],
        "ips": lambda: netbox.read(ObjectKind.NB_IP, **in_group) if in_group else [],
    }
    with ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="netbox-read") as pool:
        futures = {name: pool.submit(read) for name, read in reads.items()}
        got = {name: future.result() for name, future in futures.items()}
    raw[ObjectKind.NB_VLAN] = got["vlans"]
    raw[ObjectKind.NB_PREFIX] = got["prefixes"]
    hosts = got["hosts"]
    raw[ObjectKind.NB_DEVICE] = _merged(got["devices"], hosts)
    interfaces = got["interfaces"]
    raw[ObjectKind.NB_INTERFACE] = interfaces
    interface_ids = {i["id"] for i in interfaces}
    mine = set(wanted.get(ObjectKind.NB_MAC, []))
    raw[ObjectKind.NB_MAC] = [m for m in got["macs"]
                              if (m.get("assigned_object_id") in interface_ids)
                              or str(m.get("mac_address", "")).upper() in mine]
    host_names = [d["name"] for d in hosts]
    raw[ObjectKind.NB_IP] = _merged(
        got["ips"], netbox.read(ObjectKind.NB_IP, device=host_names) if host_names else [])
    partners = {int(t["id"]): str(t["slug"]) for t in tenants
                if t.get("slug") in {p.code for p in region.partners}}
    existing = existing_objects(raw, partners, refs)
    # A VLAN, prefix or MAC address is keyed by where it is: one the tool did not make is
    # an engineer's own beside the tool's, not a conflict.
    loose = {ObjectKind.NB_VLAN, ObjectKind.NB_PREFIX, ObjectKind.NB_MAC}
    return [e for e in existing if e.owned or e.kind not in loose]


def _merged(*reads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[Any, dict[str, Any]] = {}
    for read in reads:
        for obj in read:
            seen.setdefault(obj.get("id"), obj)
    return list(seen.values())


# -- saved plans ------------------------------------------------------------------------


def save_netbox_plan(planned: NetBoxPlan, path: Path, state: Path,
                     meta: Mapping[str, Any]) -> None:
    data = plan_to_dict(planned.plan, {**meta, "command": "netbox plan"})
    sealed = seal(data, plan_key(StateDir(state).ensure()))
    write_private(path, json.dumps(sealed, indent=1, ensure_ascii=False) + "\n")


def load_netbox_plan(path: Path, state: Path) -> tuple[Section, dict[str, Any]]:
    """A sealed NetBox plan file's section; SscError when it is edited, damaged or not one."""
    raw = read_plan_json(path)
    data = unseal(raw, plan_key(StateDir(state).ensure()), str(path))
    try:
        plan, meta, _ = plan_from_dict(data)
    except ValueError as e:
        raise SscError(f"{path}: {e}") from None
    if meta.get("command") != "netbox plan":
        raise SscError(f"{path}: not a NetBox plan (made by {meta.get('command')!r}); make one "
                       "with `ssc-infra netbox plan --out FILE`")
    return plan.section(Backend.NETBOX), meta


def against_now(saved: Section, fresh: NetBoxPlan) -> tuple[list[Change], list[tuple[Change,
                                                                                     str]]]:
    """The saved plan's changes that still hold against NetBox now, and those refused."""
    ok: list[Change] = []
    refused: list[tuple[Change, str]] = []
    held = fresh.section.held and {h.partner for h in fresh.section.held}
    for change in saved.changes:
        if held and change.partner in held:
            refused.append((change, f"partner {change.partner} is held now"))
            continue
        found = fresh.existing.get((change.kind, change.key))
        if change.action is Action.CREATE:
            if found is not None:
                refused.append((change, "it exists in NetBox now (made since the plan)"))
                continue
        elif found is None:
            refused.append((change, "it is gone from NetBox since the plan"))
            continue
        else:
            now_fields = {k: found.fields.get(k) for k in change.before}
            if change.action is Action.UPDATE and not _same(change.before, now_fields):
                refused.append((change, "it was changed in NetBox since the plan"))
                continue
        ok.append(change)
    return ok, refused


def _same(before: Mapping[str, Any], now_fields: Mapping[str, Any]) -> bool:
    for name, value in before.items():
        have = now_fields.get(name)
        if name == "custom_fields":
            have = {k: (have or {}).get(k) for k in value}
        if name == "tags":
            have = sorted(have or [])
        if have != value:
            return False
    return True


# -- push -------------------------------------------------------------------------------


def push(planned: NetBoxPlan, changes: list[Change], state: Path, target: str,
         progress: Callable[[str], None] | None = None) -> list[ItemResult]:
    """Apply the changes to NetBox, every item audited under one run id."""
    results = planned.netbox.apply(changes, planned.refs, progress)
    rid = run_id()
    directory = StateDir(state)
    directory.ensure()
    for item in results:
        directory.audit(AuditEntry.of(item, rid, "netbox push", target).as_dict())
    return results
