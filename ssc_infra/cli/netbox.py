"""`ssc-infra netbox plan|push|status`: make NetBox hold the inventory. Options and output only;
the work is `ssc_infra.netbox.push`."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_OK,
    err,
    format_option,
    inventory_options,
    out,
    partner_option,
    print_json,
    run_request,
    target_options,
)
from ssc_infra.cli.plans import (
    print_held_inventory,
)
from ssc_infra.core.plan import Plan, parse_allow_disable, plan_to_dict
from ssc_infra.netbox.client import NetBox
from ssc_infra.netbox.push import (
    NetBoxPlan,
    against_now,
    load_netbox_plan,
    plan_netbox,
    push,
    save_netbox_plan,
)
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.report import plan_lines, plan_summary
from ssc_infra.run import load_inventory, locked
from ssc_infra.run.targets import load_target, netbox_settings

prune_option = click.option(
    "--prune", is_flag=True,
    help="Delete the objects ssc-infra made that are gone from the inventory (through the "
         "guard). Without it they are only reported.")
allow_delete_option = click.option(
    "--allow-delete", "allow_delete", multiple=True, metavar="PARTNER=N",
    help="Let PARTNER's push delete up to N objects despite the guard (repeatable).")


@click.group()
def netbox() -> None:
    """NetBox as a mirror of the inventory, or as its source (`--source netbox`).

    \b
    Examples:
      ssc-infra netbox status
      ssc-infra netbox plan --out netbox.plan.json
      ssc-infra netbox push netbox.plan.json
      ssc-infra netbox push --partner ameland --yes
      ssc-infra plan --source netbox     # the main plan, the inventory read from NetBox
    """


def _plan(inventory: Path, today: date, targets_file: Path, target_name: str, state_dir: Path,
          partners: tuple[str, ...], prune: bool, allow_delete: tuple[str, ...],
          command: str) -> NetBoxPlan:
    try:
        allow = parse_allow_disable(allow_delete, "--allow-delete")
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--allow-delete") from None
    request = run_request(inventory, today, targets_file, target_name, state_dir, partners, (),
                          command)
    settings = netbox_settings(load_target(targets_file, target_name), target_name)
    run = load_inventory(request)
    print_held_inventory(run)
    with err.status(escape(f"reading NetBox at {settings.url}...")):
        return plan_netbox(run, settings, state_dir, today, prune, allow, partners,
                           from_netbox=isinstance(request.source, NetBoxSource))


def _show(planned: NetBoxPlan, plan: Plan, fmt: str, meta: Mapping[str, Any]) -> None:
    if fmt == "json":
        print_json(plan_to_dict(plan, {**meta, "requests": planned.netbox.count.requests}))
        return
    names = {p.code: p.name for p in planned.region.partners}
    for line in plan_lines(plan, names):
        out.print(line, soft_wrap=True)
    out.print(plan_summary(plan).replace("Plan:", "NetBox plan:") +
              f" ({planned.netbox.count.requests} requests)")


def _meta(planned: NetBoxPlan, target_name: str, today: date) -> dict[str, Any]:
    return {"region": planned.region.code, "target": target_name, "today": today.isoformat(),
            "netbox": planned.netbox.base}


@netbox.command("plan")
@inventory_options
@target_options
@format_option
@partner_option
@prune_option
@allow_delete_option
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="Save the sealed plan; `ssc-infra netbox push FILE` applies exactly it.")
def netbox_plan(inventory: Path, today: date, targets_file: Path, target_name: str,
                state_dir: Path, fmt: str, partners: tuple[str, ...], prune: bool,
                allow_delete: tuple[str, ...], out_file: Path | None) -> None:
    """What a push would change in NetBox: + create, ~ update, - delete (with --prune).

    \b
    Examples:
      ssc-infra netbox plan
      ssc-infra netbox plan --partner ameland --format json
      ssc-infra netbox plan --prune --out netbox.plan.json
    Exit code 0 NetBox holds the inventory, 2 changes pending, 1 error.
    """
    planned = _plan(inventory, today, targets_file, target_name, state_dir, partners, prune,
                    allow_delete, "netbox plan")
    meta = _meta(planned, target_name, today)
    _show(planned, planned.plan, fmt, meta)
    if out_file is not None:
        save_netbox_plan(planned, out_file, state_dir, meta)
        err.print(f"saved the plan to {escape(str(out_file))}; push it with "
                  f"`ssc-infra netbox push {escape(str(out_file))}`")
    section = planned.section
    sys.exit(EXIT_OK if section.empty and not section.drift else EXIT_CHANGES)


@netbox.command("push")
@inventory_options
@target_options
@partner_option
@prune_option
@allow_delete_option
@click.argument("plan_file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (scripts, CI).")
def netbox_push(inventory: Path, today: date, targets_file: Path, target_name: str,
                state_dir: Path, partners: tuple[str, ...], prune: bool,
                allow_delete: tuple[str, ...], plan_file: Path | None, yes: bool) -> None:
    """Make NetBox hold the inventory: a saved plan exactly as reviewed, or a fresh one.

    \b
    Examples:
      ssc-infra netbox plan --out nb.plan.json && ssc-infra netbox push nb.plan.json
      ssc-infra netbox push --yes
      ssc-infra netbox push --prune --allow-delete ameland=40
    Objects without the tag ssc-infra are never touched. Exit code 0 all pushed, 2 a partner
    was held back or an item refused, 1 items failed.
    """
    request_partners = partners
    with locked(run_request(inventory, today, targets_file, target_name, state_dir, partners,
                            (), "netbox push"), "ssc-infra netbox push"):
        planned = _plan(inventory, today, targets_file, target_name, state_dir,
                        request_partners, prune, allow_delete, "netbox push")
        refused: list[Any] = []
        if plan_file is not None:
            saved, _meta_saved = load_netbox_plan(plan_file, state_dir)
            changes, refused = against_now(saved, planned)
            out.print(plan_summary(Plan((saved,))).replace("Plan:", "NetBox plan (saved):"))
        else:
            changes = list(planned.section.changes)
            _show(planned, planned.plan, "text", {})
        for change, reason in refused:
            err.print(f"[red]refused[/] {change.kind.value} {escape(change.key)}: "
                      f"{escape(reason)}", soft_wrap=True)
        if not changes:
            out.print("nothing to push.")
            sys.exit(EXIT_CHANGES if refused or planned.section.held else EXIT_OK)
        if not yes and not click.confirm("Push these changes to NetBox?", default=False,
                                         err=True):
            err.print("nothing pushed.")
            sys.exit(EXIT_CHANGES)
        with err.status("pushing to NetBox...") as status:
            results = push(planned, changes, state_dir, target_name,
                           lambda text: status.update(escape(f"pushing to NetBox: {text}")))
    failed = [r for r in results if not r.ok]
    for r in failed[:20]:
        err.print(f"[red]failed[/] {r.change.kind.value} {escape(r.change.key)}: "
                  f"{escape(r.message)}", soft_wrap=True)
    if len(failed) > 20:
        err.print(f"... and {len(failed) - 20} more failed (the audit log has them all)")
    out.print(f"pushed {len(results) - len(failed):,} of {len(results):,} changes to NetBox "
              f"in {planned.netbox.count.requests} requests"
              + (f", [red]{len(failed)} failed[/]" if failed else "") + ".")
    if failed:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CHANGES if refused or planned.section.held else EXIT_OK)


@netbox.command("status")
@target_options
def netbox_status_command(targets_file: Path, target_name: str, state_dir: Path) -> None:
    """Check that the target's NetBox answers and takes the token.

    \b
    Example:
      ssc-infra netbox status --target acceptance
    """
    settings = netbox_settings(load_target(targets_file, target_name), target_name)
    status = NetBox(settings).status()
    out.print(f"NetBox {escape(str(status.get('netbox-version')))} at "
              f"{escape(settings.url)}: the token works.")
    del state_dir
    sys.exit(EXIT_OK if status else EXIT_ERROR)
