"""AFAS Profit's GetConnector over REST, as the HR emulator answers it for one environment:
the token in the Authorization header, the query's filters (AND within a group, OR between
groups; ten operators), ordering and skip/take paging. Pure: the server does the HTTP, the
levers and the lock.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ssc_infra_lab.hr_emulator.paging import ApiError, Page, unknown_parameters, whole_number

DEFAULT_CONNECTOR = "ssc_medewerkers"
EMPLOYEE = "Medewerker"
CONNECTOR_FIELDS = ("Medewerker", "Roepnaam", "Voorvoegsel", "Achternaam", "Afdeling",
                    "Functie", "Locatie", "Werkplek", "Begindatum_contract",
                    "Einddatum_contract")
DEFAULT_TAKE = 100
PARAMETERS = frozenset({"skip", "take", "filterfieldids", "filtervalues", "operatortypes",
                        "orderbyfieldids"})
OPERATORS = {1: "equal", 2: "greater or equal", 3: "less or equal", 4: "greater",
             5: "less", 6: "contains", 7: "not equal", 8: "empty", 9: "not empty",
             10: "starts with"}
_TOKEN_DATA = re.compile(r"\s*<token>\s*<version>\s*1\s*</version>\s*<data>\s*([^<\s]+)\s*"
                         r"</data>\s*</token>\s*")
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?Z?")


@dataclass
class AfasEnvironment:
    """One partner's AFAS environment: its token's data and its employee connector's rows."""

    token: str
    connector: str = DEFAULT_CONNECTOR
    rows: list[dict[str, Any]] = field(default_factory=list)

    def fields(self) -> list[str]:
        """The connector's fields: the SSC's, and any other a row holds."""
        extra = dict.fromkeys(k for r in self.rows for k in r if k not in CONNECTOR_FIELDS)
        return [*CONNECTOR_FIELDS, *extra]

    def people(self) -> list[str]:
        """The employee numbers, each once."""
        return list(dict.fromkeys(str(r.get(EMPLOYEE)) for r in self.rows))


def token_data(token: str) -> str:
    """The data of a token given whole (its XML) or as only its data.

    Raises:
        ValueError: neither.
    """
    found = _TOKEN_DATA.fullmatch(token)
    if found is not None:
        return found[1]
    if re.fullmatch(r"[0-9A-Za-z]+", token.strip()):
        return token.strip()
    raise ValueError("an AFAS token is <token><version>1</version><data>HEX</data></token> "
                     "or its data")


def authorized(header: str | None, environment: AfasEnvironment) -> bool:
    """Does `Authorization: AfasToken <base64 of the token XML>` hold the environment's
    token?"""
    scheme, _, value = (header or "").partition(" ")
    if scheme != "AfasToken":
        return False
    try:
        found = _TOKEN_DATA.fullmatch(base64.b64decode(value.strip(), validate=True)
                                      .decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError):
        return False
    return found is not None and hmac.compare_digest(found[1].encode(),
                                                     environment.token.encode())


@dataclass(frozen=True)
class Condition:
    field: str
    operator: int
    value: str


@dataclass(frozen=True)
class Query:
    """A GetConnector request's query: any of its `groups` holding (all conditions of it),
    rows ordered by `order` ((field, descending) pairs), the page from skip/take (take -1:
    all)."""

    skip: int = 0
    take: int = DEFAULT_TAKE
    groups: tuple[tuple[Condition, ...], ...] = ()
    order: tuple[tuple[str, bool], ...] = ()


