"""Plan: the changes of one run, one section per backend, in one vocabulary.

Everything here is pure and knows no backend. A `Change` says which backend, partner, kind of
object and key it is about, what it relied on (`before`, fingerprinted) and what it makes
(`after`); a `Section` holds one backend's changes, the partners its guards held back and what
it found but does not put right (drift); a `Plan` holds the sections of one run. Each backend's
diff makes its section (`ssc_infra.ad.diff` for AD, the hosts' check run for the
workplace hosts); `plan_to_dict` and `plan_from_dict` are the saved plan file, which
`ssc_infra.state.seal` seals.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ssc_infra.core.errors import quoted
from ssc_infra.core.model import Guards
from ssc_infra.core.movers import Mover, mover_from_dict, mover_to_dict


class Backend(StrEnum):
    """The systems a plan has a section for, in the order a run applies them."""

    DIRECTORY = "directory"
    GRAPH = "graph"  # Microsoft 365 through Microsoft Graph
    HOSTS = "hosts"
    NETBOX = "netbox"


class ObjectKind(StrEnum):
    OU = "ou"
    GROUP = "group"
    ACCOUNT = "account"
    MEMBERS = "members"
    FILE = "file"  # a whole configuration file on a workplace host
    HOMES = "homes"  # one partner's home folders on a file server
    # NetBox objects (`ssc_infra.netbox.objects`), each one of its API's endpoints
    NB_TAG = "tag"
    NB_CUSTOM_FIELD = "custom-field"
    NB_TENANT_GROUP = "tenant-group"
    NB_TENANT = "tenant"
    NB_SITE = "site"
    NB_VLAN = "vlan"
    NB_PREFIX = "prefix"
    NB_MANUFACTURER = "manufacturer"
    NB_DEVICE_TYPE = "device-type"
    NB_DEVICE_ROLE = "device-role"
    NB_DEVICE = "device"
    NB_MAC = "mac-address"
    NB_INTERFACE = "interface"
    NB_IP = "ip-address"
    # Microsoft 365 objects (`ssc_infra.m365.tenant`), in a partner's tenant
    CLOUD_USER = "cloud-user"
    CLOUD_LICENCE = "licences"
    CLOUD_GROUP = "cloud-group"
    CLOUD_MEMBERS = "cloud-members"


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    MOVE = "move"  # a new DN: renamed, or moved to another partner's OU
    ENABLE = "enable"  # a returning person, or a pre-start account on the start date
    DISABLE = "disable"  # a leaver: disabled and moved to the leavers OU, never deleted
    RESET_PASSWORD = "reset-password"  # never logged on, and no initial password recorded
    ARCHIVE = "archive"  # leavers' home folders moved to the archive, never deleted
    DELETE = "delete"  # a NetBox object the tool made, gone from the inventory (--prune only)
    REVOKE = "revoke"  # Microsoft 365 licences taken from a person who still works here


DESTRUCTIVE = frozenset({Action.DISABLE, Action.ARCHIVE, Action.DELETE, Action.REVOKE})


def fingerprint(values: Mapping[str, Any]) -> str:
    """SHA-256 of values in a canonical form: what a change relied on, as one string."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Change:
    """One object to change in one backend, with only what differs.

    `before` holds what the plan relied on, as read (for a directory object the attributes
    that differ; for a host file its SHA-256 on the host), `after` what it will be. A saved
    item whose target no longer matches `before` is refused, never forced. The directory's
    pseudo attributes "dn" and "enabled" stand for a move and for the disabled bit; for a
    MEMBERS change `after` has "add" and "remove" (member DNs as they will be once the
    accounts are applied) and `before` the member keys the plan relied on.

    `label` and `names` are for the reader only: the person a change is about ("Vries, Jelle
    de"), and for a change of several people's objects (one partner's homes) each object's
    person by its entry ("waadhoeke/jvries" -> name). Neither is part of `ident` or the
    fingerprint: a name is never what a saved item is matched or checked by.
    """

    kind: ObjectKind
    action: Action
    partner: str  # "" for what belongs to no one partner (an OU above them, a shared file)
    key: str  # the stable identity: partner/employee id, a group name, host:path
    target: str  # where the object is: a DN, a path on a host
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    backend: Backend = Backend.DIRECTORY
    label: str = ""  # the person's display name, when the change is about one person
    names: Mapping[str, str] = field(default_factory=dict)  # entry -> display name

    @property
    def dn(self) -> str:
        """The directory's name for `target`."""
        return self.target

    @property
    def destructive(self) -> bool:
        """Takes something away: a disable, the emptying of a retired group, an archive."""
        return self.action in DESTRUCTIVE

    @property
    def weight(self) -> int:
        """How many accesses a destructive change takes away, for the guards."""
        if not self.destructive:
            return 0
        if self.kind is ObjectKind.MEMBERS:
            return len(self.after.get("remove", ()))
        if self.kind is ObjectKind.HOMES:
            return len(self.after.get("archive", ()))
        return 1

    @property
    def ident(self) -> tuple[str, str, str, str]:
        """What a change is about, to match a saved plan item with a fresh one."""
        return (self.backend.value, self.kind.value, self.partner, self.key)

    @property
    def fingerprint(self) -> str:
        """The fingerprint of what the change relied on (`before`)."""
        return fingerprint(self.before)


