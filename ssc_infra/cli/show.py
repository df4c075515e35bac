"""`ssc-infra show [PLAN]` and `ssc-infra history`: what people read about the region, a saved
plan and the runs so far. Options and output only; the work is `ssc_infra.report.saved` and
`ssc_infra.state.audit`."""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ssc_infra.cli.common import (
    EXIT_ERROR,
    EXIT_OK,
    compact_option,
    err,
    format_option,
    inventory_options,
    load_region,
    out,
    print_json,
    source_target_options,
)
from ssc_infra.cli.plans import show_approval_state, show_saved_plan
from ssc_infra.core.desired import derive
from ssc_infra.report import jsonable, partner_table, summarise
from ssc_infra.report.saved import read_saved_plan
from ssc_infra.sources.governance import load_governance
from ssc_infra.state.audit import History, RunRecord, read_history, verify_log
from ssc_infra.state.folder import StateDir
from ssc_infra.state.seal import SealCheck

PARTNERS_SHOWN = 4  # per run in the history table; --format json has them all
DAMAGED_SHOWN = 10  # damaged audit lines named one by one


@click.command()
@click.argument("plan_file", required=False, metavar="[PLAN]",
                type=click.Path(path_type=Path, dir_okay=False))
@inventory_options
@source_target_options
@format_option
@compact_option
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True,
              help="Its plan.key checks a saved plan's seal (for --source netbox: where the "
                   "NetBox snapshot is kept).")
def show(plan_file: Path | None, inventory: Path, today: date, fmt: str, compact: bool,
         state_dir: Path) -> None:
    """A table per partner; or, with PLAN, a saved plan as `plan` showed it.

    PLAN is a plan file (`plan --out`), the output of `plan` or `drift --format json`, or a
    drift report kept in STATE/reports. A sealed plan's seal is checked with the state dir's
    key: a seal that does not match is refused (apply would refuse that file whole); a file
    without a seal, or whose seal this state dir has no key for, is shown with a warning.

    \b
    Examples:
      ssc-infra show
      ssc-infra show --today 2027-01-01 --format json
      ssc-infra show today.plan.json
      ssc-infra show today.plan.json --compact
      ssc-infra show .ssc/reports/drift-20261123T023000Z-4711-ab12.json --format json
    Exit code 0 when shown, 1 when the file cannot be shown.
    """
    if plan_file is not None:
        saved = read_saved_plan(plan_file, state_dir)
        show_saved_plan(saved, state_dir, fmt, compact)
        governance = load_governance(inventory)
        if fmt == "text" and saved.seal is not SealCheck.UNSEALED and (
                governance.approval.active or saved.data.get("approvals")):  # a plan file
            show_approval_state(saved, governance)
        return
    region = load_region(inventory, today)
    rows = summarise(region, derive(region, today))
    if fmt == "json":
        print_json({"region": region.code, "today": today.isoformat(), "partners": jsonable(rows)})
        return
    out.print(partner_table(f"{region.name} on {today.isoformat()}", rows))


@click.command()
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="Whose audit.jsonl to read.")
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many runs, the newest first.")
@click.option("--verify", is_flag=True,
              help="Check the log's hash chain instead: every line links to the one before "
                   "it, so an edited, removed or inserted line is found, named by number.")
@format_option
def history(state_dir: Path, last: int, verify: bool, fmt: str) -> None:
    """The last runs from the audit log: who, when, what, and how it went.

    One row per run that changed something (every apply, `netbox push`): when it started
    (UTC), who ran it, the command and target, the partners its items belong to, the items by
    action, and the result — ok, or how many items failed or were refused.

    \b
    Examples:
      ssc-infra history
      ssc-infra history --last 5 --state-dir /var/lib/ssc-infra
      ssc-infra history --format json | jq '.runs[] | select(.failed > 0)'
      ssc-infra history --verify     # exit 1 when a line was changed, removed or put in
    Exit code 0; 1 when the log cannot be read, or has damaged lines (named by number), or
    (--verify) its chain is broken.
    """
    log = StateDir(state_dir).audit_log
    if verify:
        _verify(log, fmt)
    found = read_history(log)
    runs = list(reversed(found.runs))[:last]
    if fmt == "json":
        print_json({"log": str(log), "runs": [_run_json(r) for r in runs],
                     "damaged": [{"line": d.line, "problem": d.problem}
                                 for d in found.damaged]})
    elif not found.runs:
        out.print(f"no runs recorded in {escape(str(log))}"
                  + ("" if log.exists() else " (it does not exist yet: every apply appends "
                                             "to it)"))
    else:
        out.print(_history_table(runs, len(found.runs)))
    _report_damaged(found, log)
    sys.exit(EXIT_ERROR if found.damaged else EXIT_OK)


