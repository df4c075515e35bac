"""The `ssc-infra` command: parse, call, print. The only place that exits.

Exit codes (as `terraform plan -detailed-exitcode`): 0 nothing to do or success, 2 changes
pending or drift found, 1 error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ssc_infra import __version__
from ssc_infra.core.desired import derive
from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.core.model import Identity, Region
from ssc_infra.core.plan import Backend, ItemResult, parse_allow_disable
from ssc_infra.hosts.ansible import host_of
from ssc_infra.report import (
    HostPart,
    console,
    desired_lines,
    host_lines,
    json_text,
    jsonable,
    plan_summary,
    problem_lines,
    problems_json,
    shown_plan_lines,
)
from ssc_infra.report.folder import write_report
from ssc_infra.report.nightly import DEFAULT_KEEP, drift_run
from ssc_infra.run import (
    Hooks,
    Outcome,
    PlannedRun,
    Prepared,
    RunRequest,
    execute_apply,
    load_inventory,
    locked,
    plan_run,
    prepare_apply,
    save_plan,
    settle,
    write_drift_report,
    write_plan_job,
)
from ssc_infra.run.sources import Context, make_source
from ssc_infra.run.targets import (
    DEFAULT_TARGETS,
    Target,
    ad_settings,
    load_target,
    netbox_settings,
    write_target,
)
from ssc_infra.sources import InventorySource, RunInventory
from ssc_infra.sources.holds import HOLDS_FILE
from ssc_infra.state.ledger import kept_names, load_ledger

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
HELD_SHOWN = 10  # problems shown per held-back partner; `validate` lists them all
F = TypeVar("F", bound=Callable[..., Any])

# Wide enough for the partner table when the output goes to a file or a pipe.
# emoji off: a surname like ":x:" is data, never a picture; values are escaped before markup.
out = console(width=None if sys.stdout.isatty() else 160)
err = console(stderr=True, width=None if sys.stderr.isatty() else 160)


def _parse_today(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date; write YYYY-MM-DD") from None


def inventory_options(command: F) -> F:
    """--inventory and --today, which every command that reads the inventory takes."""

    @click.option("--inventory", "inventory", type=click.Path(path_type=Path, file_okay=False),
                  default=Path("inventory"), show_default=True,
                  help="The inventory folder (region.yaml, partners/, people/, devices/).")
    @click.option("--today", callback=_parse_today, metavar="YYYY-MM-DD",
                  help="Run as if it were this day (reproducible runs). Default: today.")
    @click.option("--source", "source", type=click.Choice(["files", "netbox"]),
                  envvar="SSC_SOURCE", default=None,
                  help="Read the inventory from the folder's files, or from the target's "
                       "NetBox (people still from the folder's HR exports). Default: the "
                       "target's `source:`, else files.")
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().meta[_SOURCE_KEY] = kwargs.pop("source")
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_SOURCE_KEY = "ssc_infra.source"


def source_target_options(command: F) -> F:
    """--targets, --target and --state-dir for a command that only reads the inventory: they
    matter with `--source netbox` (where NetBox is, where its snapshot is kept)."""

    has_state = any(p.name == "state_dir" for p in getattr(command, "__click_params__", []))

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        kwargs.pop("targets_file")
        kwargs.pop("target_name")
        if not has_state:
            kwargs.pop("state_dir")
        return command(*args, **kwargs)

    wrapped: Any = click.option(
        "--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
        default=DEFAULT_TARGETS, show_default=True,
        help="The targets file (for --source netbox).")(click.option(
            "--target", "target_name", envvar="SSC_TARGET", default="lab", show_default=True,
            help="Which target in it (for --source netbox).")(wrapper))
    if not has_state:
        wrapped = click.option(
            "--state-dir", type=click.Path(path_type=Path, file_okay=False),
            default=Path(".ssc"), show_default=True,
            help="Where the NetBox snapshot is kept (for --source netbox).")(wrapped)
    return wrapped  # type: ignore[no-any-return]


format_option = click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
    help="Output for people (text) or scripts (json).",
)
compact_option = click.option(
    "--compact", is_flag=True,
    help="One line per object: no changed attributes, file diffs or homes listed below it.")


def _source(inventory: Path) -> InventorySource:
    """The source of this command: --source, else the target's `source:`, else the folder.

    A NetBox source reads the target's `netbox:` (of --targets/--target where the command
    has them, else targets.yaml and $SSC_TARGET or lab) and keeps its snapshot in the state
    dir.
    """
    ctx = click.get_current_context()
    params = ctx.params
    targets_file = Path(params.get("targets_file") or DEFAULT_TARGETS)
    target_name = str(params.get("target_name") or os.environ.get("SSC_TARGET") or "lab")
    state = Path(params.get("state_dir") or ".ssc")
    name = ctx.meta.get(_SOURCE_KEY)
    target: Target | None = None
    if name != "files" and targets_file.exists():
        try:
            target = load_target(targets_file, target_name)
        except SscError:
            if name == "netbox":
                raise
    name = name or (target.source if target is not None else "files")
    if name == "files":
        return make_source("files", str(inventory))
    if target is None:
        target = load_target(targets_file, target_name)  # says what is missing
    found = target
    region = found.netbox.region if found.netbox else None
    return make_source("netbox", str(inventory), Context(
        state, lambda: netbox_settings(found, target_name), region))


def _load(inventory: Path, today: date) -> Region:
    return _source(inventory).load(today).strict()


def _print_problems(problems: list[Problem]) -> None:
    for line in problem_lines(problems):
        err.print(line, soft_wrap=True)


def _print_json(data: Any) -> None:
    click.echo(json_text(data))


class _UsageError(click.UsageError):
    """A typo in an option is an error (1), never "changes pending" (2) to a script."""

    exit_code = EXIT_ERROR


class _Group(click.Group):
    """Turns our errors into messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise _UsageError(e.format_message(), e.ctx) from e
        except InventoryError as e:
            _print_problems(e.problems)
            ctx.exit(EXIT_ERROR)
        except SscError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ssc-infra")
