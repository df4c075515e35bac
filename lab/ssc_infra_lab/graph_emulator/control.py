"""EmulatorControl: the test levers of a Graph emulator in another process, over HTTPS.

The methods mirror GraphEmulator's (add_tenant, inject, sync_hybrid, set_group_licences,
set_seats, expire_deltas, writes) and call its /_emulator/ control surface, which takes the
emulator's client secret as a bearer token. A refused call raises ValueError with the
emulator's message, as the in-process method would.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.graph_emulator.model import DEFAULT_SKUS, Fault, Sku


class EmulatorControl:
    """Drive a running Graph emulator (the lab's, say) through its control surface.

    Args:
        url: the emulator's URL (emulator.json's "url").
        ca_file: its test CA (emulator.json's "ca_file").
        secret: its client secret (the directory's client-secret file).
        timeout: seconds per call.
    """

    def __init__(self, url: str, ca_file: Path | str, secret: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        # trust_env=False: this machine's REQUESTS_CA_BUNDLE and proxies must not apply here
        self._client = httpx.Client(
            base_url=self.url, verify=ssl.create_default_context(cafile=str(ca_file)),
            trust_env=False, timeout=timeout, headers={"Authorization": f"Bearer {secret}"})

    @classmethod
    def from_directory(cls, directory: Path) -> EmulatorControl:
        """Control the emulator whose `main()` runs with --dir DIRECTORY."""
        info_file = Path(directory) / "emulator.json"
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
            secret = (Path(directory) / "client-secret").read_text(encoding="utf-8").strip()
        except (OSError, ValueError) as e:
            raise BackendError(f"{info_file}: no running Graph emulator found ({e}); start one "
                               f"with: python -m ssc_infra_lab.graph_emulator --dir {directory}") \
                from e
        return cls(str(info["url"]), str(info["ca_file"]), secret)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self._client.request(method, f"/_emulator{path}", json=payload)
        except httpx.HTTPError as e:
            raise BackendError(f"the Graph emulator at {self.url} cannot be reached ({e}); is "
                               "it running?") from e
        if response.status_code == 400:
            raise ValueError(response.json()["error"]["message"])
        if response.status_code != 200:
            raise BackendError(f"the Graph emulator at {self.url} answered "
                               f"{response.status_code} to {method} /_emulator{path}: "
                               f"{response.text[:300]}")
        return response.json()

    def status(self) -> dict[str, Any]:
        """The emulator's URL, tenants and request counters."""
        result: dict[str, Any] = self._call("GET", "/status")
        return result

    def add_tenant(self, tenant_id: str, domains: Sequence[str],
                   skus: Sequence[Sku] = DEFAULT_SKUS) -> None:
        self._call("POST", "/tenants", {"tenant_id": tenant_id, "domains": list(domains),
                                        "skus": [s.to_json() for s in skus]})

    def inject(self, tenant_id: str, fault: Fault) -> None:
        self._call("POST", f"/tenants/{tenant_id}/faults", fault.to_json())

    def sync_hybrid(self, tenant_id: str, users: Sequence[Mapping[str, Any]],
                    groups: Sequence[Mapping[str, Any]]) -> None:
        self._call("POST", f"/tenants/{tenant_id}/sync",
                   {"users": [dict(u) for u in users], "groups": [dict(g) for g in groups]})

    def set_group_licences(self, tenant_id: str, group_display_name: str,
                           sku_part_numbers: Sequence[str]) -> None:
        self._call("POST", f"/tenants/{tenant_id}/group-licences",
                   {"group": group_display_name, "skus": list(sku_part_numbers)})

    def set_seats(self, tenant_id: str, sku_part_number: str, seats: int) -> None:
        self._call("POST", f"/tenants/{tenant_id}/seats", {"sku": sku_part_number,
                                                           "seats": seats})

    def sign_in(self, tenant_id: str, upn: str, when: str) -> None:
        """The user signed in at `when` (ISO 8601, UTC): signInActivity says so."""
        self._call("POST", f"/tenants/{tenant_id}/sign-in", {"upn": upn, "when": when})

    def expire_deltas(self, tenant_id: str) -> None:
        self._call("POST", f"/tenants/{tenant_id}/expire-deltas", {})

    def writes(self, tenant_id: str) -> list[tuple[str, str]]:
        answer = self._call("GET", f"/tenants/{tenant_id}/writes")
        return [(str(m), str(p)) for m, p in answer["writes"]]
