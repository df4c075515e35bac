"""The directory's diff: the changes that take AD from its actual state to the desired state.

Everything here is pure. `diff_directory` compares a DesiredState with a DirectoryState and
returns the directory's Section of the plan, with the drift rules of `ssc_infra.ad.drift`
applied; `ssc_infra.ad.guards` holds back the partners whose section disables too much and
`ssc_infra.ad.stale` tells whether a saved item still fits the directory.

Identity is the key (partner, employee id), never a name. Accounts without an employee id in
a partner's OU are unmanaged: reported as drift, never changed, unless `holds.yaml` lists them
as known. Accounts are never deleted: a leaver is disabled and moved to the partner's leavers OU.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from ssc_infra.ad.attributes import (
    DISABLED_MARK,
    MARKER_ATTRIBUTE,
    account_attributes,
    actual_attributes,
    proxy_addresses,
)
from ssc_infra.ad.drift import lock_rules, retire_group, retired_groups
from ssc_infra.core.actual import DirectoryAccount, DirectoryState
from ssc_infra.core.bulk import no_cycle_collection
from ssc_infra.core.desired import AccountState, DesiredAccount, DesiredPartner, DesiredState
from ssc_infra.core.dn import dn_key, escape_rdn, rdn_value
from ssc_infra.core.model import Identity, Person, PersonKey, Region
from ssc_infra.core.naming import ExistingName
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind, Section, Unmanaged
from ssc_infra.sources.holds import NO_HOLDS, Holds

APPLY_ORDER = (ObjectKind.OU, ObjectKind.GROUP, ObjectKind.ACCOUNT, ObjectKind.MEMBERS)


def hybrid_partners(desired: DesiredState) -> list[DesiredPartner]:
    """The partners whose identities live in AD (cloud partners are Microsoft Graph's)."""
    return [p for p in desired.partners if p.identity is Identity.HYBRID]


# -- names the directory already holds --------------------------------------------------


def directory_names(
    region: Region, actual: DirectoryState
) -> tuple[dict[PersonKey, ExistingName], frozenset[str], dict[PersonKey, DirectoryAccount]]:
    """What the naming policy must respect, read from the directory.

    Returns:
        existing: the names of managed accounts, kept as they are (a moved person keeps the
            sAMAccountName; the UPN is made anew for the new partner's suffix).
        reserved: every other sAMAccountName in the domain.
        moves: people who changed partner: new key -> the account under the old partner.
    """
    managed = actual.managed()
    moves = match_moves(region, managed)
    existing = {key: ExistingName(a.sam, a.upn) for key, a in managed.items()}
    for new_key, account in moves.items():
        existing[new_key] = ExistingName(account.sam, None)
        existing.pop(account.key or ("", ""), None)
    ours = {name.sam.lower() for name in existing.values()}
    return existing, frozenset(n for n in actual.taken_names if n not in ours), moves


def match_moves(
    region: Region, managed: Mapping[PersonKey, DirectoryAccount]
) -> dict[PersonKey, DirectoryAccount]:
    """People who moved to another partner: the same employee id and the same name, or a
    person whose `previous` key (a merge of partners: `partner merge`) is an account's.

    An account whose key no longer appears in any HR export, and a person with no account
    yet who has that employee id and name at another partner, are one person who moved.
    Anything less certain is treated as a leaver plus a new joiner, which loses nothing.
    """
    people = {p.key: p for partner in region.partners for p in partner.people}
    moves: dict[PersonKey, DirectoryAccount] = {}
    for key, person in people.items():
        before = person.previous
        if key not in managed and before is not None and before in managed and \
                before not in people:
            moves[key] = managed[before]
    claimed = {a.key for a in moves.values()}
    orphans: dict[tuple[str, str, str], list[DirectoryAccount]] = {}
    for key, account in managed.items():
        if key not in people and key not in claimed:
            ident = (key[1], account.given_name.lower(), account.surname.lower())
            orphans.setdefault(ident, []).append(account)
    if not orphans:
        return moves
    for key, person in people.items():
        if key in managed or key in moves:
            continue
        found = orphans.get((person.employee_id, *_name_pair(person)), [])
        if len(found) == 1:
            moves[key] = found.pop()
    return moves


def _name_pair(person: Person) -> tuple[str, str]:
    surname = f"{person.infix} {person.surname}".strip() if person.infix else person.surname
    return person.given_name.lower(), " ".join(surname.split()).lower()


# -- the diff ---------------------------------------------------------------------------


@no_cycle_collection()  # a big region: see core/bulk.py
def diff_directory(
    desired: DesiredState,
    actual: DirectoryState,
    moves: Mapping[PersonKey, DirectoryAccount] | None = None,
    partners: Collection[str] = (),
    holds: Holds = NO_HOLDS,
    enable: Collection[PersonKey] = (),
) -> Section:
    """Every change that makes the directory match the desired state (guards not applied).

    Args:
        desired: derived from the inventory.
        actual: read from the directory.
        moves: people who changed partner (see `directory_names`).
        partners: limit the plan to these partner codes; empty means all.
        holds: the acknowledged locks and known objects (holds.yaml).
        enable: accounts disabled by hand that the operator releases (`--enable PARTNER/ID`).
    """
    moves = moves or {}
    scope = [p for p in hybrid_partners(desired) if not partners or p.code in partners]
    managed = actual.managed()
    moved_away = {a.key for a in moves.values()}
    changes: list[Change] = list(_ou_changes(desired, scope, actual, managed, partners))
    findings: list[Unmanaged] = []
    final_dn: dict[PersonKey, str] = {key: a.dn for key, a in managed.items()}
    for partner in scope:
        for account in partner.accounts:
            current = managed.get(account.key) or moves.get(account.key)
            change, finding = lock_rules(_account_change(account, current), account, current,
                                          holds, enable, desired.today)
            if change is not None:
                changes.append(change)
            if finding is not None:
                findings.append(finding)
            if current is not None or account.state is not AccountState.LEAVER:
                final_dn[account.key] = account.dn
            if current is not None and current.key is not None and current.key != account.key:
                final_dn[current.key] = account.dn  # moved: the old key's DN changes too
    wanted = {a.key for p in desired.partners for a in p.accounts}
    leavers_ou = {p.code: p.leavers_ou for p in desired.partners}
    offboarded = {p.code for p in desired.partners if p.offboarded is not None}
    for key, gone in sorted(managed.items()):
        if key in wanted or key in moved_away or (partners and key[0] not in partners):
            continue
        if any(p.code == key[0] and p.identity is not Identity.HYBRID for p in desired.partners):
            continue
        target_ou = leavers_ou.get(key[0], f"OU={escape_rdn(key[0])},{desired.leavers_ou}")
        why = "partner offboarded" if key[0] in offboarded else "gone from the HR export"
        change = _gone_change(gone, target_ou, f"{why} on {desired.today.isoformat()}")
        if change is not None:
            changes.append(change)
            final_dn[key] = str(change.after.get("dn", gone.dn))
    member_keys = {dn_key(a.dn): key for key, a in managed.items()}
    groups = {dn_key(g.dn): g for g in actual.groups}
    for partner in scope:
        for group in partner.groups:
            current_group = groups.get(dn_key(group.dn))
            if current_group is None:
                changes.append(Change(ObjectKind.GROUP, Action.CREATE, partner.code, group.name,
                                      group.dn, {}, {"description": group.description}))
            elif current_group.description != group.description:
                changes.append(Change(ObjectKind.GROUP, Action.UPDATE, partner.code, group.name,
                                      group.dn, {"description": current_group.description},
                                      {"description": group.description}))
            have = {member_keys[m] for m in (current_group.members if current_group else ())
                    if m in member_keys}
            add = sorted(group.members - have)
            remove = sorted(k for k in have - group.members)
            if add or remove:
                changes.append(Change(
                    ObjectKind.MEMBERS, Action.UPDATE, partner.code, group.name, group.dn,
                    {"members": sorted(f"{p}/{e}" for p, e in have)},
                    {"add": [final_dn[k] for k in add], "remove": [final_dn[k] for k in remove],
                     "add_keys": [f"{p}/{e}" for p, e in add],
                     "remove_keys": [f"{p}/{e}" for p, e in remove]},
                ))
    others = {dn_key(a.dn): a.dn for a in actual.accounts}
    for partner in scope:
        for current_group in retired_groups(partner, actual):
            why = (f"the partner merged into {partner.merged_into}" if partner.merged_into
                   else "the partner was offboarded" if partner.offboarded else "")
            changes.extend(retire_group(current_group, member_keys, final_dn, others,
                                         desired.today, why))
    findings.extend(_unmanaged(actual, scope, holds))
    return Section(Backend.DIRECTORY, tuple(in_apply_order(changes)), unmanaged=tuple(findings))


def new_accounts(
    desired: DesiredState,
    actual: DirectoryState,
    moves: Mapping[PersonKey, DirectoryAccount] | None = None,
    partners: Collection[str] = (),
) -> list[DesiredAccount]:
    """The accounts `diff_directory` would create: nobody's account yet, not a leaver (pure)."""
    moves = moves or {}
    managed = actual.managed()
    return [a for p in hybrid_partners(desired) if not partners or p.code in partners
            for a in p.accounts
            if a.key not in managed and a.key not in moves and a.state is not AccountState.LEAVER]


def _ou_changes(
    desired: DesiredState,
    scope: list[DesiredPartner],
    actual: DirectoryState,
    managed: Mapping[PersonKey, DirectoryAccount],
    partners: Collection[str],
) -> Iterable[Change]:
    wanted = [desired.partners_ou, desired.leavers_ou]
    for partner in scope:
        wanted.extend(partner.ous)
    # A partner no longer in the inventory still needs a leavers OU for its accounts.
    known = {p.code for p in desired.partners}
    for code in sorted({k[0] for k in managed} - known):
        if not partners or code in partners:
            wanted.append(f"OU={escape_rdn(code)},{desired.leavers_ou}")
    seen: set[str] = set()
    for dn in wanted:
        key = dn_key(dn)
        if key in actual.ous or key in seen:
            continue
        seen.add(key)
        owner = next((p.code for p in scope if dn in p.ous), "")
        yield Change(ObjectKind.OU, Action.CREATE, owner, dn, dn, {}, {"ou": rdn_value(dn)})


def _account_change(wanted: DesiredAccount, current: DirectoryAccount | None) -> Change | None:
    key = f"{wanted.partner}/{wanted.employee_id}"
    after_attrs = account_attributes(wanted)
    if current is None:
        if wanted.state is AccountState.LEAVER:
            return None  # nobody to disable: a leaver who never had an account gets none
        return Change(ObjectKind.ACCOUNT, Action.CREATE, wanted.partner, key, wanted.dn, {},
                      {**after_attrs, "cn": wanted.cn, "enabled": wanted.enabled},
                      label=wanted.name.display_name)
    before_attrs = actual_attributes(current)
    # The sAMAccountName is never changed by a plan: the naming policy keeps it.
    after_attrs["sAMAccountName"] = current.sam
    # A new address keeps every old one as an alias.
    after_attrs["proxyAddresses"] = proxy_addresses(str(after_attrs["mail"]),
                                                    current.proxy_addresses, current.mail)
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name, value in after_attrs.items():
        if before_attrs[name] != value:
            before[name], after[name] = before_attrs[name], value
    if dn_key(current.dn) != dn_key(wanted.dn):
        before["dn"], after["dn"] = current.dn, wanted.dn
    if current.enabled != wanted.enabled:
        before["enabled"], after["enabled"] = current.enabled, wanted.enabled
        before["uac"] = current.uac  # the other flags of userAccountControl stay as they are
    if not after:
        return None
    if after.get("enabled") is False:
        action = Action.DISABLE
    elif after.get("enabled") is True:
        action = Action.ENABLE
    elif "dn" in after:
        action = Action.MOVE
    else:
        action = Action.UPDATE
    return Change(ObjectKind.ACCOUNT, action, wanted.partner, key, current.dn, before, after,
                  label=wanted.name.display_name)


def _gone_change(account: DirectoryAccount, leavers_ou: str, why: str) -> Change | None:
    """A managed account whose person is gone from the HR export: disable it and park it.

    `why` goes into the mark, ending with the day (" on YYYY-MM-DD") the retention counts from.
    """
    target = f"CN={escape_rdn(account.full_name or account.sam)},{leavers_ou}"
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    if account.enabled:
        before["enabled"], after["enabled"] = True, False
        before["uac"] = account.uac
        after[MARKER_ATTRIBUTE] = f"{DISABLED_MARK}: {why}"
    if dn_key(account.ou) != dn_key(leavers_ou):
        before["dn"], after["dn"] = account.dn, target
        if not account.enabled and account.marker.startswith(DISABLED_MARK):
            # Disabled by the tool before (a pre-start account): parked now, from today.
            before[MARKER_ATTRIBUTE] = account.marker
            after[MARKER_ATTRIBUTE] = f"{DISABLED_MARK}: {why}"
    if not after:
        return None
    key = f"{account.partner}/{account.employee_id}"
    action = Action.DISABLE if account.enabled else Action.MOVE
    # Gone from the HR export: only the directory still knows the person's name.
    return Change(ObjectKind.ACCOUNT, action, account.partner, key, account.dn, before, after,
                  label=account.display_name or account.full_name)


def _unmanaged(
    actual: DirectoryState, scope: list[DesiredPartner], holds: Holds
) -> Iterable[Unmanaged]:
    def found(partner: str, dn: str, reason: str) -> Unmanaged:
        known = holds.known_for(dn)
        return Unmanaged(partner, dn, reason,
                         known=f"known: {known.reason} ({known.where})" if known else "")

    codes = {p.code for p in scope}
    for account in actual.unmanaged():
        if account.partner in codes:
            yield found(account.partner, account.dn,
                        "no employeeID: not managed by the tool; list it under `known:` in "
                        "holds.yaml if it belongs there")
    wanted_groups = {dn_key(g.dn) for p in scope for g in p.groups}
    wanted_groups |= {dn_key(g.dn) for p in scope for g in retired_groups(p, actual)}
    for group in actual.groups:
        if group.partner in codes and dn_key(group.dn) not in wanted_groups:
            yield found(group.partner, group.dn,
                        "group not made by the tool: check it, delete it by hand or list it "
                        "under `known:` in holds.yaml")


def in_apply_order(changes: list[Change]) -> list[Change]:
    """The changes in the order they must be applied: OUs before what they hold, and so on."""
    rank = {kind: index for index, kind in enumerate(APPLY_ORDER)}
    # OUs: parents before children (shorter DNs first); the rest by partner and key.
    return sorted(changes, key=lambda c: (rank[c.kind], c.dn.count(",") if c.kind is
                                          ObjectKind.OU else 0, c.partner, c.key))
