"""One emulated tenant's directory: users, groups, licences and the change log behind delta.

Pure state, no I/O: the HTTP side (`api`, `server`) calls these methods under one lock. Write
methods raise `GraphError` with Graph's status, code and message; the methods that stand in for
Entra Connect and the admin portal (`sync_hybrid`, `set_group_licences`, `set_seats`) raise
`ValueError` naming the bad input.

Every change bumps the tenant's version and stamps the object with it; delta rounds compare
against that stamp. Deleted objects stay as tombstones (reason "changed" while soft-deleted,
"deleted" once purged), so a delta round can report them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ssc_infra.graph_emulator.model import GraphError, Sku, bad_request, not_found, now_iso

USER_PROPERTIES: tuple[str, ...] = (
    "id", "accountEnabled", "assignedLicenses", "businessPhones", "companyName",
    "createdDateTime", "department", "displayName", "employeeId", "givenName", "jobTitle",
    "licenseAssignmentStates", "mail", "mailNickname", "mobilePhone", "officeLocation",
    "onPremisesImmutableId", "onPremisesSyncEnabled", "passwordProfile", "preferredLanguage",
    "proxyAddresses", "surname", "usageLocation", "userPrincipalName",
)
# What Graph v1.0 returns for a user without $select: accountEnabled, employeeId and the
# licences only come with $select, in the emulator as in Graph.
USER_DEFAULT: tuple[str, ...] = (
    "businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
)
USER_WRITABLE: tuple[str, ...] = (
    "accountEnabled", "businessPhones", "companyName", "department", "displayName",
    "employeeId", "givenName", "jobTitle", "mail", "mailNickname", "mobilePhone",
    "officeLocation", "passwordProfile", "preferredLanguage", "surname", "usageLocation",
    "userPrincipalName",
)
# A synced user's other properties are mastered in AD; usageLocation is the cloud's own.
SYNCED_USER_WRITABLE: tuple[str, ...] = ("usageLocation",)
USER_FILTERABLE: tuple[str, ...] = (
    "id", "accountEnabled", "companyName", "department", "displayName", "employeeId",
    "givenName", "jobTitle", "mail", "mailNickname", "onPremisesImmutableId", "surname",
    "usageLocation", "userPrincipalName",
)
USER_REQUIRED: tuple[str, ...] = (
    "accountEnabled", "displayName", "mailNickname", "userPrincipalName", "passwordProfile",
)
GROUP_PROPERTIES: tuple[str, ...] = (
    "id", "assignedLicenses", "createdDateTime", "description", "displayName", "groupTypes",
    "mail", "mailEnabled", "mailNickname", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "proxyAddresses", "securityEnabled",
)
GROUP_DEFAULT: tuple[str, ...] = tuple(p for p in GROUP_PROPERTIES if p != "assignedLicenses")
GROUP_WRITABLE: tuple[str, ...] = (
    "description", "displayName", "groupTypes", "mailEnabled", "mailNickname", "securityEnabled",
)
GROUP_FILTERABLE: tuple[str, ...] = (
    "id", "displayName", "mail", "mailEnabled", "mailNickname", "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled", "securityEnabled",
)
GROUP_REQUIRED: tuple[str, ...] = ("displayName", "mailEnabled", "mailNickname", "securityEnabled")
_BOOLEAN = frozenset({"accountEnabled", "mailEnabled", "securityEnabled"})
_LISTS = frozenset({"businessPhones", "proxyAddresses", "groupTypes"})
_NOT_NULL = frozenset({"accountEnabled", "displayName", "mailNickname", "userPrincipalName",
                       "mailEnabled", "securityEnabled"})
_NICKNAME = re.compile(r"[^\s@()\\\[\]\";:<>,]{1,64}")
_USAGE_LOCATION = re.compile(r"[A-Z]{2}")
_SYNCED = ("Unable to update the specified properties for on-premises mastered Directory Sync "
           "objects or objects currently undergoing migration.")
_SYNC_USER_KEYS = frozenset(USER_WRITABLE) - {"passwordProfile"} | {
    "onPremisesImmutableId", "proxyAddresses"}
_SYNC_GROUP_KEYS = frozenset({"onPremisesSecurityIdentifier", "onPremisesImmutableId",
                              "displayName", "description", "mailEnabled", "mailNickname",
                              "members", "proxyAddresses", "mail"})


@dataclass
class LicenceState:
    """A group-based licence on one user: Active, or Error with Graph's error name."""

    state: str
    error: str
    updated: str


