"""The privileged groups watched on the real DC: someone made a Domain Admin behind the tool's
back is drift of its own kind, first in the output and the nightly report, exit 2, until
governance.yaml lists them (a reviewed change) or they are taken out again."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import ldap3
import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from tests.integration.test_ad import Lab
from tests.integration.test_ad import lab as ad_lab  # noqa: F401  (the fixture, by this name)

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(ad_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    return ad_lab


def test_a_domain_admin_made_by_hand_is_drift_first_until_listed(lab: Lab,
                                                                   tmp_path: Path) -> None:
    assert lab.apply().code == 0
    assert lab.cli("drift").code == 0  # a fresh domain: Administrator alone, as expected
    dn = f"CN=Mallory Beheer,CN=Users,{lab.base}"
    lab.make_user_by_hand(dn, "mbeheer")
    admins = f"CN=Domain Admins,CN=Users,{lab.base}"
    assert lab.conn.modify(admins, {"member": [(ldap3.MODIFY_ADD, [dn])]}), lab.conn.result

    found = lab.cli("drift", "--report", str(tmp_path / "nightly"))
    assert found.code == 2, found.out + found.err
    lines = found.out.splitlines()
    assert lines[0].startswith("Privileged groups")
    assert "Domain Admins: mbeheer:" in lines[1] and "does not list it" in lines[1]
    report = json.loads((tmp_path / "nightly/latest.json").read_text())
    assert report["privileged"] == [{"group": "Domain Admins", "member": "mbeheer", "dn": admins,
                                     "reason": report["privileged"][0]["reason"]}]
    page = (tmp_path / "nightly/latest.html").read_text()
    assert page.index('id="privileged"') < page.index('id="summary"')
    assert lab.cli("plan", "--partner", "alpha").code == 0  # one partner's plan: not its own

    (lab.inventory / "governance.yaml").write_text(
        "privileged_groups:\n  Domain Admins: [Administrator, mbeheer]\n")
    assert lab.cli("drift").code == 0
    (lab.inventory / "governance.yaml").write_text(
        "privileged_groups:\n  Domain Admins: [Administrator, mbeheer, adm-gone]\n")
    gone = lab.cli("drift")
    assert gone.code == 2 and "adm-gone is listed for Domain Admins" in gone.out


def test_the_privileged_groups_members_are_reviewed_and_a_revoke_is_for_a_person(
        lab: Lab, tmp_path: Path) -> None:
    dn = f"CN=Mallory Beheer,CN=Users,{lab.base}"
    lab.make_user_by_hand(dn, "mbeheer")
    admins = f"CN=Domain Admins,CN=Users,{lab.base}"
    assert lab.conn.modify(admins, {"member": [(ldap3.MODIFY_ADD, [dn])]}), lab.conn.result
    started = lab.cli("review", "start", "--privileged", "--out", str(tmp_path))
    assert started.code == 0, started.out + started.err
    sheet = next(tmp_path.glob("privileged-groups-*.csv"))
    rows = list(csv.DictReader(io.StringIO(sheet.read_text(encoding="utf-8"))))
    by_account = {r["account"]: r for r in rows}
    assert by_account["Domain Admins/mbeheer"]["department"] == "NOT listed in governance.yaml"
    assert by_account["Domain Admins/Administrator"]["department"] == "listed in governance.yaml"
    for row in rows:
        row["decision"] = "revoke" if row["account"] == "Domain Admins/mbeheer" else "keep"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    sheet.write_text(out.getvalue(), encoding="utf-8")
    taken = lab.cli("review", "apply", str(sheet))
    assert taken.code == 2, taken.out + taken.err
    assert "take out by hand: Domain Admins/mbeheer" in taken.out
    status = CliRunner().invoke(main, ["review", "status", "--format", "json", "--inventory",
                                       str(lab.inventory), "--today", "2026-11-23",
                                       "--state-dir", str(lab.state)])
    privileged = next(r for r in json.loads(status.stdout) if r["partner"] == "privileged-groups")
    assert privileged["last"] == "2026-11-23" and privileged["due"] == "2027-02-21"
