"""Access reviews, start to end: `draft_reviews` reads the directory and makes, per partner,
the review its manager gets (`ssc_infra.report.review` renders its page and sheet;
`keep_review` keeps it in the state dir); `take_sheet` checks a
returned sheet against the review it came from and turns its revokes into a sealed plan that
disables those accounts (applied like any plan: shown, approved where the policy asks, applied
exactly as saved). A revoked account then counts as an acknowledged lock until the partner's
next review, not as drift.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ssc_infra.core.desired import DesiredPartner
from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.core.model import Identity, Partner
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind, Section
from ssc_infra.core.review import (
    PRIVILEGED,
    SHEET_COLUMNS,
    Decision,
    ReviewRow,
    check_sheet,
    due,
    gone_since,
    inactive,
    privileged_rows,
    review_rows,
)
from ssc_infra.m365.review import cloud_review_rows
from ssc_infra.run import RunRequest, plan_run, save_plan
from ssc_infra.run.planned import PlannedRun
from ssc_infra.run.request import NO_HOOKS, Hooks
from ssc_infra.sources.csvfile import one_newline
from ssc_infra.sources.located import CSV_MAX_BYTES, read_text
from ssc_infra.state.reviews import (
    ReviewRecord,
    last_completed,
    load_review,
    new_review_id,
    save_review,
)

RETURN_DAYS = 30  # the manager returns the sheet within this many days


@dataclass(frozen=True)
class Draft:
    """A review made and not yet sent: what its page and sheet show."""

    code: str  # the partner's, or PRIVILEGED for the privileged groups' members
    name: str
    region_name: str  # who sends it: the SSC
    review: str
    started: date
    due: date  # the sheet back by then
    rows: tuple[ReviewRow, ...]
    gone: tuple[str, ...]  # accounts of the last review removed since
    inactive: tuple[str, ...]  # enabled accounts unused for the policy's inactive_days
    inactive_days: int


def draft_reviews(request: RunRequest, hooks: Hooks = NO_HOOKS
                  ) -> tuple[list[Draft], list[str]]:
    """A review per partner asked for (every partner in AD when none is), from the directory
    as read now; kept with `keep_review` once its page and sheet are written.

    Returns:
        The reviews, and the partners left out with why.
    """
    planned = plan_run(dataclasses.replace(request, command="review"), hooks,
                       check_hosts=False)
    region, today = planned.region, request.today
    policy = request.governance.reviews
    drafts: list[Draft] = []
    skipped: list[str] = []
    for partner in planned.desired.partners:
        if request.partners and partner.code not in request.partners:
            continue
        if partner.code in planned.inventory.held:
            skipped.append(f"{partner.code}: held back by problems in its own data")
            continue
        last = last_completed(request.state_dir, partner.code)
        previous = {r.account.lower(): r for r in last.rows} if last else None
        if partner.identity is Identity.CLOUD:
            found = _cloud_rows(planned, region.partner(partner.code), partner, previous)
            if isinstance(found, str):
                skipped.append(f"{partner.code}: {found}")
                continue
            rows = found
        else:
            rows = review_rows(partner, planned.actual, previous)
        drafts.append(Draft(
            partner.code, partner.name, region.name, new_review_id(partner.code, today), today,
            due(today, RETURN_DAYS, today), tuple(rows), tuple(gone_since(rows, previous)),
            tuple(_inactive(planned, partner.code, rows, policy.inactive_days, today)),
            policy.inactive_days))
    return drafts, skipped


def _cloud_rows(planned: PlannedRun, info: Partner, partner: DesiredPartner,
                previous: Mapping[str, ReviewRow] | None) -> list[ReviewRow] | str:
    """A cloud partner's rows from its tenant, or why they cannot be read."""
    graph = planned.backends.graph
    if graph is None:
        return "a cloud partner, and the target has no `graph:` to read its tenant with"
    tenants, unreadable = graph.read([info])
    if unreadable or info.code not in tenants:
        return unreadable[0].reason if unreadable else "its tenant could not be read"
    try:
        sign_ins = graph.read_sign_ins(info)
    except SscError as e:
        return f"its users' sign-ins could not be read ({e}): the app needs AuditLog.Read.All"
    return cloud_review_rows(partner, tenants[info.code], sign_ins, previous)


def draft_privileged(request: RunRequest, hooks: Hooks = NO_HOOKS) -> Draft:
    """The quarterly review of the privileged groups' members (BIO 8.02.01): every member of
    every watched group, whether governance.yaml lists it, and its last logon; for the SSC's
    own security officer."""
    planned = plan_run(dataclasses.replace(request, command="review", partners=()), hooks,
                       check_hosts=False)
    watched = request.governance.privileged_groups
    found = planned.backends.directory.read_privileged(list(watched))
    last = last_completed(request.state_dir, PRIVILEGED)
    previous = {r.account.lower(): r for r in last.rows} if last else None
    rows = privileged_rows({k: (g.name, g.members, g.last_logons) for k, g in found.items()},
                           watched, previous)
    today = request.today
    return Draft(PRIVILEGED, "the privileged groups", planned.region.name,
                 new_review_id(PRIVILEGED, today), today, due(today, RETURN_DAYS, today),
                 tuple(rows), tuple(gone_since(rows, previous)), (), 0)


