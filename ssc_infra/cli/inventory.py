"""`validate`, `desired`, `schema`, `sample`, `render`: the commands that read the inventory
and change nothing outside the folders they are given.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

import click
from rich.markup import escape

from ssc_infra.cli.common import (
    EXIT_ERROR,
    check_partners,
    err,
    format_option,
    inventory_options,
    load_region,
    out,
    print_json,
    print_problems,
    source_for,
    source_target_options,
)
from ssc_infra.core.desired import derive
from ssc_infra.core.errors import InventoryError, Problem, SscError
from ssc_infra.core.model import Region
from ssc_infra.lifecycle.hrpull import mapping_problems
from ssc_infra.report import (
    desired_lines,
    jsonable,
    problems_json,
)
from ssc_infra.sources.governance import load_governance
from ssc_infra.sources.holds import HOLDS_FILE, load_run_holds
from ssc_infra.state.ledger import kept_names, load_ledger


@click.command()
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
    source = source_for(inventory)
    try:
        governance = load_governance(inventory)  # governance.yaml, beside region.yaml
    except InventoryError as e:
        governance_problems = list(e.problems)
    else:
        governance_problems = []
    try:
        loaded = source.load(today)
    except InventoryError as e:  # problems that stop the run for every partner
        _invalid([*governance_problems, *e.problems], [], fmt)
    if governance_problems:
        _invalid(governance_problems, [], fmt)
    try:  # holds.yaml beside region.yaml, as every run reads it
        _, bad_holds = load_run_holds(inventory / HOLDS_FILE, loaded.region, held=loaded.held)
    except InventoryError as e:  # a problem of the whole file stops every partner's run
        _invalid(e.problems, [], fmt)
    # A broken mapping file of a partner's HR system holds that partner's next `hr pull`.
    hr_problems = mapping_problems(inventory)
    if loaded.held or bad_holds or hr_problems:
        _invalid([*loaded.problems, *(p for found in bad_holds.values() for p in found),
                  *hr_problems], sorted({*loaded.held, *bad_holds}), fmt,
                 sorted({p.partner for p in hr_problems}))
    region = loaded.region
    people = region.people_count
    devices = sum(len(p.devices) for p in region.partners)
    sites = sum(len(p.sites) for p in region.partners)
    if fmt == "json":
        print_json({"valid": True, "region": region.code, "partners": len(region.partners),
                     "people": people, "devices": devices, "sites": sites})
        return
    out.print(f"[green]✓[/] {escape(source.describe())}: valid — {escape(region.name)} "
              f"({escape(region.code)}): "
              f"{len(region.partners)} partners, {people:,} people, {devices:,} devices, "
              f"{sites} sites, {len(region.hosts)} hosts, {len(governance.approvers)} "
              "approvers")


def _invalid(problems: list[Problem], held: list[str], fmt: str,
             hr_held: list[str] | None = None) -> NoReturn:
    """Every problem, and which partners plan, apply and drift would hold back, and which
    `hr pull` would (exit 1)."""
    if fmt == "json":
        print_json({"valid": False, "problems": problems_json(problems),
                     "held_partners": held, "hr_pull_held_partners": hr_held or []})
        sys.exit(EXIT_ERROR)
    print_problems(problems)
    if held:
        err.print(f"plan, apply and drift would hold back {escape(', '.join(held))} "
                  "(problems of their own: in their HR export, device list or sites, or "
                  "their moves.yaml or holds.yaml entries) and "
                  "go on with the other partners.", soft_wrap=True)
    elif not hr_held:
        err.print("these problems stop plan, apply and drift for every partner.", soft_wrap=True)
    if hr_held:
        err.print(f"hr pull would hold back {escape(', '.join(hr_held))} (the mapping file "
                  "its partner file names) and go on with the other partners"
                  + ("." if held else "; plan, apply and drift are not held by it."))
    sys.exit(EXIT_ERROR)


@click.command()
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
    region = load_region(inventory, today)
    check_partners(region, partners)
    state = derive(region, today, kept_names(load_ledger(state_dir), region))
    chosen = [p for p in state.partners if not partners or p.code in partners]
    if fmt == "json":
        print_json({"region": state.region, "today": today.isoformat(),
                     "base_dn": state.base_dn, "partners": jsonable(chosen)})
        return
    for line in desired_lines(chosen):
        out.print(line)


@click.command()
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
        print_json(schemas)
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"region.yaml": "region.schema.json", "partners/*.yaml": "partner.schema.json"}
    for key, data in schemas.items():
        target = out_dir / names[key]
        target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        out.print(f"wrote {target}")


@click.command()
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


@click.command()
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
    from ssc_infra.hosts.render import render_host_files, write_host_files
    from ssc_infra.state.allocations import load_allocations

    region = load_region(inventory, today)
    check_partners(region, partners)
    if partners:
        region = dataclasses.replace(
            region, partners=tuple(p for p in region.partners if p.code in partners))
    state = derive(region, today, kept_names(load_ledger(state_dir), region))
    workplaces = derive_workplaces(region, state, load_allocations(state_dir))
    bundle = render_host_files(region, workplaces)
    write_host_files(bundle, out_dir)
    for host, files in sorted(bundle.files.items()):
        for path in sorted(files):
            out.print(f"{out_dir / host / path}", markup=False)
    err.print(f"wrote {sum(len(f) for f in bundle.files.values())} files for "
              f"{len(bundle.files)} hosts to {out_dir}")
    if run_checks:
        _check_rendered(region, out_dir)


def _check_rendered(region: Region, out_dir: Path) -> None:
    from ssc_infra.hosts.checks import check_host_files

    style = {"ok": "[green]ok[/]", "failed": "[red]refused[/]", "skipped": "[yellow]skipped[/]"}
    failed = 0
    with err.status("checking the files with the daemons' checkers..."):
        results = list(check_host_files(region, out_dir))
    for r in results:
        reason = f": {escape(r.message)}" if r.message else ""
        err.print(f"  {style[r.status]} {escape(r.host)}:/{escape(r.path)}{reason}",
                  highlight=False)
        failed += r.status == "failed"
    if failed:
        raise SscError(f"{failed} of {len(results)} files refused by their checker; "
                       "fix the inventory value it names and render again")
    err.print(f"{len(results)} files checked")