@dataclass
class User:
    id: str
    seq: int
    version: int
    props: dict[str, Any]
    direct: dict[str, list[str]] = field(default_factory=dict)  # skuId -> disabledPlans
    by_group: dict[tuple[str, str], LicenceState] = field(default_factory=dict)  # (group, sku)
    removed: str = ""  # "", "changed" (soft-deleted) or "deleted" (purged)


@dataclass
class Group:
    id: str
    seq: int
    version: int
    props: dict[str, Any]
    members: dict[str, None] = field(default_factory=dict)  # an ordered set of object ids
    member_log: list[tuple[int, str, bool]] = field(default_factory=list)  # version, id, added
    licences: list[str] = field(default_factory=list)  # skuIds assigned to the group
    sync_key: str = ""
    removed: str = ""


def _invalid(name: str, resource: str) -> GraphError:
    return bad_request(f"Invalid value specified for property '{name}' of resource "
                       f"'{resource}'.")


def _password_ok(password: str) -> bool:
    kinds = sum(any(test(c) for c in password)
                for test in (str.islower, str.isupper, str.isdigit,
                             lambda c: not c.isalnum()))
    return len(password) >= 8 and kinds >= 3


def _drop_states(user: User, keys: Sequence[tuple[str, str]]) -> Callable[[], None]:
    def mutate() -> None:
        for key in keys:
            del user.by_group[key]
    return mutate


def _set_state(user: User, key: tuple[str, str], state: LicenceState) -> Callable[[], None]:
    def mutate() -> None:
        user.by_group[key] = state
    return mutate


def _smtp(address: str) -> str:
    return address.split(":", 1)[1].lower() if ":" in address else address.lower()


