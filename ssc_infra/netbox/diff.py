"""NetBox's section of the plan: (desired objects, what NetBox holds) -> changes. Pure.

What NetBox holds comes as `Existing` objects, their fields in the same terms as the desired
ones (other objects as `ref`s, tags as slugs), so comparing is a dict lookup. The rules:

- An object the tool owns (tag `ssc-infra`) that differs gets an update of only the fields that
  differ; tags and custom fields the tool does not manage are kept as they are.
- An object that is not there is created. One with the same key that the tool does not own is
  never touched: its partner is held, with a message that says how to hand it over.
  Shared objects (a manufacturer, a device role or type) that exist without the tag are used
  as they are.
- An owned object gone from the inventory is reported; with `prune` it is deleted, through the
  guard (a partner that loses more than the guard allows is held).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ssc_infra.core.model import Guards
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    Held,
    ObjectKind,
    Section,
    Unmanaged,
    apply_guards,
)
from ssc_infra.netbox.objects import (
    APPLY_ORDER,
    OWNER_TAG,
    SHARED_SITE_TAG,
    NbObject,
)

MANAGED_TAGS = frozenset({OWNER_TAG, SHARED_SITE_TAG})
# Kinds that carry no ownership tag in NetBox: the tool's own by their name (ssc-*, ssc_*).
UNTAGGED = frozenset({ObjectKind.NB_TAG, ObjectKind.NB_CUSTOM_FIELD})
# Kinds an SSC may already have made by hand, used as they are when not owned.
SHARED = frozenset({ObjectKind.NB_MANUFACTURER, ObjectKind.NB_DEVICE_TYPE,
                    ObjectKind.NB_DEVICE_ROLE})


@dataclass(frozen=True, slots=True)
class Existing:
    """An object as NetBox holds it, in the terms of `NbObject`."""

    kind: ObjectKind
    key: str
    id: int
    path: str  # its API path, e.g. dcim/devices/12
    partner: str
    owned: bool
    fields: Mapping[str, Any]
    display: str = ""


def diff_netbox(desired: Iterable[NbObject], actual: Iterable[Existing], guards: Guards,
                prune: bool = False, allow_delete: Mapping[str, int] | None = None,
                partners: Collection[str] = (), adopt: bool = False) -> Section:
    """The NetBox section: what to create, update and (with `prune`) delete.

    Args:
        partners: only these partners' objects (and the shared ones they need); () for all.
        adopt: the inventory was read from this NetBox: an object without the tag is where
            the inventory came from (a thin client an engineer added), so it matches its key
            and is left as it is, never a conflict.
    """
    scope = set(partners)

    def in_scope(partner: str) -> bool:
        return not scope or not partner or partner in scope

    existing = {(e.kind, e.key): e for e in actual}
    changes: list[Change] = []
    unmanaged: list[Unmanaged] = []
    conflicts: dict[str, list[str]] = {}
    wanted: set[tuple[ObjectKind, str]] = set()
    for obj in desired:
        wanted.add((obj.kind, obj.key))
        if not in_scope(obj.partner):
            continue
        found = existing.get((obj.kind, obj.key))
        if found is None:
            changes.append(Change(obj.kind, Action.CREATE, obj.partner, obj.key,
                                  endpoint(obj.kind), {}, dict(obj.fields), Backend.NETBOX))
        elif found.owned or obj.kind in UNTAGGED:
            before, after = _differences(obj.fields, found.fields)
            if after:
                changes.append(Change(obj.kind, Action.UPDATE, obj.partner, obj.key,
                                      found.path, before, after, Backend.NETBOX))
        elif obj.kind not in SHARED and not adopt:
            conflicts.setdefault(obj.partner, []).append(f"{obj.kind.value} {obj.key}")
            unmanaged.append(Unmanaged(
                obj.partner, found.path,
                f"NetBox {obj.kind.value} {obj.key!r} exists without the tag {OWNER_TAG}: "
                f"ssc-infra never touches it; add the tag to hand it over, or rename it",
                key=obj.key))
    owned_count: dict[str, int] = {}
    for e in existing.values():
        if not e.owned or e.kind in UNTAGGED or not in_scope(e.partner):
            continue
        owned_count[e.partner] = owned_count.get(e.partner, 0) + 1
        if (e.kind, e.key) in wanted:
            continue
        if prune:
            changes.append(Change(e.kind, Action.DELETE, e.partner, e.key, e.path,
                                  dict(e.fields), {}, Backend.NETBOX))
        else:
            unmanaged.append(Unmanaged(
                e.partner, e.path, f"NetBox {e.kind.value} {e.key!r} was made by ssc-infra "
                "and is gone from the inventory; `netbox push --prune` deletes it", key=e.key))
    order = {kind: index for index, kind in enumerate(APPLY_ORDER)}
    changes.sort(key=lambda c: (c.action is Action.DELETE,
                                -order[c.kind] if c.action is Action.DELETE else order[c.kind]))
    section = Section(Backend.NETBOX, tuple(changes), unmanaged=tuple(unmanaged))
    guarded = apply_guards(section, owned_count, guards, allow_delete)
    section = dataclasses.replace(guarded, held=tuple(
        dataclasses.replace(h, override=f"--allow-delete {h.partner}={h.disables}", reason=(
            f"the push deletes {h.disables} of the {h.accounts} objects ssc-infra made for it, "
            f"more than the guard allows ({h.limit}); if this is right, re-run with "
            f"--allow-delete {h.partner}={h.disables}"))
        for h in guarded.held))
    reasons = {partner: (f"{len(found)} object(s) of its plan exist in NetBox without the "
                         f"tag {OWNER_TAG} ({_some(found)})")
               for partner, found in conflicts.items() if partner}
    shared = conflicts.get("", [])
    if shared:  # what every partner's objects refer to: hold them all
        for partner in {c.partner for c in section.changes if c.partner}:
            reasons.setdefault(partner, f"a shared object of the plan exists in NetBox without "
                                        f"the tag {OWNER_TAG} ({_some(shared)})")
    if not reasons and not shared:
        return section
    held = [c for c in section.changes if c.partner in reasons or (shared and not c.partner)]
    return Section(Backend.NETBOX, tuple(c for c in section.changes if c not in held),
                   (*section.held, *(Held(p, 0, 0, 0, "", reason=r)
                                     for p, r in sorted(reasons.items()))),
                   (*section.held_changes, *held), section.unmanaged)


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")


def _differences(desired: Mapping[str, Any],
                 actual: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields that differ; tags and custom fields merged."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, want in desired.items():
        have = actual.get(name)
        if name == "tags":
            have_tags = set(have or ())
            if set(want) != have_tags & MANAGED_TAGS:
                before[name] = sorted(have_tags)
                after[name] = sorted((have_tags - MANAGED_TAGS) | set(want))
        elif name == "custom_fields":
            have_cf = dict(have or {})
            changed = {k: v for k, v in want.items() if have_cf.get(k) != v}
            if changed:
                before[name] = {k: have_cf.get(k) for k in changed}
                after[name] = changed
        elif _normal(want) != _normal(have):
            before[name] = have
            after[name] = want
    return before, after


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(_normal(v) for v in value) if all(isinstance(v, str) for v in value) \
            else [_normal(v) for v in value]
    if isinstance(value, str):
        return value.lower() if _looks_like_mac(value) else value
    return value


def _looks_like_mac(value: str) -> bool:
    return len(value) == 17 and value.count(":") == 5


_ENDPOINTS = {
    ObjectKind.NB_TAG: "extras/tags", ObjectKind.NB_CUSTOM_FIELD: "extras/custom-fields",
    ObjectKind.NB_TENANT_GROUP: "tenancy/tenant-groups", ObjectKind.NB_TENANT: "tenancy/tenants",
    ObjectKind.NB_SITE: "dcim/sites", ObjectKind.NB_VLAN: "ipam/vlans",
    ObjectKind.NB_PREFIX: "ipam/prefixes", ObjectKind.NB_MANUFACTURER: "dcim/manufacturers",
    ObjectKind.NB_DEVICE_TYPE: "dcim/device-types", ObjectKind.NB_DEVICE_ROLE: "dcim/device-roles",
    ObjectKind.NB_DEVICE: "dcim/devices", ObjectKind.NB_MAC: "dcim/mac-addresses",
    ObjectKind.NB_INTERFACE: "dcim/interfaces", ObjectKind.NB_IP: "ipam/ip-addresses",
}


def endpoint(kind: ObjectKind) -> str:
    """The API endpoint of a kind, e.g. dcim/devices."""
    return _ENDPOINTS[kind]
