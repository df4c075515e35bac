"""Holds: what the engineers acknowledged in the directory, so it is listed and not drift.

`<inventory>/holds.yaml` (or a file passed in) has two lists:

```yaml
holds:              # accounts locked by hand on purpose: kept disabled, listed, not drift
  - person: alpha/1002
    reason: security incident INC-4711, locked by the CISO
    until: 2026-12-31   # after this day the lock is drift again: renew it or release it
known:              # objects in a partner OU that the tool does not manage, on purpose
  - dn: CN=Scanner Balie,OU=Users,OU=alpha,OU=Partners,DC=ssc,DC=frl
    reason: the scanner at the front desk, owned by facilities
```

A hold never changes anything: the account stays disabled either way. It only tells the
drift check that a person knows. Releasing a lock is an explicit act: `--enable PARTNER/ID`.

The file is hostile input like the rest of the inventory: every problem is collected with
file:line and a hint, and nothing is used until there are none. For a run, a hold of a person
its partner's HR export does not have (a typo, or someone who left the export) is a problem of
that partner alone: the run holds that partner back and goes on with the others
(`load_run_holds`); a hold of a partner held back for its own data is kept unchecked.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.core.dn import dn_key, split_dn
from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import PersonKey, Region
from ssc_infra.sources.located import Located, read_yaml

HOLDS_FILE = "holds.yaml"
REASON_MAX = 200
DN_MAX = 1024
_PERSON = re.compile(r"^([^/\s]{1,64})/([^/\s]{1,64})$")  # then looked up in the region
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HOLD_KEYS = frozenset({"person", "reason", "until"})
_KNOWN_KEYS = frozenset({"dn", "reason"})


@dataclass(frozen=True, slots=True)
class Hold:
    """A person's account that is locked on purpose until `until` (inclusive)."""

    person: PersonKey
    reason: str
    until: date
    where: str  # file:line, for messages that send the reader back to the entry

    def active(self, today: date) -> bool:
        return today <= self.until


@dataclass(frozen=True, slots=True)
class Known:
    """An object the tool does not manage, acknowledged by DN."""

    dn: str
    reason: str
    where: str


@dataclass(frozen=True)
class Holds:
    holds: tuple[Hold, ...] = ()
    known: tuple[Known, ...] = ()

    def hold_for(self, person: PersonKey) -> Hold | None:
        return next((h for h in self.holds if h.person == person), None)

    def known_for(self, dn: str) -> Known | None:
        key = dn_key(dn)
        return next((k for k in self.known if dn_key(k.dn) == key), None)


NO_HOLDS = Holds()


def load_holds(path: Path, region: Region, rel: str = HOLDS_FILE,
               required: bool = False, held: Collection[str] = ()) -> Holds:
    """Read and check a holds file.

    Args:
        path: the file.
        region: the loaded inventory, to check that every person exists.
        rel: the name used in problems (relative to the inventory where possible).
        required: a missing file is a problem (a path passed in) rather than no holds (the
            default `<inventory>/holds.yaml`).
        held: partners held back for their own data: their holds are kept unchecked.

    Raises:
        InventoryError: with every problem, each at file:line with a hint.
    """
    holds, problems = load_run_holds(path, region, rel, required, held)
    if problems:
        raise InventoryError([p for found in problems.values() for p in found])
    return holds


def load_run_holds(path: Path, region: Region, rel: str = HOLDS_FILE, required: bool = False,
                   held: Collection[str] = ()) -> tuple[Holds, dict[str, tuple[Problem, ...]]]:
    """Read and check a holds file for a run: the holds that are sound, and the problems of
    single partners (a hold of a person their HR export does not have), by partner code.

    Raises:
        InventoryError: the problems that concern the whole file (its syntax, a key, a date,
            a partner code no partner has), each at file:line: no hold is used then.
    """
    if not path.exists() and not required:
        return NO_HOLDS, {}
    doc, problems = read_yaml(path, rel)
    if doc is None:
        raise InventoryError(problems)
    holds, found = parse_holds(doc, region, held)
    unreadable = {p.line for p in problems}  # a value the reader could not read: said once
    problems.extend(p for p in found if p.line not in unreadable)
    shared = [p for p in problems if not p.partner]
    if shared:
        raise InventoryError(problems)
    by_partner: dict[str, tuple[Problem, ...]] = {}
    for p in problems:
        by_partner[p.partner] = (*by_partner.get(p.partner, ()), p)
    return holds, by_partner


