"""The people of a partner: its HR export (people/*.csv) read into Persons, each row checked
against the fields it lands in (AD's lengths, names, sites, dates), and the quota.

After a merge, the merge list (`merged_from.ids`) says who each person was before, so that
their accounts move rather than being made anew.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator, Mapping, Set
from datetime import date
from itertools import compress, repeat
from pathlib import Path
from typing import cast

from ssc_infra.core.errors import Problem, quoted
from ssc_infra.core.model import (
    DEPARTMENT_MAX,
    EMPLOYEE_ID_PATTERN,
    FULL_NAME_MAX,
    GIVEN_NAME_MAX,
    INFIX_MAX,
    JOB_TITLE_MAX,
    SURNAME_MAX,
    NamingPolicy,
    Person,
    PersonKey,
    Site,
    Workplace,
)
from ssc_infra.core.naming import naming_problem
from ssc_infra.core.slugs import slug
from ssc_infra.sources.csvfile import RowProblems, open_csv
from ssc_infra.sources.problems import did_you_mean, identifier_problem
from ssc_infra.sources.regionfiles import PartnerDoc
from ssc_infra.sources.schema import person_name_problem, unprintable

PEOPLE_COLUMNS = (
    "employee_id", "given_name", "infix", "surname", "department",
    "job_title", "site", "workplace", "start_date", "end_date",
)
MERGE_COLUMNS = ("partner", "employee_id", "new_employee_id")
EMPLOYEE_ID_HINT = ("letters, digits, '.', '_' and '-', starting with a letter or digit, at most "
                    "16 characters (AD's employeeID): check the HR export")
_REQUIRED_PEOPLE = ("employee_id", "given_name", "surname", "site", "workplace", "start_date")
_WORKPLACES = {w.value: w for w in Workplace}
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_NAME_HINT = ("letters (with diacritics), space, apostrophe, hyphen and dot, at most {max} "
              "characters: check the HR export")
# Free text that lands in an LDAP attribute of this many characters at most.
_TEXT_COLUMNS = (("department", DEPARTMENT_MAX), ("job_title", JOB_TITLE_MAX))
_NAME_COLUMNS = (("given_name", GIVEN_NAME_MAX), ("infix", INFIX_MAX), ("surname", SURNAME_MAX))
# The longest given name, infix, surname, department and job title a whole export may hold.
_TABLE_LIMITS = (GIVEN_NAME_MAX, INFIX_MAX, SURNAME_MAX, DEPARTMENT_MAX, JOB_TITLE_MAX)


class PeopleReader:
    """Reads the partners' HR exports, one partner at a time.

    Args:
        root: the inventory folder.
        problems: where every problem found is added, under the partner's code.
        unchecked_sites: the site codes of partner files that failed their checks: a person
            at one of them is not reported again.
        naming: the region's naming policy: a name no account name can be made of (no
            letter a-z in it) is a problem of its row; None when region.yaml has problems.
    """

    def __init__(self, root: Path, problems: list[Problem], unchecked_sites: Set[str],
                 naming: NamingPolicy | None = None) -> None:
        self.root = root
        self.problems = problems
        self.unchecked_sites = unchecked_sites
        self.naming = naming
        self._named: set[tuple[str, str, str]] = set()  # names an account name is made of
        # Every employee id in each partner's HR export, bad rows included, for device checks.
        self.employee_ids: dict[str, set[str]] = {}
        # The partners whose HR export stopped at an unreadable row: who comes after it is not
        # known, so their devices are not said to belong to no one.
        self.cut_short: set[str] = set()
        self._dates: dict[str, date] = {}

    def read(self, p: PartnerDoc, sites: dict[str, Site]) -> list[Person] | None:
        """The people of partner file `p` whose rows have no problem; None when the export
        cannot be read at all (then its devices cannot be checked either)."""
        opened = open_csv(self.root, p, "people", PEOPLE_COLUMNS, self.problems)
        if opened is None:
            return None
        rel, rows = opened
        code = p.spec.code
        usable = {s.code for s in sites.values() if s.partner == code or s.shared}
        usable |= self.unchecked_sites
        seen: dict[str, int] = {}
        before = self._read_previous(p)
        ids = self.employee_ids.setdefault(code, set())
        table = rows.table()
        if table is not None:
            taken = self._fit_table(code, table, usable, before)
            if taken is not None:
                ids.update(table[0])
                return taken
        departments = _Departments(rel)
        people: list[Person] = []
        for line, row in rows.tuples():
            # Most rows pass every check: taken in one go; any other gets the worded checks.
            fit = None if row is None or row[0] in seen else self._fit(row, usable)
            if fit is not None and row is not None:
                employee_id, given, infix, surname, department, title, site = row[:7]
                ids.add(employee_id)
                seen[employee_id] = line
                if department:
                    departments.add(department, line)
                people.append(Person(code, employee_id, given, infix, surname, department,
                                     title, site, *fit, before.get(employee_id)))
                continue
            values = None if row is None else rows.as_dict(row)
            bad = RowProblems(self.problems, rel, line, code)
            if values is None:
                bad(*rows.shape_problem)
                ids.add(rows.bad_row_id)
                continue
            ids.add(values["employee_id"])
            # A value that is empty or unfit for its field is not looked at any further.
            unfit = {c for c in _REQUIRED_PEOPLE if not values[c]}
            for column in sorted(unfit, key=_REQUIRED_PEOPLE.index):
                bad(f"empty {column}", f"every person needs a {column}")
            unfit |= _check_person_fields(bad, values, unfit)
            if self.naming is not None and not unfit & {"given_name", "infix", "surname"}:
                why = naming_problem(values["given_name"], values["infix"], values["surname"],
                                     self.naming)
                if why:
                    bad(f"the name {quoted(full_name(values))}: {why}",
                        "write the name in Latin letters in the HR export, as on the "
                        "person's passport (e.g. Dmitri Ivanov)")
                    unfit.add("surname")
            employee_id = values["employee_id"]
            first = seen.setdefault(employee_id, line) if "employee_id" not in unfit else line
            if first != line:
                bad(f"duplicate employee_id {employee_id!r} (first on line {first})",
                    "employee ids are unique within a partner: check the HR export")
            if values["department"] and "department" not in unfit:
                departments.add(values["department"], line)
            site = values["site"]
            if "site" not in unfit and site not in usable:
                owner = sites.get(site)
                bad(f"unknown site {quoted(site)}" if owner is None else
                    f"site {site!r} belongs to partner {owner.partner!r} and is not shared",
                    did_you_mean(site, sorted(usable)) or "use a site of this partner or a "
                    "shared flex site")
            workplace = _WORKPLACES.get(values["workplace"])
            if "workplace" not in unfit and workplace is None:
                bad(f"unknown workplace {quoted(values['workplace'])}",
                    "workplace is one of: vdi, laptop, thin_client")
            start = self._date(values["start_date"]) if values["start_date"] else None
            if "start_date" not in unfit and start is None:
                bad(f"invalid start_date {quoted(values['start_date'])}",
                    "write dates as YYYY-MM-DD")
            end = self._date(values["end_date"]) if values["end_date"] else None
            if values["end_date"] and end is None:
                bad(f"invalid end_date {quoted(values['end_date'])}", "write dates as YYYY-MM-DD")
            if start and end and end < start:
                bad(f"end_date {end} is before start_date {start}",
                    "check both dates in the HR export")
            if bad.count or workplace is None or start is None:
                continue
            people.append(Person(
                code, employee_id, values["given_name"], values["infix"], values["surname"],
                values["department"], values["job_title"], site, workplace, start, end,
                before.get(employee_id),
            ))
        if rows.error is not None:
            self.problems.append(Problem(rel, *rows.error, code))
            self.cut_short.add(code)
        elif rows.count == 0:
            self.problems.append(Problem(
                rel, 1, "the HR export has a header but no people",
                "export it again: a run with no people would make every account a leaver", code))
        for line, message in departments.clashes(code):
            self.problems.append(Problem(
                rel, line, message, "use one spelling of the department in the HR export: the "
                "group flaps between them on every other run", code))
        return people

    def _fit_table(self, code: str, table: list[tuple[str, ...]], usable: Set[str],
                   before: Mapping[str, PersonKey]) -> list[Person] | None:
        """The people of a whole export (`Rows.table()`: columns in PEOPLE_COLUMNS order) when
        every row passes every check `read` words, None when any row fails one.

        The checks of `_fit`, a column at a time: each distinct value is judged once, and the
        lengths and dates are compared across the column. As strict as the worded checks or
        stricter: an export turned away here is read again row by row.
        """
        employee_id, given, infix, surname, department, title, site, kind, start_text, \
            end_text = table
        if not (all(employee_id) and all(given) and all(surname) and all(kind)
                and all(start_text)) or len(set(employee_id)) != len(employee_id) \
                or not set(site) <= usable or not set(kind) <= _WORKPLACES.keys():
            return None
        longest = [max(map(len, column)) for column in (given, infix, surname, department,
                                                         title)]
        if any(n > limit for n, limit in zip(longest, _TABLE_LIMITS, strict=True)):
            return None
        if longest[1] + 1 + longest[2] > SURNAME_MAX \
                or longest[0] + 2 + longest[1] + longest[2] > FULL_NAME_MAX:
            # Some rows may be too long together: only then is each row measured.
            for g, i, s in zip(given, infix, surname, strict=True):
                sn = len(i) + 1 + len(s) if i else len(s)
                if sn > SURNAME_MAX or len(g) + 1 + sn > FULL_NAME_MAX:
                    return None
        names = set(given) | set(surname) | set(infix)
        names.discard("")
        if not all(map(_EMPLOYEE_ID.fullmatch, employee_id)) \
                or any(map(person_name_problem, names)) \
                or any(map(unprintable, set(department) | set(title))) \
                or _Departments.any_clash(set(department)):
            return None
        naming = self.naming
        if naming is not None:
            new_names = set(zip(given, infix, surname, strict=True)) - self._named
            if any(naming_problem(*name, naming) for name in new_names):
                return None
            self._named |= new_names
        known = self._dates  # every date parsed so far, and only those that parse
        texts = {*start_text, *end_text}
        texts.discard("")
        for text in texts - known.keys():
            self._date(text)
        if not texts <= known.keys():
            return None
        starts = list(map(known.__getitem__, start_text))
        ends = list(map(known.get, end_text))  # "" -> None: no end date
        given_ends = cast("Iterator[date]", compress(ends, ends))
        if any(map(operator.lt, given_ends, compress(starts, ends))):
            return None
        previous = map(before.get, employee_id) if before else repeat(None)
        return list(map(Person, repeat(code), employee_id, given, infix, surname, department,
                        title, site, map(_WORKPLACES.__getitem__, kind), starts, ends,
                        previous))

    def _fit(self, row: tuple[str, ...], usable: Set[str]
             ) -> tuple[Workplace, date, date | None] | None:
        """The workplace and dates of a people row (PEOPLE_COLUMNS order) that passes every
        check `read` words, None when any fails (then `read` words what is wrong).

        As strict as the worded checks or stricter: a row turned away here is looked at
        again, a row let through is never looked at again.
        """
        employee_id, given, infix, surname, department, title, site, kind, start_text, \
            end_text = row
        if not (employee_id and given and surname and site and kind and start_text) \
                or len(given) > GIVEN_NAME_MAX or len(infix) > INFIX_MAX \
                or len(surname) > SURNAME_MAX or len(department) > DEPARTMENT_MAX \
                or len(title) > JOB_TITLE_MAX or site not in usable:
            return None
        sn = len(infix) + 1 + len(surname) if infix else len(surname)
        if sn > SURNAME_MAX or len(given) + 1 + sn > FULL_NAME_MAX \
                or not _EMPLOYEE_ID.fullmatch(employee_id) or person_name_problem(given) \
                or person_name_problem(surname) or (infix and person_name_problem(infix)) \
                or unprintable(department) or unprintable(title) \
                or (self.naming is not None and naming_problem(given, infix, surname,
                                                               self.naming)):
            return None
        workplace = _WORKPLACES.get(kind)
        start = self._date(start_text)
        end = self._date(end_text) if end_text else None
        if workplace is None or start is None or (end_text and (end is None or end < start)):
            return None
        return workplace, start, end

    def _read_previous(self, p: PartnerDoc) -> dict[str, PersonKey]:
        """Who each person was before a merge (`merged_from.ids`): new id -> old key."""
        merged_from = p.spec.merged_from
        if merged_from is None:
            return {}
        opened = open_csv(self.root, p, "merged_from", MERGE_COLUMNS, self.problems,
                          merged_from.ids)
        if opened is None:
            return {}
        rel, rows = opened
        found: dict[str, PersonKey] = {}
        olds: dict[PersonKey, int] = {}
        for line, values in rows:
            bad = RowProblems(self.problems, rel, line, p.spec.code)
            if values is None:
                bad(*rows.shape_problem)
                continue
            old = (values["partner"], values["employee_id"])
            new = values["new_employee_id"]
            if old[0] not in merged_from.partners:
                bad(f"partner {quoted(old[0])} is not one of merged_from.partners",
                    f"the partners merged into {p.spec.code}: "
                    f"{', '.join(merged_from.partners)}")
            for column in ("employee_id", "new_employee_id"):
                if not re.fullmatch(EMPLOYEE_ID_PATTERN, values[column]):
                    bad(f"{column} {quoted(values[column])} is not an employee id",
                        "letters, digits, '.', '_', '-'; at most 16")
            if new in found:
                bad(f"new_employee_id {new!r} given twice", "each person gets one new id")
            if old in olds:
                bad(f"{old[0]}/{old[1]} listed twice (first on line {olds[old]})",
                    "each person of a merged partner is listed once")
            olds.setdefault(old, line)
            if not bad.count:
                found[new] = old
        if rows.error is not None:
            self.problems.append(Problem(rel, *rows.error, p.spec.code))
        return found

    def _date(self, text: str) -> date | None:
        parsed = self._dates.get(text)
        if parsed is None:
            try:
                parsed = date.fromisoformat(text)
            except ValueError:
                return None
            if len(text) != 10:
                return None
            self._dates[text] = parsed
        return parsed


def check_quota(p: PartnerDoc, people: list[Person], today: date) -> list[Problem]:
    """The people of partner file `p` not yet left on `today` fit its `quota.users`."""
    limit = p.spec.quota.users
    if limit is None:
        return []
    # `not person.has_left(today)`, inline: a big region counts hundreds of thousands
    current = sum(1 for person in people if (end := person.end_date) is None or end >= today)
    if current <= limit:
        return []
    return [Problem(
        p.doc.file, p.doc.line(("quota", "users")),
        f"quota exceeded: {current} people (not yet left on {today}) for a quota of {limit}",
        "raise quota.users after the partner agreed, or check the HR export for duplicates",
        p.spec.code,
    )]


def full_name(values: Mapping[str, str]) -> str:
    """A people row's name as it reads: given name, infix, surname."""
    return " ".join(values[c] for c, _ in _NAME_COLUMNS if values[c])


