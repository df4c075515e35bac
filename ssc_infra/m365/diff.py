"""Microsoft 365's section of the plan: (desired state, each partner's tenant) -> changes. Pure.

Cloud partners (`identity: cloud`) have their users, licences and groups made here:
- a person due an account gets a cloud user (disabled before the start date), with only the
  properties that differ updated later; a leaver or a person gone from the export is disabled
  (`accountEnabled=false`) and loses the licences, never deleted;
- licences (the partner's `kind: licence` services, by SKU part number) are assigned directly,
  from the start date only; a licence of the catalogue that a person should no longer hold is
  revoked (destructive, through the guard); a licence the tool does not manage is kept;
- the partner's groups (all but the licence groups) and their members follow the inventory;
  a member the tool does not manage is never removed.

Hybrid partners (`identity: hybrid`) are verified, not written: each person with an enabled
account should be a synced user holding the partner's licences through group-based licensing.
A licence error (CountViolation, MutuallyExclusiveViolation, ...) is drift; a user not yet
synced is reported apart, as waiting for Entra Connect, and is not drift.

Seats: the licences a partner's changes would add (directly, or through its AD licence groups)
are counted against the free seats of `subscribedSkus`; a partner that needs more than are free
is held with the numbers, and the partners after it go on with what is left.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ssc_infra.core.desired import AccountState, DesiredPartner, DesiredState, group_name
from ssc_infra.core.model import Identity, PersonKey, Region
from ssc_infra.core.plan import (
    WAITING_FOR_SYNC,
    Action,
    Backend,
    Change,
    Held,
    ObjectKind,
    Section,
    Unmanaged,
    apply_guards,
)
from ssc_infra.m365.tenant import (
    CloudUser,
    TenantState,
    cloud_groups,
    desired_user,
    in_domain,
    licence_skus,
    licences_for,
    member_keys,
    region_licence_skus,
)

WAITING = WAITING_FOR_SYNC


@dataclass(frozen=True)
class Unreadable:
    """A partner whose tenant could not be read: held, with the reason."""

    partner: str
    reason: str


def diff_graph(region: Region, desired: DesiredState, tenants: Mapping[str, TenantState],
               partners: Collection[str] = (), directory: Section | None = None,
               allow_disable: Mapping[str, int] | None = None,
               unreadable: Collection[Unreadable] = (),
               revoked: Collection[PersonKey] = ()) -> Section:
    """The Graph section for the partners in scope (all when `partners` is empty).

    Args:
        tenants: partner code -> what its tenant holds of it (partners with a tenant only).
        directory: the directory's section of the same run: the members it adds to a hybrid
            partner's licence groups need seats too.
        unreadable: partners whose tenant could not be read; they are held.
        revoked: people whose access their partner's manager revoked in an access review:
            their cloud user is kept disabled (its licences stay: the person still works here).
    """
    scope = [p for p in desired.partners if (not partners or p.code in partners)
             and p.code in tenants]
    changes: list[Change] = []
    unmanaged: list[Unmanaged] = []
    refused: list[Held] = [Held(u.partner, 0, 0, 0, "", reason=u.reason) for u in unreadable]
    enabled: dict[str, int] = {}
    for dp in scope:
        tenant = tenants[dp.code]
        partner = region.partner(dp.code)
        mine = [u for u in tenant.users if in_domain(u.upn, partner.upn_suffix)]
        switched = _identity_switch(dp, mine)
        if switched:
            refused.append(Held(dp.code, 0, 0, 0, "", reason=switched))
            continue
        missing = [s for s in licence_skus(region, partner) if tenant.sku(s) is None]
        if missing and dp.identity is Identity.CLOUD:
            refused.append(Held(dp.code, 0, 0, 0, "", reason=(
                f"its tenant {tenant.tenant} has no subscription {', '.join(missing)} "
                "(subscribedSkus): buy it, or correct the service's sku in region.yaml")))
            continue
        if dp.identity is Identity.CLOUD:
            found, lost = _cloud_changes(region, dp, tenant, mine, frozenset(revoked))
            changes += found
            unmanaged += lost
            enabled[dp.code] = sum(1 for u in mine if u.employee_id and not u.synced
                                   and u.properties.get("accountEnabled"))
        else:
            unmanaged += _verify_hybrid(region, dp, tenant, mine)
    section = apply_guards(Section(Backend.GRAPH, tuple(changes), tuple(refused), (),
                                   tuple(unmanaged)),
                           enabled, region.guards, allow_disable)
    section = section.holding({h.partner for h in refused})
    return _seats(region, section, tenants, scope, directory)


def _identity_switch(dp: DesiredPartner, users: list[CloudUser]) -> str:
    """Why the partner's tenant does not fit its identity mode ("" when it does)."""
    managed = [u for u in users if u.employee_id]
    if dp.identity is Identity.HYBRID and any(not u.synced for u in managed):
        cloud = sum(1 for u in managed if not u.synced)
        return (f"its identity is hybrid, but its tenant holds {cloud} cloud users with an "
                "employeeId in its domain: switching a partner from cloud to hybrid is a "
                "migration (match the users to AD accounts, then let Entra Connect take them "
                "over), a project of its own; until then keep `identity: cloud`")
    if dp.identity is Identity.CLOUD and any(u.synced for u in managed):
        synced = sum(1 for u in managed if u.synced)
        return (f"its identity is cloud, but its tenant holds {synced} users synced from AD "
                "in its domain: switching from hybrid to cloud is a migration of its own; "
                "until then keep `identity: hybrid`")
    return ""


