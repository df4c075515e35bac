"""A saved plan read back for people: what `ssc-infra show PLAN` prints.

Three kinds of file have the plan's shape (`plan.plan_to_dict`): a sealed plan file
(`plan --out`), the output of `plan --format json` or `drift --format json`, and the drift
reports kept in STATE/reports. Each is read as hostile data: only a regular file of a sane size,
UTF-8 JSON, whose seal (when it has one) matches the state directory's key; anything else is an
`SscError` that names the file and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import SscError
from ssc_infra.core.plan import Backend, Plan, plan_from_dict
from ssc_infra.hosts.ansible import HostOutcome
from ssc_infra.hosts.checks import CheckResult
from ssc_infra.report.text import HostPart
from ssc_infra.sources.planfile import PlanFileError, read_plan_json
from ssc_infra.state.seal import SealCheck, check_seal


class SavedPlanError(SscError):
    """A plan file that cannot be shown: unreadable, no plan, damaged, or its seal broken."""


@dataclass(frozen=True)
class SavedPlan:
    """A plan file as read: the plan, the run's fields, its hosts' part and its seal."""

    path: Path
    plan: Plan
    meta: dict[str, Any]
    hosts: HostPart | None
    hosts_held: bool
    seal: SealCheck
    data: dict[str, Any]  # the file's content without the seal: `show --format json`

    @property
    def partner_names(self) -> dict[str, str]:
        """Partner code -> name, as the run knew them (older files: none, codes are shown)."""
        names = self.meta.get("partner_names")
        if not isinstance(names, dict):
            return {}
        return {str(k): str(v) for k, v in names.items()}


def read_saved_plan(path: Path, state: Path) -> SavedPlan:
    """Read a plan file, check its seal with the state directory's key when there is one.

    Args:
        path: the plan file, a `--format json` output or a drift report.
        state: the state directory whose `plan.key` checks the seal (never made here).

    Raises:
        SavedPlanError: the file cannot be read or is no plan (what and where).
        SealError: its seal does not match the key.
    """
    try:
        data = read_plan_json(path)
    except PlanFileError as e:
        raise SavedPlanError(str(e)) from e
    body, seal = check_seal(data, state, str(path))
    try:
        plan, meta, extra = plan_from_dict(body)
        hosts = _host_part(plan, extra)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise SavedPlanError(f"{path}: {e}") from e
    return SavedPlan(path, plan, meta, hosts, bool(body.get("hosts_held")), seal, body)


def _host_part(plan: Plan, extra: dict[Backend, dict[str, Any]]) -> HostPart | None:
    """The hosts' part as the plan showed it: its changes, failed hosts and refused files."""
    saw = extra.get(Backend.HOSTS)
    if saw is None:
        return None
    failed = [HostOutcome(str(f["host"]), failed=not f.get("unreachable"),
                          unreachable=bool(f.get("unreachable")),
                          messages=[str(m) for m in f.get("messages") or []])
              for f in saw.get("failed") or []]
    refused = [CheckResult(str(r["host"]), str(r["path"]).lstrip("/"), "failed",
                           str(r.get("message", "")))
               for r in saw.get("refused") or []]
    return HostPart(plan.section(Backend.HOSTS).changes, failed, refused,
                    len(saw.get("in_sync") or []))
