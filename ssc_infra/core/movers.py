"""Movers: people whose place in the region changes — department, job title, site, workplace,
or partner (`moves.yaml`) — said in one line each beside the plan's detail changes. Pure.

A mover keeps their account and logon name. What moves them is in the plan's detail changes:
the account's attributes (department, title; for another partner also its OU, employee id,
UPN suffix and company), its group memberships and so its licences, and the host files of
its workplace. A `Mover` is how the reader sees it at a glance:

    waadhoeke/1002 Wâtse Bûmâ moves from Burgerzaken (wdh-franeker, laptop) to Vergunningen
    (wdh-harlingen, vdi)
    ameland/1002 → leeuwarden/20431 Wâtse Bûmâ moves from Gemeente Ameland (Burgerzaken)
    to Gemeente Leeuwarden (Vergunningen)

Where a person was is what the systems last got: their row of the partner's HR export as
last applied (the copies the files source keeps), or without such a copy the department and
title their account holds (site and workplace are then not known, and not compared).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from ssc_infra.core.model import Move, Person, PersonKey

# What a person's place is made of, in the order a line names them.
PLACE_FIELDS = ("department", "job_title", "site", "workplace")
_EMPTY = {"department": "no department", "job_title": "no job title"}


@dataclass(frozen=True, slots=True)
class Place:
    """Where one person is: their partner and employee id, department, title, site and
    workplace. An empty site or workplace is not known."""

    partner: str
    partner_name: str
    employee_id: str
    department: str
    job_title: str
    site: str = ""
    workplace: str = ""

    @property
    def key(self) -> str:
        return f"{self.partner}/{self.employee_id}"


@dataclass(frozen=True, slots=True)
class Mover:
    """One person whose place changes in a plan: from `before` to `after`."""

    name: str  # the full name: "Wâtse Bûmâ"
    before: Place
    after: Place
    entry: str = ""  # moves.yaml:LINE of a move to another partner (or a new employee id)
    reason: str = ""  # the entry's reason

    @property
    def key(self) -> str:
        """Who the person is now: partner/employee id."""
        return self.after.key

    @property
    def partner(self) -> str:
        return self.after.partner

    @property
    def changed(self) -> tuple[str, ...]:
        """What changes, of partner, employee_id and PLACE_FIELDS (a site or workplace whose
        old value is not known does not count)."""
        b, a = self.before, self.after
        found = [name for name in ("partner", "employee_id")
                 if getattr(b, name) != getattr(a, name)]
        for name in PLACE_FIELDS:
            old = getattr(b, name)
            if old != getattr(a, name) and (old or name in _EMPTY):
                found.append(name)
        return tuple(found)

    def text(self) -> str:
        """The line the plan shows, e.g. "waadhoeke/1002 Wâtse Bûmâ moves from Burgerzaken
        (wdh-franeker, laptop) to Vergunningen (wdh-harlingen, vdi)"."""
        b, a = self.before, self.after
        who = a.key if b.key == a.key else f"{b.key} → {a.key}"
        changed = self.changed
        shown = [name for name in PLACE_FIELDS if name in changed]
        if "partner" not in changed and not shown:
            return f"{who} {self.name} keeps the account under a new employee id"
        with_partner = "partner" in changed
        return (f"{who} {self.name} moves from {_place(b, shown, with_partner)} to "
                f"{_place(a, shown, with_partner)}")


def _place(place: Place, shown: list[str], with_partner: bool) -> str:
    """The first value, then the others in brackets: "Burgerzaken (wdh-franeker, laptop)"."""
    values = [place.partner_name or place.partner] if with_partner else []
    values += [getattr(place, name) or _EMPTY.get(name, "-") for name in shown]
    head, rest = values[0], values[1:]
    return f"{head} ({', '.join(rest)})" if rest else head


Kept = Mapping[PersonKey, tuple[str, str, str, str]]  # department, title, site, workplace
"""Each person's place in the HR exports as last applied, by their key then."""


@dataclass(frozen=True, slots=True)
class Account:
    """What an account in the directory says of its person: its key and their place."""

    key: PersonKey
    department: str
    title: str


def find_movers(current: Iterable[tuple[Person, str]], was: Mapping[PersonKey, Account],
                kept: Kept, names: Mapping[str, str],
                moves: Iterable[Move] = ()) -> tuple[Mover, ...]:
    """The movers among `current`, in partner and key order.

    Args:
        current: each person with an account due (not a leaver), with their full name.
        was: per current key, the account they have: under their own key, or under their
            old key when they move to another partner (a new joiner has none).
        kept: the HR exports as last applied (see `Kept`); a person whose old key is not in
            it is compared with the department and title of their account.
        names: partner code -> partner name.
        moves: moves.yaml's entries, for the entry and reason of a move.
    """
    entries = {m.to: m for m in moves}
    found: list[Mover] = []
    for person, full_name in current:
        account = was.get(person.key)
        if account is None:
            continue
        old = account.key
        row = kept.get(old)
        if row is not None:
            department, title, site, workplace = row
        else:
            department, title, site, workplace = account.department, account.title, "", ""
        before = Place(old[0], names.get(old[0], old[0]), old[1], department, title, site,
                       workplace)
        after = Place(person.partner, names.get(person.partner, person.partner),
                      person.employee_id, person.department, person.job_title, person.site,
                      person.workplace.value)
        entry = entries.get(person.key) if old != person.key else None
        mover = Mover(full_name, before, after, entry.where if entry else "",
                      entry.reason if entry else "")
        if mover.changed:
            found.append(mover)
    return tuple(sorted(found, key=lambda m: (m.partner, m.key)))


# -- as data ----------------------------------------------------------------------------


def mover_to_dict(mover: Mover) -> dict[str, Any]:
    """A mover as the plan's JSON has it: every field, what changed and the line."""
    return {"key": mover.key, "was": mover.before.key, "partner": mover.partner,
            "name": mover.name, "changed": list(mover.changed),
            "before": _place_dict(mover.before), "after": _place_dict(mover.after),
            "entry": mover.entry, "reason": mover.reason, "text": mover.text()}


def _place_dict(place: Place) -> dict[str, str]:
    return {f.name: getattr(place, f.name) for f in fields(Place)}


def mover_from_dict(data: Mapping[str, Any]) -> Mover:
    """A mover read back from a plan file (hostile: any value that is no text is refused).

    Raises:
        ValueError: a field is missing or not text.
    """
    return Mover(_text(data, "name"), _place_from(data.get("before")),
                 _place_from(data.get("after")), _text(data, "entry"), _text(data, "reason"))


def _place_from(data: Any) -> Place:
    if not isinstance(data, Mapping):
        raise ValueError("a mover's place is no mapping")
    return Place(*(_text(data, f.name) for f in fields(Place)))


def _text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ValueError(f"a mover's {name} is no text")
    return value
