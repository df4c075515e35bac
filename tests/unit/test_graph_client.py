"""The Graph client against a scripted fake (httpx.MockTransport): no server, no waiting."""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ssc_infra.core.errors import BackendError
from ssc_infra.core.secrets import Secret
from ssc_infra.http.retry import parse_retry_after
from ssc_infra.m365.batch import MAX_BATCH, BatchItem, BatchResult
from ssc_infra.m365.delta import DeltaLinks
from ssc_infra.m365.errors import GraphBudgetExceeded, GraphError, GraphThrottled
from ssc_infra.m365.graph import Graph
from ssc_infra.m365.settings import GraphSettings

TOKEN = "eyJ-the-token"
BASE = "https://graph.microsoft.com"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]
Answer = Callable[[dict[str, Any], int], tuple[int, dict[str, str]]]


def make(handler: Handler, **options: Any) -> tuple[Graph, list[float]]:
    """A Graph on the handler, with a sleep that records instead of waiting."""
    sleeps: list[float] = []
    settings = GraphSettings("tenant-1", "client-1", secret=Secret("s3cret"), **options)
    client = Graph(settings, sleep=sleeps.append, transport=httpx.MockTransport(handler),
                   token=lambda: TOKEN)
    return client, sleeps


def error_body(code: str, message: str, request_id: str = "") -> dict[str, Any]:
    inner = {"request-id": request_id} if request_id else {}
    return {"error": {"code": code, "message": message, "innerError": inner}}


def ok(_: dict[str, Any], __: int) -> tuple[int, dict[str, str]]:
    return 200, {}


class FakeBatch:
    """A scripted $batch endpoint: `answer(sub, try)` gives each sub-request's status.

    `script` answers whole POSTs first (a response, or an exception to raise); `order`
    rearranges the sub-responses, as Graph may.
    """

    def __init__(self, answer: Answer = ok, script: list[httpx.Response | Exception] | None = None,
                 order: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] = list) -> None:
        self.answer = answer
        self.script = list(script or [])
        self.order = order
        self.posts: list[list[dict[str, Any]]] = []
        self.tries: Counter[str] = Counter()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1.0/$batch"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        subs: list[dict[str, Any]] = json.loads(request.content)["requests"]
        self.posts.append(subs)
        if self.script:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            return step
        responses = []
        for sub in subs:
            self.tries[sub["id"]] += 1
            status, headers = self.answer(sub, self.tries[sub["id"]])
            body = {"id": sub["id"]} if status < 300 else error_body("Busy", "slow down")
            responses.append({"id": sub["id"], "status": status, "headers": headers, "body": body})
        return httpx.Response(200, json={"responses": self.order(responses)})

    def ids(self) -> list[list[str]]:
        return [[sub["id"] for sub in post] for post in self.posts]


def items(count: int, method: str = "POST") -> list[BatchItem]:
    return [BatchItem(str(n), method, "/users", {"n": n}) for n in range(count)]


# -- reads ------------------------------------------------------------------------------------


def test_pages_follows_next_links_across_three_pages() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params.get("$skiptoken", "1"))
        body: dict[str, Any] = {"value": [{"id": f"u{page}a"}, {"id": f"u{page}b"}]}
        if page < 3:
            body["@odata.nextLink"] = f"{BASE}/v1.0/users?$top=2&$skiptoken={page + 1}"
        return httpx.Response(200, json=body)

    client, _ = make(handler)
    users = client.pages("/users", {"$top": 2, "$select": ["id", "displayName"],
                                    "$filter": "accountEnabled eq true"})
    assert [u["id"] for u in users] == ["u1a", "u1b", "u2a", "u2b", "u3a", "u3b"]
    assert len(seen) == 3 and client.count.requests == 3
    first = seen[0].url.params
    assert (first["$top"], first["$select"], first["$filter"]) == \
        ("2", "id,displayName", "accountEnabled eq true")
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in seen)


def test_a_next_link_to_another_host_is_refused_so_the_token_stays_home() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [], "@odata.nextLink": "https://evil.test/x"})

    client, _ = make(handler)
    with pytest.raises(GraphError, match=r"evil\.test.*not sent"):
        client.pages("/users")


