"""The shape of the YAML files engineers edit: region.yaml and partners/*.yaml.

These pydantic models check one file at a time (types, required fields, unknown keys) and
give `ssc-infra schema` its JSON Schema. Checks that span files (references, overlaps,
duplicates) live in `ssc_infra.sources.regionfiles`, `people` and `devices`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from ssc_infra.core.model import (
    DATA_PATH_PATTERN,
    FOLDER_PATH_PATTERN,
    NAME_MAX,
    NAMING_TEMPLATE_MAX,
    PERSON_NAME_PUNCTUATION,
    PRINTABLE_PATTERN,
    SAMBA_TEXT_PATTERN,
    SHA256_PATTERN,
    SKU_PATTERN,
    HostRole,
    Identity,
    PartnerKind,
    ServiceKind,
)

CODE_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
DOMAIN_PATTERN = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"

Code = Annotated[
    str,
    Field(pattern=CODE_PATTERN, description="lowercase letters, digits and hyphens, 2-32 long"),
]
DomainName = Annotated[
    str, Field(pattern=DOMAIN_PATTERN, max_length=253, description="a DNS name, lowercase")
]
OuRdn = Annotated[str, Field(
    pattern=r"^OU=[A-Za-z0-9][A-Za-z0-9 _-]{0,62}(,OU=[A-Za-z0-9][A-Za-z0-9 _-]{0,62})*$",
    max_length=256, description="e.g. OU=Partners: letters, digits, space, '_' and '-'")]
Name = Annotated[str, Field(
    min_length=1, max_length=NAME_MAX, pattern=PRINTABLE_PATTERN,
    description=f"printable text on one line, at most {NAME_MAX} characters",
)]
# A region's or partner's name: it stands in smb.conf too (`server string`, share comments).
SambaName = Annotated[str, Field(
    min_length=1, max_length=NAME_MAX, pattern=SAMBA_TEXT_PATTERN,
    description=f"printable text on one line, at most {NAME_MAX} characters, without % "
    "(Samba expands it in the file server's share comment: write 'procent') and not ending in "
    "a backslash",
)]
DataPath = Annotated[str, Field(max_length=255, pattern=DATA_PATH_PATTERN)]
NamingTemplate = Annotated[str, Field(
    min_length=1, max_length=NAMING_TEMPLATE_MAX, pattern=PRINTABLE_PATTERN,
    description="a template with placeholders such as {given_initial}{surname}",
)]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegionInfo(_File):
    code: Code
    name: SambaName


class DirectorySettings(_File):
    domain: DomainName = Field(description="AD DNS domain; ssc.frl becomes DC=ssc,DC=frl")
    partners_ou: OuRdn = "OU=Partners"
    leavers_ou: OuRdn = "OU=Leavers"
    retention_days: int = Field(90, ge=1, description="days a leaver waits before a purge")
    prestart_days: int = Field(14, ge=0, description="accounts are made this long before start")


class NamingSettings(_File):
    sam: NamingTemplate = "{given_initial}{surname}"
    upn: NamingTemplate = "{given}.{full_surname}"
    max_len: int = Field(20, ge=4, le=20, description="AD allows at most 20 for sAMAccountName")
    upn_follows_name: bool = Field(False, description="a name change gives a new UPN and mail "
                                   "address (the old one kept as an alias); default: kept")


class GuardSettings(_File):
    max_disable: int = Field(50, ge=0, description="accounts one run may disable per partner")
    max_disable_fraction: float = Field(0.05, ge=0, le=1)


class ServiceEntry(_File):
    kind: ServiceKind
    sku: str | None = Field(None, pattern=SKU_PATTERN,
                            description="licence SKU part number, e.g. M365_E3")

    @model_validator(mode="after")
    def _licence_has_sku(self) -> ServiceEntry:
        if self.kind is ServiceKind.LICENCE and not self.sku:
            raise ValueError("a licence service needs a sku (the Microsoft SKU part number)")
        return self


class HostEntry(_File):
    roles: list[HostRole] = Field(min_length=1)
    address: IPv4Address


class RegionFile(_File):
    """inventory/region.yaml: the SSC itself."""

    region: RegionInfo
    directory: DirectorySettings
    naming: NamingSettings = NamingSettings()
    guards: GuardSettings = GuardSettings()
    services: dict[Code, ServiceEntry] = Field(default_factory=dict)
    hosts: dict[Code, HostEntry] = Field(default_factory=dict)


class SiteEntry(_File):
    code: Code
    name: Name
    vlan: int = Field(ge=1, le=4094)
    subnet: IPv4Network
    flex_desks: int = Field(0, ge=0)
    shared: bool = Field(False, description="a flex site where any partner's people may work")


class Quota(_File):
    users: int | None = Field(None, ge=0, description="most people (not yet left) allowed")


class OffboardedEntry(_File):
    """Written by `ssc-infra partner offboard`: the partner left; its bundle is where it says."""

    date: dt.date = Field(description="the day the partner was offboarded")
    bundle: str = Field(pattern=FOLDER_PATH_PATTERN, max_length=1024,
                        description="the folder its handover bundle was written to")
    manifest_sha256: str = Field(pattern=SHA256_PATTERN,
                                 description="SHA-256 of the bundle's manifest.json")

    @model_validator(mode="after")
    def _no_parent_parts(self) -> OffboardedEntry:
        if ".." in self.bundle.split("/"):
            raise ValueError("the bundle folder is an absolute path without '..' parts")
        return self


class MergedEntry(_File):
    """Written by `ssc-infra partner merge` into each partner that merged into another."""

    into: Code = Field(description="the partner it merged into")
    date: dt.date = Field(description="the day of the merge")


class MergedFromEntry(_File):
    """Written by `ssc-infra partner merge` into the partner the others merged into."""

    partners: list[Code] = Field(min_length=1, description="the partners merged into this one")
    ids: DataPath = Field(description="CSV partner,employee_id,new_employee_id: who each "
                          "person was before the merge (inside inventory/)")


class HrSystem(StrEnum):
    """Where a partner's people come from: read by `ssc-infra hr pull`, or pushed to
    `ssc-infra hr serve`."""

    AFAS = "afas"  # AFAS Profit: a GetConnector over REST
    VISMA_RAET = "visma-raet"  # Visma Raet / YouForce: the IAM API
    CSV = "csv"  # an export file the HR system drops (an SFTP share, say)
    SCIM = "scim"  # the HR system pushes SCIM 2.0 /Users to `hr serve`; never pulled


class HrEntry(_File):
    """A partner's HR system (`hr:` in its partner file): what `ssc-infra hr pull` reads.

    No secret is here: the token or client credentials are named by the target
    (`hr.partners.<code>` in targets.yaml), as environment variables or files.
    """

    system: HrSystem
    mapping: DataPath | None = Field(
        None, description="the mapping file inside inventory/ (as `partner people --columns`): "
        "the system's fields -> the inventory's people columns")
    environment: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,16}$",
                                    description="afas: the Profit environment number, e.g. 12345")
    connector: str = Field("ssc_medewerkers", pattern=r"^[A-Za-z0-9_]{1,64}$",
                           description="afas: the id of the employee GetConnector")
    tenant: str | None = Field(None, pattern=r"^[A-Za-z0-9-]{1,64}$",
                               description="visma-raet: the tenant id")
    file: str | None = Field(None, pattern=FOLDER_PATH_PATTERN, max_length=1024,
                             description="csv: the absolute path of the export the HR system "
                             "drops")
    window_months: int = Field(3, ge=0, le=24, description="contracts starting within this many "
                               "months are read (joiners prepared), and ended less than this "
                               "long ago (recent leavers still seen)")
    max_lost: int | None = Field(None, ge=0, description="people a pull may lose at most; "
                                 "default: the region's guards (max_disable, fraction)")

    @model_validator(mode="after")
    def _what_the_system_needs(self) -> HrEntry:
        needs = {HrSystem.AFAS: ("environment", self.environment),
                 HrSystem.VISMA_RAET: ("tenant", self.tenant),
                 HrSystem.CSV: ("file", self.file),
                 HrSystem.SCIM: ("", "")}[self.system]  # its token is the target's
        if needs[1] is None:
            raise ValueError(f"hr system {self.system.value} needs `{needs[0]}:`")
        if self.file is not None and ".." in self.file.split("/"):
            raise ValueError("file: an absolute path without '..' parts")
        return self


class PartnerFile(_File):
    """inventory/partners/<code>.yaml: one partner organisation."""

    code: Code
    name: SambaName
    kind: PartnerKind
    upn_suffix: DomainName
    identity: Identity = Identity.HYBRID
    services: list[Code] = Field(default_factory=list)
    quota: Quota = Quota()
    merged: MergedEntry | None = Field(
        None, description="set by `ssc-infra partner merge`: merged into another partner; its "
        "HR export and device list are no longer read")
    sites: list[SiteEntry] = Field(default_factory=list, description="at least one, but for "
                                   "a partner merged into another")
    people: DataPath = Field(description="path of the HR export inside inventory/, e.g. "
                             "people/alpha.csv (no '..', no leading '/')")
    devices: DataPath | None = Field(None, description="path of the device list inside "
                                     "inventory/, e.g. devices/alpha.csv")
    offboarded: OffboardedEntry | None = Field(
        None, description="set by `ssc-infra partner offboard`: the partner left the SSC; its "
        "HR export and device list are no longer read")
    merged_from: MergedFromEntry | None = Field(
        None, description="set by `ssc-infra partner merge`: the partners merged into this one")
    hr: HrEntry | None = Field(None, description="where `ssc-infra hr pull` reads its people; "
                               "without it, people/*.csv is written by hand or `partner people`")

    # Field validators (not a model validator): their errors point at the key's line.
    @field_validator("sites")
    @classmethod
    def _sites_unless_merged(cls, sites: list[SiteEntry],
                             info: ValidationInfo) -> list[SiteEntry]:
        if not sites and info.data.get("merged") is None:
            raise ValueError("a partner needs at least one site")
        return sites

    @field_validator("offboarded", "merged_from")
    @classmethod
    def _not_when_merged(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("merged") is not None:
            raise ValueError("a partner merged into another is neither offboarded nor merged "
                             "into")
        return value


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schemas of the editable files, keyed by the file they describe."""
    return {
        "region.yaml": RegionFile.model_json_schema(),
        "partners/*.yaml": PartnerFile.model_json_schema(),
    }


