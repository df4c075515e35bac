"""The emulator's HTTPS server: TLS with a throwaway CA, the login and Graph endpoints, $batch,
throttling, injected faults, the /_emulator/ control surface and state.json.

One lock guards all state; every Graph request (a whole $batch included) runs under it, so the
emulator answers one request at a time however many connections are open. That is far below
Graph's throughput and enough for tests and the lab.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import math
import os
import random
import re
import secrets
import socket
import socketserver
import ssl
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

from ssc_infra.graph_emulator.api import GraphApi, Reply, unknown_segment
from ssc_infra.graph_emulator.batch import Step, in_order, parse_batch, shuffled, sub_response
from ssc_infra.graph_emulator.login import Login
from ssc_infra.graph_emulator.model import (
    DEFAULT_SKUS,
    JSON_TYPE,
    Fault,
    GraphError,
    Sku,
    error_body,
)
from ssc_infra.graph_emulator.tenant import Tenant

_log = logging.getLogger("ssc_infra.graph_emulator")
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
STATE_FORMAT = 1
_OPENID = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
_TOKEN = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
_BAD_JSON = ("Unable to read JSON request payload. Please ensure Content-Type header is set and "
             "payload is of valid JSON format.")


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600), replacing it whole."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    partial.chmod(0o600)
    partial.replace(path)


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


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator,
                 tls: ssl.SSLContext, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.emulator = emulator
        self.tls = tls
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the address up in DNS (getfqdn); not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), \
            int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("Graph emulator: connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ssc-infra-graph-emulator"
    sys_version = ""
    timeout = 60
    # headers and body go out in two writes; with Nagle, delayed ACKs cost 40 ms a request
    disable_nagle_algorithm = True

    def setup(self) -> None:
        server = cast(_Server, self.server)
        self.request.settimeout(self.timeout)
        self.request = server.tls.wrap_socket(self.request, server_side=True)
        with server.connections_lock:
            server.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        server = cast(_Server, self.server)
        try:
            super().finish()
        finally:
            with server.connections_lock:
                server.connections.discard(self.request)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline(65537).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        server = cast(_Server, self.server)
        try:
            body = self._body()
        except ValueError:
            self.send_error(400, "bad request body framing")
            return
        reply = server.emulator._answer(self.command, self.path, self.headers, body)
        if reply is None:  # an injected "drop": no answer, the connection closes
            self.close_connection = True
            return
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None and "Content-Type" not in reply.headers:
            self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("Graph emulator: " + format, *args)


class GraphEmulator:
    """A stateful Microsoft Graph EMULATOR on a loopback HTTPS port, for the lab and tests.

    Never a production target: it stands in for Graph v1.0's directory (users, groups,
    members, licences, delta, $batch) and for the identity platform's client-credentials
    login, for tenants that exist only in its memory and in `directory/state.json`.

    Args:
        directory: its folder: ca.pem (the test CA clients trust) and ca-key.pem,
            client-secret (0600), client-id, state.json (0600, loaded when present).
        address: the loopback address to bind; nothing else is accepted.
        port: the port, 0 for a free one.
        write_limit: writes (POST/PATCH/PUT/DELETE, each sub-request of a $batch counted)
            allowed per tenant within `write_window` seconds; more are answered 429.
        write_window: the sliding window of that limit, in seconds of `clock`.
        page_size: the page size of lists and delta rounds without $top.
        clock: the clock of the write window (a fake one makes throttling tests instant).
        seed: the seed of the order in which $batch answers are shuffled.
    """

    _api: GraphApi
    _login: Login

    def __init__(self, directory: Path, address: str = "127.0.0.1", port: int = 0, *,
                 write_limit: int = 3000, write_window: float = 150.0, page_size: int = 100,
                 clock: Callable[[], float] = time.monotonic, seed: int = 0) -> None:
        try:
            loopback = ipaddress.ip_address(address).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"the Graph emulator binds only to a loopback IP address, not "
                             f"{address!r}")
        if write_limit < 1 or write_window <= 0 or not 1 <= page_size <= 999:
            raise ValueError("write_limit >= 1, write_window > 0 and 1 <= page_size <= 999")
        self.directory = Path(directory)
        self.address, self.port = address, port
        self._write_limit, self._write_window = write_limit, write_window
        self._page_size, self._clock = page_size, clock
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._tenants: dict[str, Tenant] = {}
        self._faults: dict[str, list[list[Any]]] = {}  # tenant -> [[fault, hits left]]
        self._window: dict[str, deque[float]] = {}
        self._writes: dict[str, list[tuple[str, str]]] = {}
        self._dirty = False
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._url = ""
        self.requests = 0
        """Graph requests (under /v1.0) received, a $batch counting 1; not login or control."""
        self.throttled = 0
        """429 answers given, whole requests and $batch sub-requests alike."""
        self.token_requests = 0
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ca = self._load_ca()
        self.client_secret = self._load_text("client-secret", lambda: secrets.token_urlsafe(32),
                                             private=True)
        self.client_id = self._load_text("client-id", lambda: str(uuid.uuid4()))
        self._load_state()

    # ---- files ---------------------------------------------------------------------------

    @property
    def ca_file(self) -> Path:
        """The PEM of the test CA that issued the emulator's certificate."""
        return self.directory / "ca.pem"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    def _load_ca(self) -> trustme.CA:
        key_file = self.directory / "ca-key.pem"
        if self.ca_file.exists() and key_file.exists():
            return trustme.CA.from_pem(self.ca_file.read_bytes(), key_file.read_bytes())
        ca = trustme.CA(organization_name="ssc-infra Graph emulator test CA")
        write_private(key_file, ca.private_key_pem.bytes().decode())
        self.ca_file.write_bytes(ca.cert_pem.bytes())
        return ca

    def _load_text(self, name: str, make: Callable[[], str], private: bool = False) -> str:
        path = self.directory / name
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        value = make()
        if private:
            write_private(path, value + "\n")
        else:
            path.write_text(value + "\n", encoding="utf-8")
        return value

    def _load_state(self) -> None:
        if not self.state_file.exists():
            return
        try:
            data = json.loads(self.state_file.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {STATE_FORMAT}")
            for entry in data["tenants"]:
                tenant = Tenant.restore(entry)
                self._register(tenant)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{self.state_file}: cannot load the Graph emulator's state ({e}); "
                             "move the file away to start with no tenants") from e

    def _save(self) -> None:
        with self._lock:
            text = json.dumps({"format": STATE_FORMAT,
                               "tenants": [t.snapshot() for t in self._tenants.values()]})
            self._dirty = False
        write_private(self.state_file, text)

    def _flush_loop(self) -> None:
        while not self._stopping.wait(0.2):
            if self._dirty:
                try:
                    self._save()
                except OSError:
                    _log.exception("Graph emulator: writing %s failed", self.state_file)

    # ---- serving -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Graph base, "https://127.0.0.1:PORT"; clients call url + "/v1.0/..."."""
        if not self._url:
            raise RuntimeError("the Graph emulator has no URL before start()")
        return self._url

    @property
    def login_url(self) -> str:
        """The login host (the same server); MSAL's authority is f"{login_url}/{tenant}"."""
        return self.url

    def start(self) -> GraphEmulator:
        """Listen and serve in daemon threads; returns self."""
        if self._server is not None:
            raise RuntimeError("the Graph emulator is already started")
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        names = dict.fromkeys([self.address, "127.0.0.1", "localhost"])
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        self._ca.issue_cert(*names, common_name=self.address).configure_cert(tls)
        server = _Server((self.address, self.port), self, tls, family)
        host = f"[{self.address}]" if family == socket.AF_INET6 else self.address
        self._url = f"https://{host}:{server.server_address[1]}"
        self._api = GraphApi(self._url, self._page_size)
        self._login = Login(self.client_id, self.client_secret, self._url, self._url,
                            self._tenant_of)
        self._server = server
        self._stopping.clear()
        self._threads = [
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                             name="graph-emulator", daemon=True),
            threading.Thread(target=self._flush_loop, name="graph-emulator-state",
                             daemon=True)]
        for thread in self._threads:
            thread.start()
        _log.info("Microsoft Graph emulator (not a Microsoft 365 tenant) listening on %s",
                  self._url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and write state.json."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with server.connections_lock:
            for connection in list(server.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._save()
        _log.info("Microsoft Graph emulator on %s stopped", self._url)

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # ---- tenants and the test's levers ---------------------------------------------------

    def _register(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant
        self._faults.setdefault(tenant.id, [])
        self._window.setdefault(tenant.id, deque())
        self._writes.setdefault(tenant.id, [])

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise ValueError(f"the Graph emulator has no tenant {tenant_id!r}; add_tenant it "
                             "first")
        return tenant

    def _tenant_of(self, ref: str) -> str | None:
        with self._lock:
            if ref in self._tenants:
                return ref
            for tenant in self._tenants.values():
                if ref.lower() in tenant.domains:
                    return tenant.id
            return None

    def tenants(self) -> dict[str, list[str]]:
        """Every tenant's id with its domains."""
        with self._lock:
            return {t.id: list(t.domains) for t in self._tenants.values()}

    def add_tenant(self, tenant_id: str, domains: Sequence[str],
                   skus: Sequence[Sku] = DEFAULT_SKUS) -> None:
        """Add a tenant with its verified domains and licence subscriptions.

        Adding a tenant again with the same domains keeps its directory (a restarted lab
        emulator keeps the tenants of its state.json): SKUs it lacks are added, the others
        get the seats given (as when more licences are bought), SKUs not given stay.

        Raises:
            ValueError: the tenant exists with other domains, a domain belongs to another
                tenant, or a SKU's id and part number disagree with the tenant's.
        """
        with self._lock:
            existing = self._tenants.get(tenant_id)
            if existing is not None:
                if existing.domains != [d.lower() for d in domains]:
                    raise ValueError(f"the Graph emulator already has tenant {tenant_id!r} with "
                                     f"the domains {', '.join(existing.domains)}")
                if existing.update_skus(skus):
                    self._dirty = True
                return
            for domain in domains:
                owner = self._tenant_of(domain)
                if owner is not None:
                    raise ValueError(f"domain {domain} already belongs to tenant {owner}")
            self._register(Tenant(tenant_id, domains, skus))
            self._dirty = True

    def inject(self, tenant_id: str, fault: Fault) -> None:
        """Make the tenant's next matching requests fail as the fault says."""
        with self._lock:
            self._tenant(tenant_id)
            self._faults[tenant_id].append([fault, fault.count])

    def sync_hybrid(self, tenant_id: str, users: Sequence[Mapping[str, Any]],
                    groups: Sequence[Mapping[str, Any]]) -> None:
        """One Entra Connect cycle: upsert synced users and groups (see Tenant.sync_hybrid)."""
        with self._lock:
            self._tenant(tenant_id).sync_hybrid(users, groups)
            self._dirty = True

    def set_group_licences(self, tenant_id: str, group_display_name: str,
                           sku_part_numbers: Sequence[str]) -> None:
        """Group-based licensing: the group's licences become exactly these SKUs."""
        with self._lock:
            self._tenant(tenant_id).set_group_licences(group_display_name, sku_part_numbers)
            self._dirty = True

    def set_seats(self, tenant_id: str, sku_part_number: str, seats: int) -> None:
        """Change a subscription's prepaidUnits.enabled; group licences are recomputed."""
        with self._lock:
            self._tenant(tenant_id).set_seats(sku_part_number, seats)
            self._dirty = True

    def expire_deltas(self, tenant_id: str) -> None:
        """Every delta and paging token of a delta round issued so far answers 410."""
        with self._lock:
            self._tenant(tenant_id).delta_epoch += 1
            self._dirty = True

    def writes(self, tenant_id: str) -> list[tuple[str, str]]:
        """Every write applied (answered 2xx) to the tenant, in order, as (method, path).

        The path is the request's, without its query and percent-decoded, a batch's
        sub-request under /v1.0 like a request of its own: ("POST", "/v1.0/users"),
        ("PATCH", "/v1.0/users/{id or UPN}"), ("POST", "/v1.0/groups/{id}/members/$ref").
        A write refused (4xx), throttled or faulted is not in it; a write whose answer was
        dropped after it ran (Fault executed=True) is.
        """
        with self._lock:
            self._tenant(tenant_id)
            return list(self._writes[tenant_id])

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"emulator": "ssc-infra Microsoft Graph emulator (not Microsoft 365)",
                    "url": self._url, "tenants": self.tenants(), "requests": self.requests,
                    "throttled": self.throttled, "token_requests": self.token_requests}

    # ---- requests ------------------------------------------------------------------------

    def _answer(self, method: str, target: str, headers: Message, body: bytes) -> Reply | None:
        split = urlsplit(target)
        path = split.path
        request_id = str(uuid.uuid4())
        client_request_id = headers.get("client-request-id") or request_id
        reply: Reply | None
        try:
            if path == "/_emulator" or path.startswith("/_emulator/"):
                reply = self._control(method, path, headers, body)
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

    def _control(self, method: str, path: str, headers: Message, body: bytes) -> Reply:
        scheme, _, bearer = (headers.get("Authorization") or "").partition(" ")
        supplied = headers.get("X-Emulator-Secret") or (bearer if scheme.lower() == "bearer"
                                                        else "")
        if not hmac.compare_digest(supplied.strip().encode(), self.client_secret.encode()):
            return Reply(401, {"error": {"code": "EmulatorUnauthorized", "message":
                               "The Graph emulator's control surface needs its client secret "
                               "(Authorization: Bearer <secret> or X-Emulator-Secret)."}})
        parts = [unquote(p) for p in path.strip("/").split("/")[1:]]
        try:
            data = json.loads(body) if body.strip() else {}
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object")
            return self._control_call(method, parts, data)
        except KeyError as e:
            return Reply(400, {"error": {"code": "EmulatorBadRequest",
                                         "message": f"missing field {e}"}})
        except (ValueError, TypeError) as e:
            return Reply(400, {"error": {"code": "EmulatorBadRequest", "message": str(e)}})

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
            if operation == "expire-deltas":
                self.expire_deltas(tenant_id)
                return done
        return Reply(404, {"error": {"code": "EmulatorNotFound", "message":
                           f"The Graph emulator has no control operation {method} "
                           f"/_emulator/{'/'.join(parts)}."}})
