"""Users written through Graph: create, update and (soft) delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ssc_infra_lab.graph_emulator.directory import SYNCED_MESSAGE, invalid_value
from ssc_infra_lab.graph_emulator.licences import Licensing, drop_states
from ssc_infra_lab.graph_emulator.model import bad_request, now_iso
from ssc_infra_lab.graph_emulator.records import (
    SYNCED_USER_WRITABLE,
    USER_REQUIRED,
    USER_WRITABLE,
    User,
)


class Users(Licensing):
    """The user writes of a tenant (see `Tenant`)."""

    def create_user(self, body: Mapping[str, Any]) -> User:
        self._check_props(body, USER_WRITABLE, "User")
        for name in USER_REQUIRED:
            if body.get(name) is None:
                raise invalid_value(name, "User")
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
            raise bad_request(SYNCED_MESSAGE)
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
            raise bad_request(SYNCED_MESSAGE)
        for group in self.live_groups():
            if user.id in group.members:
                self._drop_member(group, user.id)
        self._change_licences(user, drop_states(user, list(user.by_group)))
        self._change_licences(user, user.direct.clear)
        self._unindex(user)
        user.removed = "changed"
        self._touch(user)
        self.reconcile(())