_WG_KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_PRINTABLE = re.compile(PRINTABLE_PATTERN)


def is_wireguard_key(text: str) -> bool:
    """True for a WireGuard key: base64 of exactly 32 bytes (44 characters, one '=')."""
    return bool(_WG_KEY.fullmatch(text))


def is_mac(text: str) -> bool:
    """True for a MAC address written aa:bb:cc:dd:ee:ff (lowercase, colons)."""
    return bool(_MAC.fullmatch(text))


# Control characters have no name in the Unicode database; name the common ones.
_CONTROL_NAMES = {"\x00": "NUL", "\t": "tab", "\n": "line feed", "\r": "carriage return",
                  "\x7f": "delete", "\x85": "next line"}
# A lone surrogate comes only from a YAML escape ("\ud800"); it is no character at all.
_SURROGATE = re.compile("[\ud800-\udfff]")


# Names, departments and titles repeat across thousands of rows: each value is judged once.
# Only short values are kept, so a hostile export cannot make the memo large.
_MEMO_SIZE, _MEMO_MAX_LEN = 65536, 256


def unprintable(text: str) -> str:
    """What makes `text` unfit for a line of a host file or an LDAP value, or "" when nothing.

    Names the first offending character by its code point, so an invisible one can be found.
    """
    return _unprintable_memo(text) if len(text) <= _MEMO_MAX_LEN else _unprintable(text)