def main() -> None:
    """Identities and workplaces of a Shared Service Center: inventory, plan, apply, drift.

    \b
    Start with:
      ssc-infra validate                 check the inventory in ./inventory
      ssc-infra show                     a table per partner
      ssc-infra desired --partner ameland --format json
    """


@main.command()
@inventory_options
@source_target_options
@format_option
def validate(inventory: Path, today: date, fmt: str) -> None:
    """Check the inventory and list every problem with file, line and a hint.

    \b
    Examples:
      ssc-infra validate
      ssc-infra validate --inventory /srv/ssc/inventory --format json
    Exit code 0 when valid, 1 when there are problems.
    """
    source = _source(inventory)
    try:
        loaded = source.load(today)
    except InventoryError as e:  # problems that stop the run for every partner
        _invalid(e.problems, [], fmt)
    if loaded.held:
        _invalid(list(loaded.problems), sorted(loaded.held), fmt)
    region = loaded.region
    people = region.people_count
    devices = sum(len(p.devices) for p in region.partners)
    sites = sum(len(p.sites) for p in region.partners)
    if fmt == "json":
        _print_json({"valid": True, "region": region.code, "partners": len(region.partners),
                     "people": people, "devices": devices, "sites": sites})
        return
    out.print(f"[green]✓[/] {escape(source.describe())}: valid — {escape(region.name)} "
              f"({escape(region.code)}): "
              f"{len(region.partners)} partners, {people:,} people, {devices:,} devices, "
              f"{sites} sites, {len(region.hosts)} hosts")


def _invalid(problems: list[Problem], held: list[str], fmt: str) -> NoReturn:
    """Every problem, and which partners plan, apply and drift would hold back (exit 1)."""
    if fmt == "json":
        _print_json({"valid": False, "problems": problems_json(problems),
                     "held_partners": held})
        sys.exit(EXIT_ERROR)
    _print_problems(problems)
    if held:
        err.print(f"plan, apply and drift would hold back {escape(', '.join(held))} "
                  "(problems in their own HR export or device list) and go on with the "
                  "other partners.")
    else:
        err.print("these problems stop plan, apply and drift for every partner.")
    sys.exit(EXIT_ERROR)


@main.command()
@inventory_options
@source_target_options
@format_option
@click.option("--partner", "partners", multiple=True, metavar="CODE",
              help="Only this partner (repeatable). Default: all.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True,
              help="Where the names handed out by earlier applies are kept.")
