"""The region as the inventory describes it: frozen, typed, validated before it is built.

Nothing here does I/O. Instances are made by an inventory loader (`ssc_infra.sources`) after
every check has passed, so code downstream may trust them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network

from ssc_infra.core.bulk import quick_init


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


# -- Field patterns ---------------------------------------------------------------------------
# What each inventory field may hold so that it fits every place it goes: its LDAP attribute
# (the lengths are the AD schema's rangeUpper), the host files (a line break or a bracket would
# be syntax there) and the JSON Schema editors get. The loader checks them; code downstream may
# trust a Region to hold nothing else. The patterns are Python and Rust (pydantic) regexes alike.

# Printable text: no C0/C1 control characters, DEL, line or paragraph separators, zero-width or
# bidirectional formatting characters, byte order marks or noncharacters.
_UNPRINTABLE = (r"\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
                r"\ufeff\ufff0-\uffff")
PRINTABLE_PATTERN = rf"^[^{_UNPRINTABLE}]+$"
# Printable text that smb.conf also takes as it is (a region's and a partner's name stand in
# it, in `server string` and the shares' comments): no `%`, which Samba expands (%U, %S), and
# no backslash at the end, which joins the next line to it.
SAMBA_TEXT_PATTERN = rf"^[^%{_UNPRINTABLE}]*[^%\\{_UNPRINTABLE}]$"
EMPLOYEE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,15}$"  # employeeID: at most 16 (AD schema)
ASSET_TAG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$"  # also a DHCP host name: a DNS label
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # a Microsoft SKU part number, e.g. M365_E3
# A relative path inside the inventory folder: no leading '/', no '..' part, no odd characters.
DATA_PATH_PATTERN = r"^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)*[A-Za-z0-9_][A-Za-z0-9_.-]*$"
# Letters with their diacritics, space, apostrophes, hyphen and dot: Wâtse, van 't, O'Neill,
# Hoekstra-de Boer. Checked character by character (see sources.schema.person_name_problem),
# as Python's re has no \p{L}.
PERSON_NAME_PUNCTUATION = " '\u2019-."
GIVEN_NAME_MAX = 64  # givenName
INFIX_MAX = 20
SURNAME_MAX = 64  # sn holds "infix surname": the two together are checked against it too
FULL_NAME_MAX = 64  # cn: "given infix surname"
DEPARTMENT_MAX = 64  # department; the group description adds the partner name
JOB_TITLE_MAX = 128  # title
NAME_MAX = 64  # partner name (company), site and region names (host file comments)
NAMING_TEMPLATE_MAX = 64
# An absolute folder path on the control machine (a handover bundle): printable on one line
# (and no '..' part: checked apart, as the patterns have no look-ahead).
FOLDER_PATH_PATTERN = r"^/[^\x00-\x1f\x7f-\x9f]{0,1023}$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


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


@quick_init  # built once per person: 200,000 times in a big region
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
    # Who this person was before a merge of partners (`partner merge`) or a move to another
    # partner (`moves.yaml`): their account, home and names follow them, whatever the new
    # employee id.
    previous: PersonKey | None = None
    # Kept, not computed on each use: the key is looked up millions of times in a big region.
    key: PersonKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", (self.partner, self.employee_id))

    def has_left(self, today: date) -> bool:
        """True once the end date has passed (the last working day itself still counts)."""
        return self.end_date is not None and self.end_date < today


@quick_init  # built once per person: 200,000 times in a big region
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
class Offboarded:
    """A partner that left the SSC (ontvlechting): its handover bundle was written first.

    An offboarded partner has no people, devices or services any more: every account of it is
    a leaver (disabled, moved to its leavers OU, taken out of every group and licence), its
    addresses are released and its homes archived. Nothing is deleted; a purge after the
    retention period deletes only accounts that the bundle holds.
    """

    on: date  # the day the partner was offboarded
    bundle: str  # the folder the handover bundle was written to (absolute)
    manifest_sha256: str  # SHA-256 of the bundle's manifest.json, to know it again


@dataclass(frozen=True, slots=True)
class Merged:
    """A partner merged into another (`partner merge`): its people, sites and devices are the
    other's now; it stays in the inventory so that its OUs, groups and leavers stay known."""

    into: str  # the partner it merged into
    on: date


@dataclass(frozen=True, slots=True)
class MergedFrom:
    """The partners merged into this one, and the file that says who each person was."""

    partners: tuple[str, ...]
    ids: str  # CSV partner,employee_id,new_employee_id, inside the inventory folder


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
    offboarded: Offboarded | None = None
    merged: Merged | None = None
    merged_from: MergedFrom | None = None

    @property
    def active(self) -> bool:
        """Neither offboarded nor merged into another: its HR export is read."""
        return self.offboarded is None and self.merged is None


@dataclass(frozen=True, slots=True)
class Move:
    """A person who moved to another partner of the region, or was given a new employee id
    (`inventory/moves.yaml`): the account of `person` becomes the account of `to`, with the
    same logon name (see `sources.moves`)."""

    person: PersonKey  # who they were
    to: PersonKey  # who they are now: a row of the new partner's HR export
    reason: str
    where: str  # moves.yaml:LINE, for messages that send the reader back to the entry
    # The start date of the row of `to`: the day the account moves. None: it cannot move in
    # this run (the entry or the new partner's data has a problem, which holds that partner).
    on: date | None = None


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
    """Templates for account names; see `ssc_infra.core.naming` for the placeholders."""

    sam: str = "{given_initial}{surname}"
    upn: str = "{given}.{full_surname}"
    max_len: int = 20
    # A name change (a marriage) gives a new UPN and mail address, the old one kept as an
    # alias; by default the UPN a person has is kept (it is their sign-in name).
    upn_follows_name: bool = False


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
    moves: tuple[Move, ...] = ()  # moves.yaml: people who changed partner (or employee id)
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
