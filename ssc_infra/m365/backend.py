"""Microsoft 365 through Microsoft Graph: read each partner's part of its tenant, apply changes.

Reads: the users by delta query (`/users/delta`), kept per partner in the state directory with
the delta link (0600), so a run reads only what changed since the last one; a full read when
there is no link, when it expired (`syncStateNotFound`) or when it is older than seven days.
The partner's groups (named `<partner>-...`) and their members, and `subscribedSkus`, are read
whole: they are few. Raw objects go to the pure parsers of `ssc_infra.m365.tenant`.

Writes go in `$batch`es of at most 20 (`Graph.batch`), each sub-response checked on its own, in
dependency order: groups, users, licences, members. Every write is idempotent, because a
dropped connection leaves its outcome unknown and the client sends it again: a user that
"already exists" is read back and is done when its employeeId is the person's; a member that is
already there is done; PATCH and assignLicense are idempotent. A new user's initial password is
written to the 0600 credentials file before the request that sets it (write-ahead).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import SscError
from ssc_infra.core.model import Partner
from ssc_infra.core.plan import Action, Change, ItemResult, ObjectKind
from ssc_infra.core.secrets import new_password
from ssc_infra.m365.batch import OUTCOME_UNKNOWN, BatchItem, BatchResult
from ssc_infra.m365.counter import GraphCounter
from ssc_infra.m365.delta import DeltaLinks
from ssc_infra.m365.diff import Unreadable
from ssc_infra.m365.errors import GraphError
from ssc_infra.m365.graph import Graph
from ssc_infra.m365.settings import GraphSettings
from ssc_infra.m365.tenant import (
    GROUP_SELECT,
    USER_SELECT,
    CloudUser,
    TenantState,
    in_domain,
    parse_group,
    parse_sku,
    parse_user,
)
from ssc_infra.state.folder import private_dir, write_private

PasswordSink = Callable[[Change, str], None]
_APPLY_ORDER = (ObjectKind.CLOUD_GROUP, ObjectKind.CLOUD_USER, ObjectKind.CLOUD_LICENCE,
                ObjectKind.CLOUD_MEMBERS)


@dataclass
class M365:
    """Every partner's tenant of one target: Graph clients per tenant, the last read."""

    settings: Mapping[str, GraphSettings]  # tenant id -> settings
    tenant_of: Callable[[str], str]  # partner code -> tenant id
    state_dir: Path
    clients: dict[str, Graph] = field(default_factory=dict)
    read_state: dict[str, TenantState] = field(default_factory=dict)  # partner -> last read
    graph_factory: Callable[[GraphSettings], Graph] = Graph

    def client(self, tenant: str) -> Graph:
        if tenant not in self.clients:
            self.clients[tenant] = self.graph_factory(self.settings[tenant])
        return self.clients[tenant]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()

    # -- reads ----------------------------------------------------------------------------

    def read(self, partners: Sequence[Partner], now: datetime | None = None,
             ) -> tuple[dict[str, TenantState], list[Unreadable]]:
        """Each partner's part of its tenant; a partner whose tenant fails is `Unreadable`."""
        found: dict[str, TenantState] = {}
        failed: list[Unreadable] = []
        for partner in partners:
            try:
                found[partner.code] = self._read_partner(partner, now or datetime.now(UTC))
            except (GraphError, SscError) as e:
                failed.append(Unreadable(partner.code, f"its Microsoft 365 tenant could not be "
                                         f"read: {e}"))
        self.read_state.update(found)
        return found, failed

    def read_sign_ins(self, partner: Partner) -> dict[str, str]:
        """The day each of the partner's users last signed in ("YYYY-MM-DD"), by user id;
        a user who never did is left out. `signInActivity` comes only with `$select` (and
        needs AuditLog.Read.All): the delta query cannot give it, so it is its own paged read.

        Raises:
            GraphError: the tenant cannot be read.
        """
        graph = self.client(self.tenant_of(partner.code))
        found: dict[str, str] = {}
        for user in graph.pages("/users", {"$select": "id,userPrincipalName,signInActivity",
                                           "$top": 999}):
            if not in_domain(str(user.get("userPrincipalName") or ""), partner.upn_suffix):
                continue
            activity = user.get("signInActivity")
            when = activity.get("lastSignInDateTime") if isinstance(activity, dict) else None
            if isinstance(when, str) and len(when) >= 10:
                found[str(user.get("id", ""))] = when[:10]
        return found

    def _read_partner(self, partner: Partner, now: datetime) -> TenantState:
        tenant = self.tenant_of(partner.code)
        graph = self.client(tenant)
        links = DeltaLinks(self.state_dir)
        # A delta link belongs to the tenant that issued it: a partner moved to a tenant of
        # its own (one onboarded before the lab or the target gave it one) is read whole.
        resource = f"users@{tenant}"
        saved = links.get(partner.code, resource)
        cache = self._cache(partner.code)
        users: dict[str, dict[str, Any]] = cache if saved else {}
        delta = graph.delta("users", saved[0] if saved else None, USER_SELECT,
                            saved_at=saved[1] if saved else None, now=now)
        if delta.full:
            users = {}
        for item in delta.items:
            uid = str(item.get("id", ""))
            if "@removed" in item:
                users.pop(uid, None)
            elif uid:
                users[uid] = {**users.get(uid, {}), **item}
        mine = {uid: u for uid, u in users.items()
                if in_domain(str(u.get("userPrincipalName") or ""), partner.upn_suffix)}
        self._save_cache(partner.code, mine)
        links.put(partner.code, resource, delta.delta_link, now)
        prefix = partner.code.replace("'", "''")
        groups = graph.pages("/groups", {"$filter": f"startswith(displayName,'{prefix}-')",
                                         "$select": ",".join(GROUP_SELECT)})
        parsed = tuple(
            parse_group(g, (str(m.get("id", "")) for m in graph.pages(
                f"/groups/{g['id']}/members", {"$select": "id"})))
            for g in groups if str(g.get("displayName", "")).lower().startswith(
                partner.code.lower() + "-"))
        skus = tuple(parse_sku(s) for s in graph.pages("/subscribedSkus"))
        return TenantState(tenant, tuple(parse_user(u) for u in mine.values()), parsed, skus,
                           full_read=delta.full)

    def _cache_path(self, partner: str) -> Path:
        return private_dir(self.state_dir / "graph") / f"{partner}.users.json"

    def _cache(self, partner: str) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._cache_path(partner).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save_cache(self, partner: str, users: Mapping[str, Any]) -> None:
        write_private(self._cache_path(partner), json.dumps(users, ensure_ascii=False))

    def forget(self, partner: str) -> None:
        """Drop the partner's delta link: the next read is a full one."""
        DeltaLinks(self.state_dir).forget(partner)

    # -- writes ---------------------------------------------------------------------------

    def traffic(self) -> GraphCounter:
        """What every tenant's client has sent and waited for in this run, reads and writes."""
        total = GraphCounter()
        for client in self.clients.values():
            total = total + client.count
        return total

    def apply(self, changes: Sequence[Change], on_password: PasswordSink,
              on_result: Callable[[ItemResult], None] | None = None) -> list[ItemResult]:
        """Apply the changes, per partner and in dependency order; one result per change."""
        results: list[ItemResult] = []

        def done(result: ItemResult) -> None:
            results.append(result)
            if on_result is not None:
                on_result(result)

        by_partner: dict[str, list[Change]] = {}
        for change in changes:
            by_partner.setdefault(change.partner, []).append(change)
        for code, mine in sorted(by_partner.items()):
            _Apply(self, code, on_password, done).run(mine)
        return results


