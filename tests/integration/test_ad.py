"""Accounts against a real Samba AD DC: every result is read back from the directory itself."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml
from click.testing import CliRunner

from ssc_infra.ad.connection import connect
from ssc_infra.cli.main import main
from ssc_infra.core.errors import BackendError
from ssc_infra.core.secrets import Secret
from ssc_infra_lab.dc import DomainController
from tests.conftest import MINI
from tests.integration.conftest import settings_for, write_targets
from tests.unit.test_inventory import apply_edits

pytestmark = pytest.mark.integration
TODAY = "2026-11-23"
HIRE_SYTSE = "1006,Sytse,,Hiemstra,Ruimte,Adviseur,alp-hq,laptop,2026-10-01,\n"
JAN = "1002,Jan,de,Vries,Burgerzaken,Teamleider,alp-hq,vdi,2012-01-01,\n"
JELLE = "1003,Jelle,de,Vries,Ruimte,Adviseur,alp-werf,thin_client,2018-06-01,\n"
JELLE_DEVICE = "ALP-T-0001,thin_client,1003,alp-werf,02:00:00:00:01:03,\n"
GONE_JELLE = ({"file": "people/alpha.csv", "replace": [JELLE, ""]},
              {"file": "devices/alpha.csv", "replace": [JELLE_DEVICE, ""]})


@dataclass
class Run:
    code: int
    out: str
    err: str


class Lab:
    """The mini inventory, a targets file for the DC, a state dir, and the CLI to drive them."""

    def __init__(self, root: Path, dc: DomainController, conn: ldap3.Connection) -> None:
        self.inventory = root / "inventory"
        shutil.copytree(MINI, self.inventory)
        self.targets = write_targets(root / "targets.yaml", dc)
        self.state = root / "state"
        self.dc = dc
        self.conn = conn
        self.base = dc.base_dn

    def with_host_folders(self) -> None:
        """The lab's workplace hosts as folders beside the inventory (`hosts/<name>`), through
        Ansible's local connection, in the target."""
        targets = yaml.safe_load(self.targets.read_text(encoding="utf-8"))
        targets["test"]["ansible"] = {"connection": "local",
                                      "root": str(self.inventory.parent / "hosts"),
                                      "reload": False, "unknown_owner": "keep"}
        self.targets.write_text(yaml.safe_dump(targets), encoding="utf-8")

    def edit(self, *edits: dict[str, Any]) -> None:
        apply_edits(self.inventory, list(edits))

    def cli(self, *args: str) -> Run:
        common = ["--inventory", str(self.inventory), "--today", TODAY, "--targets",
                  str(self.targets), "--target", "test", "--state-dir", str(self.state)]
        result = CliRunner().invoke(main, [*args, *common])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    def apply(self, *args: str) -> Run:
        return self.cli("apply", "--yes", *args)

    def users(self, under: str = "") -> dict[str, dict[str, Any]]:
        """Every user below `under` (default: the partners and leavers OUs), by sam."""
        found: dict[str, dict[str, Any]] = {}
        for base in ([under] if under else [f"OU=Partners,{self.base}", f"OU=Leavers,{self.base}"]):
            self.conn.search(base, "(&(objectCategory=person)(objectClass=user))",
                             attributes=["*", "pwdLastSet"])
            for entry in self.conn.response or []:
                if entry.get("type") == "searchResEntry":
                    attrs = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v)
                             for k, v in entry["attributes"].items()}
                    found[str(attrs["sAMAccountName"]).lower()] = {"dn": entry["dn"], **attrs}
        return found

    def members(self, group: str) -> set[str]:
        self.conn.search(f"OU=Partners,{self.base}", f"(&(objectClass=group)(cn={group}))",
                         attributes=["member"])
        entries = [e for e in self.conn.response or [] if e.get("type") == "searchResEntry"]
        assert entries, f"group {group} not found"
        dns = entries[0]["attributes"].get("member") or []
        return {dn.split(",")[0].split("=", 1)[1] for dn in dns}

    def make_user_by_hand(self, dn: str, sam: str) -> None:
        ok = self.conn.add(dn, ["top", "person", "organizationalPerson", "user"],
                           {"sAMAccountName": sam, "description": "made by hand in a test"})
        assert ok, self.conn.result


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    return Lab(tmp_path, samba_dc, directory)


def _enabled(user: dict[str, Any]) -> bool:
    return not int(user["userAccountControl"]) & 2


