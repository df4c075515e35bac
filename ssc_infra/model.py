"""The region as the inventory describes it: frozen, typed, validated before it is built.

Nothing here does I/O. Instances are made by an inventory loader (`ssc_infra.inventory`) after
every check has passed, so code downstream may trust them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network


class PartnerKind(StrEnum):
    MUNICIPALITY = "municipality"
    AFFILIATED = "affiliated"


class Identity(StrEnum):
    """Where a partner's identities live: hybrid is AD (+ group-based licensing), cloud is Graph."""

    HYBRID = "hybrid"
    CLOUD = "cloud"


class ServiceKind(StrEnum):
    LICENCE = "licence"
    APPLICATION = "application"
    ACCESS = "access"


class Workplace(StrEnum):
    VDI = "vdi"
    LAPTOP = "laptop"
    THIN_CLIENT = "thin_client"


class DeviceKind(StrEnum):
    LAPTOP = "laptop"
    THIN_CLIENT = "thin_client"


class HostRole(StrEnum):
    FILESERVER = "fileserver"
    VPN_GATEWAY = "vpn_gateway"
    DHCP = "dhcp"
    RADIUS = "radius"
    VDI_BROKER = "vdi_broker"


PersonKey = tuple[str, str]
"""The stable identity of a person: (partner code, employee id). Never the display name."""


@dataclass(frozen=True, slots=True)
class Service:
    code: str
    kind: ServiceKind
    sku: str | None = None


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    roles: tuple[HostRole, ...]
    address: IPv4Address


@dataclass(frozen=True, slots=True)
class Site:
    code: str
    name: str
    partner: str
    vlan: int
    subnet: IPv4Network
    flex_desks: int = 0
    shared: bool = False


@dataclass(frozen=True, slots=True)
class Person:
    """One row of a partner's HR export."""

    partner: str
    employee_id: str
    given_name: str
    infix: str
    surname: str
    department: str
    job_title: str
    site: str
    workplace: Workplace
    start_date: date
    end_date: date | None = None
    # Kept, not computed on each use: the key is looked up millions of times in a big region.
    key: PersonKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.partner, self.employee_id))

    def has_left(self, today: date) -> bool:
        """True once the end date has passed (the last working day itself still counts)."""
        return self.end_date is not None and self.end_date < today


@dataclass(frozen=True, slots=True)
class Device:
    partner: str
    asset_tag: str
    kind: DeviceKind
    employee_id: str
    site: str | None = None
    mac: str | None = None
    wg_public_key: str | None = None


@dataclass(frozen=True, slots=True)
class Partner:
    code: str
    name: str
    kind: PartnerKind
    upn_suffix: str
    identity: Identity
    services: tuple[str, ...]
    sites: tuple[Site, ...]
    people: tuple[Person, ...]
    devices: tuple[Device, ...]
    quota_users: int | None = None


@dataclass(frozen=True, slots=True)
class Directory:
    domain: str
    partners_ou: str = "OU=Partners"
    leavers_ou: str = "OU=Leavers"
    retention_days: int = 90
    prestart_days: int = 14

    @property
    def base_dn(self) -> str:
        """The domain as a DN: ssc.frl -> DC=ssc,DC=frl."""
        return ",".join(f"DC={label}" for label in self.domain.split("."))


@dataclass(frozen=True, slots=True)
class NamingPolicy:
    """Templates for account names; see `ssc_infra.naming` for the placeholders."""

    sam: str = "{given_initial}{surname}"
    upn: str = "{given}.{full_surname}"
    max_len: int = 20


@dataclass(frozen=True, slots=True)
class Guards:
    max_disable: int = 50
    max_disable_fraction: float = 0.05


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    directory: Directory
    naming: NamingPolicy
    guards: Guards
    services: tuple[Service, ...]
    hosts: tuple[Host, ...]
    partners: tuple[Partner, ...]
    _by_code: dict[str, Partner] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_code", {p.code: p for p in self.partners})

    def partner(self, code: str) -> Partner:
        """The partner with this code; KeyError names the known codes."""
        try:
            return self._by_code[code]
        except KeyError:
            known = ", ".join(sorted(self._by_code))
            raise KeyError(f"no partner {code!r} in the region (known: {known})") from None

    def service(self, code: str) -> Service:
        for service in self.services:
            if service.code == code:
                return service
        raise KeyError(f"no service {code!r} in the region's catalogue")

    @property
    def people_count(self) -> int:
        return sum(len(p.people) for p in self.partners)

    def hosts_with(self, role: HostRole) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if role in h.roles)