@dataclass(frozen=True)
class ItemResult:
    """How applying one change went, in every backend: ok, or failed with the reason."""

    change: Change
    ok: bool
    message: str = ""


# `Unmanaged.known` of an account Entra Connect has not synchronised yet: listed, not drift.
WAITING_FOR_SYNC = "waiting for Entra Connect (it synchronises every 30 minutes)"


@dataclass(frozen=True, slots=True)
class Unmanaged:
    """Something in a managed scope that the tool reports but does not put right: drift.

    An object the tool does not manage (no employee id, a group it did not make), or an
    account of its own that a person disabled (`key` names the person, `label` gives their
    display name). `known` holds the acknowledgement from the holds file; an acknowledged item
    is listed, and is not drift.
    """

    partner: str
    dn: str
    reason: str
    key: str = ""
    known: str = ""
    label: str = ""
    # a privileged group's membership (`ssc_infra.ad.privileged`): drift of its own kind,
    # shown first; `key` is the group, `label` the member
    privileged: bool = False


@dataclass(frozen=True, slots=True)
class Held:
    """A partner whose changes are held back by a guard."""

    partner: str
    disables: int  # accounts disabled plus members removed from retired groups
    accounts: int
    limit: int
    override: str
    removals: int = 0  # of `disables`: members removed from retired groups
    reason: str = ""  # held for another reason than a guard (a NetBox conflict): says why

    def message(self) -> str:
        if self.reason:
            return f"partner {self.partner!r}: {self.reason}; none of its changes are applied"
        what = f"disables {self.disables} of {self.accounts} accounts"
        if self.removals:
            what = (f"takes access away {self.disables} times ({self.disables - self.removals} "
                    f"of {self.accounts} accounts disabled, {self.removals} members removed "
                    f"from retired groups)")
        return (
            f"partner {self.partner!r}: the plan {what}, more than the guard allows "
            f"({self.limit}); none of its changes are applied. If this is right, re-run "
            f"with {self.override}"
        )


