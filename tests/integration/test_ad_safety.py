"""The directory writer against a real Samba DC: nothing lost, only inside its scope, converges.

Every result is read back from the directory itself.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import ldap3
import pytest

from ssc_infra.directory import plan_directory
from ssc_infra.inventory.files import load
from ssc_infra.lab import DomainController
from ssc_infra.plan import Plan
from tests.integration.conftest import settings_for
from tests.integration.test_ad import TODAY, Lab

pytestmark = pytest.mark.integration

# cn "#Jan;de=Vries Vries, jr": a hash first, then = ; and , which Samba returns as \3D \3B \2C
ODD_NAME = '7001,#Jan;de=Vries,,"Vries, jr",Burgerzaken,Medewerker,alp-hq,vdi,2020-01-01,\n'


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    return Lab(tmp_path, samba_dc, directory)


def _plan(lab: Lab, **options: Any) -> Plan:
    today = date.fromisoformat(TODAY)
    return plan_directory(load(lab.inventory, today), today, settings_for(lab.dc),
                          **options).plan


def test_a_name_with_dn_special_characters_converges(lab: Lab) -> None:
    lab.edit({"file": "people/alpha.csv", "append": ODD_NAME})
    first = lab.apply()
    assert first.code == 0, first.out + first.err
    odd = next(u for u in lab.users().values() if u["employeeID"] == "7001")
    assert odd["cn"] == "#Jan;de=Vries Vries, jr"
    second = _plan(lab)
    assert second.empty, [(c.action.value, c.key, dict(c.after)) for c in second.changes]
    assert lab.cli("plan").code == 0
