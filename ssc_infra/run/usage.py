"""The figures the service agreements bill by, per partner and month. Pure, no I/O.

`ssc_infra.run.metering` reads the systems and hands what they gave to `measure_usage`; the
figures come from the real systems, the inventory only says who the partners are and what
they opted in to:

- **accounts**: the enabled user accounts in the partner's scope — AD (its OU and its leavers
  OU) for a hybrid partner, its users in its tenant's domain for a cloud partner; `unmanaged`
  counts those among them without an employee id (a scanner, a service account);
- **licences** per SKU part number: the users that hold one, as Graph says (`assignedLicenses`:
  only what a user holds, not a licence in error) where the target has `graph:`; else, for a
  hybrid partner, the members of its `<p>-lic-<service>` groups in AD (group-based licensing).
  A hybrid partner's group figure is shown beside Graph's as `licence_groups`;
- **workplaces** by type (vdi, laptop, thin client) of the people who are active on the day
  measured (started, not left), from the inventory;
- **services** the partner opted in to (inventory);
- **storage**: the bytes in the partner's home folders and archived homes on the file servers.

A figure that a system could not give is `None`, with the reason in `unknown`; the other
figures and the other partners are there all the same. A month is measured during the month
itself; the measurement is kept (`metering`) and is what an earlier month's report shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import AccountState, account_state, group_name
from ssc_infra.core.errors import Problem
from ssc_infra.core.model import (
    PRINTABLE_PATTERN,
    SKU_PATTERN,
    Identity,
    Partner,
    Region,
    ServiceKind,
    Workplace,
)
from ssc_infra.hosts.storage import StorageRead
from ssc_infra.m365.tenant import TenantState
from ssc_infra.sources.schema import Code, Name

USAGE_FORMAT: Final = "ssc-infra/usage/v1"
MONTH_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
REASON_MAX = 1000
TARGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"  # a target name that can name a folder
_MONTH = re.compile(MONTH_PATTERN)
_PRINTABLE = re.compile(PRINTABLE_PATTERN)
_SKU = re.compile(SKU_PATTERN)
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, order=True, slots=True)
class Month:
    """A calendar month, the period of a bill."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM` as a Month; ValueError says what to write instead."""
        if not _MONTH.match(text):
            raise ValueError(f"{text!r} is not a month: write YYYY-MM, e.g. 2026-11")
        year, month = text.split("-")
        return cls(int(year), int(month))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class Figure(StrEnum):
    ACCOUNTS = "accounts"
    WORKPLACES = "workplaces"
    LICENCES = "licences"
    STORAGE = "storage"


Count = Annotated[int, Field(ge=0)]
Sku = Annotated[str, Field(pattern=SKU_PATTERN)]
Reason = Annotated[str, Field(min_length=1, max_length=REASON_MAX, pattern=PRINTABLE_PATTERN)]


class _Model(BaseModel):
    # A snapshot read back is input like any other: nothing but these fields, of these types.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Accounts(_Model):
    active: Count  # enabled accounts
    unmanaged: Count  # of which without an employee id


class WorkplaceCounts(_Model):
    vdi: Count
    laptop: Count
    thin_client: Count


class Storage(_Model):
    homes: Count  # bytes in the home folders
    archive: Count  # bytes in the archived homes of leavers


class Unknown(_Model):
    figure: Figure
    reason: Reason


class PartnerUsage(_Model):
    """One partner's figures; None where its system could not be read (see `unknown`)."""

    partner: Code
    name: Name | None  # None: the partner's own data could not be loaded
    identity: Identity | None
    services: tuple[Code, ...]
    accounts: Accounts | None
    workplaces: WorkplaceCounts | None
    licences: dict[Sku, Count] | None
    licence_source: Literal["graph", "directory"] | None
    licence_groups: dict[Sku, Count] | None  # hybrid: members of its licence groups in AD
    storage: Storage | None
    unknown: tuple[Unknown, ...] = ()


