"""The AD backend's pure parts: raw entries into our types, scopes, messages, passwords."""

from __future__ import annotations

import dataclasses
import string
from typing import Any

import pytest
import yaml

from ssc_infra.ad.apply import apply_changes
from ssc_infra.ad.attributes import PASSWORD_NOT_RECORDED
from ssc_infra.ad.connection import AdSettings
from ssc_infra.ad.parse import parse_account, parse_group
from ssc_infra.ad.scope import Scope, partner_ous, scope_refusal
from ssc_infra.ad.writer import AdWriter, explain_ldap_result, joined_units
from ssc_infra.core.dn import dn_key, escape_rdn, parent_dn, rdn_value, split_dn
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import Secret, new_password
from tests.conftest import CASES

CASE_LIST = yaml.safe_load((CASES / "ldap" / "entries.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in CASE_LIST])
def test_raw_entries_parse_into_our_types(case: dict[str, Any]) -> None:
    if case["kind"] == "account":
        parsed: Any = parse_account(case["entry"], case["partner"], case["in_leavers"])
    else:
        parsed = parse_group(case["entry"], case["partner"])
    for name, expected in case["expect"].items():
        value = getattr(parsed, name)
        if isinstance(value, frozenset):
            value = sorted(value)
        if isinstance(value, tuple):
            value = list(value)
        assert value == expected, name


def test_partner_ous_are_found_one_level_below_the_containers() -> None:
    scope = Scope("DC=ssc,DC=frl", "OU=Partners,DC=ssc,DC=frl", "OU=Leavers,DC=ssc,DC=frl")
    ous = [dn_key(d) for d in (
        "OU=Partners,DC=ssc,DC=frl", "OU=waadhoeke,OU=Partners,DC=ssc,DC=frl",
        "OU=Users,OU=waadhoeke,OU=Partners,DC=ssc,DC=frl", "OU=ameland,OU=Leavers,DC=ssc,DC=frl",
        "OU=Domain Controllers,DC=ssc,DC=frl")]
    assert sorted(partner_ous(ous, scope)) == [
        ("ameland", "ou=ameland,ou=leavers,dc=ssc,dc=frl", True),
        ("waadhoeke", "ou=waadhoeke,ou=partners,dc=ssc,dc=frl", False),
    ]


@pytest.mark.parametrize(("result", "words"), [
    ({"description": "constraintViolation", "message": "0000052D: Constraint violation"},
     "the DC rejected the password"),
    ({"description": "entryAlreadyExists", "message": "00002071: samldb: already in use"},
     "already taken in the domain"),
    ({"description": "insufficientAccessRights", "message": ""}, "delegate them on the partner"),
    ({"description": "noSuchObject", "message": ""}, "run plan again"),
])
def test_ldap_answers_are_explained(result: dict[str, str], words: str) -> None:
    text = explain_ldap_result(result, "CN=x,OU=y")
    assert words in text and "CN=x,OU=y" in text


def test_new_passwords_meet_ad_complexity_and_differ() -> None:
    seen = {new_password() for _ in range(200)}
    assert len(seen) == 200
    for password in seen:
        assert len(password) == 20
        assert any(c in string.ascii_uppercase for c in password)
        assert any(c in string.ascii_lowercase for c in password)
        assert any(c in string.digits for c in password)
        assert any(c in "!#%+-.=?@_" for c in password)
        assert '"' not in password  # it goes inside quotes in unicodePwd


def test_a_secret_never_shows_itself() -> None:
    secret = Secret("Geheim-123!")
    assert "Geheim" not in repr(secret) and "Geheim" not in str(secret)
    assert "Geheim" not in f"{secret}"
    assert secret.reveal() == "Geheim-123!"


@pytest.mark.parametrize(("value", "escaped"), [
    ("Jan de Vries", "Jan de Vries"), ("Boer, de", "Boer\\, de"), (" lead", "\\ lead"),
    ("#1", "\\#1"), ("a+b=c", "a\\+b\\=c"), ("trail ", "trail\\ "),
])
def test_rdn_values_are_escaped(value: str, escaped: str) -> None:
    assert escape_rdn(value) == escaped
    assert rdn_value(f"CN={escaped},OU=x") == value


def test_dns_split_on_unescaped_commas_only() -> None:
    dn = "CN=Boer\\, de,OU=Users,DC=ssc,DC=frl"
    assert split_dn(dn) == ["CN=Boer\\, de", "OU=Users", "DC=ssc", "DC=frl"]
    assert parent_dn(dn) == "OU=Users,DC=ssc,DC=frl"
    assert dn_key("CN=A, OU=B") == "cn=a,ou=b"


WRITER_SCOPE = Scope("DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", "OU=Leavers,DC=ssc,DC=test")
SCOPE_CASES = yaml.safe_load((CASES / "ldap" / "scope.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in SCOPE_CASES])
def test_the_writer_refuses_anything_outside_its_scope(case: dict[str, Any]) -> None:
    raw = case["change"]
    change = Change(ObjectKind(raw["kind"]), Action(raw["action"]), raw["partner"], raw["key"],
                    raw["dn"], {}, raw["after"])
    reason = scope_refusal(change, WRITER_SCOPE)
    if case["refused"] is None:
        assert reason is None
    else:
        assert reason is not None and case["refused"] in reason, reason


def test_a_scope_outside_its_base_dn_refuses_everything() -> None:
    scope = Scope("DC=ssc,DC=test", "OU=Partners,DC=other", "OU=Leavers,DC=ssc,DC=test")
    change = Change(ObjectKind.OU, Action.CREATE, "", "x", "OU=x,OU=Partners,DC=other")
    assert "not below the base DN" in (scope_refusal(change, scope) or "")


class _FakeConn:
    """Records the order of operations; answers every one with `ok`."""

    def __init__(self, events: list[str], ok: bool = True, refuse_members: bool = False) -> None:
        self.events, self.ok, self.closed = events, ok, False
        self.refuse_members = refuse_members  # an add that carries members is refused
        self.result = {} if ok else {"description": "unwillingToPerform", "message": ""}

    def add(self, dn: str, *args: Any) -> bool:
        members = (args[1] if len(args) > 1 else {}).get("member")
        if members and self.refuse_members:
            self.result = {"description": "noSuchObject", "message": "a member is gone"}
            self.events.append(f"refused add {dn} with {len(members)} members")
            return False
        self.events.append(f"add {dn}" + (f" with {len(members)} members" if members else ""))
        return self.ok

    def modify(self, dn: str, changes: dict[str, Any]) -> bool:
        self.events.append(f"modify {dn} {sorted(changes)}")
        return self.ok


def _writer(events: list[str], sink: Any, ok: bool = True, refuse_members: bool = False,
            workers: int = 1) -> AdWriter:
    settings = AdSettings("ldaps://dc", "svc", Secret("x"), "DC=ssc,DC=test")
    writer = AdWriter(settings, workers=workers, on_password=sink)
    conn = _FakeConn(events, ok, refuse_members)
    writer._conn = lambda: conn  # type: ignore[method-assign]
    return writer


NEW_JAN = Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", "alpha/1002",
                 "CN=Jan de Vries,OU=Users,OU=alpha,OU=Partners,DC=ssc,DC=test", {},
                 {"sAMAccountName": "jvries", "userPrincipalName": "jan@alpha.example",
                  "cn": "Jan de Vries", "enabled": True})


def test_the_initial_password_is_recorded_before_the_account_exists() -> None:
    events: list[str] = []
    [result] = _writer(events, lambda c, p: events.append(f"record {c.key}")).apply([NEW_JAN])
    assert result.ok
    assert events == ["record alpha/1002", f"add {NEW_JAN.dn}"]


def test_no_account_is_made_when_its_password_cannot_be_recorded() -> None:
    events: list[str] = []

    def full_disk(change: Change, password: str) -> None:
        raise OSError(28, "No space left on device")

    [result] = _writer(events, full_disk).apply([NEW_JAN])
    assert not result.ok and events == []
    assert "recording its new password failed" in result.message
    assert "No space left" in result.message
    [result] = _writer(events, None).apply([NEW_JAN])
    assert not result.ok and "nowhere to record" in result.message and events == []


def test_a_reset_records_the_new_password_then_sets_it_with_must_change() -> None:
    events: list[str] = []
    recorded: list[tuple[Change, str]] = []
    reset = Change(ObjectKind.ACCOUNT, Action.RESET_PASSWORD, "alpha", "alpha/1002", NEW_JAN.dn,
                   {"sAMAccountName": "jvries", "userPrincipalName": "jan@alpha.example",
                    "password": PASSWORD_NOT_RECORDED}, {"password": "Hunter2!in-a-plan"})

    def sink(change: Change, password: str) -> None:
        events.append("record")
        recorded.append((change, password))

    [result] = _writer(events, sink).apply([reset])
    assert result.ok
    assert events == ["record", f"modify {NEW_JAN.dn} ['pwdLastSet', 'unicodePwd']"]
    [(change, password)] = recorded
    assert change.after["sAMAccountName"] == "jvries"  # the credentials row names the account
    assert password != "Hunter2!in-a-plan"  # a value in a plan file is never used


GROUPS = "OU=Groups,OU=alpha,OU=Partners,DC=ssc,DC=test"
NEW_GROUP = Change(ObjectKind.GROUP, Action.CREATE, "alpha", "alpha-all", f"CN=alpha-all,{GROUPS}",
                   {}, {"description": "everyone"})
ITS_MEMBERS = Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-all", NEW_GROUP.dn,
                     {"members": []}, {"add": [NEW_JAN.dn], "remove": [],
                                       "add_keys": ["alpha/1002"], "remove_keys": []})
OLD_GROUP = "CN=alpha-vpn," + GROUPS
OTHER_MEMBERS = Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-vpn", OLD_GROUP,
                       {"members": []}, {"add": [NEW_JAN.dn], "remove": []})
DESCRIBED = Change(ObjectKind.GROUP, Action.UPDATE, "alpha", "alpha-vpn", OLD_GROUP,
                   {"description": ""}, {"description": "VPN"})


@pytest.mark.parametrize(("batch", "rounds"), [
    ([NEW_GROUP, ITS_MEMBERS], [[("alpha-all", "alpha-all")]]),
    ([ITS_MEMBERS, OTHER_MEMBERS, DESCRIBED, NEW_GROUP],
     [[("alpha-vpn",), ("alpha-all", "alpha-all")], [("alpha-vpn",)]]),
    # a new group's change that also removes (only a hand-edited plan) waits for its group
    ([NEW_GROUP, dataclasses.replace(ITS_MEMBERS, after={"add": [], "remove": [NEW_JAN.dn]})],
     [[("alpha-all",)], [("alpha-all",)]]),
    ([OTHER_MEMBERS], [[("alpha-vpn",)]]),
])
def test_a_new_group_is_written_with_its_members_and_other_memberships_after_the_groups(
        batch: list[Change], rounds: list[list[tuple[str, ...]]]) -> None:
    assert [[tuple(c.key for c in unit) for unit in units]
            for units in joined_units(batch)] == rounds


def test_a_new_group_and_its_members_go_in_one_add_and_each_item_is_reported() -> None:
    events: list[str] = []
    reported: list[ItemResult] = []
    results = _writer(events, None).apply([NEW_GROUP, ITS_MEMBERS, OTHER_MEMBERS],
                                          reported.append)
    assert events == [f"add {NEW_GROUP.dn} with 1 members", f"modify {OLD_GROUP} ['member']"]
    assert [(r.change, r.ok) for r in results] == [(NEW_GROUP, True), (ITS_MEMBERS, True),
                                                   (OTHER_MEMBERS, True)]
    assert reported == results


def test_a_refused_add_with_members_is_written_apart_so_the_group_is_still_made() -> None:
    events: list[str] = []
    group, members = _writer(events, None, refuse_members=True).apply([NEW_GROUP, ITS_MEMBERS])
    assert events == [f"refused add {NEW_GROUP.dn} with 1 members", f"add {NEW_GROUP.dn}",
                      f"modify {NEW_GROUP.dn} ['member']"]
    assert group.ok and members.ok


def test_a_member_outside_the_scope_is_refused_and_the_group_made_alone() -> None:
    events: list[str] = []
    outside = dataclasses.replace(ITS_MEMBERS, after={
        "add": ["CN=Administrator,CN=Users,DC=ssc,DC=test"], "remove": []})
    group, members = _writer(events, None, workers=2).apply([NEW_GROUP, outside])
    assert events == [f"add {NEW_GROUP.dn}"]
    assert group.ok and not members.ok and members.message.startswith("refused: ")


def test_accounts_are_written_before_the_groups_that_take_them_in() -> None:
    events: list[str] = []
    changes = [NEW_GROUP, ITS_MEMBERS, NEW_JAN]
    report = apply_changes(changes, _writer(events, lambda c, p: events.append("record")))
    assert events == ["record", f"add {NEW_JAN.dn}", f"add {NEW_GROUP.dn} with 1 members"]
    assert report.succeeded == 3


def test_a_failed_account_is_left_out_of_its_new_group() -> None:
    events: list[str] = []
    report = apply_changes([NEW_GROUP, ITS_MEMBERS, NEW_JAN], _writer(events, None))
    assert [(r.change.kind, r.ok) for r in report.results] == [
        (ObjectKind.ACCOUNT, False), (ObjectKind.GROUP, True)]  # no member left to add
    assert events == [f"add {NEW_GROUP.dn}"]