def _key(partner: str, employee_id: str) -> str:
    return f"{partner}/{employee_id}"


def _same(have: Any, want: Any) -> bool:
    if isinstance(want, str) and isinstance(have, str):
        return have == want
    return (have or None) == (want or None) if not isinstance(want, bool) else have == want


def _cloud_changes(region: Region, dp: DesiredPartner, tenant: TenantState,
                   users: list[CloudUser], revoked: frozenset[PersonKey] = frozenset(),
                   ) -> tuple[list[Change], list[Unmanaged]]:
    code = dp.code
    managed = {(code, u.employee_id): u for u in users if u.employee_id}
    unmanaged = [Unmanaged(code, u.upn, "a user in the partner's domain without an employeeId: "
                           "not managed by ssc-infra")
                 for u in users if not u.employee_id]
    # Every licence of the region's catalogue is the tool's to take back (a service the partner
    # no longer takes, an offboarded partner); only those it takes are the tool's to give.
    catalogue = {s.sku_id: s.part_number for part in region_licence_skus(region)
                 if (s := tenant.sku(part)) is not None}
    offered = set(licence_skus(region, region.partner(code)))
    by_part = {part: sku_id for sku_id, part in catalogue.items() if part in offered}
    changes: list[Change] = []
    licence_changes: list[Change] = []
    accounts = {a.key: a for a in dp.accounts}
    for account in dp.accounts:
        key = _key(*account.key)
        label = account.name.display_name
        want = desired_user(account)
        if account.key in revoked:
            want = {**want, "accountEnabled": False}
        user = managed.get(account.key)
        wanted = {by_part[p] for p in licences_for(account, by_part)}
        if user is None:
            if account.state is AccountState.LEAVER:
                continue  # left before the tool made a user: nothing to disable
            changes.append(Change(ObjectKind.CLOUD_USER, Action.CREATE, code, key,
                                  account.name.upn, {}, want, Backend.GRAPH, label))
            if wanted:
                licence_changes.append(_licence_change(code, key, account.name.upn,
                                                       set(), wanted, catalogue, label=label))
            continue
        changes += _user_changes(code, key, user, want, label)
        have = {s for s in user.direct_licences if s in catalogue}
        if have != wanted:
            licence_changes.append(_licence_change(
                code, key, user.upn, have, wanted, catalogue,
                leaver=account.state is AccountState.LEAVER, label=label))
    for person_key, user in sorted(managed.items()):
        if person_key in accounts:
            continue
        key = _key(*person_key)
        # Gone from the HR export: only the tenant still knows the person's name.
        label = str(user.properties.get("displayName") or "")
        if user.properties.get("accountEnabled"):
            changes.append(Change(ObjectKind.CLOUD_USER, Action.DISABLE, code, key, user.upn,
                                  {"accountEnabled": True}, {"accountEnabled": False},
                                  Backend.GRAPH, label))
        have = {s for s in user.direct_licences if s in catalogue}
        if have:
            licence_changes.append(_licence_change(code, key, user.upn, have, set(), catalogue,
                                                   leaver=True, label=label))
    changes += _group_changes(dp, tenant, managed, accounts)
    return changes + licence_changes, unmanaged


