"""Movers in a run: a move between partners held on both sides, and the movers' lines.

A move to another partner (`moves.yaml`) changes two partners at once: the account leaves the
old partner's OU and groups and joins the new one's. Held means held everywhere, so while the
account waits to move, the two partners go on together or wait together: one held back (by a
guard, by its own data, by the entry's problem, or not asked for with `--partner`) holds the
other (`hold_moving`). `movers_of` names, for the reader, everyone whose place the plan
changes (`ssc_infra.core.movers`).
"""

from __future__ import annotations

import dataclasses

from ssc_infra.core.desired import AccountState
from ssc_infra.core.model import Move, PersonKey
from ssc_infra.core.movers import Account, Mover, find_movers
from ssc_infra.core.plan import Held
from ssc_infra.run.planned import PlannedRun
from ssc_infra.sources.applied import kept_places
from ssc_infra.sources.moves import text


def in_flight(planned: PlannedRun) -> list[Move]:
    """The moves to another partner whose account waits to move in this run: due (or not
    known to be ahead), the account still under the old key and none under the new one."""
    if not planned.region.moves:
        return []
    managed = planned.actual.managed()
    today = planned.request.today
    return [m for m in planned.region.moves
            if m.person[0] != m.to[0] and (m.on is None or m.on <= today)
            and m.person in managed and m.to not in managed]


def hold_moving(planned: PlannedRun) -> None:
    """Hold back both partners of a move whose account waits to move when one of them is held
    back or not in the run: half a move would leave the account in the new partner's OU with
    the old partner's groups, or the old partner's OU without its account."""
    moving = in_flight(planned)
    if not moving:
        return
    held = set(planned.held_partners) | set(planned.inventory.held)
    asked = set(planned.request.partners)
    out = {p.code for p in planned.region.partners} - asked if asked else set()
    why: dict[str, str] = {}
    grown = True
    while grown:
        grown = False
        for move in moving:
            ends = (move.person[0], move.to[0])
            for one, other in (ends, ends[::-1]):
                if other in held or other in why:
                    continue
                if one in held or one in why:
                    state = "is held back"
                elif one in out:
                    state = (f"is not in this run: plan both (--partner {ends[0]} --partner "
                             f"{ends[1]})")
                else:
                    continue
                why[other] = (f"{move.where}: {text(move.person)} moves to {text(move.to)}, "
                              f"and {one} {state}")
                grown = True
    why = {code: reason for code, reason in why.items() if code not in out}
    if not why:
        return
    section = planned.directory.holding(why)
    planned.directory = dataclasses.replace(section, held=(
        *section.held, *(Held(code, 0, 0, 0, "", reason=reason)
                         for code, reason in sorted(why.items()))))


def movers_of(planned: PlannedRun) -> tuple[Mover, ...]:
    """Everyone whose place the plan changes, of the partners that go on; none when the plan
    changes nothing (their old place is read from the HR exports as last applied)."""
    plan = planned.plan
    if not plan.changes:
        return ()
    region = planned.region
    asked = set(planned.request.partners) or {p.code for p in region.partners}
    going = asked - plan.held_partners - set(planned.inventory.held)
    touched = {c.partner for c in plan.changes}
    if "" not in touched:  # a shared host file may change for anyone's workplace
        going &= touched
    managed = planned.actual.managed()
    people = {p.key: p for partner in region.partners if partner.code in going
              for p in partner.people}
    owners = going | {a.key[0] for a in planned.moved.values() if a.key is not None}
    kept = kept_places(planned.inventory.data_files, owners, planned.state.path)
    current = []
    was: dict[PersonKey, Account] = {}
    for partner in planned.desired.partners:
        if partner.code not in going:
            continue
        for account in partner.accounts:
            person = people.get(account.key)
            if person is None or account.state is AccountState.LEAVER:
                continue
            current.append((person, account.name.full_name))
            found = managed.get(account.key) or planned.moved.get(account.key)
            if found is not None and found.key is not None:
                was[account.key] = Account(found.key, found.department, found.title)
            elif account.key in kept:  # a cloud partner's user: no account in AD
                department, title, _, _ = kept[account.key]
                was[account.key] = Account(account.key, department, title)
    names = {p.code: p.name for p in region.partners}
    return find_movers(current, was, kept, names, region.moves)
