"""The run model with in-memory backends: what plan_run, prepare_apply and execute_apply do
with held partners, saved plans and the hosts, without a server.

Every test runs twice: with the files source on a copy of the mini inventory, and with an
in-memory source that holds a Region built here, so the run needs nothing of a source but
the `InventorySource` Protocol."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Protocol

import pytest
import yaml

from ssc_infra.ad.privileged import PrivilegedGroup
from ssc_infra.ad.scope import Scope
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.model import (
    Device,
    DeviceKind,
    Directory,
    Guards,
    Host,
    HostRole,
    Identity,
    NamingPolicy,
    Partner,
    PartnerKind,
    Person,
    Region,
    Service,
    ServiceKind,
    Site,
    Workplace,
)
from ssc_infra.core.plan import Backend, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import PasswordSink
from ssc_infra.hosts.ansible import RunResult, TaskEvent, file_change, host_of
from ssc_infra.hosts.backend import Bundle
from ssc_infra.run import (
    PlannedRun,
    RunRequest,
    execute_apply,
    load_inventory,
    plan_run,
    prepare_apply,
    save_plan,
)
from ssc_infra.run import apply as run_apply
from ssc_infra.run.protocols import Backends
from ssc_infra.sources import InventorySource, Kept, Loaded, RunInventory
from ssc_infra.sources.files import FilesSource
from ssc_infra.state.seal import SealError
from tests.conftest import TODAY
from tests.support import directory_as_desired
from tests.unit.test_inventory import apply_edits

EMPTY = DirectoryState(frozenset(), (), ())


@dataclass
class MemoryWriter:
    applied: list[Change]

    def apply(self, changes: Sequence[Change],
              on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
        results = [ItemResult(c, True) for c in changes]
        for r in results:
            self.applied.append(r.change)
            if on_result is not None:
                on_result(r)
        return results

    def close(self) -> None:
        pass


# The built-in privileged groups of a freshly provisioned domain, as Samba makes them.
FRESH_DOMAIN = {name.lower(): PrivilegedGroup(name, f"CN={name},CN=Users,DC=ssc,DC=test",
                                              members)
                for name, members in (("Domain Admins", ("Administrator",)),
                                      ("Enterprise Admins", ("Administrator",)),
                                      ("Schema Admins", ("Administrator",)),
                                      ("Account Operators", ()))}


@dataclass
class MemoryDirectory:
    state: DirectoryState = EMPTY
    applied: list[Change] = field(default_factory=list)
    full_reads: list[bool] = field(default_factory=list)
    privileged: dict[str, PrivilegedGroup] = field(default_factory=lambda: dict(FRESH_DOMAIN))

    def read(self, scope: Scope, workers: int, full: bool = True) -> DirectoryState:
        self.full_reads.append(full)
        return self.state

    def taken_names(self, sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]:
        return set(), set()

    def read_privileged(self, names: Collection[str]) -> dict[str, PrivilegedGroup]:
        wanted = {n.lower() for n in names}
        return {k: g for k, g in self.privileged.items() if k in wanted}

    def writer(self, scope: Scope, workers: int, on_password: PasswordSink) -> MemoryWriter:
        return MemoryWriter(self.applied)



@dataclass
class MemoryHosts:
    """Hosts that hold the files of the last bundle applied; check mode reports the diff."""

    files: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[dict[str, object]] = field(default_factory=list)
    read_aheads: int = 0
    accounts: Callable[[], int] = lambda: 0  # accounts the directory holds, seen at each call

    def read_ahead(self, region: Region, state: Path) -> None:
        self.read_aheads += 1

    def run(self, region: Region, bundle: Bundle, state: Path, *, check: bool,
            partners: Collection[str] | None, held: Collection[str],
            on_event: Callable[[TaskEvent], None] | None,
            expect: Mapping[str, Mapping[str, str]] | None, fast: bool = False,
            allow: Mapping[str, int] | None = None) -> RunResult:
        names = sorted(h.name for h in region.hosts)  # only the region's hosts are worked on
        self.calls.append({"check": check, "partners": partners, "expect": expect,
                           "fast": fast, "hosts": names, "accounts": self.accounts()})
        manifest = json.loads((bundle.path / "manifest.json").read_text())
        new = {(h, p): (bundle.path / h / p).read_text()
               for h, paths in manifest["hosts"].items() if h in names for p in paths}
        changes = tuple(file_change(h, f"/{p}", "", 1, 0) for (h, p), text in new.items()
                        if self.files.get((h, p)) != text)
        digests = {h: {f"/{p}": str(hash(self.files.get((h, p))))
                       for (h2, p) in new if h2 == h} for h in manifest["hosts"] if h in names}
        if not check:
            self.files.update(new)
        return RunResult("successful", 0, {}, changes, digests)


# -- the inventory: a Region built here, or the mini inventory's files --------------------


def _person(partner: str, employee_id: str, given: str, infix: str, surname: str, site: str,
            workplace: Workplace, start: str, end: str | None = None) -> Person:
    return Person(partner, employee_id, given, infix, surname, "Burgerzaken", "Medewerker", site,
                  workplace, date.fromisoformat(start),
                  date.fromisoformat(end) if end else None)


def built_region() -> Region:
    """Two partners on every kind of host: a hybrid one with a shared site, a cloud one."""
    alpha_hq = Site("alp-hq", "Gemeentehuis Alpha", "alpha", 110, IPv4Network("10.20.0.0/22"),
                    40, shared=True)
    beta_office = Site("bet-kantoor", "Kantoor Beta", "beta", 210, IPv4Network("10.30.0.0/24"))
    alpha = Partner(
        "alpha", "Gemeente Alpha", PartnerKind.MUNICIPALITY, "alpha.example", Identity.HYBRID,
        ("m365-e3", "vpn"), (alpha_hq,),
        (_person("alpha", "1001", "Wâtse", "", "Bûmâ", "alp-hq", Workplace.LAPTOP,
                 "2015-03-01"),
         _person("alpha", "1002", "Jan", "de", "Vries", "alp-hq", Workplace.VDI, "2012-01-01"),
         _person("alpha", "1003", "Jelle", "de", "Vries", "alp-hq", Workplace.THIN_CLIENT,
                 "2018-06-01")),
        (Device("alpha", "ALP-L-0001", DeviceKind.LAPTOP, "1001",
                wg_public_key="RCCCPP3m8cJrMPkOx90B5Ih1NKIPCw0Ew27YDnHg/Xc="),
         Device("alpha", "ALP-T-0001", DeviceKind.THIN_CLIENT, "1003", "alp-hq",
                mac="02:00:00:00:01:03")))
    beta = Partner(
        "beta", "Stichting Beta", PartnerKind.AFFILIATED, "beta.example", Identity.CLOUD,
        ("m365-e3",), (beta_office,),
        (_person("beta", "1001", "Jildou", "", "Hoekstra", "bet-kantoor", Workplace.VDI,
                 "2019-02-01"),), ())
    roles = {"fs01": HostRole.FILESERVER, "vpn01": HostRole.VPN_GATEWAY,
             "dhcp01": HostRole.DHCP, "rad01": HostRole.RADIUS, "vdi01": HostRole.VDI_BROKER}
    return Region(
        "tst", "SSC Test", Directory("ssc.test"), NamingPolicy(), Guards(),
        (Service("m365-e3", ServiceKind.LICENCE, "M365_E3"),
         Service("vpn", ServiceKind.ACCESS)),
        tuple(Host(name, (role,), IPv4Address(f"10.1.0.{10 * n}"))
              for n, (name, role) in enumerate(roles.items(), start=1)),
        (alpha, beta))


@dataclass
class MemorySource:
    """An inventory held in memory; a partner's part is kept as applied as its Partner."""

    region: Region
    kept: dict[str, tuple[Partner, Kept]] = field(default_factory=dict)

    def describe(self) -> str:
        return "memory"

    def load(self, today: date) -> Loaded:
        return Loaded(self.region, {}, {p.code: () for p in self.region.partners})

    def load_for_run(self, today: date, partners: Collection[str], state: Path,
                     allow_disable: Mapping[str, int]) -> RunInventory:
        return RunInventory(self.region, tuple(partners), {}, {}, False, None,
                            self.load(today).data_files,
                            {code: kept for code, (_, kept) in self.kept.items()},
                            frozenset(self.kept) if self.kept else None)

    def with_applied(self, run: RunInventory, partners: Collection[str], state: Path,
                     today: date, leave_out: Collection[str] = ()) -> Region | None:
        if any(code not in self.kept for code in partners):
            return None
        kept = {code: self.kept[code][0] for code in partners}
        return dataclasses.replace(self.region, partners=tuple(
            kept.get(p.code, p) for p in self.region.partners if p.code not in leave_out))

    def remember(self, run: RunInventory, partners: Collection[str], state: Path,
                 today: date) -> None:
        for code in partners:
            self.kept[code] = (run.region.partner(code), Kept(today, datetime.now(UTC)))

    # what an engineer changes between runs

    def leave(self, partner: str, employee_id: str, day: str) -> None:
        self._people(partner, lambda people: tuple(
            dataclasses.replace(p, end_date=date.fromisoformat(day))
            if p.employee_id == employee_id else p for p in people))

    def hire(self, person: Person) -> None:
        self._people(person.partner, lambda people: (*people, person))

    def _people(self, code: str, change: Callable[[tuple[Person, ...]], tuple[Person, ...]]
                ) -> None:
        self.region = dataclasses.replace(self.region, partners=tuple(
            dataclasses.replace(p, people=change(p.people)) if p.code == code else p
            for p in self.region.partners))


