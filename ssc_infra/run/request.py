"""What one run is asked to do (`RunRequest`), how it shows its progress (`Hooks`), its
inventory (`load_inventory`) and the state dir's run lock (`locked`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from ssc_infra.core.approval import Approval
from ssc_infra.core.governance import NO_GOVERNANCE, Governance
from ssc_infra.core.plan import ItemResult
from ssc_infra.sources import InventorySource, RunInventory
from ssc_infra.state.folder import StateDir


class Status(Protocol):
    """A live status line (a rich spinner): `update` replaces its text."""

    def update(self, text: str) -> None: ...


class _Quiet:
    def update(self, text: str) -> None:
        pass


def _no_status(_text: str) -> contextlib.AbstractContextManager[Status]:
    return contextlib.nullcontext(_Quiet())


@dataclass(frozen=True)
class Hooks:
    """How a run shows its progress; the CLI passes rich spinners, tests nothing."""

    status: Callable[[str], contextlib.AbstractContextManager[Status]] = _no_status
    on_item: Callable[[ItemResult, int, int], None] | None = None  # result, failed, total


NO_HOOKS = Hooks()  # nothing shown: the default of `plan_run` and `execute_apply`


@dataclass(frozen=True)
class RunRequest:
    """What one plan/apply/drift run is asked to do."""

    source: InventorySource
    today: date
    targets_file: Path
    target_name: str
    state_dir: Path
    partners: tuple[str, ...] = ()
    allow_disable: Mapping[str, int] = field(default_factory=dict)
    command: str = "plan"
    enable: tuple[str, ...] = ()  # PARTNER/ID: accounts locked by hand that may be enabled
    holds_file: Path | None = None  # accounts locked on purpose, known unmanaged objects
    # partners planned as one (a merge): one of them held back holds back all of them
    together: tuple[str, ...] = ()
    governance: Governance = NO_GOVERNANCE  # governance.yaml: approvals, privileged groups
    operation: str = ""  # a lifecycle operation this run belongs to: offboard, merge, purge
    approvals: tuple[Approval, ...] = ()  # the approvals of that operation (--approval FILE)


def load_inventory(request: RunRequest) -> RunInventory:
    """The run's inventory from its source: partners with bad data of their own held back."""
    return request.source.load_for_run(request.today, request.partners, request.state_dir,
                                       request.allow_disable)


@contextlib.contextmanager
def locked(request: RunRequest, what: str) -> Iterator[None]:
    """Hold the state dir's run lock for an apply; a second one fails at once."""
    with StateDir(request.state_dir).run_lock(what):
        yield