def test_apply_creates_the_partner_and_a_second_run_finds_nothing(lab: Lab) -> None:
    first = lab.apply()
    assert first.code == 0, first.err
    users = lab.users()
    assert set(users) == {"wbuma", "jvries", "jvries2", "aboervanderwal"}  # not beta: cloud
    wbuma = users["wbuma"]
    assert wbuma["dn"] == f"CN=Wâtse Bûmâ,OU=Users,OU=alpha,OU=Partners,{lab.base}"
    assert wbuma["userPrincipalName"] == "watse.buma@alpha.example"
    assert wbuma["employeeID"] == "1001"
    assert wbuma["displayName"] == "Bûmâ, Wâtse"
    assert wbuma["department"] == "Burgerzaken"
    assert _enabled(wbuma)
    assert str(wbuma["pwdLastSet"]) in ("0", "1601-01-01 00:00:00+00:00")  # change at logon
    assert not _enabled(users["aboervanderwal"])  # starts 2026-12-01: made, not yet enabled
    assert lab.members("alpha-all") == {"Wâtse Bûmâ", "Jan de Vries", "Jelle de Vries",
                                        "Anna de Boer-van der Wal"}
    assert lab.members("alpha-acc-vpn") == {"Wâtse Bûmâ"}
    # The passwords are in a 0600 credentials file and nowhere else.
    [credentials] = (lab.state / "credentials").iterdir()
    assert credentials.stat().st_mode & 0o777 == 0o600
    rows = credentials.read_text().splitlines()
    assert len(rows) == 5
    password = rows[1].split(",")[-1]
    assert password not in first.out + first.err
    assert password not in (lab.state / "audit.jsonl").read_text()
    second = lab.cli("plan")
    assert second.code == 0, second.out
    assert "no changes" in second.out
    assert lab.cli("drift").code == 0


def test_the_initial_password_is_set_and_must_be_changed(lab: Lab) -> None:
    assert lab.apply().code == 0
    [credentials] = (lab.state / "credentials").iterdir()
    row = next(r for r in credentials.read_text().splitlines() if ",wbuma," in r)
    password = row.split(",")[-1]
    user = "watse.buma@alpha.example"
    # The DC knows the password and asks for a new one first (pwdLastSet=0).
    with pytest.raises(BackendError, match="the password must be changed first"):
        connect(settings_for(lab.dc, bind_user=user, password=Secret(password)))
    with pytest.raises(BackendError, match="wrong user or password"):
        connect(settings_for(lab.dc, bind_user=user, password=Secret(password + "x")))


