"""The HR emulator's server, `HrEmulator`: its files (the throwaway CA, the control secret), its
URLs and its lifecycle. It answers requests as `routing` says, over the lab's emulator HTTPS
server (`ssc_infra_lab.emulator_server`).

One lock guards all state and every answer is made under it; only a slow page's wait (the
`slow_page` lever) is spent outside it, so one slow page does not hold up other requests.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ssc_infra.state.folder import private_dir, write_private
from ssc_infra_lab.emulator_server import Listener, load_ca
from ssc_infra_lab.hr_emulator.control import HrControl
from ssc_infra_lab.hr_emulator.raet import TOKEN_PATH
from ssc_infra_lab.hr_emulator.routing import HrRouting
from ssc_infra_lab.process import is_loopback

_log = logging.getLogger("ssc_infra_lab.hr_emulator")


class HrEmulator(HrRouting):
    """An EMULATOR of two HR systems' APIs on a loopback HTTPS port, for the lab and tests:
    AFAS Profit's GetConnector (any number of environments) and Visma Raet's YouForce IAM API
    (any number of tenants). Never a production target; nothing is kept when it stops (the
    lab seeds it anew from its inventory).

    Args:
        directory: its folder (0700): ca.pem (the test CA clients trust), ca-key.pem and
            control-secret (the bearer token of its /_emulator/ control surface), each 0600.
        address: the loopback address to bind; nothing else is accepted.
        port: the port, 0 for a free one.
        clock: the clock Raet's tokens expire by (a fake one makes expiry tests instant).
    """

    def __init__(self, directory: Path, address: str = "127.0.0.1", port: int = 0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not is_loopback(address):
            raise ValueError(f"the HR emulator binds only to a loopback IP address, not "
                             f"{address!r}")
        super().__init__(clock=clock)
        self.directory = private_dir(Path(directory))
        self.address, self.port = address, port
        self._listener: Listener | None = None
        self._stopping = threading.Event()
        self._ca = load_ca(self.directory, "ssc-infra HR emulator test CA")
        secret_file = self.directory / HrControl.secret_file
        if not secret_file.exists():
            write_private(secret_file, secrets.token_urlsafe(32) + "\n")
        self.control_secret = secret_file.read_text(encoding="utf-8").strip()

    @property
    def ca_file(self) -> Path:
        """The PEM of the test CA that issued the emulator's certificate."""
        return self.directory / "ca.pem"

    @property
    def control_secret_file(self) -> Path:
        return self.directory / HrControl.secret_file

    @property
    def url(self) -> str:
        """"https://127.0.0.1:PORT": Raet's API base, and the root of AFAS's environments."""
        if not self._url:
            raise RuntimeError("the HR emulator has no URL before start()")
        return self._url

    def afas_url(self, environment: str) -> str:
        """An AFAS environment's base URL (production: https://{environment}.rest.afas.online);
        its connectors are under {base}/ProfitRestServices/connectors/."""
        return f"{self.url}/{environment}"

    @property
    def raet_url(self) -> str:
        """Raet's API base (production: https://api.youforce.com)."""
        return self.url

    @property
    def raet_token_url(self) -> str:
        """Raet's token endpoint (client credentials)."""
        return self.url + TOKEN_PATH

    def start(self) -> HrEmulator:
        """Listen and serve in a daemon thread; returns self."""
        if self._listener is not None:
            raise RuntimeError("the HR emulator is already started")
        listener = Listener(self._ca, self.address, self.port, self._answer, "HR emulator",
                            ensure_ascii=False)
        self._url = listener.url
        self._stopping.clear()
        self._listener = listener.start()
        _log.info("HR systems emulator (not AFAS or Visma Raet) listening on %s", self._url)
        return self

    def stop(self) -> None:
        """Stop serving (a slow page still waiting is answered at once) and close open
        connections."""
        listener, self._listener = self._listener, None
        if listener is None:
            return
        self._stopping.set()
        listener.stop()
        _log.info("HR emulator on %s stopped", self._url)

    def __enter__(self) -> HrEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
