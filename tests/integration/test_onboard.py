"""Onboarding a municipality into an applied region, through the CLI as an engineer runs it,
against a real Samba DC and the workplace hosts with real Ansible: the plan holds only the new
partner's creates, and after the apply nobody who was there is changed."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ssc_infra.cli.main import main
from ssc_infra.core.model import Region
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.run.targets import load_target, netbox_settings
from ssc_infra_lab.netbox import NetBoxServer
from tests.conftest import MINI
from tests.integration.test_ad import TODAY, Lab
from tests.integration.test_netbox import Api
from tests.integration.test_one_plan import lab  # noqa: F401  (with the hosts as folders)

pytestmark = pytest.mark.integration

# An AFAS-style export of the fictional Gemeente Gamma: Windows-1252, semicolons, dd-mm-yyyy,
# its own column names and words. Amelia's infix is inside her surname; Gamma's Jan de Vries
# shares his name with alpha's Jan (jvries) and Jelle (jvries2) and beta's Johan (jvries3).
GAMMA_EXPORT = (
    "Medewerker;Roepnaam;Voorvoegsel;Achternaam;Afdeling;Functie;Standplaats;Werkplek;"
    "Datum in dienst;Datum uit dienst;Geslacht\r\n"
    "7001;Amelia;;van de Wal;Burgerzaken;Medewerker;Stadhuis;Virtuele werkplek;01-03-2016;;V\r\n"
    "7002;Jan;de;Vries;Financiën;Controller;Stadhuis;Laptop;15-09-2019;;M\r\n"
    "7003;Wâtse;;Van 't Hof;Ruimte;Adviseur;Stadhuis;Virtuele werkplek;01-01-2012;;M\r\n"
)
AFAS = {
    "encoding": "cp1252", "delimiter": ";", "dates": ["%d-%m-%Y"],
    "columns": {"employee_id": "Medewerker", "given_name": "Roepnaam", "infix": "Voorvoegsel",
                "surname": "Achternaam", "department": "Afdeling", "job_title": "Functie",
                "site": "Standplaats", "workplace": "Werkplek", "start_date": "Datum in dienst",
                "end_date": "Datum uit dienst"},
    "values": {"site": {"Stadhuis": "gam-hq"},
               "workplace": {"Laptop": "laptop", "Virtuele werkplek": "vdi"}},
}
GAMMA_LAPTOP = ("asset_tag,kind,employee_id,site,mac,wg_public_key\n"
                "GAM-L-7002,laptop,7002,,,qeoOdVpcLoIQJCoI5wePf4k4XrCUI1VRglaLluik/vI=\n")


def _gamma_files(tmp_path: Path) -> list[str]:
    """The engineer's files for Gamma, and the onboarding's options."""
    export = tmp_path / "gamma-afas.csv"
    export.write_bytes(GAMMA_EXPORT.encode("cp1252"))
    mapping = tmp_path / "afas.yaml"
    mapping.write_text(yaml.safe_dump(AFAS, allow_unicode=True), encoding="utf-8")
    devices = tmp_path / "gamma-devices.csv"
    devices.write_text(GAMMA_LAPTOP, encoding="utf-8")
    return ["partner", "onboard", "gamma", "--name", "Gemeente Gamma",
            "--upn-suffix", "gamma.example", "--people", str(export), "--columns", str(mapping),
            "--devices", str(devices), "--services", "m365-e3,vpn", "--quota", "10",
            "--site", "code=gam-hq,name=Gemeentehuis Gamma,vlan=310,subnet=10.40.0.0/24"]


def _snapshot(applied: Lab) -> dict[str, dict[str, Any]]:
    """What identifies a change to each account: its DN, names and update sequence number."""
    keep = ("sAMAccountName", "userPrincipalName", "displayName", "sn", "userAccountControl",
            "uSNChanged")
    return {sam: {"dn": u["dn"], **{k: u.get(k) for k in keep}}
            for sam, u in applied.users().items()}


def test_onboarding_a_municipality_into_the_applied_region(
        lab: Lab, tmp_path: Path) -> None:  # noqa: F811  (lab: the fixture imported above)
    assert lab.cli("partner", "onboard", "--help").code == 0
    # Beta turned hybrid so the DC holds three partners' worth of look-alikes.
    lab.edit({"file": "partners/beta.yaml", "replace": ["identity: cloud", "identity: hybrid"]})
    assert lab.apply().code == 0
    before = _snapshot(lab)
    assert {"jvries", "jvries2", "jvries3"} <= set(before)
    hosts = tmp_path / "hosts"
    homes_before = {p.name for p in (hosts / "fs01" / "srv/homes").iterdir()}

    onboarded = lab.cli(*_gamma_files(tmp_path), "--format", "json")
    assert onboarded.code == 2, onboarded.out + onboarded.err  # written; its plan is pending
    data = json.loads(onboarded.out)
    assert data["onboarded"] and data["split_surnames"] == 2
    assert data["written"] == ["people/gamma.csv", "devices/gamma.csv", "partners/gamma.yaml"]
    directory = data["plan"]["sections"]["directory"]["changes"]
    assert directory and {c["partner"] for c in directory} == {"gamma"}
    # Its OUs, groups and accounts are made, its groups filled; nothing else changes.
    assert {(c["kind"], c["action"]) for c in directory} == {
        ("ou", "create"), ("group", "create"), ("account", "create"), ("members", "update")}
    accounts = {c["key"]: c["after"] for c in directory if c["kind"] == "account"}
    assert accounts["gamma/7001"]["sAMAccountName"] == "awal"
    assert accounts["gamma/7001"]["displayName"] == "Wal, Amelia van de"
    assert accounts["gamma/7002"]["sAMAccountName"] == "jvries4"
    assert accounts["gamma/7003"]["sAMAccountName"] == "whof"
    host_changes = data["plan"]["sections"]["hosts"]["changes"]
    assert {c["partner"] for c in host_changes} <= {"gamma", ""}  # shared files and its homes
    homes = [c for c in host_changes if c["kind"] == "homes"]
    assert [c["after"]["create"] for c in homes] == [["gamma/awal", "gamma/jvries4",
                                                       "gamma/whof"]]
    # The same plan as `plan --partner gamma` shows; the text form names the new accounts.
    plan = lab.cli("plan", "--partner", "gamma")
    assert plan.code == 2 and 'awal "Wal, Amelia van de"' in plan.out

    # Onboarding the same partner again writes nothing over it.
    again = lab.cli(*_gamma_files(tmp_path))
    assert again.code == 1 and "exists already" in again.err

    applied = lab.apply("--partner", "gamma")
    assert applied.code == 0, applied.out + applied.err
    after = _snapshot(lab)
    assert {sam: after[sam] for sam in before} == before  # nobody who was there changed
    new = {sam: u for sam, u in lab.users().items() if sam not in before}
    assert set(new) == {"awal", "jvries4", "whof"}
    amelia = new["awal"]
    assert amelia["dn"].startswith("CN=Amelia van de Wal,") and "OU=gamma" in amelia["dn"]
    assert (amelia["sn"], amelia["givenName"]) == ("van de Wal", "Amelia")
    assert amelia["userPrincipalName"] == "amelia.vandewal@gamma.example"
    assert new["whof"]["displayName"] == "Hof, Wâtse van 't"
    assert new["jvries4"]["employeeID"] == "7002"
    assert {p.name for p in (hosts / "fs01" / "srv/homes").iterdir()} == \
        homes_before | {"gamma"}
    vdi = json.loads((hosts / "vdi01" / "etc/ssc-vdi/assignments.json").read_text())
    assert {a["sam"] for a in vdi["assignments"] if a["partner"] == "gamma"} == {"awal", "whof"}
    assert "GAM-L-7002" in (hosts / "vpn01" / "etc/wireguard/wg0.conf").read_text()
    assert lab.cli("drift").code == 0


def test_onboarding_with_netbox_as_the_source(netbox: NetBoxServer, tmp_path: Path) -> None:
    """The partner becomes NetBox objects (tenant, site, VLAN, prefix, devices); only its HR
    export goes into the inventory folder."""
    inventory = tmp_path / "inventory"
    shutil.copytree(MINI, inventory)
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"lab": {"netbox": {
        "url": netbox.url, "token_file": str(netbox.token_file)}}}), encoding="utf-8")
    common = ["--inventory", str(inventory), "--targets", str(targets), "--state-dir",
              str(tmp_path / "state"), "--today", TODAY]

    def cli(*args: str) -> Result:
        return CliRunner().invoke(main, [*args, *common], catch_exceptions=False)

    assert cli("netbox", "push", "--yes").exit_code == 0
    clash = cli(*_gamma_files(tmp_path)[:-1],
                "code=gam-hq,name=Gemeentehuis Gamma,vlan=110,subnet=10.40.0.0/24",
                "--source", "netbox", "--no-plan")
    assert clash.exit_code == 1 and "VLAN 110 of site 'gam-hq' is already used" in clash.stderr
    assert not (inventory / "people" / "gamma.csv").exists()

    onboarded = cli(*_gamma_files(tmp_path), "--source", "netbox", "--no-plan")
    assert onboarded.exit_code == 0, onboarded.output
    assert "objects of gamma to NetBox" in onboarded.stdout
    assert (inventory / "people" / "gamma.csv").is_file()
    assert not (inventory / "partners" / "gamma.yaml").exists()  # NetBox holds the partner
    api = Api(netbox)
    tenant = api.one("tenancy/tenants/", slug="gamma")
    assert tenant["custom_fields"]["ssc_upn_suffix"] == "gamma.example"
    assert tenant["custom_fields"]["ssc_people"] == "people/gamma.csv"
    assert api.one("ipam/vlans/", site="gam-hq")["vid"] == 310
    assert api.one("dcim/devices/", name="GAM-L-7002")["tenant"]["slug"] == "gamma"
    valid = cli("validate", "--source", "netbox", "--format", "json")
    assert valid.exit_code == 0 and json.loads(valid.stdout)["partners"] == 3
    people = load_source(inventory, targets, tmp_path / "state").partner("gamma").people
    assert next((p.infix, p.surname) for p in people) == ("van de", "Wal")

    again = cli(*_gamma_files(tmp_path), "--source", "netbox", "--no-plan")
    assert again.exit_code == 1 and "exists already in NetBox" in again.stderr
    nothing = cli("netbox", "plan", "--source", "netbox")
    assert nothing.exit_code == 0 and "no changes" in nothing.stdout, nothing.output


def load_source(inventory: Path, targets: Path, state: Path) -> Region:
    settings = netbox_settings(load_target(targets, "lab"), "lab")
    return NetBoxSource(inventory, lambda: settings, state).load(
        date.fromisoformat(TODAY)).strict()