def _verify(log: Path, fmt: str) -> None:
    report = verify_log(log)
    if fmt == "json":
        print_json({"log": str(log), "lines": report.lines, "chained": report.chained,
                    "unchained": report.unchained, "intact": report.intact,
                    "findings": [{"line": f.line, "problem": f.problem}
                                 for f in report.findings]})
    else:
        _numbered_lines(log, "broken", [(f.line, f.problem) for f in report.findings])
        before = (f"; the first {report.unchained:,} were written before the chain began"
                  if report.unchained else "")
        if report.intact:
            out.print(f"[green]the chain holds:[/] {report.lines:,} lines in "
                      f"{escape(str(log))}, {report.chained:,} of them linked{before}")
        else:
            err.print(f"[red]the audit log was changed:[/] {len(report.findings)} "
                      f"finding{'s' if len(report.findings) != 1 else ''} in "
                      f"{report.lines:,} lines{before}. Keep the log and its head file as "
                      "they are (they are the evidence) and compare them with a backup",
                      soft_wrap=True)
    sys.exit(EXIT_OK if report.intact else EXIT_ERROR)


def _numbered_lines(log: Path, what: str, lines: list[tuple[int, str]]) -> None:
    """The first lines of the log that are `what` ("damaged", "broken"), with their problem."""
    for number, problem in lines[:DAMAGED_SHOWN]:
        err.print(f"[red]{what}:[/] {escape(str(log))}:{number}: {escape(problem)}",
                  soft_wrap=True)
    if len(lines) > DAMAGED_SHOWN:
        err.print(f"... and {len(lines) - DAMAGED_SHOWN} more {what} lines "
                  "(`--format json` lists them all)")


def _report_damaged(found: History, log: Path) -> None:
    _numbered_lines(log, "damaged", [(d.line, d.problem) for d in found.damaged])
    if found.damaged:
        err.print(f"{len(found.damaged)} line{'s' if len(found.damaged) != 1 else ''} of the "
                  "audit log are no entry: the runs above leave them out. Keep the log as it "
                  "is (it is the record); look at those lines with `sed -n 'Np'`.")


def _run_json(r: RunRecord) -> dict[str, object]:
    return {"run": r.run, "started": r.started, "ended": r.ended, "operators": r.operators,
            "commands": r.commands, "targets": r.targets, "partners": r.partners,
            "backends": r.backends, "actions": r.actions, "items": r.items, "ok": r.ok,
            "failed": r.failed, "refused": r.refused, "result": r.result}


def _history_table(runs: list[RunRecord], total: int) -> Table:
    table = Table(title=Text(f"the last {len(runs)} of {total} runs, newest first"),
                  title_justify="left")
    for heading in ("when (UTC)", "who", "command", "target", "partners", "what", "result"):
        table.add_column(heading, overflow="fold")
    for r in runs:
        partners = list(r.partners[:PARTNERS_SHOWN])
        if len(r.partners) > PARTNERS_SHOWN:
            partners.append(f"+{len(r.partners) - PARTNERS_SHOWN} more")
        what = f"{r.items:,} items: " + ", ".join(f"{n:,} {a}" for a, n in r.actions.items())
        result = Text(r.result, style="green" if r.result == "ok" else "red")
        table.add_row(Text(_when(r)), Text(", ".join(r.operators)), Text(", ".join(r.commands)),
                      Text(", ".join(r.targets)), Text(", ".join(partners)), Text(what), result)
    return table


def _when(r: RunRecord) -> str:
    """The start as `2026-11-23 02:31:05`, with how long the run's items took."""
    try:
        start, end = datetime.fromisoformat(r.started), datetime.fromisoformat(r.ended)
    except ValueError:
        return r.started  # a time in another shape: shown as it is
    seconds = int((end - start).total_seconds())
    took = f" ({seconds // 60} min {seconds % 60} s)" if seconds >= 60 else \
        f" ({seconds} s)" if seconds else ""
    return start.strftime("%Y-%m-%d %H:%M:%S") + took
