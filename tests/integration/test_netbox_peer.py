"""A peer's view: NetBox's own inventory plugin (netbox.netbox.nb_inventory) pointed at the
NetBox the tool pushed to lists the same infrastructure hosts, grouped by role, with the same
addresses, as the project's Ansible inventory script."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from ssc_infra.core.errors import BackendError
from ssc_infra.netbox.objects import infra_slug
from ssc_infra.run.hostinventory import script_inventory
from ssc_infra_lab.netbox import NetBoxServer
from ssc_infra_lab.peer_inventory import hosts_by_group, nb_inventory, plain
from tests.integration.conftest import unavailable
from tests.integration.test_netbox import MINI, TODAY, push_inventory


def test_nb_inventory_lists_the_hosts_of_the_inventory_script(netbox: NetBoxServer,
                                                              tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    try:
        peer = nb_inventory(netbox.url, netbox.token(), infra_slug("tst"))
    except BackendError as e:
        unavailable("netbox.netbox collection", str(e), "make test (downloads ansible from "
                    "PyPI once, hash-checked)")
    ours = script_inventory(MINI, date.fromisoformat(TODAY))  # inventory/ansible_hosts.py
    roles = {"dhcp", "fileserver", "radius", "vdi_broker", "vpn_gateway"}
    assert {g: h for g, h in hosts_by_group(peer).items() if g in roles} == \
        {g: h for g, h in hosts_by_group(ours).items() if g in roles}
    peer_vars = peer["_meta"]["hostvars"]
    for host, values in ours["_meta"]["hostvars"].items():
        assert plain(peer_vars[host]["ansible_host"]) == values["ansible_host"], host
