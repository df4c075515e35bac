"""Retention and the purge plan (`ssc_infra.ad.retention`), as data cases."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from ssc_infra.ad.retention import SINCE_CHANGE, SINCE_MARK, leavers, parked_on, plan_purge
from ssc_infra.core.actual import (
    UAC_ACCOUNTDISABLE,
    UAC_NORMAL_ACCOUNT,
    DirectoryAccount,
    ParkedAccount,
)
from ssc_infra.core.model import Guards
from ssc_infra.core.plan import Action
from tests.conftest import data_cases

TODAY = date(2026, 12, 3)


def _parked(spec: dict[str, Any]) -> ParkedAccount:
    partner, _, employee_id = str(spec["key"]).partition("/")
    if spec["key"] == "-":
        partner, employee_id = "alpha", ""
    changed = spec.get("changed")
    return ParkedAccount(
        DirectoryAccount(
            dn=f"CN=Person {spec['key']},OU={partner},OU=Leavers,DC=ssc,DC=test",
            sam=f"p{employee_id or 'x'}", partner=partner, employee_id=employee_id or None,
            display_name=f"Person {spec['key']}",
            uac=UAC_NORMAL_ACCOUNT | (0 if spec.get("enabled") else UAC_ACCOUNTDISABLE),
            in_leavers=True, marker=str(spec.get("mark", ""))),
        str(spec.get("guid", f"guid-{spec['key']}")),
        datetime.fromisoformat(changed).replace(tzinfo=UTC) if changed else None)


@pytest.mark.parametrize("case", data_cases("retention"))
def test_the_purge_deletes_exactly_the_expected_accounts(case: dict[str, Any]) -> None:
    found = leavers([_parked(a) for a in case["accounts"]], retention_days=90)
    current = {tuple(k.split("/", 1)) for k in case.get("current", [])}
    bundles = {p: (frozenset(v) if isinstance(v, list) else v)
               for p, v in case.get("bundles", {}).items()}
    plan = plan_purge(found, TODAY, Guards(max_disable=case.get("guard", 50)),
                      current, bundles, case.get("partners", ()), case.get("allow"))
    deleted = sorted(c.key for c in plan.section.changes)
    assert deleted == sorted(case["expect"])
    assert all(c.action is Action.DELETE and c.destructive for c in plan.section.changes)
    assert all(c.before["objectGUID"] and c.before["enabled"] is False
               for c in plan.section.changes)
    refused = {r.leaver.key if r.leaver.parked.account.employee_id else "-": r.reason
               for r in plan.refused}
    assert set(refused) == set(case.get("refused", {}))
    for key, part in case.get("refused", {}).items():
        assert part in refused[key]
    assert plan.waiting == case.get("waiting", 0)
    held = {h.partner: h.message() for h in plan.section.held}
    assert set(held) == set(case.get("held", {}))
    for partner, part in case.get("held", {}).items():
        assert part in held[partner]


def test_the_day_of_leaving_comes_from_the_mark_else_the_last_change() -> None:
    marked = _parked({"key": "a/1", "mark": "ssc-infra: disabled by the tool: leaver on "
                      "2026-09-04", "changed": "2026-10-01"})
    assert parked_on(marked) == (date(2026, 9, 4), SINCE_MARK)
    old = _parked({"key": "a/1", "mark": "ssc-infra: disabled by the tool: leaver",
                   "changed": "2026-10-01"})
    assert parked_on(old) == (date(2026, 10, 1), SINCE_CHANGE)
    forged = _parked({"key": "a/1", "mark": "by hand on 2001-01-01", "changed": "2026-10-01"})
    assert parked_on(forged) == (date(2026, 10, 1), SINCE_CHANGE)  # not the tool's mark
    assert parked_on(_parked({"key": "a/1", "mark": "x"})) == (None, "")


def test_a_mark_at_the_end_of_the_calendar_means_never_not_a_crash() -> None:
    edited = _parked({"key": "a/1", "mark": "ssc-infra: disabled by the tool: leaver on "
                      "9999-12-30"})
    [leaver] = leavers([edited], retention_days=90)
    assert leaver.left == date(9999, 12, 30) and leaver.purge_from is None
    assert not plan_purge([leaver], TODAY, Guards(), set(), {}, (), None).section.changes