def _unprintable(text: str) -> str:
    if not text or (_PRINTABLE.fullmatch(text) and not _SURROGATE.search(text)):
        return ""
    for index, char in enumerate(text):
        if not _PRINTABLE.fullmatch(char) or _SURROGATE.match(char):
            name = (unicodedata.name(char, "").lower() or _CONTROL_NAMES.get(char)
                    or ("a lone surrogate" if _SURROGATE.match(char) else "a control character"))
            return f"character U+{ord(char):04X} ({name}) at position {index + 1}"
    return ""  # pragma: no cover - the pattern fails only on one of its characters


def person_name_problem(text: str) -> str:
    """Why `text` is not a person's name (given name, infix, surname), or "" when it is.

    Letters with diacritics, space, apostrophes, hyphen and dot: Wâtse, van 't, O'Neill,
    Hoekstra-de Boer. A digit, bracket or control character has no place in a name, and would
    be syntax in some host file.
    """
    return _name_problem_memo(text) if len(text) <= _MEMO_MAX_LEN else _name_problem(text)


def _name_problem(text: str) -> str:
    bad = unprintable(text)
    if bad:
        return bad
    letters = False
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category.startswith("L"):
            letters = True
        elif not (char in PERSON_NAME_PUNCTUATION or (category.startswith("M") and index)):
            return f"character {char!r} at position {index + 1}"
    return "" if letters else "no letters"


_unprintable_memo = functools.lru_cache(maxsize=_MEMO_SIZE)(_unprintable)
_name_problem_memo = functools.lru_cache(maxsize=_MEMO_SIZE)(_name_problem)
