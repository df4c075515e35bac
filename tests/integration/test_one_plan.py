"""One plan for everything: accounts in a real Samba DC and the workplace hosts with real
Ansible, through the CLI as an engineer runs it."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import ldap3
import pytest

from ssc_infra.core.packaged import TEMPLATES, packaged_path
from ssc_infra.hosts.render import TEMPLATES_ENV
from ssc_infra.run.directory import plan_directory
from ssc_infra.sources.files import load
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import settings_for
from tests.integration.test_ad import GONE_JELLE, TODAY, Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    lab = Lab(tmp_path, samba_dc, directory)
    lab.with_host_folders()
    return lab


def test_plan_apply_drift_cover_accounts_and_hosts(lab: Lab, tmp_path: Path) -> None:
    plan_file = tmp_path / "plan.json"
    planned = lab.cli("plan", "--out", str(plan_file))
    assert planned.code == 2, planned.err
    assert "workplace hosts" in planned.out and "/etc/samba/smb.conf" in planned.out
    saved = json.loads(plan_file.read_text())
    paths = {c["key"] for c in saved["sections"]["hosts"]["changes"]}
    assert "rad01:/etc/freeradius/3.0/mods-config/files/authorize" in paths
    assert not (tmp_path / "hosts" / "fs01" / "etc/samba/smb.conf").exists()  # plan changes nothing

    applied = lab.apply(str(plan_file))
    assert applied.code == 0, applied.out + applied.err
    homes = tmp_path / "hosts" / "fs01" / "srv/homes/alpha"
    names = {p.name for p in homes.iterdir()}
    assert len(names) == 4 and names <= set(lab.users())  # a home per account, named after it

    drift = lab.cli("drift")
    assert drift.code == 0, drift.out + drift.err
    assert "no drift" in drift.out

    # Jelle leaves alpha: one plan disables the account and archives the home, for alpha only.
    lab.edit(*GONE_JELLE)
    # Alpha is tiny: one row fewer than as last applied trips its 5% guard before anything
    # else is looked at; the same override releases it.
    planned = lab.cli("plan", "--partner", "alpha", "--format", "json")
    assert planned.code == 1
    assert "1 fewer than as applied" in planned.err and "--allow-disable alpha=1" in planned.err
    planned = lab.cli("plan", "--partner", "alpha", "--allow-disable", "alpha=1", "--format",
                      "json")
    data = json.loads(planned.out)
    homes_change = next(c for c in data["sections"]["hosts"]["changes"]
                        if c["kind"] == "homes")
    assert homes_change["partner"] == "alpha" and homes_change["action"] == "archive"
    assert [name.partition("/")[0] for name in homes_change["after"]["archive"]] == ["alpha"]
    held = lab.apply("--partner", "alpha")
    assert held.code == 1 and "--allow-disable alpha=1" in held.err
    assert not (tmp_path / "hosts" / "fs01" / "srv/archive/homes/alpha").exists()
    assert lab.apply("--partner", "alpha", "--allow-disable", "alpha=1").code == 0
    archive = tmp_path / "hosts" / "fs01" / "srv/archive/homes/alpha"
    assert len(list(archive.iterdir())) == 1
    assert lab.cli("drift").code == 0


BETA_HYBRID = {"file": "partners/beta.yaml", "replace": ["identity: cloud", "identity: hybrid"]}
BETA_BAD_DATE = {"file": "people/beta.csv", "replace": ["2021-04-01", "2021-04-31"]}
NEW_IN_ALPHA = {"file": "people/alpha.csv",
                "append": "1099,Sytske,,Wiersma,Burgerzaken,Medewerker,alp-hq,vdi,2020-01-01,\n"}


def test_a_bad_hr_export_holds_its_partner_while_the_others_go_on(lab: Lab) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    beta_before = {sam: u["dn"] for sam, u in lab.users().items() if "OU=beta" in u["dn"]}
    assert len(beta_before) == 2
    hosts = lab.state.parent / "hosts"
    wg_before = (hosts / "vpn01" / "etc/wireguard/wg0.conf").read_text()

    # Beta's next HR export has a bad row, and alpha hires someone the same day.
    lab.edit(BETA_BAD_DATE, NEW_IN_ALPHA)
    planned = lab.cli("plan", "--format", "json")
    assert planned.code == 1  # incomplete: a script must notice
    assert "held back: partner beta" in planned.err and "people/beta.csv:3" in planned.err
    assert "beta's part of their files stays as applied" in planned.err
    data = json.loads(planned.out)
    directory = data["sections"]["directory"]["changes"]
    assert {c["partner"] for c in directory} == {"alpha"}  # beta: nothing, not "disable"
    assert data["held_inventory"][0]["partner"] == "beta" and data["hosts_held"] is False
    changed = {c["key"] for c in data["sections"]["hosts"]["changes"]}
    assert changed == {"fs01:homes/alpha", "vdi01:/etc/ssc-vdi/assignments.json"}

    applied = lab.apply()
    assert applied.code == 1 and "not everything was applied" in applied.err
    users = lab.users()
    assert "swiersma" in users  # alpha's new hire has an account and a home on day one
    assert (hosts / "fs01" / "srv/homes/alpha/swiersma").is_dir()
    assert {sam: u["dn"] for sam, u in users.items() if "OU=beta" in u["dn"]} == beta_before
    assert all(int(u["userAccountControl"]) & 2 == 0 for u in users.values()
               if "OU=beta" in u["dn"])  # beta's people can still log on
    assert (hosts / "vpn01" / "etc/wireguard/wg0.conf").read_text() == wg_before
    drift = lab.cli("drift")
    assert drift.code == 1 and "incomplete: partner beta held back" in drift.out
    assert "Hosts: no changes" in drift.out

    # Without a kept copy of beta's files the hosts wait; the accounts still go on.
    shutil.rmtree(lab.state / "applied-inventory")
    waiting = lab.cli("plan", "--format", "json")
    assert waiting.code == 1 and json.loads(waiting.out)["hosts_held"] is True
    assert "held back: the workplace hosts" in waiting.err

    lab.edit({"file": "people/beta.csv", "replace": ["2021-04-31", "2021-04-01"]})
    assert lab.apply().code == 0
    assert lab.cli("drift").code == 0


def test_plan_shows_a_host_file_its_checker_would_refuse(lab: Lab, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    templates = tmp_path / "templates"  # an engineer's slip in a template
    with packaged_path(TEMPLATES) as packaged:
        shutil.copytree(packaged, templates)
    smb = templates / "smb.conf.j2"
    smb.write_text(smb.read_text().replace("read only = no", "read only = maybe", 1))
    monkeypatch.setenv(TEMPLATES_ENV, str(templates))
    planned = lab.cli("plan")
    assert planned.code == 1, planned.out + planned.err
    assert "refused fs01:/etc/samba/smb.conf by its checker" in planned.out
    assert "not boolean" in planned.out
    data = json.loads(lab.cli("plan", "--format", "json").out)
    assert [r["path"] for r in data["sections"]["hosts"]["refused"]] == ["/etc/samba/smb.conf"]


def test_a_plan_for_one_partner_knows_every_partners_real_names(lab: Lab) -> None:
    """The host files hold every partner: a plan for alpha must not rename beta's people there."""
    lab.edit(BETA_HYBRID)  # beta's Johan de Vries shares a name with two of alpha's people
    assert lab.apply().code == 0
    today = date.fromisoformat(TODAY)
    run = plan_directory(load(lab.inventory, today), today, settings_for(lab.dc), ["alpha"])
    assert run.plan.empty
    in_directory = {u["sAMAccountName"]: u["userPrincipalName"] for u in lab.users().values()}
    derived = {a.name.sam: a.name.upn for p in run.desired.partners for a in p.accounts}
    assert {sam: derived.get(sam) for sam in in_directory} == in_directory  # nobody renamed
    planned = lab.cli("plan", "--partner", "alpha", "--format", "json")
    assert planned.code == 0 and not json.loads(planned.out)["sections"]["hosts"]["changes"]
