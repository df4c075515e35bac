"""NetBox as the inventory source: sites, hosts, devices and partners from NetBox, people from
the HR exports in the inventory folder.

NetBox is read in bulk (a request per kind and page of 1,000) and written down as the
inventory's own documents, a snapshot folder in the state dir: region.yaml, a partner file
per tenant, a device list per tenant, and the partners' HR exports linked in. The files source
then loads that folder: the same checks, the same held partners, the same copies kept as
applied, whichever source the inventory came from. A problem names the NetBox object it is
about (with its page in the web UI) instead of the snapshot's file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import yaml

from ssc_infra.core.errors import BackendError, InventoryError, Problem, SscError
from ssc_infra.core.model import DATA_PATH_PATTERN, Region
from ssc_infra.core.plan import ObjectKind
from ssc_infra.netbox.client import NetBox, NetBoxSettings
from ssc_infra.netbox.objects import (
    DEVICE_COLUMNS,
    DEVICE_ROLES,
    LAN_INTERFACE,
    OWNER_TAG,
    Documents,
    infra_slug,
    inventory_documents,
)
from ssc_infra.sources import Loaded, RunInventory
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.located import CSV_MAX_BYTES
from ssc_infra.sources.moves import MOVES_FILE
from ssc_infra.state.folder import private_dir

SNAPSHOT = "netbox-inventory"
_DATA_PATH = re.compile(DATA_PATH_PATTERN)


@dataclass(frozen=True)
class Snapshot:
    folder: Path
    documents: Documents


def read_documents(netbox: NetBox, region: str | None) -> Documents:
    """The region's inventory documents, read from NetBox in bulk.

    Args:
        region: the tenant group's slug; None: the one group the tool made.

    Raises:
        BackendError: NetBox unreachable, the token refused, or no (single) region found.
    """
    if region:
        groups = netbox.read(ObjectKind.NB_TENANT_GROUP, slug=region)
    else:  # NetBox refuses a filter by a tag it does not have
        tags = netbox.read(ObjectKind.NB_TAG, slug=OWNER_TAG)
        groups = netbox.read(ObjectKind.NB_TENANT_GROUP, tag=OWNER_TAG) if tags else []
    if len(groups) != 1:
        found = ", ".join(sorted(str(g.get("slug")) for g in groups)) or "none"
        raise BackendError(
            f"NetBox at {netbox.base}: "
            + (f"no tenant group {region!r}" if region else
               f"not one tenant group tagged {OWNER_TAG} but: {found}")
            + "; set netbox.region in the target to the region's code, or push the inventory "
              "first with `ssc-infra netbox push`")
    group = groups[0]
    slug = str(group.get("slug"))
    tenants = netbox.read(ObjectKind.NB_TENANT, group_id=group["id"])
    sites = netbox.read(ObjectKind.NB_SITE, tenant_group_id=group["id"])
    infra = netbox.read(ObjectKind.NB_SITE, slug=infra_slug(slug))
    vlans = netbox.read(ObjectKind.NB_VLAN, tenant_group_id=group["id"])
    prefixes = netbox.read(ObjectKind.NB_PREFIX, tenant_group_id=group["id"])
    devices = netbox.read(ObjectKind.NB_DEVICE, tenant_group_id=group["id"],
                          role=sorted(DEVICE_ROLES.values()))
    hosts = netbox.read(ObjectKind.NB_DEVICE, site=infra_slug(slug)) if infra else []
    site_ids = [s["id"] for s in sites if isinstance(s.get("id"), int)]
    interfaces = netbox.read(ObjectKind.NB_INTERFACE, site_id=site_ids,
                             name=LAN_INTERFACE) if site_ids else []
    return inventory_documents(group, tenants, sites, vlans, prefixes, devices + hosts,
                               interfaces, netbox.base)


def write_snapshot(documents: Documents, inventory: Path, state: Path) -> Path:
    """The documents as an inventory folder in STATE/netbox-inventory, the HR exports (and
    moves.yaml, who moved between partners) linked.

    Written into a new folder and swapped in whole, so a reader never sees half of one.
    """
    root = private_dir(state)
    target = root / SNAPSHOT
    work = root / f".{SNAPSHOT}.new"
    shutil.rmtree(work, ignore_errors=True)
    private_dir(work)
    (work / "partners").mkdir(mode=0o700)
    (work / "devices").mkdir(mode=0o700)
    _write(work / "region.yaml", yaml.safe_dump(documents.region, sort_keys=True,
                                                allow_unicode=True))
    for code, doc in documents.partners.items():
        if not _DATA_PATH.fullmatch(code):
            continue  # not a partner code: NetBox's slug check lets no such one through
        _write(work / "partners" / f"{code}.yaml",
               yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(DEVICE_COLUMNS)
        for row in documents.devices.get(code, []):
            writer.writerow([row[c] for c in DEVICE_COLUMNS])
        _write(work / "devices" / f"{code}.csv", buffer.getvalue())
        people = doc.get("people")
        if isinstance(people, str) and _DATA_PATH.fullmatch(people):
            _link(inventory / people, work / people)
    _link(inventory / MOVES_FILE, work / MOVES_FILE)  # who moved to another partner
    old = root / f".{SNAPSHOT}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    work.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(text)
    path.chmod(0o600)


def _link(source: Path, copy: Path) -> None:
    """The HR export in the snapshot: a hard link, or a copy; nothing when it is no regular
    file (the loader then says the file is missing)."""
    try:
        info = source.lstat()
    except OSError:
        return
    if not stat.S_ISREG(info.st_mode) or info.st_size > CSV_MAX_BYTES:
        return
    copy.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.link(source, copy)
    except OSError:
        shutil.copyfile(source, copy)


@dataclass(frozen=True)
class NetBoxSource:
    """NetBox plus the inventory folder's HR exports, as an `InventorySource`."""

    folder: Path  # the inventory folder: the HR exports the tenants name (people/<code>.csv)
    settings: Callable[[], NetBoxSettings]  # read when first needed (the token)
    state: Path
    region: str | None = None

    def describe(self) -> str:
        try:
            return f"NetBox at {self.settings().url} (people from {self.folder})"
        except SscError:
            return f"NetBox (people from {self.folder})"

    def snapshot(self) -> Snapshot:
        netbox = NetBox(self.settings())
        documents = read_documents(netbox, self.region)
        return Snapshot(write_snapshot(documents, self.folder, self.state), documents)

    def load(self, today: date) -> Loaded:
        snap = self.snapshot()
        try:
            loaded = FilesSource(snap.folder).load(today)
        except InventoryError as e:
            raise InventoryError(_located(e.problems, snap, self.folder)) from None
        return replace(loaded, held={code: tuple(_located(list(found), snap, self.folder))
                                     for code, found in loaded.held.items()},
                       problems=tuple(_located(list(loaded.problems), snap, self.folder)))

    def load_for_run(self, today: date, partners: Collection[str], state: Path,
                     allow_disable: Mapping[str, int]) -> RunInventory:
        snap = self.snapshot()
        try:
            run = FilesSource(snap.folder).load_for_run(today, partners, state, allow_disable)
        except InventoryError as e:
            raise InventoryError(_located(e.problems, snap, self.folder)) from None
        return replace(run, held=self._held(run.held, snap), shown=self._held(run.shown, snap))

    def _held(self, held: Mapping[str, tuple[Problem, ...]],
              snap: Snapshot) -> dict[str, tuple[Problem, ...]]:
        return {code: tuple(_located(list(found), snap, self.folder))
                for code, found in held.items()}

    def with_applied(self, run: RunInventory, partners: Collection[str], state: Path,
                     today: date, leave_out: Collection[str] = ()) -> Region | None:
        return FilesSource(self.state / SNAPSHOT).with_applied(run, partners, state, today,
                                                               leave_out)

    def remember(self, run: RunInventory, partners: Collection[str], state: Path,
                 today: date) -> None:
        FilesSource(self.state / SNAPSHOT).remember(run, partners, state, today)


def _located(problems: list[Problem], snap: Snapshot, folder: Path) -> list[Problem]:
    """Problems of the snapshot's files told as the NetBox objects (or HR exports) they are."""
    out = []
    for p in problems:
        origin = snap.documents.origin.get((p.file, p.line)) or \
            snap.documents.origin.get((p.file, 0))
        if origin:
            out.append(Problem(origin, 0, p.message, p.hint, p.partner))
        elif not p.file.startswith(("partners/", "devices/", "region.yaml")):
            out.append(Problem(str(folder / p.file), p.line, p.message, p.hint, p.partner))
        else:
            out.append(p)
    return out


