"""Microsoft Graph over HTTPS: reads that page, writes in `$batch`, users and groups by delta.

`Graph` is the tool's one way to Graph. Every HTTP request goes through `_request`, which checks
the run's request budget, adds the bearer token (MSAL's, which MSAL caches and renews; acquired
afresh once on a 401 InvalidAuthenticationToken) and retries 429 and 503 after their
Retry-After (seconds or an HTTP date), with exponential backoff and jitter when there is none,
and dropped connections and timeouts with backoff. The loop is tenacity's `Retrying`: an attempt
raises `_Again` carrying Graph's Retry-After, the custom `wait` reads it from that exception,
`sleep` is the injected one (tests never wait) and `stop` is max_retries. A Retry-After longer
than max_wait is not waited for: GraphThrottled at once, so a run stops rather than hangs.

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

import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from ssc_infra.core.errors import BackendError
from ssc_infra.m365.login import Login, LoginError
from ssc_infra.m365.settings import GraphSettings
from ssc_infra.state.folder import private_dir, write_private

MAX_BATCH = 20
DELTA_MAX_AGE = timedelta(days=7)
_API = "/v1.0"
_RETRY_STATUS = frozenset({429, 503})
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_RESYNC = ("syncstatenotfound", "resyncrequired")
_HINTS = {
    401: "check the app registration (client_id, tenant_id) and its secret or certificate",
    403: "the app lacks a Graph permission for this: check its application permissions and "
         "admin consent in the tenant",
}


class GraphError(BackendError):
    """Graph refused or failed; the message names method, path, Graph's code and request-id."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphThrottled(GraphError):
    """Still 429/503 after max_retries, or Graph asks to wait longer than max_wait."""


class GraphBudgetExceeded(GraphError):
    """The run has sent request_budget requests."""


class DeltaExpired(GraphError):
    """A delta link Graph no longer knows (410 syncStateNotFound); `delta()` reads in full."""


@dataclass
class GraphCounter:
    """What a run sent and waited for, for the progress line and the bench.

    Re-sends count in requests, batches, sub_requests and writes_sent; `retries` counts them
    alone (a request sent again, or a sub-request in a following $batch).
    """

    requests: int = 0
    batches: int = 0
    sub_requests: int = 0
    retries: int = 0
    throttled: int = 0
    unavailable: int = 0
    dropped: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    writes_sent: int = 0

    def __add__(self, other: GraphCounter) -> GraphCounter:
        return GraphCounter(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                               for f in fields(self)})

    def summary(self) -> str:
        """One line for people: what was sent, and what Graph held back (throttling)."""
        text = (f"{self.requests:,} requests ({self.batches:,} $batch, {self.writes_sent:,} "
                f"writes sent)")
        if self.throttled or self.unavailable or self.dropped:
            text += (f"; throttled {self.throttled:,} times (HTTP 429), unavailable "
                     f"{self.unavailable:,} (503), {self.dropped:,} dropped connections; "
                     f"{self.retries:,} re-sent, {self.waited:,.1f} s waited (Retry-After, "
                     "back-off)")
        else:
            text += "; not throttled"
        return text


@dataclass(frozen=True)
class BatchItem:
    """One sub-request; `url` is relative to /v1.0 ("/users/{id}/assignLicense")."""

    id: str
    method: str
    url: str
    body: Mapping[str, Any] | None = None
    depends_on: tuple[str, ...] = ()
    # False: a write that must not run twice (a group create: names are not unique in Entra
    # ID). After a dropped connection it is not sent again; it gets status 0 and the code
    # OUTCOME_UNKNOWN, and the caller reads back whether it happened.
    repeatable: bool = True


OUTCOME_UNKNOWN = "OutcomeUnknown"


@dataclass(frozen=True)
class BatchResult:
    id: str
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> str:
        """Graph's "Code: message (request-id ...)", or "" when the sub-request succeeded."""
        if self.ok:
            return ""
        code, message, request_id = _error_parts(self.body, self.headers)
        text = f"{code or f'HTTP {self.status}'}: {message or 'no message'}"
        return f"{text} (request-id {request_id})" if request_id else text


@dataclass(frozen=True)
class Delta:
    """Users or groups as the delta query gives them ("@removed", "members@delta" included)."""

    items: list[dict[str, Any]]
    delta_link: str
    full: bool
    reason: str = ""


