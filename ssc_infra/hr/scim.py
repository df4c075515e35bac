"""SCIM 2.0 Users (RFC 7643, RFC 7644) as the inventory's people rows: pure, no I/O.

An HR system that pushes SCIM writes a partner's people through `ssc-infra hr serve`; this
module turns what it sends into one people row, a row back into a SCIM User, and reads the
filters, paging and PATCH operations it may send. Every field is hostile until checked: the
body's size, nesting and array lengths are bounded, every value's type and length checked, and
a control character or line break refused with a SCIM error that says so. What the people
loader then finds (an unknown site, a quota exceeded) is the store's to tell
(`ssc_infra.lifecycle.scim_store`).

The mapping (the SCIM `id` is the employee id):

- employee_id: the enterprise extension's `employeeNumber` when given, else `userName`;
  `id`, `externalId` and `userName` are given back as the employee id;
- given_name: `name.givenName`;
- infix, surname: `name.familyName`, with the ssc-infra extension's `infix`; without it, the
  Dutch voorvoegsels of the family name are split off (`split_infix`: "van der Meer");
- department: the enterprise extension's `department`; job_title: `title`;
- site, workplace, start_date, end_date: the ssc-infra extension's `site`, `workplace`,
  `startDate` and `endDate` (YYYY-MM-DD);
- `active: false`: the person left: end_date today, unless an endDate is given, or one has
  passed already.

A person is `active` until the day of their end date: from that day on SCIM shows them
inactive (the account itself is disabled by the first plan after their last day).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from ssc_infra.core.errors import SscError
from ssc_infra.core.infix import split_infix
from ssc_infra.core.model import (
    DEPARTMENT_MAX,
    EMPLOYEE_ID_PATTERN,
    GIVEN_NAME_MAX,
    INFIX_MAX,
    JOB_TITLE_MAX,
    SURNAME_MAX,
    Workplace,
)
from ssc_infra.sources.people import EMPLOYEE_ID_HINT, PEOPLE_COLUMNS
from ssc_infra.sources.schema import unprintable

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SSC = "urn:ietf:params:scim:schemas:extension:ssc-infra:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CONTENT_TYPE = "application/scim+json"

MAX_BODY = 1 << 20  # bytes of one request body
MAX_DEPTH = 8  # objects and arrays inside each other
MAX_ITEMS = 100  # members of one object, items of one array
MAX_OPERATIONS = 50  # of one PATCH
MAX_PAGE = 200  # users in one page of a list
MAX_FILTER = 512
TEXT_MAX = 256  # a string looked at but not kept (userName beside an employeeNumber, a path)
SITE_MAX = 32  # a site code
DETAIL_MAX = 2000

Row = dict[str, str]

_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
                   r"(?:Z|[+-]\d{2}:\d{2}))?")
_FILTER = re.compile(r'\s*(userName|externalId|id)\s+eq\s+"((?:[^"\\]|\\.)*)"\s*', re.IGNORECASE)
_WORKPLACES = tuple(w.value for w in Workplace)
_REQUIRED = (("given_name", "name.givenName"), ("surname", "name.familyName"),
             ("site", f"{SSC}:site"), ("workplace", f"{SSC}:workplace"),
             ("start_date", f"{SSC}:startDate"))
# Attributes of the schemas that the people file does not keep: taken and left aside, so that
# an HR system sending its usual User (mail, phone, manager) is not refused for them.
_IGNORED = frozenset({
    "displayname", "nickname", "profileurl", "usertype", "preferredlanguage", "locale",
    "timezone", "password", "emails", "phonenumbers", "ims", "photos", "addresses", "groups",
    "entitlements", "roles", "x509certificates", "externalid", "schemas", "id", "meta",
    "name.formatted", "name.middlename", "name.honorificprefix", "name.honorificsuffix",
    f"{ENTERPRISE}:costcenter".casefold(), f"{ENTERPRISE}:organization".casefold(),
    f"{ENTERPRISE}:division".casefold(), f"{ENTERPRISE}:manager".casefold(),
})
# path (folded) -> (the object it lives in: "" the User itself, or a sub-object; its name)
_TARGETS = {
    "active": ("", "active"), "username": ("", "userName"), "title": ("", "title"),
    "name.givenname": ("name", "givenName"), "name.familyname": ("name", "familyName"),
    **{f"{ENTERPRISE}:{a}".casefold(): (ENTERPRISE, a) for a in ("employeeNumber",
                                                                  "department")},
    **{f"{SSC}:{a}".casefold(): (SSC, a) for a in ("site", "workplace", "startDate", "endDate",
                                                    "infix")},
}
_COMPLEX = {"name": "name.", ENTERPRISE.casefold(): f"{ENTERPRISE}:",
            SSC.casefold(): f"{SSC}:"}


class ScimError(SscError):
    """A request refused, as SCIM says it (RFC 7644 3.12): HTTP status, scimType, detail;
    `note` is for the server's log (no name, no value of the request: the detail may hold
    them)."""

    def __init__(self, status: int, detail: str, scim_type: str = "", note: str = "") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.note = note

    def body(self) -> dict[str, Any]:
        """The SCIM error response."""
        body: dict[str, Any] = {"schemas": [ERROR], "status": str(self.status),
                                "detail": self.detail[:DETAIL_MAX]}
        if self.scim_type:
            body["scimType"] = self.scim_type
        return body


def invalid(detail: str, scim_type: str = "invalidValue") -> ScimError:
    """A 400 Bad Request of this scimType."""
    return ScimError(400, detail, scim_type)


# -- the body -------------------------------------------------------------------------------


def parse_json(data: bytes) -> Any:
    """The request body as JSON, within the bounds: at most MAX_BODY bytes, UTF-8, objects
    and arrays at most MAX_DEPTH deep and MAX_ITEMS long, no key given twice (attribute names
    are case-insensitive in SCIM), no NaN or Infinity."""
    if len(data) > MAX_BODY:
        raise ScimError(413, f"the body is {len(data):,} bytes; at most {MAX_BODY:,} are taken")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise invalid(f"the body is not UTF-8 (byte {e.start})", "invalidSyntax") from None
    try:
        doc = json.loads(text, object_pairs_hook=_members, parse_constant=_no_constant)
    except RecursionError:
        raise invalid(f"the body nests deeper than {MAX_DEPTH} levels", "invalidSyntax") from None
    except ValueError as e:
        raise invalid(f"the body is not JSON: {str(e)[:200]}", "invalidSyntax") from None
    _bounded(doc, 1)
    return doc


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len(pairs) > MAX_ITEMS:
        raise invalid(f"an object has {len(pairs):,} members; at most {MAX_ITEMS}",
                      "invalidSyntax")
    seen: set[str] = set()
    for key, _value in pairs:
        if key.casefold() in seen:
            raise invalid(f"the attribute {key[:64]!r} is given twice (SCIM attribute names "
                          "are case-insensitive)", "invalidSyntax")
        seen.add(key.casefold())
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise invalid(f"{name} is no JSON value", "invalidSyntax")


def _bounded(value: Any, depth: int) -> None:
    if not isinstance(value, dict | list):
        return
    if depth > MAX_DEPTH:
        raise invalid(f"the body nests deeper than {MAX_DEPTH} levels", "invalidSyntax")
    if len(value) > MAX_ITEMS:
        raise invalid(f"an array has {len(value):,} items; at most {MAX_ITEMS}", "invalidSyntax")
    for item in value.values() if isinstance(value, dict) else value:
        _bounded(item, depth + 1)


# -- a User in, a row out ------------------------------------------------------------------


def person_from_user(doc: Any, today: date, before: Mapping[str, str] | None = None) -> Row:
    """The people row of a SCIM User (POST or PUT: the whole person).

    Args:
        doc: the parsed body.
        today: the day: `active: false` without an end date leaves today.
        before: the person's row now, when there is one: an end date that has passed already
            stays when `active: false` comes again.

    Raises:
        ScimError: 400 with the attribute and what is wrong with it.
    """
    user = _object(doc, "the body")
    schemas = _get(user, "schemas")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas) \
            or CORE.casefold() not in {s.casefold() for s in schemas}:
        raise invalid(f"schemas must be a list that holds {CORE}")
    name = _object(_get(user, "name"), "name")
    enterprise = _object(_get(user, ENTERPRISE), ENTERPRISE)
    ours = _object(_get(user, SSC), SSC)
    family = _text(name, "familyName", "name.familyName", SURNAME_MAX + INFIX_MAX + 1)
    if _get(ours, "infix") is not None:
        infix, surname = _text(ours, "infix", f"{SSC}:infix", INFIX_MAX), family
    else:
        infix, surname = split_infix(family)
    row = {
        "employee_id": _employee_id(user, enterprise),
        "given_name": _text(name, "givenName", "name.givenName", GIVEN_NAME_MAX),
        "infix": infix,
        "surname": surname,
        "department": _text(enterprise, "department", f"{ENTERPRISE}:department",
                            DEPARTMENT_MAX),
        "job_title": _text(user, "title", "title", JOB_TITLE_MAX),
        "site": _text(ours, "site", f"{SSC}:site", SITE_MAX),
        "workplace": _text(ours, "workplace", f"{SSC}:workplace", 16),
        "start_date": _date(ours, "startDate"),
        "end_date": _date(ours, "endDate"),
    }
    if len(surname) > SURNAME_MAX:
        raise invalid(f"name.familyName without its infix is {len(surname)} characters long; "
                      f"at most {SURNAME_MAX}")
    for column, attribute in _REQUIRED:
        if not row[column]:
            raise invalid(f"{attribute} is required: the people file needs a {column}")
    if row["workplace"] not in _WORKPLACES:
        raise invalid(f"{SSC}:workplace {row['workplace']!r} is none of "
                      f"{', '.join(_WORKPLACES)}")
    _active_and_end(_active(_get(user, "active")), row, today, before)
    return row


def _active_and_end(active: bool | None, row: Row, today: date,
                    before: Mapping[str, str] | None) -> None:
    """`active: false`: the person left, today unless an end date is given or has passed."""
    day = today.isoformat()
    if active is False and not row["end_date"]:
        old = before["end_date"] if before else ""
        row["end_date"] = old if old and old <= day else day
    elif active is True and row["end_date"] and row["end_date"] < day:
        raise invalid(f"active is true, but the endDate {row['end_date']} has passed: send "
                      "active false for a person who left, or the end date to come")


def _employee_id(user: Mapping[str, Any], enterprise: Mapping[str, Any]) -> str:
    """The employee number when given, else the userName: the person's key."""
    number = _text(enterprise, "employeeNumber", f"{ENTERPRISE}:employeeNumber", TEXT_MAX)
    user_name = _text(user, "userName", "userName", TEXT_MAX)
    found = number or user_name
    if not found:
        raise invalid("userName is required: the employee id (or give the enterprise "
                      "extension's employeeNumber)")
    if not _EMPLOYEE_ID.fullmatch(found):
        said = f"{ENTERPRISE}:employeeNumber" if number else "userName"
        raise invalid(f"{said} {found[:64]!r} is no employee id: {EMPLOYEE_ID_HINT}")
    return found


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{where} is {_kind(value)}, not an object")
    return value


