"""The CSV files of a partner (its HR export, its device list, its merge list): opened as the
partner file names them, the header checked, the rows read one by one.

The separator is guessed from the header (Dutch spreadsheets write ';'); the line ends may be
any of LF, CRLF or a lone CR (Excel for Mac's "CSV (Macintosh)"); a file that is not a regular
file of a sane size, or not UTF-8, is a problem of the file, not a crash.
"""

from __future__ import annotations

import csv
import io
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import Problem, quoted
from ssc_infra.sources.located import CSV_MAX_BYTES, inside, read_text
from ssc_infra.sources.problems import did_you_mean
from ssc_infra.sources.regionfiles import PartnerDoc


def one_newline(text: str) -> str:
    """`text` with every line end a LF: CRLF and a lone CR (a classic Mac export, or one stray
    in a value) too, as an editor shows them. The csv module, reading a text as it is, takes
    only LF and CRLF for a line end and stops the whole file at a lone CR ("new-line character
    seen in unquoted field"); a value with a line break in it is still refused by its checks.
    """
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def open_quote_to_end(text: str, line: int, lines_read: int) -> bool:
    """Whether the row that starts on `line` of `text` and ends after `lines_read` lines is a
    quote that is never closed: a file cut off inside a quoted value, or one stray quote. The
    csv module does not say so; it reads the rest of the file as that one value. The row runs
    to the end of the file and an odd number of quotes follow its start (a quote inside a
    quoted value is doubled, so a closed file has an even number).
    """
    if lines_read <= line:  # one line: a quote opened on it closed on it
        return False
    total = text.count("\n") + (not text.endswith("\n"))
    return lines_read >= total and text.split("\n", line - 1)[-1].count('"') % 2 == 1


def cut_off_at(text: str, lines_read: int) -> bool:
    """Whether a row that ends after `lines_read` lines of `text` ends the text without a line
    end: with fewer fields than the header, a file cut off in the middle of it (a whole export
    ends with a line end; a last row without one is whole when it has every field)."""
    return not text.endswith("\n") and lines_read >= text.count("\n") + 1


def cut_off(fields: int, width: int) -> tuple[str, str]:
    """The message and hint of a file cut off inside its last row (`cut_off_at`)."""
    return (f"the file ends inside this row ({fields} fields where the header has {width}, "
            "and no line end): the export looks cut off",
            "export it again: what came after this row is not in it")


SHAPE_HINT = ("check for a separator or a line break inside a value that is not quoted, or "
              "a missing separator")
UNCLOSED_QUOTE = ("a quote opened on this line is never closed: the rest of the file would "
                  "read as one value", "check the quoting of this line; the export may be cut "
                  "off: export it again")


def read_csv_text(root: Path, rel: str) -> str | Problem:
    """The text of the inventory's CSV file `rel`: a regular file inside the folder `root` of
    at most CSV_MAX_BYTES, UTF-8 (a BOM dropped), every line end a LF; else the Problem.

    Raises:
        FileNotFoundError: when there is no such file.
    """
    text = read_text(root / rel, rel, CSV_MAX_BYTES, "export the file as CSV UTF-8",
                     *inside(root))
    return one_newline(text) if isinstance(text, str) else text


def open_csv(root: Path, p: PartnerDoc, key: str, columns: tuple[str, ...],
             problems: list[Problem], rel: str = "") -> tuple[str, Rows] | None:
    """Open the CSV file that partner file `p` names under `key` and check its header.

    Args:
        root: the inventory folder; the file's path is relative to it.
        p: the partner file that names the CSV file.
        key: the partner file's key that names it ("people", "devices", "merged_from").
        columns: the columns the file has, in no particular order.
        problems: where the problems of the file and its header are added.
        rel: the file's path, when it is not the value of `key` itself.

    Returns:
        The file's path and its rows; None when the file cannot be read or lacks a column.
    """
    rel = rel or getattr(p.spec, key)
    code = p.spec.code
    try:
        text = read_csv_text(root, rel)
    except FileNotFoundError:
        problems.append(Problem(p.doc.file, p.doc.line((key,)), f"{key} file {rel!r} not found",
                                "check the path; it is relative to the inventory folder", code))
        return None
    if isinstance(text, Problem):
        problems.append(Problem(text.file, text.line, text.message, text.hint, code))
        return None
    if not text.strip():
        problems.append(Problem(rel, 0, "the file is empty",
                                f"the first line is the header: {','.join(columns)}", code))
        return None
    first = text.split("\n", 1)[0]
    # Dutch spreadsheet exports use ';' as the separator.
    delimiter = ";" if first.count(";") > first.count(",") else ","
    try:
        header = tuple(h.strip() for h in next(csv.reader(io.StringIO(text),
                                                          delimiter=delimiter), []))
    except csv.Error as e:
        problems.append(Problem(rel, 1, f"unreadable header: {e}",
                                f"the first line is the header: {','.join(columns)}", code))
        return None
    missing = [c for c in columns if c not in header]
    unknown = [c for c in header if c not in columns]
    for column in missing:
        problems.append(Problem(rel, 1, f"missing column {column!r}",
                                f"the header must be: {','.join(columns)}", code))
    for column in unknown:
        problems.append(Problem(rel, 1, f"unknown column {quoted(column)}",
                                did_you_mean(column[:100], list(columns)) or
                                f"the header must be: {','.join(columns)}", code))
    return (rel, Rows(text, delimiter, header, columns)) if not missing else None


