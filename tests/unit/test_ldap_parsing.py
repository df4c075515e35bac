"""The AD backend's pure parts: raw entries into our types, scopes, messages, passwords."""

from __future__ import annotations

import string
from typing import Any

import pytest
import yaml

from ssc_infra.backends.ad import (
    Scope,
    Secret,
    explain_ldap_result,
    new_password,
    parse_account,
    parse_group,
    partner_ous,
    scope_refusal,
)
from ssc_infra.dn import dn_key, escape_rdn, parent_dn, rdn_value, split_dn
from ssc_infra.plan import Action, Change, ObjectKind
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