def desired(inventory: Path, today: date, fmt: str, partners: tuple[str, ...],
            state_dir: Path) -> None:
    """The desired state derived from the inventory: OUs, accounts, groups, workplaces.

    \b
    Examples:
      ssc-infra desired --partner vlieland
      ssc-infra desired --partner ameland --format json > ameland.json
    """
    region = _load(inventory, today)
    _check_partners(region, partners)
    state = derive(region, today, kept_names(load_ledger(state_dir), region))
    chosen = [p for p in state.partners if not partners or p.code in partners]
    if fmt == "json":
        _print_json({"region": state.region, "today": today.isoformat(),
                     "base_dn": state.base_dn, "partners": jsonable(chosen)})
        return
    for line in desired_lines(chosen):
        out.print(line)


def _check_partners(region: Region, partners: tuple[str, ...]) -> None:
    known = {p.code for p in region.partners}
    unknown = [c for c in partners if c not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown partner {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            param_hint="--partner",
        )


@main.command()
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              help="Write region.schema.json and partner.schema.json into this folder.")
def schema(out_dir: Path | None) -> None:
    """JSON Schema of region.yaml and partners/*.yaml, for editors to complete and check.

    \b
    Examples:
      ssc-infra schema --out .schemas
    then put this first line in a partner file (VS Code with the YAML extension):
      # yaml-language-server: $schema=../.schemas/partner.schema.json
    """
    from ssc_infra.sources.schema import json_schemas

    schemas = json_schemas()
    if out_dir is None:
        _print_json(schemas)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"region.yaml": "region.schema.json", "partners/*.yaml": "partner.schema.json"}
    for key, data in schemas.items():
        target = out_dir / names[key]
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {target}")


@main.command()
@click.option("--people", type=click.IntRange(min=1), default=4500, show_default=True,
              help="How many people in the region.")
@click.option("--seed", type=int, default=2026, show_default=True,
              help="Random seed: the same seed gives the same files.")
@click.option("--partners", type=click.IntRange(min=1), default=None,
              help="Number of partners (default: the 11 of SSC Leeuwarden; more are generated).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              required=True, help="Folder to write the inventory into.")
@click.option("--force", is_flag=True, help="Write into a folder that is not empty.")
def sample(people: int, seed: int, partners: int | None, out_dir: Path, force: bool) -> None:
    """Generate a fictional sample region (deterministic), e.g. for tests and benchmarks.

    \b
    Examples:
      ssc-infra sample --out /tmp/region                   # the bundled sample
      ssc-infra sample --people 200000 --partners 300 --seed 7 --out /tmp/big
    """
    from ssc_infra.sources.sample import write_sample

    with err.status(f"generating {people:,} people..."):
        summary = write_sample(out_dir, people=people, seed=seed, partners=partners, force=force)
    out.print(f"wrote {out_dir}: {summary}")


# -- plan, apply, drift -------------------------------------------------------------------


@main.command()
@inventory_options
@source_target_options
@click.option("--partner", "partners", multiple=True, metavar="CODE",
              help="Only this partner's part (repeatable). Default: all.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False),
              required=True, help="Folder for the files: one subfolder per host.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True,
              help="Where the names and addresses handed out by earlier applies are kept.")
@click.option("--check", "run_checks", is_flag=True,
              help="Also run the daemons' own checkers on the files, as the roles do "
                   "before installing them (exit 1 if one refuses a file).")
def render(inventory: Path, today: date, partners: tuple[str, ...], out_dir: Path,
           state_dir: Path, run_checks: bool) -> None:
    """Write every workplace host's files, to read or diff them before a plan.

    \b
    Examples:
      ssc-infra render --out /tmp/hosts && less /tmp/hosts/fs01/etc/samba/smb.conf
      ssc-infra render --partner vlieland --out /tmp/vlieland
      ssc-infra render --check --out /tmp/hosts     # testparm, kea-dhcp4 -t, freeradius -C...
    Account names are the ones earlier applies handed out (kept in the state dir); plan and
    apply check them against the directory. With --partner, the files hold only that partner's part.
    """
    from ssc_infra.core.workplaces import derive_workplaces
    from ssc_infra.hosts.render import render_bundle, write_bundle
    from ssc_infra.state.allocations import load_allocations

    region = _load(inventory, today)
    _check_partners(region, partners)
    if partners:
        region = dataclasses.replace(
            region, partners=tuple(p for p in region.partners if p.code in partners))
    state = derive(region, today, kept_names(load_ledger(state_dir), region))
    workplaces = derive_workplaces(region, state, load_allocations(state_dir))
    bundle = render_bundle(region, workplaces)
    write_bundle(bundle, out_dir)
    for host, files in sorted(bundle.files.items()):
        for path in sorted(files):
            out.print(f"{out_dir / host / path}", markup=False)
    err.print(f"wrote {sum(len(f) for f in bundle.files.values())} files for "
              f"{len(bundle.files)} hosts to {out_dir}")
    if run_checks:
        _check_rendered(region, out_dir)


def _check_rendered(region: Region, out_dir: Path) -> None:
    from ssc_infra.hosts.checks import check_bundle

    style = {"ok": "[green]ok[/]", "failed": "[red]refused[/]", "skipped": "[yellow]skipped[/]"}
    failed = 0
    with err.status("checking the files with the daemons' checkers..."):
        results = list(check_bundle(region, out_dir))
    for r in results:
        reason = f": {escape(r.message)}" if r.message else ""
        err.print(f"  {style[r.status]} {escape(r.host)}:/{escape(r.path)}{reason}",
                  highlight=False)
        failed += r.status == "failed"
    if failed:
        raise SscError(f"{failed} of {len(results)} files refused by their checker; "
                       "fix the inventory value it names and render again")
    err.print(f"{len(results)} files checked")


def target_options(command: F) -> F:
    """--targets, --target and --state-dir: where to connect and where to keep state."""

    @click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
                  default=DEFAULT_TARGETS, show_default=True, help="The targets file.")
    @click.option("--target", "target_name", envvar="SSC_TARGET", default="lab",
                  show_default=True, help="Which target in it (or $SSC_TARGET).")
    @click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
                  default=Path(".ssc"), show_default=True,
                  help="Lab, audit log, run lock, credentials files, reports.")
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


