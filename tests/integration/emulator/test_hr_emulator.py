"""The HR systems' emulator (AFAS Profit's GetConnector, Visma Raet's IAM API) over real
HTTPS with httpx: paging, AFAS's filters and ordering, Raet's tokens and nextLinks, every
lever, the control surface, the lab's launcher in its own process, and the builders that make
each system's data from the inventory's people rows.

It needs no external server, so these tests always run. The people are fictional.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.hr import HrSeed, hr_status, start_hr_emulator, stop_hr_emulator
from ssc_infra_lab.hr_emulator import (
    AFAS,
    DEFAULT_CONNECTOR,
    RAET,
    HrControl,
    HrEmulator,
    Levers,
    afas_rows,
    afas_token,
    raet_tenant,
)
from tests.integration.emulator.calls import FakeClock, trust

ENV, TENANT = "12345", "gemeente-b-0001"
TOKEN = afas_token("3F9A0C11D2E4B5A6978812AB34CD56EF")
CLIENT_ID, CLIENT_SECRET = "9d0c1e5a-ssc", "s3cr3t-for-the-lab"
SOURCE = {AFAS: ENV, RAET: TENANT}
COLUMNS = ("employee_id", "given_name", "infix", "surname", "department", "job_title", "site",
           "workplace", "start_date", "end_date")


def person(*values: str) -> dict[str, str]:
    return dict(zip(COLUMNS, values, strict=True))


PEOPLE = [
    person("1002", "Wâtse", "de", "Bûmâ", "Burgerzaken", "Medewerker Burgerzaken", "hrl-sh",
           "laptop", "2024-01-01", ""),
    person("1005", "Sytske", "", "Algra", "Financiën", "Controller", "hrl-sh", "vdi",
           "2019-05-01", "2026-06-30"),
    person("1007", "Durk", "van der", "Wal", "Burgerzaken", "Teamleider", "hrl-hv",
           "thin_client", "2027-02-01", ""),
    person("1011", "Aukje", "", "Postma", "Ruimte", "Adviseur", "hrl-sh", "laptop",
           "2010-09-15", ""),
    person("1013", "Fokke", "", "Zijlstra", "Ruimte", "Projectleider", "hrl-hv", "laptop",
           "2022-03-01", "2027-12-31"),
    person("1017", "Geartsje", "", "Hoekstra", "Financiën", "Adviseur", "hrl-sh", "vdi",
           "2015-11-02", ""),
    person("1019", "Rintje", "", "Kuipers", "Burgerzaken", "Medewerker Burgerzaken", "hrl-sh",
           "laptop", "2026-01-05", ""),
]
CODES = [p["employee_id"] for p in PEOPLE]


@pytest.fixture
def hr(tmp_path: Path) -> Iterator[HrEmulator]:
    with HrEmulator(tmp_path / "hr") as running:
        running.set_afas_environment(ENV, TOKEN, afas_rows(PEOPLE))
        running.set_raet_tenant(TENANT, CLIENT_ID, CLIENT_SECRET, raet_tenant(PEOPLE))
        yield running


@pytest.fixture
def web(hr: HrEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(verify=trust(hr.ca_file), trust_env=False, timeout=10) as client:
        yield client


def afas_auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": "AfasToken " + base64.b64encode(token.encode()).decode()}


def afas(web: httpx.Client, hr: HrEmulator, env: str = ENV, token: str = TOKEN,
         connector: str = DEFAULT_CONNECTOR, **params: Any) -> httpx.Response:
    return web.get(f"{hr.afas_url(env)}/ProfitRestServices/connectors/{connector}",
                   params=params, headers=afas_auth(token))


def afas_codes(web: httpx.Client, hr: HrEmulator, **params: Any) -> list[str]:
    response = afas(web, hr, take=-1, **params)
    assert response.status_code == 200, response.text
    return [r["Medewerker"] for r in response.json()["rows"]]


def raet_token(web: httpx.Client, hr: HrEmulator, secret: str = CLIENT_SECRET,
               tenant: str = TENANT) -> httpx.Response:
    return web.post(hr.raet_token_url, data={"grant_type": "client_credentials",
                                             "client_id": CLIENT_ID, "client_secret": secret,
                                             "tenant_id": tenant})


def bearer(web: httpx.Client, hr: HrEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {raet_token(web, hr).json()['access_token']}"}


def raet_all(web: httpx.Client, hr: HrEmulator, path: str,
             **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a Raet list following nextLink, and the pages it took."""
    headers = bearer(web, hr)
    response = web.get(f"{hr.raet_url}{path}", params=params, headers=headers)
    items, pages = [], 1
    while True:
        assert response.status_code == 200, response.text
        items += response.json()["value"]
        following = response.json().get("nextLink")
        if not following:
            return items, pages
        assert following.startswith(hr.url)
        response, pages = web.get(following, headers=headers), pages + 1


