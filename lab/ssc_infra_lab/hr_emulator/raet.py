"""Visma Raet's YouForce IAM API as the HR emulator answers it: client-credentials tokens,
each for one tenant, and the tenant's five lists paged by take/skip with a `nextLink`. Pure
but for the clock of the tokens: the server does the HTTP, the levers and the lock.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ssc_infra_lab.hr_emulator.paging import ApiError, Page, unknown_parameters, whole_number
from ssc_infra_lab.hr_emulator.seeding import RaetData

TOKEN_PATH = "/connect/token"
LIFETIME = 3600  # seconds a token is good for, as Visma's
DEFAULT_PAGE = 100
MAX_TAKE = 1000
COLLECTIONS = {  # path (lower case) -> (its path as written, the RaetData field)
    path.lower(): (path, name) for path, name in (
        ("/iam/v1.0/persons", "persons"), ("/iam/v1.0/employments", "employments"),
        ("/iam/v1.0/organizationUnits", "organization_units"),
        ("/iam/v1.0/jobProfiles", "job_profiles"),
        ("/extensions/v1.0/iam/employments", "extensions"))}
PARAMETERS = frozenset({"take", "skip"})


@dataclass
class RaetTenant:
    """One partner's Raet tenant: its API user's client id and secret, and its data."""

    client_id: str
    client_secret: str
    data: RaetData = field(default_factory=RaetData)


class Tokens:
    """The access tokens issued, each for a tenant until it expires (by `clock`)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._issued: dict[str, tuple[str, float]] = {}

    def issue(self, tenant_id: str) -> dict[str, Any]:
        """A new token for the tenant, as the token endpoint answers it."""
        now = self._clock()
        self._issued = {t: v for t, v in self._issued.items() if v[1] > now}
        token = secrets.token_urlsafe(32)
        self._issued[token] = (tenant_id, now + LIFETIME)
        return {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME}

    def tenant_of(self, header: str | None) -> str | None:
        """The tenant of `Authorization: Bearer TOKEN`; None: no such token, or expired."""
        scheme, _, token = (header or "").partition(" ")
        issued = self._issued.get(token.strip()) if scheme.lower() == "bearer" else None
        if issued is None or issued[1] <= self._clock():
            return None
        return issued[0]

    def expire(self, tenant_id: str) -> None:
        """Every token of the tenant issued so far answers 401 from now on."""
        self._issued = {t: v for t, v in self._issued.items() if v[0] != tenant_id}


def grant(tenants: Mapping[str, RaetTenant], form: Mapping[str, str]) -> str:
    """The tenant a client-credentials request (the token endpoint's form) is for.

    Raises:
        ApiError: 400 unsupported_grant_type; 401 invalid_client for an unknown tenant or a
            wrong client id or secret (one answer for all three, as an OAuth server gives).
    """
    if form.get("grant_type") != "client_credentials":
        raise ApiError(400, "only grant_type=client_credentials", "unsupported_grant_type")
    tenant = tenants.get(form.get("tenant_id", ""))
    if tenant is None or not (
            hmac.compare_digest(form.get("client_id", "").encode(), tenant.client_id.encode())
            and hmac.compare_digest(form.get("client_secret", "").encode(),
                                    tenant.client_secret.encode())):
        raise ApiError(401, "the client id, secret or tenant is not known", "invalid_client")
    return form["tenant_id"]


def collection(path: str) -> tuple[str, str]:
    """(the path as the API writes it, the RaetData field) of a list's path.

    Raises:
        ApiError: 404, not one of the IAM API's lists the emulator has.
    """
    found = COLLECTIONS.get(path.rstrip("/").lower())
    if found is None:
        raise ApiError(404, f"no resource {path} (the emulator has "
                       f"{', '.join(p for p, _ in COLLECTIONS.values())})", "not_found")
    return found


def select(data: RaetData, path: str, query: Mapping[str, str], lost: Collection[str],
           cap: Callable[[int], int], base_url: str) -> Page:
    """The page of a list the query asks for, the `lost` people's records left out; a
    `nextLink` to the next page while there is one.

    Raises:
        ApiError: 404, an unknown list; 400, a bad take or skip or an unknown parameter.
    """
    written, name = collection(path)
    query = {k.lower(): v for k, v in query.items()}
    unknown_parameters(query, PARAMETERS)
    skip = whole_number(query, "skip", 0, 0)
    take = cap(min(whole_number(query, "take", cap(DEFAULT_PAGE), 1), MAX_TAKE))
    items: tuple[dict[str, Any], ...] = getattr(data, name)
    shown = [i for i in items if str(i.get("personCode")) not in lost] if lost else list(items)
    body: dict[str, Any] = {"value": [dict(i) for i in shown[skip:skip + take]]}
    if skip + take < len(shown):
        body["nextLink"] = f"{base_url}{written}?skip={skip + take}&take={take}"
    return Page(body, 1 + skip // take)


def error_body(error: ApiError) -> dict[str, Any]:
    return {"error": error.code or "error", "error_description": error.message}
