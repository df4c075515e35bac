"""The actual state, as a backend read it: plain, typed, and free of any backend's types.

`ssc_infra.ad.parse` turns raw LDAP entries into these; `ssc_infra.core.plan` compares them
with the desired state. DNs are compared case-insensitively everywhere (`dn_key`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ssc_infra.core.dn import parent_dn
from ssc_infra.core.model import PersonKey

UAC_ACCOUNTDISABLE = 0x0002
UAC_NORMAL_ACCOUNT = 0x0200


@dataclass(frozen=True, slots=True)
class DirectoryAccount:
    """A user object in a partner's scope (its OU, or its leavers OU)."""

    dn: str
    sam: str
    partner: str
    employee_id: str | None
    upn: str | None = None
    given_name: str = ""
    surname: str = ""
    full_name: str = ""
    display_name: str = ""
    department: str = ""
    title: str = ""
    company: str = ""
    uac: int = UAC_NORMAL_ACCOUNT
    in_leavers: bool = False
    marker: str = ""  # adminDescription: the tool's mark on an account it disabled itself
    must_change_password: bool = False  # pwdLastSet=0: its owner never set a password yet
    mail: str = ""
    proxy_addresses: tuple[str, ...] = ()  # SMTP:primary, smtp:aliases, other types
    # the day of its last logon as the domain keeps it (lastLogonTimestamp, up to 14 days
    # behind), "YYYY-MM-DD"; "" when it never logged on: for access reviews
    last_logon: str = ""

    @property
    def key(self) -> PersonKey | None:
        """The identity of a managed account; None for an unmanaged one (no employeeID)."""
        return (self.partner, self.employee_id) if self.employee_id else None

    @property
    def enabled(self) -> bool:
        return not self.uac & UAC_ACCOUNTDISABLE

    @property
    def ou(self) -> str:
        return parent_dn(self.dn)


@dataclass(frozen=True, slots=True)
class ParkedAccount:
    """A user object in a partner's leavers OU, with what a purge needs besides the account:
    its objectGUID (which never changes, whatever is renamed) and when it last changed."""

    account: DirectoryAccount
    guid: str  # objectGUID as 8-4-4-4-12 hex, lowercase
    changed: datetime | None  # whenChanged (UTC), None when the DC did not say


@dataclass(frozen=True, slots=True)
class DirectoryGroup:
    dn: str
    name: str
    partner: str
    description: str = ""
    members: frozenset[str] = frozenset()  # dn_key of each member


@dataclass(frozen=True, slots=True)
class DirectoryState:
    """What the directory holds in the scopes the tool manages."""

    ous: frozenset[str]  # dn_key of every OU below the partners and leavers OUs (and those)
    accounts: tuple[DirectoryAccount, ...]
    groups: tuple[DirectoryGroup, ...]
    taken_names: frozenset[str] = frozenset()  # every sAMAccountName in the domain, lowercase
    round_trips: int = 0  # LDAP requests the read took, for the benchmark
    partners_read: tuple[str, ...] = field(default=())

    def managed(self) -> dict[PersonKey, DirectoryAccount]:
        return {a.key: a for a in self.accounts if a.key is not None}

    def unmanaged(self) -> tuple[DirectoryAccount, ...]:
        return tuple(a for a in self.accounts if a.key is None)
