"""A planned run: everything one plan/apply/drift run works with once the inventory is
loaded and the systems are read (`PlannedRun`), and whose part of the host files follows the
inventory in it (`HostScope`).

Held means held everywhere: a partner that is not applied in a run — held by a guard or by its
own bad data, or not asked for with `--partner` — keeps its accounts, its homes and its part of
every host file exactly as last applied.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ssc_infra.ad.connection import AdSettings
from ssc_infra.core.actual import DirectoryAccount, DirectoryState
from ssc_infra.core.approval import Approved
from ssc_infra.core.desired import DesiredState
from ssc_infra.core.errors import Problem
from ssc_infra.core.model import PersonKey, Region
from ssc_infra.core.movers import Mover
from ssc_infra.core.plan import Backend, Plan, Section, plan_to_dict
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hosts.backend import HostPlan, host_plan_extra
from ssc_infra.run.protocols import Backends
from ssc_infra.run.request import RunRequest
from ssc_infra.sources import Kept, RunInventory
from ssc_infra.state.folder import StateDir, now, operator
from ssc_infra.state.ledger import NameConflict


@dataclass(frozen=True)
class HostScope:
    """Whose part of the host files follows the inventory in this run, and whose is kept."""

    applied: tuple[str, ...]  # their part (and homes) follows the inventory now
    kept: Mapping[str, Kept]  # rendered from their files as last applied
    left_out: tuple[str, ...]  # never applied: not on the hosts yet, not now either
    waiting: str = ""  # why the hosts wait for a fix ("" when they go on)


@dataclass
class PlannedRun:
    """Everything one plan/apply/drift run works with."""

    request: RunRequest
    region: Region
    settings: AdSettings
    workers: int
    actual: DirectoryState
    directory: Section  # the directory's section of the plan
    desired: DesiredState
    ansible: AnsibleSettings | None
    state: StateDir
    partners: tuple[str, ...]
    inventory: RunInventory
    backends: Backends
    scope: HostScope | None = None
    hosts: HostPlan | None = None
    name_conflicts: tuple[NameConflict, ...] = ()
    approved: Approved | None = None  # who made and who approved what is applied (apply)
    graph: Section | None = None  # Microsoft 365's section (the target has a `graph:`)
    # people who change partner (or employee id): new key -> their account under the old one
    moved: Mapping[PersonKey, DirectoryAccount] = dataclasses.field(default_factory=dict)
    movers: tuple[Mover, ...] = ()  # whose place changes, for the reader (`run.movers`)

    @property
    def target(self) -> str:
        return self.request.target_name

    @property
    def held_partners(self) -> frozenset[str]:
        """Partners a guard (or a seat shortage, or their tenant) held back: nothing of theirs
        changes, on the hosts neither."""
        held = {h.partner for h in self.directory.held}
        if self.graph is not None:
            held |= {h.partner for h in self.graph.held}
        return frozenset(held)

    @property
    def plan(self) -> Plan:
        """The run's plan: the directory's section, then the hosts' (for the asked partners).

        A partner held back in one section is held back in every one."""
        sections = [self.directory]
        if self.graph is not None:
            sections.append(self.graph)
        if self.hosts is not None:
            sections.append(self.hosts.section(self.partners))
        return Plan(tuple(sections), self.movers).held_everywhere()

    @property
    def held_inventory(self) -> dict[str, tuple[Problem, ...]]:
        """Partners left out for problems in their own data (those this run was asked for)."""
        return self.inventory.shown

    @property
    def hosts_held(self) -> bool:
        return self.scope is not None and bool(self.scope.waiting)

    @property
    def empty(self) -> bool:
        """Nothing to apply and nothing that differs unacknowledged (drift: exit 2)."""
        return self.plan.empty and not self.plan.drift and \
            (self.hosts is None or self.hosts.empty)  # every partner's, not only the shown

    @property
    def incomplete(self) -> list[str]:
        """Why this run did not cover everything it was asked to (an error for scripts)."""
        why = [f"partner {code} held back (inventory problems)" for code in self.held_inventory]
        if self.hosts_held:
            why.append("workplace hosts held back")
        if self.hosts is not None and self.hosts.result.failed_hosts:
            why.append("hosts failed")
        if self.hosts is not None and self.hosts.refused:
            why.append(f"{len(self.hosts.refused)} host files refused by their checker")
        return why

    def meta(self) -> dict[str, Any]:
        r = self.request
        return {"region": self.region.code, "target": r.target_name,
                "base_dn": self.settings.base_dn, "today": r.today.isoformat(),
                "partners": list(r.partners), "created": now(), "planner": operator(),
                # for the headings when the plan is shown again (`show PLAN`)
                "partner_names": {p.code: p.name for p in self.region.partners}}

    def to_dict(self, meta: Mapping[str, Any]) -> dict[str, Any]:
        extra: dict[Backend, dict[str, Any]] = {}
        if self.hosts is not None:
            extra[Backend.HOSTS] = {**host_plan_extra(self.hosts),
                                    "expect": self.hosts.result.digests,
                                    "homes_for": list(self.scope.applied) if self.scope else []}
        data = plan_to_dict(self.plan, meta, extra)
        if self.held_inventory or self.hosts_held:
            data["held_inventory"] = [
                {"partner": code, "problems": [dataclasses.asdict(p) for p in found]}
                for code, found in self.held_inventory.items()]
            data["hosts_held"] = self.hosts_held
        return data