def test_send_returns_none_for_204_and_counts_the_write() -> None:
    client, _ = make(lambda request: httpx.Response(204))
    assert client.send("patch", "/users/u1", {"department": "Burgerzaken"}) is None
    assert client.count.writes_sent == 1


# -- $batch -----------------------------------------------------------------------------------


def test_batch_splits_45_items_into_20_20_5() -> None:
    fake = FakeBatch()
    client, _ = make(fake)
    results = client.batch(items(45))
    assert [len(post) for post in fake.posts] == [20, 20, 5]
    assert [r.id for r in results] == [str(n) for n in range(45)] and all(r.ok for r in results)
    assert (client.count.batches, client.count.sub_requests, client.count.writes_sent) == \
        (3, 45, 45)
    assert fake.posts[0][0] == {"id": "0", "method": "POST", "url": "/users", "body": {"n": 0},
                                "headers": {"Content-Type": "application/json"}}


def test_batch_matches_shuffled_responses_by_id() -> None:
    def answer(sub: dict[str, Any], _: int) -> tuple[int, dict[str, str]]:
        return (404 if int(sub["id"]) % 3 == 0 else 201), {}

    fake = FakeBatch(answer, order=lambda responses: responses[1::2] + responses[::2])
    client, _ = make(fake)
    results = client.batch(items(7))
    assert [(r.id, r.status) for r in results] == \
        [("0", 404), ("1", 201), ("2", 201), ("3", 404), ("4", 201), ("5", 201), ("6", 404)]
    assert results[1].body == {"id": "1"}
    assert results[0].error() == "Busy: slow down" and results[1].error() == ""


def test_a_throttled_sub_request_alone_is_resent_once_after_its_retry_after() -> None:
    def answer(sub: dict[str, Any], attempt: int) -> tuple[int, dict[str, str]]:
        return (429, {"Retry-After": "2"}) if sub["id"] == "1" and attempt == 1 else (201, {})

    fake = FakeBatch(answer)
    client, sleeps = make(fake)
    seen: list[BatchResult] = []
    results = client.batch(items(4), on_result=seen.append)
    assert fake.ids() == [["0", "1", "2", "3"], ["1"]]
    assert sleeps == [2.0]
    assert [r.status for r in results] == [201, 201, 201, 201]
    assert sorted(r.id for r in seen) == ["0", "1", "2", "3"]  # once each, final results only
    c = client.count
    assert (c.batches, c.sub_requests, c.retries, c.throttled, c.writes_sent) == (2, 5, 1, 1, 5)


def test_a_dependent_that_got_424_is_resent_with_what_it_depends_on() -> None:
    def answer(sub: dict[str, Any], attempt: int) -> tuple[int, dict[str, str]]:
        if attempt == 1 and sub["id"] == "make":
            return 429, {"retry-after": "1"}
        return (424 if attempt == 1 and sub["id"] == "license" else 200), {}

    fake = FakeBatch(answer)
    client, sleeps = make(fake)
    results = client.batch([
        BatchItem("make", "POST", "/users", {"userPrincipalName": "a@x.nl"}),
        BatchItem("other", "GET", "/users/u9"),
        BatchItem("license", "POST", "/users/a@x.nl/assignLicense", {"addLicenses": []},
                  depends_on=("make",)),
    ])
    assert fake.ids() == [["make", "other", "license"], ["make", "license"]]
    assert fake.posts[1][1]["dependsOn"] == ["make"]
    assert sleeps == [1.0] and all(r.ok for r in results)
    assert client.count.writes_sent == 4  # the GET is no write