def parse_query(query: Mapping[str, str], fields: Collection[str], connector: str) -> Query:
    """The query of a GetConnector request, percent-decoded already.

    Raises:
        ApiError: 400, a parameter or field it does not know, lists of unequal shape, an
            operator outside 1-10, or a skip/take that is not a page.
    """
    query = {k.lower(): v for k, v in query.items()}
    unknown_parameters(query, PARAMETERS)
    skip = whole_number(query, "skip", 0, 0)
    take = whole_number(query, "take", DEFAULT_TAKE, -1)
    if take == 0:
        raise ApiError(400, "take=0: ask for at least one row (or -1 for all)")

    def known(name: str, where: str) -> str:
        if name not in fields:
            raise ApiError(400, f"{where}: the field {name!r} is not in connector {connector} "
                           f"(it has {', '.join(fields)})")
        return name

    order = tuple((known(f.removeprefix("-"), "orderbyfieldids"), f.startswith("-"))
                  for f in query.get("orderbyfieldids", "").split(",") if f)
    given = [query.get(k) for k in ("filterfieldids", "filtervalues", "operatortypes")]
    if all(g is None for g in given):
        return Query(skip, take, (), order)
    if any(g is None for g in given):
        raise ApiError(400, "filterfieldids, filtervalues and operatortypes go together")
    ids, values, operators = ([group.split(",") for group in str(g).split(";")] for g in given)
    if [len(g) for g in ids] != [len(g) for g in values] or \
            [len(g) for g in ids] != [len(g) for g in operators]:
        raise ApiError(400, "filterfieldids, filtervalues and operatortypes must hold as many "
                       "conditions (',') in as many groups (';')")
    groups = []
    for names, wanted, kinds in zip(ids, values, operators, strict=True):
        conditions = []
        for name, value, kind in zip(names, wanted, kinds, strict=True):
            operator = int(kind) if kind.strip().isdigit() else 0
            if operator not in OPERATORS:
                raise ApiError(400, f"operatortypes: {kind!r} is not an operator (1-10)")
            conditions.append(Condition(known(name, "filterfieldids"), operator, value))
        groups.append(tuple(conditions))
    return Query(skip, take, tuple(groups), order)


def select(environment: AfasEnvironment, query: Query, lost: Collection[str],
           cap: Callable[[int], int]) -> Page:
    """The page of the connector's rows the query asks for; the `lost` employees left out
    and `take` capped by `cap`. The answer's `take` is the one used."""
    matching = [r for r in environment.rows if str(r.get(EMPLOYEE)) not in lost
                and (not query.groups or any(all(_holds(r.get(c.field), c)
                                                 for c in group) for group in query.groups))]
    for name, descending in reversed(query.order):
        matching.sort(key=_by(name), reverse=descending)
    everything = max(len(matching), 1) if query.take == -1 else query.take
    take = cap(everything)
    rows = matching[query.skip:query.skip + take]
    answered = take if take < everything else query.take
    return Page({"skip": query.skip, "take": answered, "rows": [dict(r) for r in rows]},
                1 + query.skip // take)


def error_body(message: str) -> dict[str, Any]:
    return {"externalMessage": message}


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _when(text: str) -> datetime | None:
    found = _DATE.fullmatch(text.strip())
    if found is None:
        return None
    try:
        return datetime.fromisoformat(f"{found[1]}T{found[2] or '00:00:00'}")
    except ValueError:
        return None


def _typed(value: Any) -> tuple[int, Any]:
    """A row's value as it compares: a number, a date, else text without regard to case."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return 0, float(value)
    if isinstance(value, str) and (moment := _when(value)) is not None:
        return 1, moment
    return 2, str(value).casefold()


def _wanted(kind: int, value: str, condition: Condition) -> Any:
    if kind == 0:
        try:
            return float(value)
        except ValueError:
            pass
    elif kind == 1:
        moment = _when(value)
        if moment is not None:
            return moment
    else:
        return value.casefold()
    raise ApiError(400, f"filtervalues: {value!r} is not a "
                   f"{'number' if kind == 0 else 'date'}, as field {condition.field} is")


def _holds(value: Any, condition: Condition) -> bool:
    operator, wanted = condition.operator, condition.value
    if operator in (8, 9):
        return _empty(value) == (operator == 8)
    if _empty(value):
        return (wanted == "") == (operator == 1) if operator in (1, 7) else False
    if operator in (6, 10):
        text, part = str(value).casefold(), wanted.casefold()
        return part in text if operator == 6 else text.startswith(part)
    kind, have = _typed(value)
    want = _wanted(kind, wanted, condition)
    comparisons: dict[int, Callable[[Any, Any], bool]] = {
        1: lambda a, b: a == b, 2: lambda a, b: a >= b, 3: lambda a, b: a <= b,
        4: lambda a, b: a > b, 5: lambda a, b: a < b, 7: lambda a, b: a != b}
    return comparisons[operator](have, want)


def _by(name: str) -> Callable[[Mapping[str, Any]], tuple[int, int, Any]]:
    """The sort key of a field: empty values first (as SQL Server orders NULL), then by kind
    and value."""
    def key(row: Mapping[str, Any]) -> tuple[int, int, Any]:
        value = row.get(name)
        return (0, 0, "") if _empty(value) else (1, *_typed(value))
    return key


def rows_json(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows given by a caller as plain JSON objects (a copy the caller cannot change)."""
    if not all(isinstance(r, Mapping) for r in rows):
        raise ValueError("AFAS rows must be JSON objects")
    return [dict(r) for r in rows]
