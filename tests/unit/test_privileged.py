"""The privileged groups against who belongs in them (pure): a member nobody listed, a listed
member gone, a watched group not found; names compared as AD does, without case."""

from __future__ import annotations

import pytest

from ssc_infra.ad.privileged import PrivilegedGroup, privileged_drift

DA = PrivilegedGroup("Domain Admins", "CN=Domain Admins,CN=Users,DC=x", ("Administrator",))


@pytest.mark.parametrize(("found", "expected", "findings"), [
    ({"domain admins": DA}, {"Domain Admins": ("administrator",)}, []),
    ({"domain admins": DA}, {"Domain Admins": ("Administrator", "adm-tvdmeer")},
     [("adm-tvdmeer", "is listed for Domain Admins")]),
    ({"domain admins": PrivilegedGroup(DA.name, DA.dn, ("Administrator", "jvries"))},
     {"Domain Admins": ("Administrator",)}, [("jvries", "does not list it")]),
    ({}, {"Backup Operators": ()}, [("", "is not in the directory")]),
])
def test_each_difference_is_privileged_drift_naming_group_and_member(
        found: dict[str, PrivilegedGroup], expected: dict[str, tuple[str, ...]],
        findings: list[tuple[str, str]]) -> None:
    drift = privileged_drift(found, expected)
    assert [(u.label, u.privileged) for u in drift] == [(m, True) for m, _ in findings]
    for item, (_, words) in zip(drift, findings, strict=True):
        assert words in item.reason and item.partner == "" and not item.known