def _get(obj: Mapping[str, Any], name: str) -> Any:
    """The member NAME of an object, whatever its case (None, as null, when absent)."""
    folded = name.casefold()
    return next((v for k, v in obj.items() if k.casefold() == folded), None)


def _text(obj: Mapping[str, Any], name: str, where: str, limit: int) -> str:
    value = _get(obj, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise invalid(f"{where} is {_kind(value)}, not a string")
    if len(value) > limit:
        raise invalid(f"{where} is {len(value):,} characters long; at most {limit}")
    bad = unprintable(value)
    if bad:
        raise invalid(f"{where} holds {bad}: control characters and line breaks are refused "
                      "(the people file takes printable text on one line)")
    return value.strip()


def _date(ours: Mapping[str, Any], name: str) -> str:
    where = f"{SSC}:{name}"
    text = _text(ours, name, where, 40)
    if not text:
        return ""
    found = _DATE.fullmatch(text)
    try:
        return date.fromisoformat(found.group(1)).isoformat() if found else _no_date(where)
    except ValueError:
        return _no_date(where)


def _no_date(where: str) -> str:
    raise invalid(f"{where} is no date: write YYYY-MM-DD (of a dateTime only its date is "
                  "taken, as written)")


def _active(value: Any) -> bool | None:
    # Some provisioning clients send the boolean as a string ("False").
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    if value is None or isinstance(value, bool):
        return value
    raise invalid(f"active is {_kind(value)}, not a boolean")


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


# -- a row out as a User ---------------------------------------------------------------------


def as_row(values: Sequence[str]) -> Row:
    """A row of the people file (its columns in order) as a Row."""
    return dict(zip(PEOPLE_COLUMNS, values, strict=True))


def is_active(row: Mapping[str, str], today: date) -> bool:
    """Active until the day of the end date (see the module's docstring)."""
    return not row["end_date"] or row["end_date"] > today.isoformat()


def version(row: Mapping[str, str]) -> str:
    """The row's weak ETag: it changes whenever any of its fields does."""
    digest = hashlib.sha256("\x1f".join(row[c] for c in PEOPLE_COLUMNS).encode("utf-8"))
    return f'W/"{digest.hexdigest()[:20]}"'


def user_from_row(row: Mapping[str, str], today: date, location: str) -> dict[str, Any]:
    """The SCIM User of a people row; an empty value is left out (SCIM's unassigned), but
    for the infix."""
    employee = row["employee_id"]
    full = " ".join(p for p in (row["given_name"], row["infix"], row["surname"]) if p)
    # The infix always, an empty one too: "De Jong" without one is not "de" + "Jong".
    ours = {"infix": row["infix"], **{key: row[column] for key, column in (
        ("site", "site"), ("workplace", "workplace"), ("startDate", "start_date"),
        ("endDate", "end_date")) if row[column]}}
    user: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE, SSC], "id": employee, "externalId": employee,
        "userName": employee,
        "name": {"givenName": row["given_name"], "familyName": row["surname"],
                 "formatted": full},
        "displayName": full, "active": is_active(row, today),
        ENTERPRISE: {"employeeNumber": employee,
                     **({"department": row["department"]} if row["department"] else {})},
        SSC: ours,
        "meta": {"resourceType": "User", "location": location, "version": version(row)},
    }
    if row["job_title"]:
        user["title"] = row["job_title"]
    return user


