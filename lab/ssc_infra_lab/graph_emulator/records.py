"""A tenant's directory objects as the emulator keeps them, and Graph's properties of each.

The property tables say what Graph v1.0 has for a user or a group: every property, the default
set returned without $select, what a client may write, what $filter takes and what a create
needs. `User` and `Group` hold an object's properties with the emulator's bookkeeping: its
creation order (`seq`), the tenant version that last changed it, its licences and members, and
its tombstone state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

USER_PROPERTIES: tuple[str, ...] = (
    "id", "accountEnabled", "assignedLicenses", "businessPhones", "companyName",
    "createdDateTime", "department", "displayName", "employeeId", "givenName", "jobTitle",
    "licenseAssignmentStates", "mail", "mailNickname", "mobilePhone", "officeLocation",
    "onPremisesImmutableId", "onPremisesSyncEnabled", "passwordProfile", "preferredLanguage",
    "proxyAddresses", "signInActivity", "surname", "usageLocation", "userPrincipalName",
)
# What Graph v1.0 returns for a user without $select: accountEnabled, employeeId and the
# licences only come with $select, in the emulator as in Graph.
USER_DEFAULT: tuple[str, ...] = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)
USER_WRITABLE: tuple[str, ...] = (
    "accountEnabled", "businessPhones", "companyName", "department", "displayName",
    "employeeId", "givenName", "jobTitle", "mail", "mailNickname", "mobilePhone",
    "officeLocation", "passwordProfile", "preferredLanguage", "surname", "usageLocation",
    "userPrincipalName",
)
# A synced user's other properties are mastered in AD; usageLocation is the cloud's own.
SYNCED_USER_WRITABLE: tuple[str, ...] = ("usageLocation",)
USER_FILTERABLE: tuple[str, ...] = (
    "id", "accountEnabled", "companyName", "department", "displayName", "employeeId",
    "givenName", "jobTitle", "mail", "mailNickname", "onPremisesImmutableId", "surname",
    "usageLocation", "userPrincipalName",
)
USER_REQUIRED: tuple[str, ...] = (
    "accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile",
)
GROUP_PROPERTIES: tuple[str, ...] = (
    "id", "assignedLicenses", "createdDateTime", "description", "displayName", "groupTypes",
    "mail", "mailEnabled", "mailNickname", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "proxyAddresses", "securityEnabled",
)
GROUP_DEFAULT: tuple[str, ...] = tuple(p for p in GROUP_PROPERTIES if p != "assignedLicenses")
GROUP_WRITABLE: tuple[str, ...] = (
    "description", "displayName", "groupTypes", "mailEnabled", "mailNickname", "securityEnabled",
)
GROUP_FILTERABLE: tuple[str, ...] = (
    "id", "displayName", "mail", "mailEnabled", "mailNickname", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "securityEnabled",
)
GROUP_REQUIRED: tuple[str, ...] = ("displayName", "mailEnabled", "mailNickname", "securityEnabled")


@dataclass
class LicenceState:
    """A group-based licence on one user: Active, or Error with Graph's error name."""

    state: str
    error: str
    updated: str


@dataclass
class User:
    id: str
    seq: int
    version: int
    props: dict[str, Any]
    direct: dict[str, list[str]] = field(default_factory=dict)  # skuId -> disabledPlans
    by_group: dict[tuple[str, str], LicenceState] = field(default_factory=dict)  # (group, sku)
    removed: str = ""  # "", "changed" (soft-deleted) or "deleted" (purged)


@dataclass
class Group:
    id: str
    seq: int
    version: int
    props: dict[str, Any]
    members: dict[str, None] = field(default_factory=dict)  # an ordered set of object ids
    member_log: list[tuple[int, str, bool]] = field(default_factory=list)  # version, id, added
    licences: list[str] = field(default_factory=list)  # skuIds assigned to the group
    sync_key: str = ""
    removed: str = ""
