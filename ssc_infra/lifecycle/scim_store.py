"""The people a partner's HR system pushes by SCIM (`ssc-infra hr serve`), kept where every
other export is: the partner's people CSV, through the same checks and a guard of its own.

Each write is one person's change, made under one lock (two pushes at once are made one after
the other, and neither is lost): the partner's rows as they are now, the one change, the whole
region checked with them in a staged copy (`lifecycle.people.new_export`), and the file written
whole (`write_export`). A problem is a SCIM 400 with the loader's message, and nothing is
written. Nothing here touches the directory: the next plan shows what the new rows change, and
its apply does it.

A person is never removed: DELETE (and `active: false`) gives them an end date, so the plan
disables their account and apply never deletes it. Those leavers are counted per partner per
day (`scim-leavers.json` in the state dir, 0600); beyond the partner's threshold — `hr.max_lost`
of its partner file, else the region's guards, as `hr pull` has it — a leaver is refused (403)
and nothing is written: an HR system that offboards half a municipality by mistake stops at
the threshold, and the SSC sees why in the server's log.

What a client is told never holds another partner's people: its token names its partner, and
the loader's problems are told only when they are that partner's own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import Partner, Region
from ssc_infra.core.plan import disable_limit
from ssc_infra.hr.scim import (
    Row,
    ScimError,
    as_row,
    invalid,
    list_response,
    matches,
    paging,
    parse_filter,
    patched_person,
    person_from_user,
    user_from_row,
    version,
)
from ssc_infra.lifecycle.people import current_rows, new_export, write_export
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.hrexport import Converted, people_csv
from ssc_infra.sources.regionfiles import read_partner_files
from ssc_infra.sources.schema import HrSystem, PartnerFile
from ssc_infra.state.audit import AuditEntry
from ssc_infra.state.folder import FILE_MODE, StateDir, StateError, write_private

COUNTS = "scim-leavers.json"
LOCK = "scim.lock"
PROBLEMS_TOLD = 5
LOG_HINT = "The SSC sees each refusal in the log of `ssc-infra hr serve`."


@dataclass(frozen=True)
class Answer:
    """What a request gets: status, SCIM body (None for none), ETag and Location."""

    status: int
    body: dict[str, Any] | None = None
    etag: str = ""
    location: str = ""


@dataclass(frozen=True)
class _Write:
    """A write in progress: the partner's rows as they are, and the day."""

    place: PartnerFile  # as its partner file says now
    rows: dict[str, Row]  # employee id -> row, in the file's order
    today: date

    def existing(self, employee: str, if_match: str | None) -> Row:
        row = self.rows.get(employee)
        if row is None:
            raise ScimError(404, f"no user {employee} among {self.place.code}'s people")
        if if_match is not None and not _matches_etag(if_match, version(row)):
            raise ScimError(412, f"user {employee} has changed since that version "
                            f"(now {version(row)}): GET it again")
        return row


