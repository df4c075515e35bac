"""Workplaces: stable addresses, what each host gets, rendering and its errors. No servers."""

from __future__ import annotations

import json
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.core.addresses import AddressError, allocate
from ssc_infra.core.desired import derive
from ssc_infra.core.model import Device, DeviceKind, Region
from ssc_infra.core.workplaces import Workplaces, derive_workplaces
from ssc_infra.hosts.render import (
    HOMES_DATA,
    RenderError,
    bundle_digest,
    environment,
    render_host_files,
    render_template,
    write_host_files,
)
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY, data_cases


@pytest.mark.parametrize("case", data_cases("addresses"))
def test_allocate(case: dict[str, Any]) -> None:
    network = IPv4Network(case["network"])
    existing = {k: IPv4Address(v) for k, v in case["existing"].items()}
    if "error" in case:
        with pytest.raises(AddressError, match=case["error"]):
            allocate(case["keys"], network, case["first"], case["last"], existing)
        return
    got = allocate(case["keys"], network, case["first"], case["last"], existing)
    assert sorted(got) == sorted(set(case["keys"]))
    assert len(set(got.values())) == len(got)
    base = int(network.network_address)
    assert all(case["first"] <= int(a) - base <= case["last"] for a in got.values())
    for key, address in case.get("expect", {}).items():
        assert got[key] == IPv4Address(address)
    if "expect_count" in case:
        assert len(got) == case["expect_count"]


def test_adding_a_device_moves_no_other_even_without_kept_addresses() -> None:
    network = IPv4Network("10.250.0.0/16")
    keys = [f"LWD-L-{n:05d}" for n in range(2000)]
    before = allocate(keys, network, 16, 65533)
    after = allocate([*keys, "LWD-L-99999"], network, 16, 65533, before)
    assert {k: after[k] for k in keys} == before


def region() -> Region:
    return load(MINI, TODAY)


def workplaces(r: Region | None = None) -> Workplaces:
    r = r or region()
    return derive_workplaces(r, derive(r, TODAY))


def test_homes_are_for_current_people_of_ad_partners_only() -> None:
    fs = workplaces().fileserver
    homes = {(h.partner, h.name) for h in fs.homes}
    assert fs.partners == ("alpha",)  # beta is cloud-only: no AD account, no home share
    assert {p for p, _ in homes} == {"alpha"}
    assert len(homes) == 4  # 1004 has left; 1005 is in the pre-start window
    assert all(h.owner == f"SSC\\{h.name}" for h in fs.homes)
    assert [s.name for s in fs.shares] == ["alpha"]


def test_vpn_peers_are_laptops_of_current_people_with_stable_addresses() -> None:
    r = region()
    w = workplaces(r)
    assert [p.asset_tag for p in w.vpn.peers] == ["ALP-L-0001", "BET-L-0001"]  # not the leaver's
    assert all(p.address in w.vpn.network for p in w.vpn.peers)
    # A new laptop for a colleague moves nobody.
    alpha = r.partner("alpha")
    laptop = Device("alpha", "ALP-L-0009", DeviceKind.LAPTOP, "1002",
                    wg_public_key="UE5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo=")
    grown = replace(r, partners=(replace(alpha, devices=(*alpha.devices, laptop)),
                                 r.partner("beta")))
    again = derive_workplaces(grown, derive(grown, TODAY), w.allocations_typed())
    kept = {p.asset_tag: p.address for p in again.vpn.peers}
    assert all(kept[p.asset_tag] == p.address for p in w.vpn.peers)
    assert "ALP-L-0009" in kept


