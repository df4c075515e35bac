"""Region -> desired state: OUs, accounts, groups, memberships and workplaces. Pure, no I/O.

The desired state is what the directory and the workplace hosts should hold on `today`. It is
compared with the actual state by `ssc_infra.core.plan`; nothing here knows how either is stored.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ssc_infra.core import slugs
from ssc_infra.core.bulk import no_cycle_collection, quick_init
from ssc_infra.core.dn import escape_rdn
from ssc_infra.core.model import (
    Identity,
    Partner,
    Person,
    PersonKey,
    Region,
    ServiceKind,
    Workplace,
)
from ssc_infra.core.naming import START_ORDER, AccountName, ExistingName, assign_names

GROUP_NAME_MAX = 64  # the cn of a group; sAMAccountName allows more, the cn does not


class AccountState(StrEnum):
    ACTIVE = "active"
    PRESTART = "prestart"  # made ahead of the start date, disabled until then
    LEAVER = "leaver"  # end date passed: disabled and parked in the partner's leavers OU


class GroupKind(StrEnum):
    ALL = "all"
    DEPARTMENT = "department"
    APPLICATION = "application"
    ACCESS = "access"
    LICENCE = "licence"


@quick_init  # built once per person: 200,000 times in a big region
@dataclass(frozen=True, slots=True)
class DesiredAccount:
    partner: str
    employee_id: str
    name: AccountName
    department: str
    title: str
    company: str
    state: AccountState
    ou: str
    cn: str  # the full name, made unique within the partner (see `_unique_cns`)
    start_date: date
    end_date: date | None
    previous: PersonKey | None = None  # who the person was before a merge of partners

    @property
    def key(self) -> PersonKey:
        return (self.partner, self.employee_id)

    @property
    def dn(self) -> str:
        return f"CN={escape_rdn(self.cn)},{self.ou}"

    @property
    def enabled(self) -> bool:
        return self.state is AccountState.ACTIVE


@dataclass(frozen=True, slots=True)
class DesiredGroup:
    name: str
    partner: str
    kind: GroupKind
    description: str
    ou: str
    members: frozenset[PersonKey]
    service: str | None = None
    sku: str | None = None

    @property
    def dn(self) -> str:
        return f"CN={escape_rdn(self.name)},{self.ou}"


@quick_init  # built once per person: 200,000 times in a big region
@dataclass(frozen=True, slots=True)
class WorkplaceAssignment:
    """Where and how one person works: what the workplace hosts provision for them."""

    partner: str
    employee_id: str
    sam: str
    workplace: Workplace
    site: str
    devices: tuple[str, ...]
    moved_from: str = ""  # the partner this person was with before a merge (their home follows)


@dataclass(frozen=True, slots=True)
class DesiredPartner:
    code: str
    name: str
    identity: Identity
    ou: str
    users_ou: str
    groups_ou: str
    leavers_ou: str  # below the region's leavers OU, so the partner stays readable from the DN
    accounts: tuple[DesiredAccount, ...]
    groups: tuple[DesiredGroup, ...]
    workplaces: tuple[WorkplaceAssignment, ...]
    not_yet: int  # people whose account is not due yet (start date beyond the pre-start window)
    offboarded: date | None = None  # the partner left the SSC on this day: no one is current
    merged_into: str = ""  # the partner it merged into (`partner merge`), or ""

    @property
    def ous(self) -> tuple[str, ...]:
        return (self.ou, self.users_ou, self.groups_ou, self.leavers_ou)

    @property
    def leavers(self) -> tuple[DesiredAccount, ...]:
        return tuple(a for a in self.accounts if a.state is AccountState.LEAVER)

    def memberships(self) -> Iterator[tuple[str, PersonKey]]:
        """Every (group name, person key) pair of this partner."""
        for group in self.groups:
            for member in sorted(group.members):
                yield group.name, member


@dataclass(frozen=True, slots=True)
class DesiredState:
    region: str
    today: date
    base_dn: str
    partners_ou: str
    leavers_ou: str
    partners: tuple[DesiredPartner, ...]

    @property
    def ous(self) -> tuple[str, ...]:
        """Every OU in creation order: containers first."""
        own = tuple(ou for p in self.partners for ou in p.ous)
        return (self.partners_ou, self.leavers_ou, *own)

    def partner(self, code: str) -> DesiredPartner:
        for partner in self.partners:
            if partner.code == code:
                return partner
        known = ", ".join(p.code for p in self.partners)
        raise KeyError(f"no partner {code!r} in the desired state (known: {known})")


def account_state(person: Person, today: date, prestart_days: int) -> AccountState | None:
    """The state a person's account should be in on `today`; None when it is not due yet."""
    if person.has_left(today):
        return AccountState.LEAVER
    if person.start_date <= today:
        return AccountState.ACTIVE
    if person.start_date - timedelta(days=prestart_days) <= today:
        return AccountState.PRESTART
    return None


