"""A partner's intake: what the engineer gives `ssc-infra partner onboard` read and checked,
and the new partner written into the inventory folder or pushed into NetBox.

The I/O edge of onboarding. The files the options name (the HR export and its mapping, the
sites file, the device list) are read with the inventory's own care for hostile input;
`lifecycle.onboard` makes the documents; `lifecycle.staging` checks them with the whole region
and puts them into place only when the region loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ssc_infra.core.errors import Problem
from ssc_infra.core.model import Region
from ssc_infra.core.plan import ItemResult
from ssc_infra.lifecycle.onboard import (
    NewPartner,
    OnboardError,
    Onboarding,
    PartnerOptions,
    SiteGiven,
    new_partner,
    parse_site,
    sites_of,
    valid_code,
)
from ssc_infra.lifecycle.staging import check, place, staged, taken
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.hrexport import DEFAULT, Converted, HrMapping, load_mapping, read_export
from ssc_infra.sources.located import CSV_MAX_BYTES, read_text, read_yaml


@dataclass(frozen=True)
class Given:
    """The options of `partner onboard`, the files they name still unread."""

    partner: PartnerOptions
    people: Path
    columns: Path | None = None
    devices: Path | None = None
    sites_file: Path | None = None
    sites: tuple[str, ...] = ()  # --site options


@dataclass(frozen=True)
class Onboarded:
    """What an onboarding did: the partner's documents, the problems that stopped it (then
    nothing was written), what was written, and what NetBox answered."""

    partner: NewPartner | None
    problems: tuple[Problem, ...] = ()
    written: tuple[str, ...] = ()  # inventory-relative paths
    others_held: tuple[str, ...] = ()  # partners held by problems of their own, untouched
    region: Region | None = None  # the region with the new partner
    pushed: tuple[ItemResult, ...] = ()  # NetBox: the push of the partner's objects

    @property
    def ok(self) -> bool:
        return self.partner is not None and not self.problems


def read_given(given: Given) -> Onboarding:
    """Read every file the options name; their problems ride along (`Onboarding.problems`,
    the export's in `Converted.problems`), to be told with the options' own."""
    problems: list[Problem] = []
    mapping: HrMapping | list[Problem] = DEFAULT
    if given.columns is not None:
        mapping = load_mapping(given.columns, str(given.columns))
    if isinstance(mapping, list):
        problems.extend(mapping)  # the export is read once its mapping is right
        people = Converted(str(given.people))
    else:
        people = read_export(given.people, str(given.people), mapping)
    sites: list[SiteGiven] = []
    if given.sites_file is not None:
        doc, found = read_yaml(given.sites_file, str(given.sites_file))
        problems.extend(found)
        if doc is not None and not found:
            listed, found = sites_of(doc)
            sites.extend(listed)
            problems.extend(found)
    for text in given.sites:
        site = parse_site(text)
        if isinstance(site, Problem):
            problems.append(site)
        else:
            sites.append(site)
    devices = None
    if given.devices is not None:
        read = _read_text(given.devices)
        if isinstance(read, Problem):
            problems.append(read)
        else:
            devices = (str(given.devices), read)
    return Onboarding(given.partner, people, tuple(sites), devices, tuple(problems))


def _read_text(path: Path) -> str | Problem:
    file = str(path)
    try:
        return read_text(path, file, CSV_MAX_BYTES, "export the device list as CSV UTF-8")
    except FileNotFoundError:
        return Problem(file, 0, "file not found", "check the path of the device list")


def onboard_files(inventory: Path, request: Onboarding, today: date,
                  write: bool = True) -> Onboarded:
    """Check the new partner with the whole region and write its files into the inventory.

    Args:
        write: False: check only (`--dry-run`); nothing is written.

    Raises:
        OnboardError: the partner, or one of its files, is in the inventory already.
        PlaceError: a file could not be written (nothing of the partner stays).
    """
    _refuse_existing(inventory, request.code, _files_of(request), "the inventory")
    made = new_partner(request)
    if isinstance(made, list):
        return Onboarded(None, tuple(made))
    with staged(inventory, made.files) as folder:
        checked = check(folder, today, made.code)
    if not checked.ok or checked.loaded is None:
        return Onboarded(made, tuple(made.retold(checked.problems)),
                         others_held=checked.others_held)
    written = place(inventory, made.files) if write else []
    return Onboarded(made, (), tuple(written), checked.others_held, checked.loaded.region)


def onboard_netbox(source: NetBoxSource, request: Onboarding, today: date, state: Path,
                   target: str, write: bool = True) -> Onboarded:
    """Check the new partner with the region NetBox holds, write its HR export into the
    inventory folder and push its objects (tenant, sites, VLANs, prefixes, devices).

    Raises:
        OnboardError: NetBox has the partner already, or its HR export is in the folder.
        PlaceError: the HR export could not be written.
        BackendError: NetBox could not be read or written.
    """
    from ssc_infra.netbox.push import plan_netbox, push

    snapshot = source.snapshot()
    code = request.code
    _refuse_existing(snapshot.folder, code, [f"partners/{code}.yaml"], "NetBox (a tenant)")
    _refuse_existing(source.folder, code, [f"people/{code}.csv"], "the inventory folder")
    made = new_partner(request)
    if isinstance(made, list):
        return Onboarded(None, tuple(made))
    people = {rel: text for rel, text in made.files.items() if rel.startswith("people/")}
    with staged(snapshot.folder, made.files) as folder:
        checked = check(folder, today, made.code)
        if not checked.ok or checked.loaded is None:
            return Onboarded(made, tuple(made.retold(checked.problems)),
                             others_held=checked.others_held)
        if not write:
            return Onboarded(made, (), (), checked.others_held, checked.loaded.region)
        written = place(source.folder, people)
        run = FilesSource(folder).load_for_run(today, (made.code,), state, {})
        planned = plan_netbox(run, source.settings(), state, today, partners=(made.code,),
                              from_netbox=True)
        results = push(planned, list(planned.section.changes), state, target)
    return Onboarded(made, (), tuple(written), checked.others_held, checked.loaded.region,
                     tuple(results))


def _files_of(request: Onboarding) -> list[str]:
    code = request.code
    return [f"partners/{code}.yaml", f"people/{code}.csv",
            *([f"devices/{code}.csv"] if request.devices is not None else [])]


def _refuse_existing(root: Path, code: str, rels: list[str], where: str) -> None:
    """OnboardError when the partner, or a file it would get, is there already."""
    if not valid_code(code):
        return  # no such file can be there; `new_partner` names the code's problem
    found = taken(root, rels)
    if not found:
        return
    if any(rel.startswith("partners/") for rel in found):
        raise OnboardError(
            f"partner {code!r} exists already in {where}: onboarding never overwrites a "
            f"partner. Change its files (or its NetBox objects) instead, or onboard under "
            f"another code")
    raise OnboardError(
        f"{', '.join(found)} exists already in {where}, though no partner {code!r} does: "
        "onboarding writes nothing over it. Move it away (it may be left from an earlier "
        "partner), then run again")