def _user_changes(code: str, key: str, user: CloudUser, want: Mapping[str, Any],
                  label: str) -> list[Change]:
    differ = {name: value for name, value in want.items()
              if not _same(user.properties.get(name), value)}
    if not differ:
        return []
    before = {name: user.properties.get(name) for name in differ}
    enabled = differ.pop("accountEnabled", None)
    found: list[Change] = []
    if differ:
        if "mail" in differ and user.properties.get("mail"):
            # Graph keeps the old address in proxyAddresses (as smtp:) when mail changes.
            differ["keep_address"] = user.properties.get("mail")
        found.append(Change(ObjectKind.CLOUD_USER, Action.UPDATE, code, key, user.upn,
                            {n: before[n] for n in differ if n in before}, differ,
                            Backend.GRAPH, label))
    if enabled is not None:
        action = Action.ENABLE if enabled else Action.DISABLE
        found.append(Change(ObjectKind.CLOUD_USER, action, code, key, user.upn,
                            {"accountEnabled": not enabled}, {"accountEnabled": enabled},
                            Backend.GRAPH, label))
    return found


def _licence_change(code: str, key: str, upn: str, have: set[str], wanted: set[str],
                    catalogue: Mapping[str, str], leaver: bool = False,
                    label: str = "") -> Change:
    add, remove = sorted(wanted - have), sorted(have - wanted)
    # Taking a licence from someone who still works here takes access away: the guard
    # counts it. A leaver's licences go with the disable, which the guard counts already.
    action = Action.REVOKE if remove and not leaver else Action.UPDATE
    return Change(ObjectKind.CLOUD_LICENCE, action, code, key, upn,
                  {"licences": sorted(catalogue.get(s, s) for s in have)},
                  {"add": add, "remove": remove,
                   "add_names": [catalogue.get(s, s) for s in add],
                   "remove_names": [catalogue.get(s, s) for s in remove]},
                  Backend.GRAPH, label)


def _group_changes(dp: DesiredPartner, tenant: TenantState,
                   managed: Mapping[PersonKey, CloudUser],
                   accounts: Mapping[PersonKey, Any]) -> list[Change]:
    code = dp.code
    by_name = {g.name.lower(): g for g in tenant.groups if not g.synced}
    key_of = {u.id: _key(*k) for k, u in managed.items()}
    changes: list[Change] = []
    for group in cloud_groups(dp.groups):
        want = member_keys(group, accounts)
        actual = by_name.get(group.name.lower())
        if actual is None:
            changes.append(Change(ObjectKind.CLOUD_GROUP, Action.CREATE, code, group.name,
                                  group.name, {}, {"displayName": group.name,
                                                   "description": group.description},
                                  Backend.GRAPH))
            have: set[str] = set()
        else:
            if actual.description != group.description:
                changes.append(Change(ObjectKind.CLOUD_GROUP, Action.UPDATE, code, group.name,
                                      actual.id, {"description": actual.description},
                                      {"description": group.description}, Backend.GRAPH))
            have = {key_of[m] for m in actual.members if m in key_of}
        add, remove = sorted(want - have), sorted(have - want)
        if add or remove:
            changes.append(Change(ObjectKind.CLOUD_MEMBERS, Action.UPDATE, code, group.name,
                                  actual.id if actual else group.name,
                                  {"members": sorted(have)}, {"add": add, "remove": remove},
                                  Backend.GRAPH))
    return changes


def _verify_hybrid(region: Region, dp: DesiredPartner, tenant: TenantState,
                   users: list[CloudUser]) -> list[Unmanaged]:
    """The licence drift of a hybrid partner: errors, missing or extra licences, not synced."""
    code = dp.code
    partner = region.partner(code)
    synced = {u.employee_id: u for u in users if u.synced and u.employee_id}
    parts = licence_skus(region, partner)
    catalogue = {s.sku_id: s.part_number for p in parts if (s := tenant.sku(p)) is not None}
    found: list[Unmanaged] = []
    for account in dp.accounts:
        key = _key(*account.key)
        label = account.name.display_name
        user = synced.get(account.employee_id)
        if user is None:
            if account.state is not AccountState.LEAVER:
                found.append(Unmanaged(code, account.name.upn, "not yet in Microsoft 365: "
                                       "Entra Connect has not synchronised this account",
                                       key, WAITING, label))
            continue
        wanted = licences_for(account, parts)
        for part in sorted(wanted):
            seats = tenant.sku(part)
            if seats is None:
                found.append(Unmanaged(code, user.upn, f"licence {part}: the tenant has no such "
                                       "subscription", key, label=label))
                continue
            states = [s for s in user.states if s.sku_id == seats.sku_id]
            errors = [s for s in states if s.error or s.state.lower() == "error"]
            group = group_name(code, "lic", _service_of(region, partner.services, part))
            if errors:
                found.append(Unmanaged(code, user.upn, f"licence {part}: "
                                       f"{errors[0].error or 'Error'} (group-based licensing "
                                       f"through {group})", key, label=label))
            elif seats.sku_id not in user.licences:
                found.append(Unmanaged(code, user.upn, f"licence {part} missing: is the group "
                                       f"{group} licensed in Entra ID?", key, label=label))
        extra = sorted(catalogue[s] for s in user.licences
                       if s in catalogue and catalogue[s] not in wanted)
        for part in extra:
            found.append(Unmanaged(code, user.upn, f"holds licence {part} but should not "
                                   f"({account.state.value})", key, label=label))
    return found