def parse_holds(doc: Located, region: Region,
                held: Collection[str] = ()) -> tuple[Holds, list[Problem]]:
    """Check a parsed holds file (pure). Returns the holds and the problems found; a problem
    of one partner (a person its HR export does not have) is marked with its code.

    Args:
        held: partners held back for their own data (not in `region` with their people):
            a hold of one of their people is kept as written.
    """
    problems: list[Problem] = []

    def problem(path: tuple[str | int, ...], message: str, hint: str,
                partner: str = "") -> None:
        problems.append(Problem(doc.file, doc.line(path), message, hint, partner))

    data = doc.data
    if not isinstance(data, dict):
        problem((), "a holds file is a mapping with `holds:` and `known:` lists",
                "write e.g. `holds: [{person: alpha/1002, reason: INC-4711, until: "
                "2026-12-31}]` and `known: [{dn: ..., reason: ...}]`")
        return NO_HOLDS, problems
    for key in sorted(set(data) - {"holds", "known"}):
        problem((key,), f"unknown key {key!r}", "the keys are `holds` and `known`")
    people = {p.key for partner in region.partners for p in partner.people}
    partners = {partner.code for partner in region.partners}
    unchecked = frozenset(held) - partners
    holds: list[Hold] = []
    seen: dict[PersonKey, int] = {}
    for index, entry in enumerate(_items(data, "holds", problem)):
        path: tuple[str | int, ...] = ("holds", index)
        where = f"{doc.file}:{doc.line(path)}"
        if not _keys(entry, path, _HOLD_KEYS, problem):
            continue
        person = _person(entry.get("person"), (*path, "person"), people, partners, unchecked,
                         problem)
        reason = _text(entry.get("reason"), (*path, "reason"), REASON_MAX, problem)
        until = _day(entry.get("until"), (*path, "until"), problem)
        if person is None or reason is None or until is None:
            continue
        if person in seen:
            problem(path, f"{person[0]}/{person[1]} is held twice (first on line "
                    f"{seen[person]})", "keep one entry per person")
            continue
        seen[person] = doc.line(path)
        holds.append(Hold(person, reason, until, where))
    known: list[Known] = []
    seen_dn: dict[str, int] = {}
    for index, entry in enumerate(_items(data, "known", problem)):
        path = ("known", index)
        if not _keys(entry, path, _KNOWN_KEYS, problem):
            continue
        dn = _dn(entry.get("dn"), (*path, "dn"), problem)
        reason = _text(entry.get("reason"), (*path, "reason"), REASON_MAX, problem)
        if dn is None or reason is None:
            continue
        if dn_key(dn) in seen_dn:
            problem(path, f"{dn} is listed twice (first on line {seen_dn[dn_key(dn)]})",
                    "keep one entry per DN")
            continue
        seen_dn[dn_key(dn)] = doc.line(path)
        known.append(Known(dn, reason, f"{doc.file}:{doc.line(path)}"))
    return Holds(tuple(holds), tuple(known)), problems


Report = Any  # the `problem` callback: (path, message, hint) -> None


def _items(data: Mapping[str, Any], key: str, problem: Report) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        problem((key,), f"`{key}` must be a list", f"write `{key}:` followed by `- ...` items")
        return []
    return value


def _keys(entry: Any, path: tuple[str | int, ...], allowed: frozenset[str],
          problem: Report) -> bool:
    if not isinstance(entry, dict):
        problem(path, "an entry must be a mapping",
                f"write its keys: {', '.join(sorted(allowed))}")
        return False
    ok = True
    for key in sorted(set(entry) - allowed):
        problem((*path, key), f"unknown key {key!r}", f"the keys are {', '.join(sorted(allowed))}")
        ok = False
    for key in sorted(allowed - set(entry)):
        problem(path, f"missing `{key}`", f"every entry needs {', '.join(sorted(allowed))}")
        ok = False
    return ok


def _person(value: Any, path: tuple[str | int, ...], people: set[PersonKey],
            partners: set[str], unchecked: frozenset[str], problem: Report) -> PersonKey | None:
    match = _PERSON.match(value) if isinstance(value, str) else None
    if match is None:
        problem(path, f"person {value!r} is not PARTNER/EMPLOYEE_ID",
                "write the partner code and the employee id, e.g. alpha/1002")
        return None
    key = (match.group(1), match.group(2))
    if key in people or key[0] in unchecked:
        return key
    if key[0] in partners:  # that partner's problem: the others go on
        problem(path, f"unknown person {value}: not in the HR export of partner {key[0]!r}",
                "check the partner code and employee id; remove the hold if the person left",
                key[0])
    else:
        problem(path, f"unknown person {value}: no partner {key[0]!r} in the inventory",
                "check the partner code: write PARTNER/EMPLOYEE_ID")
    return None


def _text(value: Any, path: tuple[str | int, ...], limit: int, problem: Report) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problem(path, "the reason is empty", "say why, and who decided (a ticket number helps)")
        return None
    if len(value) > limit or _CONTROL.search(value):
        problem(path, f"the reason is longer than {limit} characters or holds control "
                "characters", "keep it to one short line")
        return None
    return value.strip()


def _day(value: Any, path: tuple[str | int, ...], problem: Report) -> date | None:
    # YAML reads 2026-12-31 as a date already; a quoted or odd value arrives as text.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problem(path, f"until {value!r} is not a date", "write YYYY-MM-DD, e.g. 2026-12-31")
    return None


def _dn(value: Any, path: tuple[str | int, ...], problem: Report) -> str | None:
    if (not isinstance(value, str) or not value or len(value) > DN_MAX
            or _CONTROL.search(value)
            or not all("=" in part for part in split_dn(value))):
        problem(path, f"dn {value!r} is not a distinguished name",
                "copy the DN as the plan shows it, e.g. CN=Scanner,OU=Users,OU=alpha,...")
        return None
    return value


def parse_enable(values: Iterable[str], region: Region) -> frozenset[PersonKey]:
    """`--enable PARTNER/ID` values: the locked accounts the operator releases.

    Raises:
        ValueError: naming the value and what to write instead.
    """
    people = {p.key for partner in region.partners for p in partner.people}
    found: set[PersonKey] = set()
    for value in values:
        match = _PERSON.match(value)
        if match is None:
            raise ValueError(f"--enable {value!r}: write PARTNER/EMPLOYEE_ID, e.g. alpha/1002")
        key = (match.group(1), match.group(2))
        if key not in people:
            raise ValueError(f"--enable {value}: no such person in the HR export of "
                             f"partner {key[0]!r}")
        found.add(key)
    return frozenset(found)
