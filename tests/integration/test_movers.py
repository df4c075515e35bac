"""Movers against the real Samba DC and hosts on disk: one person moves inside a partner
(department and site), one to another partner (moves.yaml, a new employee id). Each keeps the
account and logon name; the plan says who moves where; the directory is read back; a re-run
finds nothing to do."""

from __future__ import annotations

import json

import pytest

from tests.integration.test_ad import Lab
from tests.integration.test_lifecycle import merging  # noqa: F401  (its fixture)

pytestmark = pytest.mark.integration

WATSE = "1001,Wâtse,,Bûmâ,Burgerzaken,Medewerker,alp-hq,laptop,2015-03-01,\n"
JELLE = "1003,Jelle,de,Vries,Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,\n"
MOVES = """moves:
  - person: alpha/1003        # Jelle de Vries
    to: gamma/G77
    reason: overplaatsing per 2026-11-01
"""


def test_movers_keep_their_accounts_and_move_groups_ou_and_home_in_one_plan(
        merging: Lab) -> None:  # noqa: F811 (the fixture's name)
    lab = merging
    hosts = lab.state.parent / "hosts"
    before = lab.users()
    assert before["jvries2"]["employeeID"] == "1003" and "wbuma" in before
    (hosts / "fs01" / "srv" / "homes" / "alpha" / "jvries2" / "notities.txt").write_text(
        "zaakoverdracht")
    # Wâtse gets another department and site; Jelle moves to gamma with a new employee id,
    # and alpha's HR export lists him as a leaver now.
    lab.edit({"file": "people/alpha.csv", "replace": [
        WATSE, "1001,Wâtse,,Bûmâ,Ruimte,Medewerker,alp-werf,laptop,2015-03-01,\n"]},
        {"file": "people/alpha.csv", "replace": [JELLE,
                                                  JELLE.replace(",\n", ",2026-10-31\n")]},
        {"file": "people/gamma.csv",
         "append": "G77,Jelle,de,Vries,Burgerzaken,Medewerker,gam-hq,vdi,2026-11-01,\n"})
    (lab.inventory / "moves.yaml").write_text(MOVES, encoding="utf-8")
    assert lab.cli("validate").code == 0

    plan = lab.cli("plan")
    assert plan.code == 2, plan.out + plan.err
    lines = plan.out.splitlines()
    assert "  » alpha/1001 Wâtse Bûmâ moves from Burgerzaken (alp-hq) to Ruimte (alp-werf)" \
        in lines
    assert "  » alpha/1003 → gamma/G77 Jelle de Vries moves from Gemeente Alpha (Ruimte, " \
           "Adviseur, alp-werf, thin_client) to Gemeente Gamma (Burgerzaken, Medewerker, " \
           "gam-hq, vdi)" in lines
    assert "        moves.yaml:2: overplaatsing per 2026-11-01" in lines
    assert "2 people move (» above)." in plan.out
    assert "(disable)" not in plan.out  # Jelle is a leaver at alpha, and is not disabled
    data = json.loads(lab.cli("plan", "--format", "json").out)
    moves = {m["key"]: m for m in data["moves"]}
    assert set(moves) == {"alpha/1001", "gamma/G77"}
    assert moves["gamma/G77"]["was"] == "alpha/1003"
    assert moves["gamma/G77"]["changed"] == ["partner", "employee_id", "department",
                                             "job_title", "site", "workplace"]
    assert moves["alpha/1001"]["changed"] == ["department", "site"]

    applied = lab.apply()
    assert applied.code == 0, applied.out + applied.err
    after = lab.users()
    assert set(after) == set(before)  # nobody made, nobody renamed
    wbuma, jvries2 = after["wbuma"], after["jvries2"]
    assert wbuma["dn"] == before["wbuma"]["dn"] and wbuma["department"] == "Ruimte"
    assert wbuma["userPrincipalName"] == before["wbuma"]["userPrincipalName"]
    assert jvries2["dn"] == f"CN=Jelle de Vries,OU=Users,OU=gamma,OU=Partners,{lab.base}"
    assert jvries2["sAMAccountName"] == "jvries2" and jvries2["employeeID"] == "G77"
    assert jvries2["company"] == "Gemeente Gamma" and jvries2["department"] == "Burgerzaken"
    assert str(jvries2["userPrincipalName"]).endswith("@gamma.example")
    assert not int(jvries2["userAccountControl"]) & 2  # enabled
    assert str(before["jvries2"]["mail"]).lower() in [
        str(a).lower().removeprefix("smtp:") for a in jvries2["proxyAddresses"]]
    # Groups follow: the new ones hold them, the old ones no longer do.
    assert "Wâtse Bûmâ" in lab.members("alpha-dep-ruimte")
    assert "Wâtse Bûmâ" not in lab.members("alpha-dep-burgerzaken")
    assert "Wâtse Bûmâ" in lab.members("alpha-acc-vpn")  # still a laptop
    for group in ("gamma-all", "gamma-dep-burgerzaken", "gamma-lic-m365-e3"):
        assert "Jelle de Vries" in lab.members(group), group
    for group in ("alpha-all", "alpha-dep-ruimte", "alpha-lic-m365-e3",
                  "alpha-app-zaaksysteem-rex"):
        assert "Jelle de Vries" not in lab.members(group), group
    # The home moved along with its files; nothing archived.
    homes = hosts / "fs01" / "srv" / "homes"
    assert (homes / "gamma" / "jvries2" / "notities.txt").read_text() == "zaakoverdracht"
    assert not (homes / "alpha" / "jvries2").exists()
    vdi = (hosts / "vdi01" / "etc" / "ssc-vdi" / "assignments.json").read_text()
    assert '"gamma-desktop"' in vdi and "jvries2" in vdi

    again = lab.cli("plan")
    assert again.code == 0, again.out + again.err
    assert "no changes" in again.out and "»" not in again.out
