"""Access reviews, the pure rules: what a review shows of each account, what changed since the
last one, and every way a returned sheet can be wrong (each at its line)."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date

import pytest

from ssc_infra.core.actual import UAC_ACCOUNTDISABLE, DirectoryAccount, DirectoryState
from ssc_infra.core.desired import DesiredPartner, derive
from ssc_infra.core.review import (
    SHEET_COLUMNS,
    Decision,
    ReviewRow,
    check_sheet,
    inactive,
    review_rows,
)
from ssc_infra.report.review import review_sheet
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY
from tests.support import directory_as_desired


@pytest.fixture(scope="module")
def alpha() -> tuple[DesiredPartner, DirectoryState]:
    desired = derive(load(MINI, TODAY), TODAY)
    return desired.partner("alpha"), directory_as_desired(desired)


def test_a_review_shows_every_account_with_its_groups_licences_and_workplace(
        alpha: tuple[DesiredPartner, DirectoryState]) -> None:
    partner, actual = alpha
    rows = review_rows(partner, actual, None)
    assert [r.account for r in rows] == sorted(a.name.sam for a in partner.accounts)
    wbuma = next(r for r in rows if r.account == "wbuma")
    assert wbuma.status == "enabled" and wbuma.last_logon == "never"
    assert "alpha-all" in wbuma.groups and wbuma.licences == ("M365_E3",)
    assert wbuma.workplace.startswith("laptop at alp-hq, devices ALP-L-0001")
    assert {r.changes for r in rows} == {"first review"}
    leaver = next(r for r in rows if r.status.startswith("parked"))
    assert leaver.groups == ()


def test_the_next_review_says_what_changed_since_the_last(
        alpha: tuple[DesiredPartner, DirectoryState]) -> None:
    partner, actual = alpha
    first = {r.account.lower(): r for r in review_rows(partner, actual, None)}
    edited = dataclasses.replace(actual, accounts=(
        *(dataclasses.replace(a, department="Projecten", uac=a.uac | UAC_ACCOUNTDISABLE)
          if a.sam == "wbuma" else a for a in actual.accounts),
        DirectoryAccount(f"CN=Nieuw,{partner.users_ou}", "nieuw", "alpha", "1077")))
    again = {r.account: r for r in review_rows(partner, edited, first)}
    assert "department was Burgerzaken" in again["wbuma"].changes
    assert "status was enabled" in again["wbuma"].changes
    assert again["nieuw"].changes == "new since the last review"
    assert again["jvries"].changes == "unchanged"


def _sheet(rows: list[ReviewRow], review: str = "alpha-20261123-abcdef",
           partner: str = "alpha") -> list[dict[str, str]]:
    text = review_sheet(review, partner, rows)
    return list(csv.DictReader(io.StringIO(text)))


def _lines(sheet: list[dict[str, str]]) -> list[tuple[int, dict[str, str]]]:
    return [(n + 2, row) for n, row in enumerate(sheet)]


def test_a_filled_in_sheet_gives_every_decision(
        alpha: tuple[DesiredPartner, DirectoryState]) -> None:
    rows = review_rows(*alpha, None)
    sheet = _sheet(rows)
    assert list(sheet[0]) == list(SHEET_COLUMNS)
    for n, row in enumerate(sheet):
        row["decision"] = "Intrekken" if n == 0 else " keep "
        row["comment"] = "  left the team\\n in May " if n == 0 else ""
    decided, problems = check_sheet("alpha-20261123-abcdef", "alpha", rows, _lines(sheet))
    assert problems == []
    assert decided[0].decision is Decision.REVOKE and decided[0].comment == \
        "left the team\\n in May"
    assert {d.decision for d in decided[1:]} == {Decision.KEEP}


@pytest.mark.parametrize(("edit", "message"), [
    (lambda s: s[0].update(review="alpha-20261101-000000"), "not 'alpha-20261123-abcdef'"),
    (lambda s: s[0].update(partner="beta"), "not 'alpha'"),
    (lambda s: s[0].update(account="mallory"), "'mallory' is not in this review"),
    (lambda s: s[0].update(groups="alpha-all; Domain Admins"), "was changed (groups)"),
    (lambda s: s[0].update(row="r-000000000000"), "was changed (row)"),
    (lambda s: s.append(dict(s[0])), "again (first on line 2)"),
    (lambda s: s.pop(), "row(s) missing"),
    (lambda s: s[0].update(decision="maybe"), "keep or revoke (found 'maybe')"),
    (lambda s: s[0].update(decision=""), "keep or revoke"),
    (lambda s: s[0].update(comment="x" * 600), "600 characters; at most 500"),
])
def test_a_wrong_sheet_is_refused_with_the_line_and_what_to_do(
        alpha: tuple[DesiredPartner, DirectoryState], edit: object, message: str) -> None:
    rows = review_rows(*alpha, None)
    sheet = _sheet(rows)
    for row in sheet:
        row["decision"] = "keep"
    edit(sheet)  # type: ignore[operator]
    _, problems = check_sheet("alpha-20261123-abcdef", "alpha", rows, _lines(sheet))
    assert any(message in p.message for p in problems), problems


def test_a_name_that_starts_like_a_formula_goes_out_as_text_and_comes_back(
        alpha: tuple[DesiredPartner, DirectoryState]) -> None:
    partner, actual = alpha
    hostile = dataclasses.replace(actual, accounts=tuple(
        dataclasses.replace(a, display_name="=HYPERLINK(\"http://x\";\"klik\")")
        if a.sam == "wbuma" else a for a in actual.accounts))
    rows = review_rows(partner, hostile, None)
    sheet = _sheet(rows)
    assert any(r["name"].startswith("'=HYPERLINK") for r in sheet)
    for row in sheet:
        row["decision"] = "keep"
    decided, problems = check_sheet("alpha-20261123-abcdef", "alpha", rows, _lines(sheet))
    assert problems == [] and len(decided) == len(rows)
    for row in sheet:  # a spreadsheet that drops the quote again
        row["name"] = row["name"].removeprefix("'")
    assert check_sheet("alpha-20261123-abcdef", "alpha", rows, _lines(sheet))[1] == []


def test_an_account_unused_for_long_counts_from_its_last_logon_or_its_start() -> None:
    today = date(2026, 11, 23)
    found = inactive([("recent", "2026-11-01", date(2020, 1, 1)),
                      ("old", "2026-01-01", date(2020, 1, 1)),
                      ("never-new", "", date(2026, 11, 1)),
                      ("never-old", "", date(2025, 1, 1))], 90, today)
    assert found == ["old", "never-old"]
