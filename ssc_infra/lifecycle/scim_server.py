"""`ssc-infra hr serve`: an HTTPS endpoint where the partners' HR systems push SCIM 2.0
/Users (RFC 7644), each partner with its own bearer token, into its people file through
`ssc_infra.lifecycle.scim_store`.

The server is `http.server.ThreadingHTTPServer` wrapped in TLS (the certificate and key the
SSC gives it); plain HTTP only on a loopback address, and only when asked for (a lab, tests).
Each connection has its own thread, its TLS handshake included, a time-out and a cap on how
many are open at once; each request is authenticated by its bearer token (compared in constant
time), its body read only up to `MAX_BODY`. One log line per request says the method, the path
without its query, the partner and the status: never a token, a name or a body.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ssc_infra.core.errors import SscError
from ssc_infra.core.model import EMPLOYEE_ID_PATTERN
from ssc_infra.core.secrets import Secret
from ssc_infra.hr import scim_schemas
from ssc_infra.hr.scim import CONTENT_TYPE, MAX_BODY, ScimError, parse_json
from ssc_infra.lifecycle.scim_store import Answer, ScimStore

PREFIX = "/scim/v2"
MAX_CONNECTIONS = 64
DRAIN_MAX = 4 * MAX_BODY  # a body this much too large is read away, so the client hears 413
TIMEOUT = 30.0  # seconds a connection may stay silent, its TLS handshake included
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~+/=-]{32,1024}")
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_BODY_TYPES = ("application/scim+json", "application/json")

Log = Callable[[str], None]


def listen_address(text: str) -> tuple[str, int]:
    """HOST:PORT (an IPv6 address in brackets, [::1]:8443) as (host, port); port 0 is a free
    one."""
    found = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]]+):(\d{1,5})", text.strip())
    if not found or int(found.group(2) or found.group(4)) > 65535:
        raise SscError(f"--listen {text!r}: write HOST:PORT, e.g. 0.0.0.0:8443, 127.0.0.1:0 "
                       "or [::1]:8443")
    return found.group(1) or found.group(3), int(found.group(2) or found.group(4))


def is_loopback(host: str) -> bool:
    """An address on this machine only: 127.0.0.0/8, ::1 (a name could resolve anywhere)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_tokens(tokens: Mapping[str, Secret]) -> None:
    """Refuse a token that is short or odd, and one that two partners share: a token must
    never reach another partner's people."""
    owners: dict[str, str] = {}
    for code, token in sorted(tokens.items()):
        value = token.reveal()
        if not TOKEN_PATTERN.fullmatch(value):
            raise SscError(f"{code}'s SCIM token (hr.partners.{code}.scim_token_env or _file) "
                           "is not 32 to 1,024 letters, digits or -._~+/=: make one with "
                           "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`")
        if value in owners:
            raise SscError(f"{owners[value]} and {code} have the same SCIM token: give each "
                           "partner its own")
        owners[value] = code


@dataclass(frozen=True)
class Reply:
    """An answer on the wire, and the partner it was for (for the log)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    partner: str = ""
    note: str = ""  # for the log: a scimType, a guard that held


def _answered(answer: Answer, partner: str) -> Reply:
    headers = {"ETag": answer.etag} if answer.etag else {}
    if answer.location and answer.status == 201:
        headers["Location"] = answer.location
    return Reply(answer.status, answer.body, headers, partner)


class ScimRouter:
    """One request in (method, target, headers, body), one Reply out; no sockets here."""

    def __init__(self, store: ScimStore, tokens: Mapping[str, Secret], log: Log) -> None:
        check_tokens(tokens)
        self.store = store
        self.tokens = {code: t.reveal().encode("ascii") for code, t in tokens.items()}
        self.log = log

    def partner_of(self, authorization: str | None) -> str:
        """The partner whose token this is, or "" (every token compared, in constant time)."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.casefold() != "bearer" or not given:
            return ""
        presented = given.strip().encode("latin-1", "replace")
        found = ""
        for code, token in self.tokens.items():
            if hmac.compare_digest(presented, token):
                found = code
        return found

    def respond(self, method: str, target: str, headers: Message, body: bytes) -> Reply:
        partner = self.partner_of(headers.get("Authorization"))
        try:
            if not partner:
                raise ScimError(401, "a bearer token of a partner is needed "
                                "(Authorization: Bearer ...)")
            return self._route(partner, method, urlsplit(target), headers, body)
        except ScimError as e:
            extra = {"WWW-Authenticate": 'Bearer realm="ssc-infra"'} if e.status == 401 else {}
            return Reply(e.status, e.body(), extra, partner,
                         "; ".join(n for n in (e.scim_type, e.note) if n))
        except SscError as e:
            self.log(f"error: {e}")
        except Exception as e:
            self.log(f"internal error ({type(e).__name__}) in {method} {PREFIX}")
        return Reply(500, ScimError(500, "the server could not do it; its log says why").body(),
                     partner=partner)

    def _route(self, partner: str, method: str, target: Any, headers: Message,
               body: bytes) -> Reply:
        path = target.path.rstrip("/")
        if not path.startswith(PREFIX + "/"):
            raise ScimError(404, f"nothing here: the SCIM endpoints are below {PREFIX}/")
        parts = path[len(PREFIX) + 1:].split("/", 1)
        about = _ABOUT.get(parts[0])
        if about is not None:
            _allowed(method, "GET")
            return Reply(200, _discovered(parts, about(self.store.base_url)), partner=partner)
        if parts[0] != "Users":
            raise ScimError(404, f"no endpoint {parts[0][:40]!r}: there are Users, Schemas, "
                            "ResourceTypes and ServiceProviderConfig")
        store = self.store
        if len(parts) == 1:
            _allowed(method, "GET", "POST")
            if method == "GET":
                query = dict(_query(target.query))
                return _answered(store.list(partner, query), partner)
            return _answered(store.create(partner, _json(headers, body)), partner)
        employee = unquote(parts[1])
        if not _EMPLOYEE_ID.fullmatch(employee):
            raise ScimError(404, "no such user: a user's id is an employee id")
        _allowed(method, "GET", "PUT", "PATCH", "DELETE")
        if_match = headers.get("If-Match")
        if method == "GET":
            return _answered(store.get(partner, employee), partner)
        if method == "DELETE":
            return _answered(store.delete(partner, employee, if_match), partner)
        doc = _json(headers, body)
        change = store.replace if method == "PUT" else store.patch
        return _answered(change(partner, employee, doc, if_match), partner)