# -- PATCH -----------------------------------------------------------------------------------


def patched_person(row: Mapping[str, str], body: Any, today: date) -> Row:
    """The person's row after a PATCH (RFC 7644 3.5.2): its operations applied, all or none,
    to the User of `row`, which is then read back as a whole (`person_from_user`).

    add and replace set an attribute (of a complex one, the sub-attributes given), remove
    unsets it; the supported paths are the mapping's. Setting `active` without an endDate
    leaves today (false) or comes back (true: a passed end date is cleared); a new familyName
    without an infix has its voorvoegsels split off again.
    """
    patch = _object(body, "the body")
    schemas = _get(patch, "schemas")
    if not isinstance(schemas, list) or PATCH_OP not in schemas:
        raise invalid(f"schemas must be a list that holds {PATCH_OP}")
    operations = _get(patch, "Operations")
    if not isinstance(operations, list) or not 0 < len(operations) <= MAX_OPERATIONS:
        raise invalid(f"Operations must be a list of 1 to {MAX_OPERATIONS} operations")
    user = user_from_row(row, today, "")
    touched: set[str] = set()
    for number, operation in enumerate(operations, start=1):
        _operate(user, _object(operation, f"operation {number}"), number, touched)
    ours = user.setdefault(SSC, {})
    if "familyName" in touched and "infix" not in touched:
        ours.pop("infix", None)
    if "active" in touched and "endDate" not in touched:
        if _active(user.get("active")) is False or (row["end_date"] and
                                                    row["end_date"] <= today.isoformat()):
            ours.pop("endDate", None)
    elif "endDate" in touched and "active" not in touched:
        user.pop("active", None)  # the new end date says it
    employee = row["employee_id"]
    for name, where in (("userName", user), ("employeeNumber", user.get(ENTERPRISE) or {})):
        if name in touched and _get(where, name) not in (employee, None):
            raise ScimError(400, f"{name} is the employee id {employee}, the person's key: it "
                            "cannot change (a new employee id is a new person: POST it)",
                            "mutability")
    return person_from_user(user, today, row)


