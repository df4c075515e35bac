"""Access reviews (BIO 5.18.02): each partner's manager confirms, account by account, who still
needs access. Pure: the rows of a review, the changes since the partner's last review, and the
checks of a returned sheet. The I/O (reading the directory, the files in the state dir, the
sheet and the page) is `ssc_infra.lifecycle.reviews` and `ssc_infra.report.review`.

A review is a snapshot: every account of the partner with its status, groups, licences,
workplace and last logon. The manager gets it as a page to read and a sheet (CSV) to fill in:
keep or revoke, and a comment. A returned sheet is checked against the snapshot it came from:
its review id, partner and rows must be the snapshot's, each row's data unchanged (a changed
group column would suggest a change it does not make), and every row decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import DesiredPartner, GroupKind
from ssc_infra.core.dn import dn_key

# The sheet's columns: what it shows, then the two the manager fills in.
DATA_COLUMNS = ("account", "employee_id", "name", "department", "job_title", "status",
                "last_logon", "groups", "licences", "workplace", "changes")
SHEET_COLUMNS = ("review", "partner", *DATA_COLUMNS, "row", "decision", "comment")
COMMENT_MAX = 500
NEVER = "never"
PRIVILEGED = "privileged-groups"  # the review of the privileged groups' members, the SSC's own
PRIVILEGED_MEMBER = "privileged member"


class Decision(StrEnum):
    KEEP = "keep"
    REVOKE = "revoke"


# Spelt as a manager may write them; Dutch managers too.
DECISIONS = {"keep": Decision.KEEP, "behouden": Decision.KEEP, "houden": Decision.KEEP,
             "revoke": Decision.REVOKE, "intrekken": Decision.REVOKE}


@dataclass(frozen=True, slots=True)
class ReviewRow:
    """One account as the review shows it."""

    account: str  # sAMAccountName: how the sheet's rows are known
    employee_id: str  # "" for an account the tool does not manage
    name: str
    department: str
    job_title: str
    status: str  # enabled, disabled, parked (a leaver), unmanaged
    last_logon: str  # "YYYY-MM-DD" or "never"
    groups: tuple[str, ...]
    licences: tuple[str, ...]
    workplace: str
    changes: str  # since the partner's last review

    @property
    def managed(self) -> bool:
        """An account the tool manages, or a privileged group's member: one a revoke acts on."""
        return bool(self.employee_id) or self.status == PRIVILEGED_MEMBER

    def cells(self) -> tuple[str, ...]:
        """The row's data as the sheet shows it, in DATA_COLUMNS order."""
        logon = self.last_logon if self.last_logon == NEVER else f"{self.last_logon} (±14 days)"
        return (self.account, self.employee_id, self.name, self.department, self.job_title,
                self.status, logon, "; ".join(self.groups), "; ".join(self.licences),
                self.workplace, self.changes)

    @property
    def token(self) -> str:
        """A short digest of the row's data: a row changed in the sheet has another."""
        digest = hashlib.sha256("\x1f".join(self.cells()).encode()).hexdigest()[:12]
        return f"r-{digest}"  # a letter first: no spreadsheet reads it as a number