class ScimStore:
    """Reads and writes the people of SCIM partners (the token has said which partner).

    Args:
        inventory: the inventory folder.
        state_dir: the state dir (the leaver counts, the lock, the audit log).
        base_url: the server's SCIM base, e.g. https://hr.ssc.frl:8443/scim/v2 (meta.location).
        today: the day of each request (`--today`, else the calendar's).
        run: the run id of this server in the audit log; target: the target's name.
    """

    def __init__(self, inventory: Path, state_dir: Path, base_url: str,
                 today: Callable[[], date] = date.today, run: str = "", target: str = "") -> None:
        self.inventory = inventory
        self.state = StateDir(state_dir)
        self.base_url = base_url
        self.today = today
        self.run = run
        self.target = target
        self.lock = threading.Lock()  # one write at a time; held by the server's stop too
        self.closed = False  # the server stops: no write starts any more
        self.state.ensure()

    # -- reads ---------------------------------------------------------------------------

    def list(self, code: str, query: Mapping[str, str]) -> Answer:
        """GET /Users: the partner's people, filtered and paged, in employee id order."""
        place = self._place(code)
        wanted = parse_filter(query.get("filter", ""))
        start, count = paging(query.get("startIndex"), query.get("count"))
        rows = [as_row(values) for _e, values in
                sorted(current_rows(self.inventory, place.people).items())]
        found = [r for r in rows if wanted is None or matches(r, *wanted)]
        today = self.today()
        page = [self._user(r, today) for r in found[start - 1:start - 1 + count]]
        return Answer(200, list_response(page, len(found), start))

    def get(self, code: str, employee: str) -> Answer:
        """GET /Users/{id}."""
        place = self._place(code)
        values = current_rows(self.inventory, place.people).get(employee)
        if values is None:
            raise ScimError(404, f"no user {employee} among {code}'s people")
        return self._answer(as_row(values), self.today(), 200)

    # -- writes --------------------------------------------------------------------------

    def create(self, code: str, body: Any) -> Answer:
        """POST /Users: a new person."""
        with self._writing(code) as w:
            row = person_from_user(body, w.today)
            employee = row["employee_id"]
            if employee.casefold() in {e.casefold() for e in w.rows}:
                raise ScimError(409, f"a user with userName {employee} exists already: PUT or "
                                f"PATCH /Users/{employee}", "uniqueness")
            self._commit(w, row, "create")
            return self._answer(row, w.today, 201)

    def replace(self, code: str, employee: str, body: Any, if_match: str | None) -> Answer:
        """PUT /Users/{id}: the whole person anew."""
        with self._writing(code) as w:
            before = w.existing(employee, if_match)
            row = person_from_user(body, w.today, before)
            if row["employee_id"] != employee:
                raise ScimError(400, f"the body is of employee id {row['employee_id']}, the "
                                f"path of {employee}: the employee id is the person's key and "
                                "cannot change (a new one is a new person: POST it)",
                                "mutability")
            self._commit(w, row, "update")
            return self._answer(row, w.today, 200)

    def patch(self, code: str, employee: str, body: Any, if_match: str | None) -> Answer:
        """PATCH /Users/{id}: some attributes."""
        with self._writing(code) as w:
            before = w.existing(employee, if_match)
            row = patched_person(before, body, w.today)
            self._commit(w, row, "update")
            return self._answer(row, w.today, 200)

    def delete(self, code: str, employee: str, if_match: str | None) -> Answer:
        """DELETE /Users/{id}: the person leaves today (an end date that has passed stays);
        the row is kept, so the plan disables the account and nothing is ever deleted."""
        with self._writing(code) as w:
            row = dict(w.existing(employee, if_match))
            day = w.today.isoformat()
            if not row["end_date"] or row["end_date"] > day:
                row["end_date"] = day
            self._commit(w, row, "leave")
            return Answer(204)

    # -- the inside ----------------------------------------------------------------------

    @contextlib.contextmanager
    def _writing(self, code: str) -> Iterator[_Write]:
        with self.lock, self._file_lock():
            if self.closed:
                raise ScimError(503, "the server is stopping: send it again in a while")
            place = self._place(code)
            rows = {e: as_row(v) for e, v in current_rows(self.inventory, place.people).items()}
            yield _Write(place, rows, self.today())

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        """Across processes too: two servers on one inventory write one after the other."""
        path = self.state.path / LOCK
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
        except OSError as e:
            raise StateError(f"cannot open the lock {path}: {e.strerror}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _place(self, code: str) -> PartnerFile:
        docs, _sites, _problems = read_partner_files(self.inventory)
        doc = next((d for d in docs if d.spec.code == code), None)
        if doc is None:
            raise ScimError(503, f"the SSC's partner file of {code} does not load: nothing is "
                            "read or written until the SSC fixes it (`ssc-infra validate`)")
        if doc.spec.hr is None or doc.spec.hr.system is not HrSystem.SCIM:
            raise ScimError(403, f"{code}'s people are no longer pushed by SCIM (its partner "
                            "file's `hr:`): ask the SSC")
        if not doc.active:
            raise ScimError(403, f"{code} is offboarded or merged into another partner: it "
                            "has no people of its own any more")
        return doc.spec

    def _commit(self, w: _Write, row: Row, action: str) -> None:
        """Check the partner's rows with ROW in them, guard a leaver, write them whole."""
        employee = row["employee_id"]
        before = w.rows.get(employee)
        if before == row:
            return  # nothing changes: nothing is written, nobody counted
        rows = {**w.rows, employee: row}
        region, partner = self._loaded(w)
        leaver = _leaves(before, row, w.today)
        if leaver:
            self._guard(w, region, employee)
        ordered = tuple(rows.values())
        starts = people_csv(ordered)[1]
        made = new_export(self.inventory, partner, w.place.people,
                          Converted(w.place.people, ordered, starts), w.today)
        if isinstance(made, list):
            line = starts[list(rows).index(employee)]
            raise invalid(_told(made, w.place, line, employee))
        if leaver:
            self._count(w.place.code, w.today)
        write_export(self.inventory, made)
        self._audit(w.place, employee, "leave" if leaver else action, "ok")

    def _loaded(self, w: _Write) -> tuple[Region, Partner]:
        code = w.place.code
        try:
            loaded = FilesSource(self.inventory).load(w.today)
        except InventoryError:
            # Its problems may be other partners' people: never told to this one.
            raise ScimError(503, "the SSC's inventory does not load: nothing is written until "
                            "the SSC fixes it (`ssc-infra validate`)",
                            note="the inventory does not load: `ssc-infra validate`") from None
        partner = next((p for p in loaded.region.partners if p.code == code), None)
        if partner is None:
            own = loaded.held.get(code, ())
            raise ScimError(503, f"{code} is held back by {len(own):,} problems of its own "
                            "files: nothing is written until the SSC fixes them "
                            f"(`ssc-infra validate`){_first(own)}",
                            note=f"{code} is held by problems of its own: `ssc-infra validate`")
        return loaded.region, partner

    def _guard(self, w: _Write, region: Region, employee: str) -> None:
        """Refuse a leaver beyond the partner's threshold for SCIM leavers today."""
        code = w.place.code
        day = w.today.isoformat()
        staying = sum(1 for r in w.rows.values() if not r["end_date"] or r["end_date"] >= day)
        entry = w.place.hr
        if entry is not None and entry.max_lost is not None:
            limit, basis = entry.max_lost, f"hr.max_lost of {code}'s partner file"
        else:
            limit = disable_limit(region.guards, staying)
            basis = (f"the region's guards for {staying:,} people who have not left; "
                     f"hr.max_lost of {code}'s partner file may set another")
        made = self._counts(w.today).get(code, 0)
        if made + 1 > limit:
            self._audit(w.place, employee, "leave", "refused",
                        f"leaver {made + 1} by SCIM today, {limit} allowed")
            raise ScimError(403, (
                f"refused: user {employee} would be {code}'s leaver number {made + 1:,} made by "
                f"SCIM today (DELETE, active false, an end date that has passed), more than the "
                f"{limit:,} allowed ({basis}); nothing is written. If they really left, the SSC "
                "raises hr.max_lost (taken at the next request) or the rest waits until "
                f"tomorrow; if not, check what the HR system sends. {LOG_HINT}"), "mutability",
                f"leaver guard: leaver {made + 1:,} of {code} by SCIM today, {limit:,} allowed "
                f"({basis.split(';')[0]}); nothing written")

    def _counts(self, today: date) -> dict[str, int]:
        """Today's SCIM leavers per partner; a file that cannot be read refuses leavers."""
        path = self.state.path / COUNTS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or not isinstance(data.get("leavers"), dict) or \
                not all(isinstance(n, int) for n in data["leavers"].values()):
            raise ScimError(503, "the SSC's count of today's SCIM leavers cannot be read: no "
                            f"leaver is taken until the SSC looks at it. {LOG_HINT}",
                            note=f"{path} cannot be read: move it away (its leavers are then "
                            "counted from 0)")
        return dict(data["leavers"]) if data.get("day") == today.isoformat() else {}

    def _count(self, code: str, today: date) -> None:
        counts = self._counts(today)
        counts[code] = counts.get(code, 0) + 1
        write_private(self.state.path / COUNTS, json.dumps(
            {"day": today.isoformat(), "leavers": dict(sorted(counts.items()))}, indent=1) + "\n")

    def _audit(self, place: PartnerFile, employee: str, action: str, result: str,
               message: str = "") -> None:
        self.state.audit(AuditEntry(
            run=self.run, command="hr serve", target=self.target, partner=place.code,
            kind="person", action=action, key=f"{place.code}/{employee}", result=result,
            dn=place.people, message=message, backend="inventory").as_dict())

    def _user(self, row: Row, today: date) -> dict[str, Any]:
        return user_from_row(row, today, f"{self.base_url}/Users/{row['employee_id']}")

    def _answer(self, row: Row, today: date, status: int) -> Answer:
        user = self._user(row, today)
        return Answer(status, user, user["meta"]["version"], user["meta"]["location"])


def _leaves(before: Row | None, after: Row, today: date) -> bool:
    """Whether the change makes a leaver: a person here who had not left has left by today."""
    day = today.isoformat()
    gone = bool(after["end_date"]) and after["end_date"] <= day
    return before is not None and gone and not (before["end_date"] and
                                                before["end_date"] <= day)


def _matches_etag(if_match: str, current: str) -> bool:
    tags = [t.strip() for t in if_match.split(",")]
    bare = current.removeprefix("W/")
    return "*" in tags or any(t.removeprefix("W/") == bare for t in tags)


def _told(problems: list[Problem], place: PartnerFile, line: int, employee: str) -> str:
    """The loader's problems, as a client may read them: only its own partner's."""
    own = [p for p in problems if p.partner == place.code]
    told = []
    for p in own[:PROBLEMS_TOLD]:
        where = f"user {employee}" if p.file == place.people and p.line == line else p.where()
        told.append(f"{where}: {p.message}" + (f" ({p.hint})" if p.hint else ""))
    more = len(problems) - len(told)
    return ("the people file refuses it: " + "; ".join(told or ["a problem in the SSC's "
                                                                  "inventory"])
            + (f"; and {more:,} more" if more else "") + "; nothing is written")


def _first(problems: tuple[Problem, ...]) -> str:
    return f"; the first: {problems[0].where()}: {problems[0].message}" if problems else ""
