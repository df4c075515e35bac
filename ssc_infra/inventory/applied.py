"""The partners' HR exports and device lists as the workplace hosts last got them, and the
inventory as plan, apply and drift use it (`load_for_run`).

Every host file (smb.conf, wg0.conf, the DHCP and RADIUS configs, the VDI assignments) holds
all partners. When one partner's new export is bad, that partner is held back; to keep the
hosts going for everyone else, its part of those files is rendered from the copy kept here at
the last apply, so it stays exactly as deployed. The copies live in the state directory
(`STATE/applied-inventory/`, the same relative paths as in the inventory), never in git.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from ssc_infra.errors import InventoryError, Problem
from ssc_infra.inventory.files import load, load_holding
from ssc_infra.model import Region

FOLDER = "applied-inventory"


def _inside(rel: str) -> bool:
    path = PurePosixPath(rel)
    return not path.is_absolute() and ".." not in path.parts


def remember(inventory: Path, data_files: Mapping[str, Collection[str]],
             partners: Collection[str], state: Path) -> None:
    """Keep these partners' CSV files as the hosts now have them (each file replaced whole)."""
    folder = state / FOLDER
    for code in partners:
        for rel in data_files.get(code, ()):
            if not _inside(rel):
                continue
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".", suffix=".tmp")
            os.close(fd)
            shutil.copyfile(inventory / rel, tmp)
            Path(tmp).replace(target)


def kept_since(data_files: Mapping[str, Collection[str]], partners: Collection[str],
               state: Path) -> datetime | None:
    """When these partners' files were last kept (the oldest of them); None if one is missing."""
    times = []
    for code in partners:
        for rel in data_files.get(code, ()):
            path = state / FOLDER / rel
            if not _inside(rel) or not path.is_file():
                return None
            times.append(path.stat().st_mtime)
    return datetime.fromtimestamp(min(times), UTC) if times else None


def with_applied(inventory: Path, data_files: Mapping[str, Collection[str]],
                 partners: Collection[str], state: Path, today: date) -> Region | None:
    """The whole region, these partners' CSV files taken from the kept copies.

    None when a copy is missing or the combination does not load cleanly (say, the partner's
    file now names a site that was removed): then the hosts wait for the fix.
    """
    if kept_since(data_files, partners, state) is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ssc-applied-") as tmp:
        combined = Path(tmp) / "inventory"
        shutil.copytree(inventory, combined, ignore=shutil.ignore_patterns(".git"))
        for code in partners:
            for rel in data_files[code]:
                shutil.copyfile(state / FOLDER / rel, combined / rel)
        try:
            return load(combined, today)
        except InventoryError:
            return None


@dataclass(frozen=True)
class RunInventory:
    """The inventory as plan/apply/drift use it: a partner whose own data is bad is held."""

    path: Path
    region: Region  # held partners included with their data as last applied, where kept
    partners: tuple[str, ...]  # the partners to work on; empty: all
    held: dict[str, tuple[Problem, ...]]  # every held partner, with its problems
    shown: dict[str, tuple[Problem, ...]]  # the held partners this run was asked for
    hosts_held: bool  # no kept copy for a held partner: the host files wait for the fix
    kept: datetime | None  # when the held partners' kept copies were made
    data_files: dict[str, tuple[str, ...]]


def load_for_run(inventory: Path, today: date, partners: Collection[str],
                 state: Path) -> RunInventory:
    """Load for a run over these partners (empty: all), holding back partners with bad data.

    Raises:
        InventoryError: as `load_holding`, and when every partner asked for is held.
    """
    loaded = load_holding(inventory, today)
    shown = {code: found for code, found in loaded.held.items()
             if not partners or code in partners}
    if partners and all(code in loaded.held for code in partners):
        raise InventoryError([p for found in shown.values() for p in found])
    going_on = tuple(code for code in partners if code not in loaded.held)
    if not loaded.held:
        return RunInventory(inventory, loaded.region, going_on, {}, {}, False, None,
                            loaded.data_files)
    going_on = going_on or tuple(p.code for p in loaded.region.partners)
    region = with_applied(inventory, loaded.data_files, loaded.held, state, today) \
        if loaded.region.hosts else None
    hosts_held = bool(loaded.region.hosts) and region is None
    return RunInventory(inventory, region or loaded.region, going_on, loaded.held, shown,
                        hosts_held, kept_since(loaded.data_files, loaded.held, state),
                        loaded.data_files)