def review_rows(partner: DesiredPartner, actual: DirectoryState,
                previous: Mapping[str, ReviewRow] | None) -> list[ReviewRow]:
    """Every account of the partner in the directory, as its review shows it (pure).

    Args:
        partner: the partner's desired state (its groups' kinds, licences and workplaces).
        actual: the directory as read.
        previous: the rows of the partner's last review by account; None for a first review.
    """
    kinds = {g.name.lower(): g for g in partner.groups}
    groups_of: dict[str, list[str]] = {}
    for group in actual.groups:
        if group.partner != partner.code:
            continue
        for member in group.members:
            groups_of.setdefault(member, []).append(group.name)
    places = {w.employee_id: w for w in partner.workplaces}
    rows: list[ReviewRow] = []
    for account in sorted((a for a in actual.accounts if a.partner == partner.code),
                          key=lambda a: a.sam.lower()):
        names = sorted(groups_of.get(dn_key(account.dn), []), key=str.lower)
        licences = sorted({kinds[n.lower()].sku or n for n in names
                           if n.lower() in kinds and kinds[n.lower()].kind is GroupKind.LICENCE})
        place = places.get(account.employee_id or "")
        workplace = (f"{place.workplace.value} at {place.site}"
                     + (f", devices {', '.join(place.devices)}" if place.devices else "")
                     if place else "")
        status = ("unmanaged" if account.key is None else "parked (left)"
                  if account.in_leavers else "enabled" if account.enabled else "disabled")
        row = ReviewRow(account.sam, account.employee_id or "",
                        account.display_name or account.full_name, account.department,
                        account.title, status, account.last_logon or NEVER, tuple(names),
                        tuple(licences), workplace, "")
        rows.append(with_changes(row, None if previous is None else
                                  previous.get(account.sam.lower(), NEW_ACCOUNT)))
    return rows


NEW_ACCOUNT = ReviewRow("", "", "", "", "", "", "", (), (), "", "")


def with_changes(row: ReviewRow, before: ReviewRow | None) -> ReviewRow:
    if before is None:
        what = "first review"
    elif before is NEW_ACCOUNT:
        what = "new since the last review"
    else:
        parts = []
        gained = sorted(set(row.groups) - set(before.groups))
        lost = sorted(set(before.groups) - set(row.groups))
        if gained or lost:
            parts.append("groups " + ", ".join([*(f"+{g}" for g in gained),
                                                 *(f"-{g}" for g in lost)]))
        if row.licences != before.licences:
            parts.append(f"licences were {', '.join(before.licences) or 'none'}")
        for what_, now, was in (("status", row.status, before.status),
                                ("department", row.department, before.department),
                                ("job title", row.job_title, before.job_title),
                                ("workplace", row.workplace, before.workplace)):
            if now != was:
                parts.append(f"{what_} was {was or 'none'}")
        what = "; ".join(parts) or "unchanged"
    return ReviewRow(row.account, row.employee_id, row.name, row.department, row.job_title,
                     row.status, row.last_logon, row.groups, row.licences, row.workplace, what)


def privileged_rows(groups: Mapping[str, tuple[str, tuple[str, ...], Mapping[str, str]]],
                    listed: Mapping[str, tuple[str, ...]],
                    previous: Mapping[str, ReviewRow] | None) -> list[ReviewRow]:
    """The members of the privileged groups as review rows (pure): the account is
    "GROUP/MEMBER", the department says whether governance.yaml lists the member.

    Args:
        groups: lowercase group name -> (its name, its members, member -> last logon day).
        listed: group name -> the members governance.yaml lists for it.
    """
    named = {g.lower(): {m.lower() for m in members} for g, members in listed.items()}
    rows = []
    for key in sorted(groups):
        name, members, logons = groups[key]
        for member in sorted(members, key=str.lower):
            row = ReviewRow(f"{name}/{member}", "", member,
                            "listed in governance.yaml" if member.lower() in named.get(key, ())
                            else "NOT listed in governance.yaml", name, PRIVILEGED_MEMBER,
                            logons.get(member) or NEVER, (name,), (), "", "")
            rows.append(with_changes(row, None if previous is None else
                                     previous.get(row.account.lower(), NEW_ACCOUNT)))
    return rows


def gone_since(rows: Sequence[ReviewRow], previous: Mapping[str, ReviewRow] | None) -> list[str]:
    """The accounts of the last review that are not in this one (removed since)."""
    if not previous:
        return []
    now = {r.account.lower() for r in rows}
    return sorted(r.account for k, r in previous.items() if k not in now)


@dataclass(frozen=True, slots=True)
class SheetProblem:
    line: int  # in the returned sheet; 0 for the sheet as a whole
    message: str


@dataclass(frozen=True, slots=True)
class Decided:
    account: str
    decision: Decision
    comment: str


