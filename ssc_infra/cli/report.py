"""`ssc-infra report usage`: the figures the service agreements bill by. Options and output
only; the figures are `ssc_infra.run.usage`, the reads and the kept months
`ssc_infra.run.metering`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    err,
    inventory_options,
    out,
    source_for,
    target_options,
)
from ssc_infra.report import json_text
from ssc_infra.report.usage import unknown_lines, usage_csv, usage_html, usage_table
from ssc_infra.run.metering import load_snapshot, measure, measured_now, meters_for, save_snapshot
from ssc_infra.run.targets import load_target
from ssc_infra.run.usage import Month, UsageReport
from ssc_infra.state.folder import write_private


def _parse_month(_ctx: click.Context, _param: click.Parameter,
                 value: str | None) -> Month | None:
    if value is None:
        return None
    try:
        return Month.parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


@click.group()
def report() -> None:
    """Reports for the SSC's own administration.

    \b
    Examples:
      ssc-infra report usage                       # this month, measured now
      ssc-infra report usage --month 2026-10 --format csv --out usage-2026-10.csv
    """


@report.command("usage")
@inventory_options
@target_options
@click.option("--month", callback=_parse_month, metavar="YYYY-MM",
              help="The month to report. Default: the month of --today. The current month "
                   "is measured now (and kept); an earlier one is shown as it was kept.")
@click.option("--format", "fmt", type=click.Choice(["text", "csv", "json", "html"]),
              default="text", show_default=True,
              help="A table (text), one row per partner with a totals row (csv), the kept "
                   "measurement with totals (json), or a self-contained page (html).")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the csv, json or html to this file (0600) instead of the screen.")
@click.option("--saved", is_flag=True,
              help="Show the month's kept measurement without measuring (the current month "
                   "too).")
def usage(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          month: Month | None, fmt: str, out_file: Path | None, saved: bool) -> None:
    """Per partner: active accounts, workplaces by type, licences held, services opted in,
    home storage — the figures the service agreements bill by.

    The figures come from the systems: accounts from AD (hybrid partners) and Microsoft 365
    (cloud partners), licences from Microsoft 365 (else the AD licence groups), home storage
    from the file servers; workplaces and services from the inventory. The current month is
    measured and kept as STATE_DIR/usage/TARGET/YYYY-MM.json (a later measurement in the month
    replaces it); an earlier month is shown from that file.

    \b
    Examples:
      ssc-infra report usage
      ssc-infra report usage --format csv --out usage.csv
      ssc-infra report usage --month 2026-10 --format html --out usage-2026-10.html
      ssc-infra report usage --format json | jq '.totals.accounts.active'
    Exit code 0 when every figure was measured, 1 when one is unknown (the others are shown
    and kept) or on error.
    """
    if out_file is not None and fmt == "text":
        raise click.BadParameter("--out writes csv, json or html: add --format csv, json or "
                                 "html", param_hint="--out")
    month = month or Month.of(today)
    if measured_now(month, today) and not saved:
        found = _measure(inventory, today, targets_file, target_name, state_dir, month)
    else:
        found, path = load_snapshot(state_dir, target_name, month)
        err.print(f"{month}: the figures measured {found.measured:%Y-%m-%d %H:%M} UTC, as kept "
                  f"in {escape(str(path))}", soft_wrap=True)
    _show(found, fmt, out_file)
    for line in unknown_lines(found):
        err.print(line, soft_wrap=True)
    sys.exit(EXIT_OK if found.complete else EXIT_ERROR)


def _measure(inventory: Path, today: date, targets_file: Path, target_name: str,
             state_dir: Path, month: Month) -> UsageReport:
    loaded = source_for(inventory).load(today)
    for code, problems in sorted(loaded.held.items()):
        err.print(f"[yellow]held back:[/] partner {escape(code)} — {len(problems)} problem"
                  f"{'s' if len(problems) != 1 else ''} in its HR export or device list; its "
                  "figures are unknown (`ssc-infra validate` lists the problems)",
                  soft_wrap=True)
    target = load_target(targets_file, target_name)
    meters = meters_for(target, target_name, loaded.region, state_dir)
    with err.status(escape(f"measuring {month} on target {target_name!r}: AD, Microsoft 365 "
                           "and the file servers...")):
        found = measure(loaded.region, loaded.held, today, month, target_name, meters)
    path = save_snapshot(state_dir, found)
    err.print(f"measured {month}; kept in {escape(str(path))} (a later measurement this month "
              "replaces it)", soft_wrap=True)
    return found


def _show(found: UsageReport, fmt: str, out_file: Path | None) -> None:
    if fmt == "text":
        out.print(usage_table(found))
        return
    text = (usage_csv(found) if fmt == "csv" else usage_html(found) if fmt == "html"
            else json_text(found.to_json()) + "\n")
    if out_file is None:
        click.echo(text, nl=False)
        return
    write_private(out_file, text)
    err.print(f"wrote {escape(str(out_file))}")