@pytest.mark.parametrize(("step", "wait", "counted"), [
    pytest.param(httpx.Response(503, headers={"Retry-After": "3"}), 3.0, (0, 1, 0),
                 id="whole batch 503"),
    pytest.param(httpx.Response(429, headers={"Retry-After": "3"}), 3.0, (1, 0, 0),
                 id="whole batch 429"),
    pytest.param(httpx.ConnectError("connection reset"), None, (0, 0, 1),
                 id="dropped connection"),
])
def test_a_batch_without_sub_answers_is_resent_whole(
        step: httpx.Response | Exception, wait: float | None,
        counted: tuple[int, int, int]) -> None:
    fake = FakeBatch(script=[step])
    client, sleeps = make(fake)
    results = client.batch(items(3))
    assert fake.ids() == [["0", "1", "2"], ["0", "1", "2"]]
    assert all(r.ok for r in results) and len(sleeps) == 1
    assert sleeps[0] == wait if wait is not None else 1.0 <= sleeps[0] <= 2.0  # backoff
    c = client.count
    assert (c.batches, c.retries, c.writes_sent) == (2, 1, 6)
    assert (c.throttled, c.unavailable, c.dropped) == counted


def test_depends_on_keeps_a_chain_in_one_chunk() -> None:
    chain = [BatchItem("x", "POST", "/users", {}), BatchItem("y", "POST", "/users/x/manager",
                                                             {}, depends_on=("x",))]
    fake = FakeBatch()
    client, _ = make(fake)
    client.batch(items(19) + chain)
    assert [len(post) for post in fake.posts] == [19, 2]
    assert fake.posts[1][1]["dependsOn"] == ["x"]


def chained(count: int) -> list[BatchItem]:
    return [BatchItem(f"c{n}", "POST", "/users", {}, depends_on=(f"c{n - 1}",) if n else ())
            for n in range(count)]


@pytest.mark.parametrize(("batch", "error"), [
    pytest.param(chained(MAX_BATCH + 1), "21 linked by depends_on", id="chain longer than 20"),
    pytest.param([BatchItem("b", "GET", "/me", depends_on=("a",)), BatchItem("a", "GET", "/me")],
                 "does not come before it", id="dependency after its item"),
    pytest.param([BatchItem("a", "GET", "/me"), BatchItem("a", "GET", "/me")], "appears twice",
                 id="duplicate id"),
])
def test_batch_refuses_what_cannot_be_sent(batch: list[BatchItem], error: str) -> None:
    fake = FakeBatch()
    client, _ = make(fake)
    with pytest.raises(ValueError, match=error):
        client.batch(batch)
    assert fake.posts == []


def test_a_chain_of_exactly_20_fits() -> None:
    fake = FakeBatch()
    client, _ = make(fake)
    client.batch(chained(MAX_BATCH))
    assert [len(post) for post in fake.posts] == [20]


def test_sub_requests_throttled_past_max_retries_raise_after_the_others_are_done() -> None:
    def answer(sub: dict[str, Any], _: int) -> tuple[int, dict[str, str]]:
        return (429, {"Retry-After": "1"}) if sub["id"] == "1" else (201, {})

    fake = FakeBatch(answer)
    client, sleeps = make(fake, max_retries=2)
    seen: list[str] = []
    with pytest.raises(GraphThrottled, match="1 of 3 sub-requests still answered HTTP 429"):
        client.batch(items(3), on_result=lambda r: seen.append(r.id))
    assert fake.ids() == [["0", "1", "2"], ["1"], ["1"]] and sleeps == [1.0, 1.0]
    assert seen == ["0", "2"]


# -- retries, budget, errors ------------------------------------------------------------------


def scripted(*steps: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A handler answering the steps in turn, then 200 {}; it keeps what it received."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0) if queue else httpx.Response(200, json={})
        if isinstance(step, Exception):
            raise step
        return step

    return handler, seen


@pytest.mark.parametrize(("retry_after", "wait"), [
    pytest.param("2", 2.0, id="seconds"),
    pytest.param("0", 0.0, id="zero"),
    pytest.param(format_datetime(NOW + timedelta(seconds=7), usegmt=True), 7.0, id="HTTP date"),
    pytest.param(format_datetime(NOW - timedelta(seconds=7), usegmt=True), 0.0, id="past date"),
    pytest.param("soon", None, id="nonsense"),
    pytest.param(None, None, id="absent"),
])
def test_parse_retry_after(retry_after: str | None, wait: float | None) -> None:
    assert parse_retry_after(retry_after, now=NOW) == wait


def test_a_429_with_an_http_date_waits_until_then() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    handler, seen = scripted(httpx.Response(429, headers={"Retry-After": when}))
    client, sleeps = make(handler)
    assert client.get("/organization") == {}
    assert len(seen) == 2 and len(sleeps) == 1 and 27.0 < sleeps[0] <= 30.0
    assert client.count.waited == sleeps[0]


def test_the_request_budget_stops_the_run() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{}], "@odata.nextLink": f"{BASE}/v1.0/users"})

    client, _ = make(handler, request_budget=5)
    with pytest.raises(GraphBudgetExceeded, match="request_budget"):
        client.pages("/users")
    assert client.count.requests == 5


