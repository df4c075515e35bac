"""Headless Chromium for the tests, driven over the Chrome DevTools Protocol (CDP).

Debian's `chromium` runs headless with a fresh profile on a free loopback port; a small
WebSocket client (RFC 6455, enough for CDP: text frames, masked from the client, large
messages, ping) sends commands and collects events. No browser is downloaded and no Python
package is needed. A page is loaded and what a reader sees is taken from it: the console
errors and warnings (CSP violations among them), uncaught exceptions, the requests it made,
its text, and a screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import secrets
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = "chromium"
INSTALL = "apt-get install -y chromium"
# On this closed network, Chromium stalls on its own background traffic without these.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--mute-audio",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0")
START_SECONDS = 30.0


class ChromiumError(Exception):
    """Chromium did not start, or did not answer as CDP says."""


def find_chromium() -> str | None:
    return shutil.which(CHROMIUM) or shutil.which("chromium-browser")


@dataclass
class PageLoad:
    """What loading one page gave."""

    console: list[dict[str, Any]] = field(default_factory=list)  # level, text, source
    exceptions: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    dialogs: list[str] = field(default_factory=list)  # alert(), confirm(): a script ran

    @property
    def errors(self) -> list[dict[str, Any]]:
        """Console messages at level error or warning, and uncaught exceptions."""
        found = [m for m in self.console if m["level"] in ("error", "warning")]
        return found + [{"level": "exception", "text": e, "source": "js"}
                        for e in self.exceptions]


class WebSocket:
    """A minimal WebSocket client over a plain TCP socket (ws://, loopback only)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80),
                                             timeout=timeout)
        key = base64.b64encode(secrets.token_bytes(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ChromiumError("the DevTools socket closed during the handshake")
            head += chunk
        status, _, rest = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise ChromiumError(f"no WebSocket upgrade: {status[:200]!r}")
        self.buffer = rest

    def send(self, text: str) -> None:
        payload = text.encode()
        mask = secrets.token_bytes(4)
        size = len(payload)
        if size < 126:
            header = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(max(65536, count - len(self.buffer)))
            if not chunk:
                raise ChromiumError("the DevTools socket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def receive(self) -> str:
        """The next whole text message (fragments joined; pings answered)."""
        parts: list[bytes] = []
        while True:
            first, second = self._read(2)
            opcode, size = first & 0x0F, second & 0x7F
            if size == 126:
                size = struct.unpack("!H", self._read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if second & 0x80 else b""
            payload = self._read(size)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x8:
                raise ChromiumError("the DevTools socket was closed by Chromium")
            if opcode == 0x9:  # ping: answer with the same payload
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + b"\0" * 4
                                  + payload)
                continue
            if opcode in (0x1, 0x2, 0x0):
                parts.append(payload)
                if first & 0x80:
                    return b"".join(parts).decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Page:
    """One page target of a running Chromium, driven over CDP."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        wanted = self.next_id
        self.ws.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.receive())
            if message.get("id") == wanted:
                if "error" in message:
                    raise ChromiumError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for message in self.events:
            if message["method"] == event:
                return message
        self.ws.sock.settimeout(timeout)
        while time.monotonic() < deadline:
            message = dict(json.loads(self.ws.receive()))
            if "method" in message:
                self.events.append(message)
                if message["method"] == event:
                    return message
        raise ChromiumError(f"no {event} within {timeout} s")

    def load(self, url: str, width: int = 1280, height: int = 900) -> PageLoad:
        """Open `url` and wait for its load event, then for the console to settle."""
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)
        self.events.clear()
        result = self.call("Page.navigate", url=url)
        if result.get("errorText"):
            raise ChromiumError(f"cannot open {url}: {result['errorText']}")
        self.wait_for("Page.loadEventFired")
        self.call("Runtime.evaluate", expression="1")  # drains what came before it
        return self._findings()

    def _findings(self) -> PageLoad:
        found = PageLoad()
        for message in self.events:
            method, params = message["method"], message.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", "")))
                                for a in params.get("args", []))
                found.console.append({"level": params.get("type", ""), "text": text,
                                      "source": "console-api"})
            elif method == "Log.entryAdded":
                entry = params.get("entry", {})
                found.console.append({"level": entry.get("level", ""),
                                      "text": entry.get("text", ""),
                                      "source": entry.get("source", "")})
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.exceptions.append(str(details.get("exception", {}).get(
                    "description", details.get("text", ""))))
            elif method == "Network.requestWillBeSent":
                found.requests.append(str(params.get("request", {}).get("url", "")))
            elif method == "Page.javascriptDialogOpening":
                found.dialogs.append(str(params.get("message", "")))
        return found

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise ChromiumError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, height: int | None = None) -> Path:
        """A PNG of the page, `height` pixels of it from the top (default: all of it)."""
        metrics = self.call("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        width = int(size["width"])
        full = int(size["height"])
        clip = {"x": 0, "y": 0, "width": width, "height": min(full, height or full), "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip,
                         captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


@contextlib.contextmanager
def chromium(binary: str | None = None) -> Iterator[Page]:
    """A headless Chromium with a fresh profile, on a free loopback port; its first page."""
    binary = binary or find_chromium()
    if binary is None:
        raise ChromiumError(f"no chromium on PATH ({INSTALL})")
    profile = Path(tempfile.mkdtemp(prefix="ssc-chromium-"))
    process = subprocess.Popen(
        [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ws: WebSocket | None = None
    try:
        port = _port(profile, process)
        ws = WebSocket(_page_url(port))
        yield Page(ws)
    finally:
        if ws is not None:
            ws.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(profile, ignore_errors=True)


def _port(profile: Path, process: subprocess.Popen[bytes]) -> int:
    """The DevTools port Chromium chose: the first line of DevToolsActivePort."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace")[-2000:] \
                if process.stderr else ""
            raise ChromiumError(f"chromium exited with {process.returncode}: {err}")
        with contextlib.suppress(OSError, ValueError):
            lines = marker.read_text().splitlines()
            if lines:
                return int(lines[0])
        time.sleep(0.1)
    raise ChromiumError(f"chromium did not open its DevTools port within {START_SECONDS} s")


def _page_url(port: int) -> str:
    """The WebSocket URL of the page Chromium opened (about:blank)."""
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            connection.request("GET", "/json/list")
            targets = json.loads(connection.getresponse().read())
        except (OSError, ValueError):
            targets = []
        finally:
            connection.close()
        pages = [t for t in targets if t.get("type") == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.1)
    raise ChromiumError("chromium lists no page to drive")

