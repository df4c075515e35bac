"""SCIM 2.0 in, pure (`ssc_infra.hr.scim`): a User becomes one people row and a row a User,
PATCH operations apply all or none, filters and paging are read strictly, and a hostile body
(too large, too deep, too wide, not UTF-8, a key given twice) is a SCIM error that says why;
and around it: a SCIM partner's token is the target's, and `hr pull` leaves it alone.
The cases are data: tests/cases/scim_users/ and tests/cases/scim_patch/."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.secrets import Secret
from ssc_infra.hr import scim_schemas
from ssc_infra.hr.scim import (
    CORE,
    ENTERPRISE,
    MAX_BODY,
    MAX_DEPTH,
    MAX_ITEMS,
    PATCH_OP,
    SSC,
    ScimError,
    as_row,
    matches,
    parse_filter,
    parse_json,
    patched_person,
    person_from_user,
    user_from_row,
    version,
)
from ssc_infra.lifecycle.scim_server import check_tokens, listen_address
from ssc_infra.run.targets import Target, TargetError, scim_tokens
from ssc_infra.sources.people import PEOPLE_COLUMNS
from ssc_infra.sources.schema import HrEntry, HrSystem
from tests.conftest import TODAY, data_cases, drop_target

BASE_USER: dict[str, Any] = {
    "schemas": [CORE, ENTERPRISE, SSC], "userName": "1006",
    "name": {"givenName": "Sjoukje", "familyName": "van der Zijl"}, "title": "Adviseur",
    ENTERPRISE: {"department": "Ruimte"},
    SSC: {"site": "alp-hq", "workplace": "vdi", "startDate": "2027-01-04"},
}
BASE_ROW = {"employee_id": "1002", "given_name": "Jan", "infix": "de", "surname": "Vries",
            "department": "Burgerzaken", "job_title": "Teamleider", "site": "alp-hq",
            "workplace": "vdi", "start_date": "2012-01-01", "end_date": ""}
_ALIASES = {"enterprise": ENTERPRISE, "ssc": SSC}


def _urns(value: Any) -> Any:
    """The cases' short names (`enterprise`, `ssc:site`) as the extensions' URNs."""
    if isinstance(value, dict):
        return {_urn(k): _urns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_urns(v) for v in value]
    return value


def _urn(key: str) -> str:
    head, colon, rest = key.partition(":")
    return _ALIASES[head] + colon + rest if head in _ALIASES else key


def _over(base: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    laid = dict(base)
    for key, value in more.items():
        laid[key] = _over(base[key], value) if isinstance(value, dict) and \
            isinstance(base.get(key), dict) else value
    return laid


def _wire(doc: Any) -> Any:
    """As the server gets it: sent as JSON, read back within the bounds."""
    return parse_json(json.dumps(doc).encode("utf-8"))


def _refused(error: ScimError, expected: dict[str, Any]) -> None:
    assert (error.status, error.scim_type) == (expected["status"], expected["scimType"]), \
        error.detail
    assert expected["detail"] in error.detail


@pytest.mark.parametrize("case", data_cases("scim_users"))
def test_a_user_becomes_one_people_row(case: dict[str, Any]) -> None:
    today = date.fromisoformat(case.get("today", TODAY.isoformat()))
    before = {**BASE_ROW, **case["before"]} if "before" in case else None
    user = _over(BASE_USER, _urns(case["user"]))
    if "error" in case:
        with pytest.raises(ScimError) as caught:
            person_from_user(_wire(user), today, before)
        _refused(caught.value, case["error"])
        return
    row = person_from_user(_wire(user), today, before)
    assert list(row) == list(PEOPLE_COLUMNS)
    assert {c: row[c] for c in case["expect"]} == case["expect"]


@pytest.mark.parametrize("case", data_cases("scim_patch"))
def test_a_patch_applies_all_its_operations_or_none(case: dict[str, Any]) -> None:
    before = {**BASE_ROW, **case.get("before", {})}
    operations = [{**op, **({"path": _urn(op["path"])} if "path" in op else {})}
                  for op in _urns(case["ops"])]
    body = _wire({"schemas": [PATCH_OP], "Operations": operations})
    if "error" in case:
        with pytest.raises(ScimError) as caught:
            patched_person(before, body, TODAY)
        _refused(caught.value, case["error"])
        return
    row = patched_person(before, body, TODAY)
    assert {c: row[c] for c in case["expect"]} == case["expect"]


def test_a_row_as_user_and_back_is_the_same_row() -> None:
    rows = [BASE_ROW, {**BASE_ROW, "infix": "", "surname": "De Jong", "end_date": "2026-10-31",
                       "department": "", "job_title": ""},
            {**BASE_ROW, "infix": "van 't", "surname": "Hof", "end_date": "2027-03-31"}]
    for row in rows:
        user = user_from_row(row, TODAY, "https://scim.example/scim/v2/Users/1002")
        assert person_from_user(_wire(user), TODAY, row) == row


def test_a_user_says_what_it_is_and_when_it_changed() -> None:
    user = user_from_row(BASE_ROW, TODAY, "https://scim.example/scim/v2/Users/1002")
    assert (user["id"], user["userName"], user["externalId"]) == ("1002",) * 3
    assert user["name"] == {"givenName": "Jan", "familyName": "Vries",
                            "formatted": "Jan de Vries"}
    assert user[SSC]["infix"] == "de" and "endDate" not in user[SSC]
    assert user_from_row({**BASE_ROW, "infix": ""}, TODAY, "")[SSC]["infix"] == ""
    assert user["meta"] == {"resourceType": "User",
                            "location": "https://scim.example/scim/v2/Users/1002",
                            "version": version(BASE_ROW)}
    assert version(BASE_ROW).startswith('W/"')
    assert version({**BASE_ROW, "job_title": "Adviseur"}) != version(BASE_ROW)


@pytest.mark.parametrize(("end", "active"), [("", True), ("2026-11-24", True),
                                             ("2026-11-23", False), ("2026-11-22", False)])
def test_a_person_is_inactive_from_the_day_of_their_end_date(end: str, active: bool) -> None:
    row = {**BASE_ROW, "end_date": end}
    assert user_from_row(row, TODAY, "")["active"] is active


@pytest.mark.parametrize(("text", "expected"), [
    ("", None),
    ('userName eq "1002"', ("userName", "1002")),
    ('  USERNAME   EQ "a\\"b" ', ("userName", 'a"b')),
    ('externalId eq "A-77"', ("externalId", "A-77")),
    ('id eq "1002"', ("id", "1002")),
])
def test_the_supported_filters_are_read(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize("text", [
    'userName sw "10"', 'userName eq "1002" and active eq true', "userName eq 1002",
    'displayName eq "Jan"', 'userName eq "' + "x" * 600 + '"', 'userName eq "\\q"',
])
def test_any_other_filter_is_refused(text: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_filter(text)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidFilter")


def test_user_name_matches_without_regard_to_case_and_id_exactly() -> None:
    row = {**BASE_ROW, "employee_id": "A-77"}
    assert matches(row, "userName", "a-77")
    assert not matches(row, "id", "a-77") and matches(row, "id", "A-77")


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"x" * (MAX_BODY + 1), 413, "at most 1,048,576"),
    (b"\xff{}", 400, "not UTF-8"),
    (b"{", 400, "not JSON"),
    (b'{"a": NaN}', 400, "NaN is no JSON value"),
    (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), 400, "nests deeper"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nests deeper"),
    (json.dumps(list(range(MAX_ITEMS + 1))).encode(), 400, "items; at most"),
    (json.dumps({str(i): i for i in range(MAX_ITEMS + 1)}).encode(), 400, "members; at most"),
    (b'{"userName": "1", "username": "2"}', 400, "given twice"),
    (b"1" * 5000, 400, "not JSON"),
])
def test_a_hostile_body_is_refused_with_a_reason(body: bytes, status: int, words: str) -> None:
    with pytest.raises(ScimError) as caught:
        parse_json(body)
    assert caught.value.status == status
    assert words in caught.value.detail


def test_the_error_body_is_scims() -> None:
    body = ScimError(409, "exists", "uniqueness").body()
    assert body == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "409", "scimType": "uniqueness", "detail": "exists"}
    assert "scimType" not in ScimError(404, "no user").body()


def test_a_patch_needs_its_schema_and_some_operations() -> None:
    for body in ({"Operations": [{"op": "add", "path": "title", "value": "x"}]},
                 {"schemas": [PATCH_OP], "Operations": []},
                 {"schemas": [PATCH_OP], "Operations": [{"op": "add"}] * 51}):
        with pytest.raises(ScimError) as caught:
            patched_person(BASE_ROW, body, TODAY)
        assert caught.value.status == 400


def test_the_discovery_documents_name_the_user_schemas() -> None:
    base = "https://scim.example/scim/v2"
    assert scim_schemas.service_provider_config(base)["patch"] == {"supported": True}
    assert set(scim_schemas.schemas(base)) == {CORE, ENTERPRISE, SSC}
    user = scim_schemas.resource_types(base)["User"]
    assert user["schema"] == CORE and {e["schema"] for e in user["schemaExtensions"]} == \
        {ENTERPRISE, SSC}
    assert scim_schemas.listed(scim_schemas.schemas(base))["totalResults"] == 3


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:0", ("127.0.0.1", 0)), ("0.0.0.0:8443", ("0.0.0.0", 8443)),
    ("[::1]:8443", ("::1", 8443)), ("hr.ssc.test:443", ("hr.ssc.test", 443)),
])
def test_a_listen_address_is_host_and_port(text: str, expected: tuple[str, int]) -> None:
    assert listen_address(text) == expected


@pytest.mark.parametrize("text", ["8443", "::1:8443", "127.0.0.1:99999", "host:port"])
def test_a_listen_address_without_host_and_port_is_refused(text: str) -> None:
    with pytest.raises(Exception, match="HOST:PORT"):
        listen_address(text)


@pytest.mark.parametrize(("tokens", "words"), [
    ({"alpha": "short"}, "32 to 1,024"),
    ({"alpha": "x" * 40 + " y"}, "32 to 1,024"),
    ({"alpha": "s" * 40, "beta": "s" * 40}, "the same SCIM token"),
])
def test_a_weak_or_shared_token_is_refused(tokens: dict[str, str], words: str) -> None:
    with pytest.raises(Exception, match=words) as caught:
        check_tokens({c: Secret(t) for c, t in tokens.items()})
    assert "s" * 40 not in str(caught.value)  # never the token itself


def test_as_row_takes_the_people_columns_in_order() -> None:
    assert as_row([BASE_ROW[c] for c in PEOPLE_COLUMNS]) == BASE_ROW


def test_hr_pull_skips_a_partner_whose_people_are_pushed_by_scim(mini: Path,
                                                                 tmp_path: Path) -> None:
    export = tmp_path / "beta-drop.csv"
    export.write_bytes((mini / "people" / "beta.csv").read_bytes())
    drop_target(mini, tmp_path)
    for partner, hr in (("alpha", {"system": "scim"}), ("beta", {"system": "csv",
                                                               "file": str(export)})):
        path = mini / "partners" / f"{partner}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["hr"] = hr
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    before = (mini / "people" / "alpha.csv").read_bytes()
    done = CliRunner().invoke(main, ["hr", "pull", "--inventory", str(mini), "--today",
                                     TODAY.isoformat(), "--format", "json", "--targets",
                                     str(mini / "targets.yaml")])
    assert done.exit_code == 0, done.output
    pulled = {p["partner"]: p for p in json.loads(done.output)["partners"]}
    assert (pulled["alpha"]["status"], pulled["alpha"]["reason"]) == (
        "skipped", "pushed by SCIM (hr serve), not pulled")
    assert pulled["beta"]["status"] == "unchanged"
    assert (mini / "people" / "alpha.csv").read_bytes() == before
    text = CliRunner().invoke(main, ["hr", "pull", "--inventory", str(mini), "--partner",
                                     "alpha", "--targets", str(mini / "targets.yaml")])
    assert text.exit_code == 0 and "skipped alpha (scim): pushed by SCIM" in text.output


def test_scim_tokens_are_read_from_the_target_per_partner(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "beta.token").write_text("b" * 40 + "\n", encoding="utf-8")
    target = Target.model_validate({"hr": {"partners": {
        "alpha": {"scim_token_env": "TEST_ALPHA_SCIM"},
        "beta": {"scim_token_file": str(tmp_path / "beta.token")}}}})
    monkeypatch.setenv("TEST_ALPHA_SCIM", "a" * 40)
    tokens = scim_tokens(target, "test", ["alpha", "beta"])
    assert {c: t.reveal() for c, t in tokens.items()} == {"alpha": "a" * 40, "beta": "b" * 40}
    assert "a" * 40 not in repr(tokens)
    with pytest.raises(TargetError, match="no entry for gamma"):
        scim_tokens(target, "test", ["gamma"])
    monkeypatch.delenv("TEST_ALPHA_SCIM")
    with pytest.raises(TargetError, match="TEST_ALPHA_SCIM"):
        scim_tokens(target, "test", ["alpha"])
    with pytest.raises(TargetError, match="no `hr:` section"):
        scim_tokens(Target(), "test", ["alpha"])


def test_a_scim_partner_needs_no_other_field() -> None:
    assert HrEntry.model_validate({"system": "scim"}).system is HrSystem.SCIM
    assert HrEntry.model_validate({"system": "scim", "max_lost": 3}).max_lost == 3
