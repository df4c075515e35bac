"""Entra Connect: one sync cycle upserting the synced users and groups of an AD forest."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ssc_infra_lab.graph_emulator.licences import Licensing
from ssc_infra_lab.graph_emulator.model import GraphError, now_iso
from ssc_infra_lab.graph_emulator.records import GROUP_WRITABLE, USER_WRITABLE, Group, User

_SYNC_USER_KEYS = frozenset(USER_WRITABLE) - {"passwordProfile"} | {
    "onPremisesImmutableId", "proxyAddresses"}
_SYNC_GROUP_KEYS = frozenset({"onPremisesSecurityIdentifier", "onPremisesImmutableId",
                              "displayName", "description", "mailEnabled", "mailNickname",
                              "members", "proxyAddresses", "mail"})


class EntraConnect(Licensing):
    """The Entra Connect cycle of a tenant (see `Tenant`)."""

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
