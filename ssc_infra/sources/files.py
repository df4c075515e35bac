"""The files source: the inventory folder (region.yaml, partners/*.yaml, people/*.csv,
devices/*.csv) loaded and checked, and `FilesSource`, the folder as an `InventorySource`.

Every problem is collected, not only the first, each with file, line and a hint; the Region is
built only when there are none. Single-file shape checks come from `schema`; this module adds
what spans files: references, duplicates, overlaps and quotas.

`load_holding` is the lenient form for plan, apply and drift: a problem in one partner's HR
export or device list holds that partner back (it is left out of the Region, so nothing of it is
read or changed) while the other partners go on. A problem in the files the SSC itself edits
(region.yaml, partners/*.yaml) still stops the run: it may touch every partner.
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import re
from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import (
    ASSET_TAG_PATTERN,
    DEPARTMENT_MAX,
    EMPLOYEE_ID_PATTERN,
    FULL_NAME_MAX,
    GIVEN_NAME_MAX,
    INFIX_MAX,
    JOB_TITLE_MAX,
    SURNAME_MAX,
    Device,
    DeviceKind,
    Directory,
    Guards,
    Host,
    Merged,
    MergedFrom,
    NamingPolicy,
    Offboarded,
    Partner,
    Person,
    PersonKey,
    Region,
    Service,
    Site,
    Workplace,
)
from ssc_infra.core.slugs import slug
from ssc_infra.sources import Loaded, RunInventory
from ssc_infra.sources.applied import (
    combined,
    ever_applied,
    kept_since,
    remember,
    shrunk_exports,
    usable_copies,
)
from ssc_infra.sources.located import CSV_MAX_BYTES, Located, decode, read_regular, read_yaml
from ssc_infra.sources.schema import (
    OffboardedEntry,
    PartnerFile,
    RegionFile,
    is_mac,
    is_wireguard_key,
    person_name_problem,
    unprintable,
)

PEOPLE_COLUMNS = (
    "employee_id", "given_name", "infix", "surname", "department",
    "job_title", "site", "workplace", "start_date", "end_date",
)
DEVICE_COLUMNS = ("asset_tag", "kind", "employee_id", "site", "mac", "wg_public_key")
MERGE_COLUMNS = ("partner", "employee_id", "new_employee_id")
_REQUIRED_PEOPLE = ("employee_id", "given_name", "surname", "site", "workplace", "start_date")
_WORKPLACES = {w.value: w for w in Workplace}
_DEVICE_KINDS = {k.value: k for k in DeviceKind}
_M = TypeVar("_M", bound=BaseModel)
SCHEMA_HINT = "see `ssc-infra schema` for the keys this file takes"
_EMPLOYEE_ID = re.compile(EMPLOYEE_ID_PATTERN)
_ASSET_TAG = re.compile(ASSET_TAG_PATTERN)
_EMPLOYEE_ID_HINT = ("letters, digits, '.', '_' and '-', starting with a letter or digit, at most "
                     "16 characters (AD's employeeID): check the HR export")
_NAME_HINT = ("letters (with diacritics), space, apostrophe, hyphen and dot, at most {max} "
              "characters: check the HR export")
# Free text that lands in an LDAP attribute of this many characters at most.
_TEXT_COLUMNS = (("department", DEPARTMENT_MAX), ("job_title", JOB_TITLE_MAX))
_NAME_COLUMNS = (("given_name", GIVEN_NAME_MAX), ("infix", INFIX_MAX), ("surname", SURNAME_MAX))


def load(directory: Path, today: date | None = None) -> Region:
    """Load and validate an inventory folder.

    Args:
        directory: the folder holding region.yaml and partners/.
        today: the date that decides who has left (for quotas); defaults to today.

    Raises:
        InventoryError: with every problem found, each located by file and line.
    """
    region, _ = _Loader(directory, today or date.today()).load(hold=False)
    return region


def load_holding(directory: Path, today: date | None = None) -> Loaded:
    """Load the inventory, holding back the partners whose HR export or device list is bad.

    Raises:
        InventoryError: for problems in region.yaml or partners/*.yaml, or when every partner
            would be held.
    """
    loader = _Loader(directory, today or date.today())
    region, held = loader.load(hold=True)
    return Loaded(region, held, loader.data_files, tuple(loader.problems))


@dataclass(frozen=True)
class FilesSource:
    """The inventory folder as an `InventorySource`; the kept copies are files too
    (`applied.py`)."""

    folder: Path

    def describe(self) -> str:
        return str(self.folder)

    def load(self, today: date) -> Loaded:
        return load_holding(self.folder, today)

    def load_for_run(self, today: date, partners: Collection[str], state: Path,
                     allow_disable: Mapping[str, int]) -> RunInventory:
        """See `InventorySource.load_for_run`: an HR export that lost more rows than the
        guard allows against its copy holds its partner with one problem that says so, before
        its rows are looked at."""
        loaded = load_holding(self.folder, today)
        data_files = loaded.data_files
        region0 = loaded.region
        shrunk = shrunk_exports(self.folder, data_files, region0.guards, allow_disable, state)
        held: dict[str, tuple[Problem, ...]] = dict(loaded.held)
        for code, lost in shrunk.items():  # one line, not a flood of row problems
            held[code] = (Problem(lost.file, 0, lost.message(), partner=code),)
        shown = {code: found for code, found in held.items() if not partners or code in partners}
        if partners and all(code in held for code in partners):
            raise InventoryError([p for found in shown.values() for p in found])
        going_on = tuple(code for code in partners if code not in held)
        region, hosts_held, kept = region0, False, None
        if held:
            going_on = going_on or tuple(p.code for p in region0.partners if p.code not in held)
            found = self._with_applied(data_files, held, state, today) \
                if region0.hosts or shrunk else None
            if found is None and shrunk:
                # No usable copy: leave the shrunk partner out altogether, as a bad export is.
                region = dataclasses.replace(region0, partners=tuple(
                    p for p in region0.partners if p.code not in shrunk))
                hosts_held = bool(region0.hosts)
            else:
                region = found or region0
                hosts_held = bool(region0.hosts) and found is None
                kept = kept_since(data_files, held, state)
        return RunInventory(region, going_on, held, shown, hosts_held, kept, data_files,
                            usable_copies(data_files, state), ever_applied(state))

    def with_applied(self, run: RunInventory, partners: Collection[str], state: Path,
                     today: date, leave_out: Collection[str] = ()) -> Region | None:
        return self._with_applied(run.data_files, partners, state, today, leave_out)

    def _with_applied(self, data_files: Mapping[str, Collection[str]],
                      partners: Collection[str], state: Path, today: date,
                      leave_out: Collection[str] = ()) -> Region | None:
        """None also when the copies no longer load with the folder (say, the partner's file
        names a site that was removed since): then the hosts wait for the fix."""
        with combined(self.folder, data_files, partners, state, leave_out) as folder:
            if folder is None:
                return None
            try:
                return load(folder, today)
            except InventoryError:
                return None

    def remember(self, run: RunInventory, partners: Collection[str], state: Path,
                 today: date) -> None:
        remember(self.folder, run.data_files, partners, state, today)


@dataclass(frozen=True)
class _PartnerDoc:
    doc: Located
    spec: PartnerFile


class _Loader:
    def __init__(self, directory: Path, today: date) -> None:
        self.root = directory
        self.today = today
        self.problems: list[Problem] = []
        self._dates: dict[str, date] = {}
        # Site codes of partner files that failed their checks: references to them are not
        # reported again, so one broken file does not bury the report in follow-up errors.
        self._unchecked_sites: set[str] = set()
        # Every employee id in each partner's HR export, bad rows included, for device checks.
        self._employee_ids: dict[str, set[str]] = {}
        # Device values that must be unique in the whole region (one shared DHCP, RADIUS and
        # VPN configuration): value -> where it was first seen, "devices/x.csv:3".
        self._device_values: dict[str, dict[str, str]] = {
            "asset_tag": {}, "mac": {}, "wg_public_key": {}}
        self.data_files: dict[str, tuple[str, ...]] = {}

    def problem(
        self, file: str, line: int, message: str, hint: str = "", partner: str = ""
    ) -> None:
        self.problems.append(Problem(file, line, message, hint, partner))

    def load(self, hold: bool) -> tuple[Region, dict[str, tuple[Problem, ...]]]:
        if not self.root.is_dir():
            raise InventoryError(
                [Problem(str(self.root), 0, "no such inventory folder", "pass --inventory DIR")]
            )
        region_doc, region = self._read_region()
        partner_docs = self._read_partner_files()
        if region is not None and region_doc is not None:
            self._check_service_refs(region, partner_docs)
        self._check_partner_uniqueness(partner_docs)
        sites = self._collect_sites(partner_docs)
        shared_files = len(self.problems)  # so far: region.yaml and the partner files
        self._check_merges(partner_docs)
        # An offboarded or merged partner's HR export and device list are no longer read.
        active = [p for p in partner_docs if _active(p.spec)]
        read: dict[str, list[Person] | None] = {p.spec.code: [] for p in partner_docs}
        read.update({p.spec.code: self._read_people(p, sites) for p in active})
        people = {code: found or [] for code, found in read.items()}
        devices: dict[str, list[Device]] = {p.spec.code: [] for p in partner_docs}
        devices.update({
            p.spec.code: self._read_devices(p, sites)
            for p in active
            if read[p.spec.code] is not None  # devices of unreadable people can't be checked
        })
        for p in active:
            self._check_quota(p, people[p.spec.code])
        held: dict[str, list[Problem]] = defaultdict(list)
        for problem in self.problems[shared_files:]:
            held[problem.partner].append(problem)
        if region is None or (self.problems and (
                not hold or self.problems[:shared_files] or "" in held
                or len(held) == len(partner_docs))):
            raise InventoryError(self.problems)
        self.data_files = {p.spec.code: tuple(f for f in (
            p.spec.people, p.spec.devices, p.spec.merged_from and p.spec.merged_from.ids) if f)
            if _active(p.spec) else () for p in partner_docs}
        going_on = [p for p in partner_docs if p.spec.code not in held]
        return (_build_region(region, going_on, sites, people, devices),
                {code: tuple(found) for code, found in sorted(held.items())})

    # -- YAML files -------------------------------------------------------------------------

    def _read_region(self) -> tuple[Located | None, RegionFile | None]:
        doc, problems = read_yaml(self.root / "region.yaml", "region.yaml")
        self.problems.extend(problems)
        if doc is None:
            return None, None
        return doc, self._validate(RegionFile, doc, "")

    def _read_partner_files(self) -> list[_PartnerDoc]:
        folder = self.root / "partners"
        paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
        if not paths:
            self.problem("partners/", 0, "no partner files", "add partners/<code>.yaml per partner")
        result = []
        for path in paths:
            rel = f"partners/{path.name}"
            doc, problems = read_yaml(path, rel)
            self.problems.extend(problems)
            if doc is None:
                continue
            spec = self._validate(PartnerFile, doc, path.stem)
            if spec is None:
                self._unchecked_sites.update(_raw_site_codes(doc.data))
                continue
            if spec.code != path.stem:
                self.problem(
                    rel, doc.line(("code",)),
                    f"partner code {spec.code!r} differs from the file name {path.name!r}",
                    f"rename the file to {spec.code}.yaml, or correct the code", spec.code,
                )
            result.append(_PartnerDoc(doc, spec))
        return result

    def _validate(self, model: type[_M], doc: Located, partner: str) -> _M | None:
        if not isinstance(doc.data, dict):
            self.problem(doc.file, 1, "expected a mapping of keys at the top", SCHEMA_HINT, partner)
            return None
        try:
            return model.model_validate(doc.data)
        except ValidationError as e:
            for error in e.errors():
                self.problems.append(_schema_problem(model, doc, error, partner))
            return None

    def _check_service_refs(self, region: RegionFile, partners: list[_PartnerDoc]) -> None:
        known = sorted(region.services)
        for p in partners:
            for index, code in enumerate(p.spec.services):
                if code not in region.services:
                    self.problem(
                        p.doc.file, p.doc.line(("services", index)),
                        f"unknown service {code!r}",
                        _did_you_mean(code, known) or f"the catalogue in region.yaml has: "
                        f"{', '.join(known) or 'nothing'}", p.spec.code,
                    )

    def _check_partner_uniqueness(self, partners: list[_PartnerDoc]) -> None:
        for attribute, what in (("code", "partner code"), ("upn_suffix", "UPN suffix")):
            seen: dict[str, _PartnerDoc] = {}
            for p in partners:
                value = getattr(p.spec, attribute)
                first = seen.setdefault(value, p)
                if first is not p:
                    self.problem(
                        p.doc.file, p.doc.line((attribute,)),
                        f"duplicate {what} {value!r}, also in {first.doc.file}",
                        f"every partner needs its own {what}", p.spec.code,
                    )

    def _check_merges(self, partners: list[_PartnerDoc]) -> None:
        """A merge is written on both sides: `merged: {into: B}` in A, `merged_from` in B."""
        docs = {p.spec.code: p for p in partners}
        for p in partners:
            merged = p.spec.merged
            if merged is not None:
                into = docs.get(merged.into)
                if into is None or into.spec.merged_from is None or \
                        p.spec.code not in into.spec.merged_from.partners:
                    self.problem(p.doc.file, p.doc.line(("merged", "into")),
                                 f"merged into {merged.into!r}, which does not list "
                                 f"{p.spec.code!r} under merged_from.partners",
                                 "a merge is recorded on both partners' files; "
                                 "`ssc-infra partner merge` writes both", p.spec.code)
            merged_from = p.spec.merged_from
            for index, code in enumerate(merged_from.partners if merged_from else ()):
                other = docs.get(code)
                if other is None or other.spec.merged is None or \
                        other.spec.merged.into != p.spec.code:
                    self.problem(p.doc.file, p.doc.line(("merged_from", "partners", index)),
                                 f"merged_from lists {code!r}, whose file does not say it "
                                 f"merged into {p.spec.code!r}",
                                 "keep the merged partner's file with `merged: {into: "
                                 f"{p.spec.code}, date: ...}}`", p.spec.code)

    def _collect_sites(self, partners: list[_PartnerDoc]) -> dict[str, Site]:
        sites: dict[str, Site] = {}
        where: dict[str, str] = {}
        vlans: dict[int, tuple[str, str]] = {}
        for p in partners:
            for index, entry in enumerate(p.spec.sites):
                loc = f"{p.doc.file}:{p.doc.line(('sites', index))}"
                line = p.doc.line(("sites", index))
                site = Site(entry.code, entry.name, p.spec.code, entry.vlan, entry.subnet,
                            entry.flex_desks, entry.shared)
                if entry.code in sites:
                    self.problem(p.doc.file, line, f"duplicate site code {entry.code!r}, also at "
                                 f"{where[entry.code]}", "site codes are unique in the region",
                                 p.spec.code)
                    continue
                owner = vlans.setdefault(entry.vlan, (p.spec.code, loc))
                if owner[0] != p.spec.code:
                    self.problem(
                        p.doc.file, line,
                        f"VLAN {entry.vlan} of site {entry.code!r} is already used by partner "
                        f"{owner[0]!r} (at {owner[1]})",
                        "each partner has VLANs of its own: pick a free VLAN id", p.spec.code,
                    )
                for other in sites.values():
                    if other.subnet.overlaps(entry.subnet):
                        self.problem(
                            p.doc.file, line,
                            f"subnet {entry.subnet} of site {entry.code!r} overlaps {other.subnet} "
                            f"of site {other.code!r} (partner {other.partner!r}, at "
                            f"{where[other.code]})",
                            "give each site a subnet of its own", p.spec.code,
                        )
                sites[entry.code] = site
                where[entry.code] = loc
        return sites

    # -- CSV files --------------------------------------------------------------------------

    def _open_csv(
        self, p: _PartnerDoc, key: str, columns: tuple[str, ...], rel: str = ""
    ) -> tuple[str, _Rows] | None:
        rel = rel or getattr(p.spec, key)
        path = self.root / rel
        try:
            data = read_regular(path, rel, CSV_MAX_BYTES)
        except FileNotFoundError:
            self.problem(p.doc.file, p.doc.line((key,)), f"{key} file {rel!r} not found",
                         "check the path; it is relative to the inventory folder", p.spec.code)
            return None
        text = decode(data, rel, "export the file as CSV UTF-8") if isinstance(data, bytes) \
            else data
        if isinstance(text, Problem):
            self.problems.append(_for_partner(text, p.spec.code))
            return None
        if not text.strip():
            self.problem(rel, 0, "the file is empty",
                         f"the first line is the header: {','.join(columns)}", p.spec.code)
            return None
        first = text.split("\n", 1)[0]
        # Dutch spreadsheet exports use ';' as the separator.
        delimiter = ";" if first.count(";") > first.count(",") else ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        try:
            header = tuple(h.strip() for h in next(reader, []))
        except csv.Error as e:
            self.problem(rel, 1, f"unreadable header: {e}",
                         f"the first line is the header: {','.join(columns)}", p.spec.code)
            return None
        missing = [c for c in columns if c not in header]
        unknown = [c for c in header if c not in columns]
        for column in missing:
            self.problem(rel, 1, f"missing column {column!r}",
                         f"the header must be: {','.join(columns)}", p.spec.code)
        for column in unknown:
            self.problem(rel, 1, f"unknown column {_show(column)}",
                         _did_you_mean(column[:100], list(columns)) or f"the header must be: "
                         f"{','.join(columns)}", p.spec.code)
        return (rel, _Rows(reader, header, columns)) if not missing else None

    def _date(self, text: str) -> date | None:
        parsed = self._dates.get(text)
        if parsed is None:
            try:
                parsed = date.fromisoformat(text)
            except ValueError:
                return None
            if len(text) != 10:
                return None
            self._dates[text] = parsed
        return parsed

    def _read_people(self, p: _PartnerDoc, sites: dict[str, Site]) -> list[Person] | None:
        opened = self._open_csv(p, "people", PEOPLE_COLUMNS)
        if opened is None:
            return None
        rel, rows = opened
        code = p.spec.code
        usable = {s.code for s in sites.values() if s.partner == code or s.shared}
        usable |= self._unchecked_sites
        seen: dict[str, int] = {}
        before = self._read_previous(p)
        ids = self._employee_ids.setdefault(code, set())
        departments = _Departments(rel)
        people: list[Person] = []
        for line, values in rows:
            bad = _RowProblems(self, rel, line, code)
            if values is None:
                bad(*rows.shape_problem)
                ids.add(rows.bad_row_id)
                continue
            ids.add(values["employee_id"])
            # A value that is empty or unfit for its field is not looked at any further.
            unfit = {c for c in _REQUIRED_PEOPLE if not values[c]}
            for column in sorted(unfit, key=_REQUIRED_PEOPLE.index):
                bad(f"empty {column}", f"every person needs a {column}")
            unfit |= _check_person_fields(bad, values, unfit)
            employee_id = values["employee_id"]
            first = seen.setdefault(employee_id, line) if "employee_id" not in unfit else line
            if first != line:
                bad(f"duplicate employee_id {employee_id!r} (first on line {first})",
                    "employee ids are unique within a partner: check the HR export")
            if values["department"] and "department" not in unfit:
                departments.add(values["department"], line)
            site = values["site"]
            if "site" not in unfit and site not in usable:
                owner = sites.get(site)
                bad(f"unknown site {_show(site)}" if owner is None else
                    f"site {site!r} belongs to partner {owner.partner!r} and is not shared",
                    _did_you_mean(site, sorted(usable)) or "use a site of this partner or a "
                    "shared flex site")
            workplace = _WORKPLACES.get(values["workplace"])
            if "workplace" not in unfit and workplace is None:
                bad(f"unknown workplace {_show(values['workplace'])}",
                    "workplace is one of: vdi, laptop, thin_client")
            start = self._date(values["start_date"]) if values["start_date"] else None
            if "start_date" not in unfit and start is None:
                bad(f"invalid start_date {_show(values['start_date'])}",
                    "write dates as YYYY-MM-DD")
            end = self._date(values["end_date"]) if values["end_date"] else None
            if values["end_date"] and end is None:
                bad(f"invalid end_date {_show(values['end_date'])}", "write dates as YYYY-MM-DD")
            if start and end and end < start:
                bad(f"end_date {end} is before start_date {start}",
                    "check both dates in the HR export")
            if bad.count or workplace is None or start is None:
                continue
            people.append(Person(
                code, employee_id, values["given_name"], values["infix"], values["surname"],
                values["department"], values["job_title"], site, workplace, start, end,
                before.get(employee_id),
            ))
        if rows.error is not None:
            self.problem(rel, rows.error[0], rows.error[1], rows.error[2], code)
        elif rows.count == 0:
            self.problem(rel, 1, "the HR export has a header but no people",
                         "export it again: a run with no people would make every account a "
                         "leaver", code)
        for line, message in departments.clashes(code):
            self.problem(rel, line, message, "use one spelling of the department in the HR "
                         "export: the group flaps between them on every other run", code)
        return people

    def _read_previous(self, p: _PartnerDoc) -> dict[str, PersonKey]:
        """Who each person was before a merge (`merged_from.ids`): new id -> old key."""
        merged_from = p.spec.merged_from
        if merged_from is None:
            return {}
        opened = self._open_csv(p, "merged_from", MERGE_COLUMNS, merged_from.ids)
        if opened is None:
            return {}
        rel, rows = opened
        found: dict[str, PersonKey] = {}
        olds: dict[PersonKey, int] = {}
        for line, values in rows:
            bad = _RowProblems(self, rel, line, p.spec.code)
            if values is None:
                bad(*rows.shape_problem)
                continue
            old = (values["partner"], values["employee_id"])
            new = values["new_employee_id"]
            if old[0] not in merged_from.partners:
                bad(f"partner {_show(old[0])} is not one of merged_from.partners",
                    f"the partners merged into {p.spec.code}: "
                    f"{', '.join(merged_from.partners)}")
            for column in ("employee_id", "new_employee_id"):
                if not re.fullmatch(EMPLOYEE_ID_PATTERN, values[column]):
                    bad(f"{column} {_show(values[column])} is not an employee id",
                        "letters, digits, '.', '_', '-'; at most 16")
            if new in found:
                bad(f"new_employee_id {new!r} given twice", "each person gets one new id")
            if old in olds:
                bad(f"{old[0]}/{old[1]} listed twice (first on line {olds[old]})",
                    "each person of a merged partner is listed once")
            olds.setdefault(old, line)
            if not bad.count:
                found[new] = old
        if rows.error is not None:
            self.problem(rel, rows.error[0], rows.error[1], rows.error[2], p.spec.code)
        return found

    def _read_devices(self, p: _PartnerDoc, sites: dict[str, Site]) -> list[Device]:
        if p.spec.devices is None:
            return []
        opened = self._open_csv(p, "devices", DEVICE_COLUMNS)
        if opened is None:
            return []
        rel, rows = opened
        code = p.spec.code
        own = self._employee_ids.get(code, set())
        usable = {s.code for s in sites.values() if s.partner == code or s.shared}
        usable |= self._unchecked_sites
        devices: list[Device] = []
        for line, v in rows:
            bad = _RowProblems(self, rel, line, code)
            if v is None:
                bad(*rows.shape_problem)
                continue
            kind = _DEVICE_KINDS.get(v["kind"])
            unfit = _check_device_fields(bad, v)
            if kind is None:
                bad(f"unknown kind {_show(v['kind'])}", "kind is laptop or thin_client")
            if "employee_id" not in unfit and v["employee_id"] not in own:
                others = sorted(c for c, ids in self._employee_ids.items()
                                if c != code and v["employee_id"] in ids)
                if others:
                    bad(f"employee {v['employee_id']!r} is not a person of {code!r} but of "
                        f"{', '.join(others)}",
                        "a device belongs to a person of its own partner: move the row to "
                        "that partner's devices file")
                else:
                    bad(f"no person with employee_id {_show(v['employee_id'])} in {code!r}",
                        f"check the id against {p.spec.people}")
            # A key, MAC or site that the kind does not use must still be fit for its column:
            # every value of a Device is trusted downstream.
            if (kind is DeviceKind.LAPTOP or v["wg_public_key"]) \
                    and not is_wireguard_key(v["wg_public_key"]):
                bad(f"malformed WireGuard public key {_show(v['wg_public_key'])}",
                    "paste the key `wg pubkey` printed: 44 base64 characters ending in '='")
            if (kind is DeviceKind.THIN_CLIENT or v["mac"]) and not is_mac(v["mac"].lower()):
                bad(f"malformed MAC address {_show(v['mac'])}", "write it as aa:bb:cc:dd:ee:ff")
            if (kind is DeviceKind.THIN_CLIENT or v["site"]) and v["site"] not in usable:
                what = "a thin client" if kind is DeviceKind.THIN_CLIENT else "a device"
                bad(f"unknown site {_show(v['site'])} for {what}",
                    _did_you_mean(v["site"], sorted(usable)) or f"{what} stands at a site of "
                    "this partner or a shared flex site")
            if bad.count or kind is None:
                continue
            self._check_unique_device(bad, rel, line, v)
            if bad.count:
                continue
            devices.append(Device(
                code, v["asset_tag"], kind, v["employee_id"], v["site"] or None,
                v["mac"].lower() or None, v["wg_public_key"] or None,
            ))
        if rows.error is not None:
            self.problem(rel, rows.error[0], rows.error[1], rows.error[2], code)
        return devices

    def _check_quota(self, p: _PartnerDoc, people: list[Person]) -> None:
        limit = p.spec.quota.users
        if limit is None:
            return
        current = sum(1 for person in people if not person.has_left(self.today))
        if current > limit:
            self.problem(
                p.doc.file, p.doc.line(("quota", "users")),
                f"quota exceeded: {current} people (not yet left on {self.today}) for a quota "
                f"of {limit}",
                "raise quota.users after the partner agreed, or check the HR export for "
                "duplicates", p.spec.code,
            )


    def _check_unique_device(self, bad: _RowProblems, rel: str, line: int,
                             values: dict[str, str]) -> None:
        what = {"asset_tag": "asset tag", "mac": "MAC address", "wg_public_key": "WireGuard key"}
        for column, seen in self._device_values.items():
            value = values[column].lower() if column == "mac" else values[column]
            if not value:
                continue
            first = seen.setdefault(value, f"{rel}:{line}")
            if first != f"{rel}:{line}":
                bad(f"duplicate {what[column]} {values[column]!r}, also at {first}",
                    "every device is listed once in the region: one shared DHCP, RADIUS and "
                    "VPN configuration serves all partners")


class _Rows:
    """The data rows of a CSV file as (line, {column: stripped value}).

    A row whose field count differs from the header yields None as its values: its fields
    cannot be told apart, so checking them one by one would only add noise.
    """

    def __init__(self, reader: Any, header: tuple[str, ...], columns: tuple[str, ...]) -> None:
        self.reader = reader
        self.width = len(header)
        self.index = [(c, header.index(c)) for c in columns if c in header]
        self.shape_problem = ("", "")
        self.bad_row_id = ""  # the first column of a misshapen row, usually still its id
        self._id_index = header.index("employee_id") if "employee_id" in header else -1
        self.count = 0  # data rows read
        self.error: tuple[int, str, str] | None = None  # (line, message, hint) that ended it

    def __iter__(self) -> Iterator[tuple[int, dict[str, str] | None]]:
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
            self.count += 1
            if len(row) != self.width:
                more = "more" if len(row) > self.width else "fewer"
                self.shape_problem = (
                    f"{len(row)} fields where the header has {self.width} ({more})",
                    "check for an unquoted separator inside a value, or a missing one",
                )
                self.bad_row_id = row[self._id_index].strip() if self._id_index == 0 else ""
                yield line, None
                continue
            yield line, {c: row[i].strip() for c, i in self.index}


class _RowProblems:
    """Collects the problems of one CSV row under its file:line, prefixed with the row's id."""

    def __init__(self, loader: _Loader, rel: str, line: int, partner: str) -> None:
        self.loader, self.rel, self.line, self.partner = loader, rel, line, partner
        self.count = 0

    def __call__(self, message: str, hint: str) -> None:
        self.count += 1
        self.loader.problem(self.rel, self.line, message, hint, self.partner)


def _check_person_fields(bad: _RowProblems, values: dict[str, str], unfit: set[str]) -> set[str]:
    """Check each value of a people row against its field; returns the columns that failed."""
    failed: set[str] = set()
    employee_id = values["employee_id"]
    if "employee_id" not in unfit and not _EMPLOYEE_ID.fullmatch(employee_id):
        bad(f"invalid employee_id {_show(employee_id)}: {_why(employee_id, 16)}",
            _EMPLOYEE_ID_HINT)
        failed.add("employee_id")
    for column, limit in _NAME_COLUMNS:
        value = values[column]
        if column in unfit or not value:
            continue
        why = person_name_problem(value) or (
            f"{len(value)} characters, at most {limit}" if len(value) > limit else "")
        if why:
            bad(f"invalid {column} {_show(value)}: {why}", _NAME_HINT.format(max=limit))
            failed.add(column)
    if not failed & {"infix", "surname"}:
        sn = " ".join(v for v in (values["infix"], values["surname"]) if v)
        if len(sn) > SURNAME_MAX:
            bad(f"infix and surname together ({len(sn)} characters) are longer than the "
                f"{SURNAME_MAX} AD allows for sn", "shorten the name in the HR export")
            failed.add("surname")
    if not failed & {"given_name", "infix", "surname"}:
        full = " ".join(values[c] for c, _ in _NAME_COLUMNS if values[c])
        if len(full) > FULL_NAME_MAX:
            bad(f"the full name ({len(full)} characters) is longer than the {FULL_NAME_MAX} AD "
                "allows for an account's cn", "shorten the name in the HR export")
            failed.add("surname")
    for column, limit in _TEXT_COLUMNS:
        value = values[column]
        why = unprintable(value) or (
            f"{len(value)} characters, at most {limit}" if len(value) > limit else "")
        if why:
            bad(f"invalid {column} {_show(value)}: {why}",
                f"printable text on one line, at most {limit} characters (AD's "
                f"{'department' if column == 'department' else 'title'}): check the HR export")
            failed.add(column)
    return failed


def _check_device_fields(bad: _RowProblems, values: dict[str, str]) -> set[str]:
    """Check the asset tag and employee id of a device row; returns the columns that failed."""
    failed: set[str] = set()
    tag = values["asset_tag"]
    if not tag:
        bad("empty asset_tag", "every device needs an asset tag")
        failed.add("asset_tag")
    elif not _ASSET_TAG.fullmatch(tag):
        bad(f"invalid asset_tag {_show(tag)}: {_why(tag, 32)}",
            "letters, digits and '-', starting with a letter or digit, at most 32 characters "
            "(it becomes the DHCP host name)")
        failed.add("asset_tag")
    employee_id = values["employee_id"]
    if not _EMPLOYEE_ID.fullmatch(employee_id):
        bad(f"invalid employee_id {_show(employee_id)}: {_why(employee_id, 16)}",
            _EMPLOYEE_ID_HINT)
        failed.add("employee_id")
    return failed


def _why(value: str, limit: int) -> str:
    """Why an identifier fails its pattern, in words."""
    if not value:
        return "empty"
    bad = unprintable(value)
    if bad:
        return bad
    if len(value) > limit:
        return f"{len(value)} characters, at most {limit}"
    for index, char in enumerate(value):
        if not (char.isascii() and (char.isalnum() or (index and char in "._-"))):
            return f"character {char!r} at position {index + 1}"
    return "not allowed here"


def _show(value: str) -> str:
    """A value quoted for a message: control characters escaped, a long one cut short."""
    if len(value) <= 60:
        return repr(value)
    return f"{value[:40]!r}... ({len(value)} characters)"


def _for_partner(problem: Problem, partner: str) -> Problem:
    return Problem(problem.file, problem.line, problem.message, problem.hint, partner)


class _Departments:
    """The department values of one HR export, to find two that make the same group."""

    def __init__(self, rel: str) -> None:
        self.rel = rel
        self.first_line: dict[str, int] = {}  # value -> line of its first row

    def add(self, value: str, line: int) -> None:
        self.first_line.setdefault(value, line)

    def clashes(self, partner: str) -> Iterator[tuple[int, str]]:
        """(line, message) for each value whose group another value already makes."""
        by_slug: dict[str, str] = {}
        for value, line in self.first_line.items():
            first = by_slug.setdefault(slug(value), value)
            if first != value:
                yield line, (
                    f"departments {first!r} (first at {self.rel}:{self.first_line[first]}) and "
                    f"{value!r} (first at {self.rel}:{line}) make the same group "
                    f"'{partner}-dep-{slug(value)}'")


def _raw_site_codes(data: Any) -> set[str]:
    sites = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(sites, list):
        return set()
    return {str(s["code"]) for s in sites if isinstance(s, dict) and "code" in s}


def _did_you_mean(value: str, choices: list[str]) -> str:
    if len(value) > 100:
        return ""
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else ""


def _model_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> type[BaseModel] | None:
    """The pydantic model that holds the value at `loc` (to name its allowed keys)."""
    current: Any = model
    keyed = False  # the part after a dict field is a key (a service code), not a field
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        keyed = get_origin(field.annotation) is dict
        current = _unwrap(field.annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) is not None:
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[-1] if args else None
    return annotation


def _schema_problem(
    model: type[BaseModel], doc: Located, error: Any, partner: str
) -> Problem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    line = doc.line(loc)
    dotted = ".".join(str(part) for part in loc) or "(top)"
    kind = error["type"]
    if kind == "extra_forbidden":
        holder = _model_at(model, loc[:-1])
        allowed = sorted(holder.model_fields) if holder else []
        hint = _did_you_mean(str(loc[-1]), allowed) or f"allowed here: {', '.join(allowed)}"
        return Problem(doc.file, line, f"unknown key {dotted!r}", hint, partner)
    if kind == "missing":
        return Problem(doc.file, line, f"missing required key {dotted!r}", SCHEMA_HINT, partner)
    value = error.get("input")
    description = ""
    holder = _model_at(model, loc[:-1])
    if holder is not None and isinstance(loc[-1], str) and loc[-1] in holder.model_fields:
        description = holder.model_fields[loc[-1]].description or ""
    shown = _show(value) if isinstance(value, str) else _show(repr(value))[1:-1]
    if kind == "string_pattern_mismatch":
        why = unprintable(value) if isinstance(value, str) else ""
        message = f"{dotted}: {shown} is not valid" + (f": {why}" if why else "")
        return Problem(doc.file, line, message, description or SCHEMA_HINT, partner)
    message = f"{dotted}: {error['msg'].rstrip('.')} (got {shown})"
    return Problem(doc.file, line, message, description or SCHEMA_HINT, partner)


def _build_region(
    spec: RegionFile,
    partner_docs: list[_PartnerDoc],
    sites: dict[str, Site],
    people: dict[str, list[Person]],
    devices: dict[str, list[Device]],
) -> Region:
    by_partner: dict[str, list[Site]] = defaultdict(list)
    for site in sites.values():
        by_partner[site.partner].append(site)
    partners = tuple(
        Partner(
            code=p.spec.code, name=p.spec.name, kind=p.spec.kind, upn_suffix=p.spec.upn_suffix,
            identity=p.spec.identity,
            services=tuple(p.spec.services) if _active(p.spec) else (),
            sites=tuple(by_partner[p.spec.code]), people=tuple(people[p.spec.code]),
            # in asset-tag order: one Region whatever order the list (or NetBox) gives
            devices=tuple(sorted(devices[p.spec.code], key=lambda d: d.asset_tag)),
            quota_users=p.spec.quota.users, offboarded=_offboarded(p.spec.offboarded),
            merged=Merged(p.spec.merged.into, p.spec.merged.date) if p.spec.merged else None,
            merged_from=MergedFrom(tuple(p.spec.merged_from.partners), p.spec.merged_from.ids)
            if p.spec.merged_from else None,
        )
        for p in sorted(partner_docs, key=lambda d: d.spec.code)
    )
    d = spec.directory
    return Region(
        code=spec.region.code,
        name=spec.region.name,
        directory=Directory(d.domain, d.partners_ou, d.leavers_ou, d.retention_days,
                            d.prestart_days),
        naming=NamingPolicy(spec.naming.sam, spec.naming.upn, spec.naming.max_len,
                            spec.naming.upn_follows_name),
        guards=Guards(spec.guards.max_disable, spec.guards.max_disable_fraction),
        services=tuple(Service(code, s.kind, s.sku) for code, s in sorted(spec.services.items())),
        hosts=tuple(
            Host(name, tuple(h.roles), h.address) for name, h in sorted(spec.hosts.items())
        ),
        partners=partners,
    )


def _active(spec: PartnerFile) -> bool:
    return spec.offboarded is None and spec.merged is None


def _offboarded(entry: OffboardedEntry | None) -> Offboarded | None:
    if entry is None:
        return None
    return Offboarded(entry.date, entry.bundle, entry.manifest_sha256)