class _Again(Exception):
    """An answer worth another try; `wait` is Graph's Retry-After, None for backoff."""

    def __init__(self, wait: float | None, status: int = 0, detail: str = "") -> None:
        super().__init__(detail)
        self.wait = wait
        self.status = status
        self.detail = detail


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
        self._backoff = wait_exponential_jitter(initial=1, max=min(60.0, settings.max_wait))
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

        for chunk in _chunks(items):
            state = _Round(list(chunk))
            try:
                self._retrying(count=False)(self._batch_round, state, done)
            except _Again as e:
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
        except _Again as e:
            if e.status == 0:  # no answer at all: whatever was sent may have run
                self._settle_unrepeatable(state, done, e.detail)
            raise
        again: list[BatchItem] = []
        waits: list[float] = []
        last: BatchResult | None = None
        for item in state.pending:
            result = answers.get(item.id) or BatchResult(item.id, 0, {"error": {
                "code": "NoResponse", "message": "the $batch answer has no response for it"}})
            if result.status in _RETRY_STATUS:
                self._count_status(result.status)
                wait = parse_retry_after(_header(result.headers, "Retry-After"))
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
        raise _Again(wait, status, detail)

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
        subs = [_sub_request(item, ids) for item in pending]
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
            age = _aware(now or datetime.now(UTC)) - _aware(saved_at) if saved_at else None
            if age is not None and age > DELTA_MAX_AGE:
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
        except _Again as e:
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
        return Retrying(stop=stop_after_attempt(self.settings.max_retries + 1), wait=self._wait,
                        retry=retry_if_exception_type(_Again), sleep=self._pause,
                        before_sleep=self._count_retry if count else None, reraise=True)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Again) and error.wait is not None:
            return error.wait
        return float(self._backoff(state))

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
        if response.status_code == 401 and _response_parts(response)[0] == \
                "InvalidAuthenticationToken":
            if self._login:
                self._login.renew()
            response = self._transmit(method, url, params, body, writes, subs)
        status = response.status_code
        if status in _RETRY_STATUS:
            self._count_status(status)
            wait = parse_retry_after(response.headers.get("Retry-After"))
            code, message, request_id = _response_parts(response)
            detail = f"{code or 'no code'}: {message or 'no message'}, request-id " \
                     f"{request_id or 'none'}"
            if wait is not None and wait > self.settings.max_wait:
                raise GraphThrottled(f"Graph {method} {_path(url)}: HTTP {status}, Graph asks "
                                     f"to wait {wait:.0f} s, more than max_wait "
                                     f"({self.settings.max_wait:.0f} s): run again later, or "
                                     "raise max_wait in the target", status=status, code=code)
            raise _Again(wait, status, detail)
        if not 200 <= status < 300:
            raise _error(method, url, response)
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
            if isinstance(e, _TRANSIENT):
                self.count.dropped += 1
                raise _Again(None, 0, f"{type(e).__name__}: {e}") from e
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


class DeltaLinks:
    """The delta link per (partner, resource), in state_dir/graph/delta.json (0600, dir 0700)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "graph" / "delta.json"

    def get(self, partner: str, resource: str) -> tuple[str, datetime] | None:
        entry: Any = self._load().get(partner, {}).get(resource)
        try:
            return str(entry["link"]), datetime.fromisoformat(entry["saved_at"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, partner: str, resource: str, link: str, when: datetime) -> None:
        data = self._load()
        data.setdefault(partner, {})[resource] = {"link": link, "saved_at": when.isoformat()}
        self._save(data)

    def forget(self, partner: str) -> None:
        data = self._load()
        if data.pop(partner, None) is not None:
            self._save(data)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise BackendError(f"{self.path}: not readable JSON ({e}); remove it, and the next "
                               "run reads Graph in full") from e
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def _save(self, data: Mapping[str, Any]) -> None:
        private_dir(self.path.parent)
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True))


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


def _chunks(items: Sequence[BatchItem]) -> list[list[BatchItem]]:
    """Chunks of at most MAX_BATCH, items linked by depends_on together, each in input order."""
    root: dict[str, str] = {}

    def find(key: str) -> str:
        while root[key] != key:
            root[key] = root[root[key]]
            key = root[key]
        return key

    for item in items:
        if item.id in root:
            raise ValueError(f"batch item id {item.id!r} appears twice")
        root[item.id] = item.id
        for dep in item.depends_on:
            if dep not in root:
                raise ValueError(f"batch item {item.id!r} depends on {dep!r}, which does not "
                                 "come before it")
            root[find(dep)] = find(item.id)
    groups: dict[str, list[BatchItem]] = {}
    for item in items:
        groups.setdefault(find(item.id), []).append(item)
    chunks: list[list[BatchItem]] = []
    current: list[BatchItem] = []
    for group in groups.values():
        if len(group) > MAX_BATCH:
            raise ValueError(f"batch items {group[0].id!r}..{group[-1].id!r}: {len(group)} "
                             f"linked by depends_on, more than fit in one $batch ({MAX_BATCH})")
        if len(current) + len(group) > MAX_BATCH:
            chunks.append(current)
            current = []
        current += group
    chunks += [current] if current else []
    place = {item.id: n for n, item in enumerate(items)}
    return [sorted(chunk, key=lambda item: place[item.id]) for chunk in chunks]


def _sub_request(item: BatchItem, pending: set[str]) -> dict[str, Any]:
    sub: dict[str, Any] = {"id": item.id, "method": item.method.upper(), "url": item.url}
    if item.body is not None:
        sub["body"] = dict(item.body)
        sub["headers"] = {"Content-Type": "application/json"}
    depends = [d for d in item.depends_on if d in pending]  # what is done already is no longer
    if depends:
        sub["dependsOn"] = depends
    return sub


def _error(method: str, url: str, response: httpx.Response) -> GraphError:
    code, message, request_id = _response_parts(response)
    status = response.status_code
    text = f"Graph {method} {_path(url)} answered HTTP {status} {code or '(no code)'}: " \
           f"{message or '(no message)'} (request-id {request_id or 'none'})"
    hint = _HINTS.get(status)
    resync = any(word in f"{code} {message}".lower() for word in _RESYNC)
    kind = DeltaExpired if status == 410 and resync else GraphError
    return kind(f"{text}; {hint}" if hint else text, status=status, code=code)


def _response_parts(response: httpx.Response) -> tuple[str, str, str]:
    try:
        body: Any = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:300]}}
    return _error_parts(body, response.headers)


def _error_parts(body: Any, headers: Mapping[str, str]) -> tuple[str, str, str]:
    """Graph's error code, message and request-id (innerError, else the header)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    inner = error.get("innerError") or error.get("innererror")
    inner = inner if isinstance(inner, Mapping) else {}
    message = " ".join(str(error.get("message") or "").split())[:500]
    request_id = inner.get("request-id") or _header(headers, "request-id")
    return str(error.get("code") or ""), message, str(request_id or "")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)


def _params(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not params:
        return None
    return {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v
            for k, v in params.items()}


def _path(url: str) -> str:
    return urlsplit(url).path or url


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)


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
