"""HR exports in other shapes: a small mapping file turns a partner's export (AFAS, Visma/Raet
YouForce, ...) into the inventory's people CSV.

Each HR system exports people its own way: other column names ("Achternaam", "Datum in
dienst"), dates as `31-01-2027`, Windows-1252 text, semicolons, its own words for a workplace,
and often the infix inside the surname. A mapping file says how to read one (docs/inventory.md,
"HR exports in other shapes", shows two):

```yaml
description: AFAS Profit, export Medewerkers
encoding: cp1252                  # any Python codec; default utf-8 (a BOM is fine)
delimiter: ";"                    # , ; | or a tab ("\\t"); default: guessed from the header
columns:                          # inventory column: the export's column
  employee_id: Medewerker
  surname: Achternaam
  start_date: Datum in dienst
dates: ["%d-%m-%Y"]               # strptime formats, tried in order; default ISO (%Y-%m-%d)
values:                           # per column, export value -> inventory value
  workplace: {Laptop: laptop, Thin client: thin_client, Virtuele werkplek: vdi}
  end_date: {31-12-9999: ""}      # "no end date" in some systems
constants: {site: hrl-stadhuis}   # a column the export lacks, the same for everyone
split_infix: true                 # "van de Wal" without an infix -> "van de" + "Wal"
```

A column not named under `columns` or `constants` is taken from the export's column of the same
name when there is one; so an export already in the inventory's shape needs no mapping.

The mapping file is read like the rest of the inventory (size, depth and alias limits; unknown
keys named with a suggestion); the export like an HR export (a regular file of at most 50 MiB,
decoded strictly). `convert` is pure: it gives the inventory's rows, the export's line of each
row, and every bad row as a problem at the export's file:line. What the inventory's loader finds
in the rows afterwards (a name with a control character, an unknown site) is told at the
export's line too (`ssc_infra.lifecycle.onboard`).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from ssc_infra.core.errors import Problem, quoted
from ssc_infra.core.infix import split_infix
from ssc_infra.core.model import PRINTABLE_PATTERN, Workplace
from ssc_infra.sources.csvfile import (
    SHAPE_HINT,
    UNCLOSED_QUOTE,
    cut_off,
    cut_off_at,
    one_newline,
    open_quote_to_end,
)
from ssc_infra.sources.located import CSV_MAX_BYTES, Located, read_regular, read_yaml
from ssc_infra.sources.people import PEOPLE_COLUMNS
from ssc_infra.sources.problems import SCHEMA_HINT, did_you_mean, schema_problem

Column = Literal["employee_id", "given_name", "infix", "surname", "department", "job_title",
                 "site", "workplace", "start_date", "end_date"]
REQUIRED = ("employee_id", "given_name", "surname", "site", "workplace", "start_date")
DATE_COLUMNS = ("start_date", "end_date")
MAPPING_HINT = ("see docs/inventory.md, 'HR exports in other shapes', for the keys a mapping "
                "file takes")
DATE_MAX = 32  # a date longer than this is no date: not handed to strptime
_WORKPLACES = frozenset(w.value for w in Workplace)
_DELIMITERS = (";", ",", "\t", "|")
_DATE_DIRECTIVES = ("d", "m", "b", "B", "Y", "y")
# Printable text on one line, or nothing (a constant may be empty: no department).
_TEXT = PRINTABLE_PATTERN.replace("]+$", "]*$")

ExportText = Annotated[str, Field(min_length=1, max_length=128, pattern=PRINTABLE_PATTERN,
                                  description="printable text on one line, at most 128")]
ValueText = Annotated[str, Field(max_length=128, pattern=_TEXT,
                                 description="printable text on one line (or empty)")]


def _date_format(text: str) -> str:
    directives = set(re.findall(r"%(.)", text))
    odd = sorted(directives - set(_DATE_DIRECTIVES))
    if odd:
        raise ValueError(f"{text!r}: %{odd[0]} has no place in a date; use "
                         f"{', '.join('%' + d for d in _DATE_DIRECTIVES)}")
    if not ("d" in directives and directives & set("mbB") and directives & set("Yy")):
        raise ValueError(f"{text!r} needs a day (%d), a month (%m) and a year (%Y)")
    return text


DateFormat = Annotated[str, Field(min_length=2, max_length=32, pattern=PRINTABLE_PATTERN),
                       AfterValidator(_date_format)]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MappingFile(_File):
    """A mapping file: how to read one HR system's export as the inventory's people CSV."""

    description: ValueText = Field("", description="which system and export this is for")
    encoding: str = Field("utf-8", max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
                          description="a Python codec name: utf-8, cp1252, latin-1, utf-16")
    delimiter: Literal[";", ",", "\t", "|"] | None = Field(
        None, description="the separator; default: the commonest of ; , tab | in the header")
    columns: dict[Column, ExportText] = Field(
        default_factory=dict, description="inventory column -> the export's column name")
    constants: dict[Column, ValueText] = Field(
        default_factory=dict, description="inventory column -> one value for every row")
    dates: list[DateFormat] = Field(
        default_factory=lambda: ["%Y-%m-%d"], min_length=1, max_length=10,
        description="strptime formats of the export's dates, tried in order")
    values: dict[Column, dict[ExportText, ValueText]] = Field(
        default_factory=dict, description="per column: export value -> inventory value "
        "(matched without regard to case)")
    split_infix: bool = Field(True, description="split Dutch voorvoegsels off a surname "
                              "whose row has no infix ('van de Wal' -> 'van de' + 'Wal')")

    @field_validator("encoding")
    @classmethod
    def _known_codec(cls, value: str) -> str:
        try:
            info = codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown encoding {value!r}; e.g. utf-8, cp1252, latin-1, "
                             "utf-16") from None
        if not getattr(info, "_is_text_encoding", True):
            raise ValueError(f"{value!r} is not a text encoding")
        return value


@dataclass(frozen=True)
class HrMapping:
    """A checked mapping file and where its keys stand, for messages."""

    spec: MappingFile
    file: str = ""  # as the operator named it; "" for the default (the inventory's shape)
    lines: Mapping[tuple[str | int, ...], int] = field(default_factory=dict)

    def where(self, *path: str) -> str:
        """`mapping.yaml:7` for a key of the file, or "" for the default mapping."""
        if not self.file:
            return ""
        return f"{self.file}:{Located(self.file, None, dict(self.lines)).line(path)}"


DEFAULT = HrMapping(MappingFile())  # an export in the inventory's own shape


def load_mapping(path: Path, file: str) -> HrMapping | list[Problem]:
    """Read and check a mapping file; every problem with its file:line.

    Args:
        path: the file.
        file: how to name it in messages (as the operator gave it).
    """
    doc, problems = read_yaml(path, file)
    if doc is None or problems:
        return problems
    if not isinstance(doc.data, dict):
        return [Problem(file, 1, "expected a mapping of keys at the top", MAPPING_HINT)]
    try:
        spec = MappingFile.model_validate(doc.data)
    except ValidationError as e:
        return [_mapping_problem(doc, error) for error in e.errors()]
    found = [Problem(file, doc.line(("constants", column)),
                     f"column {column!r} is under both columns and constants",
                     "keep one: a column of the export, or one value for everyone")
             for column in spec.constants if column in spec.columns]
    return found or HrMapping(spec, file, doc.lines)


def _mapping_problem(doc: Located, error: Any) -> Problem:
    loc = tuple(error["loc"])
    if loc[-1:] == ("[key]",) and len(loc) == 3:  # a key of columns, constants or values
        key = str(loc[1])
        return Problem(doc.file, doc.line(loc[:2]), f"unknown column {key!r} under {loc[0]}",
                       did_you_mean(key, list(PEOPLE_COLUMNS)) or
                       f"the inventory's columns are: {', '.join(PEOPLE_COLUMNS)}")
    problem = schema_problem(MappingFile, doc, error, "")
    if problem.hint == SCHEMA_HINT:
        problem = Problem(problem.file, problem.line, problem.message, MAPPING_HINT)
    return problem


@dataclass(frozen=True)
class Converted:
    """An HR export in the inventory's terms: its rows and where each came from."""

    file: str  # the export, as the operator named it
    rows: tuple[dict[str, str], ...] = ()  # PEOPLE_COLUMNS -> value, in the export's order
    lines: tuple[int, ...] = ()  # the export's line of each row
    problems: tuple[Problem, ...] = ()
    split: int = 0  # surnames whose voorvoegsels were split off


