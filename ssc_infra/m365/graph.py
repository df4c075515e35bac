"""Microsoft Graph over HTTPS: reads that page, writes in `$batch`, users and groups by delta.

`Graph` is the tool's one way to Graph. Every HTTP request goes through `_request`, which checks
the run's request budget, adds the bearer token (MSAL's, which MSAL caches and renews; acquired
afresh once on a 401 InvalidAuthenticationToken) and retries 429 and 503 after their
Retry-After, and dropped connections and timeouts with backoff (`ssc_infra.http.retry`): an
attempt raises `Again`, the injected `sleep` waits (tests never wait) and max_retries stops. A
Retry-After longer than max_wait is not waited for: GraphThrottled at once, so a run stops
rather than hangs.

`batch()` retries per sub-request with the same machinery: a round posts what is pending; a
sub-request answered 429/503 (and one answered 424 because it depends on such a one) is pending
again after the largest Retry-After among them; every other answer is final and never re-sent.
A whole `$batch` answered 429/503 was not executed and is re-sent whole.

Re-sending after a dropped connection: the outcome of a write is then unknown, and this module
re-sends it (a lone request, or the whole `$batch` chunk). That is safe because the tool's writes
are idempotent by design: a create that already happened answers "already exists", which the
caller treats as done after reading the object back; a member add answers "already exist" (done);
PATCH and assignLicense set a state and may be repeated.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying

from ssc_infra.http.retry import (
    RETRY_STATUS,
    TRANSIENT,
    Again,
    backoff,
    parse_retry_after,
    retrying,
)
from ssc_infra.m365.batch import OUTCOME_UNKNOWN, BatchItem, BatchResult, chunks, sub_request
from ssc_infra.m365.counter import GraphCounter
from ssc_infra.m365.delta import Delta, too_old
from ssc_infra.m365.errors import (
    DeltaExpired,
    GraphBudgetExceeded,
    GraphError,
    GraphThrottled,
    header_value,
    http_error,
    response_parts,
)
from ssc_infra.m365.login import Login, LoginError
from ssc_infra.m365.settings import GraphSettings

_API = "/v1.0"


@dataclass
class _Round:
    pending: list[BatchItem]
    sent: int = 0


class Graph:
    """One tenant's Graph: `get`, `pages`, `send`, `batch`, `delta`; counts all it does."""

    def __init__(self, settings: GraphSettings, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None,
                 token: Callable[[], str] | None = None) -> None:
        """Args:
            settings: the tenant, the app and the limits.
            sleep: how to wait out a Retry-After or a backoff (tests record instead).
            transport: an httpx transport (tests: httpx.MockTransport).
            token: a token provider, called per request and once more after a 401; None logs
                in with MSAL on first use (MSAL caches the token and renews it).
        """
        self.settings = settings
        self.count = GraphCounter()
        self._sleep = sleep
        self._base = settings.graph_url.rstrip("/")
        self._login: Login | None = None
        if token is None:
            self._login = Login(settings)
            token = self._login_token
        self._token = token
        self._backoff = backoff(settings.max_wait)
        self._http = httpx.Client(base_url=self._base, verify=_tls(settings.ca_file),
                                  timeout=settings.timeout, transport=transport)

    def _login_token(self) -> str:
        assert self._login is not None
        try:
            return self._login.token()
        except LoginError as e:
            raise GraphError(str(e)) from e.__cause__

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._login:
            self._login.close()

    # -- reads and single writes --------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One GET; `path` relative to /v1.0 ("/users"), or an absolute URL on graph_url."""
        return self._json("GET", self._request("GET", self._url(path), params=params)) or {}

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Every "value" item, following @odata.nextLink; `$top`, `$select`, `$filter` in params."""
        return self._follow(self._url(path), params)[0]

    def send(self, method: str, path: str,
             body: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """One request; its JSON answer, or None for an empty one (204)."""
        method = method.upper()
        response = self._request(method, self._url(path), body=None if body is None else
                                 dict(body), writes=int(method != "GET"))
        return self._json(method, response)

    def _follow(self, url: str, params: Mapping[str, Any] | None,
                ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(url, params)
            values = page.get("value")
            if not isinstance(values, list):
                raise GraphError(f"Graph GET {_path(url)}: the answer is not a page of values")
            items.extend(v for v in values if isinstance(v, dict))
            link = page.get("@odata.nextLink")
            if not link:
                return items, page
            url, params = self._url(str(link)), None

    # -- $batch ---------------------------------------------------------------------------------

    def batch(self, items: Sequence[BatchItem],
              on_result: Callable[[BatchResult], None] | None = None) -> list[BatchResult]:
        """Send the items in `$batch` chunks of at most MAX_BATCH; one result per item, in order.

        Items linked by depends_on share a chunk; an item must come after what it depends on.
        `on_result` sees each item's final result as it is known.

        Raises:
            ValueError: a duplicate id, a dependency not before its item, or a chain > MAX_BATCH.
            GraphThrottled: sub-requests still throttled after max_retries; `on_result` has seen
                every item finished before.
        """
        finished: dict[str, BatchResult] = {}

        def done(result: BatchResult) -> None:
            finished[result.id] = result
            if on_result is not None:
                on_result(result)

        for chunk in chunks(items):
            state = _Round(list(chunk))
            try:
                self._retrying(count=False)(self._batch_round, state, done)
            except Again as e:
                raise GraphThrottled(
                    f"Graph $batch: {len(state.pending)} of {len(chunk)} sub-requests still "
                    f"answered HTTP {e.status} after {self.settings.max_retries} re-sends "
                    f"({e.detail}); the tenant is throttling this app: run again later (the "
                    "writes are idempotent, a rerun continues)", status=e.status) from None
        return [finished[item.id] for item in items]

    def _batch_round(self, state: _Round, done: Callable[[BatchResult], None]) -> None:
        if not state.pending:
            return
        if state.sent:
            self.count.retries += len(state.pending)
        state.sent += 1
        try:
            answers = self._post_batch(state.pending)
        except Again as e:
            if e.status == 0:  # no answer at all: whatever was sent may have run
                self._settle_unrepeatable(state, done, e.detail)
            raise
        again: list[BatchItem] = []
        waits: list[float] = []
        last: BatchResult | None = None
        for item in state.pending:
            result = answers.get(item.id) or BatchResult(item.id, 0, {"error": {
                "code": "NoResponse", "message": "the $batch answer has no response for it"}})
            if result.status in RETRY_STATUS:
                self._count_status(result.status)
                wait = parse_retry_after(header_value(result.headers, "Retry-After"))
                waits += [] if wait is None else [wait]
                last = result
            elif result.status != 424 or not {i.id for i in again} & set(item.depends_on):
                done(result)
                continue
            again.append(item)
        state.pending = again
        if not again:
            return
        status, detail = (last.status, last.error()) if last else (424, "")
        wait = max(waits) if waits else None
        if wait is not None and wait > self.settings.max_wait:
            raise GraphThrottled(f"Graph $batch: HTTP {status}, Graph asks to wait {wait:.0f} s, "
                                 f"more than max_wait ({self.settings.max_wait:.0f} s): run "
                                 "again later, or raise max_wait in the target", status=status)
        raise Again(wait, status, detail)

    @staticmethod
    def _settle_unrepeatable(state: _Round, done: Callable[[BatchResult], None],
                             detail: str) -> None:
        for item in state.pending:
            if not item.repeatable:
                done(BatchResult(item.id, 0, {"error": {"code": OUTCOME_UNKNOWN, "message": (
                    f"the connection dropped before Graph answered ({detail}); not sent again: "
                    "read back whether it happened")}}))
        state.pending = [i for i in state.pending if i.repeatable]

    def _post_batch(self, pending: Sequence[BatchItem]) -> dict[str, BatchResult]:
        ids = {item.id for item in pending}
        subs = [sub_request(item, ids) for item in pending]
        writes = sum(item.method.upper() != "GET" for item in pending)
        response = self._request("POST", f"{_API}/$batch", body={"requests": subs},
                                 writes=writes, subs=len(subs))
        answer = self._json("POST", response) or {}
        out: dict[str, BatchResult] = {}
        for sub in answer.get("responses") or []:
            if isinstance(sub, dict) and str(sub.get("id")) in ids:
                headers = sub.get("headers")
                out[str(sub["id"])] = BatchResult(
                    str(sub["id"]), int(sub.get("status") or 0), sub.get("body"),
                    {str(k): str(v) for k, v in headers.items()}
                    if isinstance(headers, dict) else {})
        return out

    # -- delta ----------------------------------------------------------------------------------

    def delta(self, resource: Literal["users", "groups"], link: str | None,
              select: Sequence[str], *, saved_at: datetime | None = None,
              now: datetime | None = None) -> Delta:
        """The changes since `link`, or everything when there is no usable link.

        Args:
            resource: "users" or "groups".
            link: the deltaLink of the last read, or None for a full read.
            select: the properties to read (a full read's $select; a link keeps its own).
            saved_at: when `link` was saved; older than DELTA_MAX_AGE means a full read.
            now: the current time (tests).
        """
        if resource not in ("users", "groups"):
            raise ValueError(f"delta of {resource!r}: only users and groups")
        reason = "first read"
        if link is not None:
            if too_old(saved_at, now):
                reason = "link older than 7 days"
            elif not self._same_origin(link):
                # saved when graph_url was another (a target moved, the lab's emulator on a new
                # port): read whole; the token never goes to the old address
                reason = "link of another graph_url"
            else:
                try:
                    return self._delta_read(self._url(link), None, False, "")
                except DeltaExpired:
                    reason = "link expired (syncStateNotFound)"
        params = {"$select": ",".join(select)} if select else None
        return self._delta_read(f"{_API}/{resource}/delta", params, True, reason)

    def _delta_read(self, url: str, params: Mapping[str, Any] | None, full: bool,
                    reason: str) -> Delta:
        items, last = self._follow(url, params)
        link = last.get("@odata.deltaLink")
        if not isinstance(link, str) or not link:
            raise GraphError(f"Graph GET {_path(url)}: the last page has no @odata.deltaLink")
        return Delta(items, link, full, reason)

    # -- the one place HTTP happens -----------------------------------------------------------

    def _request(self, method: str, url: str, *, params: Mapping[str, Any] | None = None,
                 body: Any = None, writes: int = 0, subs: int = 0) -> httpx.Response:
        try:
            response: httpx.Response = self._retrying(count=True)(
                self._attempt, method, url, params, body, writes, subs)
            return response
        except Again as e:
            where = f"Graph {method} {_path(url)}"
            tries = self.settings.max_retries + 1
            if e.status:
                raise GraphThrottled(
                    f"{where}: still HTTP {e.status} after {tries} tries ({e.detail}); the "
                    "tenant is throttling this app or Graph is unavailable: run again later",
                    status=e.status) from None
            raise GraphError(f"{where}: no answer after {tries} tries ({e.detail}): is "
                             f"{self._base} reachable, and graph_url in the target right?"
                             ) from e.__cause__

    def _retrying(self, *, count: bool) -> Retrying:
        return retrying(self.settings.max_retries + 1, self._backoff, self._pause,
                        self._count_retry if count else None)

    def _pause(self, seconds: float) -> None:
        self.count.waited += seconds
        self._sleep(seconds)

    def _count_retry(self, _: RetryCallState) -> None:
        self.count.retries += 1

    def _count_status(self, status: int) -> None:
        if status == 429:
            self.count.throttled += 1
        elif status == 503:
            self.count.unavailable += 1

    def _attempt(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any,
                 writes: int, subs: int) -> httpx.Response:
        response = self._transmit(method, url, params, body, writes, subs)
        if response.status_code == 401 and response_parts(response)[0] == \
                "InvalidAuthenticationToken":
            if self._login:
                self._login.renew()
            response = self._transmit(method, url, params, body, writes, subs)
        status = response.status_code
        if status in RETRY_STATUS:
            self._count_status(status)
            wait = parse_retry_after(response.headers.get("Retry-After"))
            code, message, request_id = response_parts(response)
            detail = f"{code or 'no code'}: {message or 'no message'}, request-id " \
                     f"{request_id or 'none'}"
            if wait is not None and wait > self.settings.max_wait:
                raise GraphThrottled(f"Graph {method} {_path(url)}: HTTP {status}, Graph asks "
                                     f"to wait {wait:.0f} s, more than max_wait "
                                     f"({self.settings.max_wait:.0f} s): run again later, or "
                                     "raise max_wait in the target", status=status, code=code)
            raise Again(wait, status, detail)
        if not 200 <= status < 300:
            raise http_error(method, _path(url), response)
        return response

    def _transmit(self, method: str, url: str, params: Mapping[str, Any] | None, body: Any,
                  writes: int, subs: int) -> httpx.Response:
        if self.count.requests >= self.settings.request_budget:
            raise GraphBudgetExceeded(
                f"Graph {method} {_path(url)} not sent: this run has sent "
                f"{self.count.requests} requests, its request_budget; raise request_budget in "
                "the target if that many are expected")
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        self.count.requests += 1
        self.count.writes_sent += writes
        if subs:
            self.count.batches += 1
            self.count.sub_requests += subs
        started = time.perf_counter()
        try:
            return self._http.request(method, url, params=_params(params), json=body,
                                      headers=headers)
        except httpx.TransportError as e:
            if _tls_failed(e):
                raise GraphError(f"Graph at {self._base}: the TLS handshake failed ({e}): check "
                                 "ca_file in the target (the CA that signed Graph's or the "
                                 "emulator's certificate)") from e
            if isinstance(e, TRANSIENT):
                self.count.dropped += 1
                raise Again(None, 0, f"{type(e).__name__}: {e}") from e
            raise GraphError(f"Graph {method} {_path(url)} cannot be sent ({type(e).__name__}: "
                             f"{e}): is graph_url in the target right?") from e
        finally:
            self.count.seconds += time.perf_counter() - started

    def _same_origin(self, link: str) -> bool:
        mine, theirs = urlsplit(self._base), urlsplit(link)
        return (theirs.scheme, theirs.netloc) == (mine.scheme, mine.netloc)

    def _url(self, path: str) -> str:
        if "://" in path:  # a nextLink or deltaLink: the token goes to graph_url's host only
            theirs = urlsplit(path)
            if not self._same_origin(path):
                raise GraphError(f"Graph gave a link to {theirs.scheme}://{theirs.netloc}, not "
                                 f"graph_url {self._base}: the token is not sent there")
            return path
        if path.startswith((f"{_API}/", "/beta/")):
            return path
        return f"{_API}/{path.lstrip('/')}"

    @staticmethod
    def _json(method: str, response: httpx.Response) -> dict[str, Any] | None:
        if response.status_code == 204 or not response.content:
            return None
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise GraphError(f"Graph {method} {_path(str(response.request.url))}: the answer "
                             "is not a JSON object: is graph_url in the target Graph?")
        return data


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
            for k, v in params.items()}


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _tls(ca_file: str | None) -> ssl.SSLContext | bool:
    if not ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as e:
        raise GraphError(f"ca_file {ca_file}: not a readable CA certificate ({e}): check "
                         "ca_file in the target") from e


def _tls_failed(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
