"""A lab emulator's control surface (`/_emulator/...` over its HTTPS, its secret as a bearer
token), both sides: `control_answer` answers it in the emulator, `ControlClient` calls it from
another process; what the Graph emulator and the HR emulator share. A call the emulator refuses
(400) raises ValueError in the client with the emulator's message, as the in-process method
would; an emulator that cannot be reached or answers otherwise raises BackendError.
"""

from __future__ import annotations

import hmac
import json
import ssl
from collections.abc import Callable, Mapping
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote

import httpx

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.emulator_process import INFO
from ssc_infra_lab.emulator_server import Reply

PREFIX = "/_emulator"
ControlCall = Callable[[str, list[str], dict[str, Any]], Reply]
"""(method, the path's segments after /_emulator, the JSON body) -> the reply."""


def is_control(path: str) -> bool:
    """Is the request's path the control surface's?"""
    return path == PREFIX or path.startswith(PREFIX + "/")


def control_answer(method: str, path: str, headers: Message, body: bytes, secret: str,
                   name: str, call: ControlCall) -> Reply:
    """Answer a control request: 401 without the secret (`Authorization: Bearer <secret>` or
    `X-Emulator-Secret`), else what `call` gives; a KeyError, ValueError or TypeError it
    raises is a 400 with its message.

    Args:
        name: the emulator's name in the messages ("Graph emulator").
    """
    scheme, _, bearer = (headers.get("Authorization") or "").partition(" ")
    supplied = headers.get("X-Emulator-Secret") or (bearer if scheme.lower() == "bearer"
                                                    else "")
    if not hmac.compare_digest(supplied.strip().encode(), secret.encode()):
        return control_error(401, "EmulatorUnauthorized", f"The {name}'s control surface "
                             "needs its secret (Authorization: Bearer <secret> or "
                             "X-Emulator-Secret).")
    parts = [unquote(p) for p in path.strip("/").split("/")[1:]]
    try:
        data = json.loads(body) if body.strip() else {}
        if not isinstance(data, dict):
            raise ValueError("the body must be a JSON object")
        return call(method, parts, data)
    except KeyError as e:
        return control_error(400, "EmulatorBadRequest", f"missing field {e}")
    except (ValueError, TypeError) as e:
        return control_error(400, "EmulatorBadRequest", str(e))


def control_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": code, "message": message}})


def no_operation(name: str, method: str, parts: list[str]) -> Reply:
    """The 404 of a control path the emulator does not know."""
    return control_error(404, "EmulatorNotFound", f"The {name} has no control operation "
                         f"{method} {PREFIX}/{'/'.join(parts)}.")


class ControlClient:
    """Calls to a running emulator's control surface.

    Args:
        url: the emulator's URL.
        ca_file: its test CA.
        secret: its control secret.
        timeout: seconds per call.
    """

    name = "emulator"
    """How messages name the emulator ("the Graph emulator at URL ...")."""
    module = ""
    """The package run as `python -m` (for the hint when none is running)."""
    secret_file = ""
    """The file in the emulator's directory that holds its control secret."""

    def __init__(self, url: str, ca_file: Path | str, secret: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        # trust_env=False: this machine's REQUESTS_CA_BUNDLE and proxies must not apply here
        self._client = httpx.Client(
            base_url=self.url, verify=ssl.create_default_context(cafile=str(ca_file)),
            trust_env=False, timeout=timeout, headers={"Authorization": f"Bearer {secret}"})

    @classmethod
    def from_directory(cls, directory: Path) -> Self:
        """Control the emulator running with --dir DIRECTORY (its emulator.json, its secret
        file)."""
        info_file = Path(directory) / INFO
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
            secret = (Path(directory) / cls.secret_file).read_text(encoding="utf-8").strip()
            return cls(str(info["url"]), str(info["ca_file"]), secret)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BackendError(f"{info_file}: no running {cls.name} found ({e}); start one "
                               f"with: python -m {cls.module} --dir {directory}") from e

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """What the emulator says of itself: its URL, what it holds, its counters."""
        result: dict[str, Any] = self._call("GET", "/status")
        return result

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, f"{PREFIX}{path}", json=payload)
        except httpx.HTTPError as e:
            raise BackendError(f"the {self.name} at {self.url} cannot be reached ({e}); is "
                               "it running?") from e
        if response.status_code == 400:
            raise ValueError(response.json()["error"]["message"])
        if response.status_code != 200:
            raise BackendError(f"the {self.name} at {self.url} answered "
                               f"{response.status_code} to {method} {PREFIX}{path}: "
                               f"{response.text[:300]}")
        return response.json()