def test_more_laptops_than_the_vpn_network_holds_says_so_not_subnet(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # One VPN network serves every partner's laptops (10.250.0.0/16: 65,519 of them); a
    # region with more is an error that names the VPN, not a site's subnet. Shrunk to show it.
    monkeypatch.setattr("ssc_infra.core.workplaces.VPN_NETWORK", IPv4Network("10.250.0.0/28"))
    r = region()
    alpha = r.partner("alpha")
    more = tuple(Device("alpha", f"ALP-L-01{i:02d}", DeviceKind.LAPTOP, "1002",
                        wg_public_key=f"{i:02d}" + "5xV2bRcKr8CU5VZzqV2WZ6sA6Hjs3ppw7ZxbIUhUo=")
                 for i in range(3))
    grown = replace(r, partners=(replace(alpha, devices=(*alpha.devices, *more)),
                                 r.partner("beta")))
    with pytest.raises(AddressError, match="every laptop of the region") as raised:
        derive_workplaces(grown, derive(grown, TODAY))
    assert "subnet" not in str(raised.value)


def test_thin_client_reserved_in_the_subnet_of_the_vlan_radius_puts_it_on() -> None:
    r = region()
    w = workplaces(r)
    subnets = {s.site: s for s in w.dhcp.subnets}
    # Beta's thin client stands at alpha's shared site hq, yet gets beta's VLAN, so its
    # reservation is in beta's subnet, not in hq's.
    beta_client = next(d for d in w.radius.devices if d.asset_tag == "BET-T-0001")
    assert beta_client.vlan == 210
    assert beta_client.mac == "020000000202"
    assert [x.asset_tag for x in subnets["bet-kantoor"].reservations] == ["BET-T-0001"]
    assert subnets["alp-hq"].reservations == ()
    # At one of its own partner's sites a client is on that site's VLAN and in its subnet.
    assert [x.asset_tag for x in subnets["alp-werf"].reservations] == ["ALP-T-0001"]
    assert next(d for d in w.radius.devices if d.asset_tag == "ALP-T-0001").vlan == 111
    for s in w.dhcp.subnets:
        for reservation in s.reservations:
            assert reservation.address in s.subnet
            assert not (s.pool_start <= reservation.address <= s.pool_end)


def test_for_every_thin_client_the_radius_vlan_is_the_vlan_of_its_reservations_subnet() -> None:
    r = region()
    w = workplaces(r)
    vlan_of_subnet = {site.subnet: site.vlan for p in r.partners for site in p.sites}
    reserved_in = {x.asset_tag: s.subnet for s in w.dhcp.subnets for x in s.reservations}
    assert {d.asset_tag: d.vlan for d in w.radius.devices} == \
        {tag: vlan_of_subnet[net] for tag, net in reserved_in.items()}


def test_a_reservation_moves_to_its_vlans_subnet_once_then_keeps_its_address() -> None:
    r = region()
    # As an earlier version kept them: each thin client in the subnet of the site it stands at.
    before = {"dhcp": {"BET-T-0001": IPv4Address("10.20.2.7"),
                       "ALP-T-0001": IPv4Address("10.20.4.200")}}
    moved = derive_workplaces(r, derive(r, TODAY), before)
    got = {x.asset_tag: x.address for s in moved.dhcp.subnets for x in s.reservations}
    assert got["BET-T-0001"] in IPv4Network("10.30.0.0/24")
    assert got["ALP-T-0001"] == IPv4Address("10.20.4.200")  # at its own site: stays
    again = derive_workplaces(r, derive(r, TODAY), moved.allocations_typed())
    assert again.allocations() == moved.allocations()
    # An address kept inside the right subnet stays as it is.
    kept = {"dhcp": {"BET-T-0001": IPv4Address("10.30.0.77")}}
    stays = derive_workplaces(r, derive(r, TODAY), kept)
    assert stays.allocations()["dhcp"]["BET-T-0001"] == "10.30.0.77"


def test_vdi_pools_per_partner_with_its_applications() -> None:
    vdi = workplaces().vdi
    pools = {p.name: p for p in vdi.pools}
    assert pools["alpha-desktop"].apps == ("zaaksysteem-rex",)
    assert pools["beta-desktop"].apps == ()
    users = {a.sam: a.pool for a in vdi.assignments}
    assert set(users.values()) == {"alpha-desktop"}
    assert len(users) == 2  # Jan de Vries and the pre-start Anna de Boer-van der Wal


def test_bundle_holds_each_hosts_files_and_the_homes_list(tmp_path: Path) -> None:
    r = region()
    bundle = render_host_files(r, workplaces(r))
    assert set(bundle.files) == {"fs01", "vpn01", "dhcp01", "rad01", "vdi01"}
    assert set(bundle.files["fs01"]) == {"etc/samba/smb.conf", HOMES_DATA}
    homes = json.loads(bundle.files["fs01"][HOMES_DATA])
    assert len(homes["homes"]) == 4
    kea = json.loads(bundle.files["dhcp01"]["etc/kea/kea-dhcp4.conf"])
    assert len(kea["Dhcp4"]["subnet4"]) == 3
    vdi = json.loads(bundle.files["vdi01"]["etc/ssc-vdi/assignments.json"])
    assert vdi["format"] == "ssc-infra/vdi-assignments/v1"
    assert "PrivateKey" not in bundle.files["vpn01"]["etc/wireguard/wg0.conf"]
    write_host_files(bundle, tmp_path / "b")
    assert bundle_digest(tmp_path / "b") == bundle.digest()
    assert (tmp_path / "b" / "fs01" / "etc/samba/smb.conf").read_text() == \
        bundle.files["fs01"]["etc/samba/smb.conf"]


def test_same_inventory_renders_the_same_bundle() -> None:
    r = region()
    first, second = render_host_files(r, workplaces(r)), render_host_files(r, workplaces(r))
    assert first.digest() == second.digest()


@pytest.mark.parametrize(("template", "expected"), [
    ("line one\n{{ fs.workgroup }}\n{{ fs.no_such_thing }}\n", "bad.j2:3: .*no_such_thing"),
    ("line one\n{% for x in %}\n", "bad.j2:2: "),
    ("{{ missing_variable }}\n", "bad.j2:1: 'missing_variable' is undefined"),
])
def test_template_error_names_template_line_and_variable(
        tmp_path: Path, template: str, expected: str) -> None:
    (tmp_path / "bad.j2").write_text(template, encoding="utf-8")
    r = region()
    from ssc_infra.hosts.render import context

    with pytest.raises(RenderError, match=expected):
        render_template(environment(tmp_path), "bad.j2", context(r, workplaces(r)))