class Rows:
    """The data rows of a CSV file as (line, {column: stripped value}), or with `tuples()` as
    (line, stripped values in the order of `columns`), or all at once as columns (`table()`).

    A row whose field count differs from the header yields None as its values: its fields
    cannot be told apart, so checking them one by one would only add noise.
    """

    def __init__(self, text: str, delimiter: str, header: tuple[str, ...],
                 columns: tuple[str, ...]) -> None:
        self._text, self._delimiter = text, delimiter
        self.reader = self._after_header()
        self.width = len(header)
        self.columns = tuple(c for c in columns if c in header)
        self._indexes = tuple(header.index(c) for c in self.columns)
        self._pick = operator.itemgetter(*self._indexes)
        self.shape_problem = ("", "")
        self.bad_row_id = ""  # the first column of a misshapen row, usually still its id
        self._id_index = header.index("employee_id") if "employee_id" in header else -1
        self.count = 0  # data rows read
        self.error: tuple[int, str, str] | None = None  # (line, message, hint) that ended it

    def _after_header(self) -> Any:
        reader = csv.reader(io.StringIO(self._text), delimiter=self._delimiter)
        next(reader)  # the header: open_csv read it
        return reader

    def table(self) -> list[tuple[str, ...]] | None:
        """Every data row at once, as columns: the stripped values of each of `columns`, in
        that order; row i of the data is on line i + 2 of the file.

        Only for a plain file: each row on one line of its own with the header's width, blank
        lines only at the end, and at least one row; otherwise None. Either way `tuples()`
        reads the rows afresh, one by one (and words what is wrong with them).
        """
        try:
            rows = list(self.reader)
        except csv.Error:
            rows = []
        one_line_each = len(rows) == self.reader.line_num - 1  # the header is line 1
        self.reader = self._after_header()
        while rows and (not rows[-1] or (len(rows[-1]) == 1 and not rows[-1][0].strip())):
            rows.pop()
        if not rows or not one_line_each or set(map(len, rows)) != {self.width}:
            return None
        everything = list(zip(*rows, strict=True))
        return [tuple(map(str.strip, everything[i])) for i in self._indexes]

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | None]]:
        for line, values in self.tuples():
            yield line, None if values is None else self.as_dict(values)

    def as_dict(self, values: tuple[str, ...]) -> dict[str, str]:
        """The values of one row from `tuples()` by column."""
        return dict(zip(self.columns, values, strict=True))

    def tuples(self) -> Iterator[tuple[int, tuple[str, ...] | None]]:
        """The rows as tuples: no dict per row where a big export is read."""
        pick, width, columns = self._pick, self.width, len(self.columns)
        while True:
            line = self.reader.line_num + 1  # where the row starts; a quoted value may span lines
            try:
                row = next(self.reader)
            except StopIteration:
                return
            except csv.Error as e:
                # A quote left open at the end (a file cut off mid-row) or a field longer
                # than the csv module's limit: nothing after it can be trusted.
                self.error = (line, f"unreadable CSV: {e}",
                              "check quoting; the export may be cut off: export it again")
                return
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines, as spreadsheets leave at the end
            if open_quote_to_end(self._text, line, self.reader.line_num):
                self.error = (line, *UNCLOSED_QUOTE)
                return
            if len(row) < width and cut_off_at(self._text, self.reader.line_num):
                self.error = (line, *cut_off(len(row), width))
                return
            self.count += 1
            if len(row) != width:
                more = "more" if len(row) > width else "fewer"
                self.shape_problem = (
                    f"{len(row)} fields where the header has {width} ({more})",
                    SHAPE_HINT,
                )
                self.bad_row_id = row[self._id_index].strip() if self._id_index == 0 else ""
                yield line, None
                continue
            picked = pick(row)
            yield line, tuple(map(str.strip, picked if columns > 1 else (picked,)))


class RowProblems:
    """Collects the problems of one CSV row under its file:line; `count` says how many."""

    def __init__(self, problems: list[Problem], rel: str, line: int, partner: str) -> None:
        self.problems, self.rel, self.line, self.partner = problems, rel, line, partner
        self.count = 0

    def __call__(self, message: str, hint: str) -> None:
        self.count += 1
        self.problems.append(Problem(self.rel, self.line, message, hint, self.partner))
