"""Drift rules against a real Samba AD DC: locks set by hand, unmanaged objects, retired groups.

Every result is read back from the directory itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import ldap3
import pytest

from ssc_infra.ad.apply import apply_changes
from ssc_infra.ad.attributes import DISABLED_MARK, RETIRED_MARK
from ssc_infra.ad.writer import AdWriter
from ssc_infra.core.model import PersonKey
from ssc_infra.core.plan import Action, ObjectKind, Section
from ssc_infra.run.directory import plan_directory
from ssc_infra.sources.files import load
from ssc_infra.sources.holds import HOLDS_FILE, NO_HOLDS, Holds, load_holds
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import settings_for
from tests.integration.test_ad import TODAY, Lab

pytestmark = pytest.mark.integration
DAY = date.fromisoformat(TODAY)
JAN = ("alpha", "1002")


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    return Lab(tmp_path, samba_dc, directory)


def _plan(lab: Lab, holds: Holds = NO_HOLDS, enable: frozenset[PersonKey] = frozenset(),
          allow: dict[str, int] | None = None) -> Section:
    region = load(lab.inventory, DAY)
    return plan_directory(region, DAY, settings_for(lab.dc), allow_disable=allow, holds=holds,
                          enable=enable).plan


def _apply(lab: Lab, plan: Section) -> None:
    writer = AdWriter(settings_for(lab.dc), workers=2)
    try:
        report = apply_changes(plan.changes, writer)
    finally:
        writer.close()
    assert not report.failed, [r.message for r in report.failed]


def _enabled(user: dict[str, Any]) -> bool:
    return not int(user["userAccountControl"]) & 2


def _mark(user: dict[str, Any]) -> str:
    return str(user.get("adminDescription") or "")


def _disable_by_hand(lab: Lab, sam: str) -> str:
    user = lab.users()[sam]
    uac = int(user["userAccountControl"]) | 2
    assert lab.conn.modify(user["dn"], {"userAccountControl": [(ldap3.MODIFY_REPLACE,
                                                                [str(uac)])]}), lab.conn.result
    return str(user["dn"])


def _group(lab: Lab, name: str) -> dict[str, Any]:
    lab.conn.search(f"OU=Partners,{lab.base}", f"(&(objectClass=group)(cn={name}))",
                    attributes=["description", "member"])
    [entry] = [e for e in lab.conn.response or [] if e.get("type") == "searchResEntry"]
    attrs = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v)
             for k, v in entry["attributes"].items()}
    return {"dn": entry["dn"], **attrs}


def test_a_lock_set_by_hand_survives_apply_until_it_is_released(lab: Lab) -> None:
    assert lab.apply().code == 0
    # The tool marks what it makes disabled: the pre-start account starting 2026-12-01.
    assert _mark(lab.users()["aboervanderwal"]).startswith(DISABLED_MARK)
    assert _mark(lab.users()["jvries"]) == ""
    dn = _disable_by_hand(lab, "jvries")

    again = lab.apply()
    assert again.code in (0, 2), again.err
    assert not _enabled(lab.users()["jvries"])  # not silently enabled again
    plan = _plan(lab)
    assert plan.empty and [(u.dn, u.key) for u in plan.drift] == [(dn, "alpha/1002")]
    assert "--enable alpha/1002" in plan.drift[0].reason

    # A hold acknowledges the lock: listed, not drift; the account stays disabled.
    (lab.inventory / HOLDS_FILE).write_text(
        "holds:\n  - {person: alpha/1002, reason: INC-4711 locked by the CISO, "
        "until: 2026-12-31}\n", encoding="utf-8")
    holds = load_holds(lab.inventory / HOLDS_FILE, load(lab.inventory, DAY))
    held = _plan(lab, holds)
    assert held.empty and not held.drift
    assert "INC-4711" in held.acknowledged[0].known

    # The explicit release enables it; then nothing is left, and no mark either.
    released = _plan(lab, holds, frozenset({JAN}))
    assert [(c.action, c.key) for c in released.changes] == [(Action.ENABLE, "alpha/1002")]
    _apply(lab, released)
    assert _enabled(lab.users()["jvries"])
    after = _plan(lab, holds)
    assert after.empty and not after.unmanaged


def test_the_tool_enables_its_own_pre_start_account_on_the_start_date(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv", "replace": ["Controller,alp-hq,vdi,2026-12-01",
                                                      "Controller,alp-hq,vdi,2026-11-20"]})
    run = lab.apply()
    assert run.code == 0, run.err
    anna = lab.users()["aboervanderwal"]
    assert _enabled(anna) and _mark(anna) == ""  # the mark goes with the enable
    # Locked by hand later, it is a lock like any other.
    _disable_by_hand(lab, "aboervanderwal")
    assert lab.apply().code in (0, 2)
    assert not _enabled(lab.users()["aboervanderwal"])


def test_a_leaver_disabled_by_the_tool_comes_back_enabled(lab: Lab) -> None:
    assert lab.apply().code == 0
    lab.edit({"file": "people/alpha.csv", "replace": ["2012-01-01,", "2012-01-01,2026-11-01"]})
    assert lab.apply("--allow-disable", "alpha=1").code == 0
    assert _mark(lab.users()["jvries"]).startswith(DISABLED_MARK)
    lab.edit({"file": "people/alpha.csv", "replace": ["2012-01-01,2026-11-01", "2012-01-01,"]})
    assert lab.apply().code == 0
    jan = lab.users()["jvries"]
    assert _enabled(jan) and _mark(jan) == ""


def test_an_unmanaged_account_is_drift_unless_known(lab: Lab) -> None:
    assert lab.apply().code == 0
    dn = f"CN=Scanner Balie,OU=Users,OU=alpha,OU=Partners,{lab.base}"
    lab.make_user_by_hand(dn, "scanbalie")
    plan = _plan(lab)
    assert plan.empty and [u.dn for u in plan.drift] == [dn]
    (lab.inventory / HOLDS_FILE).write_text(
        f"known:\n  - dn: \"{dn}\"\n    reason: front desk scanner, facilities\n",
        encoding="utf-8")
    holds = load_holds(lab.inventory / HOLDS_FILE, load(lab.inventory, DAY))
    known = _plan(lab, holds)
    assert known.empty and not known.drift and [u.dn for u in known.acknowledged] == [dn]


def test_a_department_that_disappears_has_its_group_emptied_never_deleted(lab: Lab) -> None:
    assert lab.apply().code == 0
    assert lab.members("alpha-dep-ruimte") == {"Jelle de Vries"}
    lab.edit({"file": "people/alpha.csv", "replace": ["1003,Jelle,de,Vries,Ruimte",
                                                      "1003,Jelle,de,Vries,Burgerzaken"]},
             {"file": "people/alpha.csv", "replace": ["1004,Ytsje,van der,Meer,Ruimte",
                                                      "1004,Ytsje,van der,Meer,Burgerzaken"]})
    # Emptying the group takes access away: the guard (0 for 4 accounts) holds alpha back.
    held = lab.apply()
    assert held.code == 2 and "--allow-disable alpha=1" in held.out + held.err, held.out
    assert lab.members("alpha-dep-ruimte") == {"Jelle de Vries"}
    run = lab.apply("--allow-disable", "alpha=1")
    assert run.code == 0, run.err
    group = _group(lab, "alpha-dep-ruimte")  # still there
    assert lab.members("alpha-dep-ruimte") == set()
    assert str(group["description"]).startswith(RETIRED_MARK)
    assert "Jelle de Vries" in lab.members("alpha-dep-burgerzaken")
    second = _plan(lab)
    assert second.empty and not second.unmanaged  # converged: nothing to do, no drift

    # A member added by hand to the retired group is taken out again.
    jan = lab.users()["jvries"]["dn"]
    assert lab.conn.modify(group["dn"], {"member": [(ldap3.MODIFY_ADD, [jan])]})
    again = _plan(lab, allow={"alpha": 1})
    assert [(c.kind, c.action, c.key) for c in again.changes] == [
        (ObjectKind.MEMBERS, Action.DISABLE, "alpha-dep-ruimte")]
    _apply(lab, again)
    assert lab.members("alpha-dep-ruimte") == set()
    assert _plan(lab).empty
