"""When and how long a client (Microsoft Graph's, an HR system's) waits before it sends a
request again.

429 and 503 are retried after their Retry-After (seconds or an HTTP date), with exponential
backoff and jitter when there is none; dropped connections and timeouts with backoff. The loop
is tenacity's `Retrying`: an attempt raises `Again` carrying the server's Retry-After, the `wait`
reads it from that exception, and `stop` is the number of attempts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

RETRY_STATUS = frozenset({429, 503})
TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

Backoff = Callable[[RetryCallState], float]


class Again(Exception):
    """An answer worth another try; `wait` is the server's Retry-After, None for backoff."""

    def __init__(self, wait: float | None, status: int = 0, detail: str = "") -> None:
        super().__init__(detail)
        self.wait = wait
        self.status = status
        self.detail = detail


def backoff(max_wait: float) -> Backoff:
    """Exponential backoff with jitter from 1 s, at most a minute (and at most max_wait)."""
    return wait_exponential_jitter(initial=1, max=min(60.0, max_wait))


def retrying(attempts: int, wait: Backoff, sleep: Callable[[float], None],
             before_sleep: Callable[[RetryCallState], None] | None = None) -> Retrying:
    """A loop that calls again while the call raises `Again`, then re-raises it.

    Args:
        attempts: calls at most, the first included.
        wait: the backoff, for an `Again` without a Retry-After.
        sleep: how to wait (tests record instead).
        before_sleep: called before each wait (to count the retries).
    """

    def wait_for(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, Again) and error.wait is not None:
            return error.wait
        return float(wait(state))

    return Retrying(stop=stop_after_attempt(attempts), wait=wait_for,
                    retry=retry_if_exception_type(Again), sleep=sleep,
                    before_sleep=before_sleep, reraise=True)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError):
        return None
    return max(0.0, (_aware(when) - _aware(now or datetime.now(UTC))).total_seconds())


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
