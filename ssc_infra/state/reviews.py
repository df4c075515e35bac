"""Access reviews kept in the state dir: `reviews/<partner>/<review id>.json` (0600, 0700
folders), each a snapshot of the rows sent to the partner's manager and, once the sheet came
back, its decisions. What a later review compares with, when the next one is due, and which
accounts a manager revoked (listed as acknowledged locks, not drift) all come from here.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import SscError
from ssc_infra.core.review import Decided, Decision, ReviewRow
from ssc_infra.state.folder import private_dir, write_private

FOLDER = "reviews"
_ID = re.compile(r"^[a-z0-9-]{1,40}-\d{8}-[0-9a-f]{6}$")


@dataclass(frozen=True)
class ReviewRecord:
    review: str
    partner: str
    started: date
    rows: tuple[ReviewRow, ...]
    completed: date | None = None
    decisions: tuple[Decided, ...] = ()

    @property
    def revoked(self) -> tuple[Decided, ...]:
        return tuple(d for d in self.decisions if d.decision is Decision.REVOKE)


def new_review_id(partner: str, today: date) -> str:
    return f"{partner}-{today:%Y%m%d}-{secrets.token_hex(3)}"


def save_review(state: Path, record: ReviewRecord) -> Path:
    folder = private_dir(state / FOLDER / record.partner)
    path = folder / f"{record.review}.json"
    data = {"review": record.review, "partner": record.partner,
            "started": record.started.isoformat(),
            "completed": record.completed.isoformat() if record.completed else None,
            "rows": [asdict(r) for r in record.rows],
            "decisions": [{"account": d.account, "decision": d.decision.value,
                           "comment": d.comment} for d in record.decisions]}
    write_private(path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return path


def load_review(state: Path, review: str) -> ReviewRecord:
    """The review with this id; SscError when there is none or it is damaged."""
    if not _ID.match(review):
        raise SscError(f"{review[:60]!r} is no review id (like waadhoeke-20261206-1a2b3c)")
    partner = review.rsplit("-", 2)[0]
    path = state / FOLDER / partner / f"{review}.json"
    try:
        return _record(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise SscError(f"no review {review} in {state / FOLDER}: the sheet is from another "
                       "state dir, or its review id was changed") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SscError(f"{path}: the review record is damaged ({e})") from e


def reviews_of(state: Path, partner: str) -> Iterator[ReviewRecord]:
    """Every review of the partner, oldest first (damaged records left out)."""
    folder = state / FOLDER / partner
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.json")):
        try:
            yield _record(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            continue


def last_completed(state: Path, partner: str) -> ReviewRecord | None:
    done = [r for r in reviews_of(state, partner) if r.completed is not None]
    return max(done, key=lambda r: (r.completed, r.review)) if done else None


def revocations(state: Path, partners: Mapping[str, int]) -> Iterator[tuple[str, str, str, date]]:
    """(partner, employee id, reason, until) of every account a manager revoked in a partner's
    last completed review, held until its next review is due (partner -> interval days)."""
    for partner, interval in partners.items():
        record = last_completed(state, partner)
        if record is None or record.completed is None:
            continue
        rows = {r.account: r for r in record.rows}
        until = record.completed + timedelta(days=interval)
        for decided in record.revoked:
            row = rows.get(decided.account)
            if row is None or not row.employee_id:
                continue
            why = f"revoked in access review {record.review} by {partner}'s manager"
            yield partner, row.employee_id, why + (f": {decided.comment}" if decided.comment
                                                   else ""), until


def _record(data: dict[str, Any]) -> ReviewRecord:
    rows = tuple(ReviewRow(**{**r, "groups": tuple(r["groups"]),
                              "licences": tuple(r["licences"])}) for r in data["rows"])
    decisions = tuple(Decided(str(d["account"]), Decision(d["decision"]), str(d["comment"]))
                      for d in data.get("decisions") or [])
    completed = data.get("completed")
    return ReviewRecord(str(data["review"]), str(data["partner"]),
                        date.fromisoformat(data["started"]), rows,
                        date.fromisoformat(completed) if completed else None, decisions)
