"""What the lab's emulators (Microsoft Graph, the HR systems) share: a real HTTPS server on a
loopback port, its TLS from a throwaway CA made by trustme, each request answered as a `Reply`
by a function of the emulator's. One transport for all of them, so that what a client sees of
the wire (TLS, HTTP/1.1 keep-alive, chunked request bodies, a connection dropped or an answer
cut off mid-way) is the same whichever system is emulated.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import trustme

from ssc_infra.state.folder import write_private

_log = logging.getLogger("ssc_infra_lab.emulator")
JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Reply:
    """One answer: status, JSON body (None for none) and extra headers.

    `cut` makes it a broken answer: only the body's first `cut` bytes are sent, without a
    Content-Length (so the body runs until the connection closes, which it then does) — what a
    client sees when a proxy or the server dies mid-answer: a 200 whose JSON ends half-way.
    """

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cut: int | None = None


Answer = Callable[[str, str, Message, bytes], Reply | None]
"""(method, target, headers, body) -> the reply, or None for no answer (the connection closes)."""


class HttpsServer(ThreadingHTTPServer):
    """Serves on `address` over TLS (`tls`), each request answered by `answer`; it keeps its
    open connections (`connections`, under `connections_lock`) so that a stop can close them.

    Args:
        name: the emulator's name in log lines ("Graph emulator").
        content_type: the Content-Type of a JSON body the reply does not type itself.
        ensure_ascii: JSON bodies with every non-ASCII character escaped (\\u00e2), as Graph
            writes them; False sends them as UTF-8 bytes.
    """

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Answer,
                 tls: ssl.SSLContext, family: socket.AddressFamily, *, name: str = "emulator",
                 content_type: str = JSON_TYPE, ensure_ascii: bool = True) -> None:
        self.address_family = family
        self.answer = answer
        self.tls = tls
        self.name = name
        self.content_type = content_type
        self.ensure_ascii = ensure_ascii
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the address up in DNS (getfqdn); not needed here.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), \
            int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        _log.debug("%s: connection from %s failed", self.name, client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ssc-infra-emulator"
    sys_version = ""
    timeout = 60
    # headers and body go out in two writes; with Nagle, delayed ACKs cost 40 ms a request
    disable_nagle_algorithm = True

    def setup(self) -> None:
        server = cast(HttpsServer, self.server)
        self.request.settimeout(self.timeout)
        self.request = server.tls.wrap_socket(self.request, server_side=True)
        with server.connections_lock:
            server.connections.add(self.request)
        super().setup()

    def finish(self) -> None:
        server = cast(HttpsServer, self.server)
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
        server = cast(HttpsServer, self.server)
        try:
            body = self._body()
        except ValueError:
            self.send_error(400, "bad request body framing")
            return
        reply = server.answer(self.command, self.path, self.headers, body)
        if reply is None:  # an injected "drop": no answer, the connection closes
            self.close_connection = True
            return
        payload = b"" if reply.body is None else \
            json.dumps(reply.body, ensure_ascii=server.ensure_ascii).encode()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.body is not None and "Content-Type" not in reply.headers:
            self.send_header("Content-Type", server.content_type)
        if reply.cut is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload[:reply.cut])
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        _log.debug(cast(HttpsServer, self.server).name + ": " + format, *args)


def load_ca(directory: Path, organization: str) -> trustme.CA:
    """The emulator's throwaway CA: `directory`/ca.pem and ca-key.pem (0600), made the first
    time, so that a restarted emulator keeps the CA its clients were told to trust."""
    cert_file, key_file = directory / "ca.pem", directory / "ca-key.pem"
    if cert_file.exists() and key_file.exists():
        return trustme.CA.from_pem(cert_file.read_bytes(), key_file.read_bytes())
    ca = trustme.CA(organization_name=organization)
    write_private(key_file, ca.private_key_pem.bytes())
    write_private(cert_file, ca.cert_pem.bytes())  # the lab's: its owner's
    return ca


class Listener:
    """An `HttpsServer`, bound at once and serving from `start()` in a daemon thread, with a
    certificate from `ca` for the address, 127.0.0.1 and localhost; `url` is
    "https://ADDRESS:PORT" (IPv6 in brackets).

    Args:
        ca: the CA that issues the server's certificate.
        address: the IP address to bind.
        port: the port, 0 for a free one.
        answer: answers each request.
        name: the emulator's name (log lines, the thread's name).
        ensure_ascii: see `HttpsServer`.
        content_type: see `HttpsServer`.
    """

    def __init__(self, ca: trustme.CA, address: str, port: int, answer: Answer, name: str, *,
                 ensure_ascii: bool = True, content_type: str = JSON_TYPE) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        ca.issue_cert(*dict.fromkeys([address, "127.0.0.1", "localhost"]),
                      common_name=address).configure_cert(tls)
        self.server = HttpsServer((address, port), answer, tls, family, name=name,
                                  content_type=content_type, ensure_ascii=ensure_ascii)
        host = f"[{address}]" if family == socket.AF_INET6 else address
        self.url = f"https://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=name.lower().replace(" ", "-"), daemon=True)

    def start(self) -> Listener:
        """Serve (the port is bound, and `url` known, from the start); returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the connections still open."""
        self.server.shutdown()
        self.server.server_close()
        with self.server.connections_lock:
            for connection in list(self.server.connections):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
