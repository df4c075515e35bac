"""The bare reads a no-change plan is measured against: ldap3 and httpx alone, nothing parsed.

`bare_directory_read` is one plain ldap3 connection (LDAPS or StartTLS with the same CA check
and simple bind as the tool) and a paged subtree search of each managed container (the
partners OU and the leavers OU) for the objects the tool reads there — OUs, normal user
accounts, groups — asking for the attributes the tool's reader asks for (imported from it) and
for members as extended DNs (GUID and DN), as the tool does. The entries are counted, never
parsed. `bare_graph_read` is, per partner, a token by one client-credentials POST and a
paged GET of the tenant's users, the partner's groups with their members, and the seats, with
the tool's own $select lists.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
import ldap3

from ssc_infra.ad.connection import AdSettings
from ssc_infra.ad.read import GROUP_ATTRIBUTES, PAGE_SIZE, USER_ATTRIBUTES, USERS_FILTER
from ssc_infra.ad.scope import Scope
from ssc_infra.ad.snapshot import EXTENDED_DN
from ssc_infra.m365.tenant import GROUP_SELECT, USER_SELECT

# The objects the tool reads below the two containers: its OUs, users and groups.
MANAGED_FILTER = f"(|(objectClass=organizationalUnit){USERS_FILTER}(objectClass=group))"
ATTRIBUTES = sorted({*USER_ATTRIBUTES, *GROUP_ATTRIBUTES, "objectGUID"})
PAGED = "1.2.840.113556.1.4.319"


def bare_directory_read(settings: AdSettings, scope: Scope, extended: bool = True) -> int:
    """Entries read by a paged search of each managed container on one bare connection.

    Args:
        extended: ask for member values as extended DNs (the tool does); False: plain DNs.
    """
    parsed = urlparse(settings.url)
    use_ssl = parsed.scheme == "ldaps"
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=settings.ca_file,
                    valid_names=list(settings.tls_names) or None,
                    version=ssl.PROTOCOL_TLS_CLIENT)
    server = ldap3.Server(parsed.hostname or "", port=parsed.port or (636 if use_ssl else 389),
                          use_ssl=use_ssl, tls=tls, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, user=settings.bind_user,
                            password=settings.password.reveal(), authentication=ldap3.SIMPLE,
                            return_empty_attributes=False)
    conn.open()
    if settings.starttls and not use_ssl:
        conn.start_tls()
    if not conn.bind():
        raise SystemExit(f"bare bind to {settings.url} failed: {conn.result}")
    controls = [EXTENDED_DN] if extended else None
    count = 0
    try:
        for base in scope.containers():
            cookie: Any = None
            while True:
                conn.search(base, MANAGED_FILTER, ldap3.SUBTREE, attributes=ATTRIBUTES,
                            paged_size=PAGE_SIZE, paged_cookie=cookie, controls=controls)
                if conn.result.get("description") != "success":
                    raise SystemExit(f"bare search of {base} failed: {conn.result}")
                count += sum(1 for r in conn.response or () if r.get("type") == "searchResEntry")
                cookie = conn.result.get("controls", {}).get(PAGED, {}).get("value", {}).get(
                    "cookie")
                if not cookie:
                    break
    finally:
        conn.unbind()
    return count


@dataclass(frozen=True)
class GraphAccess:
    """Where the lab's Graph is and the app that signs in to it (the target's `graph:`)."""

    url: str
    login_url: str
    client_id: str
    secret: str
    ca_file: str


@dataclass(frozen=True)
class GraphCount:
    requests: int
    objects: int


def bare_graph_read(access: GraphAccess, tenants: Iterable[tuple[str, str]]) -> GraphCount:
    """Per (partner code, tenant id): a token, every user, the partner's groups with their
    members, and the tenant's seats; objects counted, never parsed."""
    requests = objects = 0
    with httpx.Client(verify=ssl.create_default_context(cafile=access.ca_file),
                      timeout=60.0) as client:
        for code, tenant in tenants:
            answer = client.post(
                f"{access.login_url.rstrip('/')}/{tenant}/oauth2/v2.0/token",
                data={"client_id": access.client_id, "client_secret": access.secret,
                      "grant_type": "client_credentials",
                      "scope": f"{access.url.rstrip('/')}/.default"})
            answer.raise_for_status()
            requests += 1
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

            def pages(path: str, params: dict[str, str] | None,
                      headers: dict[str, str] = headers) -> list[Any]:
                nonlocal requests
                url: str | None = f"{access.url.rstrip('/')}/v1.0{path}"
                found: list[Any] = []
                while url:
                    page = client.get(url, params=params, headers=headers)
                    page.raise_for_status()
                    requests += 1
                    body = page.json()
                    found += body.get("value", [])
                    url, params = body.get("@odata.nextLink"), None
                return found

            objects += len(pages("/users", {"$select": ",".join(USER_SELECT), "$top": "999"}))
            groups = pages("/groups", {"$filter": f"startswith(displayName,'{code}-')",
                                       "$select": ",".join(GROUP_SELECT)})
            objects += len(groups)
            for group in groups:
                objects += len(pages(f"/groups/{group['id']}/members", {"$select": "id"}))
            objects += len(pages("/subscribedSkus", None))
    return GraphCount(requests, objects)
