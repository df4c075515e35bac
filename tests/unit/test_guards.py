"""Guards: a partner whose plan disables too much is held back; the others go on."""

from __future__ import annotations

import pytest

from ssc_infra.ad.guards import guard_directory
from ssc_infra.core.actual import DirectoryAccount, DirectoryState
from ssc_infra.core.model import Guards
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    ObjectKind,
    Plan,
    Section,
    apply_guards,
    disable_limit,
    parse_allow_disable,
)


def _disable(partner: str, n: int) -> Change:
    return Change(ObjectKind.ACCOUNT, Action.DISABLE, partner, f"{partner}/{n}", f"CN={n}")


def _state(**enabled: int) -> DirectoryState:
    accounts = tuple(
        DirectoryAccount(f"CN={p}{i}", f"{p}{i}", p, str(i))
        for p, count in enabled.items() for i in range(count)
    )
    return DirectoryState(frozenset(), accounts, ())


@pytest.mark.parametrize(
    ("accounts", "limit"),
    [(0, 0), (19, 0), (20, 1), (40, 2), (650, 32), (2300, 50), (100_000, 50)],
)
def test_disable_limit_is_the_lower_of_count_and_fraction(accounts: int, limit: int) -> None:
    assert disable_limit(Guards(50, 0.05), accounts) == limit


def test_a_truncated_export_holds_that_partner_back_and_lets_the_others_go_on() -> None:
    leeuwarden = [_disable("leeuwarden", i) for i in range(1150)]  # half the municipality
    ameland = [_disable("ameland", 1)]
    create = Change(ObjectKind.ACCOUNT, Action.CREATE, "leeuwarden", "leeuwarden/9", "CN=9")
    plan = Section(Backend.DIRECTORY, (*leeuwarden, *ameland, create))
    guarded = guard_directory(plan, _state(leeuwarden=2300, ameland=120), Guards(50, 0.05))
    assert [h.partner for h in guarded.held] == ["leeuwarden"]
    assert guarded.held[0].disables == 1150
    assert "--allow-disable leeuwarden=1150" in guarded.held[0].message()
    assert list(guarded.changes) == ameland
    assert create in guarded.held_changes  # nothing of the held partner is applied


def test_an_override_lets_the_named_partner_through() -> None:
    plan = Section(Backend.DIRECTORY, tuple(_disable("vlieland", i) for i in range(5)))
    held = guard_directory(plan, _state(vlieland=40), Guards(50, 0.05))
    assert held.held and not held.changes
    allowed = guard_directory(plan, _state(vlieland=40), Guards(50, 0.05), {"vlieland": 5})
    assert not allowed.held and len(allowed.changes) == 5


def test_an_override_below_the_count_still_holds() -> None:
    plan = Section(Backend.DIRECTORY, tuple(_disable("vlieland", i) for i in range(5)))
    assert guard_directory(plan, _state(vlieland=40), Guards(50, 0.05), {"vlieland": 4}).held


@pytest.mark.parametrize("bad", ["ameland", "ameland=", "=3", "ameland=x", "ameland=-1"])
def test_allow_disable_needs_partner_equals_number(bad: str) -> None:
    with pytest.raises(ValueError, match="PARTNER=N"):
        parse_allow_disable([bad])


def test_allow_disable_parses_several() -> None:
    assert parse_allow_disable(["ameland=3", "fumo=12"]) == {"ameland": 3, "fumo": 12}


def _retire(partner: str, members: int) -> Change:
    removed = [f"CN=m{i}" for i in range(members)]
    return Change(ObjectKind.MEMBERS, Action.DISABLE, partner, f"{partner}-dep-oud",
                  f"CN={partner}-dep-oud", {}, {"add": [], "remove": removed,
                                                 "add_keys": [], "remove_keys": removed})


def test_members_removed_from_a_retired_group_count_as_disables() -> None:
    # 40 enabled accounts allow 2 disables; one retired group of 3 takes 3 accesses away.
    plan = Section(Backend.DIRECTORY, (_retire("vlieland", 3),))
    guarded = guard_directory(plan, _state(vlieland=40), Guards(50, 0.05))
    assert [h.partner for h in guarded.held] == ["vlieland"] and not guarded.changes
    message = guarded.held[0].message()
    assert "3 members removed from retired groups" in message
    assert "--allow-disable vlieland=3" in message
    allowed = guard_directory(plan, _state(vlieland=40), Guards(50, 0.05), {"vlieland": 3})
    assert not allowed.held and len(allowed.changes) == 1


def test_disables_and_retired_members_add_up() -> None:
    plan = Section(Backend.DIRECTORY, (_disable("vlieland", 1), _retire("vlieland", 1)))
    assert not guard_directory(plan, _state(vlieland=40), Guards(50, 0.05)).held
    plan = Section(Backend.DIRECTORY, (*plan.changes, _disable("vlieland", 2)))
    held = guard_directory(plan, _state(vlieland=40), Guards(50, 0.05)).held
    assert held and held[0].disables == 3 and held[0].removals == 1


def test_an_ordinary_membership_change_is_not_a_disable() -> None:
    moved = Change(ObjectKind.MEMBERS, Action.UPDATE, "vlieland", "vlieland-dep-a",
                   "CN=vlieland-dep-a", {}, {"add": [], "remove": ["CN=1", "CN=2", "CN=3"]})
    section = Section(Backend.DIRECTORY, (moved,))
    assert not guard_directory(section, _state(vlieland=40), Guards(50, 0.05)).held


def test_archived_homes_weigh_as_many_as_they_archive() -> None:
    archive = Change(ObjectKind.HOMES, Action.ARCHIVE, "vlieland", "fs01:homes/vlieland", "homes",
                     {"sha256": "x"}, {"archive": ["vlieland/a", "vlieland/b", "vlieland/c"]},
                     Backend.HOSTS)
    assert archive.destructive and archive.weight == 3
    held = apply_guards(Section(Backend.HOSTS, (archive,)), {"vlieland": 40}, Guards(50, 0.05))
    assert [h.partner for h in held.held] == ["vlieland"] and held.held_changes == (archive,)


def test_a_partner_held_in_one_section_is_held_in_every_section() -> None:
    homes = Change(ObjectKind.HOMES, Action.CREATE, "vlieland", "fs01:homes/vlieland", "homes",
                   {}, {"create": ["vlieland/x"]}, Backend.HOSTS)
    shared = Change(ObjectKind.FILE, Action.UPDATE, "", "vpn01:/etc/wireguard/wg0.conf",
                    "/etc/wireguard/wg0.conf", {}, {"added": 1}, Backend.HOSTS)
    directory = guard_directory(Section(Backend.DIRECTORY, tuple(
        _disable("vlieland", i) for i in range(5))), _state(vlieland=40), Guards(50, 0.05))
    plan = Plan((directory, Section(Backend.HOSTS, (homes, shared)))).held_everywhere()
    assert plan.held_partners == {"vlieland"}
    assert plan.section(Backend.HOSTS).changes == (shared,)  # a shared file holds everyone
    assert homes in plan.section(Backend.HOSTS).held_changes and not plan.directory.changes
