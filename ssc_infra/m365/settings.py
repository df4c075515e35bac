"""Where Microsoft Graph is and how to log in to it: the target's `graph:` section."""

from __future__ import annotations

from dataclasses import dataclass

from ssc_infra.core.secrets import Secret


@dataclass(frozen=True)
class GraphSettings:
    """Where Graph is and how to log in, from the targets file.

    Args:
        tenant_id: the Entra ID tenant.
        client_id: the app registration's application id.
        secret: the client secret; or `certificate_file`, a PEM with the key and certificate.
        graph_url: Graph's base (the lab emulator's in a lab); login_url likewise for login.
        ca_file: a private CA (the lab emulator's); None trusts the system's.
        timeout: seconds to wait for an answer.
        request_budget: most HTTP requests one run may send.
        max_retries: re-sends per request and per sub-request.
        max_wait: longest single Retry-After honoured, in seconds.
    """

    tenant_id: str
    client_id: str
    secret: Secret | None = None
    certificate_file: str | None = None
    graph_url: str = "https://graph.microsoft.com"
    login_url: str = "https://login.microsoftonline.com"
    ca_file: str | None = None
    timeout: float = 60.0
    request_budget: int = 100_000
    max_retries: int = 8
    max_wait: float = 300.0
