"""HrControl: the HR emulator in another process (the lab's), driven over HTTPS.

The methods mirror HrEmulator's (set_afas_environment, set_raet_tenant, add_person,
change_person, remove_person, set_levers, expire_tokens, status) and call its /_emulator/
control surface, which takes the control secret (DIR/control-secret) as a bearer token. A
refused call raises ValueError with the emulator's message, as the in-process method would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from ssc_infra_lab.emulator_control import ControlClient
from ssc_infra_lab.hr_emulator.afas import DEFAULT_CONNECTOR
from ssc_infra_lab.hr_emulator.levers import Levers
from ssc_infra_lab.hr_emulator.seeding import RaetData


class HrControl(ControlClient):
    """Drive a running HR emulator through its control surface (`ControlClient`'s Args; the
    secret is DIR/control-secret's). Its `status()` gives, per source, the system, the number
    of people, the levers and the requests received."""

    name = "HR emulator"
    module = "ssc_infra_lab.hr_emulator"
    secret_file = "control-secret"

    def set_afas_environment(self, environment: str, token: str,
                             rows: Sequence[Mapping[str, Any]] = (),
                             connector: str = DEFAULT_CONNECTOR, *,
                             keep_people: bool = False) -> None:
        self._call("PUT", f"/afas/{quote(environment, safe='')}",
                   {"token": token, "rows": [dict(r) for r in rows], "connector": connector,
                    "keep_people": keep_people})

    def set_raet_tenant(self, tenant_id: str, client_id: str, client_secret: str,
                        data: RaetData | None = None, *, keep_people: bool = False) -> None:
        self._call("PUT", f"/raet/{quote(tenant_id, safe='')}",
                   {"client_id": client_id, "client_secret": client_secret,
                    "data": (data or RaetData()).to_json(), "keep_people": keep_people})

    def add_person(self, source: str, row: Mapping[str, str]) -> None:
        self._call("POST", f"/sources/{quote(source, safe='')}/people", {"row": dict(row)})

    def change_person(self, source: str, row: Mapping[str, str]) -> None:
        if not str(row.get("employee_id") or "").strip():
            raise ValueError("a people row without employee_id")
        self._call("PUT", f"/sources/{quote(source, safe='')}/people/"
                          f"{quote(str(row.get('employee_id', '')), safe='')}",
                   {"row": dict(row)})

    def remove_person(self, source: str, employee_id: str) -> None:
        self._call("DELETE", f"/sources/{quote(source, safe='')}/people/"
                             f"{quote(employee_id, safe='')}")

    def set_levers(self, source: str, levers: Levers | None = None) -> None:
        self._call("PUT", f"/sources/{quote(source, safe='')}/levers",
                   (levers or Levers()).to_json())

    def expire_tokens(self, tenant_id: str) -> None:
        self._call("POST", f"/sources/{quote(tenant_id, safe='')}/expire-tokens", {})