@no_cycle_collection()
def derive(
    region: Region,
    today: date,
    existing: Mapping[PersonKey, ExistingName] | None = None,
    reserved: Iterable[str] = (),
    reserved_upns: Iterable[str] = (),
) -> DesiredState:
    """Derive the desired state of the whole region.

    Args:
        region: the validated inventory.
        today: the day the state is for (who is active, who has left).
        existing: names the directory already holds for managed accounts; they are kept.
        reserved: sAMAccountNames taken by objects the tool does not manage.
        reserved_upns: UPNs taken by objects the tool does not manage.
    """
    d = region.directory
    base = d.base_dn
    partners_ou = f"{d.partners_ou},{base}"
    states = {partner.code: _states(partner.people, today, d.prestart_days)
              for partner in region.partners}
    due_people = sorted(
        (p for partner in region.partners
         for p, state in zip(partner.people, states[partner.code], strict=True)
         if state is not None),
        key=operator.attrgetter(*START_ORDER))
    suffixes = {p.code: p.upn_suffix for p in region.partners}
    names = assign_names(due_people, region.naming, suffixes, existing, reserved, reserved_upns,
                         in_start_order=True)
    cns = _unique_cns(due_people, names)
    partners = tuple(
        _derive_partner(region, partner, states[partner.code], names, cns, partners_ou,
                        f"{d.leavers_ou},{base}")
        for partner in region.partners
    )
    return DesiredState(region.code, today, base, partners_ou, f"{d.leavers_ou},{base}", partners)


def _states(people: Iterable[Person], today: date,
            prestart_days: int) -> list[AccountState | None]:
    """`account_state` of each of `people`, in their order, in one go."""
    try:
        prestart_until = today + timedelta(days=prestart_days)
    except OverflowError:  # a `--today` at the end of the calendar
        prestart_until = date.max
    leaver, active, prestart = AccountState.LEAVER, AccountState.ACTIVE, AccountState.PRESTART
    return [leaver if (end := p.end_date) is not None and end < today
            else active if (start := p.start_date) <= today
            else prestart if start <= prestart_until else None
            for p in people]


def _derive_partner(
    region: Region,
    partner: Partner,
    states: list[AccountState | None],
    names: Mapping[PersonKey, AccountName],
    cns: Mapping[PersonKey, str],
    partners_ou: str,
    leavers_ou: str,
) -> DesiredPartner:
    code, company = partner.code, partner.name
    ou = f"OU={code},{partners_ou}"
    users_ou, groups_ou = f"OU=Users,{ou}", f"OU=Groups,{ou}"
    leavers_ou = f"OU={code},{leavers_ou}"
    tags: dict[str, list[str]] = {}
    for device in partner.devices:
        tags.setdefault(device.employee_id, []).append(device.asset_tag)
    devices = {employee_id: tuple(theirs) for employee_id, theirs in tags.items()}
    accounts: list[DesiredAccount] = []
    current: list[Person] = []  # people who get groups and a workplace: not leavers
    working: list[PersonKey] = []  # the active ones among them
    workplaces: list[WorkplaceAssignment] = []
    leaver, active = AccountState.LEAVER, AccountState.ACTIVE
    for person, state in zip(partner.people, states, strict=True):
        if state is None:
            continue
        key = person.key
        name = names[key]
        accounts.append(DesiredAccount(
            code, person.employee_id, name, person.department, person.job_title, company,
            state, leavers_ou if state is leaver else users_ou, cns[key], person.start_date,
            person.end_date, person.previous))
        if state is leaver:
            continue
        current.append(person)
        if state is active:
            working.append(key)
        previous = person.previous
        workplaces.append(WorkplaceAssignment(
            code, person.employee_id, name.sam, person.workplace, person.site,
            devices.get(person.employee_id, ()),
            previous[0] if previous and previous[0] != code else ""))
    return DesiredPartner(
        code=code,
        name=partner.name,
        identity=partner.identity,
        ou=ou,
        users_ou=users_ou,
        groups_ou=groups_ou,
        leavers_ou=leavers_ou,
        accounts=tuple(accounts),
        groups=tuple(_groups(region, partner, current, working, accounts, groups_ou)),
        workplaces=tuple(workplaces),
        not_yet=len(partner.people) - len(accounts),
        offboarded=partner.offboarded.on if partner.offboarded else None,
        merged_into=partner.merged.into if partner.merged else "",
    )


