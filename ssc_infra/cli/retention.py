"""`ssc-infra leavers` and `ssc-infra purge`: accounts past retention, and their deletion.
Options and output only; the rules are `ssc_infra.ad.retention`, the work
`ssc_infra.lifecycle.purge`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ssc_infra.ad.retention import Leaver, PurgePlan
from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    approval_option,
    check_partners,
    err,
    format_option,
    inventory_options,
    load_region,
    operation_approvals,
    out,
    partner_option,
    print_json,
    target_options,
)
from ssc_infra.core.plan import parse_allow_disable
from ssc_infra.lifecycle.purge import Parked, apply_purge, make_purge, read_leavers
from ssc_infra.run import check_base_dn
from ssc_infra.run.approvals import approve_operation
from ssc_infra.run.targets import ad_settings, load_target
from ssc_infra.sources.governance import load_governance
from ssc_infra.state.folder import StateDir


def _read(inventory: Path, today: date, targets_file: Path, target_name: str,
          partners: tuple[str, ...]) -> tuple[Parked, Any]:
    region = load_region(inventory, today)
    check_partners(region, partners)
    settings = ad_settings(load_target(targets_file, target_name), target_name)
    check_base_dn(settings, region)
    with err.status(escape(f"reading the leavers OUs of target {target_name!r}...")):
        return read_leavers(region, settings, today, partners), settings


def _leaver_json(v: Leaver, today: date) -> dict[str, Any]:
    a = v.parked.account
    return {"partner": v.partner, "key": v.key, "name": v.name, "sam": a.sam, "dn": a.dn,
            "object_guid": v.parked.guid, "enabled": a.enabled,
            "parked_on": v.left.isoformat() if v.left else None, "parked_on_from": v.since,
            "purge_from": v.purge_from.isoformat() if v.purge_from else None,
            "due": v.due(today)}


@click.command("leavers")
@inventory_options
@target_options
@format_option
@partner_option
@click.option("--due", "due_only", is_flag=True, help="Only the accounts past retention.")
def leavers_command(inventory: Path, today: date, targets_file: Path, target_name: str,
                    state_dir: Path, fmt: str, partners: tuple[str, ...], due_only: bool) -> None:
    """The accounts waiting in the leavers OUs, per partner, and when each may be purged.

    An account is parked (disabled, moved to its partner's leavers OU) when its person leaves;
    `retention_days` (region.yaml) later `ssc-infra purge` may delete it.

    \b
    Examples:
      ssc-infra leavers
      ssc-infra leavers --partner ameland --due
      ssc-infra leavers --format json | jq '[.leavers[] | select(.due)] | length'
    Exit code 0 none past retention, 2 some are (a purge would delete them), 1 error.
    """
    del state_dir
    parked, _settings = _read(inventory, today, targets_file, target_name, partners)
    shown = [v for v in parked.found if v.due(today) or not due_only]
    due = sum(1 for v in parked.found if v.due(today))
    if fmt == "json":
        per: dict[str, dict[str, int]] = {}
        for v in parked.found:
            counts = per.setdefault(v.partner, {"parked": 0, "due": 0})
            counts["parked"] += 1
            counts["due"] += v.due(today)
        print_json({"today": today.isoformat(), "retention_days": parked.retention_days,
                     "partners": per, "parked": len(parked.found), "due": due,
                     "leavers": [_leaver_json(v, today) for v in shown]})
    else:
        table = Table(title=Text(f"Leavers on {today.isoformat()} (retention "
                                 f"{parked.retention_days} days)"), title_justify="left")
        for heading in ("partner", "account", "name", "parked on", "purge from", "state"):
            table.add_column(heading)
        for v in shown:
            table.add_row(Text(v.partner), Text(v.key), Text(v.name),
                          Text(v.left.isoformat() if v.left else "unknown"),
                          Text(v.purge_from.isoformat() if v.purge_from else "never"),
                          Text("past retention" if v.due(today) else "waiting"))
        if shown:  # no empty frame when there is nothing to list
            out.print(table)
        count = len(parked.found)
        out.print(f"{count:,} account{'s' if count != 1 else ''} parked, {due:,} past retention"
                  + (": `ssc-infra purge` shows what it would delete" if due else ""))
    sys.exit(EXIT_CHANGES if due else EXIT_OK)


def _purge_lines(plan: PurgePlan, parked: Parked, today: date) -> list[str]:
    by_key = {v.key: v for v in parked.found}
    lines = []
    for change in plan.section.changes:
        leaver = by_key[change.key]
        days = f"{(today - leaver.left).days} days ago" if leaver.left else "day unknown"
        lines.append(f"  [red]-[/] delete   {escape(change.key)} {escape(leaver.name)} "
                     f"(parked {days})  {escape(change.dn)}")
    for refusal in plan.refused:
        lines.append(f"  [yellow]![/] kept     {escape(refusal.leaver.key)} "
                     f"{escape(refusal.leaver.name)}: {escape(refusal.reason)}")
    for held in plan.section.held:
        lines.append(f"[yellow]held back:[/] {escape(held.message())}")
    return lines


@click.command("purge")
@inventory_options
@target_options
@format_option
@partner_option
@click.option("--allow-purge", "allow_purge", multiple=True, metavar="PARTNER=N",
              help="Let PARTNER's purge delete up to N accounts despite the guard (repeatable).")
@click.option("--yes", is_flag=True, help="Delete without asking (scripts). Without it the "
              "plan is shown and you are asked.")
@approval_option
def purge_command(inventory: Path, today: date, targets_file: Path, target_name: str,
                  state_dir: Path, fmt: str, partners: tuple[str, ...],
                  allow_purge: tuple[str, ...], yes: bool, approval_file: Path | None) -> None:
    """Delete the accounts parked longer than the retention period: shows the plan, asks.

    Only accounts the tool parked itself are deleted, each checked on the DC right before
    (objectGUID, disabled, the tool's mark) and written to the audit log. Refused: a person
    back in the HR export, an account not parked by the tool, and every account of an
    offboarded partner whose handover bundle does not verify (`bundle verify`: its files, and
    its accounts against the directory). At most `max_disable` deletions per partner per run
    (region.yaml's guard) unless --allow-purge says more.

    \b
    Examples:
      ssc-infra purge                              # the plan, then a question
      ssc-infra purge --partner ameland --yes
      ssc-infra purge --allow-purge riec-noord=180
    Exit code 0 done or nothing to delete, 2 something held, refused or not confirmed, 1 error.
    """
    try:
        allow = parse_allow_disable(allow_purge, "--allow-purge")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--allow-purge") from None
    state = StateDir(state_dir)
    with state.run_lock("ssc-infra purge"):
        parked, settings = _read(inventory, today, targets_file, target_name, partners)
        plan = make_purge(parked, settings, state.audit_log, partners, allow)
        document = _purge_json(plan, parked, today)
        if fmt == "text":
            for line in _purge_lines(plan, parked, today):
                out.print(line, soft_wrap=True, highlight=False)
            out.print(f"Purge: {len(plan.section.changes):,} to delete, {len(plan.refused):,} "
                      f"kept (refused), {plan.waiting:,} still within retention.")
        if not plan.section.changes:
            _done(fmt, document)
            sys.exit(EXIT_CHANGES if plan.refused or plan.section.held else EXIT_OK)
        # every partner whose accounts go: governance.yaml may want another engineer's approval
        approved = approve_operation(
            load_governance(inventory), "purge", parked.region.code,
            sorted({c.partner for c in plan.section.changes}), operation_approvals(approval_file))
        if not yes and not click.confirm(f"Delete these {len(plan.section.changes)} accounts? "
                                         "This cannot be undone", default=False, err=True):
            err.print("nothing deleted.")
            _done(fmt, document)
            sys.exit(EXIT_CHANGES)
        with err.status("deleting..."):
            report = apply_purge(plan, parked.region, settings, state, target_name, approved)
    failed = report.failed
    document["deleted"] = [r.change.key for r in report.results if r.ok]
    document["failed"] = [{"key": r.change.key, "message": r.message} for r in failed]
    for result in failed:
        err.print(f"[red]failed[/] {escape(result.change.key)}: {escape(result.message)}",
                  soft_wrap=True)
    if fmt == "text":
        out.print(f"deleted {report.succeeded:,} of {len(report.results):,} accounts"
                  + (f", [red]{len(failed)} failed[/]" if failed else "")
                  + f"; audit log: {escape(str(state.audit_log))}")
    _done(fmt, document)
    if failed:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CHANGES if plan.refused or plan.section.held else EXIT_OK)


def _done(fmt: str, document: dict[str, Any]) -> None:
    if fmt == "json":
        print_json(document)


def _purge_json(plan: PurgePlan, parked: Parked, today: date) -> dict[str, Any]:
    by_key = {v.key: v for v in parked.found}
    return {"today": today.isoformat(), "retention_days": parked.retention_days,
            "delete": [_leaver_json(by_key[c.key], today) for c in plan.section.changes],
            "refused": [{**_leaver_json(r.leaver, today), "reason": r.reason}
                        for r in plan.refused],
            "held": [{"partner": h.partner, "deletes": h.disables, "limit": h.limit,
                      "override": h.override, "message": h.message()}
                     for h in plan.section.held],
            "waiting": plan.waiting, "deleted": [], "failed": []}
