"""AFAS Profit: the partner's employees read from a GetConnector over REST.

`GET {base}/ProfitRestServices/connectors/{connector}?skip=N&take=M` with the header
`Authorization: AfasToken <base64 of the token XML>`, paged until a page holds fewer than
`take` rows, filtered on the server to the data window (AFAS filters: `,` joins conditions
that must all hold, `;` alternatives):

    Begindatum_contract <= today + window,  and
    Einddatum_contract >= today - window  or  Einddatum_contract empty

The GetConnector (id `ssc_medewerkers` unless `hr.connector` says otherwise) is made by the
partner's AFAS administrator on the Medewerkers/Dienstverbanden view, one row per employment,
with the fields of `FIELDS`; `Locatie` and `Werkplek` are free fields (vrije velden) for the
site code and the workplace, or come from the mapping file's `constants`/`values`. Private
fields (birth date, home address, private mail) do not belong in it; if they are there, they
are dropped and named (`ssc_infra.hr.answer`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import date
from typing import Any

from ssc_infra.hr.client import HrClient
from ssc_infra.hr.employments import Employment, as_date, people, window
from ssc_infra.hr.employments import text_of as _text
from ssc_infra.hr.settings import HrError, HrSettings

EMPLOYEE, START, END = "Medewerker", "Begindatum_contract", "Einddatum_contract"
# The connector's fields, as the default mapping reads them: inventory column -> AFAS field.
FIELDS = {
    "employee_id": EMPLOYEE, "given_name": "Roepnaam", "infix": "Voorvoegsel",
    "surname": "Achternaam", "department": "Afdeling", "job_title": "Functie",
    "site": "Locatie", "workplace": "Werkplek", "start_date": START, "end_date": END,
}
DESCRIPTION = "AFAS Profit, GetConnector ssc_medewerkers"
_KEY_MAX = 64


def token_header(token: str) -> str:
    """The Authorization header of an AFAS token: its XML (given whole, or only its data)
    in base64."""
    text = token.strip()
    if not text.startswith("<token>"):
        text = f"<token><version>1</version><data>{text}</data></token>"
    return "AfasToken " + base64.b64encode(text.encode("utf-8")).decode("ascii")


def read_afas(client: HrClient, settings: HrSettings, connector: str, today: date,
              months: int, keep: frozenset[str]) -> tuple[list[dict[str, str]], set[str]]:
    """The people of the connector's employments in the window, one record each with the
    fields in `keep`; and the names of every field the answer held.

    Raises:
        HrError: refused, unreachable, cut off, or not the connector's shape.
    """
    if settings.token is None:
        raise HrError(f"{client.system}: no token: the target names none (hr.partners)")
    url = f"{settings.base_url.rstrip('/')}/ProfitRestServices/connectors/{connector}"
    latest_start, earliest_end = window(today, months)
    query = {
        "filterfieldids": f"{START},{END};{START},{END}",
        "filtervalues": f"{latest_start}T00:00:00,{earliest_end}T00:00:00;"
                        f"{latest_start}T00:00:00,",
        "operatortypes": "3,2;3,8",
        "orderbyfieldids": EMPLOYEE,
    }
    headers = {"Authorization": token_header(settings.token.reveal())}
    take = settings.page_size
    employments: list[Employment] = []
    fields: set[str] = set()
    skip = 0
    for _ in range(settings.max_pages):
        answer = client.get(url, {**query, "skip": str(skip), "take": str(take)}, headers)
        rows = _rows(answer, client.system)
        for row in rows:
            fields.update(row)
            employments.append(_employment(row, keep, client.system))
        skip += len(rows)
        # A server may give fewer than asked and say so in its `take`: the page is full then.
        given = answer.get("take")
        full = given if isinstance(given, int) and 0 < given < take else take
        if len(rows) < full or not rows:
            return people(employments, today, months, START, END), fields
    raise HrError(f"{client.system}: more than {settings.max_pages:,} pages of {take} rows: "
                  "check the connector's filter")


def _rows(answer: Any, system: str) -> list[Mapping[str, Any]]:
    rows = answer.get("rows") if isinstance(answer, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise HrError(f"{system}: the answer has no list of rows: is the connector a "
                      "GetConnector?")
    return rows


def _employment(row: Mapping[str, Any], keep: frozenset[str], system: str) -> Employment:
    key = row.get(EMPLOYEE)
    if not isinstance(key, str | int) or not str(key).strip() or len(str(key)) > _KEY_MAX:
        raise HrError(f"{system}: a row without a usable {EMPLOYEE} ({repr(key)[:40]}): the "
                      f"connector must give each employment's {EMPLOYEE}")
    start = as_date(row.get(START), START, system)
    if start is None:
        raise HrError(f"{system}: employee {str(key)[:_KEY_MAX]!r} has an employment without "
                      f"{START}")
    return Employment(str(key).strip(), start, as_date(row.get(END), END, system),
                      {f: _text(row.get(f)) for f in keep if f in row})