def _unique_cns(
    people: list[Person], names: Mapping[PersonKey, AccountName]
) -> dict[PersonKey, str]:
    """The cn of each account: the full name, unless an earlier starter of the partner has it.

    A cn is unique per container; two "Jan de Vries" of one partner would clash (and a
    leaver may move next to a namesake). The earliest starter keeps the plain name and the
    others add their account name, so a new namesake never renames someone already there.
    `people` come in START_ORDER, every partner's at once.
    """
    taken: dict[str, set[str]] = {}
    cns: dict[PersonKey, str] = {}
    for person in people:
        key = person.key
        name = names[key]
        cn = name.full_name
        folded = cn.lower()
        partner_taken = taken.get(person.partner)
        if partner_taken is None:
            partner_taken = taken[person.partner] = set()
        if folded in partner_taken:
            cn = f"{cn} ({name.sam})"
            folded = cn.lower()
        partner_taken.add(folded)
        cns[key] = cn
    return cns


def _groups(
    region: Region,
    partner: Partner,
    current: list[Person],
    working_keys: list[PersonKey],
    accounts: list[DesiredAccount],
    ou: str,
) -> Iterator[DesiredGroup]:
    code = partner.code
    everyone = frozenset(p.key for p in current)
    working = frozenset(working_keys)
    yield DesiredGroup(f"{code}-all", code, GroupKind.ALL, f"Everyone at {partner.name}", ou,
                       everyone)
    # A department whose last member left keeps its (empty) group, so the tool goes on
    # managing it and nobody keeps its access by accident.
    departments: dict[str, set[PersonKey]] = {a.department: set() for a in accounts
                                               if a.department}
    for person in current:
        if person.department:
            departments[person.department].add(person.key)
    for department, members in sorted(departments.items()):
        yield DesiredGroup(group_name(code, "dep", department), code, GroupKind.DEPARTMENT,
                           f"{department} ({partner.name})", ou, frozenset(members))
    for service_code in partner.services:
        service = region.service(service_code)
        if service.kind is ServiceKind.LICENCE:
            # A licence costs money: a pre-start account joins its licence group on day one.
            yield DesiredGroup(group_name(code, "lic", service_code), code, GroupKind.LICENCE,
                               f"Licence {service.sku} for {partner.name}", ou, working,
                               service_code, service.sku)
        elif service.kind is ServiceKind.APPLICATION:
            yield DesiredGroup(group_name(code, "app", service_code), code,
                               GroupKind.APPLICATION, f"Application {service_code} for "
                               f"{partner.name}", ou, everyone, service_code)
        else:
            # Remote access is for people who carry a laptop; the others work at a site or VDI.
            mobile = frozenset(p.key for p in current if p.workplace is Workplace.LAPTOP)
            yield DesiredGroup(group_name(code, "acc", service_code), code, GroupKind.ACCESS,
                               f"Access {service_code} for {partner.name}", ou, mobile,
                               service_code)


def group_name(partner: str, kind: str, label: str) -> str:
    """A group name: "<partner>-<kind>-<slug>", at most 64 characters, stable for a label.

    A label too long to fit keeps its start and gets a short hash of the whole, so two long
    department names that share a beginning still make two groups.
    """
    slug = slugs.slug(label)
    name = f"{partner}-{kind}-{slug}"
    if len(name) <= GROUP_NAME_MAX:
        return name
    digest = hashlib.sha1(label.encode()).hexdigest()[:6]
    return f"{name[: GROUP_NAME_MAX - 7].rstrip('-')}-{digest}"
