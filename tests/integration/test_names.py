"""Names stay with their people against a real Samba DC: a new partner with a look-alike
renames nobody in AD, in the VDI file, or offline."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import ldap3
import pytest

from ssc_infra.ad.apply import apply_changes
from ssc_infra.ad.connection import AdSettings
from ssc_infra.ad.writer import AdWriter
from ssc_infra.core.desired import DesiredState, derive
from ssc_infra.core.model import Region
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.hosts.render import render_host_files
from ssc_infra.run.directory import plan_directory
from ssc_infra.sources.files import load
from ssc_infra.state.ledger import kept_names, load_ledger, record_names
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import settings_for
from tests.integration.test_ad import Lab

pytestmark = pytest.mark.integration
TODAY = date(2026, 11, 23)
VDI_FILE = ("vdi01", "etc/ssc-vdi/assignments.json")
# A second Jan de Vries at cloud partner beta, at a VDI desktop: named after alpha's two
# de Vries (hybrid, in AD) and beta's Johan, so jvries4.
BETA_JAN = {"file": "people/beta.csv",
            "append": "2003,Jan,de,Vries,Handhaving,Inspecteur,bet-kantoor,vdi,2022-01-01,\n"}
GAMMA = (
    {"file": "partners/gamma.yaml", "write": (
        "code: gamma\nname: Gemeente Gamma\nkind: municipality\nupn_suffix: gamma.example\n"
        "identity: hybrid\nservices: [m365-e3]\nquota: {users: 5}\nsites:\n"
        "  - {code: gam-hq, name: Gemeentehuis Gamma, vlan: 310, subnet: 10.40.0.0/24}\n"
        "people: people/gamma.csv\ndevices: devices/gamma.csv\n")},
    {"file": "people/gamma.csv", "write": (
        "employee_id,given_name,infix,surname,department,job_title,site,workplace,start_date,"
        "end_date\n3001,Jan,de,Vries,Burgerzaken,Medewerker,gam-hq,vdi,2005-01-01,\n")},
    {"file": "devices/gamma.csv", "write": "asset_tag,kind,employee_id,site,mac,wg_public_key\n"},
)


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    return Lab(tmp_path, samba_dc, directory)


def _apply(region: Region, settings: AdSettings, state: Path) -> DesiredState:
    """Plan with the ledger, apply, record the names: what the CLI's apply does."""
    run = plan_directory(region, TODAY, settings, ledger=load_ledger(state))
    writer = AdWriter(settings, on_password=lambda _change, _password: None)
    try:
        report = apply_changes(run.plan.changes, writer)
    finally:
        writer.close()
    assert not report.failed, [r.message for r in report.failed]
    record_names(state, run.desired)
    return run.desired


def _vdi(region: Region, desired: DesiredState) -> dict[str, str]:
    """The VDI broker's assignments: UPN -> sAMAccountName."""
    host, path = VDI_FILE
    text = render_host_files(region, derive_workplaces(region, desired)).files[host][path]
    return {a["user"]: a["sam"] for a in json.loads(text)["assignments"]}


def _sams(desired: DesiredState) -> dict[tuple[str, str], str]:
    return {a.key: a.name.sam for p in desired.partners for a in p.accounts}


def test_a_new_partner_with_a_look_alike_renames_nobody(lab: Lab,
                                                        samba_dc: DomainController) -> None:
    settings = settings_for(samba_dc)
    lab.edit(BETA_JAN)
    region = load(lab.inventory, TODAY)
    first = _apply(region, settings, lab.state)
    vdi_before = _vdi(region, first)
    assert vdi_before["jan.devries@beta.example"] == "jvries4"
    users_before = {sam: (u["employeeID"], u["userPrincipalName"], u["dn"])
                    for sam, u in lab.users().items()}

    lab.edit(*GAMMA)  # Gamma's Jan de Vries started in 2005, before everyone here
    grown = load(lab.inventory, TODAY)
    # Without the ledger, the cloud partner's people are renamed (the bug this guards).
    unkept = plan_directory(grown, TODAY, settings)
    assert _sams(unkept.desired)[("beta", "2003")] != "jvries4"

    second = _apply(grown, settings, lab.state)
    vdi_after = _vdi(grown, second)
    assert {upn: vdi_after[upn] for upn in vdi_before} == vdi_before
    assert vdi_after["jan.devries@gamma.example"] == "jvries5"
    users_after = {sam: (u["employeeID"], u["userPrincipalName"], u["dn"])
                   for sam, u in lab.users().items()}
    assert {sam: users_after[sam] for sam in users_before} == users_before
    assert users_after["jvries5"][:2] == ("3001", "jan.devries@gamma.example")
    # Offline (`desired`, `render`: no directory) gives the same names as the plan.
    offline = derive(grown, TODAY, kept_names(load_ledger(lab.state), grown))
    assert _sams(offline) == _sams(second)
    assert _vdi(grown, offline) == vdi_after
    assert (lab.state / "names.json").stat().st_mode & 0o777 == 0o600
