"""Reading only what changed since the last read gives what a full read gives, against a real
Samba AD DC changed by hand in every way that matters: attributes, members, a rename, a move
out of scope, a delete, an unmanaged account, an OU renamed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import ldap3
import pytest

from ssc_infra.ad import snapshot as ad_snapshot
from ssc_infra.ad.connection import connect
from ssc_infra.ad.scope import default_scope
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.dn import dn_key
from ssc_infra_lab.dc import DomainController
from tests.integration.conftest import settings_for
from tests.integration.test_ad import Lab

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    lab = Lab(tmp_path, samba_dc, directory)
    assert lab.apply().code == 0
    return lab


def _read(lab: Lab, *, full: bool) -> DirectoryState:
    settings = settings_for(lab.dc)
    lab.state.mkdir(exist_ok=True)
    return ad_snapshot.read(lambda: connect(settings), default_scope(lab.base), 4, lab.state,
                            full)


def _same(a: DirectoryState, b: DirectoryState) -> None:
    assert dataclasses.replace(a, round_trips=0) == dataclasses.replace(b, round_trips=0)


def _dn(lab: Lab, sam: str) -> str:
    return str(lab.users()[sam]["dn"])


def test_a_read_of_what_changed_equals_a_full_read(lab: Lab) -> None:
    first = _read(lab, full=True)
    nothing = _read(lab, full=False)
    _same(nothing, first)
    assert nothing.round_trips <= 3  # the DC's position only: nothing changed

    conn = lab.conn
    alpha = f"OU=alpha,OU=Partners,{lab.base}"
    group = next(g for g in first.groups if g.partner == "alpha" and len(g.members) >= 2)
    member = next(a for a in first.accounts if dn_key(a.dn) in group.members)
    others = [a for a in first.accounts if a.key is not None and a.dn != member.dn]
    # The one to delete is a member too: the group loses it without a USN of its own.
    others.sort(key=lambda a: dn_key(a.dn) not in group.members)
    others[0], others[1] = others[1], others[0]
    assert len(others) >= 3 and dn_key(others[1].dn) in group.members
    # Attributes and a lock, a rename of a member, a delete of another, one moved out.
    assert conn.modify(others[0].dn, {"department": [(ldap3.MODIFY_REPLACE, ["By hand"])],
                                      "userAccountControl": [(ldap3.MODIFY_REPLACE, ["514"])]})
    assert conn.modify_dn(member.dn, "CN=Renamed by hand")
    assert conn.delete(others[1].dn), conn.result
    assert conn.modify_dn(others[2].dn, f"CN={others[2].sam}", new_superior=f"CN=Users,{lab.base}")
    # An unmanaged account in the partner OU, added to a group by hand.
    lab.make_user_by_hand(f"CN=Made by hand,OU=Users,{alpha}", "byhand")
    assert conn.modify(group.dn, {"member": [(ldap3.MODIFY_ADD, [f"CN=Made by hand,OU=Users,"
                                                                 f"{alpha}"])]})

    changed = _read(lab, full=False)
    assert changed.round_trips < 10
    full = _read(lab, full=True)
    _same(changed, full)
    renamed = next(a for a in full.accounts if a.key == member.key)
    assert renamed.dn.startswith("CN=Renamed by hand,")
    found = next(g for g in changed.groups if g.dn == group.dn)
    assert dn_key(renamed.dn) in found.members and dn_key(others[1].dn) not in found.members
    assert any(a.sam == "byhand" for a in changed.unmanaged())
    assert all(a.key != others[2].key for a in changed.accounts)  # moved out of scope
    assert next(a for a in changed.accounts if a.key == others[0].key).enabled is False

    # An OU renamed moves everything below it without a USN of its own: a full read then.
    assert conn.modify_dn(f"OU=Users,{alpha}", "OU=Staff")
    after_ou = _read(lab, full=False)
    assert after_ou.round_trips > 5
    _same(after_ou, _read(lab, full=True))
    assert any("ou=staff" in a.dn.lower() for a in after_ou.accounts)


def test_a_kept_read_of_another_dc_or_a_damaged_one_means_a_full_read(lab: Lab) -> None:
    first = _read(lab, full=True)
    kept = lab.state / ad_snapshot.SNAPSHOT
    assert kept.stat().st_mode & 0o777 == 0o600  # it holds people's names
    data = json.loads(kept.read_text())
    data["server"] = "CN=NTDS Settings,CN=DC2#restored"
    data["entries"] = []  # were it trusted, every account would be gone
    kept.write_text(json.dumps(data))
    _same(_read(lab, full=False), first)
    kept.write_text("{ not json")
    _same(_read(lab, full=False), first)