def page(web: httpx.Client, hr: HrEmulator, system: str, number: int,
         take: int = 3) -> httpx.Response:
    """Page `number` (from 1) of the people: AFAS's connector, Raet's persons."""
    skip = (number - 1) * take
    if system == AFAS:
        return afas(web, hr, skip=skip, take=take)
    return web.get(f"{hr.raet_url}/iam/v1.0/persons", params={"skip": skip, "take": take},
                   headers=bearer(web, hr))


def codes_of(system: str, response: httpx.Response) -> list[str]:
    if system == AFAS:
        return [r["Medewerker"] for r in response.json()["rows"]]
    return [p["personCode"] for p in response.json()["value"]]


# ---- AFAS ----------------------------------------------------------------------------------


def test_afas_pages_the_connector_by_skip_and_take(hr: HrEmulator, web: httpx.Client) -> None:
    pages = [afas(web, hr, skip=skip, take=3).json() for skip in (0, 3, 6, 9)]
    assert [(p["skip"], p["take"], len(p["rows"])) for p in pages] == [
        (0, 3, 3), (3, 3, 3), (6, 3, 1), (9, 3, 0)]
    assert [r["Medewerker"] for p in pages for r in p["rows"]] == CODES
    assert pages[0]["rows"][0] == {
        "Medewerker": "1002", "Roepnaam": "Wâtse", "Voorvoegsel": "de", "Achternaam": "Bûmâ",
        "Afdeling": "Burgerzaken", "Functie": "Medewerker Burgerzaken", "Locatie": "hrl-sh",
        "Werkplek": "laptop", "Begindatum_contract": "2024-01-01T00:00:00Z",
        "Einddatum_contract": None}
    assert len(afas(web, hr).json()["rows"]) == 7  # no skip/take: skip 0, take 100


def test_afas_filters_and_within_a_group_or_between_groups(hr: HrEmulator,
                                                           web: httpx.Client) -> None:
    # the tool's data window: started by 2027-03-07, and ended after 2026-09-07 or not at all
    window = {"filterfieldids": "Begindatum_contract,Einddatum_contract;"
                                "Begindatum_contract,Einddatum_contract",
              "filtervalues": "2027-03-07T00:00:00,2026-09-07T00:00:00;2027-03-07T00:00:00,",
              "operatortypes": "3,2;3,8"}
    assert afas_codes(web, hr, **window) == ["1002", "1007", "1011", "1013", "1017", "1019"]
    both = {"filterfieldids": "Afdeling,Werkplek", "filtervalues": "burgerzaken,laptop",
            "operatortypes": "1,1"}
    assert afas_codes(web, hr, **both) == ["1002", "1019"]
    either = {"filterfieldids": "Afdeling;Werkplek", "filtervalues": "Ruimte;vdi",
              "operatortypes": "1;1"}
    assert afas_codes(web, hr, **either) == ["1005", "1011", "1013", "1017"]


