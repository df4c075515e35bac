"""The HR emulator's data made from the inventory's people rows (`inventory/people/*.csv` read
with csv.DictReader: employee_id, given_name, infix, surname, department, job_title, site,
workplace, start_date, end_date; ISO dates, "" for none): AFAS connector rows, and a Visma
Raet tenant's persons, employments, organisational units, job profiles and employment
extensions. Deterministic: the same rows always give the same data, ids and codes included,
so that a lab re-seeded from its inventory serves what it served before.

The private fields a real Raet tenant holds (a private mail address, a birth date) are made
up here from the employee number (fictional, like the people): the tool must never read them.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

PEOPLE_COLUMNS = ("employee_id", "given_name", "infix", "surname", "department", "job_title",
                  "site", "workplace", "start_date", "end_date")
NO_END = "9999-12-31"  # Raet's "no discharge date"
_IDS = uuid.UUID("6f1d2c8e-5b0a-4c57-9d3e-2a6b7c1f0e45")  # the namespace of the made-up ids


@dataclass(frozen=True)
class RaetData:
    """One Visma Raet tenant's data as the IAM API answers it, each item a JSON object."""

    persons: tuple[dict[str, Any], ...] = ()
    employments: tuple[dict[str, Any], ...] = ()
    organization_units: tuple[dict[str, Any], ...] = ()
    job_profiles: tuple[dict[str, Any], ...] = ()
    extensions: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {"persons": list(self.persons), "employments": list(self.employments),
                "organizationUnits": list(self.organization_units),
                "jobProfiles": list(self.job_profiles), "extensions": list(self.extensions)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RaetData:
        """Raises: ValueError: a collection that is not a list of JSON objects."""
        def items(name: str) -> tuple[dict[str, Any], ...]:
            value = data.get(name, [])
            if not isinstance(value, list) or not all(isinstance(i, dict) for i in value):
                raise ValueError(f"raet data: {name} must be a list of objects")
            return tuple(value)
        return cls(items("persons"), items("employments"), items("organizationUnits"),
                   items("jobProfiles"), items("extensions"))

    def person_codes(self) -> list[str]:
        return [str(p.get("personCode")) for p in self.persons]

    def merged(self, other: RaetData) -> RaetData:
        """This data with `other`'s added; units and profiles already here are kept."""
        units = {u.get("shortName") for u in self.organization_units}
        profiles = {j.get("shortName") for j in self.job_profiles}
        return RaetData(
            self.persons + other.persons, self.employments + other.employments,
            self.organization_units + tuple(u for u in other.organization_units
                                            if u.get("shortName") not in units),
            self.job_profiles + tuple(j for j in other.job_profiles
                                      if j.get("shortName") not in profiles),
            self.extensions + other.extensions)

    def without(self, person_code: str) -> RaetData:
        """This data without the person's records (their units and profiles stay)."""
        def keep(items: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
            return tuple(i for i in items if str(i.get("personCode")) != person_code)
        return replace(self, persons=keep(self.persons), employments=keep(self.employments),
                       extensions=keep(self.extensions))


def afas_rows(rows: Iterable[Mapping[str, str]]) -> list[dict[str, Any]]:
    """The rows of the SSC's employee GetConnector (one per person: one contract each) for
    the inventory's people rows; dates as AFAS gives them ("2024-01-01T00:00:00Z"), an empty
    field as null.

    Raises:
        ValueError: a row lacks one of the people columns.
    """
    made = []
    for number, row in enumerate(rows, start=1):
        r = _checked(row, number)
        made.append({
            "Medewerker": r["employee_id"], "Roepnaam": r["given_name"],
            "Voorvoegsel": r["infix"] or None, "Achternaam": r["surname"],
            "Afdeling": r["department"] or None, "Functie": r["job_title"] or None,
            "Locatie": r["site"] or None, "Werkplek": r["workplace"] or None,
            "Begindatum_contract": _afas_date(r["start_date"]),
            "Einddatum_contract": _afas_date(r["end_date"])})
    return made


def raet_tenant(rows: Iterable[Mapping[str, str]]) -> RaetData:
    """A Raet tenant's data for the inventory's people rows: a person, one employment (code
    "1") with its `location` and `workplace` extensions each; an organisational unit per
    department and a job profile per job title, with short codes made from their names.

    Raises:
        ValueError: a row lacks one of the people columns.
    """
    persons: list[dict[str, Any]] = []
    employments: list[dict[str, Any]] = []
    units: dict[str, dict[str, Any]] = {}
    profiles: dict[str, dict[str, Any]] = {}
    extensions: list[dict[str, Any]] = []
    for number, row in enumerate(rows, start=1):
        r = _checked(row, number)
        code = r["employee_id"]
        persons.append(_person(r))
        unit = short_code(r["department"]) if r["department"] else None
        profile = short_code(r["job_title"]) if r["job_title"] else None
        if unit:
            units.setdefault(unit, {"shortName": unit, "fullName": r["department"]})
        if profile:
            profiles.setdefault(profile, {"shortName": profile, "fullName": r["job_title"]})
        employments.append({
            "id": str(uuid.uuid5(_IDS, f"employment/{code}/1")), "personCode": code,
            "employmentCode": "1", "hireDate": r["start_date"] or None,
            "dischargeDate": r["end_date"] or NO_END, "organizationUnit": unit,
            "jobProfile": profile})
        extensions.extend({"personCode": code, "employmentCode": "1", "fieldName": name,
                           "value": r[column]}
                          for name, column in (("location", "site"), ("workplace", "workplace"))
                          if r[column])
    return RaetData(tuple(persons), tuple(employments), tuple(units.values()),
                    tuple(profiles.values()), tuple(extensions))


def short_code(name: str) -> str:
    """A unit's or profile's short name: the initials of its words and four hex digits of a
    hash of the name ("Burgerzaken" -> "B" + 4 hex), the same whatever else the tenant holds."""
    words = re.findall(r"\w+", _plain(name))
    initials = "".join(w[0] for w in words[:4]).upper()
    return initials + hashlib.sha256(name.casefold().encode()).hexdigest()[:4].upper()


def afas_token(data: str) -> str:
    """An AFAS token as AFAS gives it to an app connector's user: XML around its data."""
    return f"<token><version>1</version><data>{data}</data></token>"


def _person(r: Mapping[str, str]) -> dict[str, Any]:
    code = r["employee_id"]
    digest = int(hashlib.sha256(f"born/{code}".encode()).hexdigest()[:8], 16)
    born = date(1960, 1, 1) + timedelta(days=digest % (40 * 365))
    mailbox = ".".join(re.findall(r"[a-z0-9]+", _plain(f"{r['given_name']} {r['surname']}")
                                  .lower())) or code
    return {"id": str(uuid.uuid5(_IDS, f"person/{code}")), "personCode": code,
            "knownAs": r["given_name"], "firstNames": r["given_name"],
            "initials": "".join(f"{w[0]}." for w in r["given_name"].split()),
            "lastNameAtBirthPrefix": r["infix"] or None, "lastNameAtBirth": r["surname"],
            "partnerNamePrefix": None, "partnerName": None, "nameAssembleOrder": "E",
            # private: a real tenant has them; the tool must never read them
            "privateEmailAddress": f"{mailbox}@example.org", "dateOfBirth": born.isoformat()}


def _checked(row: Mapping[str, str], number: int) -> dict[str, str]:
    missing = [c for c in PEOPLE_COLUMNS if c not in row]
    if missing:
        raise ValueError(f"people row {number}: no {', '.join(missing)} (the columns of "
                         f"inventory/people/*.csv: {', '.join(PEOPLE_COLUMNS)})")
    return {c: (row[c] or "").strip() for c in PEOPLE_COLUMNS}


def _afas_date(value: str) -> str | None:
    return f"{value}T00:00:00Z" if value else None


def _plain(text: str) -> str:
    """Without accents (Wâtse -> Watse), for codes and mail addresses."""
    return "".join(c for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c))

