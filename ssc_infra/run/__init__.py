"""Plan and apply runs: load -> derive -> read -> diff -> guard -> apply, for AD, Microsoft 365
and the workplace hosts.

- `request`: what a run is asked to do (`RunRequest`), its progress hooks, its inventory, the
  run lock;
- `planned`: `PlannedRun`, everything one run works with, and its `HostScope`;
- `plan`: `plan_run`, the plan of one run, and the saved plan, the host job, the drift report;
- `hostpart`: the hosts' part: whose part of the host files follows, the bundle, the playbook;
- `apply`: `prepare_apply`, `execute_apply`, `settle`;
- `directory`, `targets`, `protocols`, `sources`, `metering`, `usage`: the directory's plan, the
  targets file, the backends' Protocols, the inventory sources, the usage report.

Held means held everywhere: a partner that is not applied in a run — held by a guard or by its
own bad data, or not asked for with `--partner` — keeps its accounts, its homes and its part of
every host file exactly as last applied.

The names below are the run model's API, re-exported from the modules that define them.
"""

from __future__ import annotations

from ssc_infra.run.apply import HOST_RUN_NICE as HOST_RUN_NICE
from ssc_infra.run.apply import Outcome as Outcome
from ssc_infra.run.apply import Prepared as Prepared
from ssc_infra.run.apply import execute_apply as execute_apply
from ssc_infra.run.apply import names_as_planned as names_as_planned
from ssc_infra.run.apply import prepare_apply as prepare_apply
from ssc_infra.run.apply import remember_applied as remember_applied
from ssc_infra.run.apply import settle as settle
from ssc_infra.run.hostpart import host_bundle as host_bundle
from ssc_infra.run.hostpart import host_scope as host_scope
from ssc_infra.run.plan import check_base_dn as check_base_dn
from ssc_infra.run.plan import hold_together as hold_together
from ssc_infra.run.plan import plan_graph as plan_graph
from ssc_infra.run.plan import plan_run as plan_run
from ssc_infra.run.plan import real_backends as real_backends
from ssc_infra.run.plan import save_plan as save_plan
from ssc_infra.run.plan import write_drift_report as write_drift_report
from ssc_infra.run.plan import write_plan_job as write_plan_job
from ssc_infra.run.planned import HostScope as HostScope
from ssc_infra.run.planned import PlannedRun as PlannedRun
from ssc_infra.run.request import NO_HOOKS as NO_HOOKS
from ssc_infra.run.request import Hooks as Hooks
from ssc_infra.run.request import RunRequest as RunRequest
from ssc_infra.run.request import Status as Status
from ssc_infra.run.request import load_inventory as load_inventory
from ssc_infra.run.request import locked as locked