partner_option = click.option("--partner", "partners", multiple=True, metavar="CODE",
                              help="Only this partner (repeatable). Default: all.")
allow_option = click.option(
    "--allow-disable", "allow_disable", multiple=True, metavar="PARTNER=N",
    help="Let PARTNER's plan disable up to N accounts despite the guard (repeatable).")


def _request(inventory: Path, today: date, targets_file: Path, target_name: str,
             state_dir: Path, partners: tuple[str, ...], allow_disable: tuple[str, ...],
             command: str, enable: tuple[str, ...] = (),
             holds_file: Path | None = None) -> RunRequest:
    try:
        overrides = parse_allow_disable(allow_disable)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--allow-disable") from None
    if holds_file is None and (inventory / HOLDS_FILE).exists():
        holds_file = inventory / HOLDS_FILE  # the inventory's own holds file
    return RunRequest(_source(inventory), today, targets_file, target_name, state_dir,
                      partners, overrides, command, enable, holds_file)


enable_option = click.option(
    "--enable", "enable", multiple=True, metavar="PARTNER/ID",
    help="Enable this account although it was disabled by hand (a lock), e.g. alpha/1002 "
         "(repeatable).")
holds_option = click.option(
    "--holds", "holds_file", type=click.Path(path_type=Path, dir_okay=False),
    help="The holds file: accounts locked on purpose and known unmanaged objects. Default: "
         "holds.yaml in the inventory, when it exists.")


def _status(text: str) -> Any:
    return err.status(escape(text))


HOOKS = Hooks(status=_status)


def _planned(request: RunRequest, check_hosts: bool = True) -> PlannedRun:
    """The plan of a run, saying first which partners are held back and why."""
    inventory = load_inventory(request)
    _check_partners(inventory.region,
                    tuple(c for c in request.partners if c not in inventory.held))
    _print_held_inventory(inventory)
    planned = plan_run(request, HOOKS, check_hosts, inventory)
    for conflict in planned.name_conflicts:
        err.print(f"[yellow]name kept by the directory:[/] {escape(str(conflict))}",
                  soft_wrap=True)
    scope = planned.scope
    if scope is not None and scope.waiting:
        err.print(f"[yellow]held back:[/] the workplace hosts — {escape(scope.waiting)}",
                  soft_wrap=True)
    elif scope is not None and scope.kept:
        kept = "; ".join(f"{escape(code)}'s part of their files stays as applied "
                         f"{k.time:%Y-%m-%d %H:%M} UTC" for code, k in sorted(scope.kept.items()))
        err.print(f"the workplace hosts go on: {kept}", soft_wrap=True)
    return planned


