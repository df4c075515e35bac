"""An access review as its partner's manager gets it: a self-contained page to read and a sheet
(CSV) to fill in. Pure: the rows in, text out. The page follows the drift report's rules: it
loads nothing, runs no script, and every value (names from the HR export and the directory) is
escaped text.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date

from markupsafe import Markup

from ssc_infra import __version__
from ssc_infra.core.review import SHEET_COLUMNS, ReviewRow
from ssc_infra.report.html import inline_css, page_environment, style_source
from ssc_infra.state.folder import csv_row

PAGE_TEMPLATE = "review.html.j2"
STYLESHEET = "drift.css"


def review_page(review: str, code: str, name: str, region_name: str, started: date, due: date,
                rows: Sequence[ReviewRow], gone: Sequence[str], inactive: Sequence[str],
                inactive_days: int, sheet_name: str) -> str:
    """The page of one review."""
    idle = {a.lower() for a in inactive}
    views = [{"account": r.account, "employee_id": r.employee_id, "name": r.name,
              "department": r.department, "job_title": r.job_title, "status": r.status,
              "last_logon": r.last_logon, "groups": r.groups, "licences": r.licences,
              "workplace": r.workplace, "changes": r.changes,
              "css": " ".join(c for c, on in (("inactive", r.account.lower() in idle),
                                              ("changed", r.changes not in (
                                                  "unchanged", "first review"))) if on)}
             for r in rows]
    counts = {"enabled": sum(r.status == "enabled" for r in rows),
              "disabled": sum(r.status == "disabled" for r in rows),
              "parked": sum(r.status.startswith("parked") for r in rows),
              "unmanaged": sum(r.status == "unmanaged" for r in rows),
              "inactive": len(idle),
              "changed": sum(1 for v in views if "changed" in v["css"])}
    css = inline_css(STYLESHEET)
    return page_environment().get_template(PAGE_TEMPLATE).render(
        review=review, partner={"code": code, "name": name},
        region_name=region_name, started=started.isoformat(), due=due.isoformat(),
        rows=views, gone=list(gone), counts=counts, inactive_days=inactive_days,
        sheet_name=sheet_name, tool=f"ssc-infra {__version__}", css=Markup(css),
        style_hash=Markup(style_source(css)))


def review_sheet(review: str, partner: str, rows: Sequence[ReviewRow]) -> str:
    """The sheet the manager fills in: a row per account, decision and comment left empty.
    Every cell goes through `csv_row` (a name that starts like a formula stays text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(SHEET_COLUMNS)
    for r in rows:
        writer.writerow(csv_row([review, partner, *r.cells(), r.token, "", ""]))
    return out.getvalue()

