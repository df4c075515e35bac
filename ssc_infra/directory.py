"""Plan the directory: read it, derive with the names it holds, diff, apply the guards.

The one place that strings the steps together for AD, so that `plan`, `apply`, `drift`, the
benchmark and the tests all plan the same way. The I/O is the backend's; the steps are pure.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date

from ssc_infra.actual import DirectoryState
from ssc_infra.backends.ad import AdSettings, Scope, connect, read_directory, taken_names
from ssc_infra.desired import DesiredState, derive
from ssc_infra.holds import NO_HOLDS, Holds
from ssc_infra.ledger import Ledger, MergedNames, NameConflict, merge_names
from ssc_infra.model import PersonKey, Region
from ssc_infra.plan import Action, ObjectKind, Plan, apply_guards, diff_directory, directory_names

MAX_NAME_ROUNDS = 5


@dataclass(frozen=True)
class DirectoryRun:
    actual: DirectoryState
    desired: DesiredState
    plan: Plan
    round_trips: int
    name_conflicts: tuple[NameConflict, ...] = ()  # the ledger contradicted: the directory won


def scope_of(region: Region) -> Scope:
    d = region.directory
    return Scope(d.base_dn, f"{d.partners_ou},{d.base_dn}", f"{d.leavers_ou},{d.base_dn}")


def plan_directory(
    region: Region,
    today: date,
    settings: AdSettings,
    partners: Collection[str] = (),
    allow_disable: Mapping[str, int] | None = None,
    workers: int = 4,
    holds: Holds = NO_HOLDS,
    enable: Collection[PersonKey] = (),
    ledger: Ledger | None = None,
) -> DirectoryRun:
    """Read the directory and make the guarded plan for the region (or some partners).

    The whole directory is read even for some partners: every partner's names must be the
    ones its accounts have (the host files hold every partner, and a new account's name must
    not be made from names that only look free), and a partner's plan alone is made from it.
    """
    actual = read_directory(lambda: connect(settings), scope_of(region), workers)
    conn = connect(settings)
    try:
        named = derive_with_free_names(
            region, today, actual,
            lambda sams, upns: taken_names(conn, settings.base_dn, sams, upns), ledger=ledger)
    finally:
        conn.unbind()
    desired = named.desired
    _, _, moves = directory_names(region, actual)
    plan = diff_directory(desired, actual, moves, partners, holds, enable)
    guarded = apply_guards(plan, actual, region.guards, allow_disable)
    return DirectoryRun(actual, desired, guarded, actual.round_trips + named.asked,
                        named.conflicts)


Lookup = Callable[[set[str], set[str]], tuple[set[str], set[str]]]


@dataclass(frozen=True)
class Named:
    """The desired state with names free in the whole domain, and how they were found."""

    desired: DesiredState
    asked: int  # lookups of names outside the managed scopes
    conflicts: tuple[NameConflict, ...] = ()  # kept names the directory contradicts


def derive_with_free_names(
    region: Region, today: date, actual: DirectoryState, lookup: Lookup,
    partners: Collection[str] = (), ledger: Ledger | None = None,
) -> Named:
    """Derive, then make sure every new account's names are free in the whole domain.

    The names of the managed scopes are known from the read; a name held elsewhere in the
    domain (an account made by hand in CN=Users) is only found by asking. Only the names of
    accounts to be created are asked for; when one is taken, it is reserved and the names are
    made again, until none collides. The ledger's names (cloud partners, accounts not made
    yet, people who left) are kept where the directory does not contradict them.
    """
    directory, reserved, moves = directory_names(region, actual)
    reserved_sams: set[str] = set(reserved)
    reserved_upns: set[str] = set()
    asked = 0
    for _ in range(MAX_NAME_ROUNDS):
        merged = (merge_names(ledger, region, directory, reserved_sams, reserved_upns)
                  if ledger is not None else MergedNames(directory, ()))
        desired = derive(region, today, merged.existing, reserved_sams, reserved_upns)
        plan = diff_directory(desired, actual, moves, partners)
        new = [c.after for c in plan.changes
               if c.kind is ObjectKind.ACCOUNT and c.action is Action.CREATE]
        sams = {str(a["sAMAccountName"]).lower() for a in new} - reserved_sams
        upns = {str(a["userPrincipalName"]).lower() for a in new} - reserved_upns
        if not sams and not upns:
            break
        found_sams, found_upns = lookup(sams, upns)
        asked += 1
        if not found_sams and not found_upns:
            break
        reserved_sams |= found_sams
        reserved_upns |= found_upns
    return Named(desired, asked, merged.conflicts)
