"""The `ssc-infra` command: the top group with every command module's commands on it, and the
command groups other installed packages register.

A package adds a command group through the entry point group `ssc_infra.commands` (the
repository's lab, `lab/`, adds `ssc-infra lab`); ssc_infra itself never imports one. When the
lab is not installed, `ssc-infra lab` says how to install it.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import click

from ssc_infra import __version__
from ssc_infra.cli import (
    approve,
    bundle,
    delegate,
    hr,
    inventory,
    netbox,
    partner,
    partner_out,
    report,
    retention,
    review,
    runs,
    show,
)
from ssc_infra.cli.common import CommandGroup
from ssc_infra.core.errors import SscError

COMMANDS_GROUP = "ssc_infra.commands"
LAB_MISSING = ("the lab is not installed here: from a checkout of the repository run "
               "`make demo` (or `pip install --no-deps -e lab/` in the tool's venv); a "
               "production install has no lab")


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ssc-infra")
def main() -> None:
    """Identities and workplaces of a Shared Service Center: inventory, plan, apply, drift.

    \b
    Start with:
      ssc-infra validate                 check the inventory in ./inventory
      ssc-infra show                     a table per partner
      ssc-infra desired --partner ameland --format json
    """


for command in (inventory.validate, inventory.desired, inventory.schema, inventory.sample,
                inventory.render, runs.plan, runs.drift, runs.apply, approve.approve,
                delegate.delegate_command, show.show,
                show.history,
                retention.leavers_command, retention.purge_command, partner.partner,
                bundle.bundle, netbox.netbox, report.report, review.review, hr.hr):
    main.add_command(command)


partner.partner.add_command(partner_out.offboard)
partner.partner.add_command(partner_out.merge)


def _unavailable(name: str, why: str) -> click.Command:
    """A stand-in for a command group that is not installed (or does not load): says why."""

    @click.command(name, context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True, "help_option_names": []},
                   help=f"Not available: {why}.", add_help_option=False)
    @click.pass_context
    def stand_in(_ctx: click.Context) -> None:
        raise SscError(why)

    return stand_in


def add_installed(group: click.Group) -> None:
    """The command groups that installed packages register (`lab` from the repository's lab)."""
    for point in entry_points(group=COMMANDS_GROUP):
        if point.name in group.commands:
            continue  # a package never replaces a command of the tool's own
        loaded: Any
        try:
            loaded = point.load()
        except ModuleNotFoundError as e:
            if e.name != point.module.split(".")[0]:  # the add-on is there but lacks a part
                loaded = _unavailable(point.name, f"`{point.value}` does not load ({e})")
            elif point.name == "lab":  # only its metadata is left: not installed here
                continue
            else:
                loaded = _unavailable(point.name, f"the package of `{point.value}` is not "
                                                  "installed here")
        except Exception as e:  # a broken add-on must not break the tool's own commands
            loaded = _unavailable(point.name, f"`{point.value}` does not load ({e})")
        if isinstance(loaded, click.Command):
            group.add_command(loaded, point.name)
    if "lab" not in group.commands:
        group.add_command(_unavailable("lab", LAB_MISSING))


add_installed(main)
