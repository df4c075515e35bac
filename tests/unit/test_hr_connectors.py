"""The HR connectors' pure parts and their HTTP client, without a server: employments become
people inside the data window, names are put together as Visma Raet says, the AFAS token
header, the mapping laid over a system's default, and the client's retries and refusals."""

from __future__ import annotations

import base64
from datetime import date
from typing import Any

import httpx
import pytest

from ssc_infra.core.secrets import Secret
from ssc_infra.hr import afas, raet
from ssc_infra.hr.answer import converted, laid_over, private_fields
from ssc_infra.hr.client import HrClient
from ssc_infra.hr.employments import Employment, as_date, people, window
from ssc_infra.hr.settings import HrError, HrSettings
from ssc_infra.sources.hrexport import HrMapping, MappingFile

TODAY = date(2026, 12, 7)


def job(key: str, start: str, end: str | None, dept: str) -> Employment:
    return Employment(key, date.fromisoformat(start), date.fromisoformat(end) if end else None,
                      {"id": key, "dept": dept})


@pytest.mark.parametrize(("employments", "expected"), [
    pytest.param([job("1", "2020-01-01", None, "A")],
                 [{"id": "1", "dept": "A", "s": "2020-01-01", "e": ""}], id="one open-ended"),
    pytest.param([job("1", "2027-02-01", None, "A")],
                 [{"id": "1", "dept": "A", "s": "2027-02-01", "e": ""}],
                 id="a joiner within the window is read"),
    pytest.param([job("1", "2027-04-01", None, "A")], [], id="a joiner beyond the window is not"),
    pytest.param([job("1", "2010-01-01", "2026-10-31", "A")],
                 [{"id": "1", "dept": "A", "s": "2010-01-01", "e": "2026-10-31"}],
                 id="a recent leaver is still seen"),
    pytest.param([job("1", "2010-01-01", "2026-08-31", "A")], [],
                 id="who left long ago is not read"),
    pytest.param([job("1", "2015-01-01", "2026-12-31", "A"), job("1", "2027-01-01", None, "B")],
                 [{"id": "1", "dept": "A", "s": "2015-01-01", "e": ""}],
                 id="today's employment gives the fields, the next one keeps them on"),
    pytest.param([job("1", "2015-01-01", None, "A"), job("1", "2019-01-01", None, "B")],
                 [{"id": "1", "dept": "B", "s": "2015-01-01", "e": ""}],
                 id="two at once: the latest started"),
    pytest.param([job("1", "2010-01-01", "2026-10-31", "A"), job("1", "2027-01-15", None, "B")],
                 [{"id": "1", "dept": "B", "s": "2010-01-01", "e": ""}],
                 id="between employments: the next to start"),
])
def test_employments_become_people(employments: list[Employment],
                                   expected: list[dict[str, str]]) -> None:
    assert people(employments, TODAY, 3, "s", "e") == expected


def test_the_window_and_dates() -> None:
    assert window(date(2026, 11, 30), 3) == (date(2027, 2, 28), date(2026, 8, 30))
    assert as_date("2024-01-01T00:00:00Z", "x", "s") == date(2024, 1, 1)
    assert as_date("9999-12-31", "x", "s") is None
    assert as_date(None, "x", "s") is None
    with pytest.raises(HrError, match="is not a date"):
        as_date("01-01-2024 and more", "Begindatum_contract", "AFAS")


@pytest.mark.parametrize(("person", "expected"), [
    ({"lastNameAtBirthPrefix": "de", "lastNameAtBirth": "Vries", "nameAssembleOrder": "E"},
     ("de", "Vries")),
    ({"lastNameAtBirth": "Bûmâ", "partnerNamePrefix": "van der", "partnerName": "Meer",
      "nameAssembleOrder": "P"}, ("van der", "Meer")),
    ({"lastNameAtBirth": "Bûmâ", "partnerName": "Meer", "partnerNamePrefix": "van der",
      "nameAssembleOrder": "B"}, ("van der", "Meer-Bûmâ")),
    ({"lastNameAtBirthPrefix": "de", "lastNameAtBirth": "Jong", "partnerName": "Smid",
      "nameAssembleOrder": "C"}, ("de", "Jong-Smid")),
    ({"lastNameAtBirth": "Hoekstra", "nameAssembleOrder": "P"}, ("", "Hoekstra")),
])
def test_raet_names_as_the_assemble_order_says(person: dict[str, Any],
                                               expected: tuple[str, str]) -> None:
    assert raet._surname(person) == expected


def test_afas_token_header_wraps_only_the_data() -> None:
    whole = "<token><version>1</version><data>ABC123</data></token>"
    for given in (whole, "ABC123", " ABC123\n"):
        kind, encoded = afas.token_header(given).split(" ")
        assert kind == "AfasToken"
        assert base64.b64decode(encoded).decode() == whole


