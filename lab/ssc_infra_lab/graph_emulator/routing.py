"""How the emulator answers one request: the login endpoints, Graph v1.0 under the tenant's
token (injected faults, the write window's throttling, $batch, the log of applied writes) and
the /_emulator/ control surface. The directory's own routes are `api`'s.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from email.message import Message
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

from ssc_infra_lab.emulator_control import control_answer, is_control, no_operation
from ssc_infra_lab.emulator_server import Reply
from ssc_infra_lab.graph_emulator.api import GraphApi, unknown_segment
from ssc_infra_lab.graph_emulator.batch import Step, in_order, parse_batch, shuffled, sub_response
from ssc_infra_lab.graph_emulator.emulation import Emulation
from ssc_infra_lab.graph_emulator.login import Login
from ssc_infra_lab.graph_emulator.model import DEFAULT_SKUS, Fault, GraphError, Sku, error_body
from ssc_infra_lab.graph_emulator.tenant import Tenant

WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_OPENID = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
_TOKEN = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
_BAD_JSON = ("Unable to read JSON request payload. Please ensure Content-Type header is set and "
             "payload is of valid JSON format.")


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _query(text: str) -> dict[str, str]:
    pairs = parse_qsl(text, keep_blank_values=True)
    return {(k.lower() if k.startswith("$") else k): v for k, v in pairs}


def _json_body(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError as e:
        raise GraphError(400, "BadRequest", _BAD_JSON) from e


class Routing(Emulation):
    """The emulator's answers to requests (see `GraphEmulator`): `client_secret` is read from
    the emulator's directory, `_api` and `_login` are made when it starts, for its URL."""

    client_secret: str
    _api: GraphApi
    _login: Login

    # ---- requests ------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply | None:
        split = urlsplit(target)
        path = split.path
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        reply: Reply | None
        try:
            if is_control(path):
                reply = control_answer(method, path, headers, body, self.client_secret,
                                       "Graph emulator", self._control_call)
            elif path == "/v1.0" or path.startswith("/v1.0/"):
                reply = self._graph(method, path, _query(split.query), headers, body,
                                    request_id, client_request_id)
            else:
                reply = self._sign_in(method, path, body)
        except GraphError as e:
            reply = self._error(e, request_id, client_request_id)
        if reply is not None:
            reply.headers.setdefault("request-id", request_id)
            reply.headers.setdefault("client-request-id", client_request_id)
        return reply

    @staticmethod
    def _error(error: GraphError, request_id: str, client_request_id: str) -> Reply:
        return Reply(error.status, error_body(error, request_id, client_request_id),
                     dict(error.headers))

    def _sign_in(self, method: str, path: str, body: bytes) -> Reply:
        found = _OPENID.fullmatch(path)
        if found is not None and method == "GET":
            return self._login.openid_configuration(unquote(found[1]))
        found = _TOKEN.fullmatch(path)
        if found is not None and method == "POST":
            with self._lock:
                self.token_requests += 1
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            return self._login.token(unquote(found[1]), form)
        raise unknown_segment(path.strip("/").split("/")[0] or "/")

    def _graph(self, method: str, path: str, query: dict[str, str], headers: Message,
               body: bytes, request_id: str, client_request_id: str) -> Reply | None:
        with self._lock:
            self.requests += 1
        tenant_id = self._login.verify(headers.get("Authorization"))
        with self._lock:
            tenant = self._tenants[tenant_id]
            fault = self._take_fault(tenant_id, unquote(path), in_batch=False)
            if fault is not None and fault.kind != "drop":
                return self._fault_reply(fault, request_id, client_request_id)
            if fault is not None and not fault.executed:
                return None
            sub = path[len("/v1.0"):]
            try:
                if sub.lower() == "/$batch":
                    reply = self._batch(tenant, method, body, request_id, client_request_id)
                else:
                    parsed = _json_body(body) if method in WRITE_METHODS else None
                    reply = self._execute(tenant, method, sub, query, parsed, request_id,
                                          client_request_id, in_batch=False)
            except GraphError as e:
                reply = self._error(e, request_id, client_request_id)
            return None if fault is not None else reply

    def _take_fault(self, tenant_id: str, path: str, in_batch: bool) -> Fault | None:
        pending = self._faults[tenant_id]
        for entry in pending:
            fault = cast(Fault, entry[0])
            if fault.in_batch == in_batch and fault.path in path:
                entry[1] -= 1
                if entry[1] <= 0:
                    pending.remove(entry)
                return fault
        return None

    def _fault_reply(self, fault: Fault, request_id: str, client_request_id: str) -> Reply:
        headers = {"Retry-After": _seconds(fault.retry_after)}
        if fault.kind == "throttle":
            self.throttled += 1
            error = GraphError(429, "TooManyRequests", "Too many requests (a throttle fault "
                               "injected into the Graph emulator).", headers)
        else:
            error = GraphError(503, "ServiceUnavailable", "The service is temporarily "
                               "unavailable (a fault injected into the Graph emulator).",
                               headers)
        return self._error(error, request_id, client_request_id)

    def _window_wait(self, tenant_id: str) -> float:
        """Seconds until the tenant may write again; 0 when it may now."""
        now = self._clock()
        window = self._window[tenant_id]
        while window and window[0] <= now - self._write_window:
            window.popleft()
        if len(window) < self._write_limit:
            return 0.0
        return max(window[0] + self._write_window - now, 0.001)

    def _execute(self, tenant: Tenant, method: str, sub: str, query: Mapping[str, str],
                 body: Any, request_id: str, client_request_id: str, in_batch: bool) -> Reply:
        path = "/v1.0" + unquote(sub)
        if in_batch:
            fault = self._take_fault(tenant.id, path, in_batch=True)
            if fault is not None:
                return self._fault_reply(fault, request_id, client_request_id)
        if method in WRITE_METHODS:
            wait = self._window_wait(tenant.id)
            if wait > 0:
                self.throttled += 1
                return self._error(GraphError(
                    429, "TooManyRequests", f"Too many requests: the emulated tenant takes "
                    f"{self._write_limit} writes per {_seconds(self._write_window)} s.",
                    {"Retry-After": str(max(1, math.ceil(wait)))}), request_id,
                    client_request_id)
            self._window[tenant.id].append(self._clock())
        try:
            reply = self._api.handle(tenant, method, sub, query, body)
        except GraphError as e:
            reply = self._error(e, request_id, client_request_id)
        if method in WRITE_METHODS and 200 <= reply.status < 300:
            self._writes[tenant.id].append((method, path))
            self._dirty = True
        return reply

    # ---- $batch --------------------------------------------------------------------------

    def _batch(self, tenant: Tenant, method: str, body: bytes, request_id: str,
               client_request_id: str) -> Reply:
        if method != "POST":
            raise GraphError(405, "Request_BadRequest",
                             "Specified HTTP method is not allowed for the request target.")
        steps = parse_batch(_json_body(body))
        results: dict[str, Reply] = {}
        for step in in_order(steps):
            failed = [d for d in step.depends if not 200 <= results[d].status < 300]
            if failed:
                results[step.id] = self._error(GraphError(
                    424, "FailedDependency", f"The request it depends on ({', '.join(failed)}) "
                    "failed."), str(uuid.uuid4()), client_request_id)
            else:
                results[step.id] = self._sub_request(tenant, step, client_request_id)
        responses = [sub_response(step.id, results[step.id]) for step in steps]
        return Reply(200, {"responses": shuffled(responses, self._random)})

    def _sub_request(self, tenant: Tenant, step: Step, client_request_id: str) -> Reply:
        request_id = str(uuid.uuid4())
        if step.url.lower().startswith(("http://", "https://")):
            return self._error(GraphError(400, "BadRequest", f"Invalid request URL "
                               f"'{step.url}': batch URLs are relative, e.g. /users."),
                               request_id, client_request_id)
        split = urlsplit("/" + step.url.lstrip("/"))
        if split.path.lower().startswith(("/v1.0/", "/beta/")):
            return self._error(GraphError(400, "BadRequest", f"Invalid request URL "
                               f"'{step.url}': batch URLs are relative to the version, e.g. "
                               "/users, not /v1.0/users."), request_id, client_request_id)
        if split.path.lower() == "/$batch":
            return self._error(GraphError(400, "BadRequest", "A batch cannot hold a batch."),
                               request_id, client_request_id)
        return self._execute(tenant, step.method, split.path, _query(split.query), step.body,
                             request_id, client_request_id, in_batch=True)

    # ---- the control surface -------------------------------------------------------------

    def _control_call(self, method: str, parts: list[str], data: dict[str, Any]) -> Reply:
        done = Reply(200, {"ok": True})
        if parts == ["status"] and method == "GET":
            return Reply(200, self.status())
        if parts == ["tenants"] and method == "POST":
            skus = [Sku.from_json(s) for s in data["skus"]] if "skus" in data else DEFAULT_SKUS
            self.add_tenant(str(data["tenant_id"]), [str(d) for d in data["domains"]], skus)
            return done
        if len(parts) == 3 and parts[0] == "tenants":
            tenant_id, operation = parts[1], parts[2]
            if operation == "writes" and method == "GET":
                return Reply(200, {"writes": [list(w) for w in self.writes(tenant_id)]})
            if method != "POST":
                operation = ""
            if operation == "faults":
                self.inject(tenant_id, Fault.from_json(data))
                return done
            if operation == "sync":
                self.sync_hybrid(tenant_id, data.get("users", []), data.get("groups", []))
                return done
            if operation == "group-licences":
                self.set_group_licences(tenant_id, str(data["group"]),
                                        [str(s) for s in data["skus"]])
                return done
            if operation == "seats":
                self.set_seats(tenant_id, str(data["sku"]), int(data["seats"]))
                return done
            if operation == "sign-in":
                self.sign_in(tenant_id, str(data["upn"]), str(data["when"]))
                return done
            if operation == "expire-deltas":
                self.expire_deltas(tenant_id)
                return done
        return no_operation("Graph emulator", method, parts)
