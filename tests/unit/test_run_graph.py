"""The run model with Microsoft 365 in it, in memory: one plan over the directory, Graph and the
hosts; a seat shortage holds its partner everywhere; a saved plan's Graph items are checked
against a fresh read; new cloud users' passwords are written ahead to a 0600 file."""

from __future__ import annotations

import csv
import dataclasses
import stat
from pathlib import Path

import pytest

from ssc_infra.core.plan import Backend, ObjectKind
from ssc_infra.run import PlannedRun, RunRequest, execute_apply, plan_run, prepare_apply, save_plan
from ssc_infra.run.protocols import Backends
from ssc_infra.sources.files import FilesSource
from tests.conftest import TODAY
from tests.graph_memory import E3, MemoryM365, Tenant
from tests.support import directory_as_desired
from tests.unit.test_run import MemoryDirectory, MemoryHosts, memory_targets


@dataclasses.dataclass
class Cloudy:
    request: RunRequest
    directory: MemoryDirectory
    hosts: MemoryHosts
    graph: MemoryM365

    def plan(self) -> PlannedRun:
        return plan_run(self.request, backends=Backends(self.directory, self.hosts, self.graph))

    def apply(self, planned: PlannedRun, plan_file: Path | None = None) -> Path | None:
        outcome = execute_apply(planned, prepare_apply(planned, plan_file))
        self.directory.state = directory_as_desired(planned.desired)
        return outcome.cloud_credentials


@pytest.fixture
def cloudy(mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cloudy:
    targets = memory_targets(tmp_path, monkeypatch)
    request = RunRequest(FilesSource(mini), TODAY, targets, "test", tmp_path / "state")
    directory = MemoryDirectory()
    hosts = MemoryHosts(accounts=lambda: sum(c.kind is ObjectKind.ACCOUNT
                                             for c in directory.applied))
    graph = MemoryM365({"t-alpha": Tenant(), "t-beta": Tenant()}, lambda code: f"t-{code}")
    return Cloudy(request, directory, hosts, graph)


def test_one_plan_holds_the_directory_and_microsoft_365_and_a_rerun_has_nothing(
        cloudy: Cloudy) -> None:
    first = cloudy.plan()
    backends = [s.backend for s in first.plan.sections]
    assert backends[:2] == [Backend.DIRECTORY, Backend.GRAPH]
    assert {c.partner for c in first.plan.section(Backend.GRAPH).changes} == {"beta"}
    credentials = cloudy.apply(first)
    assert credentials is not None and stat.S_IMODE(credentials.stat().st_mode) == 0o600
    with credentials.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(r["employee_id"] for r in rows) == ["1001", "2002"]
    assert all(r["partner"] == "beta" and r["initial_password"] == "pw" for r in rows)
    again = cloudy.plan()
    assert again.plan.section(Backend.GRAPH).empty
    assert again.empty, again.plan.changes


def test_a_seat_shortage_holds_its_partner_in_every_section_and_the_others_go_on(
        cloudy: Cloudy) -> None:
    cloudy.graph.tenant("beta").seats(E3, 1)
    planned = cloudy.plan()
    assert planned.held_partners == {"beta"}
    plan = planned.plan
    assert not [c for c in plan.changes if c.partner == "beta"]
    assert [c for c in plan.directory.changes if c.partner == "alpha"]
    assert "2 more M365_E3 licences, 1 free" in plan.held[0].message()
    assert planned.scope is not None and "beta" not in planned.scope.applied
    cloudy.apply(planned)
    assert not [c for c in cloudy.graph.applied if c.partner == "beta"]


def test_a_saved_plans_graph_item_changed_in_the_tenant_since_is_refused(
        cloudy: Cloudy, tmp_path: Path) -> None:
    cloudy.apply(cloudy.plan())
    people = cloudy.request.source.folder / "people" / "beta.csv"  # type: ignore[attr-defined]
    people.write_text(people.read_text(encoding="utf-8").replace("Secretaris", "Directeur"),
                      encoding="utf-8")
    planned = cloudy.plan()
    saved = tmp_path / "plan.json"
    save_plan(planned, saved)
    # someone edits the user in the tenant before the plan is applied
    user = next(u for u in cloudy.graph.tenant("beta").users.values()
                if u["employeeId"] == "1001")
    user["jobTitle"] = "Voorzitter"
    fresh = cloudy.plan()
    prepared = prepare_apply(fresh, saved)
    refused = [(c.key, why) for c, why in prepared.refused if c.backend is Backend.GRAPH]
    assert refused and refused[0][0] == "beta/1001"
    assert "changed in Microsoft 365 since the plan" in refused[0][1]
    assert not prepared.plan.section(Backend.GRAPH).changes


def test_a_saved_plan_reviewed_with_an_allowance_applies_in_every_section(
        cloudy: Cloudy, tmp_path: Path) -> None:
    """Its Graph items as its directory items: the guard of a fresh plan without the
    allowance does not refuse them (the reviewed plan carried its own)."""
    cloudy.apply(cloudy.plan())
    people = cloudy.request.source.folder / "people" / "beta.csv"  # type: ignore[attr-defined]
    people.write_text(people.read_text(encoding="utf-8").replace(
        "2021-04-01,", "2021-04-01,2026-11-01"), encoding="utf-8")
    allowed = dataclasses.replace(cloudy.request, allow_disable={"beta": 1})
    planned = plan_run(allowed, backends=Backends(cloudy.directory, cloudy.hosts, cloudy.graph))
    assert not planned.plan.held and planned.plan.section(Backend.GRAPH).changes
    saved = tmp_path / "plan.json"
    save_plan(planned, saved)
    fresh = cloudy.plan()  # `apply PLAN` without --allow-disable: the guard holds beta
    assert fresh.plan.held
    prepared = prepare_apply(fresh, saved)
    assert not prepared.refused
    assert prepared.plan.section(Backend.GRAPH).changes


def test_a_saved_plan_applied_keeps_the_names_it_gave_in_the_ledger(
        cloudy: Cloudy, tmp_path: Path) -> None:
    """Cloud users' names live in the ledger: a saved plan applied records them as an
    unreviewed apply does, so a partner onboarded later renames nobody."""
    from ssc_infra.state.ledger import load_ledger

    saved = tmp_path / "plan.json"
    save_plan(cloudy.plan(), saved)
    cloudy.apply(cloudy.plan(), saved)
    kept = load_ledger(cloudy.request.state_dir)
    assert kept.get(("beta", "1001")) is not None and kept.get(("beta", "2002")) is not None
