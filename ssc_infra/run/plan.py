"""The plan of one run: load -> derive -> read -> diff -> guard, for AD, Microsoft 365 and
the hosts.

`plan_run` makes the plan (what `plan`, `apply` and `drift` show); `save_plan` seals it for a
later `apply --plan`, `write_plan_job` gives its host part to an AWX/AAP execution node and
`write_drift_report` keeps a drift check's plan. The CLI only parses options, calls these and
prints; the work and its rules live here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.ad.connection import AdSettings
from ssc_infra.ad.privileged import privileged_drift
from ssc_infra.core.errors import Problem, SscError
from ssc_infra.core.model import Region
from ssc_infra.core.plan import Held, Section
from ssc_infra.hosts.ansible import AnsibleSettings
from ssc_infra.hosts.backend import AnsibleHosts, HostPlan, refused_files, write_job
from ssc_infra.m365.backend import M365
from ssc_infra.m365.diff import diff_graph
from ssc_infra.run.directory import plan_with
from ssc_infra.run.hostpart import host_bundle, host_scope, named_homes, run_hosts
from ssc_infra.run.movers import hold_moving, movers_of
from ssc_infra.run.planned import PlannedRun
from ssc_infra.run.protocols import Backends, GraphBackend
from ssc_infra.run.request import NO_HOOKS, Hooks, RunRequest, load_inventory
from ssc_infra.run.targets import (
    Target,
    ad_settings,
    ansible_settings,
    graph_settings,
    load_target,
    partner_bind,
)
from ssc_infra.sources import RunInventory
from ssc_infra.sources.holds import NO_HOLDS, Hold, Holds, load_run_holds, parse_enable
from ssc_infra.state.folder import StateDir, recorded_passwords, run_id, write_private
from ssc_infra.state.ledger import load_ledger
from ssc_infra.state.reviews import revocations
from ssc_infra.state.seal import plan_key, seal


def check_base_dn(settings: AdSettings, region: Region) -> None:
    """Refuse a target whose directory is not the region's (a lab target for production).

    Raises:
        SscError: when the target's base_dn is not region.yaml's domain.
    """
    if settings.base_dn.lower() != region.directory.base_dn.lower():
        raise SscError(
            f"the target's base_dn {settings.base_dn!r} does not match region.yaml's domain "
            f"{region.directory.domain!r} ({region.directory.base_dn}): wrong target?"
        )


def real_backends(settings: AdSettings, ansible: AnsibleSettings | None,
                  state: Path | None = None, target: Target | None = None,
                  target_name: str = "", snapshot: bool = True) -> Backends:
    """The systems a target names: the directory over ldap3, the hosts over Ansible,
    Microsoft 365 over Graph.

    `state`: where the directory keeps its last read (unless not `snapshot`), for a plan to
    read only what changed, and Graph its delta links.
    """
    graph = None
    if target is not None and target.graph is not None and state is not None:
        entry = target.graph
        graph = M365(graph_settings(target, target_name), entry.tenant_of, state)
    return Backends(LdapDirectory(settings, state if snapshot else None),
                    AnsibleHosts(ansible) if ansible else None,
                    graph)


def plan_run(request: RunRequest, hooks: Hooks = NO_HOOKS, check_hosts: bool = True,
             inventory: RunInventory | None = None,
             backends: Backends | None = None) -> PlannedRun:
    """Load, read the directory and the hosts, diff and guard: the plan of one run.

    Args:
        inventory: the run's inventory, when the caller loaded it already (`load_inventory`).
        backends: the systems to read and write; default the ones the target names (tests
            pass in-memory ones).
    """
    inventory = inventory or load_inventory(request)
    region = inventory.region
    target = load_target(request.targets_file, request.target_name)
    # A run for one partner with a bind account of its own binds with that account: the DC
    # itself then refuses any write outside the partner's OUs (`ssc-infra delegate`).
    own = partner_bind(target, request.partners)
    settings = ad_settings(target, request.target_name, own)
    check_base_dn(settings, region)
    workers = target.ad.workers if target.ad else 4
    try:
        enable = parse_enable(request.enable, region)
    except ValueError as e:
        raise SscError(str(e)) from None
    holds, bad_holds = (load_run_holds(request.holds_file, region, str(request.holds_file),
                                       required=True, held=inventory.held)
                        if request.holds_file is not None else (NO_HOLDS, {}))
    holds = with_revocations(holds, request, region)
    ledger = load_ledger(request.state_dir)
    ansible = ansible_settings(target)
    # The partner's own account keeps no snapshot of the directory (it may not read what the
    # region's account reads, the deleted objects among them): it reads in full.
    backends = backends or real_backends(settings, ansible, StateDir(request.state_dir).ensure(),
                                         target, request.target_name, snapshot=not own)
    # A plan may trust what the last run recorded and read only what changed since; apply
    # and drift read everything.
    fast = request.command == "plan" and not own
    if check_hosts and fast and backends.hosts is not None and region.hosts:
        backends.hosts.read_ahead(region, request.state_dir)  # while the directory is read
    with hooks.status(f"reading the directory of target {request.target_name!r}..."):
        run = plan_with(backends.directory, region, request.today, inventory.partners,
                        request.allow_disable, workers, holds, enable, ledger,
                        recorded_passwords(request.state_dir), full_read=not fast)
    directory = hold_bad_holds(run.plan, bad_holds)
    if not request.partners:  # the whole region: the privileged groups are watched too
        watched = request.governance.privileged_groups
        found = privileged_drift(backends.directory.read_privileged(list(watched)), watched)
        directory = dataclasses.replace(directory, unmanaged=(*found, *directory.unmanaged))
    planned = PlannedRun(request, region, settings, workers, run.actual, directory,
                         run.desired, ansible, StateDir(request.state_dir),
                         inventory.partners, inventory, backends,
                         name_conflicts=run.name_conflicts, moved=run.moves)
    if backends.graph is not None:
        with hooks.status("reading Microsoft 365 (Graph)..."):
            planned.graph = plan_graph(planned, backends.graph)
    hold_together(planned)
    hold_moving(planned)
    if planned.ansible is None or backends.hosts is None or not region.hosts:
        planned.movers = movers_of(planned)
        return planned
    planned.scope = host_scope(planned)
    if check_hosts and not planned.scope.waiting:
        bundle = host_bundle(planned)
        # A plan trusts what a run recorded, after one read of each host.
        result = named_homes(planned, run_hosts(planned, bundle, hooks, check=True,
                                                fast=fast))
        with hooks.status("checking the changed host files with the daemons' checkers..."):
            planned.hosts = HostPlan(bundle, result, refused_files(region, bundle, result))
    planned.movers = movers_of(planned)
    return planned


def review_holds(request: RunRequest, region: Region) -> tuple[Hold, ...]:
    """Every account a partner's manager revoked in its last access review, as a hold until
    the partner's next review is due (`ssc_infra.state.reviews`). A cloud user stays
    disabled after that too, until a later review keeps it: only a person enables it again."""
    intervals = {p.code: request.governance.reviews.interval(p.code) for p in region.partners}
    people = {p.key for partner in region.partners for p in partner.people}
    return tuple(Hold((partner, employee_id), why, until, "an access review (ssc-infra review)")
                 for partner, employee_id, why, until in revocations(request.state_dir,
                                                                      intervals)
                 if (partner, employee_id) in people)


def with_revocations(holds: Holds, request: RunRequest, region: Region) -> Holds:
    """The holds, with the accounts revoked in access reviews: an acknowledged lock (kept
    disabled, listed as known) until the partner's next review, not drift."""
    revoked = review_holds(request, region)
    return dataclasses.replace(holds, holds=(*holds.holds, *revoked)) if revoked else holds


