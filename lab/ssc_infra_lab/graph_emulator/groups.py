"""Groups written through Graph: create, update, (soft) delete, and their members."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from ssc_infra_lab.graph_emulator.directory import SYNCED_MESSAGE, invalid_value
from ssc_infra_lab.graph_emulator.licences import Licensing
from ssc_infra_lab.graph_emulator.model import bad_request, not_found, now_iso
from ssc_infra_lab.graph_emulator.records import GROUP_REQUIRED, GROUP_WRITABLE, Group


class Groups(Licensing):
    """The group and member writes of a tenant (see `Tenant`)."""

    def create_group(self, body: Mapping[str, Any]) -> Group:
        self._check_props(body, GROUP_WRITABLE, "Group")
        for name in GROUP_REQUIRED:
            if body.get(name) is None:
                raise invalid_value(name, "Group")
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
            raise bad_request(SYNCED_MESSAGE)
        self._check_props(body, ("description", "displayName", "mailNickname"), "Group")
        group.props.update(body)
        self._touch(group)

    def delete_group(self, group: Group) -> None:
        if group.props.get("onPremisesSyncEnabled"):
            raise bad_request(SYNCED_MESSAGE)
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
            raise bad_request(SYNCED_MESSAGE)
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
            raise bad_request(SYNCED_MESSAGE)
        if object_id not in group.members:
            raise not_found(object_id)
        self._drop_member(group, object_id)
        self.reconcile((object_id,))

    def member_changes(self, group: Group, since: int) -> list[tuple[str, bool]]:
        """The net member changes of a group after version `since`: (id, still a member)."""
        net: dict[str, bool] = {}
        for version, member, added in group.member_log:
            if version > since:
                net[member] = added
        return list(net.items())
