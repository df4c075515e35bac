"""The files source: the inventory folder (region.yaml, partners/*.yaml, people/*.csv,
devices/*.csv) loaded and checked, and `FilesSource`, the folder as an `InventorySource`.

Every problem is collected, not only the first, each with file, line and a hint; the Region is
built only when there are none. Single-file shape checks come from `schema`; what spans files
(references, duplicates, overlaps and quotas) from `regionfiles` (region.yaml and the partner
files), `people` (the HR exports) and `devices` (the device lists).

`load_holding` is the lenient form for plan, apply and drift: a problem in one partner's HR
export or device list holds that partner back (it is left out of the Region, so nothing of it is
read or changed) while the other partners go on. A problem in the files the SSC itself edits
(region.yaml, partners/*.yaml) still stops the run: it may touch every partner.
"""

from __future__ import annotations

import dataclasses
import operator
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ssc_infra.core.bulk import no_cycle_collection
from ssc_infra.core.errors import InventoryError, Problem
from ssc_infra.core.model import (
    Device,
    Directory,
    Guards,
    Host,
    Merged,
    MergedFrom,
    Move,
    NamingPolicy,
    Offboarded,
    Partner,
    Person,
    Region,
    Service,
    Site,
)
from ssc_infra.sources import Loaded, RunInventory
from ssc_infra.sources.applied import (
    combined,
    ever_applied,
    kept_since,
    remember,
    shrunk_exports,
    usable_copies,
)
from ssc_infra.sources.devices import DeviceReader, check_site_capacity
from ssc_infra.sources.moves import apply_moves, read_moves
from ssc_infra.sources.people import PeopleReader, check_quota
from ssc_infra.sources.regionfiles import (
    PartnerDoc,
    check_merges,
    check_own_data_files,
    check_partner_uniqueness,
    check_service_refs,
    collect_sites,
    read_partner_files,
    read_region,
)
from ssc_infra.sources.schema import OffboardedEntry, RegionFile


def load(directory: Path, today: date | None = None) -> Region:
    """Load and validate an inventory folder.

    Args:
        directory: the folder holding region.yaml and partners/.
        today: the date that decides who has left (for quotas); defaults to today.

    Raises:
        InventoryError: with every problem found, each located by file and line.
    """
    return _load(directory, today or date.today(), hold=False).region


def load_holding(directory: Path, today: date | None = None) -> Loaded:
    """Load the inventory, holding back the partners whose HR export or device list is bad.

    Raises:
        InventoryError: for problems in region.yaml or partners/*.yaml, or when every partner
            would be held.
    """
    return _load(directory, today or date.today(), hold=True)


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
        # A row that left an export for another partner's (moves.yaml) is no departure.
        moved = Counter(m.person[0] for m in region0.moves
                        if m.person[0] != m.to[0] and (m.on is None or m.on <= today))
        shrunk = shrunk_exports(self.folder, data_files, region0.guards, allow_disable, state,
                                moved)
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
                # A copy may be older than an entry of moves.yaml: its new person not in it
                # yet is no problem there.
                return _load(folder, today, hold=False, strict_moves=False).region
            except InventoryError:
                return None

    def remember(self, run: RunInventory, partners: Collection[str], state: Path,
                 today: date) -> None:
        remember(self.folder, run.data_files, partners, state, today)