@dataclass(frozen=True)
class Section:
    """One backend's part of a plan."""

    backend: Backend
    changes: tuple[Change, ...] = ()
    held: tuple[Held, ...] = ()
    held_changes: tuple[Change, ...] = ()
    unmanaged: tuple[Unmanaged, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to apply (drift that the plan does not put right may remain: `drift`)."""
        return not self.changes and not self.held_changes

    @property
    def drift(self) -> tuple[Unmanaged, ...]:
        """What differs and is not acknowledged: exit 2 for plan and drift, even when empty."""
        return tuple(u for u in self.unmanaged if not u.known)

    @property
    def acknowledged(self) -> tuple[Unmanaged, ...]:
        """What differs on purpose (holds.yaml): listed, not drift."""
        return tuple(u for u in self.unmanaged if u.known)

    def counts(self) -> Counter[str]:
        return Counter(c.action.value for c in self.changes)

    def for_partners(self, partners: Collection[str]) -> Section:
        keep = set(partners)
        return Section(
            self.backend,
            tuple(c for c in self.changes if c.partner in keep or (not c.partner and keep)),
            tuple(h for h in self.held if h.partner in keep),
            tuple(c for c in self.held_changes if c.partner in keep),
            tuple(u for u in self.unmanaged if u.partner in keep),
        )

    def holding(self, partners: Collection[str]) -> Section:
        """This section with every change of these partners held back (held elsewhere)."""
        codes = set(partners)
        if not codes & {c.partner for c in self.changes}:
            return self
        return Section(self.backend, tuple(c for c in self.changes if c.partner not in codes),
                       self.held,
                       (*self.held_changes, *(c for c in self.changes if c.partner in codes)),
                       self.unmanaged)


@dataclass(frozen=True)
class Plan:
    """The sections of one run, in the order they are applied, and the people they move
    (`ssc_infra.core.movers`: for the reader; nothing is applied from them)."""

    sections: tuple[Section, ...] = ()
    movers: tuple[Mover, ...] = ()

    def section(self, backend: Backend) -> Section:
        """The backend's section; an empty one when the run has none for it."""
        return next((s for s in self.sections if s.backend is backend), Section(backend))

    @property
    def directory(self) -> Section:
        return self.section(Backend.DIRECTORY)

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(c for s in self.sections for c in s.changes)

    @property
    def held(self) -> tuple[Held, ...]:
        return tuple(h for s in self.sections for h in s.held)

    @property
    def held_changes(self) -> tuple[Change, ...]:
        return tuple(c for s in self.sections for c in s.held_changes)

    @property
    def unmanaged(self) -> tuple[Unmanaged, ...]:
        return tuple(u for s in self.sections for u in s.unmanaged)

    @property
    def drift(self) -> tuple[Unmanaged, ...]:
        return tuple(u for s in self.sections for u in s.drift)

    @property
    def privileged(self) -> tuple[Unmanaged, ...]:
        """The privileged groups' drift: who is in them and should not be, or the reverse."""
        return tuple(u for u in self.drift if u.privileged)

    @property
    def acknowledged(self) -> tuple[Unmanaged, ...]:
        return tuple(u for s in self.sections for u in s.acknowledged)

    @property
    def empty(self) -> bool:
        return all(s.empty for s in self.sections)

    @property
    def held_partners(self) -> frozenset[str]:
        return frozenset(h.partner for h in self.held)

    def counts(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for s in self.sections:
            total.update(s.counts())
        return total

    def replaced(self, section: Section) -> Plan:
        """This plan with the section of `section.backend` replaced (or added)."""
        others = [s for s in self.sections if s.backend is not section.backend]
        order = list(Backend)
        return Plan(tuple(sorted((*others, section), key=lambda s: order.index(s.backend))),
                    self.movers)

    def held_everywhere(self) -> Plan:
        """A partner held back in one section is held back in every section."""
        held = self.held_partners
        return Plan(tuple(s.holding(held) for s in self.sections), self.movers) if held \
            else self


# -- guards -----------------------------------------------------------------------------


def disable_limit(guards: Guards, accounts: int) -> int:
    """The most accounts a run may disable for a partner with this many enabled accounts."""
    return min(guards.max_disable, math.floor(guards.max_disable_fraction * accounts))


def apply_guards(
    section: Section,
    enabled: Mapping[str, int],
    guards: Guards,
    allow_disable: Mapping[str, int] | None = None,
) -> Section:
    """Hold back every change of a partner whose section takes away more than the guard allows.

    Each account disabled counts one, and so does each member removed from a retired group:
    both take someone's access away.

    Args:
        section: one backend's changes.
        enabled: partner -> its enabled managed accounts in that backend.
        guards: the region's limits.
        allow_disable: explicit overrides, partner -> the number of disables allowed.
    """
    allow_disable = allow_disable or {}
    disables: Counter[str] = Counter()
    removals: Counter[str] = Counter()
    for change in section.changes:
        disables[change.partner] += change.weight
        if change.kind is ObjectKind.MEMBERS:
            removals[change.partner] += change.weight
    held: list[Held] = []
    for partner, count in sorted(disables.items()):
        accounts = enabled.get(partner, 0)
        limit = allow_disable.get(partner, disable_limit(guards, accounts))
        if count > limit:
            held.append(Held(partner, count, accounts, limit,
                             f"--allow-disable {partner}={count}", removals[partner]))
    codes = {h.partner for h in held}
    return Section(
        section.backend,
        tuple(c for c in section.changes if c.partner not in codes),
        (*section.held, *held),
        (*section.held_changes, *(c for c in section.changes if c.partner in codes)),
        section.unmanaged,
    )


def parse_allow_disable(values: Iterable[str], flag: str = "--allow-disable",
                        ) -> dict[str, int]:
    """`--allow-disable PARTNER=N` values (or another guard's `flag`) into a mapping;
    ValueError says what is wrong."""
    result: dict[str, int] = {}
    for value in values:
        partner, sep, number = value.partition("=")
        if not sep or not partner or not number.isdigit():
            raise ValueError(f"{flag} {quoted(value)}: write PARTNER=N, e.g. ameland=12")
        result[partner] = int(number)
    return result


# -- plan files -------------------------------------------------------------------------

PLAN_FORMAT = 2
_SECTION_KEYS = ("changes", "held", "held_changes", "unmanaged")


def plan_to_dict(plan: Plan, meta: Mapping[str, Any],
                 extra: Mapping[Backend, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """A plan as JSON data: what `plan --out` writes and `apply PLAN` reads back.

    Args:
        meta: the run's own fields (region, target, today, ...).
        extra: per backend, what its section carries besides the changes (the hosts: the
            bundle, its digest and what the plan saw on each host).
    """
    extra = extra or {}
    return {
        "format": PLAN_FORMAT,
        **meta,
        "sections": {s.backend.value: {**section_to_dict(s), **extra.get(s.backend, {})}
                     for s in plan.sections},
        "moves": [mover_to_dict(m) for m in plan.movers],
    }


def section_to_dict(section: Section) -> dict[str, Any]:
    return {
        "changes": [change_to_dict(c) for c in section.changes],
        "held": [
            {"partner": h.partner, "disables": h.disables, "accounts": h.accounts,
             "limit": h.limit, "override": h.override, "removals": h.removals,
             "reason": h.reason, "message": h.message()}
            for h in section.held
        ],
        "held_changes": [change_to_dict(c) for c in section.held_changes],
        "unmanaged": [{"partner": u.partner, "dn": u.dn, "reason": u.reason, "key": u.key,
                       "known": u.known, "label": u.label, "privileged": u.privileged}
                      for u in section.unmanaged],
    }


def change_to_dict(change: Change) -> dict[str, Any]:
    data = {"backend": change.backend.value, "kind": change.kind.value,
            "action": change.action.value, "partner": change.partner, "key": change.key,
            "target": change.target, "label": change.label, "destructive": change.destructive,
            "fingerprint": change.fingerprint, "before": dict(change.before),
            "after": dict(change.after)}
    if change.names:
        data["names"] = dict(change.names)
    return data


def plan_from_dict(
    data: Mapping[str, Any],
) -> tuple[Plan, dict[str, Any], dict[Backend, dict[str, Any]]]:
    """Read back a saved plan: the plan, the run's fields and each section's extra fields.

    ValueError says what is wrong with the file.
    """
    if data.get("format") != PLAN_FORMAT:
        raise ValueError(f"not a plan file of format {PLAN_FORMAT} (format: "
                         f"{data.get('format')!r}); make a new one with `ssc-infra plan --out`")
    sections: list[Section] = []
    extra: dict[Backend, dict[str, Any]] = {}
    try:
        for name, body in dict(data["sections"]).items():
            backend = Backend(name)
            sections.append(_section_from(backend, body))
            extra[backend] = {k: v for k, v in body.items() if k not in _SECTION_KEYS}
        # "moves" came with plan files of later versions: older ones have none.
        movers = tuple(mover_from_dict(m) for m in data.get("moves") or ())
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"the plan file is damaged ({e!r}); make a new one") from e
    meta = {k: v for k, v in data.items() if k not in ("sections", "moves")}
    order = list(Backend)
    return (Plan(tuple(sorted(sections, key=lambda s: order.index(s.backend))), movers), meta,
            extra)


def _section_from(backend: Backend, data: Mapping[str, Any]) -> Section:
    changes = tuple(_change_from(c, backend) for c in data["changes"])
    held_changes = tuple(_change_from(c, backend) for c in data.get("held_changes", []))
    held = tuple(Held(h["partner"], h["disables"], h["accounts"], h["limit"], h["override"],
                      int(h.get("removals", 0)), str(h.get("reason", "")))
                 for h in data.get("held", []))
    # "label" and "names" came with plan files of later versions: `.get`, so older ones load.
    unmanaged = tuple(Unmanaged(u["partner"], u["dn"], u["reason"], str(u.get("key", "")),
                                str(u.get("known", "")), str(u.get("label") or ""),
                                u.get("privileged") is True)
                      for u in data.get("unmanaged", []))
    return Section(backend, changes, held, held_changes, unmanaged)


def _change_from(data: Mapping[str, Any], backend: Backend) -> Change:
    if Backend(data["backend"]) is not backend:
        raise ValueError(f"a {data['backend']} change in the {backend.value} section")
    names = data.get("names") or {}
    return Change(ObjectKind(data["kind"]), Action(data["action"]), data["partner"],
                  data["key"], data["target"], dict(data["before"]), dict(data["after"]),
                  backend, str(data.get("label") or ""),
                  {str(k): str(v) for k, v in dict(names).items()})
