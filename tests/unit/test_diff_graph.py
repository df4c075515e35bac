"""Microsoft 365's section of the plan, without a server: cloud partners made and kept in step,
hybrid partners verified, seats counted, a switch of identity mode refused, saved items
checked against a fresh read. The tenant is `tests.graph_memory` (Graph's JSON in memory)."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from ssc_infra.core.desired import AccountState, DesiredState, derive
from ssc_infra.core.model import Identity, Region
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind, Section
from ssc_infra.m365.diff import WAITING, Unreadable, diff_graph, stale_graph
from ssc_infra.sources.files import FilesSource
from tests.conftest import MINI, TODAY
from tests.graph_memory import E3, MemoryM365, Tenant


def _region(path: Path = MINI) -> Region:
    return FilesSource(path).load(TODAY).region


def _plan(region: Region, tenant: MemoryM365, today: date = TODAY,
          directory: Section | None = None, desired: DesiredState | None = None,
          allow: dict[str, int] | None = None) -> Section:
    desired = desired or derive(region, today)
    states, unreadable = tenant.read(region.partners)
    return diff_graph(region, desired, states, (), directory, allow, unreadable)


def _apply(tenant: MemoryM365, section: Section) -> None:
    tenant.apply(section.changes, lambda _c, _p: None)


def test_a_cloud_partner_from_nothing_gets_users_licences_and_groups_then_nothing() -> None:
    region = _region()
    tenant = MemoryM365()
    section = _plan(region, tenant)
    beta = [c for c in section.changes if c.partner == "beta"]
    users = [c for c in beta if c.kind is ObjectKind.CLOUD_USER]
    assert {c.action for c in users} == {Action.CREATE}
    assert {c.key for c in users} == {"beta/1001", "beta/2002"}
    created = users[0].after
    assert created["usageLocation"] == "NL" and created["mail"] == created["userPrincipalName"]
    assert "password" not in str(created).lower()  # made at apply time, never in a plan
    licences = [c for c in beta if c.kind is ObjectKind.CLOUD_LICENCE]
    assert [c.after["add_names"] for c in licences] == [["M365_E3"], ["M365_E3"]]
    groups = {c.key for c in beta if c.kind is ObjectKind.CLOUD_GROUP}
    assert "beta-all" in groups and not any("-lic-" in g for g in groups)
    # hybrid partners are verified, never written
    assert not [c for c in section.changes if c.partner == "alpha"]
    _apply(tenant, section)
    again = _plan(region, tenant)
    assert [c for c in again.changes if c.partner == "beta"] == []


def test_a_leaver_is_disabled_and_loses_the_licence_never_deleted(mini: Path) -> None:
    region = _region(mini)
    tenant = MemoryM365()
    _apply(tenant, _plan(region, tenant))
    people = mini / "people" / "beta.csv"
    people.write_text(people.read_text(encoding="utf-8").replace(
        "2021-04-01,", "2021-04-01,2026-11-01"), encoding="utf-8")  # 2002 left
    guarded = _plan(_region(mini), tenant)  # 1 of 2 accounts is more than the guard allows
    [held] = guarded.held
    assert "--allow-disable beta=1" in held.message()
    section = _plan(_region(mini), tenant, allow={"beta": 1})
    mine = [c for c in section.changes if c.key == "beta/2002"]
    assert [(c.kind, c.action) for c in mine] == [
        (ObjectKind.CLOUD_USER, Action.DISABLE), (ObjectKind.CLOUD_LICENCE, Action.UPDATE)]
    assert mine[0].after == {"accountEnabled": False} and mine[0].destructive
    assert mine[1].after["remove_names"] == ["M365_E3"]
    members = [c for c in section.changes if c.kind is ObjectKind.CLOUD_MEMBERS]
    assert all(c.after["remove"] == ["beta/2002"] for c in members)


def test_a_pre_start_person_gets_a_disabled_user_and_a_licence_only_on_day_one(
        mini: Path) -> None:
    people = mini / "people" / "beta.csv"
    people.write_text(people.read_text(encoding="utf-8") +
                      "3003,Sjoukje,,Dijkstra,Handhaving,Inspecteur,alp-hq,vdi,2026-12-01,\n",
                      encoding="utf-8")
    region = _region(mini)
    tenant = MemoryM365()
    section = _plan(region, tenant)
    create = next(c for c in section.changes if c.key == "beta/3003")
    assert create.after["accountEnabled"] is False
    assert not [c for c in section.changes if c.key == "beta/3003"
                and c.kind is ObjectKind.CLOUD_LICENCE]
    _apply(tenant, section)
    day_one = _plan(region, tenant, date(2026, 12, 1))
    assert {(c.kind, c.action) for c in day_one.changes if c.key == "beta/3003"} == {
        (ObjectKind.CLOUD_USER, Action.ENABLE), (ObjectKind.CLOUD_LICENCE, Action.UPDATE)}


def test_a_name_change_updates_only_what_differs_and_keeps_the_old_address(
        mini: Path) -> None:
    region = _region(mini)
    tenant = MemoryM365()
    _apply(tenant, _plan(region, tenant))
    people = mini / "people" / "beta.csv"
    people.write_text(people.read_text(encoding="utf-8").replace("Hoekstra", "Postma"),
                      encoding="utf-8")
    renamed = _region(mini)
    # without the ledger (a run has it) the new surname makes a new UPN: mail follows
    section = _plan(renamed, tenant)
    update = next(c for c in section.changes if c.key == "beta/1001")
    assert update.action is Action.UPDATE
    assert set(update.after) >= {"displayName", "surname"}
    assert update.after["mail"] == "jildou.postma@beta.example"
    assert update.after["keep_address"] == "jildou.hoekstra@beta.example"
    _apply(tenant, section)
    user = next(u for u in tenant.tenant("beta").users.values() if u["employeeId"] == "1001")
    assert user["surname"] == "Postma"
    assert user["proxyAddresses"] == ["SMTP:jildou.postma@beta.example",
                                      "smtp:jildou.hoekstra@beta.example"]


def test_seats_exhausted_hold_that_partner_with_the_numbers_and_no_other() -> None:
    region = _region()
    tenant = MemoryM365()
    tenant.tenant("beta").seats(E3, 1)
    section = _plan(region, tenant)
    [held] = section.held
    assert held.partner == "beta"
    assert "2 more M365_E3 licences, 1 free" in held.message()
    assert not [c for c in section.changes if c.partner == "beta"]
    assert section.held_changes


def test_hybrid_seats_count_the_members_the_directory_adds_to_the_licence_group() -> None:
    region = _region()
    tenant = MemoryM365({"t-alpha": Tenant(), "t-beta": Tenant()}, lambda code: f"t-{code}")
    tenant.tenant("alpha").seats(E3, 2)
    directory = Section(Backend.DIRECTORY, (Change(
        ObjectKind.MEMBERS, Action.UPDATE, "alpha", "alpha-lic-m365-e3", "CN=alpha-lic-m365-e3",
        {}, {"add": ["a", "b", "c"], "remove": []}),))
    section = _plan(region, tenant, directory=directory)
    assert [h.partner for h in section.held] == ["alpha"]
    assert "3 more M365_E3 licences, 2 free" in section.held[0].message()


def test_hybrid_users_licence_errors_are_drift_and_unsynced_ones_wait() -> None:
    region = _region()
    tenant = MemoryM365()
    t = tenant.tenant("alpha")
    desired = derive(region, TODAY)
    alpha = desired.partner("alpha")
    active = [a for a in alpha.accounts if a.enabled]
    first, second = active[0], active[1]
    for n, (account, state) in enumerate(((first, {"skuId": E3, "assignedByGroup": "g1",
                                                   "state": "Error", "error": "CountViolation"}),
                                          (second, {"skuId": E3, "assignedByGroup": "g1",
                                                    "state": "Active", "error": "None"}))):
        t.users[f"s{n}"] = {"id": f"s{n}", "userPrincipalName": account.name.upn,
                            "employeeId": account.employee_id, "onPremisesSyncEnabled": True,
                            "accountEnabled": True,
                            "assignedLicenses": [] if state["error"] != "None"
                            else [{"skuId": E3}], "licenseAssignmentStates": [state]}
    section = _plan(region, tenant)
    found = {u.key: u for u in section.unmanaged if u.partner == "alpha"}
    assert "CountViolation" in found[f"alpha/{first.employee_id}"].reason
    assert not found[f"alpha/{first.employee_id}"].known  # drift
    assert f"alpha/{second.employee_id}" not in found  # licensed: fine
    waiting = [u for u in found.values() if u.known == WAITING]
    not_leavers = [a for a in alpha.accounts if a.state is not AccountState.LEAVER]
    assert len(waiting) == len(not_leavers) - 2  # the others are not synced yet: not drift
    assert all(u.key not in {w.key for w in waiting} for u in section.drift)
    # every finding about a person names them, for the reader
    assert found[f"alpha/{first.employee_id}"].label == first.name.display_name
    assert all(u.label for u in waiting)


def test_every_change_about_one_person_names_them(mini: Path) -> None:
    region = _region(mini)
    tenant = MemoryM365()
    section = _plan(region, tenant)
    people = [c for c in section.changes if c.kind in (ObjectKind.CLOUD_USER,
                                                      ObjectKind.CLOUD_LICENCE)]
    assert {(c.key, c.label) for c in people} == {("beta/1001", "Hoekstra, Jildou"),
                                                  ("beta/2002", "Vries, Johan de")}
    _apply(tenant, section)
    # gone from the HR export: only the tenant still knows the name, and gives it
    tenant.tenant("beta").users[next(
        k for k, u in tenant.tenant("beta").users.items()
        if u.get("employeeId") == "2002")]["displayName"] = "Vries, Johan de (Handhaving)"
    for name in ("people", "devices"):  # the person and the thin client go
        path = mini / name / "beta.csv"
        path.write_text("\n".join(path.read_text(encoding="utf-8").splitlines()[:2]) + "\n",
                        encoding="utf-8")
    gone = _plan(_region(mini), tenant, allow={"beta": 1})
    mine = [c for c in gone.changes if c.key == "beta/2002"]
    assert [(c.kind, c.action) for c in mine] == [
        (ObjectKind.CLOUD_USER, Action.DISABLE), (ObjectKind.CLOUD_LICENCE, Action.UPDATE)]
    assert {c.label for c in mine} == {"Vries, Johan de (Handhaving)"}


@pytest.mark.parametrize(("identity", "synced", "words"), [
    (Identity.HYBRID, False, "switching a partner from cloud to hybrid is a migration"),
    (Identity.CLOUD, True, "switching from hybrid to cloud is a migration"),
])
def test_a_partner_switching_identity_mode_is_held_with_a_clear_message(
        identity: Identity, synced: bool, words: str) -> None:
    region = _region()
    beta = region.partner("beta")
    region = dataclasses.replace(region, partners=tuple(
        dataclasses.replace(p, identity=identity) if p.code == "beta" else p
        for p in region.partners))
    tenant = MemoryM365()
    tenant.tenant("beta").users["x"] = {
        "id": "x", "userPrincipalName": f"jildou.hoekstra@{beta.upn_suffix}",
        "employeeId": "1001", "onPremisesSyncEnabled": synced, "accountEnabled": True}
    section = _plan(region, tenant)
    [held] = [h for h in section.held if h.partner == "beta"]
    assert words in held.message()
    assert not [c for c in section.changes if c.partner == "beta"]


def test_an_unreadable_tenant_holds_only_its_partner() -> None:
    region = _region()
    tenant = MemoryM365(down={"beta"})
    section = _plan(region, tenant)
    assert [h.partner for h in section.held] == ["beta"]
    assert "could not be read" in section.held[0].message()
    assert Unreadable("beta", "x").partner == "beta"


def test_a_user_in_the_partners_domain_without_employee_id_is_reported_never_touched() -> None:
    region = _region()
    tenant = MemoryM365()
    tenant.tenant("beta").users["h"] = {"id": "h", "userPrincipalName": "helpdesk@beta.example",
                                        "accountEnabled": True}
    section = _plan(region, tenant)
    assert any(u.dn == "helpdesk@beta.example" and not u.known for u in section.unmanaged)
    assert not [c for c in section.changes if c.target == "helpdesk@beta.example"]


def test_a_saved_item_is_refused_when_its_user_changed_since_and_kept_otherwise() -> None:
    region = _region()
    tenant = MemoryM365()
    saved = _plan(region, tenant)
    fresh = _plan(region, tenant)
    kept, refused = stale_graph(saved, fresh)
    assert len(kept.changes) == len(saved.changes) and not refused
    _apply(tenant, Section(Backend.GRAPH, tuple(c for c in saved.changes
                                                if c.kind is ObjectKind.CLOUD_GROUP)))
    kept, refused = stale_graph(saved, _plan(region, tenant))
    assert {c.kind for c, _ in refused} == {ObjectKind.CLOUD_GROUP}
    assert all("done since" in why for _, why in refused)
