"""EmulatorControl: the test levers of a Graph emulator in another process, over HTTPS.

The methods mirror GraphEmulator's (add_tenant, inject, sync_hybrid, set_group_licences,
set_seats, expire_deltas, writes) and call its /_emulator/ control surface, which takes the
emulator's client secret as a bearer token (`ssc_infra_lab.emulator_control`). A refused call
raises ValueError with the emulator's message, as the in-process method would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ssc_infra_lab.emulator_control import ControlClient
from ssc_infra_lab.graph_emulator.model import DEFAULT_SKUS, Fault, Sku


class EmulatorControl(ControlClient):
    """Drive a running Graph emulator (the lab's, say) through its control surface.

    Args:
        url: the emulator's URL (emulator.json's "url").
        ca_file: its test CA (emulator.json's "ca_file").
        secret: its client secret (the directory's client-secret file).
        timeout: seconds per call.
    """

    name = "Graph emulator"
    module = "ssc_infra_lab.graph_emulator"
    secret_file = "client-secret"

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