def _operate(user: dict[str, Any], operation: Mapping[str, Any], number: int,
             touched: set[str]) -> None:
    op = _get(operation, "op")
    if not isinstance(op, str) or op.casefold() not in ("add", "replace", "remove"):
        raise invalid(f"operation {number}: op must be add, replace or remove", "invalidSyntax")
    path = _get(operation, "path")
    if path is not None and (not isinstance(path, str) or len(path) > TEXT_MAX):
        raise invalid(f"operation {number}: path must be a string of at most {TEXT_MAX}",
                      "invalidPath")
    value = _get(operation, "value")
    if op.casefold() == "remove":
        if path is None:
            raise invalid(f"operation {number}: remove needs a path", "noTarget")
        _assign(user, path, None, touched)
    elif path is None:
        for key, each in _object(value, f"operation {number}: value").items():
            _assign(user, key, each, touched)
    else:
        _assign(user, path, value, touched)


def _assign(user: dict[str, Any], path: str, value: Any, touched: set[str]) -> None:
    """Set (None: unset) the attribute at PATH; a complex one takes its sub-attributes."""
    folded = path.casefold().removeprefix(CORE.casefold() + ":")
    if folded in _COMPLEX:
        for key, each in _object(value, path).items():
            _assign(user, _COMPLEX[folded] + key, each, touched)
        if value is None:  # removing a complex attribute removes what it holds
            for inside in [t for t in _TARGETS if t.startswith(_COMPLEX[folded].casefold())]:
                _assign(user, inside, None, touched)
        return
    target = _TARGETS.get(folded)
    if target is None:
        if _ignored(folded):
            return
        raise invalid(f"unsupported path {path[:80]!r}: the supported ones are "
                      f"{', '.join(sorted({t[1] for t in _TARGETS.values()}))} and their "
                      "objects", "invalidPath")
    where, name = target
    holder = user if not where else user.setdefault(where, {})
    if not isinstance(holder, dict):
        raise invalid(f"{where} is {_kind(holder)}, not an object")
    for key in [k for k in holder if k.casefold() == name.casefold()]:
        del holder[key]
    if value is not None:
        holder[name] = value
    touched.add(name)


