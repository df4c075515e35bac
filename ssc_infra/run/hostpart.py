"""The workplace hosts' part of a run: held means held.

The host files hold every partner. They are rendered from a region in which the partners not
applied in this run are their files as kept at their last apply (`host_scope`, `host_bundle`),
and the playbook runs over every host to check or to apply them (`run_hosts`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from ssc_infra.ad.diff import directory_names
from ssc_infra.core.desired import DesiredState, derive
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Region
from ssc_infra.core.naming import ExistingName
from ssc_infra.hosts.ansible import RunResult, TaskEvent
from ssc_infra.hosts.backend import Bundle, home_names, make_bundle, name_homes
from ssc_infra.run.planned import HostScope, PlannedRun
from ssc_infra.run.request import Hooks


def named_homes(planned: PlannedRun, result: RunResult) -> RunResult:
    """The host run's result with each home folder's person named, for the reader."""
    names = home_names(planned.desired, planned.actual)
    return dataclasses.replace(result, changes=name_homes(result.changes, names))


def host_scope(planned: PlannedRun) -> HostScope:
    """Which partners' part of the host files follows the inventory, and which is kept."""
    inventory = planned.inventory
    # Every partner of the inventory, a held one too (its data may be missing from the region).
    everyone = sorted({p.code for p in inventory.region.partners} | set(inventory.data_files))
    guard_held = planned.held_partners
    asked = inventory.partners or tuple(c for c in everyone if c not in inventory.held)
    applied = tuple(c for c in asked if c not in guard_held and c not in inventory.held)
    others = [c for c in everyone if c not in applied]
    ever = inventory.applied_ever
    left_out = tuple(c for c in others if ever is not None and c not in ever
                     and c not in inventory.held)
    from_copy = [c for c in others if c not in left_out]
    kept = {c: inventory.copies[c] for c in from_copy if c in inventory.copies}
    if len(kept) < len(from_copy):
        missing = ", ".join(from_copy)
        return HostScope(applied, {}, left_out,
                         f"the host files hold every partner, and there is no copy of {missing}"
                         "'s files as last applied to keep its part as it is; fix its problems "
                         "or apply every partner once")
    return HostScope(applied, kept, left_out)


def host_bundle(planned: PlannedRun) -> Bundle:
    """Render the hosts' files: the applied partners as now, the others as last applied."""
    scope = planned.scope
    assert scope is not None
    request = planned.request
    region = planned.region
    if scope.kept or scope.left_out:
        combined = request.source.with_applied(planned.inventory, scope.kept,
                                               request.state_dir, request.today, scope.left_out)
        if combined is None:
            raise SscError("the partners' files as last applied no longer load with this "
                           "region.yaml; fix the inventory, or apply every partner once")
        region = combined
    desired = _host_desired(planned, region, scope)
    return make_bundle(region, desired, planned.state.ensure())


def _host_desired(planned: PlannedRun, region: Region, scope: HostScope) -> DesiredState:
    """The desired state of the hosts' region, with the names the directory plan settled.

    A partner kept as last applied is derived for the day of that apply, so that nobody's
    end date passing while the partner is held changes its part of the files.
    """
    existing, reserved, _ = directory_names(region, planned.actual)
    names: dict[Any, ExistingName] = dict(existing)
    names.update({a.key: ExistingName(a.name.sam, a.name.upn)
                  for p in planned.desired.partners for a in p.accounts})
    today = planned.request.today
    desired = derive(region, today, names, reserved)
    days = {k.today for code, k in scope.kept.items() if k.today != today}
    if not days:
        return desired
    partners = {p.code: p for p in desired.partners}
    for day in sorted(days):
        then = derive(region, day, names, reserved)
        for p in then.partners:
            if p.code in scope.kept and scope.kept[p.code].today == day:
                partners[p.code] = p
    return dataclasses.replace(desired, partners=tuple(partners[p.code]
                                                       for p in desired.partners))


def run_hosts(planned: PlannedRun, bundle: Bundle, hooks: Hooks, check: bool,
              expect: Mapping[str, Mapping[str, str]] | None = None,
              fast: bool = False) -> RunResult:
    """The playbook over every host, with a live line per host and task."""
    assert planned.ansible is not None and planned.scope is not None
    verb = "checking" if check else "applying"
    everyone = {p.code for p in planned.region.partners}
    homes_for = None if set(planned.scope.applied) >= everyone else planned.scope.applied
    with hooks.status(f"{verb} the workplace hosts...") as status:
        def on_event(event: TaskEvent) -> None:
            status.update(f"{verb} the workplace hosts: {event.host} — {event.task} "
                          f"({event.status})")

        assert planned.backends.hosts is not None
        return planned.backends.hosts.run(planned.region, bundle, planned.state.path,
                                          check=check, partners=homes_for,
                                          held=sorted(planned.held_partners),
                                          on_event=on_event, expect=expect, fast=fast,
                                          allow=planned.request.allow_disable)