@dataclass
class FilesEdits:
    """The same changes, made to the HR exports of an inventory folder."""

    folder: Path

    def leave(self, partner: str, employee_id: str, day: str) -> None:
        path = self.folder / "people" / f"{partner}.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [f"{line.rsplit(',', 1)[0]},{day}" if line.startswith(f"{employee_id},")
                else line for line in lines]
        assert rows != lines, f"no {employee_id} in {path}"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")

    def hire(self, person: Person) -> None:
        p = person
        apply_edits(self.folder, [{"file": f"people/{p.partner}.csv", "append": ",".join((
            p.employee_id, p.given_name, p.infix, p.surname, p.department, p.job_title, p.site,
            p.workplace.value, p.start_date.isoformat(), "")) + "\n"}])


class Edits(Protocol):
    def leave(self, partner: str, employee_id: str, day: str) -> None: ...

    def hire(self, person: Person) -> None: ...


# -- the world a run sees -----------------------------------------------------------------


@dataclass
class World:
    request: RunRequest
    directory: MemoryDirectory
    hosts: MemoryHosts
    edits: Edits

    def plan(self, partners: tuple[str, ...] = ()) -> PlannedRun:
        request = dataclasses.replace(self.request, partners=partners)
        return plan_run(request, backends=Backends(self.directory, self.hosts))

    def apply(self, planned: PlannedRun, plan_file: Path | None = None) -> None:
        execute_apply(planned, prepare_apply(planned, plan_file))
        self.directory.state = directory_as_desired(planned.desired)

    def copies(self) -> dict[str, Kept]:
        return load_inventory(self.request).copies