def test_rename_keeps_the_logon_name(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv", "replace": ["1001,Wâtse,,Bûmâ", "1001,Wâtse,,Fênstra"]})
    run = lab.apply()
    assert run.code == 0, run.err
    user = lab.users()["wbuma"]
    assert user["dn"] == f"CN=Wâtse Fênstra,OU=Users,OU=alpha,OU=Partners,{lab.base}"
    assert (user["sn"], user["displayName"]) == ("Fênstra", "Fênstra, Wâtse")
    assert "Wâtse Fênstra" in lab.members("alpha-all")  # AD follows the rename


def test_leaver_is_disabled_moved_and_taken_out_of_groups_then_rehired(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv", "replace": ["2012-01-01,", "2012-01-01,2026-11-01"]})
    run = lab.apply("--allow-disable", "alpha=1")
    assert run.code == 0, run.err
    jan = lab.users()["jvries"]
    assert jan["dn"] == f"CN=Jan de Vries,OU=alpha,OU=Leavers,{lab.base}"
    assert not _enabled(jan)
    assert "Jan de Vries" not in lab.members("alpha-all")
    lab.edit({"file": "people/alpha.csv", "replace": ["2012-01-01,2026-11-01", "2012-01-01,"]})
    assert lab.apply().code == 0
    jan = lab.users()["jvries"]
    assert jan["dn"] == f"CN=Jan de Vries,OU=Users,OU=alpha,OU=Partners,{lab.base}"
    assert _enabled(jan)
    assert "Jan de Vries" in lab.members("alpha-all")


def test_a_person_moving_to_another_partner_keeps_the_account(lab: Lab) -> None:
    lab.edit({"file": "partners/beta.yaml", "replace": ["identity: cloud", "identity: hybrid"]})
    assert lab.apply().code == 0
    before = lab.users()["jvries2"]
    lab.edit(
        *GONE_JELLE,
        {"file": "people/beta.csv",
         "append": "1003,Jelle,de,Vries,Handhaving,Inspecteur,bet-kantoor,vdi,2018-06-01,\n"},
    )
    run = lab.apply()
    assert run.code == 0, run.err
    after = lab.users()["jvries2"]
    assert after["objectGUID"] == before["objectGUID"]  # the same object, moved
    assert after["dn"] == f"CN=Jelle de Vries,OU=Users,OU=beta,OU=Partners,{lab.base}"
    assert after["userPrincipalName"] == "jelle.devries@beta.example"
    assert after["company"] == "Stichting Beta"
    assert "Jelle de Vries" in lab.members("beta-all")
    assert "Jelle de Vries" not in lab.members("alpha-all")


def test_an_unmanaged_account_is_reported_and_left_alone(lab: Lab) -> None:
    assert lab.apply().code == 0
    dn = f"CN=Scanner Balie,OU=Users,OU=alpha,OU=Partners,{lab.base}"
    lab.make_user_by_hand(dn, "scanbalie")
    before = lab.users()["scanbalie"]
    plan = lab.cli("plan")
    assert plan.code == 2 and f"unmanaged {dn}" in plan.out  # drift, for the scheduler
    assert lab.apply().code == 2
    assert lab.users()["scanbalie"] == before
    (lab.inventory / "holds.yaml").write_text(
        f"known:\n  - {{dn: '{dn}', reason: scanner at the front desk}}\n")
    known = lab.cli("plan")
    assert known.code == 0 and "known" in known.out, known.out + known.err


def test_guard_holds_one_partner_back_while_another_applies(lab: Lab) -> None:
    lab.edit({"file": "partners/beta.yaml", "replace": ["identity: cloud", "identity: hybrid"]})
    assert lab.apply().code == 0
    # A truncated export for alpha (two people gone) and a new joiner at beta.
    lab.edit(
        {"file": "people/alpha.csv", "replace": [JAN, ""]},
        *GONE_JELLE,
        {"file": "people/beta.csv",
         "append": "2003,Baukje,,Postma,Handhaving,Inspecteur,bet-kantoor,vdi,2026-01-01,\n"},
    )
    run = lab.apply()
    assert run.code == 2, run.out + run.err
    assert "partner 'alpha'" in run.err and "--allow-disable alpha=2" in run.err
    users = lab.users()
    assert _enabled(users["jvries"]) and _enabled(users["jvries2"])  # alpha untouched
    assert "bpostma" in users  # beta went on
    released = lab.apply("--allow-disable", "alpha=2")
    assert released.code == 0, released.err
    assert not _enabled(lab.users()["jvries"])


def test_a_name_taken_outside_the_tool_is_avoided(lab: Lab) -> None:
    lab.make_user_by_hand(f"CN=Sytse Hiemstra,CN=Users,{lab.base}", "shiemstra")
    lab.edit({"file": "people/alpha.csv", "append": HIRE_SYTSE})
    run = lab.apply()
    assert run.code == 0, run.err
    assert lab.users()["shiemstra2"]["employeeID"] == "1006"


def test_a_saved_plan_refuses_items_changed_since(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv", "replace": ["Teamleider", "Afdelingshoofd"]},
             {"file": "people/alpha.csv", "append": HIRE_SYTSE})
    plan_file = lab.state.parent / "today.plan.json"
    assert lab.cli("plan", "--out", str(plan_file)).code == 2
    saved = json.loads(plan_file.read_text())
    assert any(c["key"] == "alpha/1002" for c in saved["sections"]["directory"]["changes"])
    jan = lab.users()["jvries"]
    assert lab.conn.modify(jan["dn"], {"title": [(ldap3.MODIFY_REPLACE, ["Directeur"])]})
    run = lab.cli("apply", "--yes", str(plan_file))
    assert "refused account alpha/1002: title changed since the plan was made" in run.err
    assert run.code == 2
    assert lab.users()["jvries"]["title"] == "Directeur"  # not forced
    assert "shiemstra" in lab.users()  # the rest of the plan was applied


def test_wrong_credentials_are_a_clear_error(lab: Lab) -> None:
    password_file = lab.state.parent / "wrong.pass"
    password_file.write_text("not-the-password")
    write_targets(lab.targets, lab.dc, bind_password_file=str(password_file))
    run = lab.cli("plan")
    assert run.code == 1
    assert "refused: wrong user or password" in run.err


def test_a_plain_text_bind_is_refused(samba_dc: DomainController) -> None:
    url = f"ldap://{samba_dc.address}:389"
    with pytest.raises(BackendError, match="refusing a plain-text bind"):
        connect(settings_for(samba_dc, url=url))
    with pytest.raises(BackendError, match="the DC requires TLS"):
        connect(settings_for(samba_dc, url=url, insecure=True))
    connect(settings_for(samba_dc, url=url, starttls=True)).unbind()


def test_a_password_the_dc_rejects_fails_that_account_only(lab: Lab) -> None:
    domain = lab.base
    assert lab.conn.modify(domain, {"minPwdLength": [(ldap3.MODIFY_REPLACE, ["30"])]})
    try:
        run = lab.apply()
    finally:
        assert lab.conn.modify(domain, {"minPwdLength": [(ldap3.MODIFY_REPLACE, ["7"])]})
    assert run.code == 1
    assert "the DC rejected the password" in run.err
    assert lab.users() == {}  # no account half-made
    assert lab.members("alpha-all") == set()  # groups made; members skipped, not failed
    # Written ahead of each refused add, the rows name accounts that do not exist.
    rows = [r for f in (lab.state / "credentials").glob("*.csv") for r in f.read_text().split()]
    assert len(rows) == 5 and all(r.split(",")[2] not in lab.users() for r in rows[1:])
    again = lab.apply()  # with the policy back, a re-run converges
    assert again.code == 0, again.err
    assert len(lab.users()) == 4


def _hire_many(lab: Lab, count: int) -> None:
    rows = "".join(f"{5000 + i},Hylke,,Dijkstra,Ruimte,Adviseur,alp-hq,vdi,2020-01-01,\n"
                   for i in range(count))
    lab.edit({"file": "people/alpha.csv", "append": rows},
             {"file": "partners/alpha.yaml", "replace": ["users: 10", "users: 1000"]})


def _plan(lab: Lab) -> Any:
    from datetime import date

    from ssc_infra.run.directory import plan_directory
    from ssc_infra.sources.files import load

    today = date.fromisoformat(TODAY)
    return plan_directory(load(lab.inventory, today), today, settings_for(lab.dc)).plan


@pytest.fixture
def lonely_dc(tmp_path: Path) -> Any:
    """A DC of its own on a free loopback address, which a test may stop."""
    from ssc_infra_lab.dc import dc_status, stop_dc
    from tests.integration.conftest import start_or_give_up

    dc = start_or_give_up(tmp_path / "dc", "ssc.test")
    yield dc
    running = dc_status(dc.directory)
    if running is not None:
        stop_dc(running)


def test_the_dc_stopping_mid_apply_loses_nothing_and_a_rerun_converges(
    tmp_path: Path, lonely_dc: DomainController
) -> None:
    from ssc_infra.ad.apply import apply_changes
    from ssc_infra.ad.writer import AdWriter
    from ssc_infra.core.plan import ItemResult
    from ssc_infra_lab.dc import start_dc, stop_dc

    conn = connect(settings_for(lonely_dc))
    lab = Lab(tmp_path / "run", lonely_dc, conn)
    _hire_many(lab, 120)
    plan = _plan(lab)
    seen: list[ItemResult] = []
    made: dict[str, str] = {}

    def on_result(result: ItemResult) -> None:
        seen.append(result)
        if len(seen) == 40:
            stop_dc(lonely_dc)  # the DC goes away in the middle of the accounts

    writer = AdWriter(settings_for(lonely_dc, timeout=5), workers=3,
                      on_password=lambda change, _: made.__setitem__(change.key, change.dn))
    report = apply_changes(plan.changes, writer, on_result)
    writer.close()
    assert len(report.results) >= 40 and report.failed
    assert all(r.message for r in report.failed)
    assert any("lost the connection" in r.message or "cannot reach" in r.message
               for r in report.failed)
    # The DC comes back with everything that was acknowledged before it went.
    dc = start_dc(lonely_dc.directory, "ssc.test", lonely_dc.address)
    lab.conn = connect(settings_for(dc))
    users = lab.users()
    created = {u["employeeID"] for u in users.values()}
    acknowledged = {r.change.key for r in seen if r.ok and r.change.kind.value == "account"}
    assert {key.split("/")[1] for key in acknowledged} <= created
    # Every account made, acknowledged or not, had its password recorded first.
    assert created <= {key.split("/")[1] for key in made}
    rerun = AdWriter(settings_for(dc), workers=3, on_password=lambda change, _: None)
    second = apply_changes(_plan(lab).changes, rerun)
    rerun.close()
    assert not second.failed, [r.message for r in second.failed][:3]
    assert _plan(lab).empty
    assert len(lab.users()) == 4 + 120
