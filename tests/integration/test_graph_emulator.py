"""The Microsoft Graph emulator over real HTTPS, with httpx and MSAL.

It needs no external server, so these tests always run. Each one gets a fresh emulator on a
free loopback port in its own tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msal
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ssc_infra.graph_emulator import DEFAULT_SKUS, EmulatorControl, Fault, GraphEmulator, Sku

ROOT = Path(__file__).resolve().parents[2]
TENANT = "0d5c6a4e-0000-4000-8000-00000000000a"
OTHER = "0d5c6a4e-0000-4000-8000-00000000000b"
DOMAIN = "gemeente-a.nl"
PASSWORD = "Welkom-2026!x"
E3, E5, EXCHANGE = (s.skuId for s in DEFAULT_SKUS)


def trust(ca_file: Path | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


class FakeClock:
    """The emulator's throttling clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_for(emulator: GraphEmulator, tenant: str, secret: str | None = None) -> httpx.Response:
    return httpx.post(f"{emulator.login_url}/{tenant}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": emulator.client_id,
                            "client_secret": secret or emulator.client_secret,
                            "scope": f"{emulator.url}/.default"},
                      verify=trust(emulator.ca_file), trust_env=False)


def client_for(emulator: GraphEmulator, tenant: str = TENANT) -> httpx.Client:
    access = token_for(emulator, tenant).json()["access_token"]
    return httpx.Client(base_url=f"{emulator.url}/v1.0", verify=trust(emulator.ca_file),
                        trust_env=False, headers={"Authorization": f"Bearer {access}"})


def user_body(name: str, domain: str = DOMAIN, **extra: Any) -> dict[str, Any]:
    return {"accountEnabled": True, "displayName": name.title(), "mailNickname": name,
            "userPrincipalName": f"{name}@{domain}",
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": True},
            **extra}


