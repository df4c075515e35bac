"""Run a Plan through the backends, step by step, and record every item's result.

Steps (`WRITE_STEPS`): OUs, accounts, then groups and memberships — a new group is added with
its members in one add, as the members exist by then. Within a step items run in parallel; a
failed item never stops the others. A membership change drops the members whose account could
not be made, so one failed account does not fail the whole group. A re-run after any failure
converges, because the next plan starts from what the directory then holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ssc_infra.core.dn import dn_key
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind

# What is written together, in this order: every step waits for the one before it.
WRITE_STEPS = ((ObjectKind.OU,), (ObjectKind.ACCOUNT,), (ObjectKind.GROUP, ObjectKind.MEMBERS))


class Writer(Protocol):
    """What apply needs of a backend: apply a batch of one step, report each item."""

    def apply(
        self, changes: Sequence[Change], on_result: Callable[[ItemResult], None] | None = None
    ) -> list[ItemResult]: ...


@dataclass
class ApplyReport:
    results: list[ItemResult] = field(default_factory=list)

    @property
    def failed(self) -> list[ItemResult]:
        return [r for r in self.results if not r.ok]

    @property
    def succeeded(self) -> int:
        return sum(1 for r in self.results if r.ok)


def apply_changes(
    changes: Sequence[Change],
    writer: Writer,
    on_result: Callable[[ItemResult], None] | None = None,
    on_done: Callable[[ObjectKind], None] | None = None,
) -> ApplyReport:
    """Apply changes in dependency order; every item's result is returned and reported.

    Args:
        on_done: called with each kind when every item of it has its result (for each kind
            of WRITE_STEPS, one with nothing to do too), so that work waiting for it can start.
    """
    report = ApplyReport()
    failed_dns: set[str] = set()
    for step in WRITE_STEPS:
        batch = [c for c in changes if c.kind in step]
        if failed_dns:
            batch = [_without(c, failed_dns) if c.kind is ObjectKind.MEMBERS else c
                     for c in batch]
            batch = [c for c in batch if c.kind is not ObjectKind.MEMBERS
                     or c.after.get("add") or c.after.get("remove")]
        results = writer.apply(batch, on_result) if batch else []
        report.results.extend(results)
        for result in results:
            if not result.ok and result.change.kind is ObjectKind.ACCOUNT:
                change = result.change
                failed_dns.add(dn_key(change.dn))
                if "dn" in change.after and change.action is not Action.CREATE:
                    failed_dns.add(dn_key(str(change.after["dn"])))
        for kind in step:
            if on_done is not None:
                on_done(kind)
    return report


def _without(change: Change, failed: set[str]) -> Change:
    after = dict(change.after)
    for side in ("add", "remove"):
        dns = list(after.get(side, []))
        keys = list(after.get(f"{side}_keys", []))
        keep = [i for i, dn in enumerate(dns) if dn_key(dn) not in failed]
        after[side] = [dns[i] for i in keep]
        if keys:
            after[f"{side}_keys"] = [keys[i] for i in keep]
    return dataclasses.replace(change, after=after)