def test_retries_exhausted_raise_graph_throttled() -> None:
    client, sleeps = make(lambda r: httpx.Response(429, headers={"Retry-After": "1"},
                                                   json=error_body("TooManyRequests", "wait")),
                          max_retries=3)
    with pytest.raises(GraphThrottled, match="still HTTP 429 after 4 tries") as caught:
        client.get("/users")
    assert caught.value.status == 429
    assert sleeps == [1.0, 1.0, 1.0]
    assert (client.count.requests, client.count.retries, client.count.throttled) == (4, 3, 4)


def test_a_retry_after_longer_than_max_wait_is_not_waited_for() -> None:
    client, sleeps = make(lambda r: httpx.Response(503, headers={"Retry-After": "3600"}),
                          max_wait=300)
    with pytest.raises(GraphThrottled, match="more than max_wait"):
        client.get("/users")
    assert sleeps == []


def test_connection_errors_are_retried_with_backoff_then_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    client, sleeps = make(handler, max_retries=2)
    with pytest.raises(GraphError, match="no answer after 3 tries") as caught:
        client.get("/users")
    assert not isinstance(caught.value, GraphThrottled)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0] >= 1.0
    assert client.count.dropped == 3


def test_a_tls_failure_says_check_ca_file_and_is_not_retried() -> None:
    handler, seen = scripted(httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate "
                                                "verify failed: self-signed certificate"))
    client, _ = make(handler)
    with pytest.raises(GraphError, match="check ca_file"):
        client.get("/users")
    assert len(seen) == 1


@pytest.mark.parametrize(("response", "expected"), [
    pytest.param(httpx.Response(404, json=error_body(
        "Request_ResourceNotFound", "Resource 'u9' does not exist.", "rid-inner")),
        ["GET /v1.0/users/u9", "HTTP 404", "Request_ResourceNotFound",
         "Resource 'u9' does not exist.", "request-id rid-inner"], id="innerError request-id"),
    pytest.param(httpx.Response(403, headers={"request-id": "rid-header"}, json=error_body(
        "Authorization_RequestDenied", "Insufficient privileges.")),
        ["HTTP 403", "Authorization_RequestDenied", "request-id rid-header", "admin consent"],
        id="request-id header and a hint"),
    pytest.param(httpx.Response(502, text="<html>Bad gateway</html>"),
        ["HTTP 502", "Bad gateway", "request-id none"], id="not JSON"),
])
def test_an_error_names_graphs_code_and_request_id_and_never_the_token(
        response: httpx.Response, expected: list[str]) -> None:
    client, _ = make(lambda r: response)
    with pytest.raises(GraphError) as caught:
        client.get("/users/u9")
    text = str(caught.value)
    assert all(part in text for part in expected), text
    assert TOKEN not in text and "s3cret" not in text and "Bearer" not in text
    assert caught.value.status == response.status_code


def test_a_401_acquires_the_token_again_once() -> None:
    tokens: Iterator[str] = iter(["expired", "fresh"])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer expired":
            return httpx.Response(401, json=error_body("InvalidAuthenticationToken", "expired"))
        return httpx.Response(200, json={"id": "u1"})

    client = Graph(GraphSettings("t", "c"), transport=httpx.MockTransport(handler),
                   token=lambda: next(tokens))
    assert client.get("/users/u1") == {"id": "u1"}
    assert seen == ["Bearer expired", "Bearer fresh"]


def test_a_401_twice_is_an_error_after_one_new_token() -> None:
    handler, seen = scripted(*[httpx.Response(
        401, json=error_body("InvalidAuthenticationToken", "Access token is empty."))] * 3)
    client, _ = make(handler)
    with pytest.raises(GraphError, match=r"InvalidAuthenticationToken.*check the app"):
        client.get("/users")
    assert len(seen) == 2