def memory_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A targets file whose target `test` the in-memory backends stand in for."""
    monkeypatch.setenv("SSC_TEST_PASSWORD", "not-used-in-memory")
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"test": {
        "ad": {"url": "ldaps://127.0.0.1:636", "bind_user": "svc@ssc.test",
               "base_dn": "DC=ssc,DC=test", "bind_password_env": "SSC_TEST_PASSWORD"},
        "ansible": {"connection": "local", "root": str(tmp_path / "hosts")}}}))
    return targets


@pytest.fixture(params=["files", "memory"])
def world(request: pytest.FixtureRequest, mini: Path, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> World:
    targets = memory_targets(tmp_path, monkeypatch)
    source: InventorySource
    edits: Edits
    if request.param == "files":
        source, edits = FilesSource(mini), FilesEdits(mini)
    else:
        source = edits = MemorySource(built_region())
    run = RunRequest(source, TODAY, targets, "test", tmp_path / "state")
    directory = MemoryDirectory()
    hosts = MemoryHosts(accounts=lambda: sum(c.kind is ObjectKind.ACCOUNT
                                             for c in directory.applied))
    return World(run, directory, hosts, edits)


def _vdi(world: World, planned: PlannedRun) -> list[dict[str, str]]:
    from ssc_infra.run import host_bundle

    bundle = host_bundle(planned)
    return list(json.loads((bundle.path / "vdi01/etc/ssc-vdi/assignments.json").read_text())
                ["assignments"])


def test_a_run_applied_once_has_nothing_left_to_do(world: World) -> None:
    first = world.plan()
    assert not first.plan.empty and first.hosts is not None and not first.hosts.empty
    world.apply(first)
    assert set(world.copies()) == {"alpha", "beta"}  # each partner's part kept as applied
    again = world.plan()
    assert again.empty, (again.plan.changes, again.hosts and again.hosts.result.changes)


def test_a_plan_may_trust_what_the_last_run_left_and_apply_and_drift_never_do(world: World) -> None:
    world.plan()
    assert world.hosts.read_aheads == 1 and world.hosts.calls[-1]["fast"] is True
    assert world.directory.full_reads == [False]  # what changed since the last read will do
    for command in ("drift", "apply"):
        request = dataclasses.replace(world.request, command=command)
        plan_run(request, backends=Backends(world.directory, world.hosts))
        assert world.hosts.read_aheads == 1 and world.hosts.calls[-1]["fast"] is False
    assert world.directory.full_reads == [False, True, True]


def test_a_partner_held_by_the_guard_keeps_its_part_and_its_copy(world: World) -> None:
    world.apply(world.plan())
    before = world.plan()
    alpha_before = [a for a in _vdi(world, before) if a["partner"] == "alpha"]
    kept = world.copies()["alpha"]
    # Two of alpha's people leave on the same day: the guard holds alpha back.
    world.edits.leave("alpha", "1001", "2026-11-01")
    world.edits.leave("alpha", "1002", "2026-11-01")
    held = world.plan()
    assert [h.partner for h in held.plan.held] == ["alpha"]
    assert held.scope is not None and "alpha" in held.scope.kept
    assert [a for a in _vdi(world, held) if a["partner"] == "alpha"] == alpha_before
    world.apply(held)
    assert world.copies()["alpha"] == kept  # beta's copy renewed, alpha's left as it was
    assert world.hosts.calls[-1]["partners"] == ("beta",)  # alpha's homes not touched


def test_partners_planned_as_one_are_held_back_together(world: World) -> None:
    """A merge goes whole or waits whole: alpha held by the guard holds beta's changes too."""
    world.apply(world.plan())
    world.edits.leave("alpha", "1001", "2026-11-01")
    world.edits.leave("alpha", "1002", "2026-11-01")
    world.edits.leave("beta", "1001", "2026-11-01")  # beta's part of the host files changes
    apart = world.plan()
    assert [h.partner for h in apart.plan.held] == ["alpha"]
    assert apart.scope is not None and apart.scope.applied == ("beta",)
    request = dataclasses.replace(world.request, together=("alpha", "beta"))
    together = plan_run(request, backends=Backends(world.directory, world.hosts))
    held = {h.partner: h for h in together.plan.held}
    assert set(held) == {"alpha", "beta"} and together.held_partners == {"alpha", "beta"}
    assert "planned as one with alpha, which is held back" in held["beta"].message()
    assert not together.plan.changes  # nothing of either is applied, on the hosts neither
    assert together.scope is not None and together.scope.applied == ()
    assert set(together.scope.kept) == {"alpha", "beta"}


