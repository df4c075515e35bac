"""Graph v1.0's directory routes over one emulated tenant: users, groups, members, licences,
delta. Throttling, faults, tokens and $batch are the server's; this module only answers one
(sub-)request against the tenant's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlencode

from ssc_infra_lab.emulator_server import Reply
from ssc_infra_lab.graph_emulator.model import GraphError, bad_request
from ssc_infra_lab.graph_emulator.odata import (
    decode_token,
    encode_token,
    parse_filter,
    parse_select,
    parse_top,
)
from ssc_infra_lab.graph_emulator.records import (
    GROUP_FILTERABLE,
    GROUP_PROPERTIES,
    USER_FILTERABLE,
    USER_PROPERTIES,
    Group,
    User,
)
from ssc_infra_lab.graph_emulator.tenant import Tenant

T = TypeVar("T")
_LIST_OPTIONS = frozenset({"$select", "$filter", "$top", "$skiptoken"})
_GET_OPTIONS = frozenset({"$select"})
_DELTA_OPTIONS = frozenset({"$select", "$skiptoken", "$deltatoken"})
_MEMBER_OPTIONS = frozenset({"$select", "$top", "$skiptoken"})


def unknown_segment(segment: str) -> GraphError:
    return GraphError(404, "ResourceNotFound", f"Resource not found for the segment '{segment}'.")


def _method(method: str, *allowed: str) -> None:
    if method not in allowed:
        raise GraphError(405, "Request_BadRequest",
                         "Specified HTTP method is not allowed for the request target.")


def _options(query: Mapping[str, str], allowed: frozenset[str]) -> None:
    for name in query:
        if name.startswith("$") and name not in allowed:
            raise GraphError(400, "BadRequest", f"The emulator does not support the query "
                             f"option '{name}' on this request (it knows: "
                             f"{', '.join(sorted(allowed))}).")


def _object(body: Any) -> Mapping[str, Any]:
    if body is None:
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    if not isinstance(body, dict):
        raise GraphError(400, "BadRequest", "Unable to read JSON request payload. Please ensure "
                         "Content-Type header is set and payload is of valid JSON format.")
    return body


def _typed(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"@odata.type": f"#microsoft.graph.{kind}", **data}


class GraphApi:
    """The routes under /v1.0, answering for one tenant at a time.

    Args:
        base_url: the emulator's Graph base, e.g. "https://127.0.0.1:8443" (for links).
        page_size: the page size of lists and delta rounds without $top.
    """

    def __init__(self, base_url: str, page_size: int) -> None:
        self.base = base_url
        self.page_size = page_size

    def handle(self, tenant: Tenant, method: str, path: str, query: Mapping[str, str],
               body: Any) -> Reply:
        """Answer one request, `path` relative to /v1.0 (e.g. "/users/x").

        Raises:
            GraphError: every error answer, in Graph's terms.
        """
        parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
        if not parts:
            raise unknown_segment("v1.0")
        head, rest = parts[0].lower(), parts[1:]
        if head == "users":
            return self._users(tenant, method, rest, query, body)
        if head == "groups":
            return self._groups(tenant, method, rest, query, body)
        if head == "subscribedskus" and not rest:
            _method(method, "GET")
            _options(query, frozenset())
            return Reply(200, {"@odata.context": self._context("subscribedSkus"),
                               "value": tenant.subscribed_skus()})
        if head == "domains" and not rest:
            _method(method, "GET")
            return Reply(200, {"@odata.context": self._context("domains"), "value": [
                {"id": d, "authenticationType": "Managed", "isDefault": i == 0,
                 "isInitial": d.endswith(".onmicrosoft.com"), "isVerified": True}
                for i, d in enumerate(tenant.domains)]})
        if head == "organization" and not rest:
            _method(method, "GET")
            return Reply(200, {"@odata.context": self._context("organization"), "value": [
                {"id": tenant.id, "displayName": f"{tenant.id} (Graph emulator)",
                 "verifiedDomains": [{"name": d, "isDefault": i == 0, "type": "Managed",
                                      "isInitial": d.endswith(".onmicrosoft.com")}
                                     for i, d in enumerate(tenant.domains)]}]})
        if head == "directory" and len(rest) == 2 and rest[0].lower() == "deleteditems":
            _method(method, "DELETE")
            tenant.purge(rest[1])
            return Reply(204)
        raise unknown_segment(parts[-1])

    # ---- users ---------------------------------------------------------------------------

    def _users(self, tenant: Tenant, method: str, rest: list[str], query: Mapping[str, str],
               body: Any) -> Reply:
        if not rest:
            _method(method, "GET", "POST")
            if method == "POST":
                user = tenant.create_user(_object(body))
                return Reply(201, {"@odata.context": self._context("users/$entity"),
                                   **tenant.render_user(user, None)})
            _options(query, _LIST_OPTIONS)
            select = parse_select(query.get("$select"), USER_PROPERTIES, "user")
            match = self._filter(query, USER_FILTERABLE, "User")
            rows = [(u.seq, u) for u in tenant.live_users()
                    if match({**u.props, "id": u.id})]
            return self._page(rows, query, "users", self._context("users", select),
                              lambda u: tenant.render_user(u, select))
        if rest[0].lower() in ("delta", "delta()") and len(rest) == 1:
            _method(method, "GET")
            return self._delta(tenant, "users", query)
        user = tenant.user(rest[0])
        if len(rest) == 1:
            _method(method, "GET", "PATCH", "DELETE")
            if method == "GET":
                _options(query, _GET_OPTIONS)
                select = parse_select(query.get("$select"), USER_PROPERTIES, "user")
                return Reply(200, {"@odata.context": self._context("users/$entity", select),
                                   **tenant.render_user(user, select)})
            if method == "PATCH":
                tenant.update_user(user, _object(body))
            else:
                tenant.delete_user(user)
            return Reply(204)
        action = rest[1].lower()
        if action == "assignlicense" and len(rest) == 2:
            _method(method, "POST")
            tenant.assign_licence(user, _object(body))
            return Reply(200, {"@odata.context": self._context("users/$entity"),
                               **tenant.render_user(user, None)})
        if action == "memberof" and len(rest) == 2:
            _method(method, "GET")
            _options(query, _MEMBER_OPTIONS)
            select = parse_select(query.get("$select"), GROUP_PROPERTIES, "group")
            groups = [(g.seq, g) for g in tenant.live_groups() if user.id in g.members]
            return self._page(groups, query, f"users/{quote(user.id)}/memberOf",
                              self._context("directoryObjects"),
                              lambda g: _typed("group", tenant.render_group(g, select)))
        raise unknown_segment(rest[1])

    # ---- groups --------------------------------------------------------------------------

    def _groups(self, tenant: Tenant, method: str, rest: list[str], query: Mapping[str, str],
                body: Any) -> Reply:
        if not rest:
            _method(method, "GET", "POST")
            if method == "POST":
                group = tenant.create_group(_object(body))
                return Reply(201, {"@odata.context": self._context("groups/$entity"),
                                   **tenant.render_group(group, None)})
            _options(query, _LIST_OPTIONS)
            select = parse_select(query.get("$select"), GROUP_PROPERTIES, "group")
            match = self._filter(query, GROUP_FILTERABLE, "Group")
            rows = [(g.seq, g) for g in tenant.live_groups() if match({**g.props, "id": g.id})]
            return self._page(rows, query, "groups", self._context("groups", select),
                              lambda g: tenant.render_group(g, select))
        if rest[0].lower() in ("delta", "delta()") and len(rest) == 1:
            _method(method, "GET")
            return self._delta(tenant, "groups", query)
        group = tenant.group(rest[0])
        if len(rest) == 1:
            _method(method, "GET", "PATCH", "DELETE")
            if method == "GET":
                _options(query, _GET_OPTIONS)
                select = parse_select(query.get("$select"), GROUP_PROPERTIES, "group")
                return Reply(200, {"@odata.context": self._context("groups/$entity", select),
                                   **tenant.render_group(group, select)})
            if method == "PATCH":
                tenant.update_group(group, _object(body))
            else:
                tenant.delete_group(group)
            return Reply(204)
        action = rest[1].lower()
        if action == "assignlicense" and len(rest) == 2:
            _method(method, "POST")
            tenant.assign_group_licence(group, _object(body))
            return Reply(202, {"@odata.context": self._context("groups/$entity"),
                               **tenant.render_group(group, None)})
        if action != "members":
            raise unknown_segment(rest[1])
        if len(rest) == 2:
            _method(method, "GET")
            _options(query, _MEMBER_OPTIONS)
            return self._members(tenant, group, query)
        if len(rest) == 3 and rest[2] == "$ref":
            _method(method, "POST")
            member = self._reference(_object(body))
            tenant.add_member(group, member)
            return Reply(204)
        if len(rest) == 4 and rest[3] == "$ref":
            _method(method, "DELETE")
            tenant.remove_member(group, rest[2])
            return Reply(204)
        raise unknown_segment(rest[-1])

    def _members(self, tenant: Tenant, group: Group, query: Mapping[str, str]) -> Reply:
        select = parse_select(query.get("$select"), sorted({*USER_PROPERTIES,
                                                            *GROUP_PROPERTIES}),
                              "directoryObject")
        user_select = None if select is None else \
            [p for p in select if p in USER_PROPERTIES] or ["id"]
        group_select = None if select is None else \
            [p for p in select if p in GROUP_PROPERTIES] or ["id"]

        def render(object_id: str) -> dict[str, Any]:
            if object_id in tenant.groups:
                return _typed("group", tenant.render_group(tenant.groups[object_id],
                                                           group_select))
            return _typed("user", tenant.render_user(tenant.users[object_id], user_select))

        rows = list(enumerate(group.members))
        return self._page(rows, query, f"groups/{quote(group.id)}/members",
                          self._context("directoryObjects"), render)

    @staticmethod
    def _reference(body: Mapping[str, Any]) -> str:
        value = body.get("@odata.id")
        if not isinstance(value, str) or "/" not in value.rstrip("/"):
            raise bad_request(f"Invalid object identifier '{value or ''}'.")
        segments = value.rstrip("/").split("/")
        if segments[-2].lower() not in ("directoryobjects", "users", "groups"):
            raise bad_request(f"Invalid object identifier '{value}'.")
        return unquote(segments[-1])

    # ---- lists and delta -----------------------------------------------------------------

    @staticmethod
    def _filter(query: Mapping[str, str], properties: Sequence[str],
                resource: str) -> Callable[[Mapping[str, Any]], bool]:
        text = query.get("$filter")
        if text is None:
            return lambda item: True
        return parse_filter(text, properties, resource)

    def _context(self, what: str, select: Sequence[str] | None = None) -> str:
        suffix = f"({','.join(select)})" if select else ""
        if select and what.endswith("/$entity"):
            return f"{self.base}/v1.0/$metadata#{what[:-8]}{suffix}/$entity"
        return f"{self.base}/v1.0/$metadata#{what}{suffix}"

    def _link(self, path: str, params: Mapping[str, str]) -> str:
        return f"{self.base}/v1.0/{path}?" + urlencode(params, safe="$,'()/:@", quote_via=quote)

    def _page(self, rows: list[tuple[int, T]], query: Mapping[str, str], path: str,
              context: str, render: Callable[[T], dict[str, Any]]) -> Reply:
        top = parse_top(query.get("$top"), self.page_size)
        after = -1
        if "$skiptoken" in query:
            after = int(decode_token(query["$skiptoken"], "$skiptoken").get("a", -1))
        rest = [row for row in rows if row[0] > after]
        page = rest[:top]
        body: dict[str, Any] = {"@odata.context": context,
                                "value": [render(item) for _, item in page]}
        if len(rest) > top:
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = encode_token({"a": page[-1][0]})
            body["@odata.nextLink"] = self._link(path, params)
        return Reply(200, body)

    def _delta_state(self, tenant: Tenant, kind: str, token: str, what: str) -> dict[str, Any]:
        state = decode_token(token, what)
        if state.get("t") != tenant.id or state.get("k") != kind:
            raise GraphError(400, "BadRequest", f"The {what} was issued for another tenant or "
                             "resource.")
        if state.get("e") != tenant.delta_epoch:
            raise GraphError(410, "syncStateNotFound",
                             f"The sync state generation is not found; generation="
                             f"{state.get('e')};[highest={tenant.delta_epoch}]. Start a new "
                             "delta round without a token.")
        return state

    def _delta(self, tenant: Tenant, kind: str, query: Mapping[str, str]) -> Reply:
        _options(query, _DELTA_OPTIONS)
        since: int | None = None
        after, round_version = -1, tenant.version
        if "$deltatoken" in query:
            state = self._delta_state(tenant, kind, query["$deltatoken"], "$deltatoken")
            since, select = int(state["v"]), state["s"]
        elif "$skiptoken" in query:
            state = self._delta_state(tenant, kind, query["$skiptoken"], "$skiptoken")
            since, select = state["since"], state["s"]
            after, round_version = int(state["a"]), int(state["r"])
        else:
            known = USER_PROPERTIES if kind == "users" else (*GROUP_PROPERTIES, "members")
            select = parse_select(query.get("$select"), known, kind[:-1])
        objects: list[User] | list[Group] = \
            list(tenant.users.values()) if kind == "users" else list(tenant.groups.values())
        rows = [o for o in objects if o.seq > after and
                (not o.removed if since is None else o.version > since)]
        page = rows[:self.page_size]
        body: dict[str, Any] = {
            "@odata.context": self._context(kind, select),
            "value": [self._delta_item(tenant, o, select, since) for o in page]}
        common = {"t": tenant.id, "k": kind, "e": tenant.delta_epoch, "s": select}
        if len(rows) > len(page):
            token = encode_token({**common, "since": since, "a": page[-1].seq,
                                  "r": round_version})
            body["@odata.nextLink"] = self._link(f"{kind}/delta", {"$skiptoken": token})
        else:
            token = encode_token({**common, "v": round_version})
            body["@odata.deltaLink"] = self._link(f"{kind}/delta", {"$deltatoken": token})
        return Reply(200, body)

    def _delta_item(self, tenant: Tenant, item: User | Group, select: list[str] | None,
                    since: int | None) -> dict[str, Any]:
        if item.removed:
            return {"id": item.id, "@removed": {"reason": item.removed}}
        if isinstance(item, User):
            return {**tenant.render_user(item, select), "id": item.id}
        fields = None if select is None else [s for s in select if s != "members"] or ["id"]
        data = {**tenant.render_group(item, fields), "id": item.id}
        if select is None or "members" in select:
            if since is None:
                changes = [(m, True) for m in item.members]
            else:
                changes = tenant.member_changes(item, since)
            data["members@delta"] = [
                {"@odata.type": f"#microsoft.graph.{tenant.kind_of(m)}", "id": m,
                 **({} if present else {"@removed": {"reason": "deleted"}})}
                for m, present in changes]
        return data

