"""The Microsoft Graph emulator over real HTTPS, with httpx and MSAL.

It needs no external server, so these tests always run. Each one gets a fresh emulator on a
free loopback port in its own tmp_path.
"""

from __future__ import annotations

import hashlib
import json
import time
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

from ssc_infra_lab.graph_emulator import Fault, GraphEmulator
from tests.integration.emulator.calls import (
    DOMAIN,
    E3,
    E5,
    EXCHANGE,
    TENANT,
    FakeClock,
    batch,
    client_for,
    consumed,
    create_user,
    error_of,
    post_user_step,
    token_for,
    trust,
    user_body,
)

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
