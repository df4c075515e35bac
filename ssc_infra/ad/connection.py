"""The connection to a domain controller through ldap3: settings, TLS, the bind.

Connections use LDAPS, or StartTLS, with certificate verification; a plain-text bind is refused
unless the target says `insecure: true` (a lab only).
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import ldap3
from ldap3.core import exceptions as ldap_errors

from ssc_infra.core.errors import BackendError
from ssc_infra.core.secrets import Secret


@dataclass(frozen=True)
class AdSettings:
    """Where and how to connect, from the targets file.

    Args:
        url: ldaps://host:636, or ldap://host:389 with starttls.
        bind_user: a UPN (svc@ssc.frl) or a DN.
        password: the bind password.
        base_dn: must match the region's directory.domain.
        ca_file: the CA that signed the DC's certificate.
        tls_names: names to accept on the certificate when the URL's host is an address.
        starttls: upgrade an ldap:// connection before binding.
        insecure: allow a plain-text bind (a lab only).
        timeout: seconds to wait for the DC on connect and on every response.
    """

    url: str
    bind_user: str
    password: Secret
    base_dn: str
    ca_file: str | None = None
    tls_names: tuple[str, ...] = ()
    starttls: bool = False
    insecure: bool = False
    timeout: float = 30.0


def connect(settings: AdSettings) -> ldap3.Connection:
    """A bound connection; BackendError says what failed and what to check."""
    parsed = urlparse(settings.url)
    if parsed.scheme not in ("ldap", "ldaps") or not parsed.hostname:
        raise BackendError(f"AD url {settings.url!r}: use ldaps://host:636 or ldap://host:389")
    use_ssl = parsed.scheme == "ldaps"
    if not use_ssl and not settings.starttls and not settings.insecure:
        raise BackendError(
            f"refusing a plain-text bind to {settings.url}: passwords would cross the network "
            "unencrypted. Use ldaps://...:636, or set `starttls: true` in the targets file"
        )
    tls = None
    if use_ssl or settings.starttls:
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=settings.ca_file,
            valid_names=list(settings.tls_names) or None,
            version=ssl.PROTOCOL_TLS_CLIENT,
        )
    port = parsed.port or (636 if use_ssl else 389)
    server = ldap3.Server(parsed.hostname, port=port, use_ssl=use_ssl, tls=tls,
                          get_info=ldap3.NONE, connect_timeout=int(settings.timeout))
    conn = ldap3.Connection(
        server, user=settings.bind_user, password=settings.password.reveal(),
        authentication=ldap3.SIMPLE, receive_timeout=int(settings.timeout), raise_exceptions=False,
        return_empty_attributes=False,
    )
    where = f"{settings.url} as {settings.bind_user}"
    try:
        if not conn.open() and conn.closed:
            raise BackendError(f"cannot reach the DC at {settings.url}")
        if settings.starttls and not use_ssl and not conn.start_tls():
            raise BackendError(f"StartTLS with {settings.url} failed: {conn.result}")
        if not conn.bind():
            raise BackendError(_bind_failure(where, conn.result))
    except ldap_errors.LDAPSocketOpenError as e:
        reason = str(e)
        if "certificate" in reason.lower() or "ssl" in reason.lower():
            raise BackendError(
                f"TLS with {settings.url} failed: {reason}. Check ca_file (and tls_names when "
                "connecting by address)"
            ) from e
        raise BackendError(f"cannot reach the DC at {settings.url}: {reason}") from e
    except ldap_errors.LDAPException as e:
        raise BackendError(f"LDAP error talking to {where}: {e}") from e
    return conn


# The "data" code AD puts in an invalidCredentials answer tells why the bind was refused.
_BIND_DATA = {
    "773": "the password must be changed first (initial password, pwdLastSet=0)",
    "532": "the password has expired",
    "533": "the account is disabled",
    "701": "the account has expired",
    "775": "the account is locked out",
}


def _bind_failure(where: str, result: Mapping[str, Any]) -> str:
    code = result.get("description", "")
    if code == "invalidCredentials":
        message = str(result.get("message", ""))
        reason = next((text for data, text in _BIND_DATA.items() if f"data {data}" in message),
                      None)
        if reason:
            return f"bind to {where} refused: {reason}"
        return f"bind to {where} refused: wrong user or password (check the password source " \
               "named in the targets file)"
    if code == "strongerAuthRequired":
        return f"bind to {where} refused: the DC requires TLS (use ldaps:// or starttls)"
    return f"bind to {where} failed: {code} {result.get('message', '')}".strip()
