"""Run a Plan through the backends, kind by kind, and record every item's result.

Order: OUs, groups, accounts, memberships. Within a kind items run in parallel; a failed item
never stops the others. A membership change drops the members whose account could not be made,
so one failed account does not fail the whole group. A re-run after any failure converges,
because the next plan starts from what the directory then holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ssc_infra.ad.diff import APPLY_ORDER
from ssc_infra.core.dn import dn_key
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind


class Writer(Protocol):
    """What apply needs of a backend: apply a batch of one kind, report each item."""

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
        on_done: called when every item of a kind has its result (for each kind of
            APPLY_ORDER, one with nothing to do too), so that work waiting for it can start.
    """
    report = ApplyReport()
    failed_dns: set[str] = set()
    for kind in APPLY_ORDER:
        batch = [c for c in changes if c.kind is kind]
        if kind is ObjectKind.MEMBERS and failed_dns:
            batch = [_without(c, failed_dns) for c in batch]
            batch = [c for c in batch if c.after.get("add") or c.after.get("remove")]
        if not batch:
            if on_done is not None:
                on_done(kind)
            continue
        results = writer.apply(batch, on_result)
        report.results.extend(results)
        for result in results:
            if not result.ok and result.change.kind is ObjectKind.ACCOUNT:
                change = result.change
                failed_dns.add(dn_key(change.dn))
                if "dn" in change.after and change.action is not Action.CREATE:
                    failed_dns.add(dn_key(str(change.after["dn"])))
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
