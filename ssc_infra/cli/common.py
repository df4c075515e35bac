"""What every command module shares: the console, exit codes, the common options, the
inventory source of a command, the run request, progress, and the errors turned into messages.

Exit codes (as `terraform plan -detailed-exitcode`): 0 nothing to do or success, 2 changes
pending or drift found, 1 error. Values from the inventory are escaped before they reach
rich markup.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ssc_infra.core.approval import Approval
from ssc_infra.core.errors import InventoryError, Problem, SscError, quoted
from ssc_infra.core.model import Region
from ssc_infra.core.plan import Backend, ItemResult, parse_allow_disable
from ssc_infra.report import (
    console,
    json_text,
    problem_lines,
)
from ssc_infra.run import (
    Hooks,
    RunRequest,
)
from ssc_infra.run.sources import Context, make_source
from ssc_infra.run.targets import (
    DEFAULT_TARGETS,
    Target,
    load_target,
    netbox_settings,
)
from ssc_infra.sources import InventorySource
from ssc_infra.sources.governance import load_governance
from ssc_infra.sources.holds import HOLDS_FILE
from ssc_infra.state.approval import read_approvals

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
F = TypeVar("F", bound=Callable[..., Any])

# Wide enough for the partner table when the output goes to a file or a pipe.
# emoji off: a surname like ":x:" is data, never a picture; values are escaped before markup.
out = console(width=None if sys.stdout.isatty() else 160)
err = console(stderr=True, width=None if sys.stderr.isatty() else 160)


def parse_today(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date:
    if value is None:
        return date.today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{quoted(value)} is not a date; write YYYY-MM-DD") from None


def inventory_options(command: F) -> F:
    """--inventory and --today, which every command that reads the inventory takes."""

    @click.option("--inventory", "inventory", type=click.Path(path_type=Path, file_okay=False),
                  default=Path("inventory"), show_default=True,
                  help="The inventory folder (region.yaml, partners/, people/, devices/).")
    @click.option("--today", callback=parse_today, metavar="YYYY-MM-DD",
                  help="Run as if it were this day (reproducible runs). Default: today.")
    @click.option("--source", "source", type=click.Choice(["files", "netbox"]),
                  envvar="SSC_SOURCE", default=None,
                  help="Read the inventory from the folder's files, or from the target's "
                       "NetBox (people still from the folder's HR exports). Default: the "
                       "target's `source:`, else files.")
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().meta[SOURCE_KEY] = kwargs.pop("source")
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


SOURCE_KEY = "ssc_infra.source"


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


def source_for(inventory: Path) -> InventorySource:
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
    name = ctx.meta.get(SOURCE_KEY)
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


def load_region(inventory: Path, today: date) -> Region:
    return source_for(inventory).load(today).strict()


def print_problems(problems: list[Problem]) -> None:
    for line in problem_lines(problems):
        err.print(line, soft_wrap=True)


def print_json(data: Any) -> None:
    click.echo(json_text(data))


class UsageError(click.UsageError):
    """A typo in an option is an error (1), never "changes pending" (2) to a script."""

    exit_code = EXIT_ERROR


class CommandGroup(click.Group):
    """Turns our errors into messages and exit codes, in one place."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as e:
            raise UsageError(e.format_message(), e.ctx) from e
        except InventoryError as e:
            print_problems(e.problems)
            ctx.exit(EXIT_ERROR)
        except SscError as e:
            err.print(f"[bold red]error:[/] {escape(str(e))}", soft_wrap=True)
            ctx.exit(EXIT_ERROR)


def check_partners(region: Region, partners: tuple[str, ...]) -> None:
    known = {p.code for p in region.partners}
    unknown = [c for c in partners if c not in known]
    if unknown:
        raise click.BadParameter(
            f"unknown partner {', '.join(map(quoted, unknown))}; known: "
            f"{', '.join(sorted(known))}",
            param_hint="--partner",
        )


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


approval_option = click.option(
    "--approval", "approval_file", type=click.Path(path_type=Path, dir_okay=False),
    help="Another engineer's approval of this operation (`ssc-infra approve --operation ... "
         "--out FILE`), when governance.yaml asks for one.")
partner_option = click.option("--partner", "partners", multiple=True, metavar="CODE",
                              help="Only this partner (repeatable). Default: all.")
allow_option = click.option(
    "--allow-disable", "allow_disable", multiple=True, metavar="PARTNER=N",
    help="Let PARTNER's plan disable up to N accounts despite the guard (repeatable).")


def operation_approvals(approval_file: Path | None) -> tuple[Approval, ...]:
    """The approvals passed with --approval, none without it."""
    return read_approvals(approval_file) if approval_file is not None else ()


def run_request(inventory: Path, today: date, targets_file: Path, target_name: str,
                state_dir: Path, partners: tuple[str, ...], allow_disable: tuple[str, ...],
                command: str, enable: tuple[str, ...] = (),
                holds_file: Path | None = None) -> RunRequest:
    try:
        overrides = parse_allow_disable(allow_disable)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--allow-disable") from None
    if holds_file is None and (inventory / HOLDS_FILE).exists():
        holds_file = inventory / HOLDS_FILE  # the inventory's own holds file
    return RunRequest(source_for(inventory), today, targets_file, target_name, state_dir,
                      partners, overrides, command, enable, holds_file,
                      governance=load_governance(inventory))


enable_option = click.option(
    "--enable", "enable", multiple=True, metavar="PARTNER/ID",
    help="Enable this account although it was disabled by hand (a lock), e.g. alpha/1002 "
         "(repeatable).")
holds_option = click.option(
    "--holds", "holds_file", type=click.Path(path_type=Path, dir_okay=False),
    help="The holds file: accounts locked on purpose and known unmanaged objects. Default: "
         "holds.yaml in the inventory, when it exists.")


def spinner(text: str) -> Any:
    return err.status(escape(text))


HOOKS = Hooks(status=spinner)


_PLURAL = {"ou": "OUs", "group": "groups", "account": "accounts", "members": "memberships"}


@contextlib.contextmanager
def item_progress() -> Iterator[Hooks]:
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

        yield Hooks(status=spinner, on_item=on_item)
