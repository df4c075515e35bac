"""One emulated tenant's directory: users, groups, licences and the change log behind delta.

Pure state, no I/O: the HTTP side (`api`, `routing`) calls these methods under one lock. Write
methods raise `GraphError` with Graph's status, code and message; the methods that stand in for
Entra Connect and the admin portal (`sync_hybrid`, `set_group_licences`, `set_seats`) raise
`ValueError` naming the bad input.

Every change bumps the tenant's version and stamps the object with it; delta rounds compare
against that stamp. Deleted objects stay as tombstones (reason "changed" while soft-deleted,
"deleted" once purged), so a delta round can report them.

`Tenant` is put together from one module per concept: `records` (the objects and Graph's
property tables), `directory` (the state, lookups, rendering, change log and property checks),
`licences`, `users`, `groups` and `entra_connect` (the writes); this module adds its
persistence in state.json.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ssc_infra_lab.graph_emulator.entra_connect import EntraConnect
from ssc_infra_lab.graph_emulator.groups import Groups
from ssc_infra_lab.graph_emulator.model import Sku
from ssc_infra_lab.graph_emulator.records import Group, LicenceState, User
from ssc_infra_lab.graph_emulator.users import Users


class Tenant(Users, Groups, EntraConnect):
    """The directory of one tenant: its users, groups and licences, written through Graph and
    by Entra Connect, kept in state.json.

    Args:
        tenant_id: the tenant's id (a GUID in Entra; any string here).
        domains: its verified domains; the first is the default domain.
        skus: its licence subscriptions.
    """

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
