"""From employments to people (pure): an HR system answers with one record per employment
(a contract); the inventory has one row per person.

Only employments inside the data window count: started (or starting) no later than
`window_months` from today, and not ended longer than that ago — so a future joiner is prepared
and a recent leaver still seen, and nobody who left long ago is read at all. Of a person's
employments in the window, the one that holds today (the latest started, if several) gives the
department, job title and site; else the next to start; else the last to end. The person
starts with the earliest start among them and ends with the last end — never, while one of
them has no end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from ssc_infra.hr.settings import HrError

NO_END = date(9999, 12, 31)  # "no end date" in Visma Raet (and a common one elsewhere)


@dataclass(frozen=True, slots=True)
class Employment:
    """One employment of a person: its dates and the fields it gives the person's row."""

    key: str  # the employee's number
    start: date
    end: date | None  # None: open-ended
    fields: dict[str, str]


def window(today: date, months: int) -> tuple[date, date]:
    """(latest start, earliest end) of the employments read."""
    return _months(today, months), _months(today, -months)


def people(employments: Iterable[Employment], today: date, months: int,
           start_field: str, end_field: str) -> list[dict[str, str]]:
    """One record per person (in the order their first employment came), its dates in
    `start_field` and `end_field` as YYYY-MM-DD ("" for no end)."""
    latest_start, earliest_end = window(today, months)
    mine: dict[str, list[Employment]] = {}
    for e in employments:
        if e.start <= latest_start and (e.end is None or e.end >= earliest_end):
            mine.setdefault(e.key, []).append(e)
    records = []
    for theirs in mine.values():
        chosen = _chosen(theirs, today)
        ends = [e.end for e in theirs]
        record = dict(chosen.fields)
        record[start_field] = min(e.start for e in theirs).isoformat()
        record[end_field] = "" if None in ends else max(e for e in ends if e).isoformat()
        records.append(record)
    return records


def _chosen(theirs: list[Employment], today: date) -> Employment:
    now = [e for e in theirs if e.start <= today and (e.end is None or e.end >= today)]
    if now:
        return max(now, key=lambda e: e.start)
    coming = [e for e in theirs if e.start > today]
    if coming:
        return min(coming, key=lambda e: e.start)
    return max(theirs, key=lambda e: e.end or NO_END)


def as_date(value: object, what: str, system: str) -> date | None:
    """A date as HR systems write them ("2024-01-01", "2024-01-01T00:00:00Z"); None for none.

    Raises:
        HrError: not a date (the answer is not what the connector reads).
    """
    if value is None or value == "":
        return None
    if isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            found = datetime.strptime(value[:10], "%Y-%m-%d").date()
        except ValueError:
            found = None
        if found is not None:
            return None if found == NO_END else found
    shown = repr(value)[:40]
    raise HrError(f"{system}: {what} {shown} is not a date (YYYY-MM-DD): check the "
                  "connector's field")


def text_of(value: object) -> str:
    """A JSON value of an HR answer as the text of a field ("" for null)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    return value if isinstance(value, str) else str(value)


def _months(day: date, months: int) -> date:
    """`day` moved by whole months, on the last day of a shorter month where it must."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    for last in (31, 30, 29, 28):
        try:
            return date(year, month + 1, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")