def _service_of(region: Region, services: Collection[str], part: str) -> str:
    return next((c for c in services if region.service(c).sku == part), part)


def _seats(region: Region, section: Section, tenants: Mapping[str, TenantState],
           scope: list[DesiredPartner], directory: Section | None) -> Section:
    """Hold every partner whose new licences do not fit in the free seats, with the numbers."""
    need: dict[str, Counter[str]] = {}
    for change in section.changes:
        if change.kind is ObjectKind.CLOUD_LICENCE:
            counts = need.setdefault(change.partner, Counter())
            counts.update(change.after.get("add_names", []))
            counts.subtract(change.after.get("remove_names", []))
    if directory is not None:
        for dp in scope:
            if dp.identity is not Identity.HYBRID:
                continue
            partner = region.partner(dp.code)
            for change in directory.changes:
                if change.kind is ObjectKind.MEMBERS and change.partner == dp.code:
                    for part in licence_skus(region, partner):
                        service = _service_of(region, partner.services, part)
                        if change.key.lower() == group_name(dp.code, "lic", service).lower():
                            counts = need.setdefault(dp.code, Counter())
                            counts[part] += len(change.after.get("add", ()))
                            counts[part] -= len(change.after.get("remove", ()))
    free: dict[tuple[str, str], int] = {}
    held: list[Held] = []
    for dp in scope:
        tenant = tenants[dp.code]
        short: list[str] = []
        taken: list[tuple[tuple[str, str], int]] = []
        for part, count in sorted(need.get(dp.code, Counter()).items()):
            seats = tenant.sku(part)
            if seats is None or count <= 0:
                continue
            slot = (tenant.tenant, part)
            left = free.setdefault(slot, seats.free)
            if count > left:
                short.append(f"{count} more {part} licences, {left} free in its tenant "
                             f"({seats.enabled} bought, {seats.consumed} in use)")
            else:
                taken.append((slot, count))
        if short:
            held.append(Held(dp.code, 0, 0, 0, "", reason=(
                "needs " + "; ".join(short) + ": buy seats, or hold its new starters back")))
        else:
            for slot, count in taken:
                free[slot] -= count
    if not held:
        return section
    codes = {h.partner for h in held}
    return Section(section.backend, tuple(c for c in section.changes if c.partner not in codes),
                   (*section.held, *held),
                   (*section.held_changes, *(c for c in section.changes if c.partner in codes)),
                   section.unmanaged)


def stale_graph(saved: Section, fresh: Section | None) -> tuple[Section, list[tuple[Change, str]]]:
    """A saved plan's Graph items against a fresh read: what still holds, and what is refused.

    An item is applied only when the fresh plan has the same item relying on the same state
    (its `before`); one done since, changed since, or of a partner held now for a reason of
    its own (seats short, its tenant unreadable) is refused. A guard that holds the partner
    in the fresh plan does not: the saved plan was reviewed with its own allowance
    (`--allow-disable`), as its directory items are.
    """
    if fresh is None:
        return Section(Backend.GRAPH), [(c, "the target has no `graph:` section now")
                                        for c in saved.changes]
    now = {c.ident: c for c in (*fresh.changes, *fresh.held_changes)}
    held = {h.partner: h for h in fresh.held if h.reason}
    keep: list[Change] = []
    refused: list[tuple[Change, str]] = []
    for change in saved.changes:
        current = now.get(change.ident)
        if change.partner in held:
            refused.append((change, held[change.partner].message()))
        elif current is None:
            refused.append((change, "done since the plan was made, or no longer needed"))
        elif current.fingerprint != change.fingerprint:
            refused.append((change, f"changed in Microsoft 365 since the plan was made "
                                    f"(it relied on {dict(change.before)!r})"))
        else:
            keep.append(change)
    return Section(Backend.GRAPH, tuple(keep), saved.held, saved.held_changes,
                   saved.unmanaged), refused
