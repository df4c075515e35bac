"""The run model's promises, tried as an attacker and a careless day would: held means held on
the hosts too, an old or edited plan never rolls anything back. Real Samba DC, real Ansible."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_ad import Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)
from tests.integration.test_one_plan import BETA_HYBRID
from tests.integration.test_one_plan import lab as one_plan_lab  # noqa: F401  (fixture `lab`)

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(one_plan_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    """The mini inventory with the test DC and lab hosts (folders), as in test_one_plan."""
    return one_plan_lab

NEW_IN_ALPHA = {"file": "people/alpha.csv",
                "append": "1099,Sytske,,Wiersma,Burgerzaken,Medewerker,alp-hq,vdi,2020-01-01,\n"}
NEW_IN_BETA = {"file": "people/beta.csv",
               "append": "2099,Durk,,Kuipers,Handhaving,Inspecteur,bet-kantoor,vdi,2020-01-01,\n"}
# Two of alpha's four current people leave on the same day: more than its guard allows.
ALPHA_LEAVERS = {"file": "people/alpha.csv",
                 "replace": ["Burgerzaken,Medewerker,alp-hq,laptop,2015-03-01,",
                             "Burgerzaken,Medewerker,alp-hq,laptop,2015-03-01,2026-11-01"]}
ALPHA_LEAVERS_2 = {"file": "people/alpha.csv",
                   "replace": ["Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,",
                               "Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,2026-11-01"]}


def _host_files(lab: Lab) -> dict[str, str]:
    hosts = lab.state.parent / "hosts"
    return {str(p.relative_to(hosts)): p.read_text() for p in sorted(hosts.rglob("etc/**/*"))
            if p.is_file() and "ssc-check" not in p.name}


def _vdi_users(lab: Lab) -> set[str]:
    data = json.loads((lab.state.parent / "hosts/vdi01/etc/ssc-vdi/assignments.json").read_text())
    return {a["sam"] for a in data["assignments"]}


def _vdi_users_in(files: dict[str, str]) -> set[str]:
    data = json.loads(files["vdi01/etc/ssc-vdi/assignments.json"])
    return {a["sam"] for a in data["assignments"]}


def test_a_partner_held_by_the_guard_keeps_its_part_of_every_host_file(lab: Lab) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    before = _host_files(lab)
    homes = lab.state.parent / "hosts/fs01/srv/homes/alpha"
    homes_before = sorted(p.name for p in homes.iterdir())

    # Alpha's people leave en masse (the guard holds alpha); beta hires the same day.
    lab.edit(ALPHA_LEAVERS, ALPHA_LEAVERS_2, NEW_IN_BETA)
    applied = lab.apply()
    assert applied.code == 2, applied.out + applied.err
    assert "--allow-disable alpha=2" in applied.err
    after = _host_files(lab)
    assert "dkuipers" in _vdi_users(lab)  # beta went on
    # The VPN peer of a leaving alpha laptop user stays, as does every other file's alpha part.
    assert after["vpn01/etc/wireguard/wg0.conf"] == before["vpn01/etc/wireguard/wg0.conf"]
    assert after["dhcp01/etc/kea/kea-dhcp4.conf"] == before["dhcp01/etc/kea/kea-dhcp4.conf"]
    radius = "rad01/etc/freeradius/3.0/mods-config/files/authorize"
    assert after[radius] == before[radius]
    assert sorted(p.name for p in homes.iterdir()) == homes_before
    assert _vdi_users(lab) - {"dkuipers"} == _vdi_users_in(before)

    # With the override, alpha is applied: its leavers go from the files and homes.
    released = lab.apply("--allow-disable", "alpha=2")
    assert released.code == 0, released.out + released.err
    assert _host_files(lab)["vpn01/etc/wireguard/wg0.conf"] != before[
        "vpn01/etc/wireguard/wg0.conf"]
    assert lab.cli("drift").code == 0


def test_a_truncated_export_is_held_before_validation_and_the_hosts_keep_it(lab: Lab) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    before = _host_files(lab)
    people = lab.inventory / "people/alpha.csv"
    devices = lab.inventory / "devices/alpha.csv"
    rows = people.read_text().splitlines()
    people.write_text("\n".join(rows[:2]) + "\n")  # an export cut off after its first person
    devices.write_text(devices.read_text().splitlines()[0] + "\n")
    lab.edit(NEW_IN_BETA)
    planned = lab.cli("plan")
    assert planned.code == 1
    lines = [line for line in planned.err.splitlines() if "fewer than as applied" in line]
    assert len(lines) == 1 and "partner alpha: 1 rows" in lines[0]
    assert lab.apply().code == 1
    after = _host_files(lab)
    for path in ("vpn01/etc/wireguard/wg0.conf", "dhcp01/etc/kea/kea-dhcp4.conf"):
        assert after[path] == before[path], path
    assert _vdi_users(lab) == _vdi_users_in(before) | {"dkuipers"}
    # The truncated file did not become "as last applied".
    kept = lab.state / "applied-inventory/people/alpha.csv"
    assert len(kept.read_text().splitlines()) == len(rows)


def test_apply_for_one_partner_changes_only_its_part_of_shared_files(lab: Lab) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    lab.edit(NEW_IN_ALPHA, NEW_IN_BETA)
    applied = lab.apply("--partner", "beta")
    assert applied.code == 0, applied.out + applied.err
    assert "dkuipers" in _vdi_users(lab) and "swiersma" not in _vdi_users(lab)
    assert not (lab.state.parent / "hosts/fs01/srv/homes/alpha/swiersma").exists()
    assert lab.apply("--partner", "alpha").code == 0
    assert {"dkuipers", "swiersma"} <= _vdi_users(lab)
    assert lab.cli("drift").code == 0


def test_an_old_saved_plan_never_rolls_the_hosts_back(lab: Lab, tmp_path: Path) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    lab.edit(NEW_IN_ALPHA)
    old = tmp_path / "old.plan.json"
    assert lab.cli("plan", "--out", str(old)).code == 2  # reviewed: Sytske joins
    assert lab.apply().code == 0
    lab.edit(ALPHA_LEAVERS)  # then Wâtse leaves, applied the next day
    assert lab.apply("--allow-disable", "alpha=1").code == 0
    wg = (lab.state.parent / "hosts/vpn01/etc/wireguard/wg0.conf").read_text()
    archived = sorted((lab.state.parent / "hosts/fs01/srv/archive/homes/alpha").iterdir())

    stale = lab.apply(str(old))
    assert stale.code == 1, stale.out + stale.err
    assert "changed since the plan was made" in stale.err
    assert (lab.state.parent / "hosts/vpn01/etc/wireguard/wg0.conf").read_text() == wg
    assert sorted((lab.state.parent / "hosts/fs01/srv/archive/homes/alpha").iterdir()) == \
        archived  # the leaver's home was not brought back
    assert lab.cli("drift").code == 0


def test_a_hand_edited_plan_is_refused_whole(lab: Lab, tmp_path: Path) -> None:
    lab.edit(BETA_HYBRID)
    plan_file = tmp_path / "plan.json"
    assert lab.cli("plan", "--out", str(plan_file)).code == 2
    data = json.loads(plan_file.read_text())
    data["sections"]["directory"]["changes"].append({
        "backend": "directory", "kind": "members", "action": "update", "partner": "alpha",
        "key": "Domain Admins", "target": f"CN=Domain Admins,CN=Users,{lab.base}",
        "destructive": False,
        "before": {"members": []},
        "after": {"add": [f"CN=Wâtse Bûmâ,OU=alpha,OU=Partners,{lab.base}"], "remove": []}})
    plan_file.write_text(json.dumps(data))
    refused = lab.apply(str(plan_file))
    assert refused.code == 1 and "seal does not match" in refused.err
    assert lab.users() == {}  # nothing at all was applied
    unsealed = {k: v for k, v in data.items() if k != "seal"}
    plan_file.write_text(json.dumps(unsealed))
    assert "has no seal" in lab.apply(str(plan_file)).err

