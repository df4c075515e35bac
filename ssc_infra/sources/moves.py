"""Moves between partners: `<inventory>/moves.yaml` says who a person was before.

A person's identity is (partner, employee id), and the new partner's HR export usually gives a
mover a new employee id. The nightly HR pull rewrites people/*.csv whole, so the link cannot be
a column there; the region keeps it apart, as the SSC writes it:

```yaml
moves:
  - person: ameland/1002        # who they were
    to: leeuwarden/20431        # who they are now: a row of leeuwarden's HR export
    reason: overplaatsing per 2027-01-01
```

From the start date of the row of `to` the two are one person: that row gets `previous` (as
after a merge of partners), so the account keeps its logon name and moves to the new partner's
OU, and the old partner's row (a leaver, or still current) is no longer read. Before that date
the row of `to` waits: no second account is made ahead of the move.

The file is hostile input like the rest of the inventory: every problem at moves.yaml:LINE with
a hint. A problem of the file's shape stops the run (as one in region.yaml); a problem of one
entry (a cloud partner, a person moved twice, a circular move, a new person missing from the
new export) holds the partner the entry moves to, and the run holds the old partner with it
while its account waits to move (`run.movers`).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import Problem
from ssc_infra.core.model import EMPLOYEE_ID_PATTERN, Identity, Move, Person, PersonKey
from ssc_infra.sources.located import Located, read_yaml
from ssc_infra.sources.problems import did_you_mean
from ssc_infra.sources.regionfiles import PartnerDoc
from ssc_infra.sources.schema import unprintable

MOVES_FILE = "moves.yaml"
REASON_MAX = 200
_KEYS = frozenset({"person", "to", "reason"})
_PERSON = re.compile(r"^([^/\s]{1,64})/([^/\s]{1,64})$")
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_EXAMPLE = ("moves:\n  - person: ameland/1002\n    to: leeuwarden/20431\n    reason: "
            "overplaatsing per 2027-01-01")


@dataclass(frozen=True, slots=True)
class MoveEntry:
    """One entry of moves.yaml that names two partners of the region."""

    person: PersonKey
    to: PersonKey
    reason: str
    line: int
    refused: bool = False  # a problem of its own: the account does not move

    def move(self, on: date | None) -> Move:
        return Move(self.person, self.to, self.reason, f"{MOVES_FILE}:{self.line}", on)


def text(key: PersonKey) -> str:
    return f"{key[0]}/{key[1]}"


def read_moves(root: Path, partners: Sequence[PartnerDoc]
               ) -> tuple[list[MoveEntry], list[Problem]]:
    """The entries of `root`/moves.yaml (none when there is no such file), and its problems."""
    path = root / MOVES_FILE
    if not path.exists() and not path.is_symlink():
        return [], []
    doc, problems = read_yaml(path, MOVES_FILE, root)
    if doc is None:
        if all(p.message == "the file is empty" for p in problems):
            return [], []  # every entry taken out: no moves
        return [], problems
    entries, found = parse_moves(doc, partners)
    unreadable = {p.line for p in problems}  # a value the reader could not read: said once
    return entries, [*problems, *(p for p in found if p.line not in unreadable)]


def parse_moves(doc: Located, partners: Sequence[PartnerDoc]
                ) -> tuple[list[MoveEntry], list[Problem]]:
    """Check a parsed moves file against the partner files (pure).

    A problem of the file's shape, or an entry that names no partner of the region, belongs
    to no partner (it stops the run); a problem of an entry that names two partners belongs to
    the partner it moves to (it holds that partner), and the entry is marked refused.
    """
    problems: list[Problem] = []

    def problem(path: tuple[str | int, ...], message: str, hint: str,
                partner: str = "") -> None:
        problems.append(Problem(doc.file, doc.line(path), message, hint, partner))

    data = doc.data
    if data is None:
        return [], []
    if not isinstance(data, dict):
        problem((), "a moves file is a mapping with a `moves:` list", f"write e.g. {_EXAMPLE}")
        return [], problems
    for key in sorted(set(data) - {"moves"}, key=str):
        problem((key,), f"unknown key {key!r}", "the file has one key: `moves`")
    items = data.get("moves")
    if items is None:
        return [], problems
    if not isinstance(items, list):
        problem(("moves",), "`moves` must be a list", "write `moves:` followed by `- person: "
                "...` items")
        return [], problems
    docs = {p.spec.code: p for p in partners}
    entries: list[MoveEntry] = []
    for index, item in enumerate(items):
        path: tuple[str | int, ...] = ("moves", index)
        if not isinstance(item, dict):
            problem(path, "an entry must be a mapping", "write its keys: person, to, reason")
            continue
        unknown = sorted(set(item) - _KEYS, key=str)
        missing = sorted(_KEYS - set(item))
        for key in unknown:
            problem((*path, key), f"unknown key {key!r}",
                    f"the keys are person, to and reason{_suggest(key)}")
        for key in missing:
            problem(path, f"missing `{key}`", "every entry needs person, to and reason")
        person = _key(item.get("person"), (*path, "person"), docs, problem)
        to = _key(item.get("to"), (*path, "to"), docs, problem)
        reason = _reason(item.get("reason"), (*path, "reason"), problem)
        if unknown or missing or person is None or to is None or reason is None:
            continue
        entries.append(MoveEntry(person, to, reason, doc.line(path)))
    return _refused(entries, docs, doc.file, problems), problems


def _suggest(key: object) -> str:
    hint = did_you_mean(str(key), sorted(_KEYS))
    return f" ({hint})" if hint else ""


Report = Any  # the `problem` callback: (path, message, hint, partner="") -> None


def _key(value: Any, path: tuple[str | int, ...], docs: Mapping[str, PartnerDoc],
         problem: Report) -> PersonKey | None:
    if value is None:
        return None  # said as missing
    match = _PERSON.match(value) if isinstance(value, str) else None
    if match is None:
        problem(path, f"{path[-1]} {value!r} is not PARTNER/EMPLOYEE_ID",
                "write the partner code and the employee id, e.g. ameland/1002")
        return None
    code, employee_id = match.groups()
    if code not in docs:
        hint = did_you_mean(code, sorted(docs)) or f"known: {', '.join(sorted(docs))}"
        problem(path, f"no partner {code!r} in the region", hint)
        return None
    if not _EMPLOYEE_ID.fullmatch(employee_id):
        problem(path, f"{employee_id!r} is not an employee id",
                "letters, digits, '.', '_' and '-', starting with a letter or digit, at most "
                "16 characters (AD's employeeID)")
        return None
    return code, employee_id


def _reason(value: Any, path: tuple[str | int, ...], problem: Report) -> str | None:
    if value is None:
        return None  # said as missing
    if not isinstance(value, str) or not value.strip():
        problem(path, "the reason is empty", "say why, and who decided (a ticket number helps)")
        return None
    if len(value) > REASON_MAX or unprintable(value):
        problem(path, f"the reason is longer than {REASON_MAX} characters or holds control "
                "characters", "keep it to one short line")
        return None
    return value.strip()


def _refused(entries: list[MoveEntry], docs: Mapping[str, PartnerDoc], file: str,
             problems: list[Problem]) -> list[MoveEntry]:
    """The entries, each one the tool cannot carry out marked refused with its problem."""
    first_person: dict[PersonKey, int] = {}
    first_to: dict[PersonKey, int] = {}
    for entry in entries:
        first_person.setdefault(entry.person, entry.line)
        first_to.setdefault(entry.to, entry.line)
    checked: list[MoveEntry] = []
    for entry in entries:
        why = _why_not(entry, docs, first_person, first_to)
        if why is None:
            checked.append(entry)
            continue
        problems.append(Problem(file, entry.line, *why, entry.to[0]))
        checked.append(dataclasses.replace(entry, refused=True))
    return checked


def _why_not(entry: MoveEntry, docs: Mapping[str, PartnerDoc],
             first_person: Mapping[PersonKey, int],
             first_to: Mapping[PersonKey, int]) -> tuple[str, str] | None:
    """(message, hint) of why this entry cannot be carried out; None when it can."""
    person, to = text(entry.person), text(entry.to)
    if entry.person == entry.to:
        return f"{person} moves to itself", "name who they were under `person` and who " \
            "they are now under `to`"
    for side in (entry.person, entry.to):
        spec = docs[side[0]].spec
        if spec.identity is not Identity.HYBRID:
            return (f"{side[0]} is a cloud partner: its users live in its Microsoft 365 "
                    "tenant, not in AD, and moving a user between tenants is a migration of "
                    "its own", f"remove the entry: {person} leaves and {to} joins as a new "
                    "account")
        if spec.offboarded is not None or spec.merged is not None:
            return (f"{side[0]} is offboarded or merged into another partner: its people "
                    "are no longer read", "a move is between partners in service")
    if first_person[entry.person] != entry.line:
        return (f"{person} moves twice (first on line {first_person[entry.person]})",
                "a person moves once: keep the entry of the move that happened")
    if first_to[entry.to] != entry.line:
        return (f"{to} is moved to twice (first on line {first_to[entry.to]})",
                "one person becomes the new one: keep the entry of who they were")
    onward = first_person.get(entry.to)
    if onward is not None:
        return (f"{to} moves on at line {onward}: a chain or a circle of moves",
                "write one entry from who they were first to who they are now")
    back = first_to.get(entry.person)
    if back is not None:
        return (f"{person} is who line {back} moves to: a chain or a circle of moves",
                "write one entry from who they were first to who they are now")
    return None


def apply_moves(entries: Sequence[MoveEntry], people: Mapping[str, list[Person]],
                waiting: set[str], files: Mapping[str, str], today: date, strict: bool = True,
                ) -> tuple[dict[str, list[Person]], tuple[Move, ...], list[Problem]]:
    """The people with the moves carried out for `today`, the moves, and their problems.

    Args:
        entries: from `read_moves`.
        people: partner code -> the rows of its HR export that have no problem.
        waiting: partners whose own data has problems (held): who is in their export is not
            known, so a move to one of them waits.
        files: partner code -> its HR export, for messages.
        strict: a new person missing from the new export is a problem; not so for the
            exports as last applied (`files.FilesSource.with_applied`), which may simply be
            older than the entry: there the move had not happened, and both rows stay.

    Returns:
        The people: a move that took effect gives the row of `to` the old key as `previous`
        and drops the old row; one still ahead drops the row of `to` until its start date;
        one that cannot be carried out drops the old row, so that neither side of it changes
        until it can (the run holds the old partner while the account waits). A refused
        entry leaves both exports as they are.
    """
    if not entries:
        return dict(people), (), []
    out = {code: list(rows) for code, rows in people.items()}
    moves: list[Move] = []
    problems: list[Problem] = []
    drop: dict[str, set[str]] = {}
    by_key = {code: {p.employee_id: i for i, p in enumerate(rows)} for code, rows in out.items()}
    for entry in entries:
        if entry.refused:
            moves.append(entry.move(None))
            continue
        code, employee_id = entry.to
        index = by_key.get(code, {}).get(employee_id) if code not in waiting else None
        row = out[code][index] if index is not None else None
        if index is None or row is None or row.previous is not None:
            moves.append(entry.move(None))
            if not strict:  # an older copy: the move had not happened then
                continue
            if code not in waiting:
                problems.append(_unresolved(entry, row, files.get(code, "")))
            drop.setdefault(entry.person[0], set()).add(entry.person[1])
            continue
        on = row.start_date
        moves.append(entry.move(on))
        if on <= today:
            out[code][index] = dataclasses.replace(row, previous=entry.person)
            drop.setdefault(entry.person[0], set()).add(entry.person[1])
        else:
            drop.setdefault(code, set()).add(employee_id)
    for code, gone in drop.items():
        if code in out:
            out[code] = [p for p in out[code] if p.employee_id not in gone]
    return out, tuple(moves), problems


def _unresolved(entry: MoveEntry, row: Person | None, file: str) -> Problem:
    code, to = entry.to[0], text(entry.to)
    if row is not None and row.previous is not None:
        return Problem(MOVES_FILE, entry.line, f"{to} was {text(row.previous)} before already "
                       "(a merge of partners)", "a person's account follows them once: remove "
                       "the entry or the line of the merge list", code)
    return Problem(MOVES_FILE, entry.line,
                   f"{to} is not in {code}'s HR export ({file or 'people'}), so "
                   f"{text(entry.person)} cannot move there",
                   f"check the employee id under `to`; if {to} left {code} after the move was "
                   "applied, remove the entry", code)