_ABOUT: dict[str, Callable[[str], dict[str, Any]]] = {
    "ServiceProviderConfig": scim_schemas.service_provider_config,
    "ResourceTypes": scim_schemas.resource_types, "Schemas": scim_schemas.schemas}


def _discovered(parts: list[str], found: dict[str, Any]) -> dict[str, Any]:
    if "schemas" in found:  # the ServiceProviderConfig: one document
        return found
    if len(parts) == 1:
        return scim_schemas.listed(found)
    one = found.get(unquote(parts[1]))
    if not isinstance(one, dict):
        raise ScimError(404, f"no {parts[0]} {unquote(parts[1])[:80]!r}")
    return one


def _allowed(method: str, *methods: str) -> None:
    if method not in methods:
        raise ScimError(405, f"{method} is not taken here; {', '.join(methods)} are")


def _query(query: str) -> list[tuple[str, str]]:
    try:
        return parse_qsl(query, keep_blank_values=True, max_num_fields=10)
    except ValueError:
        raise ScimError(400, "too many query parameters", "invalidSyntax") from None


def _json(headers: Message, body: bytes) -> Any:
    given = headers.get_content_type() if headers.get("Content-Type") else CONTENT_TYPE
    if given not in _BODY_TYPES:
        raise ScimError(415, f"the body must be {CONTENT_TYPE} (or application/json)")
    return parse_json(body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ssc-infra-scim"
    sys_version = ""
    timeout = TIMEOUT
    disable_nagle_algorithm = True

    def setup(self) -> None:
        # The handshake in the connection's own thread: a slow client never stalls accept().
        tls = cast(ScimHttpServer, self.server).tls
        self.request.settimeout(self.timeout)
        if tls is not None:
            self.request = tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def do_GET(self) -> None:
        started = time.monotonic()
        server = cast(ScimHttpServer, self.server)
        # No body is read for a request without a partner's token: it is refused as it is.
        known = server.router.partner_of(self.headers.get("Authorization"))
        body = self._body() if known else b""
        if isinstance(body, Reply):
            reply = body
        else:
            self.close_connection = self.close_connection or not known
            reply = server.router.respond(self.command, self.path, self.headers, body)
        # Logged before it is sent: a client that is gone by then is in the log all the same.
        path = quote(unquote(urlsplit(self.path).path)[:200], safe="/:@-._~")
        server.log(f"{self.command} {path} partner={reply.partner or '-'} "
                   f"status={reply.status} {1000 * (time.monotonic() - started):.0f}ms"
                   + (f" ({reply.note})" if reply.note else ""))
        self._send(reply)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def _body(self) -> bytes | Reply:
        """The request's body, or the refusal of one that is chunked or too large."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            return Reply(411, ScimError(411, "send the body with a Content-Length").body())
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit() or len(length_text) > 12:
            self.close_connection = True
            return Reply(400, ScimError(400, "Content-Length is no number",
                                        "invalidSyntax").body())
        length = int(length_text)
        if length > MAX_BODY:
            self.close_connection = True
            left = length if length <= DRAIN_MAX else 0
            while left > 0:
                chunk = self.rfile.read(min(65536, left))
                if not chunk:
                    break
                left -= len(chunk)
            return Reply(413, ScimError(413, f"the body is {length:,} bytes; at most "
                                        f"{MAX_BODY:,} are taken").body())
        return self.rfile.read(length) if length else b""

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(
            reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        if reply.body is not None:
            self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request line holds its query; `do_GET` logs each request its own way."""

    def log_error(self, format: str, *args: Any) -> None:
        cast(ScimHttpServer, self.server).log("a connection timed out or broke off")

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        """A request http.server refuses itself (a bad request line, an unknown method), as
        a SCIM error too; logged without its request line, which holds its query."""
        self.close_connection = True
        cast(ScimHttpServer, self.server).log(f"a malformed request was refused ({code})")
        self._send(Reply(code, ScimError(code, f"not a request this server takes "
                                         f"({code}: {self.responses.get(code, ('',))[0]})"
                                         ).body()))


class ScimHttpServer(ThreadingHTTPServer):
    """The SCIM endpoint: TLS per connection (`tls`, None for a loopback lab), at most
    MAX_CONNECTIONS open at once."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], router: ScimRouter,
                 tls: ssl.SSLContext | None, log: Log) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.router = router
        self.tls = tls
        self.log = log
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # without HTTPServer's DNS look-up
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.log(f"{MAX_CONNECTIONS} connections are open: one more was closed")
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed handshake, a client gone mid-way: one line, never a traceback.
        self.log(f"a connection failed before its answer ({client_address[0]})")


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server TLS context (TLS 1.2 at least) with the SSC's certificate and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as e:
        raise SscError(f"cannot load the certificate {cert} with the key {key}: {e}") from e
    return context


class Serving:
    """A SCIM server, bound from the start, serving from `start()` in a thread of its own.

    Args:
        host, port: where it listens (port 0: a free one, `url` says which).
        store: the people it serves; tokens: partner code -> its bearer token.
        tls: the TLS context; None is plain HTTP, refused unless HOST is a loopback address.
        log: where the request lines go.
    """

    def __init__(self, host: str, port: int, store: ScimStore, tokens: Mapping[str, Secret],
                 tls: ssl.SSLContext | None, log: Log) -> None:
        if tls is None and not is_loopback(host):
            raise SscError(f"plain HTTP on {host} would send the partners' tokens and people "
                           "in clear: give --cert and --key, or listen on a loopback address")
        router = ScimRouter(store, tokens, log)
        try:
            self.server = ScimHttpServer((host, port), router, tls, log)
        except OSError as e:
            raise SscError(f"cannot listen on {host}:{port}: {e.strerror}") from e
        shown = socket.getfqdn() if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        self.url = f"{'https' if tls else 'http'}://{shown}:{self.server.server_port}{PREFIX}"
        store.base_url = self.url
        self.store = store
        self._thread = threading.Thread(target=self.server.serve_forever, name="scim-serve",
                                        kwargs={"poll_interval": 0.2}, daemon=True)

    def start(self) -> Serving:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop taking requests; a write under way is finished first, then all is closed."""
        self.server.shutdown()
        with self.store.lock:  # a write under way ends first; none starts after
            self.store.closed = True
            self.server.server_close()
        self._thread.join(timeout=5)


def open_server(inventory: Path, state_dir: Path, listen: str, tokens: Mapping[str, Secret], *,
                cert: Path | None, key: Path | None, insecure_loopback: bool,
                today: Callable[[], date], log: Log, run: str = "",
                target: str = "") -> Serving:
    """A SCIM server for the partners of TOKENS, bound (not yet serving: `start()`).

    Args:
        listen: HOST:PORT (`listen_address`).
        cert, key: the TLS certificate (chain) and its key, PEM; both, or neither with
            `insecure_loopback` on a loopback address (a lab, tests).
        today: the day of each request.
        run, target: this server's run id and target, for the audit log.
    """
    host, port = listen_address(listen)
    if (cert is None) != (key is None):
        raise SscError("give both --cert and --key")
    if cert is not None and insecure_loopback:
        raise SscError("--insecure-loopback is for plain HTTP: leave it out with --cert/--key")
    if cert is None and not insecure_loopback:
        raise SscError("give --cert and --key (the server's TLS certificate and key), or "
                       "--insecure-loopback for plain HTTP on a loopback address (a lab)")
    if insecure_loopback and not is_loopback(host):
        raise SscError(f"--insecure-loopback listens on a loopback address only, not {host}: "
                       "the tokens and the people would cross the network in clear")
    tls = tls_context(cert, key) if cert is not None and key is not None else None
    store = ScimStore(inventory, state_dir, "", today, run, target)
    return Serving(host, port, store, tokens, tls, log)
