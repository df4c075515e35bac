"""The emulator's state behind its HTTPS server: the tenants, the faults waiting for each, the
sliding window and the log of each tenant's writes, the counters; and the levers a test pulls
on them (add a tenant, inject a fault, an Entra Connect cycle, licences, seats, expire deltas).
Every lever takes the one lock the requests are answered under.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ssc_infra_lab.graph_emulator.model import DEFAULT_SKUS, Fault, Sku
from ssc_infra_lab.graph_emulator.tenant import Tenant


class Emulation:
    """The state and the levers of `GraphEmulator` (its Args say what these are)."""

    def __init__(self, *, write_limit: int, write_window: float, clock: Callable[[], float],
                 seed: int) -> None:
        self._write_limit, self._write_window = write_limit, write_window
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.RLock()
        self._tenants: dict[str, Tenant] = {}
        self._faults: dict[str, list[list[Any]]] = {}  # tenant -> [[fault, hits left]]
        self._window: dict[str, deque[float]] = {}
        self._writes: dict[str, list[tuple[str, str]]] = {}
        self._dirty = False
        self._url = ""  # what GraphEmulator.start() serves; status() shows it
        self.requests = 0
        """Graph requests (under /v1.0) received, a $batch counting 1; not login or control."""
        self.throttled = 0
        """429 answers given, whole requests and $batch sub-requests alike."""
        self.token_requests = 0

    # ---- tenants and the test's levers ---------------------------------------------------

    def _register(self, tenant: Tenant) -> None:
        self._tenants[tenant.id] = tenant
        self._faults.setdefault(tenant.id, [])
        self._window.setdefault(tenant.id, deque())
        self._writes.setdefault(tenant.id, [])

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self._tenants.get(tenant_id)
        if tenant is None:
            raise ValueError(f"the Graph emulator has no tenant {tenant_id!r}; add_tenant it "
                             "first")
        return tenant

    def _tenant_of(self, ref: str) -> str | None:
        with self._lock:
            if ref in self._tenants:
                return ref
            for tenant in self._tenants.values():
                if ref.lower() in tenant.domains:
                    return tenant.id
            return None

    def tenants(self) -> dict[str, list[str]]:
        """Every tenant's id with its domains."""
        with self._lock:
            return {t.id: list(t.domains) for t in self._tenants.values()}

    def add_tenant(self, tenant_id: str, domains: Sequence[str],
                   skus: Sequence[Sku] = DEFAULT_SKUS) -> None:
        """Add a tenant with its verified domains and licence subscriptions.

        Adding a tenant again with the same domains keeps its directory (a restarted lab
        emulator keeps the tenants of its state.json): SKUs it lacks are added, the others
        get the seats given (as when more licences are bought), SKUs not given stay.

        Raises:
            ValueError: the tenant exists with other domains, a domain belongs to another
                tenant, or a SKU's id and part number disagree with the tenant's.
        """
        with self._lock:
            existing = self._tenants.get(tenant_id)
            if existing is not None:
                if existing.domains != [d.lower() for d in domains]:
                    raise ValueError(f"the Graph emulator already has tenant {tenant_id!r} with "
                                     f"the domains {', '.join(existing.domains)}")
                if existing.update_skus(skus):
                    self._dirty = True
                return
            for domain in domains:
                owner = self._tenant_of(domain)
                if owner is not None:
                    raise ValueError(f"domain {domain} already belongs to tenant {owner}")
            self._register(Tenant(tenant_id, domains, skus))
            self._dirty = True

    def inject(self, tenant_id: str, fault: Fault) -> None:
        """Make the tenant's next matching requests fail as the fault says."""
        with self._lock:
            self._tenant(tenant_id)
            self._faults[tenant_id].append([fault, fault.count])

    def sync_hybrid(self, tenant_id: str, users: Sequence[Mapping[str, Any]],
                    groups: Sequence[Mapping[str, Any]]) -> None:
        """One Entra Connect cycle: upsert synced users and groups (see Tenant.sync_hybrid)."""
        with self._lock:
            self._tenant(tenant_id).sync_hybrid(users, groups)
            self._dirty = True

    def set_group_licences(self, tenant_id: str, group_display_name: str,
                           sku_part_numbers: Sequence[str]) -> None:
        """Group-based licensing: the group's licences become exactly these SKUs."""
        with self._lock:
            self._tenant(tenant_id).set_group_licences(group_display_name, sku_part_numbers)
            self._dirty = True

    def set_seats(self, tenant_id: str, sku_part_number: str, seats: int) -> None:
        """Change a subscription's prepaidUnits.enabled; group licences are recomputed."""
        with self._lock:
            self._tenant(tenant_id).set_seats(sku_part_number, seats)
            self._dirty = True

    def sign_in(self, tenant_id: str, upn: str, when: str) -> None:
        """The user signed in at `when` (ISO 8601): what signInActivity says from then on."""
        with self._lock:
            tenant = self._tenant(tenant_id)
            user = next((u for u in tenant.users.values() if not u.removed and
                         str(u.props.get("userPrincipalName", "")).lower() == upn.lower()),
                        None)
            if user is None:
                raise ValueError(f"no user {upn} in tenant {tenant_id}")
            user.props["_lastSignIn"] = when  # not a Graph property: never selectable itself
            self._dirty = True

    def expire_deltas(self, tenant_id: str) -> None:
        """Every delta and paging token of a delta round issued so far answers 410."""
        with self._lock:
            self._tenant(tenant_id).delta_epoch += 1
            self._dirty = True

    def writes(self, tenant_id: str) -> list[tuple[str, str]]:
        """Every write applied (answered 2xx) to the tenant, in order, as (method, path).

        The path is the request's, without its query and percent-decoded, a batch's
        sub-request under /v1.0 like a request of its own: ("POST", "/v1.0/users"),
        ("PATCH", "/v1.0/users/{id or UPN}"), ("POST", "/v1.0/groups/{id}/members/$ref").
        A write refused (4xx), throttled or faulted is not in it; a write whose answer was
        dropped after it ran (Fault executed=True) is.
        """
        with self._lock:
            self._tenant(tenant_id)
            return list(self._writes[tenant_id])

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"emulator": "ssc-infra Microsoft Graph emulator (not Microsoft 365)",
                    "url": self._url, "tenants": self.tenants(), "requests": self.requests,
                    "throttled": self.throttled, "token_requests": self.token_requests}