class Tenant:
    """The directory of one tenant.

    Args:
        tenant_id: the tenant's id (a GUID in Entra; any string here).
        domains: its verified domains; the first is the default domain.
        skus: its licence subscriptions.
    """

    def __init__(self, tenant_id: str, domains: Sequence[str], skus: Sequence[Sku]) -> None:
        if not domains:
            raise ValueError(f"tenant {tenant_id}: give at least one domain")
        part_numbers = [s.skuPartNumber for s in skus]
        if len(set(part_numbers)) != len(part_numbers) or \
                len({s.skuId for s in skus}) != len(skus):
            raise ValueError(f"tenant {tenant_id}: SKU ids and part numbers must be unique")
        self.id = tenant_id
        self.domains = [d.lower() for d in domains]
        self.skus: dict[str, Sku] = {s.skuId: s for s in skus}
        self.seats: dict[str, int] = {s.skuId: s.seats for s in skus}
        self.consumed: dict[str, int] = {s.skuId: 0 for s in skus}
        self.users: dict[str, User] = {}
        self.groups: dict[str, Group] = {}
        self.version = 0
        self.seq = 0
        self.delta_epoch = 0
        self._freed = False
        self._by_upn: dict[str, str] = {}  # lower-case UPN of a live user -> id
        self._by_proxy: dict[str, str] = {}  # lower-case SMTP proxy address -> user id
        self._synced: dict[str, str] = {}  # onPremisesImmutableId -> user id

    def _index(self, user: User) -> None:
        self._by_upn[str(user.props.get("userPrincipalName", "")).lower()] = user.id
        for address in user.props.get("proxyAddresses") or []:
            self._by_proxy[_smtp(address)] = user.id

    def _unindex(self, user: User) -> None:
        self._by_upn.pop(str(user.props.get("userPrincipalName", "")).lower(), None)
        for address in user.props.get("proxyAddresses") or []:
            if self._by_proxy.get(_smtp(address)) == user.id:
                del self._by_proxy[_smtp(address)]

    # ---- lookups -------------------------------------------------------------------------

    def user(self, key: str) -> User:
        """A live user by id or userPrincipalName, or 404 as Graph answers."""
        found = self.users.get(key) or self.users.get(self._by_upn.get(key.lower(), ""))
        if found is None or found.removed:
            raise not_found(key)
        return found

    def group(self, key: str) -> Group:
        found = self.groups.get(key)
        if found is None or found.removed:
            raise not_found(key)
        return found

    def live_users(self) -> list[User]:
        return [u for u in self.users.values() if not u.removed]

    def live_groups(self) -> list[Group]:
        return [g for g in self.groups.values() if not g.removed]

    def kind_of(self, object_id: str) -> str:
        return "group" if object_id in self.groups else "user"

    def sku_by_part(self, part_number: str) -> Sku:
        for sku in self.skus.values():
            if sku.skuPartNumber.lower() == part_number.lower():
                return sku
        known = ", ".join(s.skuPartNumber for s in self.skus.values())
        raise ValueError(f"tenant {self.id} has no SKU {part_number!r} (it has: {known})")

    # ---- rendering -----------------------------------------------------------------------

    def held(self, user: User) -> set[str]:
        """The skuIds a user holds: direct ones and the Active group-based ones."""
        return set(user.direct) | {sku for (_, sku), state in user.by_group.items()
                                   if state.state == "Active"}

    def render_user(self, user: User, select: Sequence[str] | None) -> dict[str, Any]:
        held = self.held(user)
        assigned = [{"disabledPlans": user.direct.get(sku, []), "skuId": sku}
                    for sku in self.skus if sku in held]
        states = [{"assignedByGroup": None, "disabledPlans": plans, "error": "None",
                   "lastUpdatedDateTime": None, "skuId": sku, "state": "Active"}
                  for sku, plans in user.direct.items()]
        states += [{"assignedByGroup": group_id, "disabledPlans": [], "error": state.error,
                    "lastUpdatedDateTime": state.updated, "skuId": sku, "state": state.state}
                   for (group_id, sku), state in user.by_group.items()]
        full = {**user.props, "id": user.id, "assignedLicenses": assigned,
                "licenseAssignmentStates": states, "passwordProfile": None}
        return {name: full.get(name) for name in (select or USER_DEFAULT)}

    def render_group(self, group: Group, select: Sequence[str] | None) -> dict[str, Any]:
        full = {**group.props, "id": group.id,
                "assignedLicenses": [{"disabledPlans": [], "skuId": s} for s in group.licences]}
        return {name: full.get(name) for name in (select or GROUP_DEFAULT)
                if name in GROUP_PROPERTIES}

    def subscribed_skus(self) -> list[dict[str, Any]]:
        return [{"id": f"{self.id}_{sku.skuId}", "appliesTo": "User",
                 "capabilityStatus": "Enabled", "consumedUnits": self.consumed[sku.skuId],
                 "prepaidUnits": {"enabled": self.seats[sku.skuId], "lockedOut": 0,
                                  "suspended": 0, "warning": 0},
                 "servicePlans": [], "skuId": sku.skuId, "skuPartNumber": sku.skuPartNumber}
                for sku in self.skus.values()]

    # ---- the change log ------------------------------------------------------------------

    def _touch(self, item: User | Group) -> None:
        self.version += 1
        item.version = self.version

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # ---- users ---------------------------------------------------------------------------

    def _check_props(self, body: Mapping[str, Any], writable: Iterable[str],
                     resource: str) -> None:
        allowed = set(writable)
        everything = set(USER_PROPERTIES if resource == "User" else GROUP_PROPERTIES)
        for name, value in body.items():
            if name not in allowed:
                if name in everything:
                    raise bad_request(f"Property '{name}' is read-only and cannot be set.")
                raise bad_request(f"Property '{name}' does not exist as a declared property or "
                                  "extension property.")
            if value is None:
                if name in _NOT_NULL:
                    raise _invalid(name, resource)
                continue
            if name in _BOOLEAN and not isinstance(value, bool):
                raise GraphError(400, "BadRequest", f"Cannot convert the literal '{value}' to "
                                 "the expected type 'Edm.Boolean'.")
            if name in _LISTS and not (isinstance(value, list)
                                       and all(isinstance(v, str) for v in value)):
                raise _invalid(name, resource)
            if name == "passwordProfile":
                self._check_password(value)
            elif name not in _BOOLEAN and name not in _LISTS and not isinstance(value, str):
                raise _invalid(name, resource)
        if isinstance(body.get("mailNickname"), str) and \
                not _NICKNAME.fullmatch(body["mailNickname"]):
            raise _invalid("mailNickname", resource)
        location = body.get("usageLocation")
        if isinstance(location, str) and not _USAGE_LOCATION.fullmatch(location):
            raise _invalid("usageLocation", resource)
        if isinstance(body.get("displayName"), str) and not body["displayName"].strip():
            raise _invalid("displayName", resource)

    @staticmethod
    def _check_password(value: Any) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("password"), str):
            raise _invalid("passwordProfile", "User")
        if not _password_ok(value["password"]):
            raise bad_request("The specified password does not comply with password complexity "
                              "requirements. Please provide a different password.")

    def _check_upn(self, upn: str, owner: str = "") -> None:
        local, _, domain = upn.rpartition("@")
        if not local or domain.lower() not in self.domains:
            raise bad_request("The domain portion of the userPrincipalName property is invalid. "
                              "You must use one of the verified domain names in your "
                              "organization.")
        if self._by_upn.get(upn.lower(), owner) != owner:
            error = bad_request("Another object with the same value for property "
                                "userPrincipalName already exists.")
            error.details = [{"code": "ObjectConflict", "target": "userPrincipalName"}]
            raise error

    def _check_mail(self, mail: str, owner: str) -> None:
        if self._by_proxy.get(mail.lower(), owner) != owner:
            raise bad_request("Another object with the same value for property "
                              "proxyAddresses already exists.")

    @staticmethod
    def _set_mail(props: dict[str, Any], mail: str | None) -> None:
        """Setting mail makes it the primary SMTP proxy address, as in Graph."""
        props["mail"] = mail
        if mail is None:
            return
        others = [("smtp:" + _smtp(a)) if a.startswith("SMTP:") else a
                  for a in props.get("proxyAddresses") or [] if _smtp(a) != mail.lower()]
        props["proxyAddresses"] = [f"SMTP:{mail}", *others]

    def create_user(self, body: Mapping[str, Any]) -> User:
        self._check_props(body, USER_WRITABLE, "User")
        for name in USER_REQUIRED:
            if body.get(name) is None:
                raise _invalid(name, "User")
        self._check_upn(body["userPrincipalName"])
        if body.get("mail"):
            self._check_mail(body["mail"], "")
        props: dict[str, Any] = {name: None for name in USER_WRITABLE}
        props.update({k: v for k, v in body.items() if k != "passwordProfile"})
        props.pop("passwordProfile", None)
        props.update({"businessPhones": body.get("businessPhones") or [], "proxyAddresses": [],
                      "onPremisesSyncEnabled": None, "onPremisesImmutableId": None,
                      "createdDateTime": now_iso()})
        self._set_mail(props, body.get("mail"))
        user = User(str(uuid.uuid4()), self._next_seq(), 0, props)
        self.users[user.id] = user
        self._index(user)
        self._touch(user)
        return user

    def update_user(self, user: User, body: Mapping[str, Any]) -> None:
        if user.props.get("onPremisesSyncEnabled") and \
                any(name not in SYNCED_USER_WRITABLE for name in body):
            raise bad_request(_SYNCED)
        self._check_props(body, USER_WRITABLE, "User")
        if "userPrincipalName" in body:
            self._check_upn(body["userPrincipalName"], user.id)
        if body.get("mail"):
            self._check_mail(body["mail"], user.id)
        self._unindex(user)
        for name, value in body.items():
            if name == "mail":
                self._set_mail(user.props, value)
            elif name != "passwordProfile":
                user.props[name] = value
        self._index(user)
        self._touch(user)

    def delete_user(self, user: User) -> None:
        if user.props.get("onPremisesSyncEnabled"):
            raise bad_request(_SYNCED)
        for group in self.live_groups():
            if user.id in group.members:
                self._drop_member(group, user.id)
        self._change_licences(user, _drop_states(user, list(user.by_group)))
        self._change_licences(user, user.direct.clear)
        self._unindex(user)
        user.removed = "changed"
        self._touch(user)
        self.reconcile(())

    def purge(self, object_id: str) -> None:
        """Delete a soft-deleted object for good (DELETE /directory/deletedItems/{id})."""
        item: User | Group | None = self.users.get(object_id) or self.groups.get(object_id)
        if item is None or item.removed != "changed":
            raise not_found(object_id)
        item.removed = "deleted"
        self._touch(item)

    # ---- licences ------------------------------------------------------------------------

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
                self._change_licences(user, _drop_states(user, stale))
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

    # ---- groups --------------------------------------------------------------------------

    def create_group(self, body: Mapping[str, Any]) -> Group:
        self._check_props(body, GROUP_WRITABLE, "Group")
        for name in GROUP_REQUIRED:
            if body.get(name) is None:
                raise _invalid(name, "Group")
        types = list(body.get("groupTypes") or [])
        if any(t not in ("Unified",) for t in types):
            raise bad_request("The emulator has only security and Microsoft 365 (Unified) "
                              "groups; groupTypes may hold only 'Unified'.")
        unified = "Unified" in types
        if body["mailEnabled"] and not unified:
            raise bad_request("Cannot create a mail-enabled security groups and or "
                              "distribution list.")
        props: dict[str, Any] = {name: None for name in GROUP_WRITABLE}
        props.update(body)
        mail = f"{body['mailNickname']}@{self.domains[0]}" if unified else None
        props.update({"groupTypes": types, "mail": mail,
                      "proxyAddresses": [f"SMTP:{mail}"] if mail else [],
                      "onPremisesSyncEnabled": None, "onPremisesSecurityIdentifier": None,
                      "createdDateTime": now_iso()})
        group = Group(str(uuid.uuid4()), self._next_seq(), 0, props)
        self.groups[group.id] = group
        self._touch(group)
        return group

    def update_group(self, group: Group, body: Mapping[str, Any]) -> None:
        if group.props.get("onPremisesSyncEnabled"):
            raise bad_request(_SYNCED)
        self._check_props(body, ("description", "displayName", "mailNickname"), "Group")
        group.props.update(body)
        self._touch(group)

    def delete_group(self, group: Group) -> None:
        if group.props.get("onPremisesSyncEnabled"):
            raise bad_request(_SYNCED)
        for member in list(group.members):
            self._drop_member(group, member)
        group.removed = "changed"
        self._touch(group)
        self.reconcile(None)

    def _member_object(self, object_id: str) -> str:
        user = self.users.get(object_id)
        group = self.groups.get(object_id)
        if (user is None or user.removed) and (group is None or group.removed):
            raise not_found(object_id)
        return object_id

    def add_member(self, group: Group, object_id: str) -> None:
        if group.props.get("onPremisesSyncEnabled"):
            raise bad_request(_SYNCED)
        self._member_object(object_id)
        if object_id in group.members:
            raise bad_request("One or more added object references already exist for the "
                              "following modified properties: 'members'.")
        if object_id == group.id:
            raise bad_request("A group cannot be a member of itself.")
        self._add_member(group, object_id)
        self.reconcile((object_id,))

    def remove_member(self, group: Group, object_id: str) -> None:
        if group.props.get("onPremisesSyncEnabled"):
            raise bad_request(_SYNCED)
        if object_id not in group.members:
            raise not_found(object_id)
        self._drop_member(group, object_id)
        self.reconcile((object_id,))

    def _add_member(self, group: Group, object_id: str) -> None:
        group.members[object_id] = None
        self._touch(group)
        group.member_log.append((group.version, object_id, True))

    def _drop_member(self, group: Group, object_id: str) -> None:
        group.members.pop(object_id, None)
        self._touch(group)
        group.member_log.append((group.version, object_id, False))

    def member_changes(self, group: Group, since: int) -> list[tuple[str, bool]]:
        """The net member changes of a group after version `since`: (id, still a member)."""
        net: dict[str, bool] = {}
        for version, member, added in group.member_log:
            if version > since:
                net[member] = added
        return list(net.items())

    # ---- Entra Connect -------------------------------------------------------------------

    def sync_hybrid(self, users: Sequence[Mapping[str, Any]],
                    groups: Sequence[Mapping[str, Any]]) -> None:
        """Upsert synced users and groups as one Entra Connect cycle would.

        Users match on onPremisesImmutableId (hard match), else a cloud-only user with the
        same userPrincipalName is taken over (soft match). Groups match on
        onPremisesSecurityIdentifier (or, failing that, an onPremisesImmutableId key); their
        members are the given user keys (onPremisesImmutableId, else userPrincipalName) and
        replace the group's members. Everything is checked before anything changes.

        Raises:
            ValueError: naming the user or group and what is wrong with it.
        """
        incoming: dict[str, str] = {}  # immutable id -> UPN
        for entry in users:
            key, upn = self._check_sync_user(entry)
            if key in incoming:
                raise ValueError(f"sync: onPremisesImmutableId {key!r} is given twice")
            incoming[key] = upn
        upns = [u.lower() for u in incoming.values()]
        if len(set(upns)) != len(upns):
            raise ValueError("sync: two users share a userPrincipalName")
        for key, upn in incoming.items():
            other = self.users.get(self._by_upn.get(upn.lower(), ""))
            if other is not None and other.props.get("onPremisesSyncEnabled") and \
                    other.props.get("onPremisesImmutableId") != key:
                raise ValueError(f"sync: {upn} already belongs to the synced user "
                                 f"{other.props.get('onPremisesImmutableId')!r}")
        known_members = set(incoming) | {u.lower() for u in incoming.values()}
        for user in self.live_users():
            known_members.add(str(user.props.get("onPremisesImmutableId") or ""))
            known_members.add(str(user.props.get("userPrincipalName", "")).lower())
        for entry in groups:
            self._check_sync_group(entry, known_members)
        for entry in users:
            self._upsert_synced_user(entry)
        for entry in groups:
            self._upsert_synced_group(entry)
        self.reconcile()

    def _check_sync_user(self, entry: Mapping[str, Any]) -> tuple[str, str]:
        key = entry.get("onPremisesImmutableId")
        upn = entry.get("userPrincipalName")
        label = f"sync: user {key or upn or '?'}"
        if not isinstance(key, str) or not key:
            raise ValueError(f"{label}: onPremisesImmutableId is required")
        if not isinstance(upn, str):
            raise ValueError(f"{label}: userPrincipalName is required")
        unknown = set(entry) - _SYNC_USER_KEYS
        if unknown:
            raise ValueError(f"{label}: unknown properties {', '.join(sorted(unknown))}")
        try:
            self._check_props({k: v for k, v in entry.items()
                               if k not in ("onPremisesImmutableId",)},
                              _SYNC_USER_KEYS, "User")
        except GraphError as e:
            raise ValueError(f"{label}: {e.message}") from e
        if upn.rpartition("@")[2].lower() not in self.domains:
            raise ValueError(f"{label}: the domain of {upn} is not one of the tenant's "
                             f"({', '.join(self.domains)})")
        return key, upn

    def _check_sync_group(self, entry: Mapping[str, Any], known: set[str]) -> None:
        key = entry.get("onPremisesSecurityIdentifier") or entry.get("onPremisesImmutableId")
        label = f"sync: group {key or entry.get('displayName') or '?'}"
        if not isinstance(key, str) or not key:
            raise ValueError(f"{label}: onPremisesSecurityIdentifier is required")
        if not isinstance(entry.get("displayName"), str) or not entry["displayName"].strip():
            raise ValueError(f"{label}: displayName is required")
        unknown = set(entry) - _SYNC_GROUP_KEYS
        if unknown:
            raise ValueError(f"{label}: unknown properties {', '.join(sorted(unknown))}")
        members = entry.get("members", [])
        if not isinstance(members, list | tuple):
            raise ValueError(f"{label}: members must be a list of user keys")
        missing = [m for m in members if str(m) not in known and str(m).lower() not in known]
        if missing:
            raise ValueError(f"{label}: unknown members {', '.join(map(str, missing))} "
                             "(give their onPremisesImmutableId or userPrincipalName)")

    def _upsert_synced_user(self, entry: Mapping[str, Any]) -> None:
        key = str(entry["onPremisesImmutableId"])
        upn = str(entry["userPrincipalName"]).lower()
        user = self._synced_user(key)
        if user is None:
            soft = self.users.get(self._by_upn.get(upn, ""))
            if soft is not None and not soft.props.get("onPremisesSyncEnabled"):
                user = soft
        if user is None:
            props: dict[str, Any] = {name: None for name in USER_WRITABLE}
            props.pop("passwordProfile")
            props.update({"accountEnabled": True, "businessPhones": [], "proxyAddresses": [],
                          "mailNickname": upn.partition("@")[0],
                          "displayName": upn.partition("@")[0], "createdDateTime": now_iso()})
            user = User(str(uuid.uuid4()), self._next_seq(), 0, props)
            self.users[user.id] = user
        self._unindex(user)
        before = dict(user.props)
        for name, value in entry.items():
            if name == "mail" and "proxyAddresses" not in entry:
                self._set_mail(user.props, value)
            else:
                user.props[name] = value
        user.props["onPremisesSyncEnabled"] = True
        self._synced[key] = user.id
        self._index(user)
        if user.props != before or user.version == 0:
            self._touch(user)

    def _synced_user(self, key: str) -> User | None:
        user = self.users.get(self._synced.get(key, ""))
        if user is None or user.removed or user.props.get("onPremisesImmutableId") != key:
            return None
        return user

    def _resolve_member(self, key: str) -> str:
        user = self._synced_user(key)
        return user.id if user is not None else self.user(key).id

    def _upsert_synced_group(self, entry: Mapping[str, Any]) -> None:
        key = str(entry.get("onPremisesSecurityIdentifier") or entry["onPremisesImmutableId"])
        group = next((g for g in self.live_groups() if g.sync_key == key), None)
        if group is None:
            props: dict[str, Any] = {name: None for name in GROUP_WRITABLE}
            props.update({"groupTypes": [], "proxyAddresses": [], "mail": None,
                          "createdDateTime": now_iso()})
            group = Group(str(uuid.uuid4()), self._next_seq(), 0, props, sync_key=key)
            self.groups[group.id] = group
        before = dict(group.props)
        nickname = re.sub(r"[^A-Za-z0-9._-]", "", str(entry["displayName"]))[:64] or "group"
        group.props.update({
            "displayName": entry["displayName"], "description": entry.get("description"),
            "mailEnabled": bool(entry.get("mailEnabled", False)), "securityEnabled": True,
            "mailNickname": entry.get("mailNickname") or nickname,
            "mail": entry.get("mail"), "proxyAddresses": list(entry.get("proxyAddresses", [])),
            "onPremisesSyncEnabled": True,
            "onPremisesSecurityIdentifier": entry.get("onPremisesSecurityIdentifier"),
        })
        if group.props != before or group.version == 0:
            self._touch(group)
        wanted = list(dict.fromkeys(self._resolve_member(str(m))
                                    for m in entry.get("members", [])))
        for member in [m for m in group.members if m not in wanted]:
            self._drop_member(group, member)
        for member in wanted:
            if member not in group.members:
                self._add_member(group, member)

    # ---- persistence ---------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The tenant as JSON-ready data (state.json)."""
        return {
            "id": self.id, "domains": self.domains,
            "skus": [s.to_json() for s in self.skus.values()], "seats": self.seats,
            "version": self.version, "seq": self.seq, "delta_epoch": self.delta_epoch,
            "users": [{"id": u.id, "seq": u.seq, "version": u.version, "props": u.props,
                       "direct": u.direct, "removed": u.removed,
                       "by_group": [[g, s, st.state, st.error, st.updated]
                                    for (g, s), st in u.by_group.items()]}
                      for u in self.users.values()],
            "groups": [{"id": g.id, "seq": g.seq, "version": g.version, "props": g.props,
                        "members": list(g.members), "member_log": g.member_log,
                        "licences": g.licences, "sync_key": g.sync_key, "removed": g.removed}
                       for g in self.groups.values()],
        }

    @classmethod
    def restore(cls, data: Mapping[str, Any]) -> Tenant:
        tenant = cls(data["id"], data["domains"], [Sku.from_json(s) for s in data["skus"]])
        tenant.seats.update({k: int(v) for k, v in data["seats"].items()})
        tenant.version, tenant.seq = int(data["version"]), int(data["seq"])
        tenant.delta_epoch = int(data["delta_epoch"])
        for u in data["users"]:
            user = User(u["id"], u["seq"], u["version"], dict(u["props"]),
                        {k: list(v) for k, v in u["direct"].items()},
                        {(g, s): LicenceState(st, e, at) for g, s, st, e, at in u["by_group"]},
                        u["removed"])
            tenant.users[user.id] = user
            if not user.removed:
                tenant._index(user)
                if user.props.get("onPremisesImmutableId"):
                    tenant._synced[str(user.props["onPremisesImmutableId"])] = user.id
                for sku in tenant.held(user):
                    tenant.consumed[sku] += 1
        for g in data["groups"]:
            tenant.groups[g["id"]] = Group(
                g["id"], g["seq"], g["version"], dict(g["props"]), dict.fromkeys(g["members"]),
                [(int(v), str(m), bool(a)) for v, m, a in g["member_log"]], list(g["licences"]),
                g["sync_key"], g["removed"])
        return tenant