def test_an_edited_saved_plan_is_refused_whole(world: World, tmp_path: Path) -> None:
    planned = world.plan()
    path = tmp_path / "plan.json"
    save_plan(planned, path)
    assert (path.stat().st_mode & 0o777) == 0o600
    data = json.loads(path.read_text())
    section = data["sections"]["directory"]
    section["changes"] = section["changes"][:1]
    path.write_text(json.dumps(data))
    with pytest.raises(SealError, match="seal does not match"):
        prepare_apply(world.plan(), path)
    assert world.directory.applied == []


def test_a_saved_plan_passes_the_digests_it_saw_to_the_hosts(world: World,
                                                             tmp_path: Path) -> None:
    planned = world.plan()
    assert planned.hosts is not None
    path = tmp_path / "plan.json"
    save_plan(planned, path)
    world.apply(world.plan(), path)
    applied = [c for c in world.hosts.calls if not c["check"]]
    assert applied and applied[-1]["expect"] == planned.hosts.result.digests
    assert world.directory.applied  # the directory's changes went through the writer


def test_apply_for_one_partner_keeps_the_others_part(world: World) -> None:
    world.apply(world.plan())
    world.edits.hire(_person("beta", "2099", "Durk", "", "Kuipers", "bet-kantoor",
                             Workplace.VDI, "2020-01-01"))
    just_alpha = world.plan(("alpha",))
    assert just_alpha.scope is not None and "beta" in just_alpha.scope.kept
    assert not any(a["employee_id"] == "2099" for a in _vdi(world, just_alpha)
                   if "employee_id" in a) and not any(
        a["sam"] == "dkuipers" for a in _vdi(world, just_alpha))
    everyone = world.plan()
    assert any(a["sam"] == "dkuipers" for a in _vdi(world, everyone))  # beta's hire is there


