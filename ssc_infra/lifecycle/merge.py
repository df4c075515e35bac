"""Merge partners (municipalities that become one work organisation): the inventory files of
the merge, made from the region as it is (pure).

The people of the merged partners keep their accounts and logon names: the partner merged
into lists them in one HR export under its own code, with the employee ids of the new
organisation, and `merges/<into>.csv` says who each of them was (`Person.previous`), so their
accounts move to its OU and UPN suffix (the old address kept as an alias), their homes move
along, and their workplaces follow. The merged partners stay as records (`merged: {into,
date}`, no sites, no people): their OUs, retired groups and leavers remain known. Employee ids
that collide between the partners are refused unless a mapping file gives new ones.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from ssc_infra.core.errors import Problem
from ssc_infra.core.model import EMPLOYEE_ID_PATTERN, Identity, Partner, PersonKey, Region
from ssc_infra.lifecycle.staging import Replaced, check, place, replace, staged
from ssc_infra.sources.csvfile import one_newline
from ssc_infra.sources.devices import DEVICE_COLUMNS
from ssc_infra.sources.people import MERGE_COLUMNS, PEOPLE_COLUMNS

IdMap = Mapping[PersonKey, str]  # (partner, old employee id) -> new employee id


@dataclass(frozen=True)
class MergeRequest:
    sources: tuple[str, ...]  # the partners that merge (two or more)
    into: str  # the partner they become: a new code, or one of the sources
    name: str = ""  # the new partner's name (default: the `into` source's, when it is one)
    upn_suffix: str = ""  # its UPN and mail domain (default: as `name`)
    kind: str = "municipality"
    ids: IdMap | None = None  # from --ids: new employee ids


@dataclass(frozen=True)
class MergeFiles:
    """What the merge writes into the inventory (inventory-relative path -> text)."""

    new: dict[str, str]  # files that are not there yet
    replaced: dict[str, str]  # files that are there, rewritten
    moved: int  # people who change partner
    renumbered: int  # of them, with a new employee id


def read_ids(path: Path, text: str) -> IdMap | list[Problem]:
    """A mapping file (`--ids`): CSV partner,employee_id,new_employee_id."""
    rel = str(path)
    reader = csv.reader(io.StringIO(one_newline(text.lstrip("\ufeff"))))
    header = [h.strip() for h in next(reader, [])]
    if header != list(MERGE_COLUMNS):
        return [Problem(rel, 1, f"the header is {','.join(header)!r}",
                        f"write {','.join(MERGE_COLUMNS)}")]
    found: dict[PersonKey, str] = {}
    problems: list[Problem] = []
    for line, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            problems.append(Problem(rel, line, f"{len(row)} fields, not 3",
                                    f"write {','.join(MERGE_COLUMNS)}"))
            continue
        partner, old, new = (cell.strip() for cell in row)
        bad = [v for v in (old, new) if not re.fullmatch(EMPLOYEE_ID_PATTERN, v)]
        if bad or not partner:
            problems.append(Problem(rel, line, f"not an employee id: {bad[0]!r}" if bad else
                                    "no partner", "letters, digits, '.', '_', '-'; at most 16"))
            continue
        if (partner, old) in found:
            problems.append(Problem(rel, line, f"{partner}/{old} is listed twice",
                                    "give each person one new id"))
        found[(partner, old)] = new
    return problems or found


def merge_files(region: Region, request: MergeRequest, today: date,
                paths: Mapping[str, str]) -> MergeFiles | list[Problem]:
    """The files of the merge, or every reason it cannot be done (pure).

    Args:
        region: the inventory as it is.
        request: who merges into whom, and how.
        today: the day of the merge.
        paths: partner code -> its partner file (inventory-relative), for the records.
    """
    problems: list[Problem] = []
    where = "partner merge"
    codes = {p.code for p in region.partners}
    sources: list[Partner] = []
    if len(set(request.sources)) < 2:
        problems.append(Problem(where, 0, "a merge takes two or more partners",
                                "name each partner that merges once"))
    for code in dict.fromkeys(request.sources):
        if code not in codes:
            problems.append(Problem(where, 0, f"no partner {code!r}",
                                    f"known: {', '.join(sorted(codes))}"))
            continue
        partner = region.partner(code)
        if not partner.active:
            problems.append(Problem(paths.get(code, where), 0, f"{code} is offboarded or merged "
                                    "already", "only partners in service merge"))
        elif partner.identity is not Identity.HYBRID:
            problems.append(Problem(paths.get(code, where), 0, f"{code} is a cloud partner",
                                    "merging cloud partners moves users between Microsoft 365 "
                                    "tenants: a migration project of its own, not a merge"))
        sources.append(partner)
    if request.into in codes and request.into not in request.sources:
        problems.append(Problem(where, 0, f"{request.into!r} is a partner already and not one "
                                "that merges", "merge into a new code, or into one of them"))
    if problems:
        return problems
    base = next((p for p in sources if p.code == request.into), None)
    name = request.name or (base.name if base else "")
    suffix = request.upn_suffix or (base.upn_suffix if base else "")
    if not name or not suffix:
        return [Problem(where, 0, "the merged partner needs a name and a UPN suffix",
                        "pass --name and --upn-suffix")]
    ids = dict(request.ids or {})
    unknown = [f"{p}/{e}" for p, e in ids if p not in request.sources]
    if unknown:
        return [Problem("--ids", 0, f"names {unknown[0]}, not of a partner that merges",
                        f"the partners: {', '.join(request.sources)}")]
    new_of: dict[PersonKey, str] = {}
    first: dict[str, PersonKey] = {}
    for partner in sources:
        for person in partner.people:
            new = ids.get(person.key, person.employee_id)
            new_of[person.key] = new
            other = first.setdefault(new, person.key)
            if other != person.key:
                problems.append(Problem(
                    "--ids" if request.ids else where, 0,
                    f"employee id {new!r} is {other[0]}/{other[1]} and {person.partner}/"
                    f"{person.employee_id}", "give one of them a new id in a mapping file "
                    f"(--ids FILE: {','.join(MERGE_COLUMNS)})"))
    if problems:
        return problems
    into = request.into
    people = [(person, new_of[person.key]) for p in sources for person in p.people]
    devices = [(d, new_of.get((p.code, d.employee_id), d.employee_id))
               for p in sources for d in p.devices]
    moved = [(person, new) for person, new in people if person.key != (into, new)]
    files_new: dict[str, str] = {}
    files_replaced: dict[str, str] = {}

    def put(rel: str, text: str) -> None:
        (files_replaced if base is not None and rel in _own_files(base, paths)
         else files_new)[rel] = text

    people_rel, devices_rel, ids_rel = (f"people/{into}.csv", f"devices/{into}.csv",
                                        f"merges/{into}.csv")
    put(people_rel, _csv(PEOPLE_COLUMNS, ([
        new, p.given_name, p.infix, p.surname, p.department, p.job_title, p.site,
        p.workplace.value, p.start_date.isoformat(), p.end_date.isoformat() if p.end_date
        else ""] for p, new in people)))
    put(devices_rel, _csv(DEVICE_COLUMNS, ([
        d.asset_tag, d.kind.value, new, d.site or "", d.mac or "", d.wg_public_key or ""]
        for d, new in devices)))
    put(ids_rel, _csv(MERGE_COLUMNS, ([p.partner, p.employee_id, new]
                                      for p, new in moved)))
    merged = [p for p in sources if p.code != into]
    quota = [p.quota_users for p in sources]
    put(paths.get(into, f"partners/{into}.yaml"), _yaml(
        f"{name}: {', '.join(p.code for p in merged)} merged into it on {today.isoformat()} "
        "(`ssc-infra partner merge`).", {
            "code": into, "name": name, "kind": request.kind, "upn_suffix": suffix,
            "identity": Identity.HYBRID.value,
            "services": list(dict.fromkeys(s for p in sources for s in p.services)),
            "quota": {"users": sum(q for q in quota if q is not None)
                      if all(q is not None for q in quota) else None},
            "sites": [_site(s) for p in sources for s in p.sites],
            "people": people_rel, "devices": devices_rel,
            "merged_from": {"partners": [p.code for p in merged], "ids": ids_rel}}))
    for partner in merged:
        files_replaced[paths[partner.code]] = _yaml(
            f"{partner.name} merged into {into} on {today.isoformat()} (`ssc-infra partner "
            f"merge`): its people, sites and devices are {into}'s now. This record keeps its "
            "OUs, retired groups and leavers known to the tool.", {
                "code": partner.code, "name": partner.name, "kind": partner.kind.value,
                "upn_suffix": partner.upn_suffix, "identity": partner.identity.value,
                "sites": [], "people": f"people/{partner.code}.csv",
                "merged": {"into": into, "date": today.isoformat()}})
    return MergeFiles(files_new, files_replaced, len(moved),
                      sum(1 for p, new in moved if p.employee_id != new))


def _own_files(partner: Partner, paths: Mapping[str, str]) -> set[str]:
    return {paths.get(partner.code, ""), f"people/{partner.code}.csv",
            f"devices/{partner.code}.csv", f"merges/{partner.code}.csv"}


def _site(site: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"code": site.code, "name": site.name, "vlan": site.vlan,
                             "subnet": str(site.subnet)}
    if site.flex_desks:
        entry["flex_desks"] = site.flex_desks
    if site.shared:
        entry["shared"] = True
    return entry


def _yaml(comment: str, data: Mapping[str, Any]) -> str:
    lines = [f"# {line}" for line in _wrap(comment)]
    body = yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, width=100,
                          default_flow_style=None)
    return "\n".join(lines) + "\n" + body


def _wrap(text: str, width: int = 96) -> list[str]:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return [*out, line] if line else out


def _csv(header: Sequence[str], rows: Any) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@dataclass
class Written:
    """The merge's files as written into the inventory, and how to take them back."""

    inventory: Path
    new: list[str]
    replaced: Replaced

    def undo(self) -> None:
        """Put every file back as it was (and remove the new ones)."""
        self.replaced.undo()
        for rel in self.new:
            (self.inventory / rel).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # merges/, when the merge made it (and empty)
                (self.inventory / rel).parent.rmdir()


def write_merge(inventory: Path, files: MergeFiles) -> Written:
    """Write the merge's files, each whole: new ones never over a file that is there, the
    records over the merged partners' files. On a failure what was written is taken back.

    Raises:
        PlaceError: a new file exists already, or a file cannot be written.
    """
    new = place(inventory, files.new)
    try:
        return Written(inventory, new, replace(inventory, files.replaced))
    except BaseException:
        for rel in new:
            (inventory / rel).unlink(missing_ok=True)
        raise


def check_staged(inventory: Path, files: MergeFiles, today: date,
                 partners: Sequence[str]) -> list[Problem]:
    """Load the inventory as the merge would leave it, in a copy: every problem that would
    stop a run or hold one of the merging partners (nothing is written to the real one)."""
    with staged(inventory, files.new, files.replaced) as folder:
        return list(check(folder, today, *partners).problems)