@dataclass
class _Apply:
    """One partner's changes, phase by phase."""

    m365: M365
    partner: str
    on_password: PasswordSink
    done: Callable[[ItemResult], None]
    user_ids: dict[str, str] = field(default_factory=dict)  # "partner/eid" -> user id
    group_ids: dict[str, str] = field(default_factory=dict)  # lower displayName -> group id

    def run(self, changes: list[Change]) -> None:
        state = self.m365.read_state.get(self.partner)
        tenant = self.m365.tenant_of(self.partner)
        self.graph = self.m365.client(tenant)
        self.base = self.graph.settings.graph_url.rstrip("/")
        if state is not None:
            self.user_ids = {f"{self.partner}/{u.employee_id}": u.id for u in state.users
                             if u.employee_id}
            self.group_ids = {g.name.lower(): g.id for g in state.groups}
        for kind in _APPLY_ORDER:
            phase = [c for c in changes if c.kind is kind]
            if phase:
                self._phase(kind, phase)

    def _phase(self, kind: ObjectKind, changes: list[Change]) -> None:
        items: list[BatchItem] = []
        owner: dict[str, Change] = {}
        for n, change in enumerate(changes):
            try:
                made = self._items(change, n)
            except KeyError as e:
                self.done(ItemResult(change, False, f"cannot apply: {e.args[0]}"))
                continue
            if not made:
                self.done(ItemResult(change, True, "nothing to send"))
                continue
            for item in made:
                owner[item.id] = change
            items += made
        if not items:
            return
        finished: dict[str, BatchResult] = {}
        try:
            self.graph.batch(items, lambda r: finished.__setitem__(r.id, r))
        except GraphError as e:
            # Throttled for longer than the client waits: what was answered counts, the rest
            # was not applied (a rerun sends it again).
            for item in items:
                finished.setdefault(item.id, BatchResult(item.id, 0, {"error": {
                    "code": "NotApplied", "message": str(e)}}))
        by_change: dict[int, list[tuple[BatchItem, BatchResult]]] = {}
        for item in items:
            by_change.setdefault(id(owner[item.id]), []).append((item, finished[item.id]))
        for change in _unique(owner.values()):
            self.done(self._result(change, by_change.get(id(change), [])))

    def _items(self, change: Change, n: int) -> list[BatchItem]:
        after = change.after
        if change.kind is ObjectKind.CLOUD_GROUP:
            if change.action is Action.CREATE:
                # Group names are not unique in Entra ID: a create is never sent twice.
                return [BatchItem(f"{n}", "POST", "/groups", {
                    "displayName": after["displayName"], "description": after["description"],
                    "mailNickname": _nickname(str(after["displayName"])),
                    "securityEnabled": True, "mailEnabled": False}, repeatable=False)]
            return [BatchItem(f"{n}", "PATCH", f"/groups/{change.target}",
                              {"description": after["description"]})]
        if change.kind is ObjectKind.CLOUD_USER:
            if change.action is Action.CREATE:
                password = new_password()
                self.on_password(change, password)  # written and synced before it is sent
                return [BatchItem(f"{n}", "POST", "/users", {
                    **after, "passwordProfile": {"password": password,
                                                 "forceChangePasswordNextSignIn": True}})]
            body = {k: v for k, v in after.items() if k != "keep_address"}
            return [BatchItem(f"{n}", "PATCH", f"/users/{self._user(change.key, change.target)}",
                              body)]
        if change.kind is ObjectKind.CLOUD_LICENCE:
            return [BatchItem(f"{n}", "POST",
                              f"/users/{self._user(change.key, change.target)}/assignLicense",
                              {"addLicenses": [{"skuId": s, "disabledPlans": []}
                                               for s in after.get("add", [])],
                               "removeLicenses": list(after.get("remove", []))})]
        group = self.group_ids.get(str(change.key).lower())
        if group is None:
            raise KeyError(f"the group {change.key} does not exist in the tenant (its creation "
                           "failed?)")
        items = [BatchItem(f"{n}.+{i}", "POST", f"/groups/{group}/members/$ref",
                           {"@odata.id": f"{self.base}/v1.0/directoryObjects/"
                                         f"{self._id(member)}"})
                 for i, member in enumerate(after.get("add", [])) if self._id(member)]
        items += [BatchItem(f"{n}.-{i}", "DELETE",
                            f"/groups/{group}/members/{self._id(member)}/$ref")
                  for i, member in enumerate(after.get("remove", [])) if self._id(member)]
        return items

    def _id(self, key: str) -> str:
        return self.user_ids.get(key, "")

    def _user(self, key: str, upn: str) -> str:
        return self.user_ids.get(key) or upn

    def _result(self, change: Change, answers: list[tuple[BatchItem, BatchResult]]) -> ItemResult:
        problems: list[str] = []
        for item, answer in answers:
            if answer.ok:
                self._remember(change, answer.body)
                continue
            if self._already_done(change, item, answer):
                continue
            problems.append(f"{item.method} {item.url}: {answer.error()}")
        if not answers:
            problems.append("no answer from Graph")
        if problems:
            return ItemResult(change, False, "; ".join(problems[:3]) +
                              (f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""))
        return ItemResult(change, True, _message(change))

    def _remember(self, change: Change, body: Any) -> None:
        if not isinstance(body, Mapping) or not body.get("id"):
            return
        if change.kind is ObjectKind.CLOUD_USER and change.action is Action.CREATE:
            self.user_ids[change.key] = str(body["id"])
        elif change.kind is ObjectKind.CLOUD_GROUP and change.action is Action.CREATE:
            self.group_ids[str(change.key).lower()] = str(body["id"])

    def _already_done(self, change: Change, item: BatchItem, answer: BatchResult) -> bool:
        """A write whose effect is there already (sent again after a lost answer)."""
        text = answer.error().lower()
        if change.kind is ObjectKind.CLOUD_MEMBERS:
            return (item.method == "POST" and answer.status == 400 and "already exist" in text) \
                or (item.method == "DELETE" and answer.status == 404)
        if change.action is Action.CREATE and answer.status == 400 and "already exist" in text:
            return self._read_back(change)
        if change.action is Action.CREATE and OUTCOME_UNKNOWN.lower() in text:
            return self._read_back(change)  # the answer was lost: did it happen?
        return False

    def _read_back(self, change: Change) -> bool:
        try:
            if change.kind is ObjectKind.CLOUD_USER:
                found = self.graph.get(f"/users/{change.target}",
                                       {"$select": ",".join(USER_SELECT)})
                user: CloudUser = parse_user(found)
                if user.employee_id != change.after.get("employeeId"):
                    return False
                self.user_ids[change.key] = user.id
                return True
            name = str(change.after["displayName"]).replace("'", "''")
            groups = self.graph.pages("/groups", {"$filter": f"displayName eq '{name}'"})
            if len(groups) != 1:
                return False
            self.group_ids[str(change.key).lower()] = str(groups[0]["id"])
            return True
        except GraphError:
            return False


def _unique(changes: Iterable[Change]) -> list[Change]:
    """Each change once, in order (a change of many members owns many batch items)."""
    seen: set[int] = set()
    unique: list[Change] = []
    for change in changes:
        if id(change) not in seen:
            seen.add(id(change))
            unique.append(change)
    return unique


def _nickname(name: str) -> str:
    """A mailNickname: ASCII letters, digits and - . _ only, at most 64."""
    return "".join(c for c in name if c.isascii() and (c.isalnum() or c in "-._"))[:64] or "g"


def _message(change: Change) -> str:
    after = change.after
    if change.kind is ObjectKind.CLOUD_LICENCE:
        return f"+{','.join(after.get('add_names', []))} -{','.join(after.get('remove_names', []))}"
    if change.kind is ObjectKind.CLOUD_MEMBERS:
        return f"+{len(after.get('add', []))} -{len(after.get('remove', []))}"
    return change.action.value