class UsageReport(_Model):
    """One month's measurement of every partner: what is kept and what is reported."""

    format: Literal["ssc-infra/usage/v1"]
    region: Code
    target: Annotated[str, Field(pattern=TARGET_PATTERN)]
    month: Annotated[str, Field(pattern=MONTH_PATTERN)]
    today: date  # the day the inventory was read for (who was active)
    measured: AwareDatetime  # when the systems were read
    partners: tuple[PartnerUsage, ...]

    @property
    def complete(self) -> bool:
        return not any(p.unknown for p in self.partners)

    @property
    def skus(self) -> tuple[str, ...]:
        """Every SKU any partner holds or was counted for, sorted."""
        return tuple(sorted({s for p in self.partners for s in (p.licences or {})}))

    def totals(self) -> Totals:
        return totals(self.partners, self.skus)

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON schema (`format`): what the snapshot file holds."""
        return self.model_dump(mode="json")

    def to_json(self) -> dict[str, Any]:
        """What `--format json` prints: the snapshot, whether it is complete, and totals."""
        return {**self.to_dict(), "complete": self.complete, "totals": self.totals().to_dict()}


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over the partners; None where a partner's figure is unknown (a total that left a
    partner out would be too low without saying so)."""

    partners: int
    accounts_active: int | None
    accounts_unmanaged: int | None
    workplaces: Mapping[str, int | None]
    licences: Mapping[str, int | None]
    storage_homes: int | None
    storage_archive: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"partners": self.partners,
                "accounts": {"active": self.accounts_active,
                             "unmanaged": self.accounts_unmanaged},
                "workplaces": dict(self.workplaces), "licences": dict(self.licences),
                "storage": {"homes": self.storage_homes, "archive": self.storage_archive}}


def _sum(values: Iterable[int | None]) -> int | None:
    found = list(values)
    return None if any(v is None for v in found) else sum(v for v in found if v is not None)


def totals(partners: Sequence[PartnerUsage], skus: Sequence[str]) -> Totals:
    kinds = [w.value for w in Workplace]
    return Totals(
        len(partners),
        _sum(p.accounts.active if p.accounts else None for p in partners),
        _sum(p.accounts.unmanaged if p.accounts else None for p in partners),
        {k: _sum(getattr(p.workplaces, k) if p.workplaces else None for p in partners)
         for k in kinds},
        {s: _sum(p.licences.get(s, 0) if p.licences is not None else None for p in partners)
         for s in skus},
        _sum(p.storage.homes if p.storage else None for p in partners),
        _sum(p.storage.archive if p.storage else None for p in partners),
    )


# -- measuring ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Reads:
    """What the systems gave for one measurement.

    Args:
        directory: AD's state of the hybrid partners; None when it could not be read.
        tenants: partner -> what its tenant holds of it (the partners that were read).
        storage: the file servers' figures; None when they could not be read.
        graph: the target names Microsoft 365 (`graph:`): licences are Graph's.
        why: "directory", "graph" or "storage" -> why that system gave nothing.
        tenant_errors: partner -> why its tenant could not be read.
    """

    directory: DirectoryState | None = None
    tenants: Mapping[str, TenantState] = field(default_factory=dict)
    storage: StorageRead | None = None
    graph: bool = False
    why: Mapping[str, str] = field(default_factory=dict)
    tenant_errors: Mapping[str, str] = field(default_factory=dict)


def one_line(text: str, limit: int = REASON_MAX) -> str:
    """A message from a system as one printable line of at most `limit` characters."""
    printable = "".join(c if _PRINTABLE.match(c) and not "\ud800" <= c <= "\udfff" else " "
                        for c in text[: limit * 2])
    line = _SPACES.sub(" ", printable).strip() or "no reason given"
    return line if len(line) <= limit else line[: limit - 1] + "…"


def measure_usage(region: Region, held: Mapping[str, Sequence[Problem]], today: date,
                  month: Month, target: str, measured: datetime, reads: Reads) -> UsageReport:
    """Every partner's figures from what the systems gave; the partners in code order.

    Args:
        region: the partners whose own data loaded.
        held: partner -> the problems of its own data (HR export, device list): its figures
            are all unknown, the others go on.
        today: the day measured (who is active).
        month: the month the measurement is for.
        target: the target's name.
        measured: when the systems were read (aware).
        reads: what the systems gave.
    """
    rows = [partner_usage(region, p, today, reads) for p in region.partners]
    rows += [held_partner(code, problems) for code, problems in held.items()
             if code not in {p.code for p in region.partners}]
    return UsageReport(format=USAGE_FORMAT, region=region.code, target=target,
                       month=str(month), today=today, measured=measured,
                       partners=tuple(sorted(rows, key=lambda r: r.partner)))


def held_partner(code: str, problems: Sequence[Problem]) -> PartnerUsage:
    """A partner whose own data did not load: every figure unknown, with why."""
    first = f" (first: {problems[0]})" if problems else ""
    reason = one_line(f"its inventory has {len(problems)} problem"
                      f"{'s' if len(problems) != 1 else ''} in its HR export or device "
                      f"list{first}; `ssc-infra validate` lists them")
    return PartnerUsage(partner=code, name=None, identity=None, services=(), accounts=None,
                        workplaces=None, licences=None, licence_source=None,
                        licence_groups=None, storage=None,
                        unknown=tuple(Unknown(figure=f, reason=reason) for f in Figure))


