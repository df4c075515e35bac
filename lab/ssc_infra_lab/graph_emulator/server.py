"""The emulator's server, `GraphEmulator`: its files (the throwaway CA, the app's client id and
secret, state.json), TLS and its lifecycle (start, stop, the thread writing state.json). It
answers requests as `routing` says, over the lab's emulator HTTPS server
(`ssc_infra_lab.emulator_server`), with the tenants and the levers of `emulation`.

One lock guards all state; every Graph request (a whole $batch included) runs under it, so the
emulator answers one request at a time however many connections are open. That is far below
Graph's throughput and enough for tests and the lab.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ssc_infra_lab.emulator_server import Listener, load_ca
from ssc_infra_lab.graph_emulator.api import GraphApi
from ssc_infra_lab.graph_emulator.login import Login
from ssc_infra_lab.graph_emulator.model import JSON_TYPE
from ssc_infra_lab.graph_emulator.routing import Routing
from ssc_infra_lab.graph_emulator.tenant import Tenant
from ssc_infra_lab.process import is_loopback

_log = logging.getLogger("ssc_infra_lab.graph_emulator")
STATE_FORMAT = 1


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (0600), replacing it whole."""
    partial = path.with_name(path.name + ".partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    partial.chmod(0o600)
    partial.replace(path)


class GraphEmulator(Routing):
    """A stateful Microsoft Graph EMULATOR on a loopback HTTPS port, for the lab and tests.

    Never a production target: it stands in for Graph v1.0's directory (users, groups,
    members, licences, delta, $batch) and for the identity platform's client-credentials
    login, for tenants that exist only in its memory and in `directory/state.json`.

    Args:
        directory: its folder (0700): ca.pem (the test CA clients trust) and ca-key.pem,
            client-secret, client-id, state.json (loaded when present); every file 0600.
        address: the loopback address to bind; nothing else is accepted.
        port: the port, 0 for a free one.
        write_limit: writes (POST/PATCH/PUT/DELETE, each sub-request of a $batch counted)
            allowed per tenant within `write_window` seconds; more are answered 429.
        write_window: the sliding window of that limit, in seconds of `clock`.
        page_size: the page size of lists and delta rounds without $top.
        clock: the clock of the write window (a fake one makes throttling tests instant).
        seed: the seed of the order in which $batch answers are shuffled.
    """

    def __init__(self, directory: Path, address: str = "127.0.0.1", port: int = 0, *,
                 write_limit: int = 3000, write_window: float = 150.0, page_size: int = 100,
                 clock: Callable[[], float] = time.monotonic, seed: int = 0) -> None:
        if not is_loopback(address):
            raise ValueError(f"the Graph emulator binds only to a loopback IP address, not "
                             f"{address!r}")
        if write_limit < 1 or write_window <= 0 or not 1 <= page_size <= 999:
            raise ValueError("write_limit >= 1, write_window > 0 and 1 <= page_size <= 999")
        super().__init__(write_limit=write_limit, write_window=write_window, clock=clock,
                         seed=seed)
        self.directory = Path(directory)
        self.address, self.port = address, port
        self._page_size = page_size
        self._listener: Listener | None = None
        self._flusher = threading.Thread()
        self._stopping = threading.Event()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._ca = load_ca(self.directory, "ssc-infra Graph emulator test CA")
        self.client_secret = self._load_text("client-secret", lambda: secrets.token_urlsafe(32))
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

    def _load_text(self, name: str, make: Callable[[], str]) -> str:
        path = self.directory / name
        if path.exists():
            return path.read_text(encoding="utf-8").strip()
        value = make()
        write_private(path, value + "\n")
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
        if self._listener is not None:
            raise RuntimeError("the Graph emulator is already started")
        listener = Listener(self._ca, self.address, self.port, self._answer, "Graph emulator",
                            content_type=JSON_TYPE)
        self._url = listener.url
        self._api = GraphApi(self._url, self._page_size)
        self._login = Login(self.client_id, self.client_secret, self._url, self._url,
                            self._tenant_of)
        self._listener = listener.start()
        self._stopping.clear()
        self._flusher = threading.Thread(target=self._flush_loop, name="graph-emulator-state",
                                         daemon=True)
        self._flusher.start()
        _log.info("Microsoft Graph emulator (not a Microsoft 365 tenant) listening on %s",
                  self._url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and write state.json."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        listener.stop()
        self._stopping.set()
        self._flusher.join(timeout=5)
        self._save()
        _log.info("Microsoft Graph emulator on %s stopped", self._url)

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
