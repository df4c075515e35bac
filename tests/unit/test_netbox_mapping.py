"""The region in NetBox's terms and back, and NetBox's section of the plan: no server here
(tests/integration/test_netbox.py does the same against a real NetBox)."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.desired import derive
from ssc_infra.core.model import Region
from ssc_infra.core.plan import Action, ObjectKind, Section
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.netbox.client import Refs, existing_objects
from ssc_infra.netbox.diff import diff_netbox
from ssc_infra.netbox.objects import (
    OWNER_TAG,
    NbObject,
    desired_objects,
    inventory_documents,
)
from ssc_infra.netbox.source import write_snapshot
from ssc_infra.sources.files import load
from tests.netbox_memory import answers

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "inventory"
MINI = ROOT / "tests" / "fixtures" / "mini"
TODAY = date(2026, 3, 1)


def _desired(region: Region) -> list[NbObject]:
    state = derive(region, TODAY)
    return desired_objects(region, derive_workplaces(region, state))


def _documents(raw: dict[ObjectKind, list[dict[str, Any]]]) -> Any:
    return inventory_documents(
        raw[ObjectKind.NB_TENANT_GROUP][0], raw[ObjectKind.NB_TENANT], raw[ObjectKind.NB_SITE],
        raw[ObjectKind.NB_VLAN], raw[ObjectKind.NB_PREFIX], raw[ObjectKind.NB_DEVICE],
        raw.get(ObjectKind.NB_INTERFACE, []), "http://nb")


def _diff(region: Region, raw: dict[ObjectKind, list[dict[str, Any]]], **options: Any) -> Section:
    partners = {t["id"]: t["slug"] for t in raw[ObjectKind.NB_TENANT]}
    existing = existing_objects(raw, partners, Refs())
    return diff_netbox(_desired(region), existing, region.guards, **options)


@pytest.mark.parametrize("inventory", [SAMPLE, MINI], ids=["sample", "mini"])
def test_netbox_gives_back_the_region_it_was_given(inventory: Path, tmp_path: Path) -> None:
    region = load(inventory, TODAY)
    folder = write_snapshot(_documents(answers(_desired(region))), inventory, tmp_path)
    assert load(folder, TODAY) == region


def test_the_sample_maps_to_one_object_per_thing() -> None:
    region = load(SAMPLE, TODAY)
    objects = _desired(region)
    kinds = {kind: sum(1 for o in objects if o.kind is kind) for kind in ObjectKind}
    devices = sum(len(p.devices) for p in region.partners)
    assert kinds[ObjectKind.NB_TENANT] == len(region.partners)
    assert kinds[ObjectKind.NB_DEVICE] == devices + len(region.hosts)
    assert kinds[ObjectKind.NB_SITE] == sum(len(p.sites) for p in region.partners) + 1
    assert kinds[ObjectKind.NB_MAC] == sum(1 for p in region.partners for d in p.devices if d.mac)
    keys = {(o.kind, o.key) for o in objects}
    assert len(keys) == len(objects), "a key twice"
    for o in objects:  # every reference names an object of the plan
        for value in o.fields.values():
            if isinstance(value, dict) and set(value) == {"ref", "key"}:
                assert (ObjectKind(value["ref"]), value["key"]) in keys, (o.key, value)


@pytest.mark.parametrize("inventory", [SAMPLE, MINI], ids=["sample", "mini"])
def test_a_netbox_that_holds_the_region_needs_nothing(inventory: Path) -> None:
    region = load(inventory, TODAY)
    section = _diff(region, answers(_desired(region)))
    assert section.empty and not section.unmanaged and not section.held


def _device(raw: dict[ObjectKind, list[dict[str, Any]]], name: str) -> dict[str, Any]:
    return next(d for d in raw[ObjectKind.NB_DEVICE] if d["name"] == name)


def _a_laptop(region: Region) -> tuple[str, str]:
    device = next(d for p in region.partners for d in p.devices if d.wg_public_key)
    return device.partner, device.asset_tag


def test_an_update_sends_only_what_differs_and_keeps_what_an_engineer_added() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    partner, name = _a_laptop(region)
    device = _device(raw, name)
    device["custom_fields"]["ssc_wg_public_key"] = "x" * 43 + "="
    device["custom_fields"]["asset_owner"] = "by hand"
    device["tags"].append({"id": 999, "slug": "critical"})
    device["serial"] = "SN-1"
    section = _diff(region, raw)
    [change] = section.changes
    assert (change.kind, change.action, change.key, change.partner) == (
        ObjectKind.NB_DEVICE, Action.UPDATE, name, partner)
    assert list(change.after) == ["custom_fields"]
    assert list(change.after["custom_fields"]) == ["ssc_wg_public_key"]
    assert change.before["custom_fields"] == {"ssc_wg_public_key": "x" * 43 + "="}


def test_a_lost_tag_is_put_back_beside_the_engineers_own() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    site = raw[ObjectKind.NB_SITE][0]
    shared = [t for t in site["tags"] if t["slug"] != OWNER_TAG]
    site["tags"] = [*shared, {"id": 998, "slug": "ssc-infra"}, {"id": 999, "slug": "critical"}]
    site["tags"] = [t for t in site["tags"] if t["slug"] != "ssc-shared-site"]
    wants_shared = any(s.shared for p in region.partners for s in p.sites
                       if s.code == site["slug"])
    section = _diff(region, raw)
    if wants_shared:
        [change] = section.changes
        assert change.after["tags"] == ["critical", "ssc-infra", "ssc-shared-site"]
    else:
        assert section.empty


def test_an_object_without_the_tag_is_never_touched_and_holds_only_its_partner() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    partner, name = _a_laptop(region)
    device = _device(raw, name)
    device["tags"] = []
    device["custom_fields"]["ssc_wg_public_key"] = None
    other = next(p.code for p in region.partners if p.code != partner)
    other_name = next(d.asset_tag for d in region.partner(other).devices)
    _device(raw, other_name)["custom_fields"]["ssc_employee_id"] = "elsewhere"
    section = _diff(region, raw)
    assert [h.partner for h in section.held] == [partner]
    assert "without the tag ssc-infra" in section.held[0].message()
    assert not any(c.partner == partner for c in section.changes)
    assert [c.key for c in section.changes] == [other_name]
    assert any(u.key == name and "never touches it" in u.reason for u in section.unmanaged)


def _extra_devices(raw: dict[ObjectKind, list[dict[str, Any]]], partner: str,
                   count: int) -> None:
    template = next(d for d in raw[ObjectKind.NB_DEVICE]
                    if d.get("tenant") and d["tenant"]["slug"] == partner)
    for n in range(count):
        extra = copy.deepcopy(template)
        extra["id"] = 10_000 + n
        extra["name"] = f"GONE-{n}"
        raw[ObjectKind.NB_DEVICE].append(extra)


def test_an_owned_object_gone_from_the_inventory_is_reported_and_pruned_only_when_asked() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    partner = region.partners[0].code
    _extra_devices(raw, partner, 1)
    section = _diff(region, raw)
    assert section.empty
    assert [u.key for u in section.drift] == ["GONE-0"]
    assert "--prune" in section.drift[0].reason
    guarded = _diff(region, raw, prune=True)  # a small partner: the guard allows none
    assert not guarded.changes and [h.partner for h in guarded.held] == [partner]
    assert f"--allow-delete {partner}=1" in guarded.held[0].message()
    pruned = _diff(region, raw, prune=True, allow_delete={partner: 1})
    [change] = pruned.changes
    assert (change.action, change.key, change.destructive) == (Action.DELETE, "GONE-0", True)
    assert change.target == "dcim/devices/10000"


def test_prune_goes_through_the_guard() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    partner = region.partners[0].code
    _extra_devices(raw, partner, 60)
    section = _diff(region, raw, prune=True)
    assert not section.changes
    assert [h.partner for h in section.held] == [partner]
    assert len(section.held_changes) == 60
    allowed = _diff(region, raw, prune=True, allow_delete={partner: 60})
    assert len(allowed.changes) == 60 and not allowed.held


def test_a_partner_scope_leaves_the_others_alone() -> None:
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    for device in raw[ObjectKind.NB_DEVICE]:
        if device.get("custom_fields", {}).get("ssc_employee_id"):
            device["custom_fields"]["ssc_employee_id"] += "0"
    first = region.partners[0].code
    section = _diff(region, raw, partners=(first,))
    assert section.changes and {c.partner for c in section.changes} == {first}


def test_creates_come_in_dependency_order_and_deletes_in_reverse() -> None:
    region = load(MINI, TODAY)
    section = diff_netbox(_desired(region), [], region.guards)
    kinds = [c.kind for c in section.changes]
    assert kinds.index(ObjectKind.NB_TENANT) < kinds.index(ObjectKind.NB_SITE) \
        < kinds.index(ObjectKind.NB_DEVICE) < kinds.index(ObjectKind.NB_IP)
    assert all(c.action is Action.CREATE for c in section.changes)


def test_hostile_values_from_netbox_stay_data(tmp_path: Path) -> None:
    """A device name, key or MAC typed into NetBox goes through the files loader's checks:
    the partner is held with a problem that names the NetBox object."""
    region = load(MINI, TODAY)
    raw = answers(_desired(region))
    partner, name = _a_laptop(region)
    device = _device(raw, name)
    device["custom_fields"]["ssc_wg_public_key"] = "abc\n[Peer]\nAllowedIPs = 0.0.0.0/0"
    documents = _documents(raw)
    folder = write_snapshot(documents, MINI, tmp_path)
    from ssc_infra.sources.files import load_holding
    loaded = load_holding(folder, TODAY)
    assert list(loaded.held) == [partner]
    assert partner in {p.code for p in region.partners}
    assert all(p.code != partner for p in loaded.region.partners)
