"""A plan reads each host once and checks in full only the hosts whose read changed; apply
still refuses a file that changed since the plan; drift checks every host in full.

Real Samba DC, real Ansible over the lab's host folders.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.integration.test_ad import Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)
from tests.integration.test_one_plan import lab as one_plan_lab  # noqa: F401

pytestmark = pytest.mark.integration
HOSTS = {"dhcp01", "fs01", "rad01", "vdi01", "vpn01"}


@pytest.fixture
def lab(one_plan_lab: Lab) -> Lab:  # noqa: F811
    return one_plan_lab


def _plan(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    run = lab.cli("plan", "--format", "json", *args)
    assert run.code in (0, 2), run.out + run.err
    return run.code, json.loads(run.out)["sections"]["hosts"]


def _changed(hosts: dict[str, Any]) -> set[str]:
    return {c["key"] for c in hosts["changes"]}


def test_a_plan_checks_in_full_only_the_hosts_whose_read_changed(lab: Lab) -> None:
    assert lab.apply().code == 0
    root = lab.state.parent / "hosts"
    code, hosts = _plan(lab)
    assert code == 0 and set(hosts["in_sync"]) == HOSTS and not hosts["changes"]
    text = lab.cli("plan")
    assert "5 hosts unchanged since the last run, by one read each" in text.out

    # By hand: a line in the VPN config, a mode on smb.conf, a home folder gone.
    wg = root / "vpn01/etc/wireguard/wg0.conf"
    wg.write_text(wg.read_text() + "# added by hand\n")
    (root / "fs01/etc/samba/smb.conf").chmod(0o600)
    home = next((root / "fs01/srv/homes/alpha").iterdir())
    shutil.rmtree(home)
    code, hosts = _plan(lab)
    assert code == 2 and set(hosts["in_sync"]) == {"dhcp01", "rad01", "vdi01"}
    changed = _changed(hosts)
    assert "vpn01:/etc/wireguard/wg0.conf" in changed
    assert "fs01:homes/alpha" in changed and "fs01:/etc/samba/smb.conf" in changed
    homes = next(c for c in hosts["changes"] if c["kind"] == "homes")
    assert homes["after"]["create"] == [f"alpha/{home.name}"]

    # drift never trusts the record: every host in full.
    drift = lab.cli("drift", "--format", "json")
    assert drift.code == 2, drift.out + drift.err
    assert json.loads(drift.out)["sections"]["hosts"]["in_sync"] == []

    # A saved plan expects the recorded digests of the hosts it did not run: a file changed
    # on one of them after the plan is refused there, the reviewed changes go on.
    plan_file = lab.state.parent / "plan.json"
    planned = lab.cli("plan", "--out", str(plan_file))
    assert planned.code == 2, planned.out + planned.err
    kea = root / "dhcp01/etc/kea/kea-dhcp4.conf"
    kea.write_text(kea.read_text().replace('"valid-lifetime"', '"valid-lifetime" ', 1))
    edited = kea.read_text()
    applied = lab.apply(str(plan_file))
    assert applied.code == 1, applied.out + applied.err
    assert "dhcp01" in applied.out + applied.err and "changed since the plan" in \
        applied.out + applied.err
    assert kea.read_text() == edited  # left as the engineer made it
    assert "# added by hand" not in wg.read_text() and home.is_dir()

    # Once a full run puts it right, the next plan finds every host by one read again.
    assert lab.apply().code == 0
    code, hosts = _plan(lab)
    assert code == 0 and set(hosts["in_sync"]) == HOSTS


def test_a_change_to_the_inventory_checks_the_hosts_it_touches_in_full(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv",
              "append": "1099,Sytske,,Wiersma,Burgerzaken,Medewerker,alp-hq,vdi,2020-01-01,\n"})
    code, hosts = _plan(lab)
    assert code == 2
    assert "vdi01:/etc/ssc-vdi/assignments.json" in _changed(hosts)
    assert "fs01:homes/alpha" in _changed(hosts)
    assert "vdi01" not in hosts["in_sync"] and "fs01" not in hosts["in_sync"]
    assert "dhcp01" in hosts["in_sync"]  # its file does not change: one read is enough
    # A host with changes is no longer recorded in sync: the next plan checks it in full.
    records = lab.state / "hosts-in-sync.json"
    assert set(json.loads(records.read_text())) == {"dhcp01", "rad01", "vpn01"}
    assert records.stat().st_mode & 0o077 == 0  # it names the hosts' paths: 0600
