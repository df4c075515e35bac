"""The `ssc-infra` command: the top group, every command module's commands on it, and the
command groups other installed packages register (entry point group `ssc_infra.commands`, e.g.
`lab` from ssc-infra-lab). The only place that exits.
"""

from __future__ import annotations

import click

from ssc_infra import __version__
from ssc_infra.cli import (
    bundle,
    inventory,
    lab,
    netbox,
    partner,
    report,
    retention,
    runs,
    show,
)
from ssc_infra.cli.common import CommandGroup


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
                inventory.render, runs.plan, runs.drift, runs.apply, show.show, show.history,
                retention.leavers_command, retention.purge_command, partner.partner,
                bundle.bundle, netbox.netbox, report.report, lab.lab):
    main.add_command(command)