def read_export(path: Path, file: str, mapping: HrMapping = DEFAULT,
                within: Sequence[str] | None = None) -> Converted:
    """Read an HR export (a regular file of at most 50 MiB) and convert it.

    Args:
        path: the export.
        file: how to name it in messages.
        mapping: how to read it; default: it is in the inventory's shape already.
        within: the folders it must be in (a file a partner file names: the target's drop
            folders), or None when the operator named it.
    """
    try:
        data = read_regular(path, file, CSV_MAX_BYTES, within)
    except FileNotFoundError:
        return Converted(file, problems=(Problem(file, 0, "file not found",
                                                 "check the path of the HR export"),))
    if isinstance(data, Problem):
        return Converted(file, problems=(data,))
    text = decode_export(data, file, mapping)
    if isinstance(text, Problem):
        return Converted(file, problems=(text,))
    return convert(text, mapping, file)


def decode_export(data: bytes, file: str, mapping: HrMapping) -> str | Problem:
    """The export's text in the mapping's encoding, or a Problem at the first bad byte."""
    encoding = mapping.spec.encoding
    codec = codecs.lookup(encoding).name
    try:
        return data.decode("utf-8-sig" if codec == "utf-8" else codec)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        where = mapping.where("encoding")
        said = f"the mapping ({where}) says {encoding}" if where else \
            "without a mapping file the export must be UTF-8"
        return Problem(file, line, f"not {encoding} text ({e.reason} at byte {e.start})",
                       f"{said}: export it again in that encoding, or set `encoding:` to the "
                       "one it has (AFAS and Excel on Windows often write cp1252)")