def test_a_partner_mapping_is_laid_over_the_default() -> None:
    given = HrMapping(MappingFile(columns={"department": "Afdeling_omschrijving"},
                                  constants={"workplace": "laptop"},
                                  values={"site": {"Franeker": "wdh-franeker"}}), "m.yaml")
    mapping = laid_over(afas.FIELDS, given, afas.DESCRIPTION)
    assert mapping.spec.columns["department"] == "Afdeling_omschrijving"
    assert mapping.spec.columns["surname"] == "Achternaam"
    assert "workplace" not in mapping.spec.columns
    records = [{"Medewerker": "7", "Roepnaam": "Sjoukje", "Achternaam": "van der Zee",
                "Afdeling_omschrijving": "Burgerzaken", "Functie": "Adviseur",
                "Locatie": "franeker", "Begindatum_contract": "2024-01-01",
                "Einddatum_contract": ""}]
    found = converted(records, mapping, "afas:waadhoeke")
    assert not found.problems
    assert found.rows[0] == {
        "employee_id": "7", "given_name": "Sjoukje", "infix": "van der", "surname": "Zee",
        "department": "Burgerzaken", "job_title": "Adviseur", "site": "wdh-franeker",
        "workplace": "laptop", "start_date": "2024-01-01", "end_date": ""}


def test_a_bad_record_is_told_at_its_number_and_no_people_is_a_problem() -> None:
    mapping = laid_over(afas.FIELDS, None, afas.DESCRIPTION)
    good = {"Medewerker": "1", "Roepnaam": "A", "Achternaam": "B", "Locatie": "s",
            "Werkplek": "laptop", "Begindatum_contract": "2024-01-01"}
    found = converted([good, {**good, "Medewerker": "2", "Werkplek": "tablet"}], mapping, "afas:x")
    assert [(p.file, p.line) for p in found.problems] == [("afas:x", 3)]
    assert "unknown workplace" in found.problems[0].message
    assert converted([], mapping, "afas:x").problems[0].message.startswith("the HR system")


def test_private_fields_are_named() -> None:
    assert private_fields({"Medewerker": 1, "Geboortedatum": 2, "Email_prive": 3,
                            "privateEmailAddress": 4, "Afdeling": 5, "Adres": 6,
                            "lastNameAtBirth": 7, "BusinessEmailAddress": 8,
                            "dateOfBirth": 9}) == [
        "Adres", "Email_prive", "Geboortedatum", "dateOfBirth", "privateEmailAddress"]


def _client(handler: Any, **settings: Any) -> tuple[HrClient, list[float]]:
    waits: list[float] = []
    client = HrClient(HrSettings("https://hr.example", token=Secret("s3cret-token"),
                                 max_retries=3, **settings), "AFAS environment 1 (x)",
                      sleep=waits.append, transport=httpx.MockTransport(handler))
    return client, waits


def test_the_client_waits_as_asked_and_tries_again() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}),
                    httpx.Response(503), httpx.Response(200, json={"rows": []})])
    client, waits = _client(lambda _: next(answers))
    assert client.get("https://hr.example/x") == {"rows": []}
    assert (client.requests, client.retries, waits[0]) == (3, 2, 7.0)


def test_a_cut_off_answer_is_tried_again_then_given_up_without_the_token() -> None:
    client, _ = _client(lambda _: httpx.Response(200, content=b'{"rows": [{"Medew'))
    with pytest.raises(HrError, match="gave up after 4 attempts") as caught:
        client.get("https://hr.example/x", headers={"Authorization": "AfasToken s3cret-token"})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize(("status", "message"), [
    (401, "refused the credentials"), (403, "refused the credentials"),
    (404, "HTTP 404 no such connector")])
def test_refusals_are_clear_and_not_tried_again(status: int, message: str) -> None:
    client, waits = _client(lambda _: httpx.Response(
        status, json={"externalMessage": "no such connector"}))
    with pytest.raises(HrError, match=message):
        client.get("https://hr.example/x")
    assert waits == []


def test_a_wait_longer_than_allowed_is_an_error_not_a_hang() -> None:
    client, waits = _client(lambda _: httpx.Response(429, headers={"Retry-After": "86400"}))
    with pytest.raises(HrError, match="longer than"):
        client.get("https://hr.example/x")
    assert waits == []


def test_raet_refuses_a_next_link_to_another_server() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/connect/token":
            return httpx.Response(200, json={"access_token": "t"})
        return httpx.Response(200, json={"value": [], "nextLink": "https://evil.example/x"})

    settings = HrSettings("https://hr.example", token_url="https://hr.example/connect/token",
                          client_id=Secret("id"), client_secret=Secret("secret"))
    client = HrClient(settings, "Visma Raet tenant 1 (x)", transport=httpx.MockTransport(answer))
    with pytest.raises(HrError, match="another server"):
        raet.read_raet(client, settings, "1", TODAY, 3)
