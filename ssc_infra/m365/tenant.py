"""Microsoft 365 in the tool's terms: what a partner's tenant holds, and what it should hold.

Pure, no I/O. `m365/backend.py` reads Graph and hands the raw objects to `parse_user`,
`parse_group` and `parse_sku` (the pyinfra fact shape); `desired_user` and `licences_for` say
what a person's cloud user should be. `ssc_infra.m365.diff` compares the two.

A partner's users are the users of its tenant whose UPN is in the partner's domain
(`upn_suffix`); the identity key is (partner, `employeeId`), never the name. Hybrid partners'
users come from AD through Entra Connect (`onPremisesSyncEnabled`): the tool reads them to
verify their licences, and never writes them through Graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ssc_infra.core.desired import AccountState, DesiredAccount, DesiredGroup, GroupKind
from ssc_infra.core.model import Partner, PersonKey, Region, ServiceKind

USAGE_LOCATION = "NL"  # a licence needs one; the partners are Dutch organisations
# The properties the tool sets on a cloud user; the rest of a user is the tenant's own.
USER_PROPERTIES = ("accountEnabled", "displayName", "givenName", "surname", "mailNickname",
                   "userPrincipalName", "mail", "employeeId", "department", "jobTitle",
                   "companyName", "usageLocation")
USER_SELECT = (*USER_PROPERTIES, "id", "proxyAddresses", "onPremisesSyncEnabled",
               "assignedLicenses", "licenseAssignmentStates")
GROUP_SELECT = ("id", "displayName", "mailNickname", "description", "securityEnabled",
                "onPremisesSyncEnabled")


@dataclass(frozen=True, slots=True)
class LicenceState:
    """One licence of a user as Graph reports it (`licenseAssignmentStates`)."""

    sku_id: str
    by_group: str  # the group id it comes from; "" when assigned directly
    state: str  # Active, ActiveWithSolutions, Error, Disabled
    error: str  # None -> "": CountViolation, MutuallyExclusiveViolation, ...


@dataclass(frozen=True, slots=True)
class CloudUser:
    id: str
    upn: str
    employee_id: str
    synced: bool  # onPremisesSyncEnabled: the user is AD's, through Entra Connect
    properties: Mapping[str, Any]  # USER_PROPERTIES as Graph holds them
    licences: frozenset[str]  # the skuIds assigned (directly or by a group)
    states: tuple[LicenceState, ...]
    proxy_addresses: tuple[str, ...] = ()

    @property
    def direct_licences(self) -> frozenset[str]:
        """The skuIds assigned to the user itself, not through a group."""
        by_group = {s.sku_id for s in self.states if s.by_group}
        direct = {s.sku_id for s in self.states if not s.by_group}
        return frozenset(direct | (self.licences - by_group))


@dataclass(frozen=True, slots=True)
class CloudGroup:
    id: str
    name: str  # displayName
    description: str
    synced: bool
    members: frozenset[str]  # user ids


@dataclass(frozen=True, slots=True)
class Seats:
    sku_id: str
    part_number: str
    enabled: int
    consumed: int

    @property
    def free(self) -> int:
        return max(0, self.enabled - self.consumed)


@dataclass(frozen=True, slots=True)
class TenantState:
    """What one partner's part of its tenant holds."""

    tenant: str
    users: tuple[CloudUser, ...]
    groups: tuple[CloudGroup, ...]
    skus: tuple[Seats, ...]
    full_read: bool = True  # False: users came from a delta on top of the last read

    def sku(self, part_number: str) -> Seats | None:
        return next((s for s in self.skus if s.part_number.lower() == part_number.lower()),
                    None)

    def part_number(self, sku_id: str) -> str:
        return next((s.part_number for s in self.skus if s.sku_id == sku_id), sku_id)


def in_domain(upn: str, suffix: str) -> bool:
    return upn.lower().rpartition("@")[2] == suffix.lower()


def parse_user(raw: Mapping[str, Any]) -> CloudUser:
    """A Graph user object (v1.0 property names) as a `CloudUser`."""
    properties = {name: raw.get(name) for name in USER_PROPERTIES}
    licences = frozenset(str(item.get("skuId", "")) for item in raw.get("assignedLicenses")
                         or () if isinstance(item, Mapping))
    states = tuple(
        LicenceState(str(item.get("skuId", "")), str(item.get("assignedByGroup") or ""),
                     str(item.get("state") or ""), str(item.get("error") or "")
                     if str(item.get("error") or "None") != "None" else "")
        for item in raw.get("licenseAssignmentStates") or () if isinstance(item, Mapping))
    return CloudUser(str(raw.get("id", "")), str(raw.get("userPrincipalName") or ""),
                     str(raw.get("employeeId") or ""), bool(raw.get("onPremisesSyncEnabled")),
                     properties, licences, states,
                     tuple(str(a) for a in raw.get("proxyAddresses") or ()))


def parse_group(raw: Mapping[str, Any], members: Iterable[str]) -> CloudGroup:
    return CloudGroup(str(raw.get("id", "")), str(raw.get("displayName") or ""),
                      str(raw.get("description") or ""), bool(raw.get("onPremisesSyncEnabled")),
                      frozenset(members))


def parse_sku(raw: Mapping[str, Any]) -> Seats:
    units = raw.get("prepaidUnits") or {}
    return Seats(str(raw.get("skuId", "")), str(raw.get("skuPartNumber", "")),
                 int(units.get("enabled", 0) or 0), int(raw.get("consumedUnits", 0) or 0))


# -- desired ----------------------------------------------------------------------------


def desired_user(account: DesiredAccount) -> dict[str, Any]:
    """The properties a person's cloud user should have."""
    name = account.name
    return {
        "accountEnabled": account.enabled,
        "displayName": name.display_name,
        "givenName": name.given_name,
        "surname": name.surname,
        "mailNickname": name.sam,
        "userPrincipalName": name.upn,
        "mail": name.upn,
        "employeeId": account.employee_id,
        "department": account.department or None,
        "jobTitle": account.title or None,
        "companyName": account.company,
        "usageLocation": USAGE_LOCATION,
    }


def licence_skus(region: Region, partner: Partner) -> tuple[str, ...]:
    """The SKU part numbers the partner opted in to (`kind: licence` services)."""
    return tuple(sorted(region.service(code).sku or "" for code in partner.services
                        if region.service(code).kind is ServiceKind.LICENCE
                        and region.service(code).sku))


def region_licence_skus(region: Region) -> tuple[str, ...]:
    """The SKU part numbers of every licence service in the region's catalogue."""
    return tuple(sorted({s.sku for s in region.services
                         if s.kind is ServiceKind.LICENCE and s.sku}))


def licences_for(account: DesiredAccount, skus: Iterable[str]) -> frozenset[str]:
    """The part numbers a person holds: from the start date only (a licence costs money)."""
    return frozenset(skus) if account.state is AccountState.ACTIVE else frozenset()


def cloud_groups(groups: Iterable[DesiredGroup]) -> tuple[DesiredGroup, ...]:
    """The partner's groups in its tenant: all but the licence groups (direct assignment)."""
    return tuple(g for g in groups if g.kind is not GroupKind.LICENCE)


def member_keys(group: DesiredGroup, accounts: Mapping[PersonKey, DesiredAccount]) -> set[str]:
    """The group's members as "partner/employee id" keys of accounts that exist."""
    return {f"{k[0]}/{k[1]}" for k in group.members if k in accounts}