def keep_review(request: RunRequest, draft: Draft) -> Path:
    """Keep the review in the state dir, once its page and sheet are written."""
    return save_review(request.state_dir, ReviewRecord(draft.review, draft.code,
                                                       draft.started, draft.rows))


def _inactive(planned: PlannedRun, partner: str, rows: Sequence[ReviewRow], days: int,
              today: date) -> list[str]:
    starts = {a.employee_id: a.start_date for p in planned.desired.partners
              if p.code == partner for a in p.accounts}
    return inactive(((r.account, "" if r.last_logon == "never" else r.last_logon,
                      starts.get(r.employee_id, today)) for r in rows
                     if r.status == "enabled"), days, today)


@dataclass(frozen=True)
class Taken:
    record: ReviewRecord
    plan_file: Path | None  # None: nothing revoked, nothing to apply
    revoked: int
    disabled: int  # of those: accounts enabled now, disabled by the plan


def take_sheet(request: RunRequest, sheet_file: Path, plan_file: Path,
               hooks: Hooks = NO_HOOKS) -> Taken:
    """Check a returned sheet and record its decisions; the revokes as a sealed plan.

    Raises:
        InventoryError: what is wrong with the sheet, each at its line; nothing is recorded.
    """
    rel = str(sheet_file)
    text = read_text(sheet_file, rel, CSV_MAX_BYTES, "save the sheet as CSV UTF-8")
    if isinstance(text, Problem):
        raise InventoryError([text])
    rows = _read_sheet(text, rel)
    if not rows:
        raise InventoryError([Problem(rel, 1, "the sheet has no rows",
                                      "return the sheet the review made, filled in")])
    review = rows[0][1].get("review", "")
    try:
        record = load_review(request.state_dir, review)
    except SscError as e:
        raise InventoryError([Problem(rel, rows[0][0], str(e), "return the sheet as it was "
                                      "made, with only decision and comment filled in")]) \
            from None
    if record.completed is not None:
        raise InventoryError([Problem(rel, 0, f"review {review} was taken in on "
                                      f"{record.completed}", "start a new review for changes")])
    decided, problems = check_sheet(record.review, record.partner, record.rows, rows)
    if problems:
        raise InventoryError([Problem(rel, p.line, p.message, "fix the sheet, or ask the "
                                      "manager for the one the review sent") for p in problems])
    done = dataclasses.replace(record, completed=request.today, decisions=tuple(decided))
    revoked = {d.account.lower() for d in decided if d.decision is Decision.REVOKE}
    if not revoked or record.partner == PRIVILEGED:  # the tool never writes those groups
        save_review(request.state_dir, done)
        return Taken(done, None, 0, 0)
    if request.source.load(request.today).region.partner(record.partner).identity \
            is Identity.CLOUD:
        # A cloud user's revoke is part of every plan from now on (the diff keeps it
        # disabled): recorded first, then planned, so the saved plan holds exactly that.
        save_review(request.state_dir, done)
        planned = plan_run(dataclasses.replace(request, partners=(record.partner,),
                                               command="review"), hooks, check_hosts=False)
        graph = planned.graph or Section(Backend.GRAPH)
        # a guard that holds the partner does not hold the manager's decision: the saved
        # plan is what is reviewed (and approved where the policy asks)
        disables = tuple(c for c in (*graph.changes, *graph.held_changes)
                         if c.kind is ObjectKind.CLOUD_USER and c.action is Action.DISABLE
                         and c.target.lower() in revoked)
        planned.directory = Section(Backend.DIRECTORY)
        planned.graph = Section(Backend.GRAPH, disables)
        planned.hosts = None
        save_plan(planned, plan_file)
        return Taken(done, plan_file, len(revoked), len(disables))
    planned = plan_run(dataclasses.replace(request, partners=(record.partner,),
                                           command="review"), hooks, check_hosts=False)
    changes = tuple(
        Change(ObjectKind.ACCOUNT, Action.DISABLE, a.partner, f"{a.partner}/{a.employee_id}",
               a.dn, {"enabled": True, "uac": a.uac}, {"enabled": False},
               label=a.display_name)
        for a in planned.actual.accounts
        if a.partner == record.partner and a.key is not None and a.enabled
        and not a.in_leavers and a.sam.lower() in revoked)
    planned.directory = Section(Backend.DIRECTORY, changes)
    planned.graph = None
    planned.hosts = None
    save_plan(planned, plan_file)
    save_review(request.state_dir, done)  # recorded once the plan is written
    return Taken(done, plan_file, len(revoked), len(changes))


def _read_sheet(text: str, rel: str) -> list[tuple[int, dict[str, str]]]:
    text = one_newline(text)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = tuple(h.strip() for h in next(reader, []))
        missing = [c for c in SHEET_COLUMNS if c not in header]
        if missing:
            raise InventoryError([Problem(rel, 1, f"missing column(s) {', '.join(missing)}",
                                          "return the sheet as the review made it")])
        rows: list[tuple[int, dict[str, str]]] = []
        while True:
            line = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise InventoryError([Problem(rel, line, f"{len(row)} fields where the header "
                                              f"has {len(header)}", "return the sheet as the "
                                              "review made it")])
            rows.append((line, dict(zip(header, row, strict=True))))
    except csv.Error as e:
        raise InventoryError([Problem(rel, reader.line_num, f"unreadable CSV: {e}",
                                      "save the sheet as CSV again")]) from None
    return rows
