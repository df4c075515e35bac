"""Plan the directory: read it, derive with the names it holds, diff, apply the guards.

The one place that strings the steps together for AD, so that `plan`, `apply`, `drift`, the
benchmark and the tests all plan the same way. The I/O is the backend's; the steps are pure.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date

from ssc_infra.ad.attributes import PASSWORD_NEW, PASSWORD_NOT_RECORDED
from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.ad.connection import AdSettings
from ssc_infra.ad.diff import (
    diff_directory,
    directory_names,
    hybrid_partners,
    in_apply_order,
    new_accounts,
)
from ssc_infra.ad.guards import guard_directory
from ssc_infra.ad.scope import Scope
from ssc_infra.core.actual import DirectoryAccount, DirectoryState
from ssc_infra.core.desired import AccountState, DesiredState, derive
from ssc_infra.core.model import PersonKey, Region
from ssc_infra.core.plan import Action, Change, ObjectKind, Section
from ssc_infra.run.protocols import DirectoryBackend
from ssc_infra.sources.holds import NO_HOLDS, Holds
from ssc_infra.state.ledger import Ledger, MergedNames, NameConflict, merge_names

MAX_NAME_ROUNDS = 5


@dataclass(frozen=True)
class DirectoryRun:
    actual: DirectoryState
    desired: DesiredState
    plan: Section  # the directory's section of the run's plan
    round_trips: int
    name_conflicts: tuple[NameConflict, ...] = ()  # the ledger contradicted: the directory won
    # people who change partner (or employee id): new key -> their account under the old one
    moves: Mapping[PersonKey, DirectoryAccount] = dataclasses.field(default_factory=dict)


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
    recorded: Collection[PersonKey] | None = None,
) -> DirectoryRun:
    """`plan_with` over the real directory (ldap3) that `settings` name."""
    return plan_with(LdapDirectory(settings), region, today, partners, allow_disable, workers,
                     holds, enable, ledger, recorded)


def plan_with(
    backend: DirectoryBackend,
    region: Region,
    today: date,
    partners: Collection[str] = (),
    allow_disable: Mapping[str, int] | None = None,
    workers: int = 4,
    holds: Holds = NO_HOLDS,
    enable: Collection[PersonKey] = (),
    ledger: Ledger | None = None,
    recorded: Collection[PersonKey] | None = None,
    full_read: bool = True,
) -> DirectoryRun:
    """Read the directory and make the guarded plan for the region (or some partners).

    The whole directory is read even for some partners: every partner's names must be the
    ones its accounts have (the host files hold every partner, and a new account's name must
    not be made from names that only look free), and a partner's plan alone is made from it.

    Args:
        recorded: the accounts whose initial password is recorded in the state dir
            (`ssc_infra.state.folder.recorded_passwords`); an account that must still set its first
            password and is not among them gets a new one. None: that check is not made.
        full_read: False: the backend may read only what changed since its last read.
    """
    actual = backend.read(scope_of(region), workers, full_read)
    named = derive_with_free_names(region, today, actual, backend.taken_names, ledger=ledger)
    desired = named.desired
    _, _, moves = directory_names(region, actual)
    plan = diff_directory(desired, actual, moves, partners, holds, enable)
    if recorded is not None:
        plan = password_resets(plan, desired, actual, moves, recorded, partners)
    guarded = guard_directory(plan, actual, region.guards, allow_disable)
    return DirectoryRun(actual, desired, guarded, actual.round_trips + named.asked,
                        named.conflicts, moves)


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
        new = new_accounts(desired, actual, moves, partners)
        sams = {a.name.sam.lower() for a in new} - reserved_sams
        upns = {a.name.upn.lower() for a in new} - reserved_upns
        if not sams and not upns:
            break
        found_sams, found_upns = lookup(sams, upns)
        asked += 1
        if not found_sams and not found_upns:
            break
        reserved_sams |= found_sams
        reserved_upns |= found_upns
    return Named(desired, asked, merged.conflicts)


def password_resets(
    plan: Section,
    desired: DesiredState,
    actual: DirectoryState,
    moves: Mapping[PersonKey, DirectoryAccount],
    recorded: Collection[PersonKey],
    partners: Collection[str] = (),
) -> Section:
    """The plan plus a new password for every account nobody knows the password of (pure).

    Such an account was made with an initial password (pwdLastSet=0, never logged on) that
    reached no credentials file: made by a version without write-ahead that died, or its row
    was deleted. It gets the pseudo attribute "password" — in its account change when it has
    one, or in a change of its own (reset-password). Leavers get none.
    """
    recorded = set(recorded)
    managed = actual.managed()
    by_key = {c.key: c for c in plan.changes if c.kind is ObjectKind.ACCOUNT}
    resets: dict[str, Change] = {}
    for partner in hybrid_partners(desired):
        if partners and partner.code not in partners:
            continue
        for account in partner.accounts:
            current = managed.get(account.key) or moves.get(account.key)
            if current is None or not current.must_change_password or \
                    account.state is AccountState.LEAVER or account.key in recorded or \
                    current.key in recorded or account.previous in recorded:
                continue
            key = f"{account.partner}/{account.employee_id}"
            before = {"sAMAccountName": current.sam, "userPrincipalName": current.upn or "",
                      "password": PASSWORD_NOT_RECORDED}
            change = by_key.get(key) or Change(ObjectKind.ACCOUNT, Action.RESET_PASSWORD,
                                               account.partner, key, current.dn)
            resets[key] = dataclasses.replace(
                change, before={**before, **change.before},
                after={**change.after, "password": PASSWORD_NEW})
    if not resets:
        return plan
    rest = [c for c in plan.changes
            if not (c.kind is ObjectKind.ACCOUNT and c.key in resets)]
    return dataclasses.replace(plan, changes=tuple(in_apply_order([*rest, *resets.values()])))