def _print_held_inventory(inventory: RunInventory) -> None:
    for code, found in inventory.shown.items():
        err.print(f"[yellow]held back:[/] partner {escape(code)} — {len(found)} problem"
                  f"{'s' if len(found) != 1 else ''} in its HR export or device list; nothing "
                  f"of {escape(code)} is read or changed in this run:", soft_wrap=True)
        for problem in found[:HELD_SHOWN]:
            err.print(f"  {problem}", soft_wrap=True, highlight=False, markup=False)
        if len(found) > HELD_SHOWN:
            err.print(f"  ... and {len(found) - HELD_SHOWN} more: `ssc-infra validate` lists "
                      "them all")


def _show_plan(planned: PlannedRun, fmt: str, meta: dict[str, Any],
               compact: bool = False) -> None:
    if fmt == "json":
        _print_json(planned.to_dict(meta))
        return
    hosts = None
    if planned.hosts is not None:
        hosts = HostPart(planned.hosts.changes_for(planned.partners),
                         planned.hosts.result.failed_hosts, planned.hosts.refused,
                         len(planned.hosts.result.in_sync))
    names = {p.code: p.name for p in planned.region.partners}
    for line in shown_plan_lines(planned.plan, names, hosts, planned.hosts_held, compact):
        out.print(line, soft_wrap=True)


def _exit_code(planned: PlannedRun) -> int:
    if planned.incomplete:
        return EXIT_ERROR
    return EXIT_OK if planned.empty else EXIT_CHANGES


@main.command()
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
    request = _request(inventory, today, targets_file, target_name, state_dir, partners,
                       allow_disable, "plan", enable, holds_file)
    planned = _planned(request)
    _show_plan(planned, fmt, planned.meta(), compact)
    if out_file is not None:
        save_plan(planned, out_file)
        err.print(f"saved the plan to {escape(str(out_file))}; apply it with "
                  f"`ssc-infra apply {escape(str(out_file))}`")
    if job_dir is not None:
        write_plan_job(planned, job_dir)
        err.print(f"wrote the host job to {escape(str(job_dir))}: ansible-runner transmit "
                  f"{escape(str(job_dir))} -p site.yml | ansible-runner worker | "
                  "ansible-runner process OUT")
    sys.exit(_exit_code(planned))


@main.command()
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
    request = _request(inventory, today, targets_file, target_name, state_dir, partners, (),
                       "drift", (), holds_file)
    planned = _planned(request)
    meta = planned.meta()
    _show_plan(planned, fmt, meta, compact)
    report_file = write_drift_report(planned, meta)
    code = _exit_code(planned)
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


@main.command()
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
    request = _request(inventory, today, targets_file, target_name, state_dir, partners,
                       allow_disable, "apply", enable, holds_file)
    with locked(request, f"ssc-infra apply {plan_file or ''}".strip()):
        # Nobody reviews an `apply --yes`: the hosts' check run ahead would only be shown;
        # the apply's own run (every file through its checker) says what it changed.
        planned = _planned(request, check_hosts=plan_file is None and not yes)
        prepared = prepare_apply(planned, plan_file)
        if plan_file is None:
            _show_plan(planned, "text", {})
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
        if not prepared.plan.directory.changes and not prepared.applies_hosts and \
                not prepared.plan.section(Backend.GRAPH).changes:
            settle(planned, prepared)  # the hosts hold exactly this already
            out.print("nothing to apply.")
            sys.exit(EXIT_ERROR if planned.incomplete else
                     EXIT_CHANGES if prepared.refused or prepared.plan.held or
                     prepared.plan.drift else EXIT_OK)
        if not yes and not click.confirm("Apply these changes?", default=False, err=True):
            err.print("nothing applied.")
            sys.exit(EXIT_CHANGES)
        with _item_progress() as hooks:
            outcome = execute_apply(planned, prepared, hooks)
    _print_apply_result(outcome, planned, prepared)