def convert(text: str, mapping: HrMapping, file: str) -> Converted:
    """The export's rows as the inventory's people rows (pure).

    Every row is checked for its shape, its dates (the mapping's formats) and its workplace
    (after the mapping's values); a bad row is a problem at the export's line and left out.
    The other fields are checked by the inventory's loader once the rows are written.
    """
    spec = mapping.spec
    text = one_newline(text.removeprefix("\ufeff"))
    if not text.strip():
        return Converted(file, problems=(Problem(file, 0, "the file is empty",
                                                 "export it again: the first line is the "
                                                 "header"),))
    first = text.split("\n", 1)[0]
    delimiter: str = spec.delimiter or max(_DELIMITERS, key=lambda d: first.count(d))
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader, [])]
    except csv.Error as e:
        return Converted(file, problems=(Problem(file, 1, f"unreadable header: {e}",
                                                 "check the quoting of the first line"),))
    sources, problems = _sources(header, mapping, file)
    if problems:
        return Converted(file, problems=tuple(problems))
    rows: list[dict[str, str]] = []
    lines: list[int] = []
    split = 0
    values: dict[str, dict[str, str]] = {
        column: {k.casefold(): v for k, v in mapped.items()}
        for column, mapped in spec.values.items()}
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            problems.append(Problem(file, line, f"unreadable CSV: {e}",
                                    "check quoting; the export may be cut off: export it again"))
            break
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines, as spreadsheets leave at the end
        if open_quote_to_end(text, line, reader.line_num):
            problems.append(Problem(file, line, *UNCLOSED_QUOTE))
            break
        if len(row) < len(header) and cut_off_at(text, reader.line_num):
            problems.append(Problem(file, line, *cut_off(len(row), len(header))))
            break
        if len(row) != len(header):
            problems.append(Problem(
                file, line, f"{len(row)} fields where the header has {len(header)}",
                SHAPE_HINT))
            continue
        person, bad = _person(row, sources, values, mapping, file, line)
        if bad:
            problems.extend(bad)
            continue
        if spec.split_infix and not person["infix"]:
            person["infix"], person["surname"] = split_infix(person["surname"])
            split += bool(person["infix"])
        rows.append(person)
        lines.append(line)
    if not rows and not problems:
        problems.append(Problem(file, 1, "the HR export has a header but no people",
                                "export it again: the partner's people are its rows"))
    return Converted(file, tuple(rows), tuple(lines), tuple(problems), split)