def check_sheet(review: str, partner: str, rows: Sequence[ReviewRow],
                sheet: Iterable[tuple[int, Mapping[str, str]]]
                ) -> tuple[list[Decided], list[SheetProblem]]:
    """The decisions of a returned sheet, or what is wrong with it (pure): another review or
    partner, an account the review does not hold, a row whose data was changed, a row twice or
    missing, a decision that is neither keep nor revoke, a comment too long.

    Args:
        review: the review's id; partner: its partner.
        rows: the review's rows as made.
        sheet: (line, {column: value}) of the returned sheet's rows.
    """
    by_account = {r.account.lower(): r for r in rows}
    problems: list[SheetProblem] = []
    decided: dict[str, Decided] = {}
    seen: dict[str, int] = {}
    for line, cells in sheet:
        if cells.get("review", "") != review:
            problems.append(SheetProblem(line, f"the row is of review {cells.get('review')!r}, "
                                               f"not {review!r}: one sheet, one review"))
            continue
        if cells.get("partner", "") != partner:
            problems.append(SheetProblem(line, f"the row is of partner "
                                               f"{cells.get('partner')!r}, not {partner!r}"))
            continue
        account = _plain(cells.get("account", ""))
        row = by_account.get(account.lower())
        if row is None:
            problems.append(SheetProblem(line, f"account {account!r} is not in this review: a "
                                               "row added by hand? Only the review's rows count"))
            continue
        if account.lower() in seen:
            problems.append(SheetProblem(line, f"account {account!r} again (first on line "
                                               f"{seen[account.lower()]})"))
            continue
        seen[account.lower()] = line
        changed = [c for c, want in zip(DATA_COLUMNS, row.cells(), strict=True)
                   if _plain(cells.get(c, "")) != _plain(want)]
        if changed or cells.get("row", "") != row.token:
            problems.append(SheetProblem(line, f"the row of {account} was changed "
                                               f"({', '.join(changed) or 'row'}): only decision "
                                               "and comment may be filled in; a change of "
                                               "access is a decision (revoke) or a request to "
                                               "the SSC"))
            continue
        decision = DECISIONS.get(cells.get("decision", "").strip().lower())
        if decision is None:
            problems.append(SheetProblem(line, f"decide {account}: keep or revoke (found "
                                               f"{cells.get('decision', '')[:40]!r})"))
            continue
        comment = " ".join(cells.get("comment", "").split())
        if len(comment) > COMMENT_MAX:
            problems.append(SheetProblem(line, f"the comment on {account} is {len(comment)} "
                                               f"characters; at most {COMMENT_MAX}"))
            continue
        if decision is Decision.REVOKE and not row.managed:
            problems.append(SheetProblem(line, f"{account} is not an account the SSC manages "
                                               "from the HR export: ask the SSC to remove it"))
            continue
        decided[account.lower()] = Decided(row.account, decision, comment)
    missing = sorted(r.account for k, r in by_account.items() if k not in seen)
    if missing:
        problems.append(SheetProblem(0, f"{len(missing)} row(s) missing: {', '.join(missing[:10])}"
                                        + (" ..." if len(missing) > 10 else "")
                                        + ": every account is decided"))
    return list(decided.values()), problems


def _plain(value: str) -> str:
    """A cell as compared: spaces trimmed, and the `'` a spreadsheet keeps before a value that
    would start a formula (the tool writes it so) taken off."""
    value = value.strip()
    return value[1:] if value.startswith("'") else value


def due(last: date | None, interval_days: int, today: date) -> date:
    """When a review is due: the interval after the last one; today when there was none."""
    return today if last is None else last + timedelta(days=interval_days)


def inactive(rows: Iterable[tuple[str, str, date]], days: int, today: date) -> list[str]:
    """The enabled accounts unused for `days`: (account, last logon or "", start date) each;
    an account never used counts from its start date."""
    cutoff = today - timedelta(days=days)
    found = []
    for account, last, start in rows:
        used = date.fromisoformat(last) if last else start
        if used < cutoff:
            found.append(account)
    return found
