"""An HR system's answer in the inventory's terms (pure): its person records, with the fields
the connector named, converted through the partner's mapping file exactly as an export file
would be (`ssc_infra.sources.hrexport`), so a pulled partner's people CSV is what
`partner people` would have written from the same data.

Each system has a default mapping (its connector's field names -> the inventory's columns);
a partner's mapping file (`hr.mapping`) is laid over it: its `columns` replace the default's
one by one, and its `values`, `constants`, `dates` and `split_infix` are its own.

Only the fields a mapping reads are kept. A field whose name says it is private (a birth
date, a home address, a private mail address, a citizen service number) is never kept and is
named, so that the partner takes it out of what its HR system gives the SSC.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence

from ssc_infra.core.errors import Problem
from ssc_infra.hr.employments import text_of
from ssc_infra.sources.hrexport import Converted, HrMapping, MappingFile, convert
from ssc_infra.sources.people import PEOPLE_COLUMNS

_PRIVATE = re.compile(
    r"geboorte|birth_?date|date_?of_?birth|birth_?place|place_?of_?birth|^adres|woonadres|"
    r"huisadres|home_?address|straat|huisnummer|postcode|zip_?code|woonplaats|priv[eé]|"
    r"private|bsn|burgerservice|sofi|iban|bankrekening|nationalit", re.IGNORECASE)


def laid_over(default: Mapping[str, str], given: HrMapping | None,
              description: str) -> HrMapping:
    """The partner's mapping laid over the system's default columns."""
    if given is None:
        return HrMapping(MappingFile(description=description, columns=dict(default)))
    spec = given.spec
    columns = {c: f for c, f in default.items() if c not in spec.constants}
    columns.update({str(c): f for c, f in spec.columns.items()})
    return HrMapping(spec.model_copy(update={"columns": columns}), given.file, given.lines)


def private_fields(fields: Iterable[str]) -> list[str]:
    """The names among the answer's fields that look private, sorted."""
    return sorted({f for f in fields if _PRIVATE.search(f)})


def converted(records: Sequence[Mapping[str, str]], mapping: HrMapping,
              file: str) -> Converted:
    """The records as the inventory's people rows, through `mapping`; a bad record is a
    problem at `file:N`, N counting the records from 2 (as an export's lines would)."""
    spec = mapping.spec
    read = [spec.columns.get(c, c) for c in PEOPLE_COLUMNS  # type: ignore[call-overload]
            if c not in spec.constants]
    fields = list(dict.fromkeys(read))
    if not records:
        return Converted(file, problems=(Problem(file, 0, "the HR system answered with no "
                                                 "people", "check the connector's filter and "
                                                 "the API user's rights"),))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for record in records:
        writer.writerow([text_of(record.get(f, "")) for f in fields])
    plain = spec.model_copy(update={"encoding": "utf-8", "delimiter": ","})
    return convert(buffer.getvalue(), HrMapping(plain, mapping.file, mapping.lines), file)