ALL_HOSTS = ["dhcp01", "fs01", "rad01", "vdi01", "vpn01"]


def test_hosts_that_need_no_account_go_beside_the_accounts_the_file_server_after(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = world.plan()
    accounts = sum(c.kind is ObjectKind.ACCOUNT for c in planned.plan.changes)
    assert accounts
    monkeypatch.setattr(run_apply, "SPLIT_HOSTS_FROM", accounts)  # as many as a long write
    outcome = execute_apply(planned, prepare_apply(planned, None))
    applied = [c for c in world.hosts.calls if not c["check"]]
    assert [c["hosts"] for c in applied] == [["dhcp01", "rad01", "vdi01", "vpn01"], ["fs01"]]
    assert applied[1]["accounts"] == accounts  # every home's owner exists first
    assert outcome.hosts is not None and not outcome.hosts.failed_hosts
    assert sorted({host_of(c) for c in outcome.hosts.changes}) == ALL_HOSTS
    assert sorted(outcome.hosts.digests) == ALL_HOSTS
    audit = [json.loads(line) for line in
             (world.request.state_dir / "audit.jsonl").read_text().splitlines()]
    audited = sorted(e["key"] for e in audit if e["backend"] == "hosts")
    assert audited == sorted(c.key for c in outcome.hosts.changes)
    world.directory.state = directory_as_desired(planned.desired)
    assert world.plan().empty  # and the hosts converged: nothing left to do


def test_a_run_that_writes_no_account_runs_every_host_at_once_after_the_directory(
        world: World) -> None:
    world.apply(world.plan())
    world.hosts.files.clear()  # the hosts lost their files; the directory is as it should be
    planned = world.plan()
    assert not any(c.kind is ObjectKind.ACCOUNT for c in planned.plan.changes)
    calls = len(world.hosts.calls)
    execute_apply(planned, prepare_apply(planned, None))
    assert [c["hosts"] for c in world.hosts.calls[calls:]] == [ALL_HOSTS]


def test_a_few_new_accounts_go_first_and_every_host_in_one_run_after(world: World) -> None:
    """A second Ansible run costs more than writing a few accounts takes."""
    planned = world.plan()
    accounts = sum(c.kind is ObjectKind.ACCOUNT for c in planned.plan.changes)
    assert 0 < accounts < run_apply.SPLIT_HOSTS_FROM
    outcome = execute_apply(planned, prepare_apply(planned, None))
    applied = [c for c in world.hosts.calls if not c["check"]]
    assert [c["hosts"] for c in applied] == [ALL_HOSTS]
    assert applied[0]["accounts"] == accounts  # every home's owner exists first
    assert outcome.hosts is not None and sorted(outcome.hosts.digests) == ALL_HOSTS


def test_an_unreviewed_apply_checks_the_hosts_in_the_apply_run_alone(world: World) -> None:
    """`apply --yes` (nobody reviews): no check run ahead; the apply's own run is the check."""
    request = dataclasses.replace(world.request, command="apply")
    planned = plan_run(request, check_hosts=False,
                       backends=Backends(world.directory, world.hosts))
    assert planned.hosts is None and not world.hosts.calls
    prepared = prepare_apply(planned, None)
    assert prepared.hosts_unchecked and prepared.applies_hosts
    outcome = execute_apply(planned, prepared)
    assert [c["check"] for c in world.hosts.calls] == [False]  # one run, the apply itself
    assert outcome.hosts is not None and outcome.hosts.changes
    assert set(world.copies()) == {"alpha", "beta"}  # applied, so kept as applied
    world.directory.state = directory_as_desired(planned.desired)
    assert world.plan().empty


def test_the_plan_has_a_section_per_backend_and_holds_a_partner_in_all(world: World) -> None:
    world.apply(world.plan())
    world.edits.leave("alpha", "1001", "2026-11-01")
    world.edits.leave("alpha", "1002", "2026-11-01")
    planned = world.plan()
    plan = planned.plan
    assert [s.backend for s in plan.sections] == [Backend.DIRECTORY, Backend.HOSTS]
    assert plan.held_partners == {"alpha"}
    assert not any(c.partner == "alpha" for c in plan.changes)
    assert all(c.backend is s.backend for s in plan.sections for c in s.changes)
