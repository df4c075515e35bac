"""Licences: direct assignments, group-based licensing and the seats of each subscription.

A held licence takes a seat (consumedUnits). Group-based licences show on members as
licenseAssignmentStates and are recomputed (`reconcile`) when members, group licences or seats
change; a state that is Active keeps its seat.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ssc_infra_lab.graph_emulator.directory import Directory
from ssc_infra_lab.graph_emulator.model import Sku, bad_request, now_iso
from ssc_infra_lab.graph_emulator.records import Group, LicenceState, User


def drop_states(user: User, keys: Sequence[tuple[str, str]]) -> Callable[[], None]:
    """A change (for `Licensing._change_licences`) removing the user's group-based licence
    states `keys`, (group id, skuId)."""
    def mutate() -> None:
        for key in keys:
            del user.by_group[key]
    return mutate


def _set_state(user: User, key: tuple[str, str], state: LicenceState) -> Callable[[], None]:
    def mutate() -> None:
        user.by_group[key] = state
    return mutate


class Licensing(Directory):
    """The licence operations of a tenant (see `Tenant`)."""

    def _change_licences(self, user: User, mutate: Callable[[], object]) -> None:
        before = self.held(user)
        mutate()
        after = self.held(user)
        for sku in before - after:
            self.consumed[sku] -= 1
            self._freed = True
        for sku in after - before:
            self.consumed[sku] += 1
        self._touch(user)

    def _exclusive(self, first: str, second: str) -> bool:
        a, b = self.skus[first], self.skus[second]
        return b.skuPartNumber in a.exclusive_with or a.skuPartNumber in b.exclusive_with

    def _known_sku(self, sku_id: Any) -> str:
        if not isinstance(sku_id, str):
            raise bad_request("Invalid value specified for property 'skuId'.", "BadRequest")
        for known in self.skus:
            if known.lower() == sku_id.lower():
                return known
        raise bad_request(f"License {sku_id} does not correspond to a valid company License.")

    @staticmethod
    def licence_changes(body: Mapping[str, Any]) -> tuple[list[tuple[Any, list[str]]], list[Any]]:
        """The addLicenses and removeLicenses of an assignLicense body, checked for shape."""
        missing = [k for k in ("addLicenses", "removeLicenses") if k not in body]
        if missing:
            raise bad_request("One or more parameters of the function import 'assignLicense' "
                              "are missing from the request payload. The missing parameters "
                              f"are: {', '.join(missing)}.")
        add, remove = body["addLicenses"], body["removeLicenses"]
        if not isinstance(add, list) or not isinstance(remove, list) or \
                not all(isinstance(a, dict) for a in add):
            raise bad_request("Invalid value specified for the assignLicense parameters.",
                              "BadRequest")
        return [(a.get("skuId"), list(a.get("disabledPlans") or [])) for a in add], remove

    def assign_licence(self, user: User, body: Mapping[str, Any]) -> None:
        """POST /users/{id}/assignLicense: checked whole before anything changes."""
        add_raw, remove_raw = self.licence_changes(body)
        add = [(self._known_sku(sku), plans) for sku, plans in add_raw]
        remove = [self._known_sku(sku) for sku in remove_raw]
        if add and not user.props.get("usageLocation"):
            raise bad_request("License assignment cannot be done for user with invalid usage "
                              "location.")
        for sku in remove:
            if sku not in user.direct:
                if sku in self.held(user):
                    raise bad_request("User license is inherited from a group membership and "
                                      "it cannot be removed directly from the user.")
                raise bad_request("User does not have a corresponding license.")
        by_group = {sku for (_, sku), st in user.by_group.items() if st.state == "Active"}
        keeps = (set(user.direct) - set(remove)) | by_group
        holds_now = self.held(user)
        for sku, _ in add:
            for other in keeps | {s for s, _ in add}:
                if other != sku and self._exclusive(sku, other):
                    names = f"{self.skus[sku].skuPartNumber},{self.skus[other].skuPartNumber}"
                    raise bad_request(f"License assignment failed because service plans "
                                      f"{names} are mutually exclusive.")
            if sku not in holds_now and self.consumed[sku] + 1 > self.seats[sku]:
                part = self.skus[sku].skuPartNumber
                error = bad_request(f"Subscription {part} ({sku}) has no more available "
                                    "licenses.")
                error.details = [{"code": "CountViolation", "target": sku}]
                raise error

        def mutate() -> None:
            for sku in remove:
                user.direct.pop(sku, None)
            for sku, plans in add:
                user.direct[sku] = plans

        self._change_licences(user, mutate)
        self.reconcile((user.id,))

    def _evaluate(self, user: User, sku: str) -> tuple[str, str]:
        held = self.held(user)
        if sku in held:
            return "Active", "None"
        if any(self._exclusive(sku, other) for other in held):
            return "Error", "MutuallyExclusiveViolation"
        if self.consumed[sku] < self.seats[sku]:
            return "Active", "None"
        return "Error", "CountViolation"

    def reconcile(self, only: Collection[str] | None = None) -> None:
        """Group-based licensing: bring members' licence states up to date.

        A state that is Active stays Active (its seat is kept even when seats drop); the
        others are tried again in group order, then member order, so freed seats go to the
        longest-waiting members first.

        Args:
            only: the users whose memberships or licences changed; None for everyone. When
                seats were freed and some member waits in Error, everyone is looked at.
        """
        self._reconcile_once(only)
        while self._freed and any(state.state == "Error" for user in self.live_users()
                                  for state in user.by_group.values()):
            self._freed = False
            self._reconcile_once(None)
        self._freed = False

    def _reconcile_once(self, only: Collection[str] | None) -> None:
        stamp = now_iso()
        licensed = sorted((g for g in self.live_groups() if g.licences), key=lambda g: g.seq)
        scope = self.live_users() if only is None else \
            [u for u in (self.users.get(i) for i in only) if u is not None and not u.removed]
        wanted: list[tuple[User, str, str]] = []
        for group in licensed:
            members = list(group.members) if only is None else \
                [u.id for u in scope if u.id in group.members]
            for member in members:
                user = self.users.get(member)
                if user is not None and not user.removed:
                    wanted.extend((user, group.id, sku) for sku in group.licences)
        keys = {(user.id, group_id, sku) for user, group_id, sku in wanted}
        for user in scope:
            stale = [k for k in user.by_group if (user.id, *k) not in keys]
            if stale:
                self._change_licences(user, drop_states(user, stale))
        for user, group_id, sku in wanted:
            current = user.by_group.get((group_id, sku))
            if current is not None and current.state == "Active":
                continue
            state, error = self._evaluate(user, sku)
            if current is None or (current.state, current.error) != (state, error):
                self._change_licences(user, _set_state(user, (group_id, sku),
                                                       LicenceState(state, error, stamp)))

    def set_group_licences(self, group_display_name: str, part_numbers: Sequence[str]) -> None:
        matches = [g for g in self.live_groups()
                   if str(g.props.get("displayName", "")).lower() == group_display_name.lower()]
        if len(matches) != 1:
            raise ValueError(f"tenant {self.id}: {len(matches)} groups are named "
                             f"{group_display_name!r}; licences need exactly one")
        group = matches[0]
        group.licences = list(dict.fromkeys(self.sku_by_part(p).skuId for p in part_numbers))
        self._touch(group)
        self.reconcile()

    def assign_group_licence(self, group: Group, body: Mapping[str, Any]) -> None:
        """POST /groups/{id}/assignLicense (disabledPlans are accepted and not kept)."""
        add_raw, remove_raw = self.licence_changes(body)
        add = [self._known_sku(sku) for sku, _ in add_raw]
        remove = {self._known_sku(sku) for sku in remove_raw}
        group.licences = [s for s in group.licences if s not in remove]
        group.licences += [s for s in dict.fromkeys(add) if s not in group.licences]
        self._touch(group)
        self.reconcile()

    def update_skus(self, skus: Sequence[Sku]) -> bool:
        """Add the SKUs the tenant lacks and give the others the seats named; True if any
        changed. SKUs not named stay (users may hold them)."""
        changed = False
        for sku in skus:
            known = self.skus.get(sku.skuId)
            if known is None:
                if any(k.skuPartNumber == sku.skuPartNumber for k in self.skus.values()):
                    raise ValueError(f"tenant {self.id} has {sku.skuPartNumber} under another "
                                     "skuId")
                self.consumed[sku.skuId] = 0
            elif known.skuPartNumber != sku.skuPartNumber:
                raise ValueError(f"tenant {self.id}: skuId {sku.skuId} is "
                                 f"{known.skuPartNumber}, not {sku.skuPartNumber}")
            if known != sku or self.seats.get(sku.skuId) != sku.seats:
                self.skus[sku.skuId] = sku
                self.seats[sku.skuId] = sku.seats
                changed = True
        if changed:
            self.reconcile()
        return changed

    def set_seats(self, part_number: str, seats: int) -> None:
        if seats < 0:
            raise ValueError(f"seats must be >= 0, not {seats}")
        self.seats[self.sku_by_part(part_number).skuId] = seats
        self.reconcile()
