"""The state of one tenant's directory and what every kind of change to it shares.

`Directory` holds the users, groups and subscriptions with the indexes by userPrincipalName,
SMTP address and onPremisesImmutableId; it answers lookups, renders objects as Graph returns
them, keeps the change log (every change bumps the tenant's version and stamps the object;
a member change is logged on its group), and checks written properties as Graph does. The
writes themselves are the subclasses' (`licences`, `users`, `groups`, `entra_connect`), put
together as `tenant.Tenant`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ssc_infra_lab.graph_emulator.model import GraphError, Sku, bad_request, not_found
from ssc_infra_lab.graph_emulator.records import (
    GROUP_DEFAULT,
    GROUP_PROPERTIES,
    USER_DEFAULT,
    USER_PROPERTIES,
    Group,
    User,
)

_BOOLEAN = frozenset({"accountEnabled", "mailEnabled", "securityEnabled"})
_LISTS = frozenset({"businessPhones", "proxyAddresses", "groupTypes"})
_NOT_NULL = frozenset({"accountEnabled", "displayName", "mailNickname", "userPrincipalName",
                       "mailEnabled", "securityEnabled"})
_NICKNAME = re.compile(r"[^\s@()\\\[\]\";:<>,]{1,64}")
_USAGE_LOCATION = re.compile(r"[A-Z]{2}")
# Graph's 400 message for a write to what AD masters on a synced (Entra Connect) object.
SYNCED_MESSAGE = ("Unable to update the specified properties for on-premises mastered "
                  "Directory Sync objects or objects currently undergoing migration.")


def invalid_value(name: str, resource: str) -> GraphError:
    """Graph's 400 for a value property `name` of a `resource` (User, Group) cannot take."""
    return bad_request(f"Invalid value specified for property '{name}' of resource "
                       f"'{resource}'.")


def _password_ok(password: str) -> bool:
    kinds = sum(any(test(c) for c in password)
                for test in (str.islower, str.isupper, str.isdigit,
                             lambda c: not c.isalnum()))
    return len(password) >= 8 and kinds >= 3


def _smtp(address: str) -> str:
    return address.split(":", 1)[1].lower() if ":" in address else address.lower()


class Directory:
    """The directory of one tenant, as the writes of `Tenant` share it.

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
        # Graph gives signInActivity only when it is selected (and the app may read audit logs)
        signed_in = user.props.get("_lastSignIn")
        full = {**user.props, "id": user.id, "assignedLicenses": assigned,
                "licenseAssignmentStates": states, "passwordProfile": None,
                "signInActivity": {"lastSignInDateTime": signed_in,
                                   "lastNonInteractiveSignInDateTime": None}}
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

    def _add_member(self, group: Group, object_id: str) -> None:
        group.members[object_id] = None
        self._touch(group)
        group.member_log.append((group.version, object_id, True))

    def _drop_member(self, group: Group, object_id: str) -> None:
        group.members.pop(object_id, None)
        self._touch(group)
        group.member_log.append((group.version, object_id, False))

    def purge(self, object_id: str) -> None:
        """Delete a soft-deleted object for good (DELETE /directory/deletedItems/{id})."""
        item: User | Group | None = self.users.get(object_id) or self.groups.get(object_id)
        if item is None or item.removed != "changed":
            raise not_found(object_id)
        item.removed = "deleted"
        self._touch(item)

    # ---- property checks -----------------------------------------------------------------

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
                    raise invalid_value(name, resource)
                continue
            if name in _BOOLEAN and not isinstance(value, bool):
                raise GraphError(400, "BadRequest", f"Cannot convert the literal '{value}' to "
                                 "the expected type 'Edm.Boolean'.")
            if name in _LISTS and not (isinstance(value, list)
                                       and all(isinstance(v, str) for v in value)):
                raise invalid_value(name, resource)
            if name == "passwordProfile":
                self._check_password(value)
            elif name not in _BOOLEAN and name not in _LISTS and not isinstance(value, str):
                raise invalid_value(name, resource)
        if isinstance(body.get("mailNickname"), str) and \
                not _NICKNAME.fullmatch(body["mailNickname"]):
            raise invalid_value("mailNickname", resource)
        location = body.get("usageLocation")
        if isinstance(location, str) and not _USAGE_LOCATION.fullmatch(location):
            raise invalid_value("usageLocation", resource)
        if isinstance(body.get("displayName"), str) and not body["displayName"].strip():
            raise invalid_value("displayName", resource)

    @staticmethod
    def _check_password(value: Any) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("password"), str):
            raise invalid_value("passwordProfile", "User")
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