def hold_bad_holds(section: Section, problems: Mapping[str, tuple[Problem, ...]]) -> Section:
    """The directory's section with each partner that holds.yaml has a problem of (a hold of
    a person its HR export does not have) held back, the problem its reason: an account the
    file meant to hold is not touched while the file is wrong; the other partners go on."""
    if not problems:
        return section
    held = section.holding(problems)
    return dataclasses.replace(held, held=(*held.held, *(
        Held(code, 0, 0, 0, "", reason=f"{found[0]}" + (
            f" (and {len(found) - 1} more in the file)" if len(found) > 1 else ""))
        for code, found in sorted(problems.items()))))


def hold_together(planned: PlannedRun) -> None:
    """Partners planned as one go on together or wait together: a merge half applied would
    retire the old partners' groups while the new partner's accounts stay where they were."""
    together = planned.request.together
    held = sorted(planned.held_partners & set(together))
    others = tuple(c for c in together if c not in held)
    if not held or not others:
        return
    why = f"planned as one with {', '.join(held)}, which {'is' if len(held) == 1 else 'are'} " \
          "held back"
    section = planned.directory.holding(others)
    planned.directory = dataclasses.replace(section, held=(
        *section.held, *(Held(code, 0, 0, 0, "", reason=why) for code in others)))


def plan_graph(planned: PlannedRun, graph: GraphBackend) -> Section:
    """Microsoft 365's section: each partner's tenant read, diffed, its seats counted."""
    region = planned.region
    held = set(planned.inventory.held)
    asked = set(planned.partners) or {p.code for p in region.partners}
    partners = [p for p in region.partners if p.code in asked and p.code not in held]
    tenants, unreadable = graph.read(partners)
    revoked = [h.person for h in review_holds(planned.request, region)]
    return diff_graph(region, planned.desired, tenants, planned.partners, planned.directory,
                      planned.request.allow_disable, unreadable, revoked)


def save_plan(planned: PlannedRun, path: Path) -> dict[str, Any]:
    """Write the sealed plan file; returns what was written (unsealed)."""
    data = planned.to_dict(planned.meta())
    sealed = seal(data, plan_key(planned.state.ensure()))
    write_private(path, json.dumps(sealed, indent=1, ensure_ascii=False) + "\n")
    return data


def write_plan_job(planned: PlannedRun, folder: Path) -> Path:
    """The plan's host part as an ansible-runner job, for an AWX/AAP execution node.

    The job carries the bundle and the digests the plan saw on each host: run it with
    `ansible-runner transmit FOLDER -p site.yml | ansible-runner worker | ansible-runner
    process OUT`; the playbook checks the bundle and refuses files changed since the plan.
    """
    if planned.hosts is None or planned.ansible is None:
        raise SscError("this plan has no host part (no `ansible:` in the target, no hosts, or "
                       "the hosts are held back): there is no job to write")
    return write_job(planned.region, planned.hosts.bundle, planned.ansible, folder,
                     planned.hosts.result.digests)


def write_drift_report(planned: PlannedRun, meta: Mapping[str, Any]) -> Path:
    """Keep the drift check's plan as a JSON report in STATE/reports (0600)."""
    reports = planned.state.ensure() / "reports"
    reports.mkdir(exist_ok=True, mode=0o700)
    path = reports / f"drift-{run_id()}.json"
    write_private(path, json.dumps(planned.to_dict(meta), indent=1, ensure_ascii=False) + "\n")
    return path