@no_cycle_collection()
def _load(root: Path, today: date, hold: bool, strict_moves: bool = True) -> Loaded:
    """The inventory folder `root` loaded; with `hold`, a partner with problems in its own
    data is left out (and its problems kept) rather than stopping the load. `strict_moves`:
    see `moves.apply_moves`."""
    if not root.is_dir():
        raise InventoryError(
            [Problem(str(root), 0, "no such inventory folder", "pass --inventory DIR")]
        )
    problems: list[Problem] = []
    region, found = read_region(root)
    problems.extend(found)
    partner_docs, unchecked_sites, found = read_partner_files(root)
    problems.extend(found)
    if region is not None:
        problems.extend(check_service_refs(region, partner_docs))
    problems.extend(check_partner_uniqueness(partner_docs))
    sites, found = collect_sites(partner_docs)
    problems.extend(found)
    shared_files = len(problems)  # so far: region.yaml and the partner files
    problems.extend(check_merges(partner_docs))
    # An offboarded or merged partner's HR export and device list are no longer read.
    active = [p for p in partner_docs if p.active]
    found = check_own_data_files(active)
    problems.extend(found)
    sharing = {problem.partner for problem in found}  # not read: it would read another's
    people_reader = PeopleReader(root, problems, unchecked_sites,
                                 None if region is None else naming_policy(region))
    read: dict[str, list[Person] | None] = {p.spec.code: [] for p in partner_docs}
    read.update({p.spec.code: people_reader.read(p, sites) if p.spec.code not in sharing
                 else None for p in active})
    people = {code: persons or [] for code, persons in read.items()}
    device_reader = DeviceReader(root, problems, unchecked_sites, people_reader.employee_ids,
                                 people_reader.cut_short)
    devices: dict[str, list[Device]] = {p.spec.code: [] for p in partner_docs}
    devices.update({
        p.spec.code: device_reader.read(p, sites)
        for p in active
        if read[p.spec.code] is not None  # devices of unreadable people can't be checked
    })
    for p in active:
        problems.extend(check_quota(p, people[p.spec.code], today))
    problems.extend(check_site_capacity(active, sites, people, devices, today))
    entries, found = read_moves(root, partner_docs)
    problems.extend(found)
    waiting = {p.partner for p in problems[shared_files:]}
    waiting.update(code for code, persons in read.items() if persons is None)
    people, moves, found = apply_moves(entries, people, waiting,
                                       {p.spec.code: p.spec.people for p in partner_docs},
                                       today, strict_moves)
    problems.extend(found)
    held: dict[str, list[Problem]] = defaultdict(list)
    for problem in problems[shared_files:]:
        held[problem.partner].append(problem)
    if region is None or (problems and (
            not hold or problems[:shared_files] or "" in held
            or len(held) == len(partner_docs))):
        raise InventoryError(problems)
    data_files = {p.spec.code: tuple(f for f in (
        p.spec.people, p.spec.devices, p.spec.merged_from and p.spec.merged_from.ids) if f)
        if p.active else () for p in partner_docs}
    going_on = [p for p in partner_docs if p.spec.code not in held]
    return Loaded(_build_region(region, going_on, sites, people, devices, moves),
                  {code: tuple(theirs) for code, theirs in sorted(held.items())},
                  data_files, tuple(problems))


def naming_policy(spec: RegionFile) -> NamingPolicy:
    """The naming policy region.yaml gives."""
    n = spec.naming
    return NamingPolicy(n.sam, n.upn, n.max_len, n.upn_follows_name)


def _build_region(
    spec: RegionFile,
    partner_docs: list[PartnerDoc],
    sites: dict[str, Site],
    people: dict[str, list[Person]],
    devices: dict[str, list[Device]],
    moves: tuple[Move, ...] = (),
) -> Region:
    by_partner: dict[str, list[Site]] = defaultdict(list)
    for site in sites.values():
        by_partner[site.partner].append(site)
    partners = tuple(
        Partner(
            code=p.spec.code, name=p.spec.name, kind=p.spec.kind, upn_suffix=p.spec.upn_suffix,
            identity=p.spec.identity,
            services=tuple(p.spec.services) if p.active else (),
            sites=tuple(by_partner[p.spec.code]), people=tuple(people[p.spec.code]),
            # in asset-tag order: one Region whatever order the list (or NetBox) gives
            devices=tuple(sorted(devices[p.spec.code], key=_BY_TAG)),
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
        naming=naming_policy(spec),
        guards=Guards(spec.guards.max_disable, spec.guards.max_disable_fraction),
        services=tuple(Service(code, s.kind, s.sku) for code, s in sorted(spec.services.items())),
        hosts=tuple(
            Host(name, tuple(h.roles), h.address) for name, h in sorted(spec.hosts.items())
        ),
        partners=partners,
        moves=moves,
    )


_BY_TAG = operator.attrgetter("asset_tag")


def _offboarded(entry: OffboardedEntry | None) -> Offboarded | None:
    if entry is None:
        return None
    return Offboarded(entry.date, entry.bundle, entry.manifest_sha256)
