"""The emulator's HTTPS transport: a threading HTTP server whose connections are TLS, and the
handler that reads one request (its body by Content-Length or chunked) and writes its `Reply`
as JSON. What the reply is, the server's `answer` says.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from ssc_infra_lab.graph_emulator.api import Reply
from ssc_infra_lab.graph_emulator.model import JSON_TYPE

_log = logging.getLogger("ssc_infra_lab.graph_emulator")
Answer = Callable[[str, str, Message, bytes], Reply | None]
"""(method, target, headers, body) -> the reply, or None for no answer (the connection closes)."""


class HttpsServer(ThreadingHTTPServer):
    """Serves on `address` over TLS (`tls`), each request answered by `answer`; it keeps its
    open connections (`connections`, under `connections_lock`) so that a stop can close them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], answer: Answer,
                 tls: ssl.SSLContext, family: socket.AddressFamily) -> None:
        self.address_family = family
        self.answer = answer
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