_PLURAL = {"ou": "OUs", "group": "groups", "account": "accounts", "members": "memberships"}


@contextlib.contextmanager
def _item_progress() -> Iterator[Hooks]:
    """A progress bar over the directory's items, and spinners for the hosts."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[failed]} failed"), TimeElapsedColumn(),
                  console=err, transient=False) as progress:
        tasks: dict[Backend, Any] = {}  # a bar per backend: the directory, Microsoft 365

        def on_item(result: ItemResult, failed: int, total: int) -> None:
            backend = result.change.backend
            if backend not in tasks:
                tasks[backend] = progress.add_task("applying", total=total, failed=0)
            what = _PLURAL.get(result.change.kind.value, "") if backend is Backend.DIRECTORY \
                else "Microsoft 365"
            progress.update(tasks[backend], advance=1, failed=failed,
                            description=f"applying {what}")

        yield Hooks(status=_status, on_item=on_item)


def _print_apply_result(outcome: Outcome, planned: PlannedRun, prepared: Prepared) -> None:
    report, hosts, state = outcome.report, outcome.hosts, planned.state
    for result in report.failed:
        c = result.change
        err.print(f"[red]failed[/] {escape(c.partner)} {c.kind.value} {escape(c.key)}: "
                  f"{escape(result.message)}", soft_wrap=True)
    refused = prepared.refused
    out.print(f"applied {report.succeeded:,} of {len(report.results):,} changes"
              + (f", [red]{len(report.failed):,} failed[/]" if report.failed else "")
              + (f", {len(refused)} refused as stale" if refused else ""))
    for held in prepared.plan.held:
        err.print(f"[yellow]held back:[/] {escape(held.message())}", soft_wrap=True)
    if hosts is not None:
        if prepared.hosts_unchecked:  # not shown ahead: what the run changed
            for line in host_lines(hosts.changes, ()):
                out.print(line, soft_wrap=True)
        for line in host_lines([], hosts.failed_hosts):
            err.print(line, soft_wrap=True)
        changed = {host_of(c) for c in hosts.changes}
        out.print(f"hosts: {len(hosts.changes)} changes on {len(changed)} hosts"
                  + (f", [red]{len(hosts.failed_hosts)} hosts failed[/]"
                     if hosts.failed_hosts else ""))
    if outcome.credentials is not None:
        out.print(f"initial passwords: {escape(str(outcome.credentials))} (mode 0600; keep it "
                  "until these people have logged on)")
    if outcome.graph_traffic is not None:
        out.print(f"Microsoft 365: {escape(outcome.graph_traffic.summary())}")
    if outcome.cloud_credentials is not None:
        out.print(f"initial passwords of the new Microsoft 365 users: "
                  f"{escape(str(outcome.cloud_credentials))} (mode 0600)")
    out.print(f"audit log: {escape(str(state.audit_log))}")
    if report.failed or (hosts is not None and hosts.failed_hosts):
        err.print("run `ssc-infra plan` to see what is left; a re-run of apply converges.")
        sys.exit(EXIT_ERROR)
    if planned.held_inventory or planned.hosts_held:
        err.print("[yellow]not everything was applied:[/] fix the held-back inventory "
                  "(`ssc-infra validate`) and apply again.")
        sys.exit(EXIT_ERROR)
    for item in prepared.plan.drift:
        err.print(f"[magenta]drift left as it is:[/] {escape(item.key or item.dn)}: "
                  f"{escape(item.reason)}", soft_wrap=True)
    sys.exit(EXIT_CHANGES if prepared.plan.held or refused or prepared.plan.drift else EXIT_OK)


# -- the local lab ------------------------------------------------------------------------


@main.group()
def lab() -> None:
    """A throwaway Samba AD DC on loopback, for trying the tool and for the demo.

    \b
    Examples:
      ssc-infra lab up          # installs Samba if needed, starts the DC, writes target `lab`
      ssc-infra plan            # the lab is the default target
      ssc-infra lab down
    """


def _lab_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "dc"


def _netbox_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "netbox"


def _graph_dir(state_dir: Path) -> Path:
    return state_dir.resolve() / "lab" / "graph"


@lab.command("up")
@inventory_options
@click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_TARGETS, show_default=True, help="Where to write the lab target.")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="The lab lives in STATE_DIR/lab.")
@click.option("--address", default="auto", show_default=True,
              help="Loopback address for the DC (ports 389 and 636); `auto` keeps the lab's "
                   "last address while it is free, else picks a free one in 127.0.0.0/8.")
@click.option("--fresh", is_flag=True, help="Start from an empty domain (drops the lab's data).")
@click.option("--with-netbox", is_flag=True,
              help="Also start a NetBox 4.7 (PostgreSQL, Redis, gunicorn on a free loopback "
                   "port) and add it to the target. The first time installs it (~5 min).")
def lab_up(inventory: Path, today: date, targets_file: Path, state_dir: Path,
           address: str, fresh: bool, with_netbox: bool) -> None:
    """Start the lab DC for the inventory's domain and write the `lab` target.

    The lab keeps its data between `lab down` and `lab up`; `--fresh` starts it empty.

    \b
    Examples:
      ssc-infra lab up
      ssc-infra lab up --with-netbox && ssc-infra netbox push --yes
      ssc-infra lab up --with-netbox --source netbox   # tenants for partners in NetBox
    """
    from ssc_infra.lab import lab_address, start_dc

    netbox: dict[str, Any] = {}
    if with_netbox:
        # NetBox first: with `--source netbox` the region is read from it (the lab's tenants
        # follow a partner onboarded into NetBox).
        from ssc_infra.netbox_lab import start_netbox

        with err.status("starting the lab NetBox (the first time installs and migrates it: "
                        "~5 min)..."):
            server = start_netbox(_netbox_dir(state_dir))
        netbox = {"netbox": {"url": server.url, "token_file": str(server.token_file)}}
        out.print(f"lab NetBox runs at {server.url}/ — web UI login: user admin, password "
                  f"in {server.admin_password_file} (0600)")
        if targets_file.exists():  # where it runs now (its port may be another than before)
            write_target(targets_file, "lab", netbox, merge=True)
    region = _load(inventory, today)
    address = lab_address(_lab_dir(state_dir), address)
    with err.status("starting the lab DC (the first time provisions a domain: ~10 s)..."):
        dc = start_dc(_lab_dir(state_dir), region.directory.domain, address, fresh=fresh)
    from ssc_infra.graph_lab import start_graph_emulator

    with err.status("starting the lab's Graph emulator (a tenant per partner)..."):
        graph = start_graph_emulator(_graph_dir(state_dir), address, region)
    out.print(f"lab Microsoft 365: the Graph EMULATOR (not a real tenant) runs at {graph.url} "
              f"with {len(graph.tenants)} tenants, one per partner")
    write_target(targets_file, "lab", {**netbox, "graph": graph.target(), "ad": {
        "url": dc.url, "bind_user": dc.bind_user, "base_dn": dc.base_dn,
        "ca_file": str(dc.ca_file), "tls_names": [dc.tls_name],
        "bind_password_file": str(dc.password_file), "workers": 4,
    }, "ansible": {
        # The workplace hosts of the lab are folders: every managed path is below ROOT/<host>.
        "connection": "local", "root": str(state_dir.resolve() / "lab" / "hosts"),
        "reload": False, "unknown_owner": "keep",
    }})
    out.print(f"lab DC for {dc.domain} runs at {dc.url} (pid {dc.pid}); workplace hosts are "
              f"folders in {state_dir / 'lab' / 'hosts'}; target `lab` written to {targets_file}")


@lab.command("down")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True)
def lab_down(state_dir: Path) -> None:
    """Stop the lab DC (its data stays in STATE_DIR/lab until the next `lab up`)."""
    from ssc_infra.graph_lab import graph_status, stop_graph_emulator
    from ssc_infra.lab import dc_status, stop_dc
    from ssc_infra.netbox_lab import netbox_status, stop_netbox

    server = netbox_status(_netbox_dir(state_dir))
    if server is not None:
        stop_netbox(server)
        out.print(f"stopped the lab NetBox at {server.url}")
    graph = graph_status(_graph_dir(state_dir))
    if graph is not None:
        stop_graph_emulator(graph)
        out.print(f"stopped the lab's Graph emulator at {graph.url}")
    dc = dc_status(_lab_dir(state_dir))
    if dc is None:
        out.print("the lab DC is not running")
        return
    stop_dc(dc)
    out.print(f"stopped the lab DC (pid {dc.pid})")


@lab.command("status")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True)
def lab_status(state_dir: Path) -> None:
    """Is the lab DC running? Exit 0 when it is, 1 when not."""
    from ssc_infra.lab import dc_status

    dc = dc_status(_lab_dir(state_dir))
    if dc is None:
        out.print("the lab DC is not running; start it with `ssc-infra lab up`")
        sys.exit(EXIT_ERROR)
    out.print(f"the lab DC for {dc.domain} runs at {dc.url} (pid {dc.pid})")
    from ssc_infra.netbox_lab import netbox_status

    server = netbox_status(_netbox_dir(state_dir))
    if server is not None:
        out.print(f"the lab NetBox runs at {server.url}/")
    from ssc_infra.graph_lab import graph_status

    graph = graph_status(_graph_dir(state_dir))
    if graph is not None:
        out.print(f"the lab's Graph emulator runs at {graph.url} (pid {graph.pid})")


@lab.command("entra-sync")
@inventory_options
@click.option("--targets", "targets_file", type=click.Path(path_type=Path, dir_okay=False),
              default=DEFAULT_TARGETS, show_default=True, help="The targets file.")
@click.option("--target", "target_name", envvar="SSC_TARGET", default="lab", show_default=True,
              help="The lab target (its DC is read).")
@click.option("--state-dir", type=click.Path(path_type=Path, file_okay=False),
              default=Path(".ssc"), show_default=True, help="The lab lives in STATE_DIR/lab.")
def lab_entra_sync(inventory: Path, today: date, targets_file: Path, target_name: str,
                   state_dir: Path) -> None:
    """The lab's Entra Connect: copy the hybrid partners' AD accounts and licence groups into
    their tenants in the Graph emulator, with group-based licensing on the licence groups.

    A real tenant gets this from Entra Connect every 30 minutes; the lab has none, so run this
    after an apply to see the hybrid partners verified (`drift` reports users not synced yet
    as waiting, not as drift).

    \b
    Examples:
      ssc-infra apply --yes && ssc-infra lab entra-sync && ssc-infra drift
    """
    from ssc_infra.ad.backend import LdapDirectory
    from ssc_infra.graph_lab import entra_sync, graph_status
    from ssc_infra.run.directory import scope_of

    graph = graph_status(_graph_dir(state_dir))
    if graph is None:
        raise SscError("the lab's Graph emulator is not running: start it with `ssc-infra lab "
                       "up`")
    region = _load(inventory, today)
    target = load_target(targets_file, target_name)
    with err.status("reading the lab DC..."):
        state = LdapDirectory(ad_settings(target, target_name)).read(scope_of(region), 4)
    if target.graph is None or not target.graph.emulator:
        raise SscError(f"target {target_name!r} is not the lab's: its `graph:` is not the "
                       "emulator (a real tenant has Entra Connect of its own)")
    # The lab names a tenant per partner; one onboarded since `lab up` has none yet.
    tenants = {p.code: target.graph.tenants[p.code] for p in region.partners
               if p.code in target.graph.tenants}
    for p in region.partners:
        if p.code not in tenants and p.identity is Identity.HYBRID:
            err.print(f"[yellow]{escape(p.code)}: no tenant in the lab's Graph emulator yet[/] "
                      "(onboarded since `lab up`): run `ssc-infra lab up` to add it")
    synced_any = False
    for synced in entra_sync(region, state, tenants, graph.control()):
        synced_any = True
        groups = "licence group" + ("" if synced.groups == 1 else "s")
        out.print(f"{escape(synced.partner)}: {synced.users:,} accounts and {synced.groups} "
                  f"{groups} synchronised into its tenant (emulator)")
    if not synced_any:
        out.print("no hybrid partner to synchronise")


# The command groups of their own modules register themselves on `main`.
import ssc_infra.cli.netbox  # noqa: E402
import ssc_infra.cli.partner  # noqa: E402
import ssc_infra.cli.report  # noqa: E402
import ssc_infra.cli.retention  # noqa: E402
import ssc_infra.cli.show  # noqa: E402,F401