@pytest.mark.parametrize(("field", "operator", "value", "expected"), [
    ("Medewerker", 1, "1011", ["1011"]),
    ("Begindatum_contract", 2, "2024-01-01", ["1002", "1007", "1019"]),
    ("Begindatum_contract", 3, "2015-11-02T00:00:00", ["1011", "1017"]),
    ("Einddatum_contract", 4, "2026-06-30", ["1013"]),
    ("Begindatum_contract", 5, "2015-11-02", ["1011"]),
    ("Functie", 6, "burger", ["1002", "1019"]),
    ("Afdeling", 7, "Burgerzaken", ["1005", "1011", "1013", "1017"]),
    ("Einddatum_contract", 8, "", ["1002", "1007", "1011", "1017", "1019"]),
    ("Voorvoegsel", 9, "", ["1002", "1007"]),
    ("Achternaam", 10, "z", ["1013"]),
])
def test_afas_filter_operators(hr: HrEmulator, web: httpx.Client, field: str, operator: int,
                               value: str, expected: list[str]) -> None:
    assert afas_codes(web, hr, filterfieldids=field, filtervalues=value,
                      operatortypes=str(operator)) == expected


def test_afas_orders_by_fields_empty_first_and_minus_for_descending(
        hr: HrEmulator, web: httpx.Client) -> None:
    assert afas_codes(web, hr, orderbyfieldids="Einddatum_contract,-Medewerker") == [
        "1019", "1017", "1011", "1007", "1002", "1005", "1013"]
    assert afas_codes(web, hr, orderbyfieldids="-Achternaam")[:3] == ["1013", "1007", "1011"]
    first = afas(web, hr, skip=0, take=2, orderbyfieldids="Roepnaam").json()["rows"]
    assert [r["Roepnaam"] for r in first] == ["Aukje", "Durk"]


@pytest.mark.parametrize("params", [
    {"filterfieldids": "Geboortedatum", "filtervalues": "1990-01-01", "operatortypes": "1"},
    {"orderbyfieldids": "-Salaris"},
    {"filterfieldids": "Afdeling,Functie", "filtervalues": "Ruimte", "operatortypes": "1,1"},
    {"filterfieldids": "Afdeling", "filtervalues": "Ruimte"},
    {"filterfieldids": "Afdeling", "filtervalues": "Ruimte", "operatortypes": "11"},
    {"filterfieldids": "Begindatum_contract", "filtervalues": "gisteren", "operatortypes": "2"},
    {"top": "5"},
    {"take": "0"},
    {"skip": "-1"},
])
def test_afas_refuses_a_bad_query_with_400(hr: HrEmulator, web: httpx.Client,
                                           params: dict[str, str]) -> None:
    response = afas(web, hr, **params)
    assert response.status_code == 400
    assert response.json()["externalMessage"]


def test_afas_refuses_a_wrong_token_and_an_unknown_environment_or_connector(
        hr: HrEmulator, web: httpx.Client) -> None:
    other = afas_token("00FF00FF")
    hr.set_afas_environment("67890", other, afas_rows(PEOPLE[:1]))
    assert afas(web, hr, token=other).status_code == 401  # another environment's token
    missing = web.get(f"{hr.afas_url(ENV)}/ProfitRestServices/connectors/{DEFAULT_CONNECTOR}")
    assert missing.status_code == 401 and "externalMessage" in missing.json()
    assert afas(web, hr, env="99999").status_code == 404
    unknown = afas(web, hr, connector="ssc_salarissen")
    assert unknown.status_code == 404 and "ssc_salarissen" in unknown.json()["externalMessage"]
    assert afas(web, hr, "67890", other).json()["rows"][0]["Medewerker"] == "1002"


def test_afas_rows_set_by_hand_hold_two_contracts_and_extra_fields(
        hr: HrEmulator, web: httpx.Client) -> None:
    rows = afas_rows(PEOPLE[:1]) * 2
    rows[1] = {**rows[1], "Afdeling": "Publiekszaken",
               "Begindatum_contract": "2020-01-01T00:00:00Z",
               "Einddatum_contract": "2023-12-31T00:00:00Z"}
    rows[0] = {**rows[0], "Geboortedatum": "1980-02-29T00:00:00Z"}
    hr.set_afas_environment(ENV, TOKEN, rows)
    answer = afas(web, hr).json()["rows"]
    assert [r["Afdeling"] for r in answer] == ["Burgerzaken", "Publiekszaken"]
    assert answer[0]["Geboortedatum"] == "1980-02-29T00:00:00Z"
    assert afas_codes(web, hr, filterfieldids="Geboortedatum", filtervalues="",
                      operatortypes="9") == ["1002"]