def _ignored(folded: str) -> bool:
    """Whether the path is of an attribute the people file does not keep (`_IGNORED`)."""
    prefix = next((p for p in (f"{ENTERPRISE}:".casefold(), f"{SSC}:".casefold())
                   if folded.startswith(p)), "")
    if not prefix and folded.startswith("urn:"):
        return False  # another schema's: not ours to take
    attribute = re.split(r"[\[.]", folded[len(prefix):], maxsplit=1)[0]
    return folded in _IGNORED or prefix + attribute in _IGNORED


# -- lists -----------------------------------------------------------------------------------


def parse_filter(text: str) -> tuple[str, str] | None:
    """The attribute and value of `userName eq "..."`, `externalId eq "..."` or `id eq "..."`;
    None for no filter. Anything else is refused (invalidFilter)."""
    if not text:
        return None
    found = _FILTER.fullmatch(text) if len(text) <= MAX_FILTER else None
    if found is None:
        raise invalid('unsupported filter: only userName eq "...", externalId eq "..." and '
                      'id eq "..." are', "invalidFilter")
    try:
        value = json.loads(f'"{found.group(2)}"')
    except ValueError:
        raise invalid("the filter's value is no JSON string", "invalidFilter") from None
    return {"username": "userName", "externalid": "externalId"}.get(
        found.group(1).casefold(), "id"), value


def matches(row: Mapping[str, str], attribute: str, value: str) -> bool:
    """Whether the row is the filter's: userName compares without regard to case (RFC 7643:
    caseExact false), id and externalId exactly; all three are the employee id."""
    employee = row["employee_id"]
    return employee.casefold() == value.casefold() if attribute == "userName" \
        else employee == value


def paging(start_index: str | None, count: str | None) -> tuple[int, int]:
    """startIndex (1-based; less than 1 is 1) and count (0 to MAX_PAGE; default MAX_PAGE)."""
    start = _whole(start_index, "startIndex", 1)
    return max(start, 1), min(max(_whole(count, "count", MAX_PAGE), 0), MAX_PAGE)


def _whole(text: str | None, name: str, default: int) -> int:
    if text is None or text == "":
        return default
    if not re.fullmatch(r"-?\d{1,9}", text):
        raise invalid(f"{name} must be a whole number")
    return int(text)


def list_response(resources: list[dict[str, Any]], total: int, start: int) -> dict[str, Any]:
    """A ListResponse of one page of resources."""
    return {"schemas": [LIST], "totalResults": total, "startIndex": start,
            "itemsPerPage": len(resources), "Resources": resources}
