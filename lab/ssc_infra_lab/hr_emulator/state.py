"""The HR emulator's state behind its HTTPS server: the AFAS environments and Raet tenants (each
a *source*, named by its environment number or tenant id), their people, the tokens issued,
and the levers set on each; and what a test or the lab does to them (seed a source, add,
change or remove a person, pull a lever). Every change takes the one lock requests are
answered under.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ssc_infra_lab.hr_emulator.afas import (
    DEFAULT_CONNECTOR,
    EMPLOYEE,
    AfasEnvironment,
    rows_json,
    token_data,
)
from ssc_infra_lab.hr_emulator.levers import Levers, LeverState
from ssc_infra_lab.hr_emulator.raet import RaetTenant, Tokens
from ssc_infra_lab.hr_emulator.seeding import RaetData, afas_rows, raet_tenant

AFAS, RAET = "afas", "visma-raet"
_ENVIRONMENT = re.compile(r"[A-Za-z0-9]{1,16}")
_TENANT = re.compile(r"[A-Za-z0-9-]{1,64}")
_CONNECTOR = re.compile(r"[A-Za-z0-9_]{1,64}")
_RESERVED = frozenset({"connect", "iam", "extensions"})  # the first segments of Raet's paths


class HrState:
    """The sources, their levers and the tokens of `HrEmulator` (its Args say what these are).
    """

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._lock = threading.RLock()
        self._afas: dict[str, AfasEnvironment] = {}
        self._raet: dict[str, RaetTenant] = {}
        self._levers: dict[str, LeverState] = {}
        self._tokens = Tokens(clock)
        self._url = ""  # what HrEmulator.start() serves; status() shows it
        self.token_requests = 0
        """Raet token requests received."""

    # ---- sources -------------------------------------------------------------------------

    def set_afas_environment(self, environment: str, token: str,
                             rows: Sequence[Mapping[str, Any]] = (),
                             connector: str = DEFAULT_CONNECTOR, *,
                             keep_people: bool = False) -> None:
        """Serve an AFAS environment (or set it anew): its token and its connector's rows.

        Args:
            environment: the environment number (the first segment of its base URL).
            token: the token, as AFAS gives it (`afas_token(data)`) or only its data.
            rows: the connector's rows (`afas_rows(people)`, or rows made by hand: a row may
                hold fields the SSC's connector lacks).
            connector: the GetConnector's id.
            keep_people: an environment served already keeps its rows (a lab emulator
                found running keeps what was changed in it); token and connector are set.

        Raises:
            ValueError: a bad environment number, connector id or token, or a Raet tenant
                of that name.
        """
        if not _ENVIRONMENT.fullmatch(environment) or environment.lower() in _RESERVED:
            raise ValueError(f"AFAS environment {environment!r}: 1-16 letters and digits "
                             f"(not {', '.join(sorted(_RESERVED))})")
        if not _CONNECTOR.fullmatch(connector):
            raise ValueError(f"connector {connector!r}: 1-64 letters, digits and _")
        data, copied = token_data(token), rows_json(rows)
        with self._lock:
            self._not_other(environment, self._raet, "a Raet tenant")
            existing = self._afas.get(environment)
            keep = existing.rows if existing is not None and keep_people else copied
            self._afas[environment] = AfasEnvironment(data, connector, keep)
            self._levers.setdefault(environment, LeverState())

    def set_raet_tenant(self, tenant_id: str, client_id: str, client_secret: str,
                        data: RaetData | None = None, *, keep_people: bool = False) -> None:
        """Serve a Raet tenant (or set it anew): its API user's client and its data.

        Args:
            tenant_id: the tenant id the token request names.
            client_id, client_secret: the API user's client credentials.
            data: the tenant's data (`raet_tenant(people)`); None: none.
            keep_people: a tenant served already keeps its data; the client is set.

        Raises:
            ValueError: a bad tenant id, an empty client id or secret, or an AFAS
                environment of that name.
        """
        if not _TENANT.fullmatch(tenant_id) or tenant_id.lower() in _RESERVED:
            raise ValueError(f"Raet tenant {tenant_id!r}: 1-64 letters, digits and -")
        if not client_id or not client_secret:
            raise ValueError(f"Raet tenant {tenant_id}: a client id and secret are needed")
        with self._lock:
            self._not_other(tenant_id, self._afas, "an AFAS environment")
            existing = self._raet.get(tenant_id)
            kept = existing.data if existing is not None and keep_people else None
            self._raet[tenant_id] = RaetTenant(client_id, client_secret, kept if kept
                                               is not None else data or RaetData())
            self._levers.setdefault(tenant_id, LeverState())

    def _not_other(self, name: str, other: Mapping[str, object], what: str) -> None:
        if name in other:
            raise ValueError(f"{name} is {what} of this emulator already: each AFAS "
                             "environment and Raet tenant needs a name of its own")

    def sources(self) -> dict[str, str]:
        """Every source's name with its system ("afas" or "visma-raet")."""
        with self._lock:
            return {**dict.fromkeys(self._afas, AFAS), **dict.fromkeys(self._raet, RAET)}

    def _system(self, source: str) -> str:
        system = self.sources().get(source)
        if system is None:
            raise ValueError(f"the HR emulator has no AFAS environment or Raet tenant "
                             f"{source!r}; set it first (set_afas_environment, "
                             "set_raet_tenant)")
        return system

    # ---- people --------------------------------------------------------------------------

    def afas_rows_of(self, environment: str) -> list[dict[str, Any]]:
        """A copy of the environment's connector rows."""
        with self._lock:
            if self._system(environment) != AFAS:
                raise ValueError(f"{environment} is a Raet tenant, not an AFAS environment")
            return [dict(r) for r in self._afas[environment].rows]

    def raet_data_of(self, tenant_id: str) -> RaetData:
        with self._lock:
            if self._system(tenant_id) != RAET:
                raise ValueError(f"{tenant_id} is an AFAS environment, not a Raet tenant")
            return self._raet[tenant_id].data

    def add_person(self, source: str, row: Mapping[str, str]) -> None:
        """A person joins: their inventory-shaped people row, in the source's own shape.

        Raises:
            ValueError: no such source, the person is there already, or a bad row.
        """
        with self._lock:
            code = _employee(row)
            if code in self._people(source):
                raise ValueError(f"{source} has employee {code} already: change_person "
                                 "changes them")
            self._replace(source, "", row)

    def change_person(self, source: str, row: Mapping[str, str]) -> None:
        """The person of the row's employee_id is now as the row says (an AFAS person's
        rows, all their contracts, become the row's one; a Raet person comes last).

        Raises:
            ValueError: no such source or person, or a bad row.
        """
        with self._lock:
            code = _employee(row)
            self._known(source, code)
            self._replace(source, code, row)

    def remove_person(self, source: str, employee_id: str) -> None:
        """The person is gone from the source (every contract, every record).

        Raises:
            ValueError: no such source or person.
        """
        with self._lock:
            self._known(source, employee_id)
            self._replace(source, employee_id, None)

    def _people(self, source: str) -> list[str]:
        if self._system(source) == AFAS:
            return self._afas[source].people()
        return self._raet[source].data.person_codes()

    def _known(self, source: str, employee_id: str) -> None:
        if employee_id not in self._people(source):
            raise ValueError(f"{source} has no employee {employee_id!r}")

    def _replace(self, source: str, employee_id: str, row: Mapping[str, str] | None) -> None:
        """The employee's records (none for "") replaced by the row's (none for None)."""
        if self._system(source) == AFAS:
            environment = self._afas[source]
            rows = environment.rows
            theirs = [i for i, r in enumerate(rows)
                      if employee_id and str(r.get(EMPLOYEE)) == employee_id]
            at = theirs[0] if theirs else len(rows)  # a changed person keeps their place
            kept = [r for i, r in enumerate(rows) if i not in theirs]
            added = afas_rows([row]) if row is not None else []
            environment.rows = kept[:at] + added + kept[at:]
            return
        tenant = self._raet[source]
        data = tenant.data.without(employee_id) if employee_id else tenant.data
        tenant.data = data.merged(raet_tenant([row])) if row is not None else data

    # ---- levers --------------------------------------------------------------------------

    def set_levers(self, source: str, levers: Levers | None = None) -> None:
        """Set the source's levers (None or Levers(): none); the busy answers and cut pages
        are counted anew."""
        with self._lock:
            self._system(source)
            self._levers[source].set(levers or Levers())

    def levers(self, source: str) -> Levers:
        with self._lock:
            self._system(source)
            return self._levers[source].levers

    def requests(self, source: str) -> int:
        """The data requests the source received (Raet token requests not counted)."""
        with self._lock:
            self._system(source)
            return self._levers[source].requests

    def expire_tokens(self, tenant_id: str) -> None:
        """Every token of the Raet tenant issued so far answers 401 from now on."""
        with self._lock:
            if self._system(tenant_id) != RAET:
                raise ValueError(f"{tenant_id} is an AFAS environment: it has no tokens")
            self._tokens.expire(tenant_id)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"emulator": "ssc-infra HR systems emulator (AFAS Profit, Visma Raet; not "
                                "a real HR system)",
                    "url": self._url, "token_requests": self.token_requests,
                    "sources": {name: {"system": system, "people": len(self._people(name)),
                                       **self._levers[name].status()}
                                for name, system in self.sources().items()}}


def _employee(row: Mapping[str, str]) -> str:
    code = str(row.get("employee_id") or "").strip()
    if not code:
        raise ValueError("a people row without employee_id")
    return code