# -- delta ------------------------------------------------------------------------------------


class FakeDelta:
    """Users by delta: a full read in two pages; a known token gives changes; others are 410."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        self.seen.append(str(request.url))
        assert request.url.path == "/v1.0/users/delta"
        if "$deltatoken" in params:
            if params["$deltatoken"] != "A":
                return httpx.Response(410, json=error_body(
                    "syncStateNotFound", "The sync state is no longer valid.", "rid-410"))
            return httpx.Response(200, json={
                "value": [{"id": "u2", "@removed": {"reason": "deleted"}}],
                "@odata.deltaLink": f"{BASE}/v1.0/users/delta?$deltatoken=B"})
        if params.get("$skiptoken") == "2":
            return httpx.Response(200, json={
                "value": [{"id": "u2"}],
                "@odata.deltaLink": f"{BASE}/v1.0/users/delta?$deltatoken=A"})
        assert params["$select"] == "id,displayName"
        return httpx.Response(200, json={
            "value": [{"id": "u1"}], "@odata.nextLink": f"{BASE}/v1.0/users/delta?$skiptoken=2"})


def test_delta_full_then_incremental_then_expired_reads_in_full_again() -> None:
    fake = FakeDelta()
    client, _ = make(fake)
    select = ["id", "displayName"]
    first = client.delta("users", None, select)
    assert (first.full, first.reason, [u["id"] for u in first.items]) == \
        (True, "first read", ["u1", "u2"])
    assert first.delta_link.endswith("$deltatoken=A")
    changes = client.delta("users", first.delta_link, select, saved_at=NOW, now=NOW)
    assert (changes.full, changes.reason, changes.items) == \
        (False, "", [{"id": "u2", "@removed": {"reason": "deleted"}}])
    again = client.delta("users", changes.delta_link, select, saved_at=NOW, now=NOW)
    assert (again.full, again.reason) == (True, "link expired (syncStateNotFound)")
    assert [u["id"] for u in again.items] == ["u1", "u2"]
    assert len(fake.seen) == 2 + 1 + 1 + 2


def test_a_delta_link_older_than_7_days_is_not_used() -> None:
    fake = FakeDelta()
    client, _ = make(fake)
    link = f"{BASE}/v1.0/users/delta?$deltatoken=A"
    old = client.delta("users", link, ["id", "displayName"], saved_at=NOW - timedelta(days=8),
                       now=NOW)
    assert (old.full, old.reason) == (True, "link older than 7 days")
    assert "deltatoken" not in " ".join(fake.seen)


def test_a_delta_link_saved_for_another_graph_url_reads_whole_and_sends_no_token_there(
        ) -> None:
    # the target moved, or the lab's emulator came back on another port
    fake = FakeDelta()
    client, _ = make(fake)
    link = "https://127.0.0.9:45749/v1.0/users/delta?$deltatoken=A"
    moved = client.delta("users", link, ["id", "displayName"], saved_at=NOW, now=NOW)
    assert (moved.full, moved.reason) == (True, "link of another graph_url")
    assert [u["id"] for u in moved.items] == ["u1", "u2"]
    assert moved.delta_link.startswith(BASE)
    assert not any("45749" in url for url in fake.seen)


def test_delta_links_round_trip_in_a_private_file(tmp_path: Path) -> None:
    links = DeltaLinks(tmp_path)
    assert links.get("lwd", "users") is None
    links.put("lwd", "users", "https://g/users/delta?$deltatoken=A", NOW)
    links.put("lwd", "groups", "https://g/groups/delta?$deltatoken=G", NOW)
    links.put("smd", "users", "https://g/users/delta?$deltatoken=S", NOW)
    again = DeltaLinks(tmp_path)
    assert again.get("lwd", "users") == ("https://g/users/delta?$deltatoken=A", NOW)
    assert stat.S_IMODE(again.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(again.path.parent.stat().st_mode) == 0o700
    again.forget("lwd")
    assert again.get("lwd", "groups") is None and again.get("smd", "users") is not None
    assert [p.name for p in again.path.parent.iterdir()] == ["delta.json"]  # no temp left


def test_a_broken_delta_link_file_says_how_to_recover(tmp_path: Path) -> None:
    links = DeltaLinks(tmp_path)
    links.path.parent.mkdir(parents=True)
    links.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(BackendError, match="remove it"):
        links.get("lwd", "users")


# -- login with MSAL (faked: no login server) -------------------------------------------------


class FakeMsal:
    """Stands in for msal.ConfidentialClientApplication and records how it was made."""

    made: list[dict[str, Any]] = []  # noqa: RUF012 - a test's record, reset per test
    answer: dict[str, Any] = {}  # noqa: RUF012

    def __init__(self, client_id: str, **options: Any) -> None:
        FakeMsal.made.append({"client_id": client_id, **options})

    def acquire_token_for_client(self, scopes: list[str]) -> dict[str, Any]:
        FakeMsal.made[-1]["scopes"] = scopes
        return FakeMsal.answer


@pytest.fixture
def fake_msal(monkeypatch: pytest.MonkeyPatch) -> type[FakeMsal]:
    FakeMsal.made = []
    FakeMsal.answer = {"access_token": "from-msal", "expires_in": 3599}
    monkeypatch.setattr("ssc_infra.m365.login.msal.ConfidentialClientApplication",
                        FakeMsal)
    return FakeMsal


def test_msal_logs_in_with_its_own_session_that_ignores_requests_ca_bundle(
        fake_msal: type[FakeMsal], tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        return httpx.Response(200, json={})

    settings = GraphSettings("tenant-1", "client-1", secret=Secret("s3cret"), ca_file=str(ca),
                             graph_url="https://127.0.0.1:8443",
                             login_url="https://127.0.0.1:8443/login")
    with Graph(settings, transport=httpx.MockTransport(handler)) as client:
        client.get("/organization")
    made = fake_msal.made[0]
    assert seen == ["Bearer from-msal"]
    assert made["client_credential"] == "s3cret" and made["instance_discovery"] is False
    assert made["authority"] == "https://127.0.0.1:8443/login/tenant-1"
    assert made["scopes"] == ["https://127.0.0.1:8443/.default"]
    assert made["http_client"].trust_env is False and made["http_client"].verify == str(ca)


def test_a_refused_login_names_what_to_check_and_not_the_secret(
        fake_msal: type[FakeMsal]) -> None:
    fake_msal.answer = {"error": "invalid_client",
                        "error_description": "AADSTS7000215: Invalid client secret provided.\n"
                                             "Trace ID: 1"}
    client = Graph(GraphSettings("tenant-1", "client-1", secret=Secret("s3cret")),
                   transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    with pytest.raises(GraphError, match="check client_id and the secret") as caught:
        client.get("/organization")
    assert "AADSTS7000215" in str(caught.value) and "s3cret" not in str(caught.value)


def test_a_certificate_logs_in_with_its_key_and_thumbprint(
        fake_msal: type[FakeMsal], tmp_path: Path) -> None:
    issued = trustme.CA().issue_cert("ssc-infra.example", key_type=trustme.KeyType.RSA)
    pem = tmp_path / "app.pem"
    issued.private_key_and_cert_chain_pem.write_to_path(str(pem))
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    client = Graph(GraphSettings("tenant-1", "client-1", certificate_file=str(pem)),
                   transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    client.get("/organization")
    credential = fake_msal.made[0]["client_credential"]
    assert credential["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex()
    assert credential["private_key"].startswith("-----BEGIN PRIVATE KEY-----")


def test_a_certificate_with_an_ec_key_is_refused_before_login(
        fake_msal: type[FakeMsal], tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    trustme.CA().issue_cert("x.example").private_key_and_cert_chain_pem.write_to_path(str(pem))
    client = Graph(GraphSettings("tenant-1", "client-1", certificate_file=str(pem)),
                   transport=httpx.MockTransport(lambda r: httpx.Response(200, json={})))
    with pytest.raises(GraphError, match="RSA keys only"):
        client.get("/organization")
    assert fake_msal.made == []
