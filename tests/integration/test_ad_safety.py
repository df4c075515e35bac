"""The directory writer against a real Samba DC: nothing lost, only inside its scope, converges.

Every result is read back from the directory itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import ldap3
import pytest

from ssc_infra.core.plan import Section
from ssc_infra.run.directory import plan_directory
from ssc_infra.sources.files import load
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import settings_for
from tests.integration.test_ad import TODAY, Lab

pytestmark = pytest.mark.integration



@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    return Lab(tmp_path, samba_dc, directory)


def _plan(lab: Lab, **options: Any) -> Section:
    today = date.fromisoformat(TODAY)
    return plan_directory(load(lab.inventory, today), today, settings_for(lab.dc),
                          **options).plan


def test_a_name_with_dn_special_characters_converges(lab: Lab) -> None:
    """The loader no longer lets such names in; a DC may still hold them (older data, a
    directory taken over): the comparison must converge all the same."""
    import dataclasses

    from ssc_infra.ad.apply import apply_changes
    from ssc_infra.ad.writer import AdWriter

    today = date.fromisoformat(TODAY)
    region = load(lab.inventory, today)
    alpha = region.partner("alpha")
    odd = dataclasses.replace(alpha.people[0], employee_id="7001", given_name="#Jan;de=Vries",
                              infix="", surname="Vries, jr")
    region = dataclasses.replace(region, partners=tuple(
        dataclasses.replace(p, people=(*p.people, odd)) if p.code == "alpha" else p
        for p in region.partners))
    settings = settings_for(lab.dc)
    writer = AdWriter(settings, workers=2, on_password=lambda change, _: None)
    report = apply_changes(plan_directory(region, today, settings).plan.changes, writer)
    writer.close()
    assert not report.failed, [r.message for r in report.failed]
    made = next(u for u in lab.users().values() if u["employeeID"] == "7001")
    assert made["cn"] == "#Jan;de=Vries Vries, jr"
    second = plan_directory(region, today, settings).plan
    assert second.empty, [(c.action.value, c.key, dict(c.after)) for c in second.changes]


def _entry(conn: ldap3.Connection, dn: str, attributes: list[str]) -> dict[str, Any] | None:
    conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attributes)
    found = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    return dict(found[0]["attributes"]) if found else None


def test_the_writer_refuses_every_item_outside_its_scope(lab: Lab) -> None:
    from ssc_infra.ad.writer import AdWriter
    from ssc_infra.core.plan import Action, Change, ObjectKind
    from ssc_infra.run.directory import scope_of

    assert lab.apply().code == 0
    base = lab.base
    jan = lab.users()["jvries"]["dn"]
    admins, administrator = f"CN=Domain Admins,CN=Users,{base}", f"CN=Administrator,CN=Users,{base}"
    alpha_all = f"CN=alpha-all,OU=Groups,OU=alpha,OU=Partners,{base}"
    before = {dn: _entry(lab.conn, dn, ["member", "department", "description"])
              for dn in (admins, administrator)}
    # What a hand-edited plan file could hold.
    crafted = [
        Change(ObjectKind.OU, Action.CREATE, "", "evil", f"OU=Evil,{base}", {}, {"ou": "Evil"}),
        Change(ObjectKind.OU, Action.CREATE, "alpha", "x", f"OU=x,OU=Partners,DC=evil,{base}",
               {}, {"ou": "x"}),
        Change(ObjectKind.GROUP, Action.UPDATE, "alpha", "Domain Admins", admins,
               {}, {"description": "ours now"}),
        Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1001", administrator,
               {}, {"department": "Burgerzaken"}),
        # The partners OU as a suffix, hidden in an escaped value, in other case and escapes.
        Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1002",
               f"CN=Administrator,CN=Users,{base}\\,ou=P\\61RTNERS,{base.lower()}", {},
               {"department": "Burgerzaken"}),
        Change(ObjectKind.ACCOUNT, Action.MOVE, "alpha", "alpha/1002", jan,
               {"dn": jan}, {"dn": f"CN=Jan de Vries,CN=Users,{base}"}),
        Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1002", jan,
               {}, {"primaryGroupID": "512"}),
        Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "Domain Admins", admins,
               {"members": []}, {"add": [jan], "remove": []}),
        Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-all", alpha_all,
               {"members": []}, {"add": [administrator], "remove": []}),
        Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-all", alpha_all,
               {"members": []}, {"add": [f"CN=Domain Admins,CN=Users,{base}\\,OU=Partners,"
                                         f"{base}"], "remove": []}),
    ]
    writer = AdWriter(settings_for(lab.dc), workers=2, scope=scope_of(
        load(lab.inventory, date.fromisoformat(TODAY))))
    try:
        results = writer.apply(crafted)  # straight to the writer: apply would skip some
    finally:
        writer.close()
    assert len(results) == len(crafted)
    for result in results:
        assert not result.ok and result.message.startswith("refused: "), (
            result.change, result.message)
    # Read back: nothing outside the scope changed, and nothing inside either.
    assert {dn: _entry(lab.conn, dn, ["member", "department", "description"])
            for dn in before} == before
    assert _entry(lab.conn, f"OU=Evil,{base}", ["ou"]) is None
    assert lab.users()["jvries"]["dn"] == jan
    assert "Administrator" not in lab.members("alpha-all")
    assert lab.cli("plan").code == 0


def _never_logged_on(lab: Lab) -> dict[tuple[str, str], str]:
    """(partner, employee id) -> DN of every account whose pwdLastSet is 0."""
    found = {}
    for user in lab.users().values():
        if str(user.get("pwdLastSet")) in ("0", "1601-01-01 00:00:00+00:00"):
            partner = str(user["dn"]).split(",OU=Partners,")[0].split(",OU=")[-1]
            found[(partner, str(user["employeeID"]))] = str(user["dn"])
    return found


def test_apply_killed_mid_run_loses_no_password_and_a_lost_row_gets_a_reset(
    lab: Lab, tmp_path: Path
) -> None:
    import csv
    import os
    import signal
    import subprocess
    import sys
    import time

    from ssc_infra.ad.apply import apply_changes
    from ssc_infra.ad.attributes import PASSWORD_NEW
    from ssc_infra.ad.connection import connect
    from ssc_infra.ad.writer import AdWriter
    from ssc_infra.core.errors import BackendError
    from ssc_infra.core.plan import Action, Change
    from ssc_infra.core.secrets import Secret
    from ssc_infra.state.folder import StateDir, recorded_passwords

    hires = "".join(f"{5000 + i},Hylke,,Dijkstra,Ruimte,Adviseur,alp-hq,vdi,2020-01-01,\n"
                    for i in range(80))
    lab.edit({"file": "people/alpha.csv", "append": hires},
             {"file": "partners/alpha.yaml", "replace": ["users: 10", "users: 1000"]})
    command = [str(Path(sys.executable).parent / "ssc-infra"), "apply", "--yes",
               "--inventory", str(lab.inventory), "--today", TODAY, "--targets",
               str(lab.targets), "--target", "test", "--state-dir", str(lab.state)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(lab.users()) < 20 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)  # kill -9 in the middle of the accounts
    finally:
        process.wait()
    made = _never_logged_on(lab)
    assert 20 <= len(made) < 84, "the kill came too late to test anything"
    # Every account the killed run made has its password on disk.
    assert set(made) <= recorded_passwords(lab.state)
    again = lab.apply()
    assert again.code == 0, again.out + again.err
    assert set(_never_logged_on(lab)) <= recorded_passwords(lab.state)

    # A row lost (deleted by hand, or written by a version without write-ahead that died):
    # the plan proposes a new password, apply sets and records it, the next plan is empty.
    lost = ("alpha", "5003")
    for path in (lab.state / "credentials").glob("*.csv"):
        with path.open(newline="") as handle:
            rows = list(csv.reader(handle))
        path.write_text("".join(",".join(r) + "\n" for r in rows if tuple(r[:2]) != lost))
    assert lost not in recorded_passwords(lab.state)
    plan = _plan(lab, recorded=recorded_passwords(lab.state))
    [reset] = plan.changes
    assert (reset.action, reset.key, dict(reset.after)) == (
        Action.RESET_PASSWORD, "alpha/5003", {"password": PASSWORD_NEW})
    state = StateDir(lab.state)
    with state.credentials("reset") as credentials:
        def record(change: Change, password: str) -> None:  # as the CLI does
            partner, _, employee_id = change.key.partition("/")
            credentials.add(partner, employee_id, str(change.after["sAMAccountName"]),
                            str(change.after["userPrincipalName"]), password)

        writer = AdWriter(settings_for(lab.dc), on_password=record)
        try:
            report = apply_changes(plan.changes, writer)
        finally:
            writer.close()
    assert not report.failed, report.failed
    [row] = [r for r in csv.reader((lab.state / "credentials" / "reset.csv").open())
             if tuple(r[:2]) == lost]
    assert _plan(lab, recorded=recorded_passwords(lab.state)).empty
    # The DC has the recorded password, and asks its owner for a new one at first logon.
    with pytest.raises(BackendError, match="the password must be changed first"):
        connect(settings_for(lab.dc, bind_user=row[3], password=Secret(row[4])))