def _sources(header: list[str], mapping: HrMapping,
             file: str) -> tuple[dict[str, int | str], list[Problem]]:
    """Per inventory column: the export's column index, or a constant (str)."""
    spec = mapping.spec
    columns = {str(k): v for k, v in spec.columns.items()}
    constants = {str(k): v for k, v in spec.constants.items()}
    index: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        index.setdefault(name.casefold(), []).append(i)
    sources: dict[str, int | str] = {}
    problems: list[Problem] = []
    shown = ", ".join(repr(h[:40]) for h in header[:30]) + (" ..." if len(header) > 30 else "")
    for column in PEOPLE_COLUMNS:
        if column in constants:
            sources[column] = constants[column]
            continue
        name = columns.get(column, column)
        found = index.get(name.casefold(), [])
        if len(found) == 1:
            sources[column] = found[0]
        elif found:
            problems.append(Problem(file, 1, f"the header has column {name!r} {len(found)} "
                                    "times", "rename one in the export, or map another"))
        elif column in columns:
            problems.append(Problem(
                file, 1, f"no column {name!r} in the header (the mapping takes {column} from "
                f"it at {mapping.where('columns', column)})",
                did_you_mean(name, header) or f"the header has: {shown}"))
        elif column in REQUIRED:
            problems.append(Problem(
                file, 1, f"no column for {column}",
                f"name the export's column for it under `columns:` in a mapping file "
                f"(--columns), or give one value for all under `constants:`; the header has: "
                f"{shown}"))
        else:
            sources[column] = ""  # optional: empty for everyone
    return sources, problems


def _person(row: list[str], sources: Mapping[str, int | str],
            values: Mapping[str, Mapping[str, str]], mapping: HrMapping, file: str,
            line: int) -> tuple[dict[str, str], list[Problem]]:
    """One export row as an inventory row, or the problems that leave it out."""
    person: dict[str, str] = {}
    problems: list[Problem] = []
    for column, source in sources.items():
        raw = (row[source] if isinstance(source, int) else source).strip()
        mapped = values.get(column, {}).get(raw.casefold(), raw)
        person[column] = mapped
    for column in DATE_COLUMNS:
        value = person[column]
        if not value:
            continue
        parsed = parse_date(value, mapping.spec.dates)
        if parsed is None:
            formats = " or ".join(mapping.spec.dates)
            where = mapping.where("dates")
            problems.append(Problem(
                file, line, f"invalid {column} {quoted(value)}: no date in the format {formats}",
                "check the date in the HR export; "
                + (f"if the export writes dates in another format, set `dates:` in the mapping "
                   f"({where})" if where else "an export that writes dates otherwise needs a "
                   "mapping file (--columns) whose `dates:` gives the format")))
        else:
            person[column] = parsed
    workplace = person["workplace"]
    if workplace and workplace not in _WORKPLACES:
        known = sorted(dict(mapping.spec.values).get("workplace", {}))
        where = mapping.where("values", "workplace") if known else ""
        problems.append(Problem(
            file, line, f"unknown workplace {quoted(workplace)}",
            (f"add it to `values: workplace:` in the mapping ({where}), which knows "
             f"{', '.join(repr(k) for k in known)}" if where else
             "a workplace is vdi, laptop or thin_client; map the export's words to them "
             "under `values: workplace:` in a mapping file (--columns)")))
    return person, problems


def parse_date(text: str, formats: list[str]) -> str | None:
    """`text` as YYYY-MM-DD, read with the first of `formats` that fits; None if none does."""
    if len(text) > DATE_MAX:
        return None
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    return None


def people_csv(rows: tuple[dict[str, str], ...]) -> tuple[str, tuple[int, ...]]:
    """The inventory's people CSV of these rows, and the line each row starts on.

    A value with a line break (the loader refuses it, at that row's line) spans lines, so the
    lines are counted as written rather than assumed.
    """
    parts: list[str] = []
    writer = csv.writer(_Parts(parts), lineterminator="\n")
    writer.writerow(PEOPLE_COLUMNS)
    starts: list[int] = []
    line = 2
    for row in rows:
        writer.writerow([row[c] for c in PEOPLE_COLUMNS])
        starts.append(line)
        line += parts[-1].count("\n")
    return "".join(parts), tuple(starts)


class _Parts:
    """A file for csv.writer that keeps each row apart (it writes a row in one call)."""

    def __init__(self, parts: list[str]) -> None:
        self.parts = parts

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)
