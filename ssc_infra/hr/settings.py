"""Where a partner's HR system is and how to log in to it: the target's `hr:` section made
concrete for one partner (`ssc_infra.run.targets.hr_settings`)."""

from __future__ import annotations

from dataclasses import dataclass

from ssc_infra.core.errors import SscError
from ssc_infra.core.secrets import Secret


class HrError(SscError):
    """The HR system's answer cannot be used: refused, unreachable, cut off or malformed.

    The message names the partner's system and what to check; it never holds a secret.
    """


@dataclass(frozen=True)
class HrSettings:
    """One partner's HR system, from the targets file.

    Args:
        base_url: AFAS: the environment's base URL (…/ProfitRestServices is added); Visma
            Raet: the API's base (https://api.youforce.com).
        token_url: Visma Raet: where the client-credentials token is asked.
        token: AFAS: the token (its XML, or only the data of it).
        client_id, client_secret: Visma Raet: the API user's client credentials.
        ca_file: a private CA (the lab's emulators); None trusts the system's.
        timeout: seconds to wait for an answer.
        page_size: rows asked per page.
        max_retries: re-sends per request (429, 503, dropped connections).
        max_wait: longest single Retry-After honoured, in seconds.
        max_pages: most pages one read may take: a server that never ends is an error.
    """

    base_url: str
    token_url: str = ""
    token: Secret | None = None
    client_id: Secret | None = None
    client_secret: Secret | None = None
    ca_file: str | None = None
    timeout: float = 30.0
    page_size: int = 500
    max_retries: int = 5
    max_wait: float = 120.0
    max_pages: int = 10_000
