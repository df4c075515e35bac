"""DNs compare after canonical unescaping: every spelling a DC may return names one object."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from ssc_infra.core.dn import (
    PLAIN_VALUE,
    canonical_dn,
    dn_key,
    escape_rdn,
    is_within,
    rdn_value,
    unescape_value,
)
from tests.conftest import CASES

DN_CASES = yaml.safe_load((CASES / "ldap" / "dns.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", [pytest.param(c, id=c["name"]) for c in DN_CASES])
def test_every_spelling_of_a_dn_has_one_key(case: dict[str, Any]) -> None:
    for spelling in case["spellings"]:
        assert dn_key(spelling) == case["key"], spelling
        if "value" in case:
            assert rdn_value(spelling).lower() == case["value"].lower(), spelling


@pytest.mark.parametrize("value", [
    "Jan;de=Vries, jr", "#1 Bûmâ ", " lead", 'Vries "jr" \\ 2+3', "<Ytsje>", "plain",
])
def test_a_value_escaped_by_the_tool_reads_back_unchanged(value: str) -> None:
    assert unescape_value(escape_rdn(value)) == value
    dn = f"CN={escape_rdn(value)},OU=Users,DC=ssc,DC=test"
    assert canonical_dn(dn) == dn
    assert canonical_dn(canonical_dn(dn)) == canonical_dn(dn)


def test_hex_escapes_are_read_as_utf8_bytes() -> None:
    assert unescape_value("Y\\74sje B\\C3\\BBm\\C3\\A2") == "Ytsje Bûmâ"


@pytest.mark.parametrize(("dn", "container", "inside"), [
    ("CN=Jan,OU=Users,OU=alpha,OU=Partners,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", True),
    ("ou=partners,dc=ssc,dc=test", "OU=Partners,DC=ssc,DC=test", True),
    ("CN=Jan,OU=P\\61rtners,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", True),
    ("CN=Domain Admins,CN=Users,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
    ("CN=x,OU=Partners,DC=evil,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
    ("CN=x,OU=Partners\\,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
    ("CN=x\\,OU=Partners,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
    ("CN=x,OU=XPartners,DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
    ("DC=ssc,DC=test", "OU=Partners,DC=ssc,DC=test", False),
])
def test_is_within_compares_whole_rdns(dn: str, container: str, inside: bool) -> None:
    assert is_within(dn, container) is inside


@given(st.text(alphabet=st.sampled_from(list('ab #,+"\\<>;=Ã©3D')), max_size=12))
def test_the_plain_value_shortcut_agrees_with_unescaping_and_escaping_again(value: str) -> None:
    """A value the shortcut leaves alone is one that unescaping and escaping again leaves alone."""
    if PLAIN_VALUE.fullmatch(value):
        assert escape_rdn(unescape_value(value)) == value


def _escaped_char_by_char(value: str) -> str:
    return "".join("\\" + c if c in ',+"\\<>;=' or (i == 0 and c in "# ") or
                   (i == len(value) - 1 and c == " ") else c for i, c in enumerate(value))


@given(st.text(alphabet=st.sampled_from(list('ab #,+"\\<>;=\n\tÃ©')), max_size=12))
def test_escaping_a_plain_value_leaves_it_as_it_is(value: str) -> None:
    assert escape_rdn(value) == _escaped_char_by_char(value)
