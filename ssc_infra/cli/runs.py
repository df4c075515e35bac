"""`plan`, `drift`, `apply`: the run model's commands (`ssc_infra.run`), options and output
only.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    allow_option,
    compact_option,
    enable_option,
    err,
    format_option,
    holds_option,
    inventory_options,
    item_progress,
    out,
    partner_option,
    run_request,
    target_options,
)
from ssc_infra.cli.plans import (
    plan_exit_code,
    planned_run,
    print_apply_result,
    show_plan,
)
from ssc_infra.report import (
    plan_summary,
)
from ssc_infra.report.folder import write_report
from ssc_infra.report.nightly import DEFAULT_KEEP, drift_run
from ssc_infra.run import (
    execute_apply,
    locked,
    prepare_apply,
    save_plan,
    settle,
    write_drift_report,
    write_plan_job,
)


@click.command()
@inventory_options
@target_options
@format_option
@partner_option
@allow_option
@enable_option
@holds_option
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the sealed plan; `ssc-infra apply FILE` applies exactly this plan.")
@click.option("--job", "job_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write the host part as an ansible-runner job (for an AWX/AAP "
                   "execution node: transmit | worker | process).")
@compact_option
def plan(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
         fmt: str, partners: tuple[str, ...], allow_disable: tuple[str, ...],
         enable: tuple[str, ...], holds_file: Path | None, out_file: Path | None,
         job_dir: Path | None, compact: bool) -> None:
    """Show what apply would change: per partner, + create, ~ update, > move, - disable.

    \b
    Examples:
      ssc-infra plan
      ssc-infra plan --partner waadhoeke --out waadhoeke.plan.json
      ssc-infra plan --format json | jq '.sections.directory.changes | length'
      ssc-infra plan --job /srv/jobs/today   # then on an execution node:
        ansible-runner transmit /srv/jobs/today -p site.yml | ansible-runner worker |
        ansible-runner process /tmp/out
    Exit code 0 when there is nothing to do, 2 when changes are pending, 1 on error.
    A saved plan is sealed with a key in the state dir: an edited plan file is refused whole.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, partners,
                          allow_disable, "plan", enable, holds_file)
    planned = planned_run(request)
    show_plan(planned, fmt, planned.meta(), compact)
    if out_file is not None:
        save_plan(planned, out_file)
        err.print(f"saved the plan to {escape(str(out_file))}; apply it with "
                  f"`ssc-infra apply {escape(str(out_file))}`")
    if job_dir is not None:
        write_plan_job(planned, job_dir)
        err.print(f"wrote the host job to {escape(str(job_dir))}: ansible-runner transmit "
                  f"{escape(str(job_dir))} -p site.yml | ansible-runner worker | "
                  "ansible-runner process OUT")
    sys.exit(plan_exit_code(planned))


@click.command()
@inventory_options
@target_options
@format_option
@partner_option
@holds_option
@compact_option
@click.option("--report", "report_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Also write the nightly report into this folder: JSON and one HTML page "
                   "(latest.json, latest.html), with the trend of the reports before it.")
@click.option("--keep", type=click.IntRange(min=1), default=DEFAULT_KEEP, show_default=True,
              help="With --report: how many reports stay in the folder (older ones go).")
def drift(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          fmt: str, partners: tuple[str, ...], holds_file: Path | None, compact: bool,
          report_dir: Path | None, keep: int) -> None:
    """Read-only check of every backend against the inventory. For the nightly scheduler.

    \b
    Examples:
      ssc-infra drift --target production
      ssc-infra drift --format json > drift.json
      ssc-infra drift --report /var/lib/ssc-infra/drift-report --keep 60 --compact
    Exit code 0 no drift, 2 drift found, 1 error (or a check left incomplete); the report
    changes none of these. A JSON report is kept in the state dir as well.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, partners, (),
                          "drift", (), holds_file)
    planned = planned_run(request)
    meta = planned.meta()
    show_plan(planned, fmt, meta, compact)
    report_file = write_drift_report(planned, meta)
    code = plan_exit_code(planned)
    if report_dir is not None:
        files = write_report(report_dir, drift_run(planned, code), keep)
        for why in files.skipped:
            err.print(f"[yellow]left out of the trend:[/] {escape(why)}", soft_wrap=True)
        (out if fmt == "text" else err).print(
            f"nightly report: {escape(str(files.latest_html))} and {escape(files.json.name)}",
            soft_wrap=True)
    if fmt == "text":
        verdict = {EXIT_OK: "[green]no drift[/]", EXIT_CHANGES: "[yellow]drift found[/]",
                   EXIT_ERROR: "[red]drift check incomplete: "
                               f"{escape('; '.join(planned.incomplete))}[/]"}[code]
        out.print(f"{verdict} — report: {escape(str(report_file))}")
    sys.exit(code)


@click.command()
@inventory_options
@target_options
@partner_option
@allow_option
@enable_option
@holds_option
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts, CI).")
def apply(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          partners: tuple[str, ...], allow_disable: tuple[str, ...], enable: tuple[str, ...],
          holds_file: Path | None, plan_file: Path | None, yes: bool) -> None:
    """Apply the plan: a saved plan file exactly as reviewed, or a fresh plan after a prompt.

    \b
    Examples:
      ssc-infra plan --out today.plan.json && ssc-infra apply today.plan.json
      ssc-infra apply --partner vlieland --yes
      ssc-infra apply --allow-disable ameland=12
    Initial passwords go only to a 0600 credentials file in the state dir.
    Exit code 0 all applied, 2 a partner was held back by a guard, 1 items failed.
    """
    request = run_request(inventory, today, targets_file, target_name, state_dir, partners,
                          allow_disable, "apply", enable, holds_file)
    with locked(request, f"ssc-infra apply {plan_file or ''}".strip()):
        # Nobody reviews an `apply --yes`: the hosts' check run ahead would only be shown;
        # the apply's own run (every file through its checker) says what it changed.
        planned = planned_run(request, check_hosts=plan_file is None and not yes)
        prepared = prepare_apply(planned, plan_file)
        if plan_file is None:
            show_plan(planned, "text", {})
            if prepared.hosts_unchecked:
                out.print("Hosts: checked and applied in one run (--yes); their changes "
                          "follow the apply.")
        else:  # a saved plan was reviewed already: its summary is enough
            out.print(plan_summary(prepared.plan))
            if prepared.bundle is not None:
                out.print(f"Hosts: {prepared.host_changes} changes from the saved plan.")
        if prepared.hosts_not_applied:
            err.print(f"[yellow]not applied:[/] the plan's {prepared.hosts_not_applied} host "
                      "changes (the workplace hosts are held back, see above)")
        for change, reason in prepared.refused:
            err.print(f"[red]refused[/] {change.kind.value} {escape(change.key)}: "
                      f"{escape(reason)}", soft_wrap=True)
        if prepared.nothing_to_apply:
            settle(planned, prepared)  # the hosts hold exactly this already
            out.print("nothing to apply.")
            sys.exit(EXIT_ERROR if planned.incomplete else
                     EXIT_CHANGES if prepared.left_undone else EXIT_OK)
        if not yes and not click.confirm("Apply these changes?", default=False, err=True):
            err.print("nothing applied.")
            sys.exit(EXIT_CHANGES)
        with item_progress() as hooks:
            outcome = execute_apply(planned, prepared, hooks)
    print_apply_result(outcome, planned, prepared)
