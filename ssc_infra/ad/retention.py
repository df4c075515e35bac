"""Retention: which leavers' accounts may be purged, and the purge plan. Pure, no I/O.

Apply never deletes: a leaver's account is disabled and parked in its partner's leavers OU
with the tool's mark, which ends with the day it was parked ("... on 2026-12-03"). Once
`retention_days` (region.yaml) have passed since that day, `ssc-infra purge` may delete it —
only it: an account the tool did not park (no mark, no employee id, still enabled), a person
who is back in the HR export, or an account of an offboarded partner that its verified
handover bundle does not hold is refused, with the reason. A guard limits the deletions per
partner per run, as for disables.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from ssc_infra.ad.attributes import DISABLED_MARK
from ssc_infra.core.actual import ParkedAccount
from ssc_infra.core.model import Guards, PersonKey
from ssc_infra.core.plan import Action, Backend, Change, Held, ObjectKind, Section

_MARKED_ON = re.compile(r" on (\d{4}-\d{2}-\d{2})$")
SINCE_MARK = "the tool's mark"
SINCE_CHANGE = "its last change (no day in the mark)"


@dataclass(frozen=True, slots=True)
class Leaver:
    """An account parked in a leavers OU, and when its retention ends."""

    parked: ParkedAccount
    left: date | None  # the day it was parked; None when nothing tells
    since: str  # where `left` comes from: SINCE_MARK or SINCE_CHANGE ("" when unknown)
    purge_from: date | None  # the first day a purge may delete it

    @property
    def partner(self) -> str:
        return self.parked.account.partner

    @property
    def key(self) -> str:
        a = self.parked.account
        return f"{a.partner}/{a.employee_id}" if a.employee_id else a.dn

    @property
    def name(self) -> str:
        a = self.parked.account
        return a.display_name or a.full_name or a.sam

    def due(self, today: date) -> bool:
        """Past its retention on `today`."""
        return self.purge_from is not None and today >= self.purge_from


def parked_on(parked: ParkedAccount) -> tuple[date | None, str]:
    """The day an account was parked: from the tool's mark, else (older marks carry no day)
    its last change — never earlier than the real day, so a purge never comes too soon."""
    marker = parked.account.marker
    found = _MARKED_ON.search(marker) if marker.startswith(DISABLED_MARK) else None
    if found is not None:
        try:
            return date.fromisoformat(found[1]), SINCE_MARK
        except ValueError:
            pass
    if parked.changed is not None:
        return parked.changed.date(), SINCE_CHANGE
    return None, ""


def leavers(parked: Sequence[ParkedAccount], retention_days: int) -> list[Leaver]:
    """Every parked account with its retention, in partner and name order."""
    found = []
    for p in parked:
        left, since = parked_on(p)
        try:
            purge_from = left + timedelta(days=retention_days) if left is not None else None
        except OverflowError:  # a mark edited by hand to the end of the calendar: never
            purge_from = None
        found.append(Leaver(p, left, since, purge_from))
    return sorted(found, key=lambda v: (v.partner, v.name.lower(), v.key))


@dataclass(frozen=True, slots=True)
class Refusal:
    """A leaver past its retention that the purge will not delete, and why."""

    leaver: Leaver
    reason: str


@dataclass(frozen=True)
class PurgePlan:
    """What a purge deletes (a directory Section of DELETE changes, guards applied), what it
    refuses, and how many leavers still wait for their retention to end."""

    section: Section
    refused: tuple[Refusal, ...]
    waiting: int


# An offboarded partner's verified handover bundle: the objectGUIDs of the accounts it holds;
# or, as a string, why the bundle does not verify.
Bundles = Mapping[str, frozenset[str] | str]


def plan_purge(
    found: Sequence[Leaver],
    today: date,
    guards: Guards,
    current: Collection[PersonKey] = (),
    offboarded: Bundles | None = None,
    partners: Collection[str] = (),
    allow: Mapping[str, int] | None = None,
) -> PurgePlan:
    """The accounts to delete: past retention, parked by the tool, nobody's account any more.

    Args:
        found: the leavers read (see `leavers`).
        today: the day of the purge.
        guards: the region's guards; `max_disable` is also the most deletions per partner.
        current: people of the inventory who are not leavers (back in the HR export): their
            accounts are the next apply's to bring back, never a purge's.
        offboarded: partner -> its verified bundle's account GUIDs (or why it does not verify),
            for every offboarded partner.
        partners: limit the purge to these partners; empty: all.
        allow: partner -> deletions allowed above the guard (`--allow-purge PARTNER=N`).
    """
    offboarded = offboarded or {}
    allow = allow or {}
    current = set(current)
    changes: list[Change] = []
    refused: list[Refusal] = []
    waiting = 0
    for leaver in found:
        if partners and leaver.partner not in partners:
            continue
        if not leaver.due(today):
            waiting += 1
            continue
        reason = _refusal(leaver, current, offboarded)
        if reason:
            refused.append(Refusal(leaver, reason))
            continue
        a = leaver.parked.account
        changes.append(Change(
            ObjectKind.ACCOUNT, Action.DELETE, a.partner, leaver.key, a.dn,
            {"objectGUID": leaver.parked.guid, "employeeID": a.employee_id or "",
             "enabled": False, "adminDescription": a.marker}, {}, Backend.DIRECTORY))
    return PurgePlan(_guard(changes, guards, allow), tuple(refused), waiting)


def _refusal(leaver: Leaver, current: Collection[PersonKey],
             offboarded: Bundles) -> str:
    a = leaver.parked.account
    if a.key is None:
        return "no employeeID: not an account of the tool's, never deleted"
    if a.enabled:
        return "enabled: someone uses it; it is not a leaver's parked account"
    if not a.marker.startswith(DISABLED_MARK):
        return "not disabled by the tool (no mark of its own): deleted by hand only"
    if not leaver.parked.guid:
        return "the DC gave no objectGUID to check it against before deleting"
    if a.key in current:
        return "back in the HR export: the next apply enables and moves it back"
    bundle = offboarded.get(a.partner)
    if isinstance(bundle, str):
        return f"its partner was offboarded and the handover bundle does not verify: {bundle}"
    if bundle is not None and leaver.parked.guid not in bundle:
        return ("its partner was offboarded and the verified handover bundle does not hold it: "
                "nothing is deleted that the partner did not get")
    return ""


def _guard(changes: list[Change], guards: Guards, allow: Mapping[str, int]) -> Section:
    per_partner: dict[str, int] = {}
    for change in changes:
        per_partner[change.partner] = per_partner.get(change.partner, 0) + 1
    held: list[Held] = []
    for partner, count in sorted(per_partner.items()):
        limit = allow.get(partner, guards.max_disable)
        if count > limit:
            flag = f"--allow-purge {partner}={count}"
            held.append(Held(partner, count, count, limit, flag, reason=(
                f"the purge deletes {count} accounts, more than the guard allows ({limit}); "
                f"if this is right, re-run with {flag}")))
    codes = {h.partner for h in held}
    return Section(Backend.DIRECTORY,
                   tuple(c for c in changes if c.partner not in codes), tuple(held),
                   tuple(c for c in changes if c.partner in codes))

