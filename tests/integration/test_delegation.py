"""A partner's own bind account against the real DC: `ssc-infra delegate` gives it rights in
that partner's OUs only; with it, a write into another partner's OU or into Domain Admins is
refused by the DC itself, while a run for the partner (new account, leaver moved and
disabled) goes through with it alone."""

from __future__ import annotations

import secrets
from pathlib import Path

import ldap3
import pytest
import yaml
from click.testing import CliRunner

from ssc_infra.ad.connection import connect
from ssc_infra.cli.main import main
from ssc_infra.core.secrets import Secret
from tests.integration.conftest import settings_for
from tests.integration.test_ad import Lab
from tests.integration.test_ad import lab as ad_lab  # noqa: F401  (the fixture, by this name)
from tests.integration.test_one_plan import BETA_HYBRID, NEW_IN_ALPHA

pytestmark = pytest.mark.integration

SVC = "svc-ssc-alpha"
ALPHA_LEAVER = {"file": "people/alpha.csv",
                "replace": ["Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,",
                            "Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,2026-11-01"]}


@pytest.fixture
def lab(ad_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    return ad_lab


def _service_account(lab: Lab, tmp_path: Path) -> tuple[str, Path]:
    password = "Pw-" + secrets.token_urlsafe(18)
    dn = f"CN={SVC},CN=Users,{lab.base}"
    ok = lab.conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
        "sAMAccountName": SVC, "userPrincipalName": f"{SVC}@ssc.test",
        "description": "made by hand in a test", "userAccountControl": 512,
        "unicodePwd": f'"{password}"'.encode("utf-16-le")})
    assert ok, lab.conn.result
    secret = tmp_path / "svc.password"
    secret.write_text(password)
    secret.chmod(0o600)
    return password, secret


def test_a_partner_account_writes_its_own_partner_and_the_dc_refuses_the_rest(
        lab: Lab, tmp_path: Path) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0  # the region's account makes every partner's OUs
    password, secret = _service_account(lab, tmp_path)
    done = lab.cli("delegate", "--partner", "alpha", "--account", SVC)
    assert done.code == 0, done.out + done.err
    assert done.out.count("entries added") == 2
    again = lab.cli("delegate", "--partner", "alpha", "--account", SVC)
    assert again.code == 0 and again.out.count("delegated already") == 2

    svc = connect(settings_for(lab.dc, bind_user=f"{SVC}@ssc.test", password=Secret(password)))
    try:
        theirs = f"CN=Someone Else,OU=Users,OU=beta,OU=Partners,{lab.base}"
        assert not svc.add(theirs, ["top", "person", "organizationalPerson", "user"],
                           {"sAMAccountName": "selse"})
        assert svc.result["description"] == "insufficientAccessRights", svc.result
        own = f"CN=Tijdelijk Account,OU=Users,OU=alpha,OU=Partners,{lab.base}"
        assert svc.add(own, ["top", "person", "organizationalPerson", "user"],
                       {"sAMAccountName": "ttijd"}), svc.result
        assert svc.delete(own), svc.result
        alpha_user = next(u["dn"] for u in lab.users().values() if ",OU=alpha," in u["dn"])
        admins = f"CN=Domain Admins,CN=Users,{lab.base}"
        assert not svc.modify(admins, {"member": [(ldap3.MODIFY_ADD, [alpha_user])]})
        assert svc.result["description"] == "insufficientAccessRights", svc.result
        beta_group = f"CN=beta-all,OU=Groups,OU=beta,OU=Partners,{lab.base}"
        assert not svc.modify(beta_group, {"member": [(ldap3.MODIFY_ADD, [alpha_user])]})
        assert svc.result["description"] == "insufficientAccessRights", svc.result
    finally:
        svc.unbind()

    # The target names the partner's account, and the region's account is made unusable:
    # a run for alpha alone goes through with alpha's account, and only with it.
    targets = yaml.safe_load(lab.targets.read_text())
    ad = targets["test"]["ad"]
    ad["partners"] = {"alpha": {"bind_user": f"{SVC}@ssc.test",
                                "bind_password_file": str(secret)}}
    ad["bind_password_file"] = str(tmp_path / "no-such-file")
    lab.targets.write_text(yaml.safe_dump(targets))
    lab.edit(NEW_IN_ALPHA, ALPHA_LEAVER)
    applied = lab.apply("--partner", "alpha", "--allow-disable", "alpha=1")
    assert applied.code == 0, applied.out + applied.err
    users = lab.users()
    assert "swiersma" in users  # made with alpha's own account
    leaver = users["jvries2"]
    assert ",OU=alpha,OU=Leavers," in leaver["dn"] and int(leaver["userAccountControl"]) & 2
    assert lab.apply("--partner", "beta").code == 1  # beta has no account of its own here


def test_the_lab_gives_a_partner_its_account_and_names_it_in_the_target(
        lab: Lab, tmp_path: Path) -> None:
    lab.edit(BETA_HYBRID)
    assert lab.apply().code == 0
    targets = yaml.safe_load(lab.targets.read_text())
    lab_targets = tmp_path / "lab-targets.yaml"
    lab_targets.write_text(yaml.safe_dump({"lab": targets["test"]}))
    common = ["--inventory", str(lab.inventory), "--targets", str(lab_targets),
              "--state-dir", str(lab.state)]
    made = CliRunner().invoke(main, ["lab", "delegate", "--partner", "alpha", *common])
    assert made.exit_code == 0, made.output
    assert "svc-ssc-alpha may write its OUs only (8 entries added)" in made.output
    written = yaml.safe_load(lab_targets.read_text())["lab"]["ad"]
    password_file = Path(written["partners"]["alpha"]["bind_password_file"])
    assert password_file.stat().st_mode & 0o777 == 0o600
    again = CliRunner().invoke(main, ["lab", "delegate", "--partner", "alpha", *common])
    assert again.exit_code == 0 and "delegated already" in again.output
    # the session's DC forgets the account after this test
    lab.conn.modify(f"CN=svc-ssc-alpha,CN=Users,{lab.base}",
                    {"description": [(ldap3.MODIFY_REPLACE, ["made by hand in a test"])]})
    lab.edit(NEW_IN_ALPHA)
    applied = CliRunner().invoke(main, ["apply", "--yes", "--partner", "alpha", "--target",
                                        "lab", "--today", "2026-11-23", *common])
    assert applied.exit_code == 0, applied.output
    assert "swiersma" in lab.users()
