"""A partner's next HR export, in whatever shape its HR system writes (`ssc-infra partner
people`): converted with the partner's mapping file as at onboarding, checked with the whole
region, and written over its people CSV only when the region loads with it.

What the new export changes for people — joiners, leavers, a person gone from the export — is
the next plan's to show; a truncated export is held there by the guard before anything
happens. Here it is only counted, so the engineer sees at once what came in.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ssc_infra.core.errors import Problem
from ssc_infra.core.model import Partner
from ssc_infra.lifecycle.onboard import NewPartner, Origin
from ssc_infra.lifecycle.staging import check, replace, staged
from ssc_infra.sources.csvfile import read_csv_text
from ssc_infra.sources.hrexport import Converted, people_csv
from ssc_infra.sources.people import PEOPLE_COLUMNS


@dataclass(frozen=True)
class NewExport:
    """The partner's people CSV made from its new export, and what differs from the one there."""

    partner: str
    rel: str  # the people CSV, inside the inventory
    text: str
    rows: int
    split: int  # surnames whose voorvoegsels were split off
    joined: tuple[str, ...]  # employee ids new in the export
    gone: tuple[str, ...]  # employee ids no longer in it
    changed: tuple[str, ...]  # employee ids whose row differs


def new_export(inventory: Path, partner: Partner, rel: str, converted: Converted,
               today: date) -> NewExport | list[Problem]:
    """The partner's new people CSV, checked with the whole region in a staged copy; or every
    problem, told at the export's line where it comes from a row.

    Args:
        inventory: the inventory folder.
        partner: the partner as the inventory has it now (active, not offboarded or merged).
        rel: its people CSV (inside the inventory).
        converted: the new export, converted (`hrexport.read_export`).
        today: the day of the check.
    """
    if not partner.active:
        return [Problem(rel, 0, f"{partner.code} is offboarded or merged into another: it has "
                        "no HR export any more", "")]
    if converted.problems:
        return list(converted.problems)
    text, starts = people_csv(converted.rows)
    origin = Origin(converted.file, {start: (converted.file, line)
                                     for start, line in zip(starts, converted.lines,
                                                            strict=True)})
    told = NewPartner(partner.code, {rel: text}, {rel: origin}, len(converted.rows),
                      converted.split)
    with staged(inventory, {}, {rel: text}) as folder:
        checked = check(folder, today, partner.code)
    if not checked.ok:
        return told.retold(checked.problems)
    before = current_rows(inventory, rel)
    after = {row["employee_id"]: row for row in converted.rows}
    return NewExport(
        partner.code, rel, text, len(converted.rows), converted.split,
        tuple(sorted(set(after) - set(before))), tuple(sorted(set(before) - set(after))),
        tuple(sorted(e for e in set(after) & set(before)
                     if [after[e][c] for c in PEOPLE_COLUMNS] != before[e])))


def current_rows(inventory: Path, rel: str) -> dict[str, list[str]]:
    """employee id -> the row, of the people CSV `rel` of the inventory now (the loader has
    read it); none when it cannot be read."""
    try:
        text = read_csv_text(inventory, rel)
    except FileNotFoundError:
        return {}
    if not isinstance(text, str):
        return {}
    first = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if first.count(";") >
                            first.count(",") else ",")
    return {str(row.get("employee_id", "")).strip():
            [str(row.get(c) or "").strip() for c in PEOPLE_COLUMNS] for row in reader}


def write_export(inventory: Path, export: NewExport) -> None:
    """Write the new people CSV whole over the old one."""
    replace(inventory, {export.rel: export.text})