def create_user(graph: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    response = graph.post("/users", json=user_body(name, **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    return error


def batch(graph: httpx.Client, requests_: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    response = graph.post("/$batch", json={"requests": requests_})
    assert response.status_code == 200, response.text
    return {answer["id"]: answer for answer in response.json()["responses"]}


def post_user_step(step_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "method": "POST", "url": "/users", "body": user_body(name),
            "headers": {"Content-Type": "application/json"}, **extra}


def states_of(graph: httpx.Client, upn: str) -> list[dict[str, Any]]:
    response = graph.get(f"/users/{upn}", params={"$select": "licenseAssignmentStates"})
    states: list[dict[str, Any]] = response.json()["licenseAssignmentStates"]
    return states


def consumed(graph: httpx.Client, part_number: str) -> int:
    skus = graph.get("/subscribedSkus").json()["value"]
    return int(next(s for s in skus if s["skuPartNumber"] == part_number)["consumedUnits"])


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    with GraphEmulator(tmp_path / "graph") as running:
        running.add_tenant(TENANT, [DOMAIN, "gemeentea.onmicrosoft.com"])
        yield running


@pytest.fixture
def graph(emulator: GraphEmulator) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client


# ---- login ---------------------------------------------------------------------------------


def msal_session(emulator: GraphEmulator) -> requests.Session:
    # The machine's REQUESTS_CA_BUNDLE would override verify= (requests #3829): not with this.
    session = requests.Session()
    session.trust_env = False
    session.verify = str(emulator.ca_file)
    return session


def test_msal_gets_a_token_that_graph_accepts(emulator: GraphEmulator) -> None:
    app = msal.ConfidentialClientApplication(
        emulator.client_id, client_credential=emulator.client_secret,
        authority=f"{emulator.login_url}/{TENANT}", instance_discovery=False,
        http_client=msal_session(emulator))
    result = app.acquire_token_for_client(scopes=[f"{emulator.url}/.default"])
    assert result["token_type"] == "Bearer" and result["expires_in"] > 3000
    answer = httpx.get(f"{emulator.url}/v1.0/users", verify=trust(emulator.ca_file),
                       trust_env=False,
                       headers={"Authorization": f"Bearer {result['access_token']}"})
    assert answer.status_code == 200 and answer.json()["value"] == []


def test_msal_signs_in_with_a_certificate_and_by_domain(emulator: GraphEmulator) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ssc-infra")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - timedelta(minutes=1))
                   .not_valid_after(now + timedelta(hours=1))
                   .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    thumbprint = hashlib.sha1(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()
    app = msal.ConfidentialClientApplication(
        emulator.client_id, client_credential={"private_key": pem, "thumbprint": thumbprint},
        authority=f"{emulator.login_url}/{DOMAIN}", instance_discovery=False,
        http_client=msal_session(emulator))
    result = app.acquire_token_for_client(scopes=[f"{emulator.url}/.default"])
    assert "access_token" in result, result


def test_a_wrong_secret_or_token_is_refused(emulator: GraphEmulator) -> None:
    app = msal.ConfidentialClientApplication(
        emulator.client_id, client_credential="not-the-secret",
        authority=f"{emulator.login_url}/{TENANT}", instance_discovery=False,
        http_client=msal_session(emulator))
    result = app.acquire_token_for_client(scopes=[f"{emulator.url}/.default"])
    assert result["error"] == "invalid_client" and 7000215 in result["error_codes"]
    assert "AADSTS7000215" in result["error_description"]
    assert "not-the-secret" not in json.dumps(result)
    unknown = token_for(emulator, "no-such-tenant")
    assert unknown.status_code == 400 and unknown.json()["error_codes"] == [90002]

    def graph_with(header: str | None) -> httpx.Response:
        headers = {"Authorization": header} if header else {}
        return httpx.get(f"{emulator.url}/v1.0/users", headers=headers,
                         verify=trust(emulator.ca_file), trust_env=False)

    access = token_for(emulator, TENANT).json()["access_token"]
    forged = access[:-4] + ("AAAA" if not access.endswith("AAAA") else "BBBB")
    for header in (None, "Bearer nonsense", f"Bearer {forged}"):
        answer = graph_with(header)
        assert answer.status_code == 401
        assert error_of(answer)["code"] == "InvalidAuthenticationToken"


# ---- users ---------------------------------------------------------------------------------


def test_users_are_created_read_and_patched(emulator: GraphEmulator,
                                            graph: httpx.Client) -> None:
    created = create_user(graph, "jdevries", employeeId="10001", department="Burgerzaken")
    assert "accountEnabled" not in created and "passwordProfile" not in created
    by_upn = graph.get(f"/users/jdevries@{DOMAIN.upper()}").json()
    assert by_upn["id"] == created["id"]
    assert "employeeId" not in by_upn  # Graph's default set, without $select
    patched = graph.patch(f"/users/jdevries@{DOMAIN}", json={"jobTitle": "Adviseur",
                                                           "accountEnabled": False,
                                                           "mail": f"j.devries@{DOMAIN}"})
    assert patched.status_code == 204
    chosen = graph.get(f"/users/{created['id']}", params={
        "$select": "accountEnabled,jobTitle,employeeId,department,mail,proxyAddresses,"
                   "passwordProfile,onPremisesSyncEnabled"}).json()
    assert chosen["accountEnabled"] is False and chosen["jobTitle"] == "Adviseur"
    assert chosen["employeeId"] == "10001" and chosen["department"] == "Burgerzaken"
    assert chosen["proxyAddresses"] == [f"SMTP:j.devries@{DOMAIN}"]
    assert chosen["passwordProfile"] is None
    read_only = graph.patch(f"/users/{created['id']}", json={"proxyAddresses": []})
    assert read_only.status_code == 400
    assert emulator.writes(TENANT) == [("POST", "/v1.0/users"),
                                       ("PATCH", f"/v1.0/users/jdevries@{DOMAIN}")]
    assert graph.delete(f"/users/{created['id']}").status_code == 204
    assert graph.get(f"/users/{created['id']}").status_code == 404


def test_user_creation_is_checked_as_graph_checks_it(graph: httpx.Client) -> None:
    create_user(graph, "pjansen")
    duplicate = graph.post("/users", json=user_body("pjansen"))
    assert duplicate.status_code == 400
    assert error_of(duplicate)["message"] == ("Another object with the same value for property "
                                              "userPrincipalName already exists.")
    foreign = graph.post("/users", json=user_body("pjansen", domain="elders.nl"))
    assert foreign.status_code == 400 and "domain portion" in error_of(foreign)["message"]
    body = user_body("kbakker")
    del body["mailNickname"]
    assert graph.post("/users", json=body).status_code == 400
    weak = graph.post("/users", json=user_body("kbakker", passwordProfile={"password": "abc"}))
    assert "complexity" in error_of(weak)["message"]
    bad_json = graph.post("/users", content=b"{not json",
                          headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and error_of(bad_json)["code"] == "BadRequest"
    missing = graph.get("/users/7c4a0d56-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "Request_ResourceNotFound"
    unknown = graph.get("/nothingHere")
    assert unknown.status_code == 404


def test_lists_page_with_an_absolute_next_link(emulator: GraphEmulator,
                                               graph: httpx.Client) -> None:
    for number in range(7):
        create_user(graph, f"user{number}")
    seen: list[str] = []
    url: str | None = f"{emulator.url}/v1.0/users?$top=3&$select=userPrincipalName"
    pages = 0
    while url is not None:
        page = graph.get(url).json()
        assert url.startswith(emulator.url)
        seen += [u["userPrincipalName"] for u in page["value"]]
        url = page.get("@odata.nextLink")
        pages += 1
    assert pages == 3 and seen == [f"user{n}@{DOMAIN}" for n in range(7)]
    assert graph.get("/users", params={"$top": "1000"}).status_code == 400
    assert graph.get("/users", params={"$orderby": "displayName"}).status_code == 400


def test_filter_knows_eq_startswith_in_and_or(graph: httpx.Client) -> None:
    create_user(graph, "anna", employeeId="1", mail=f"anna@{DOMAIN}")
    create_user(graph, "anton", employeeId="2", accountEnabled=False)
    create_user(graph, "bert", employeeId="3")

    def names(expression: str) -> list[str]:
        response = graph.get("/users", params={"$filter": expression,
                                               "$select": "mailNickname"})
        assert response.status_code == 200, response.text
        return [u["mailNickname"] for u in response.json()["value"]]

    assert names(f"userPrincipalName eq 'ANNA@{DOMAIN}'") == ["anna"]
    assert names("employeeId eq '3'") == ["bert"]
    assert names(f"mail eq 'anna@{DOMAIN}'") == ["anna"]
    assert names("accountEnabled eq false") == ["anton"]
    assert names("startswith(userPrincipalName,'an')") == ["anna", "anton"]
    assert names("startswith(userPrincipalName,'an') and accountEnabled eq true") == ["anna"]
    assert names("employeeId in ('1','3')") == ["anna", "bert"]
    assert names("(employeeId eq '1' or employeeId eq '2') and accountEnabled eq true") == \
        ["anna"]
    unsupported = graph.get("/users", params={"$filter": "city eq 'Sneek'"})
    assert error_of(unsupported)["code"] == "Request_UnsupportedQuery"
    assert graph.get("/users", params={"$filter": "employeeId ne '1'"}).status_code == 400


# ---- licences ------------------------------------------------------------------------------


def test_assign_licence_needs_a_usage_location_and_a_free_seat(emulator: GraphEmulator,
                                                               graph: httpx.Client) -> None:
    emulator.set_seats(TENANT, "EXCHANGESTANDARD", 1)
    first = create_user(graph, "eerste", usageLocation="NL")
    second = create_user(graph, "tweede", usageLocation="NL")
    nowhere = create_user(graph, "derde")
    add = {"addLicenses": [{"skuId": EXCHANGE, "disabledPlans": []}], "removeLicenses": []}
    assert graph.post(f"/users/{first['id']}/assignLicense", json=add).status_code == 200
    full = graph.post(f"/users/{second['id']}/assignLicense", json=add)
    assert full.status_code == 400 and "EXCHANGESTANDARD" in error_of(full)["message"]
    located = graph.post(f"/users/{nowhere['id']}/assignLicense", json=add)
    assert error_of(located)["message"] == ("License assignment cannot be done for user with "
                                            "invalid usage location.")
    skus = {s["skuPartNumber"]: s for s in graph.get("/subscribedSkus").json()["value"]}
    assert skus["EXCHANGESTANDARD"]["consumedUnits"] == 1
    assert skus["EXCHANGESTANDARD"]["prepaidUnits"]["enabled"] == 1
    assert skus["SPE_E3"]["skuId"] == E3 and skus["SPE_E3"]["consumedUnits"] == 0
    held = graph.get(f"/users/{first['id']}", params={"$select": "assignedLicenses"}).json()
    assert held["assignedLicenses"] == [{"disabledPlans": [], "skuId": EXCHANGE}]
    remove = {"addLicenses": [], "removeLicenses": [EXCHANGE]}
    assert graph.post(f"/users/{first['id']}/assignLicense", json=remove).status_code == 200
    assert consumed(graph, "EXCHANGESTANDARD") == 0
    assert graph.post(f"/users/{second['id']}/assignLicense", json=add).status_code == 200
    both = {"addLicenses": [{"skuId": E3}, {"skuId": E5}], "removeLicenses": []}
    exclusive = graph.post(f"/users/{second['id']}/assignLicense", json=both)
    assert exclusive.status_code == 400 and "mutually exclusive" in error_of(exclusive)["message"]


# ---- $batch --------------------------------------------------------------------------------


def test_a_batch_of_more_than_20_is_refused_whole(emulator: GraphEmulator,
                                                  graph: httpx.Client) -> None:
    steps = [post_user_step(str(n), f"batch{n}") for n in range(21)]
    response = graph.post("/$batch", json={"requests": steps})
    assert response.status_code == 400 and error_of(response)["code"] == "BadRequest"
    assert emulator.writes(TENANT) == []
    assert emulator.requests == 1


def test_batch_answers_are_shuffled_and_a_failed_dependency_gives_424(
        emulator: GraphEmulator, graph: httpx.Client) -> None:
    taken = create_user(graph, "bezet")
    steps: list[dict[str, Any]] = [
        {"id": str(n), "method": "GET", "url": f"/users/{taken['id']}?$select=id"}
        for n in range(8)]
    steps += [post_user_step("dup", "bezet"), post_user_step("after", "later", dependsOn=["dup"]),
              post_user_step("new", "nieuw"),
              {"id": "grant", "method": "POST", "url": "/users/nieuw@gemeente-a.nl/assignLicense",
               "dependsOn": ["new"], "headers": {"Content-Type": "application/json"},
               "body": {"addLicenses": [], "removeLicenses": []}}]
    response = graph.post("/$batch", json={"requests": steps})
    order = [answer["id"] for answer in response.json()["responses"]]
    assert sorted(order) == sorted(s["id"] for s in steps) and order != [s["id"] for s in steps]
    answers = {a["id"]: a for a in response.json()["responses"]}
    assert all(answers[str(n)]["status"] == 200 for n in range(8))
    assert answers["dup"]["status"] == 400 and answers["after"]["status"] == 424
    assert answers["new"]["status"] == 201 and answers["grant"]["status"] == 200
    assert graph.get("/users/later@gemeente-a.nl").status_code == 404
    assert emulator.requests == 3  # the POST, the batch, the GET
    missing_type = {"id": "x", "method": "PATCH", "url": f"/users/{taken['id']}",
                    "body": {"jobTitle": "x"}}
    assert graph.post("/$batch", json={"requests": [missing_type]}).status_code == 400


def test_an_in_batch_429_is_not_executed_and_the_retry_applies_once(
        emulator: GraphEmulator, graph: httpx.Client) -> None:
    emulator.inject(TENANT, Fault("throttle", count=1, retry_after=0.05, path="/users",
                                  in_batch=True))
    answers = batch(graph, [post_user_step(str(n), f"lid{n}") for n in range(3)])
    throttled = [a for a in answers.values() if a["status"] == 429]
    assert len(throttled) == 1 and throttled[0]["headers"]["Retry-After"] == "0.05"
    assert error_of_body(throttled[0])["code"] == "TooManyRequests"
    assert len(emulator.writes(TENANT)) == 2 and emulator.throttled == 1
    time.sleep(float(throttled[0]["headers"]["Retry-After"]))
    again = batch(graph, [post_user_step(throttled[0]["id"], f"lid{throttled[0]['id']}")])
    assert again[throttled[0]["id"]]["status"] == 201
    listed = graph.get("/users", params={"$select": "id,userPrincipalName"}).json()["value"]
    assert sorted(u["userPrincipalName"] for u in listed) == \
        [f"lid{n}@{DOMAIN}" for n in range(3)]
    assert emulator.writes(TENANT) == [("POST", "/v1.0/users")] * 3


def error_of_body(answer: dict[str, Any]) -> dict[str, Any]:
    error: dict[str, Any] = answer["body"]["error"]
    return error


# ---- throttling and faults -----------------------------------------------------------------


def test_the_write_window_answers_429_with_retry_after(tmp_path: Path) -> None:
    clock = FakeClock()
    with GraphEmulator(tmp_path / "graph", write_limit=3, write_window=10.0,
                       clock=clock) as emulator:
        emulator.add_tenant(TENANT, [DOMAIN])
        with client_for(emulator) as graph:
            for n in range(2):
                create_user(graph, f"w{n}")
            clock.now += 4
            answers = batch(graph, [post_user_step("a", "w2"), post_user_step("b", "w3")])
            assert sorted(a["status"] for a in answers.values()) == [201, 429]
            assert graph.get("/users").status_code == 200  # reads are not limited
            over = graph.patch("/users/w0@gemeente-a.nl", json={"jobTitle": "x"})
            assert over.status_code == 429 and over.headers["Retry-After"] == "6"
            clock.now += 6
            assert graph.patch("/users/w0@gemeente-a.nl", json={"jobTitle": "x"}).status_code \
                == 204
        assert emulator.throttled == 2 and len(emulator.writes(TENANT)) == 4


def test_injected_faults_answer_503_or_drop_the_connection(emulator: GraphEmulator,
                                                           graph: httpx.Client) -> None:
    emulator.inject(TENANT, Fault("unavailable", retry_after=2, path="/subscribedSkus"))
    assert graph.get("/users").status_code == 200  # another path: not hit
    unavailable = graph.get("/subscribedSkus")
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"] == "2"
    assert graph.get("/subscribedSkus").status_code == 200
    emulator.inject(TENANT, Fault("drop"))
    with pytest.raises(httpx.RemoteProtocolError):
        graph.post("/users", json=user_body("verloren"))
    assert emulator.writes(TENANT) == []
    emulator.inject(TENANT, Fault("drop", executed=True))
    with pytest.raises(httpx.RemoteProtocolError):
        graph.post("/users", json=user_body("toch"))
    made = graph.get("/users/toch@gemeente-a.nl")
    assert made.status_code == 200
    retried = graph.post("/users", json=user_body("toch"))  # the answer was lost: try again
    assert retried.status_code == 400
    assert emulator.writes(TENANT) == [("POST", "/v1.0/users")]
    with pytest.raises(ValueError, match="sub-request"):
        Fault("drop", in_batch=True)


# ---- delta ---------------------------------------------------------------------------------


def test_delta_pages_then_gives_only_changes_then_expires(tmp_path: Path) -> None:
    with GraphEmulator(tmp_path / "graph", page_size=2) as emulator:
        emulator.add_tenant(TENANT, [DOMAIN])
        with client_for(emulator) as graph:
            users = [create_user(graph, f"d{n}") for n in range(3)]
            first = graph.get("/users/delta", params={"$select": "displayName,jobTitle"}).json()
            assert len(first["value"]) == 2 and "@odata.deltaLink" not in first
            early_page = first["@odata.nextLink"]
            last = graph.get(early_page).json()
            assert len(last["value"]) == 1
            delta_link = last["@odata.deltaLink"]
            assert delta_link.startswith(f"{emulator.url}/v1.0/users/delta?$deltatoken=")
            graph.patch(f"/users/{users[0]['id']}", json={"jobTitle": "Teamleider"})
            graph.delete(f"/users/{users[1]['id']}")
            added = create_user(graph, "d3")
            changes = graph.get(delta_link).json()
            pages = [changes]
            while "@odata.nextLink" in pages[-1]:
                pages.append(graph.get(pages[-1]["@odata.nextLink"]).json())
            items = {i["id"]: i for page in pages for i in page["value"]}
            assert items[users[0]["id"]]["jobTitle"] == "Teamleider"
            assert set(items[users[0]["id"]]) == {"id", "displayName", "jobTitle"}
            assert items[users[1]["id"]] == {"id": users[1]["id"],
                                             "@removed": {"reason": "changed"}}
            assert items[added["id"]]["displayName"] == "D3" and len(items) == 3
            quiet = graph.get(pages[-1]["@odata.deltaLink"]).json()
            assert quiet["value"] == [] and "@odata.deltaLink" in quiet
            emulator.expire_deltas(TENANT)
            for link in (quiet["@odata.deltaLink"], early_page):
                gone = graph.get(link)
                assert gone.status_code == 410
                assert error_of(gone)["code"] == "syncStateNotFound"
            assert graph.get("/users/delta").status_code == 200  # a new round starts


# ---- groups --------------------------------------------------------------------------------


def test_groups_members_and_refs(tmp_path: Path) -> None:
    with GraphEmulator(tmp_path / "graph", page_size=2) as emulator:
        emulator.add_tenant(TENANT, [DOMAIN])
        with client_for(emulator) as graph:
            users = [create_user(graph, f"m{n}") for n in range(3)]
            made = graph.post("/groups", json={"displayName": "GG-Burgerzaken",
                                               "mailEnabled": False, "mailNickname": "gg-bz",
                                               "securityEnabled": True,
                                               "description": "Burgerzaken"})
            assert made.status_code == 201
            group = made.json()
            assert graph.get(f"/groups/{group['id']}").json()["description"] == "Burgerzaken"
            round_one = graph.get("/groups/delta").json()
            delta_link = round_one["@odata.deltaLink"]
            reference = {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/"
                                      f"{users[0]['id']}"}
            refs = f"/groups/{group['id']}/members/$ref"
            assert graph.post(refs, json=reference).status_code == 204
            twice = graph.post(refs, json=reference)
            assert twice.status_code == 400
            assert error_of(twice)["message"] == (
                "One or more added object references already exist for the following modified "
                "properties: 'members'.")
            for user in users[1:]:
                graph.post(refs, json={"@odata.id": f"{emulator.url}/v1.0/directoryObjects/"
                                                    f"{user['id']}"})
            page = graph.get(f"/groups/{group['id']}/members",
                             params={"$select": "id,userPrincipalName"}).json()
            assert len(page["value"]) == 2 and page["value"][0]["@odata.type"] == \
                "#microsoft.graph.user"
            rest = graph.get(page["@odata.nextLink"]).json()
            members = [m["id"] for m in page["value"] + rest["value"]]
            assert members == [u["id"] for u in users]
            leave = f"/groups/{group['id']}/members/{users[0]['id']}/$ref"
            assert graph.delete(leave).status_code == 204
            assert graph.delete(leave).status_code == 404
            changed = graph.get(delta_link).json()["value"]
            assert [g["id"] for g in changed] == [group["id"]]
            assert {(m["id"], "@removed" in m) for m in changed[0]["members@delta"]} == \
                {(users[0]["id"], True), (users[1]["id"], False), (users[2]["id"], False)}
            missing = graph.post(refs, json={"@odata.id": "https://graph.microsoft.com/v1.0/"
                                                         "directoryObjects/nobody"})
            assert missing.status_code == 404
            mail_enabled = graph.post("/groups", json={"displayName": "DL", "mailEnabled": True,
                                                       "mailNickname": "dl",
                                                       "securityEnabled": False})
            assert mail_enabled.status_code == 400


# ---- Entra Connect and group-based licensing -----------------------------------------------


def synced_users(count: int) -> list[dict[str, Any]]:
    return [{"onPremisesImmutableId": f"aW1tdXRhYmxl{n}", "userPrincipalName": f"s{n}@{DOMAIN}",
             "displayName": f"Synced {n}", "employeeId": f"E{n}", "accountEnabled": True,
             "mail": f"s{n}@{DOMAIN}", "usageLocation": "NL"} for n in range(count)]


def test_sync_hybrid_and_group_licences_give_count_violations(emulator: GraphEmulator,
                                                              graph: httpx.Client) -> None:
    users = synced_users(3)
    group = {"onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1001",
             "displayName": "GG-M365-E3", "members": [u["onPremisesImmutableId"] for u in users]}
    emulator.sync_hybrid(TENANT, users, [group])
    emulator.set_seats(TENANT, "SPE_E3", 2)
    emulator.set_group_licences(TENANT, "GG-M365-E3", ["SPE_E3"])
    group_id = graph.get("/groups", params={"$filter": "displayName eq 'GG-M365-E3'"}).json()[
        "value"][0]["id"]
    states = [states_of(graph, u["userPrincipalName"]) for u in users]
    assert [(s[0]["state"], s[0]["error"]) for s in states] == [
        ("Active", "None"), ("Active", "None"), ("Error", "CountViolation")]
    assert all(s[0]["assignedByGroup"] == group_id and s[0]["skuId"] == E3 for s in states)
    assert consumed(graph, "SPE_E3") == 2
    emulator.set_seats(TENANT, "SPE_E3", 3)
    assert states_of(graph, "s2@gemeente-a.nl")[0]["state"] == "Active"
    assert consumed(graph, "SPE_E3") == 3

    emulator.set_group_licences(TENANT, "GG-M365-E3", ["SPE_E3", "SPE_E5"])
    e5 = [s for s in states_of(graph, "s0@gemeente-a.nl") if s["skuId"] == E5]
    assert e5[0]["state"] == "Error" and e5[0]["error"] == "MutuallyExclusiveViolation"

    emulator.sync_hybrid(TENANT, users, [{**group, "members": [users[0]["onPremisesImmutableId"]]}])
    assert states_of(graph, "s1@gemeente-a.nl") == []
    assert consumed(graph, "SPE_E3") == 1

    synced = graph.get("/users/s0@gemeente-a.nl", params={
        "$select": "id,onPremisesSyncEnabled,onPremisesImmutableId"}).json()
    assert synced["onPremisesSyncEnabled"] is True
    refused = graph.patch(f"/users/{synced['id']}", json={"displayName": "Anders"})
    assert refused.status_code == 400 and "on-premises mastered" in error_of(refused)["message"]
    assert graph.patch(f"/users/{synced['id']}", json={"usageLocation": "BE"}).status_code == 204
    member = graph.post(f"/groups/{group_id}/members/$ref",
                        json={"@odata.id": f"{emulator.url}/v1.0/directoryObjects/"
                                           f"{synced['id']}"})
    assert member.status_code == 400
    assert graph.delete(f"/users/{synced['id']}").status_code == 400
    with pytest.raises(ValueError, match="unknown members"):
        emulator.sync_hybrid(TENANT, [], [{**group, "members": ["nobody"]}])


def test_sync_takes_over_a_cloud_user_with_the_same_upn(emulator: GraphEmulator,
                                                         graph: httpx.Client) -> None:
    cloud = create_user(graph, "s0")
    emulator.sync_hybrid(TENANT, synced_users(1), [])
    synced = graph.get("/users/s0@gemeente-a.nl",
                       params={"$select": "id,onPremisesSyncEnabled,employeeId"}).json()
    assert synced == {"@odata.context": synced["@odata.context"], "id": cloud["id"],
                      "onPremisesSyncEnabled": True, "employeeId": "E0"}


def test_sync_refuses_what_entra_connect_could_not_export(emulator: GraphEmulator) -> None:
    with pytest.raises(ValueError, match="onPremisesImmutableId is required"):
        emulator.sync_hybrid(TENANT, [{"userPrincipalName": f"x@{DOMAIN}"}], [])
    with pytest.raises(ValueError, match="domain"):
        emulator.sync_hybrid(TENANT, [{"onPremisesImmutableId": "a",
                                       "userPrincipalName": "x@elders.nl"}], [])
    with pytest.raises(ValueError, match="unknown properties"):
        emulator.sync_hybrid(TENANT, [{**synced_users(1)[0], "city": "Sneek"}], [])
    with pytest.raises(ValueError, match="no SKU"):
        emulator.set_seats(TENANT, "SPE_F1", 3)


def test_purge_member_of_domains_and_group_licences_through_graph(
        emulator: GraphEmulator, graph: httpx.Client) -> None:
    user = create_user(graph, "weg", usageLocation="NL")
    group = graph.post("/groups", json={"displayName": "Team", "mailEnabled": True,
                                        "mailNickname": "team", "securityEnabled": False,
                                        "groupTypes": ["Unified"]}).json()
    assert group["mail"] == f"team@{DOMAIN}"
    graph.post(f"/groups/{group['id']}/members/$ref",
               json={"@odata.id": f"{emulator.url}/v1.0/users/{user['id']}"})
    granted = graph.post(f"/groups/{group['id']}/assignLicense",
                         json={"addLicenses": [{"skuId": EXCHANGE}], "removeLicenses": []})
    assert granted.status_code == 202
    assert states_of(graph, user["id"])[0]["assignedByGroup"] == group["id"]
    inherited = graph.post(f"/users/{user['id']}/assignLicense",
                           json={"addLicenses": [], "removeLicenses": [EXCHANGE]})
    assert "inherited from a group" in error_of(inherited)["message"]
    member_of = graph.get(f"/users/{user['id']}/memberOf").json()["value"]
    assert [g["displayName"] for g in member_of] == ["Team"]
    domains = graph.get("/domains").json()["value"]
    assert [(d["id"], d["isDefault"]) for d in domains] == [
        (DOMAIN, True), ("gemeentea.onmicrosoft.com", False)]
    assert graph.get("/organization").json()["value"][0]["id"] == TENANT
    delta_link = graph.get("/users/delta").json()["@odata.deltaLink"]
    assert graph.delete(f"/users/{user['id']}").status_code == 204
    assert consumed(graph, "EXCHANGESTANDARD") == 0
    assert graph.delete(f"/directory/deletedItems/{user['id']}").status_code == 204
    removed = graph.get(delta_link).json()["value"]
    assert removed == [{"id": user["id"], "@removed": {"reason": "deleted"}}]


def test_tenants_are_isolated(emulator: GraphEmulator, graph: httpx.Client) -> None:
    emulator.add_tenant(OTHER, ["gemeente-b.nl"], skus=[Sku(E3, "SPE_E3", 5)])
    mine = create_user(graph, "alleen")
    with client_for(emulator, OTHER) as other:
        assert other.get("/users").json()["value"] == []
        assert other.get(f"/users/{mine['id']}").status_code == 404
        assert other.post("/users", json=user_body("x")).status_code == 400  # A's domain
        made = other.post("/users", json=user_body("x", domain="gemeente-b.nl"))
        assert made.status_code == 201
        skus = other.get("/subscribedSkus").json()["value"]
        assert [s["skuPartNumber"] for s in skus] == ["SPE_E3"]
    assert [u["mailNickname"] for u in graph.get(
        "/users", params={"$select": "mailNickname"}).json()["value"]] == ["alleen"]
    assert len(emulator.writes(TENANT)) == 1 and len(emulator.writes(OTHER)) == 1
    with pytest.raises(ValueError, match="already belongs"):
        emulator.add_tenant("third", [DOMAIN])


# ---- the process, control and state --------------------------------------------------------


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the emulator exited: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def run_emulator(directory: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ssc_infra.graph_emulator", "--dir", str(directory), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_process(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    return out


def test_main_runs_as_a_process_driven_by_emulator_control(tmp_path: Path) -> None:
    directory = tmp_path / "lab-graph"
    process = run_emulator(directory, "--tenant", f"{TENANT}={DOMAIN}")
    try:
        wait_for(directory / "emulator.json", process)
        info = json.loads((directory / "emulator.json").read_text())
        assert info["pid"] == process.pid and info["tenants"] == {TENANT: [DOMAIN]}
        assert (directory / "emulator.json").stat().st_mode & 0o777 == 0o600
        assert (directory / "client-secret").stat().st_mode & 0o777 == 0o600
        secret = (directory / "client-secret").read_text().strip()
        with EmulatorControl.from_directory(directory) as control:
            control.add_tenant(OTHER, ["gemeente-b.nl"])
            control.sync_hybrid(OTHER, [{"onPremisesImmutableId": "x1",
                                         "userPrincipalName": "p@gemeente-b.nl",
                                         "displayName": "P", "usageLocation": "NL"}],
                                [{"onPremisesSecurityIdentifier": "S-1", "displayName": "G",
                                  "members": ["x1"]}])
            control.set_seats(OTHER, "SPE_E3", 0)
            control.set_group_licences(OTHER, "G", ["SPE_E3"])
            control.inject(OTHER, Fault("throttle", retry_after=0.01, path="/users"))
            with pytest.raises(ValueError, match="no tenant"):
                control.set_seats("nobody", "SPE_E3", 1)
            access = httpx.post(
                f"{info['login_url']}/{OTHER}/oauth2/v2.0/token", verify=trust(info["ca_file"]),
                trust_env=False, data={"grant_type": "client_credentials",
                                       "client_id": info["client_id"], "client_secret": secret,
                                       "scope": f"{info['url']}/.default"}).json()
            with httpx.Client(base_url=f"{info['url']}/v1.0", verify=trust(info["ca_file"]),
                              trust_env=False, headers={
                                  "Authorization": f"Bearer {access['access_token']}"}) as graph:
                assert graph.get("/users/p@gemeente-b.nl").status_code == 429
                states = graph.get("/users/p@gemeente-b.nl",
                                   params={"$select": "licenseAssignmentStates"}).json()
                assert states["licenseAssignmentStates"][0]["error"] == "CountViolation"
                create_user(graph, "nieuw", domain="gemeente-b.nl")
            assert control.writes(OTHER) == [("POST", "/v1.0/users")]
            assert control.status()["throttled"] == 1
        refused = httpx.get(f"{info['url']}/_emulator/status", verify=trust(info["ca_file"]),
                            trust_env=False)
        assert refused.status_code == 401
    finally:
        if process.poll() is None:
            output = stop_process(process)
            assert "EMULATOR" in output and secret not in output
    assert not (directory / "emulator.json").exists()
    assert (directory / "state.json").stat().st_mode & 0o777 == 0o600

    again = run_emulator(directory, "--tenant", f"{TENANT}={DOMAIN}")
    try:
        wait_for(directory / "emulator.json", again)
        info = json.loads((directory / "emulator.json").read_text())
        assert set(info["tenants"]) == {TENANT, OTHER}
        with EmulatorControl.from_directory(directory) as control:
            control.set_seats(OTHER, "SPE_E3", 1)  # the state came back: the group is there
    finally:
        stop_process(again)


def test_state_is_persisted_and_reloaded(tmp_path: Path) -> None:
    directory = tmp_path / "graph"
    with GraphEmulator(directory) as first:
        first.add_tenant(TENANT, [DOMAIN])
        with client_for(first) as graph:
            user = create_user(graph, "blijft", usageLocation="NL")
            graph.post(f"/users/{user['id']}/assignLicense",
                       json={"addLicenses": [{"skuId": E3}], "removeLicenses": []})
            delta_link = graph.get("/users/delta").json()["@odata.deltaLink"]
        secret, ca = first.client_secret, first.ca_file.read_bytes()
    assert (directory / "state.json").stat().st_mode & 0o777 == 0o600
    with GraphEmulator(directory) as second:
        assert second.client_secret == secret and second.ca_file.read_bytes() == ca
        second.add_tenant(TENANT, [DOMAIN])  # the same tenant again: nothing changes
        with client_for(second) as graph:
            again = graph.get("/users/blijft@gemeente-a.nl",
                              params={"$select": "id,assignedLicenses"}).json()
            assert again["id"] == user["id"]
            assert again["assignedLicenses"] == [{"disabledPlans": [], "skuId": E3}]
            assert consumed(graph, "SPE_E3") == 1
            old_link = delta_link.replace(delta_link.split("/v1.0")[0], second.url)
            assert graph.get(old_link).json()["value"] == []
            assert graph.post("/users", json=user_body("blijft")).status_code == 400
            second.add_tenant(TENANT, [DOMAIN], [Sku(E3, "SPE_E3", 7)])  # more seats bought
            skus = {s["skuPartNumber"]: s for s in graph.get("/subscribedSkus").json()["value"]}
            assert skus["SPE_E3"]["prepaidUnits"]["enabled"] == 7
            assert skus["SPE_E3"]["consumedUnits"] == 1 and "EXCHANGESTANDARD" in skus
        with pytest.raises(ValueError, match="domains"):
            second.add_tenant(TENANT, ["elders.nl"])


def test_the_emulator_binds_only_to_loopback(tmp_path: Path) -> None:
    for address in ("0.0.0.0", "192.0.2.1", "localhost"):
        with pytest.raises(ValueError, match="loopback"):
            GraphEmulator(tmp_path / "graph", address)
