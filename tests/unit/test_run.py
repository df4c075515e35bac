"""The run model with in-memory backends: what plan_run, prepare_apply and execute_apply do
with held partners, saved plans and the hosts, without a server."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from ssc_infra.actual import DirectoryState
from ssc_infra.backends.ad import ItemResult, Scope
from ssc_infra.backends.ansible import HostChange, RunResult, TaskEvent
from ssc_infra.backends.protocols import Backends, PasswordSink
from ssc_infra.hostplan import Bundle
from ssc_infra.model import Region
from ssc_infra.plan import Change
from ssc_infra.run import (
    PlannedRun,
    RunRequest,
    execute_apply,
    plan_run,
    prepare_apply,
    save_plan,
)
from ssc_infra.seal import SealError
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


@dataclass
class MemoryDirectory:
    state: DirectoryState = EMPTY
    applied: list[Change] = field(default_factory=list)
    full_reads: list[bool] = field(default_factory=list)

    def read(self, scope: Scope, workers: int, full: bool = True) -> DirectoryState:
        self.full_reads.append(full)
        return self.state

    def taken_names(self, sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]:
        return set(), set()

    def writer(self, scope: Scope, workers: int, on_password: PasswordSink) -> MemoryWriter:
        return MemoryWriter(self.applied)


@dataclass
class MemoryHosts:
    """Hosts that hold the files of the last bundle applied; check mode reports the diff."""

    files: dict[tuple[str, str], str] = field(default_factory=dict)
    calls: list[dict[str, object]] = field(default_factory=list)
    read_aheads: int = 0

    def read_ahead(self, region: Region, state: Path) -> None:
        self.read_aheads += 1

    def run(self, region: Region, bundle: Bundle, state: Path, *, check: bool,
            partners: Collection[str] | None, held: Collection[str],
            on_event: Callable[[TaskEvent], None] | None,
            expect: Mapping[str, Mapping[str, str]] | None, fast: bool = False) -> RunResult:
        self.calls.append({"check": check, "partners": partners, "expect": expect,
                           "fast": fast})
        manifest = json.loads((bundle.path / "manifest.json").read_text())
        new = {(h, p): (bundle.path / h / p).read_text()
               for h, paths in manifest["hosts"].items() for p in paths}
        changes = tuple(HostChange(h, "copy", f"/{p}", "", 1, 0) for (h, p), text in new.items()
                        if self.files.get((h, p)) != text)
        digests = {h: {f"/{p}": str(hash(self.files.get((h, p))))
                       for (h2, p) in new if h2 == h} for h in manifest["hosts"]}
        if not check:
            self.files.update(new)
        return RunResult("successful", 0, {}, changes, digests)


@dataclass
class World:
    request: RunRequest
    directory: MemoryDirectory
    hosts: MemoryHosts

    def plan(self) -> PlannedRun:
        return plan_run(self.request, backends=Backends(self.directory, self.hosts))

    def apply(self, planned: PlannedRun, plan_file: Path | None = None) -> None:
        execute_apply(planned, prepare_apply(planned, plan_file))
        self.directory.state = directory_as_desired(planned.desired)


@pytest.fixture
def world(mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SSC_TEST_PASSWORD", "not-used-in-memory")
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"test": {
        "ad": {"url": "ldaps://127.0.0.1:636", "bind_user": "svc@ssc.test",
               "base_dn": "DC=ssc,DC=test", "bind_password_env": "SSC_TEST_PASSWORD"},
        "ansible": {"connection": "local", "root": str(tmp_path / "hosts")}}}))
    request = RunRequest(mini, TODAY, targets, "test", tmp_path / "state")
    return World(request, MemoryDirectory(), MemoryHosts())


def _vdi(world: World, planned: PlannedRun) -> list[dict[str, str]]:
    from ssc_infra.run import host_bundle

    bundle = host_bundle(planned)
    return list(json.loads((bundle.path / "vdi01/etc/ssc-vdi/assignments.json").read_text())
                ["assignments"])


def test_a_run_applied_once_has_nothing_left_to_do(world: World) -> None:
    first = world.plan()
    assert not first.plan.empty and first.hosts is not None and not first.hosts.empty
    world.apply(first)
    kept = world.request.state_dir / "applied-inventory"
    assert (kept / "people/alpha.csv").is_file() and (kept / "partners/beta.yaml").is_file()
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
    kept = (world.request.state_dir / "applied-inventory/people/alpha.csv").read_text()
    # Two of alpha's people leave on the same day: the guard holds alpha back.
    apply_edits(world.request.inventory, [
        {"file": "people/alpha.csv",
         "replace": ["alp-hq,laptop,2015-03-01,", "alp-hq,laptop,2015-03-01,2026-11-01"]},
        {"file": "people/alpha.csv",
         "replace": ["alp-hq,vdi,2012-01-01,", "alp-hq,vdi,2012-01-01,2026-11-01"]}])
    held = world.plan()
    assert [h.partner for h in held.plan.held] == ["alpha"]
    assert held.scope is not None and "alpha" in held.scope.kept
    assert [a for a in _vdi(world, held) if a["partner"] == "alpha"] == alpha_before
    world.apply(held)
    assert (world.request.state_dir / "applied-inventory/people/alpha.csv").read_text() == kept
    assert world.hosts.calls[-1]["partners"] == ("beta",)  # alpha's homes not touched


def test_an_edited_saved_plan_is_refused_whole(world: World, tmp_path: Path) -> None:
    planned = world.plan()
    path = tmp_path / "plan.json"
    save_plan(planned, path)
    assert (path.stat().st_mode & 0o777) == 0o600
    data = json.loads(path.read_text())
    data["changes"] = data["changes"][:1]
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
    apply_edits(world.request.inventory, [{"file": "people/beta.csv", "append":
        "2099,Durk,,Kuipers,Handhaving,Inspecteur,bet-kantoor,vdi,2020-01-01,\n"}])
    just_alpha = plan_run(
        RunRequest(world.request.inventory, TODAY, world.request.targets_file, "test",
                   world.request.state_dir, ("alpha",)),
        backends=Backends(world.directory, world.hosts))
    assert just_alpha.scope is not None and "beta" in just_alpha.scope.kept
    assert not any(a["employee_id"] == "2099" for a in _vdi(world, just_alpha)
                   if "employee_id" in a) and not any(
        a["sam"] == "dkuipers" for a in _vdi(world, just_alpha))
