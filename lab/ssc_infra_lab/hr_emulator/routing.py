"""How the HR emulator answers one request: AFAS's GetConnector under /{environment}/, Raet's
token endpoint and IAM lists, each through the source's levers; and the /_emulator/ control
surface. What a page holds is `afas`'s and `raet`'s.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ssc_infra_lab.emulator_control import control_answer, is_control, no_operation
from ssc_infra_lab.emulator_server import Reply
from ssc_infra_lab.hr_emulator import afas, raet
from ssc_infra_lab.hr_emulator.levers import Levers, LeverState, lost_people
from ssc_infra_lab.hr_emulator.paging import ApiError, Page
from ssc_infra_lab.hr_emulator.seeding import RaetData
from ssc_infra_lab.hr_emulator.state import HrState


class HrRouting(HrState):
    """The answers of `HrEmulator`: `control_secret` is read from its directory, `_url` and
    `_stopping` are set when it starts."""

    control_secret: str
    _stopping: threading.Event

    def _answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        split = urlsplit(target)
        path = split.path
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        if is_control(path):
            return control_answer(method, path, headers, body, self.control_secret,
                                  "HR emulator", self._control_call)
        if path.rstrip("/") == raet.TOKEN_PATH:
            return self._raet_token(method, body)
        if path.lower().startswith(("/iam/", "/extensions/")):
            return self._raet_list(method, path, query, headers)
        return self._afas_connector(method, path, query, headers)

    # ---- the two APIs --------------------------------------------------------------------

    def _afas_connector(self, method: str, path: str, query: Mapping[str, str],
                        headers: Message) -> Reply:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        name = parts[0]
        with self._lock:
            environment = self._afas.get(name)
        if environment is None:
            return _afas_error(ApiError(404, f"no AFAS environment {name!r} in this emulator"))
        env = environment  # not None: a name the closure below sees as narrowed

        def read(levers: LeverState) -> Page:
            if len(parts) != 4 or [p.lower() for p in parts[1:3]] != ["profitrestservices",
                                                                      "connectors"]:
                raise ApiError(404, f"no resource {path}")
            if parts[3] != env.connector:
                raise ApiError(404, f"no GetConnector {parts[3]!r} in environment {name}")
            if method != "GET":
                raise ApiError(405, f"{method} is not allowed on a GetConnector")
            asked = afas.parse_query(query, env.fields(), env.connector)
            lost = lost_people(env.people(), levers.levers.lost_fraction)
            return afas.select(env, asked, lost, levers.cap)

        return self._page(name, afas.authorized(headers.get("Authorization"), env), read,
                          _afas_error)

    def _raet_token(self, method: str, body: bytes) -> Reply:
        if method != "POST":
            return _raet_error(ApiError(405, "the token endpoint takes POST", "invalid_request"))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        with self._lock:
            self.token_requests += 1
            try:
                tenant_id = raet.grant(self._raet, form)
                if self._levers[tenant_id].levers.auth_failure:
                    raise ApiError(401, "the client is blocked (lever auth_failure)",
                                   "invalid_client")
            except ApiError as e:
                return _raet_error(e)
            return Reply(200, self._tokens.issue(tenant_id), {"Cache-Control": "no-store"})

    def _raet_list(self, method: str, path: str, query: Mapping[str, str],
                   headers: Message) -> Reply:
        with self._lock:
            tenant_id = self._tokens.tenant_of(headers.get("Authorization"))
            tenant = self._raet.get(tenant_id or "")
        if tenant_id is None or tenant is None:
            reply = _raet_error(ApiError(401, "no valid access token (a bearer token from "
                                         f"{raet.TOKEN_PATH}; it may have expired)",
                                         "invalid_token"))
            reply.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return reply
        data = tenant.data

        def read(levers: LeverState) -> Page:
            if method != "GET":
                raise ApiError(405, f"{method} is not allowed on {path}", "method_not_allowed")
            lost = lost_people(data.person_codes(), levers.levers.lost_fraction)
            return raet.select(data, path, query, lost, levers.cap, self._url)

        return self._page(tenant_id, True, read, _raet_error)

    def _page(self, source: str, authorized: bool, read: Callable[[LeverState], Page],
              error: Callable[[ApiError], Reply]) -> Reply:
        """A data request of `source` through its levers: 401 (not `authorized`, or the
        auth_failure lever), busy, a failing page, else the page `read` gives, late or cut
        off as the levers say."""
        with self._lock:
            levers = self._levers[source]
            levers.requests += 1
            try:
                if levers.levers.auth_failure or not authorized:
                    raise ApiError(401, "the token is not valid for this source"
                                   + (" (lever auth_failure)" if authorized else ""),
                                   "invalid_token")
                if levers.take_busy():
                    status = levers.levers.busy_status
                    raise ApiError(status, "too many requests (lever busy)" if status == 429
                                   else "the service is unavailable (lever busy)",
                                   "too_many_requests" if status == 429 else "unavailable")
                page = read(levers)
                if levers.fails(page.number):
                    raise ApiError(500, f"an internal error from page {page.number} on (lever "
                                   "fail_from_page)", "server_error")
            except ApiError as e:
                reply = error(e)
                if e.status in (429, 503):
                    reply.headers["Retry-After"] = levers.retry_after()
                return reply
            cut = levers.take_cut(page.number)
            delay = levers.delay(page.number)
        if delay > 0:
            self._stopping.wait(delay)
        reply = Reply(200, page.body)
        if cut:
            reply.cut = max(1, len(json.dumps(page.body, ensure_ascii=False).encode()) // 2)
        return reply

    # ---- the control surface -------------------------------------------------------------

    def _control_call(self, method: str, parts: list[str], data: dict[str, Any]) -> Reply:
        done = Reply(200, {"ok": True})
        operation = (method, *parts[:1], *parts[2:3])
        name = parts[1] if len(parts) > 1 else ""
        if parts == ["status"] and method == "GET":
            return Reply(200, self.status())
        if operation == ("PUT", "afas") and len(parts) == 2:
            self.set_afas_environment(name, str(data["token"]), data.get("rows", []),
                                      str(data.get("connector", afas.DEFAULT_CONNECTOR)),
                                      keep_people=bool(data.get("keep_people", False)))
            return done
        if operation == ("PUT", "raet") and len(parts) == 2:
            self.set_raet_tenant(name, str(data["client_id"]), str(data["client_secret"]),
                                 RaetData.from_json(data.get("data", {})),
                                 keep_people=bool(data.get("keep_people", False)))
            return done
        if operation == ("POST", "sources", "people") and len(parts) == 3:
            self.add_person(name, _row(data))
            return done
        if operation == ("PUT", "sources", "people") and len(parts) == 4:
            self.change_person(name, {**_row(data), "employee_id": parts[3]})
            return done
        if operation == ("DELETE", "sources", "people") and len(parts) == 4:
            self.remove_person(name, parts[3])
            return done
        if operation == ("PUT", "sources", "levers") and len(parts) == 3:
            self.set_levers(name, Levers.from_json(data))
            return done
        if operation == ("POST", "sources", "expire-tokens") and len(parts) == 3:
            self.expire_tokens(name)
            return done
        return no_operation("HR emulator", method, parts)


def _row(data: Mapping[str, Any]) -> dict[str, str]:
    row = data["row"]
    if not isinstance(row, dict):
        raise ValueError("row: a people row (an object of the inventory's people columns)")
    return {str(k): "" if v is None else str(v) for k, v in row.items()}


def _afas_error(error: ApiError) -> Reply:
    return Reply(error.status, afas.error_body(error.message))


def _raet_error(error: ApiError) -> Reply:
    return Reply(error.status, raet.error_body(error))