def _check_person_fields(bad: RowProblems, values: dict[str, str], unfit: set[str]) -> set[str]:
    """Check each value of a people row against its field; returns the columns that failed."""
    failed: set[str] = set()
    employee_id = values["employee_id"]
    if "employee_id" not in unfit and not _EMPLOYEE_ID.fullmatch(employee_id):
        bad(f"invalid employee_id {quoted(employee_id)}: {identifier_problem(employee_id, 16)}",
            EMPLOYEE_ID_HINT)
        failed.add("employee_id")
    for column, limit in _NAME_COLUMNS:
        value = values[column]
        if column in unfit or not value:
            continue
        why = person_name_problem(value) or (
            f"{len(value)} characters, at most {limit}" if len(value) > limit else "")
        if why:
            bad(f"invalid {column} {quoted(value)}: {why}", _NAME_HINT.format(max=limit))
            failed.add(column)
    if not failed & {"infix", "surname"}:
        sn = " ".join(v for v in (values["infix"], values["surname"]) if v)
        if len(sn) > SURNAME_MAX:
            bad(f"infix and surname together ({len(sn)} characters) are longer than the "
                f"{SURNAME_MAX} AD allows for sn", "shorten the name in the HR export")
            failed.add("surname")
    if not failed & {"given_name", "infix", "surname"}:
        full = full_name(values)
        if len(full) > FULL_NAME_MAX:
            bad(f"the full name ({len(full)} characters) is longer than the {FULL_NAME_MAX} AD "
                "allows for an account's cn", "shorten the name in the HR export")
            failed.add("surname")
    for column, limit in _TEXT_COLUMNS:
        value = values[column]
        why = unprintable(value) or (
            f"{len(value)} characters, at most {limit}" if len(value) > limit else "")
        if why:
            bad(f"invalid {column} {quoted(value)}: {why}",
                f"printable text on one line, at most {limit} characters (AD's "
                f"{'department' if column == 'department' else 'title'}): check the HR export")
            failed.add(column)
    return failed


class _Departments:
    """The department values of one HR export, to find two that make the same group."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.first_line: dict[str, int] = {}  # value -> line of its first row

    def add(self, value: str, line: int) -> None:
        self.first_line.setdefault(value, line)

    @staticmethod
    def any_clash(values: Set[str]) -> bool:
        """Whether two of `values` make the same group ("" makes none)."""
        slugs = {slug(v) for v in values if v}
        return len(slugs) != len(values) - ("" in values)

    def clashes(self, partner: str) -> Iterator[tuple[int, str]]:
        """(line, message) for each value whose group another value already makes."""
        by_slug: dict[str, str] = {}
        for value, line in self.first_line.items():
            first = by_slug.setdefault(slug(value), value)
            if first != value:
                yield line, (
                    f"departments {first!r} (first at {self.rel}:{self.first_line[first]}) and "
                    f"{value!r} (first at {self.rel}:{line}) make the same group "
                    f"'{partner}-dep-{slug(value)}'")
