"""Microsoft 365 in memory: a GraphBackend for unit tests of the diff and the run model.

It keeps each tenant's users, groups and seats as Graph's raw JSON and hands them to the same
parsers as the real backend (`ssc_infra.m365.tenant`); `apply` makes the changes as Graph would. The
integration tests do the same against the Graph emulator over HTTPS.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ssc_infra.core.model import Partner
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.m365.counter import GraphCounter
from ssc_infra.m365.diff import Unreadable
from ssc_infra.m365.tenant import TenantState, in_domain, parse_group, parse_sku, parse_user

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"


@dataclass
class Tenant:
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)
    skus: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        E3: {"skuId": E3, "skuPartNumber": "M365_E3", "prepaidUnits": {"enabled": 100},
             "consumedUnits": 0}})

    def consumed(self, sku: str) -> int:
        return sum(1 for u in self.users.values()
                   if any(a["skuId"] == sku for a in u.get("assignedLicenses", [])))

    def seats(self, sku: str, enabled: int) -> None:
        self.skus[sku]["prepaidUnits"]["enabled"] = enabled


@dataclass
class MemoryM365:
    tenants: dict[str, Tenant] = field(default_factory=lambda: {"t1": Tenant()})
    tenant_of: Callable[[str], str] = lambda _code: "t1"
    down: set[str] = field(default_factory=set)  # partners whose tenant cannot be read
    applied: list[Change] = field(default_factory=list)
    passwords: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def tenant(self, code: str) -> Tenant:
        return self.tenants[self.tenant_of(code)]

    def read_sign_ins(self, partner: Partner) -> dict[str, str]:
        return {}  # nobody signs in to a tenant in memory

    def read(self, partners: Sequence[Partner]) -> tuple[dict[str, TenantState],
                                                         list[Unreadable]]:
        found: dict[str, TenantState] = {}
        failed: list[Unreadable] = []
        for partner in partners:
            if partner.code in self.down:
                failed.append(Unreadable(partner.code, "its tenant could not be read: 503"))
                continue
            t = self.tenant(partner.code)
            for sku in t.skus.values():
                sku["consumedUnits"] = t.consumed(sku["skuId"])
            users = tuple(parse_user(u) for u in t.users.values()
                          if in_domain(u["userPrincipalName"], partner.upn_suffix))
            groups = tuple(parse_group(g, t.members.get(gid, set()))
                           for gid, g in t.groups.items()
                           if g["displayName"].startswith(partner.code + "-"))
            found[partner.code] = TenantState(self.tenant_of(partner.code), users, groups,
                                              tuple(parse_sku(s) for s in t.skus.values()))
        return found, failed

    def apply(self, changes: Sequence[Change], on_password: Callable[[Change, str], None],
              on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
        results = []
        order = [ObjectKind.CLOUD_GROUP, ObjectKind.CLOUD_USER, ObjectKind.CLOUD_LICENCE,
                 ObjectKind.CLOUD_MEMBERS]
        for change in sorted(changes, key=lambda c: order.index(c.kind)):
            self._apply(change, on_password)
            self.applied.append(change)
            result = ItemResult(change, True, "")
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def _user(self, t: Tenant, key: str) -> dict[str, Any]:
        partner, _, eid = key.partition("/")
        return next(u for u in t.users.values() if u.get("employeeId") == eid
                    and u.get("_partner") == partner)

    def _apply(self, change: Change, on_password: Callable[[Change, str], None]) -> None:
        t = self.tenant(change.partner)
        after: Mapping[str, Any] = change.after
        if change.kind is ObjectKind.CLOUD_GROUP:
            if change.action is Action.CREATE:
                gid = f"g{next(self._ids)}"
                t.groups[gid] = {"id": gid, "displayName": after["displayName"],
                                 "description": after["description"]}
            else:
                t.groups[change.target]["description"] = after["description"]
        elif change.kind is ObjectKind.CLOUD_USER:
            if change.action is Action.CREATE:
                on_password(change, "pw")
                self.passwords += 1
                uid = f"u{next(self._ids)}"
                t.users[uid] = {"id": uid, "_partner": change.partner, **after,
                                "assignedLicenses": []}
            else:
                user = self._user(t, change.key)
                old = user.get("mail")
                user.update({k: v for k, v in after.items() if k != "keep_address"})
                if "mail" in after and old:
                    user["proxyAddresses"] = [f"SMTP:{after['mail']}", f"smtp:{old}"]
        elif change.kind is ObjectKind.CLOUD_LICENCE:
            user = self._user(t, change.key)
            have = [a for a in user["assignedLicenses"] if a["skuId"] not in after["remove"]]
            user["assignedLicenses"] = have + [{"skuId": s, "disabledPlans": []}
                                               for s in after["add"]]
        else:
            gid = next(g for g, v in t.groups.items() if v["displayName"] == change.key)
            members = t.members.setdefault(gid, set())
            members |= {self._user(t, k)["id"] for k in after["add"]}
            members -= {self._user(t, k)["id"] for k in after["remove"]}

    def traffic(self) -> GraphCounter:
        return GraphCounter(requests=len(self.applied))

    def close(self) -> None:
        pass