# ---- Visma Raet ----------------------------------------------------------------------------


def test_raet_gives_a_token_and_pages_every_list_by_next_link(hr: HrEmulator,
                                                              web: httpx.Client) -> None:
    token = raet_token(web, hr).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] == 3600
    persons, pages = raet_all(web, hr, "/iam/v1.0/persons", take=3)
    assert [p["personCode"] for p in persons] == CODES and pages == 3
    assert persons[0] == {**persons[0], "knownAs": "Wâtse", "firstNames": "Wâtse",
                          "initials": "W.", "lastNameAtBirthPrefix": "de",
                          "lastNameAtBirth": "Bûmâ", "partnerName": None,
                          "nameAssembleOrder": "E"}
    assert {"privateEmailAddress", "dateOfBirth"} <= set(persons[0])
    employments, _ = raet_all(web, hr, "/iam/v1.0/employments", take=5)
    assert [(e["hireDate"], e["dischargeDate"]) for e in employments[:2]] == [
        ("2024-01-01", "9999-12-31"), ("2019-05-01", "2026-06-30")]
    units = {u["shortName"]: u["fullName"]
             for u in raet_all(web, hr, "/iam/v1.0/organizationUnits")[0]}
    profiles = {j["shortName"]: j["fullName"]
                for j in raet_all(web, hr, "/iam/v1.0/jobProfiles")[0]}
    assert units[employments[0]["organizationUnit"]] == "Burgerzaken"
    assert profiles[employments[0]["jobProfile"]] == "Medewerker Burgerzaken"
    extensions, _ = raet_all(web, hr, "/extensions/v1.0/iam/employments", take=4)
    assert {(x["fieldName"], x["value"]) for x in extensions
            if x["personCode"] == "1007"} == {("location", "hrl-hv"), ("workplace", "thin_client")}
    last = web.get(f"{hr.raet_url}/iam/v1.0/persons", params={"skip": 6, "take": 3},
                   headers=bearer(web, hr)).json()
    assert len(last["value"]) == 1 and "nextLink" not in last


def test_raet_refuses_a_wrong_client_tenant_or_grant(hr: HrEmulator, web: httpx.Client) -> None:
    assert raet_token(web, hr, secret="wrong").json() == {
        "error": "invalid_client", "error_description": raet_token(
            web, hr, tenant="other").json()["error_description"]}
    assert raet_token(web, hr, secret="wrong").status_code == 401
    assert raet_token(web, hr, tenant="gemeente-x").status_code == 401
    grant = web.post(hr.raet_token_url, data={"grant_type": "password"})
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"


def test_raet_refuses_a_bad_or_expired_token(tmp_path: Path) -> None:
    clock = FakeClock()
    with HrEmulator(tmp_path / "hr", clock=clock) as hr, \
            httpx.Client(verify=trust(hr.ca_file), trust_env=False) as web:
        hr.set_raet_tenant(TENANT, CLIENT_ID, CLIENT_SECRET, raet_tenant(PEOPLE))
        persons = f"{hr.raet_url}/iam/v1.0/persons"
        headers = bearer(web, hr)
        assert web.get(persons, headers=headers).status_code == 200
        bad = web.get(persons, headers={"Authorization": "Bearer made-up"})
        assert bad.status_code == 401 and bad.json()["error"] == "invalid_token"
        clock.now += 3601
        assert web.get(persons, headers=headers).status_code == 401
        fresh = bearer(web, hr)
        hr.expire_tokens(TENANT)
        assert web.get(persons, headers=fresh).status_code == 401
        unknown = web.get(f"{hr.raet_url}/iam/v1.0/salaries", headers=bearer(web, hr))
        assert unknown.status_code == 404


# ---- levers --------------------------------------------------------------------------------


@pytest.mark.parametrize("system", [AFAS, RAET])
def test_auth_failure_refuses_every_request(hr: HrEmulator, web: httpx.Client,
                                            system: str) -> None:
    headers = bearer(web, hr)  # a token from before the lever
    hr.set_levers(SOURCE[system], Levers(auth_failure=True))
    assert page(web, hr, AFAS, 1).status_code == (401 if system == AFAS else 200)
    if system == RAET:
        assert raet_token(web, hr).status_code == 401
        assert web.get(f"{hr.raet_url}/iam/v1.0/persons", headers=headers).status_code == 401
    hr.set_levers(SOURCE[system])
    assert page(web, hr, system, 1).status_code == 200


