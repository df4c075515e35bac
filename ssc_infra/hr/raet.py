"""Visma Raet / YouForce: the partner's people read from the IAM API.

A token from the client-credentials flow (`POST connect/token` with the API user's client id
and secret and the partner's tenant id), then, paged by each answer's `nextLink`:
`/iam/v1.0/persons`, `/iam/v1.0/employments`, `/iam/v1.0/organizationUnits`,
`/iam/v1.0/jobProfiles` and the employments' custom fields, `/extensions/v1.0/iam/employments`
(`location`: the site code, `workplace`: the workplace kind, where the partner keeps them there;
else the mapping file's `constants`/`values` give them).

A person's record joins them: `personCode`, `knownAs` (the name they go by), the surname as
their `nameAssembleOrder` says (E: birth name, P: partner's name, B: partner's then birth
name, C/D: birth then partner's), their employment's organisational unit and job profile by
full name, its dates (9999-12-31 is no end). The API holds private fields (birth date, private
mail); none of them is read into a record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from ssc_infra.hr.client import HrClient
from ssc_infra.hr.employments import Employment, as_date, people
from ssc_infra.hr.employments import text_of as _text
from ssc_infra.hr.settings import HrError, HrSettings

START, END = "hireDate", "dischargeDate"
FIELDS = {
    "employee_id": "personCode", "given_name": "knownAs", "infix": "infix",
    "surname": "surname", "department": "organizationUnit", "job_title": "jobProfile",
    "site": "location", "workplace": "workplace", "start_date": START, "end_date": END,
}
DESCRIPTION = "Visma Raet IAM API"
_EXTENSIONS = ("location", "workplace")
_KEY_MAX = 64


def read_raet(client: HrClient, settings: HrSettings, tenant: str, today: date,
              months: int) -> tuple[list[dict[str, str]], set[str]]:
    """The tenant's people with an employment in the window, one record each; and the names
    of every field the persons held.

    Raises:
        HrError: refused, unreachable, cut off, or not the IAM API's shape.
    """
    if settings.client_id is None or settings.client_secret is None:
        raise HrError(f"{client.system}: no client id or secret: the target names none "
                      "(hr.partners)")
    token = client.post_form(settings.token_url, {
        "grant_type": "client_credentials", "client_id": settings.client_id.reveal(),
        "client_secret": settings.client_secret.reveal(), "tenant_id": tenant})
    access = token.get("access_token") if isinstance(token, dict) else None
    if not isinstance(access, str) or not access:
        raise HrError(f"{client.system}: the token answer holds no access_token")
    headers = {"Authorization": f"Bearer {access}"}
    base = settings.base_url.rstrip("/")

    def all_of(path: str) -> Iterator[Mapping[str, Any]]:
        return _paged(client, settings, f"{base}{path}", headers)

    units = {str(u.get("shortName")): str(u.get("fullName") or "")
             for u in all_of("/iam/v1.0/organizationUnits")}
    profiles = {str(j.get("shortName")): str(j.get("fullName") or "")
                for j in all_of("/iam/v1.0/jobProfiles")}
    extra: dict[tuple[str, str], dict[str, str]] = {}
    for x in all_of("/extensions/v1.0/iam/employments"):
        if x.get("fieldName") in _EXTENSIONS:
            extra.setdefault((str(x.get("personCode")), str(x.get("employmentCode"))),
                             {})[str(x["fieldName"])] = _text(x.get("value"))
    names: dict[str, dict[str, str]] = {}
    fields: set[str] = set()
    for p in all_of("/iam/v1.0/persons"):
        fields.update(p)
        code = _key(p.get("personCode"), client.system)
        names[code] = {"personCode": code, "knownAs": _text(p.get("knownAs")),
                       **dict(zip(("infix", "surname"), _surname(p), strict=True))}
    employments = []
    for e in all_of("/iam/v1.0/employments"):
        code = _key(e.get("personCode"), client.system)
        if code not in names:
            continue  # an employment of someone the persons did not list: not theirs to give
        start = as_date(e.get(START), START, client.system)
        if start is None:
            continue  # an employment without a start has not begun
        job = extra.get((code, str(e.get("employmentCode"))), {})
        employments.append(Employment(code, start, as_date(e.get(END), END, client.system), {
            **names[code],
            "organizationUnit": units.get(str(e.get("organizationUnit")), ""),
            "jobProfile": profiles.get(str(e.get("jobProfile")), ""),
            **{k: job.get(k, "") for k in _EXTENSIONS}}))
    return people(employments, today, months, START, END), fields


def _paged(client: HrClient, settings: HrSettings, url: str,
           headers: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
    """Every item of a list endpoint, following `nextLink` (only to the same server)."""
    origin = urlsplit(url).netloc
    params: dict[str, str] | None = {"take": str(settings.page_size)}
    for _ in range(settings.max_pages):
        answer = client.get(url, params, headers)
        items = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise HrError(f"{client.system}: {urlsplit(url).path} answered without a list "
                          "`value`: is the URL the IAM API's?")
        yield from items
        following = answer.get("nextLink")
        if not following:
            return
        if not isinstance(following, str) or urlsplit(following).netloc != origin:
            raise HrError(f"{client.system}: a nextLink to another server: refused")
        url, params = following, None
    raise HrError(f"{client.system}: more than {settings.max_pages:,} pages: check the API")


def _surname(person: Mapping[str, Any]) -> tuple[str, str]:
    """(infix, surname) as the person's nameAssembleOrder puts their names together."""
    own = (_text(person.get("lastNameAtBirthPrefix")), _text(person.get("lastNameAtBirth")))
    theirs = (_text(person.get("partnerNamePrefix")), _text(person.get("partnerName")))
    order = _text(person.get("nameAssembleOrder")).upper()
    if not theirs[1] or order not in ("P", "B", "C", "D"):
        return own
    if order == "P":
        return theirs
    first, second = (theirs, own) if order == "B" else (own, theirs)
    rest = " ".join(x for x in second if x)
    return first[0], f"{first[1]}-{rest}"


def _key(value: object, system: str) -> str:
    text = _text(value).strip()
    if not text or len(text) > _KEY_MAX:
        raise HrError(f"{system}: a record without a usable personCode ({repr(value)[:40]})")
    return text
