"""`ssc-infra review start|apply|status`: access reviews per partner (BIO 5.18.02). Options and
output only; the work is `ssc_infra.lifecycle.reviews`.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_OK,
    HOOKS,
    err,
    format_option,
    inventory_options,
    load_region,
    out,
    partner_option,
    print_json,
    run_request,
    target_options,
)
from ssc_infra.core.review import PRIVILEGED, due
from ssc_infra.lifecycle.reviews import draft_privileged, draft_reviews, keep_review, take_sheet
from ssc_infra.report.review import review_page, review_sheet
from ssc_infra.sources.governance import load_governance
from ssc_infra.state.folder import private_dir, write_private
from ssc_infra.state.reviews import last_completed, reviews_of


@click.group()
def review() -> None:
    """Access reviews: each partner's manager confirms who still needs access.

    \b
    Examples:
      ssc-infra review start --out reviews/2026-12
      ssc-infra review apply reviews/2026-12/waadhoeke-20261206-1a2b3c.csv --out wdh.plan.json
      ssc-infra review status
    """


@review.command("start")
@inventory_options
@target_options
@partner_option
@click.option("--out", "folder", required=True, type=click.Path(path_type=Path,
                                                                   file_okay=False),
              help="Where the pages and sheets go (0600: they name people).")
@click.option("--privileged", is_flag=True,
              help="Instead: the quarterly review of the privileged groups' members, for the "
                   "SSC's security officer.")
def start(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          partners: tuple[str, ...], folder: Path, privileged: bool) -> None:
    """Write a review for each partner's manager: a page to read and a sheet to fill in.

    Every account of the partner in AD, with its status, groups, licences, workplace, last
    logon and what changed since the partner's last review; accounts unused for
    `reviews.inactive_days` (governance.yaml) are marked. The manager writes keep or revoke
    on every row of the sheet and returns it; `review apply` takes it in. The review is kept in
    the state dir: the next one is compared with it.

    \b
    Examples:
      ssc-infra review start --out /srv/reviews/2026-12
      ssc-infra review start --partner fumo --out /srv/reviews/fumo
    Exit code 0 written, 1 error.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, partners, (),
                          "review")
    drafts, skipped = ([draft_privileged(request, HOOKS)], []) if privileged else \
        draft_reviews(request, HOOKS)
    private_dir(folder)
    for d in drafts:
        sheet, page = folder / f"{d.review}.csv", folder / f"{d.review}.html"
        write_private(sheet, review_sheet(d.review, d.code, d.rows))
        write_private(page, review_page(d.review, d.code, d.name, d.region_name, d.started,
                                        d.due, d.rows, d.gone, d.inactive, d.inactive_days,
                                        sheet.name))
        keep_review(request, d)
        out.print(f"{escape(d.code)}: {len(d.rows):,} accounts ({len(d.inactive):,} "
                  f"unused) — {escape(str(page))} and {escape(sheet.name)}", soft_wrap=True)
    for why in skipped:
        err.print(f"[yellow]not reviewed:[/] {escape(why)}", soft_wrap=True)
    out.print(f"{len(drafts)} review(s) started; send each partner's manager its page and "
              "sheet, then `ssc-infra review apply SHEET` when it comes back")


@review.command("apply")
@inventory_options
@target_options
@click.argument("sheet", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--out", "plan_file", type=click.Path(path_type=Path, dir_okay=False),
              help="The sealed plan of the revokes (default: SHEET with .plan.json).")
def apply_sheet(inventory: Path, today: date, targets_file: Path, target_name: str,
                state_dir: Path, sheet: Path, plan_file: Path | None) -> None:
    """Take in a returned review sheet: checked, recorded, its revokes as a plan.

    Refused with every problem at its line: a sheet of another review or partner, an
    account the review does not hold, a row whose data was changed, a row missing or twice, a
    decision that is neither keep nor revoke. Nothing is recorded then. Otherwise the
    decisions are kept with the review, and the accounts revoked (still enabled) go into a
    sealed plan that disables them: show it, have it approved where governance.yaml asks, and
    apply it (`ssc-infra apply PLAN`). A revoked account then counts as a known lock until the
    partner's next review, not as drift.

    \b
    Examples:
      ssc-infra review apply waadhoeke-20261206-1a2b3c.csv
      ssc-infra apply waadhoeke-20261206-1a2b3c.plan.json
    Exit code 0 taken in (nothing to disable), 2 taken in with a plan to apply, 1 refused.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, (), (),
                          "review")
    target = plan_file or sheet.with_suffix(".plan.json")
    taken = take_sheet(request, sheet, target, HOOKS)
    record = taken.record
    kept = len(record.decisions) - len(record.revoked)
    out.print(f"review {escape(record.review)} of {escape(record.partner)} taken in: "
              f"{kept:,} kept, {len(record.revoked):,} revoked", soft_wrap=True)
    if record.partner == PRIVILEGED and record.revoked:
        for decided in record.revoked:  # the tool never writes the privileged groups
            out.print(f"  take out by hand: {escape(decided.account)} (and from "
                      "governance.yaml's privileged_groups)", soft_wrap=True)
        sys.exit(EXIT_CHANGES)
    if taken.plan_file is None:
        sys.exit(EXIT_OK)
    out.print(f"the plan disables {taken.disabled:,} account(s): {escape(str(taken.plan_file))}"
              f"; show it with `ssc-infra show {escape(str(taken.plan_file))}`, apply it with "
              f"`ssc-infra apply {escape(str(taken.plan_file))}`", soft_wrap=True)
    sys.exit(EXIT_CHANGES)


@review.command("status")
@inventory_options
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="Where the reviews are kept.")
@format_option
def status(inventory: Path, today: date, state_dir: Path, fmt: str) -> None:
    """When each partner was last reviewed and when its next review is due.

    \b
    Examples:
      ssc-infra review status
      ssc-infra review status --format json | jq '.[] | select(.overdue)'
    Exit code 0, 2 when a partner's review is overdue.
    """
    region = load_region(inventory, today)
    policy = load_governance(inventory).reviews
    rows = []
    subjects = [(p.code, policy.interval(p.code)) for p in region.partners if p.active]
    for code, interval in [*subjects, (PRIVILEGED, policy.privileged_every_days)]:
        last = last_completed(state_dir, code)
        open_ = [r.review for r in reviews_of(state_dir, code) if r.completed is None]
        when = due(last.completed if last else None, interval, today)
        rows.append({"partner": code, "last": last.completed.isoformat()
                     if last and last.completed else None, "due": when.isoformat(),
                     "overdue": when <= today, "open": ", ".join(open_)})
    if fmt == "json":
        print_json(rows)
    else:
        table = Table(title="access reviews", title_justify="left")
        for heading in ("partner", "last review", "next due", "open"):
            table.add_column(heading)
        for r in rows:
            style = "red" if r["overdue"] else ""
            table.add_row(str(r["partner"]), str(r["last"] or "never"),
                          f"[{style}]{r['due']}[/]" if style else str(r["due"]),
                          str(r["open"]))
        out.print(table)
    sys.exit(EXIT_CHANGES if any(r["overdue"] for r in rows) else EXIT_OK)
