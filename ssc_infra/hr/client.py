"""The HTTP side of the HR connectors: one httpx client per partner's system, every request
re-sent where that is worth it (429 and 503 after their Retry-After, 502 and 504, dropped
connections, timeouts and an answer cut off mid-way, with backoff), everything else an
`HrError` that says what to check.

No request or answer is logged, and no message holds a header: the AFAS token and the Visma
client secret travel in them.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import RetryCallState

from ssc_infra.hr.settings import HrError, HrSettings
from ssc_infra.http.retry import TRANSIENT, Again, backoff, parse_retry_after, retrying

RETRY_STATUS = frozenset({429, 502, 503, 504})
ANSWER_MAX = 64 * 1024 * 1024  # one page of a few thousand employees is far below this
_DETAIL_MAX = 200


class HrClient:
    """Sends a partner's requests to its HR system.

    Args:
        settings: where the system is, its CA, timeouts and retries.
        system: how to name the system in messages ("AFAS environment 12345").
        sleep: how to wait between attempts (tests record instead).
        transport: an httpx transport (tests); None for the network.
    """

    def __init__(self, settings: HrSettings, system: str, *,
                 sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.settings = settings
        self.system = system
        self.requests = 0
        self.retries = 0
        self._sleep = sleep
        verify: Any = ssl.create_default_context(cafile=settings.ca_file) \
            if settings.ca_file else True
        self._http = httpx.Client(timeout=httpx.Timeout(settings.timeout), verify=verify,
                                  transport=transport, follow_redirects=False,
                                  headers={"Accept": "application/json",
                                           "User-Agent": "ssc-infra"})

    def __enter__(self) -> HrClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, url: str, params: Mapping[str, str] | None = None,
            headers: Mapping[str, str] | None = None) -> Any:
        """The JSON of a GET, sent again while it is worth it."""
        return self._send("GET", url, params=params, headers=headers)

    def post_form(self, url: str, form: Mapping[str, str]) -> Any:
        """The JSON of a form POST (a token request), sent again while it is worth it."""
        return self._send("POST", url, data=form)

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        attempt = retrying(self.settings.max_retries + 1,
                           backoff(self.settings.max_wait), self._sleep, self._count_retry)
        try:
            return attempt(self._once, method, url, **kwargs)
        except Again as e:
            what = f"HTTP {e.status}" if e.status else e.detail
            raise HrError(f"{self.system}: {method} {_path(url)} gave up after "
                          f"{self.settings.max_retries + 1} attempts ({what}): the system is "
                          "busy or unreachable; the pull is tried again on its next run") from e

    def _count_retry(self, _: RetryCallState) -> None:
        self.retries += 1

    def _once(self, method: str, url: str, **kwargs: Any) -> Any:
        self.requests += 1
        try:
            response = self._http.request(method, url, **kwargs)
        except TRANSIENT as e:
            raise Again(None, 0, f"{type(e).__name__}: connection dropped or timed out") from e
        except httpx.HTTPError as e:
            raise HrError(f"{self.system}: {method} {_path(url)} failed: "
                          f"{type(e).__name__}: {_clip(str(e))}") from e
        status = response.status_code
        if status in RETRY_STATUS:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is not None and wait > self.settings.max_wait:
                raise HrError(f"{self.system}: asks to wait {wait:.0f} s (HTTP {status}), longer "
                              f"than {self.settings.max_wait:.0f} s: try the pull later")
            raise Again(wait, status, f"HTTP {status}")
        if status in (401, 403):
            raise HrError(f"{self.system}: refused the credentials (HTTP {status}): check the "
                          "token or client secret the target names (hr.partners in "
                          "targets.yaml) and the API user's rights")
        if status >= 400:
            raise HrError(f"{self.system}: {method} {_path(url)}: HTTP {status} "
                          f"{_clip(_message(response))}")
        if len(response.content) > ANSWER_MAX:
            raise HrError(f"{self.system}: an answer of {len(response.content):,} bytes, more "
                          f"than {ANSWER_MAX:,}: ask for smaller pages (page_size)")
        try:
            return json.loads(response.content)
        except ValueError as e:
            # A body cut off without the connection saying so: another try may be whole.
            raise Again(None, 0, f"an answer that is not JSON ({_clip(str(e))})") from e


def _path(url: str) -> str:
    """The URL without its query: filters and paging are noise in a message."""
    return httpx.URL(url).copy_with(query=None).path


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:_DETAIL_MAX]
    if isinstance(data, dict):
        for key in ("externalMessage", "error_description", "message", "error", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return ""


def _clip(text: str) -> str:
    """One line of at most 200 characters: an answer's text is the server's, not ours."""
    line = " ".join(text.split())
    return line if len(line) <= _DETAIL_MAX else line[:_DETAIL_MAX] + "…"