@pytest.mark.parametrize(("system", "status"), [(AFAS, 429), (RAET, 429), (AFAS, 503),
                                                (RAET, 503)])
def test_busy_answers_the_next_requests_with_retry_after(hr: HrEmulator, web: httpx.Client,
                                                         system: str, status: int) -> None:
    hr.set_levers(SOURCE[system], Levers(busy=2, busy_status=status, retry_after=7))
    answers = [page(web, hr, system, 1) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert hr.requests(SOURCE[system]) == 3


@pytest.mark.parametrize("system", [AFAS, RAET])
def test_a_truncated_page_is_cut_mid_json(hr: HrEmulator, web: httpx.Client,
                                          system: str) -> None:
    hr.set_levers(SOURCE[system], Levers(truncate_page=2))
    assert page(web, hr, system, 1).status_code == 200
    cut = page(web, hr, system, 2)
    assert cut.status_code == 200 and cut.headers["Connection"] == "close"
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert len(codes_of(system, page(web, hr, system, 2))) == 3  # cut once: whole again
    hr.set_levers(SOURCE[system], Levers(truncate_page=2, truncate_times=0))
    for _ in range(2):
        with pytest.raises(json.JSONDecodeError):
            json.loads(page(web, hr, system, 2).content)


@pytest.mark.parametrize("system", [AFAS, RAET])
def test_a_slow_page_comes_late(hr: HrEmulator, web: httpx.Client, system: str) -> None:
    hr.set_levers(SOURCE[system], Levers(slow_page=2, slow_seconds=0.3))
    assert page(web, hr, system, 1).status_code == 200
    started = time.monotonic()
    assert page(web, hr, system, 2).status_code == 200
    assert time.monotonic() - started >= 0.3  # the lever's delay, a lower bound only


@pytest.mark.parametrize("system", [AFAS, RAET])
def test_fail_from_page_fails_half_way_every_time(hr: HrEmulator, web: httpx.Client,
                                                  system: str) -> None:
    hr.set_levers(SOURCE[system], Levers(fail_from_page=2))
    assert [page(web, hr, system, n).status_code for n in (1, 2, 3, 2)] == [200, 500, 500, 500]


def test_lost_people_are_left_out_of_valid_answers_the_same_each_time(
        hr: HrEmulator, web: httpx.Client) -> None:
    for source in SOURCE.values():
        hr.set_levers(source, Levers(lost_fraction=0.3))
    seen = afas_codes(web, hr)
    assert len(seen) == 5 and seen == afas_codes(web, hr)
    persons = [p["personCode"] for p in raet_all(web, hr, "/iam/v1.0/persons")[0]]
    employments = [e["personCode"] for e in raet_all(web, hr, "/iam/v1.0/employments")[0]]
    assert persons == employments == seen  # the same people, whichever system
    assert len(raet_all(web, hr, "/iam/v1.0/organizationUnits")[0]) == 3


def test_page_cap_makes_small_pages(hr: HrEmulator, web: httpx.Client) -> None:
    for source in SOURCE.values():
        hr.set_levers(source, Levers(page_cap=2))
    first = afas(web, hr, skip=0, take=500).json()
    assert first["take"] == 2 and len(first["rows"]) == 2  # the answer says the capped take
    assert afas(web, hr, skip=0, take=1).json()["take"] == 1
    persons, pages = raet_all(web, hr, "/iam/v1.0/persons")
    assert len(persons) == 7 and pages == 4


def test_levers_of_one_source_leave_the_others_alone(hr: HrEmulator,
                                                     web: httpx.Client) -> None:
    hr.set_levers(ENV, Levers(auth_failure=True, fail_from_page=1))
    assert page(web, hr, RAET, 1).status_code == 200
    assert hr.levers(TENANT) == Levers()
    with pytest.raises(ValueError, match="lost_fraction"):
        Levers(lost_fraction=1.0)
    with pytest.raises(ValueError, match="no AFAS environment or Raet tenant"):
        hr.set_levers("54321", Levers())


# ---- people and the control surface -------------------------------------------------------


def test_people_join_change_and_leave_in_both_systems(hr: HrEmulator,
                                                      web: httpx.Client) -> None:
    joiner = person("1023", "Baukje", "", "Dijkstra", "Sociaal Domein", "Consulent", "hrl-sh",
                    "laptop", "2027-01-04", "")
    for source in SOURCE.values():
        hr.add_person(source, joiner)
        hr.change_person(source, {**PEOPLE[0], "department": "Ruimte"})
        hr.remove_person(source, "1005")
    rows = afas(web, hr).json()["rows"]
    assert [r["Medewerker"] for r in rows] == ["1002", "1007", "1011", "1013", "1017", "1019",
                                               "1023"]
    assert rows[0]["Afdeling"] == "Ruimte"
    data = hr.raet_data_of(TENANT)
    assert sorted(data.person_codes()) == sorted(r["Medewerker"] for r in rows)
    units = {u["shortName"]: u["fullName"] for u in data.organization_units}
    assert {units[e["organizationUnit"]] for e in data.employments
            if e["personCode"] in ("1002", "1023")} == {"Ruimte", "Sociaal Domein"}
    with pytest.raises(ValueError, match="already"):
        hr.add_person(ENV, joiner)
    with pytest.raises(ValueError, match="no employee"):
        hr.remove_person(TENANT, "1005")


def test_the_control_surface_needs_its_secret_and_pulls_the_levers(
        hr: HrEmulator, web: httpx.Client) -> None:
    assert web.get(f"{hr.url}/_emulator/status").status_code == 401
    wrong = web.get(f"{hr.url}/_emulator/status", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert hr.control_secret_file.stat().st_mode & 0o777 == 0o600
    with HrControl(hr.url, hr.ca_file, hr.control_secret) as control:
        control.set_levers(ENV, Levers(busy=1, busy_status=503, retry_after=0.5))
        assert page(web, hr, AFAS, 1).headers["Retry-After"] == "0.5"
        control.set_afas_environment("24680", afas_token("ABC123"), afas_rows(PEOPLE[:2]))
        control.add_person("24680", PEOPLE[2])
        control.change_person("24680", {**PEOPLE[2], "surname": "Wal-Hoekstra"})
        control.remove_person("24680", "1002")
        control.set_raet_tenant("gemeente-c", "id-c", "secret-c", raet_tenant(PEOPLE[:1]))
        control.expire_tokens(TENANT)
        status = control.status()
        assert status["sources"]["24680"]["people"] == 2
        assert status["sources"]["gemeente-c"]["system"] == RAET
        assert status["sources"][ENV]["requests"] == 1
        with pytest.raises(ValueError, match="unknown levers"):
            control._call("PUT", f"/sources/{ENV}/levers", {"slowly": True})
        with pytest.raises(ValueError, match="no employee"):
            control.remove_person(ENV, "4444")
        with pytest.raises(BackendError, match="404"):
            control._call("POST", "/reset", {})
    assert [r["Achternaam"] for r in hr.afas_rows_of("24680")] == ["Algra", "Wal-Hoekstra"]


# ---- the lab's launcher --------------------------------------------------------------------


def test_the_launcher_runs_the_emulator_in_its_own_process(tmp_path: Path) -> None:
    directory = tmp_path / "lab-hr"
    seeds = [HrSeed("harlingen", AFAS, ENV, PEOPLE[:4]),
             HrSeed("terschelling", RAET, TENANT, PEOPLE[4:])]
    lab = start_hr_emulator(directory, "127.0.0.1", seeds)
    try:
        assert directory.stat().st_mode & 0o777 == 0o700
        afas_lab, raet_lab = lab.partners["harlingen"], lab.partners["terschelling"]
        for secret in (afas_lab.token_file, raet_lab.client_id_file,
                       raet_lab.client_secret_file, lab.control_secret_file):
            assert Path(secret).stat().st_mode & 0o777 == 0o600
        assert afas_lab.base_url == f"{lab.url}/{ENV}"
        token = Path(afas_lab.token_file).read_text(encoding="utf-8")
        with httpx.Client(verify=trust(lab.ca_file), trust_env=False) as web:
            rows = web.get(f"{afas_lab.base_url}/ProfitRestServices/connectors/"
                           f"{afas_lab.connector}", headers=afas_auth(token)).json()["rows"]
            assert [r["Medewerker"] for r in rows] == CODES[:4]
            access = web.post(raet_lab.token_url, data={
                "grant_type": "client_credentials", "tenant_id": TENANT,
                "client_id": Path(raet_lab.client_id_file).read_text(encoding="utf-8"),
                "client_secret": Path(raet_lab.client_secret_file).read_text(encoding="utf-8")})
            persons = web.get(f"{raet_lab.base_url}/iam/v1.0/persons", headers={
                "Authorization": f"Bearer {access.json()['access_token']}"}).json()["value"]
            assert [p["personCode"] for p in persons] == CODES[4:]
        with lab.control() as control:
            control.remove_person(ENV, "1002")
        again = start_hr_emulator(directory, "127.0.0.1", seeds)  # found running: people kept
        assert again.pid == lab.pid and again.partners == lab.partners
        assert Path(afas_lab.token_file).read_text(encoding="utf-8") == token
        found = hr_status(directory)
        assert found is not None and found.partners == lab.partners
        assert found.control().status()["sources"][ENV]["people"] == 3
        target = lab.target()
        assert target["afas_url"] == f"{lab.url}/{{environment}}" and target["emulator"]
        assert target["partners"]["terschelling"] == {
            "client_id_file": raet_lab.client_id_file,
            "client_secret_file": raet_lab.client_secret_file}
    finally:
        stop_hr_emulator(lab)
    assert hr_status(directory) is None
    with pytest.raises(ValueError, match="no emulator"):
        start_hr_emulator(directory, "127.0.0.1", [HrSeed("x", "csv", "x")])


# ---- builders ------------------------------------------------------------------------------


def test_afas_rows_carry_every_people_column_and_nothing_private() -> None:
    rows = afas_rows(PEOPLE)
    back = [person(r["Medewerker"], r["Roepnaam"], r["Voorvoegsel"] or "", r["Achternaam"],
                   r["Afdeling"], r["Functie"], r["Locatie"], r["Werkplek"],
                   r["Begindatum_contract"][:10], (r["Einddatum_contract"] or "")[:10])
            for r in rows]
    assert back == PEOPLE
    assert not {k for r in rows for k in r} & {"Geboortedatum", "Adres", "EmailPrive"}


def test_raet_tenant_carries_every_people_column_the_same_each_time() -> None:
    data = raet_tenant(PEOPLE)
    assert data == raet_tenant(PEOPLE)  # ids and codes included
    persons = {p["personCode"]: p for p in data.persons}
    units = {u["shortName"]: u["fullName"] for u in data.organization_units}
    profiles = {j["shortName"]: j["fullName"] for j in data.job_profiles}
    extra = {(x["personCode"], x["fieldName"]): x["value"] for x in data.extensions}
    back = [person(e["personCode"], persons[e["personCode"]]["knownAs"],
                   persons[e["personCode"]]["lastNameAtBirthPrefix"] or "",
                   persons[e["personCode"]]["lastNameAtBirth"], units[e["organizationUnit"]],
                   profiles[e["jobProfile"]], extra[e["personCode"], "location"],
                   extra[e["personCode"], "workplace"], e["hireDate"],
                   "" if e["dischargeDate"] == "9999-12-31" else e["dischargeDate"])
            for e in data.employments]
    assert back == PEOPLE
    assert len(units) == 3 and len(profiles) == 5
    assert len({p["id"] for p in data.persons}) == len(PEOPLE)


def test_the_builders_refuse_a_row_without_the_people_columns() -> None:
    with pytest.raises(ValueError, match="row 1: no site"):
        afas_rows([{k: v for k, v in PEOPLE[0].items() if k != "site"}])
    with pytest.raises(ValueError, match="employee_id"):
        raet_tenant([{"given_name": "Jan"}])
