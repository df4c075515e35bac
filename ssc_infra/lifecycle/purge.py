"""Leavers past retention, read from the directory, and their purge (`ssc-infra leavers`,
`ssc-infra purge`). The rules are `ssc_infra.ad.retention`'s; this module reads and writes.

A purge is the one place the tool deletes an account: only accounts it parked itself, past
`retention_days`, each checked again on the DC right before its delete (objectGUID, disabled,
the tool's mark), each written to the audit log. An offboarded partner's accounts are deleted
only when its handover bundle verifies (as `bundle verify` says: files and directory) and
holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ssc_infra.ad.apply import ApplyReport, apply_changes
from ssc_infra.ad.connection import AdSettings, connect
from ssc_infra.ad.read import read_parked
from ssc_infra.ad.retention import Leaver, PurgePlan, leavers, plan_purge
from ssc_infra.ad.writer import AdWriter
from ssc_infra.core.approval import Approved
from ssc_infra.core.desired import AccountState, derive
from ssc_infra.core.model import PersonKey, Region
from ssc_infra.core.plan import ItemResult
from ssc_infra.lifecycle.verify import verified_bundles
from ssc_infra.run.directory import scope_of
from ssc_infra.state.audit import AuditEntry
from ssc_infra.state.folder import StateDir, run_id


@dataclass(frozen=True)
class Parked:
    """The leavers OU as read on a day, with the region's rules for it."""

    region: Region
    today: date
    found: tuple[Leaver, ...]

    @property
    def retention_days(self) -> int:
        return self.region.directory.retention_days


def read_leavers(region: Region, settings: AdSettings, today: date,
                 partners: tuple[str, ...] = ()) -> Parked:
    """Every account parked in the region's leavers OUs (one paged search)."""
    conn = connect(settings)
    try:
        parked = read_parked(conn, scope_of(region))
    finally:
        conn.unbind()
    found = leavers(parked, region.directory.retention_days)
    return Parked(region, today, tuple(v for v in found if not partners or v.partner in partners))


def current_people(region: Region, today: date) -> frozenset[PersonKey]:
    """People of the inventory who have an account that is not a leaver's (or will have)."""
    desired = derive(region, today)
    return frozenset(a.key for p in desired.partners for a in p.accounts
                     if a.state is not AccountState.LEAVER)


def make_purge(parked: Parked, settings: AdSettings, audit_log: Path,
               partners: tuple[str, ...] = (),
               allow: Mapping[str, int] | None = None) -> PurgePlan:
    """The purge plan of what was read: the bundles of offboarded partners verified first,
    as `bundle verify` does (files and directory); one that does not verify keeps all of its
    partner's accounts."""
    return plan_purge(parked.found, parked.today, parked.region.guards,
                      current_people(parked.region, parked.today),
                      verified_bundles(parked.region, settings, audit_log), partners, allow)


def apply_purge(plan: PurgePlan, region: Region, settings: AdSettings, state: StateDir,
                target: str, approved: Approved | None = None) -> ApplyReport:
    """Delete the plan's accounts, each checked on the DC first and audited (with who ran
    the purge and who approved it)."""
    rid = run_id()
    writer = AdWriter(settings, workers=2, scope=scope_of(region))

    def audited(result: ItemResult) -> None:
        if result.ok:  # what was deleted, to find it in a backup or a handover bundle
            before = result.change.before
            result = ItemResult(result.change, True, f"deleted; objectGUID "
                                f"{before.get('objectGUID')}, parked: "
                                f"{before.get('adminDescription')}")
        state.audit(AuditEntry.of(result, rid, "purge", target).approved(approved).as_dict())

    try:
        return apply_changes(plan.section.changes, writer, audited)
    finally:
        writer.close()