def partner_usage(region: Region, partner: Partner, today: date, reads: Reads) -> PartnerUsage:
    """One partner's figures from the reads (None and a reason where a read is missing)."""
    unknown: list[Unknown] = []

    def missing(figure: Figure, reason: str) -> None:
        unknown.append(Unknown(figure=figure, reason=one_line(reason)))

    hybrid = partner.identity is Identity.HYBRID
    tenant = reads.tenants.get(partner.code)
    tenant_why = _tenant_why(partner, reads)
    directory = reads.directory
    directory_why = "AD could not be read: " + reads.why.get("directory", "not read")

    accounts: Accounts | None = None
    if hybrid and directory is not None:
        accounts = directory_accounts(directory, partner.code)
    elif not hybrid and tenant is not None:
        accounts = cloud_accounts(tenant)
    else:
        missing(Figure.ACCOUNTS, directory_why if hybrid else tenant_why)

    groups = licence_groups(region, partner, directory) if hybrid and directory else None
    licences: dict[str, int] | None = None
    source: Literal["graph", "directory"] | None = None
    if reads.graph or not hybrid:
        source = "graph"
        if tenant is not None:
            licences = cloud_licences(tenant)
        else:
            missing(Figure.LICENCES, tenant_why)
    else:
        source = "directory"
        if groups is not None:
            licences = dict(groups)
        else:
            missing(Figure.LICENCES, directory_why)

    storage: Storage | None = None
    read = reads.storage
    if read is None or read.failed:
        missing(Figure.STORAGE, "the file servers could not be read: " +
                (read.failed if read is not None else reads.why.get("storage", "not read")))
    elif partner.code in read.partners:
        found = read.partners[partner.code]
        storage = Storage(homes=found.homes, archive=found.archive)
    else:
        missing(Figure.STORAGE, "its home folders could not be read completely: " +
                read.unreadable.get(partner.code, "no figure"))

    return PartnerUsage(
        partner=partner.code, name=partner.name, identity=partner.identity,
        services=tuple(partner.services), accounts=accounts,
        workplaces=active_workplaces(partner, today, region.directory.prestart_days),
        licences=licences, licence_source=source, licence_groups=groups, storage=storage,
        unknown=tuple(unknown))


def _tenant_why(partner: Partner, reads: Reads) -> str:
    if partner.code in reads.tenant_errors:
        return reads.tenant_errors[partner.code]
    if "graph" in reads.why:
        return f"Microsoft 365 could not be read: {reads.why['graph']}"
    return ("the target has no `graph:` section: a cloud partner's users and licences are "
            "only in Microsoft 365")


def directory_accounts(state: DirectoryState, partner: str) -> Accounts:
    """The enabled accounts in the partner's OU and leavers OU, and how many have no key."""
    enabled = [a for a in state.accounts if a.partner == partner and a.enabled]
    return Accounts(active=len(enabled),
                    unmanaged=sum(1 for a in enabled if a.employee_id is None))


def cloud_accounts(tenant: TenantState) -> Accounts:
    """The enabled users of the partner's domain in its tenant."""
    enabled = [u for u in tenant.users if u.properties.get("accountEnabled") is True]
    return Accounts(active=len(enabled), unmanaged=sum(1 for u in enabled if not u.employee_id))


def licence_groups(region: Region, partner: Partner, state: DirectoryState) -> dict[str, int]:
    """SKU part number -> members of the partner's licence group for it (0 when the group is
    not there yet)."""
    groups = {g.name.lower(): g for g in state.groups if g.partner == partner.code}
    found: dict[str, int] = {}
    for code in partner.services:
        service = region.service(code)
        if service.kind is ServiceKind.LICENCE and service.sku:
            group = groups.get(group_name(partner.code, "lic", code).lower())
            found[service.sku] = found.get(service.sku, 0) + (len(group.members) if group
                                                              else 0)
    return dict(sorted(found.items()))


def cloud_licences(tenant: TenantState) -> dict[str, int]:
    """SKU part number -> the partner's users that hold it, as Graph says."""
    found: dict[str, int] = {}
    for user in tenant.users:
        for sku_id in user.licences:
            name = sku_name(tenant.part_number(sku_id), sku_id)
            found[name] = found.get(name, 0) + 1
    return dict(sorted(found.items()))


def sku_name(part_number: str, sku_id: str) -> str:
    """The SKU's part number; its id where the tenant gave a part number that is no name."""
    for name in (part_number, sku_id):
        if _SKU.match(name):
            return name
    return "unnamed-sku"


def active_workplaces(partner: Partner, today: date, prestart_days: int) -> WorkplaceCounts:
    """The workplaces of the people active on `today`, by type."""
    counts = dict.fromkeys(Workplace, 0)
    for person in partner.people:
        if account_state(person, today, prestart_days) is AccountState.ACTIVE:
            counts[person.workplace] += 1
    return WorkplaceCounts(vdi=counts[Workplace.VDI], laptop=counts[Workplace.LAPTOP],
                           thin_client=counts[Workplace.THIN_CLIENT])
