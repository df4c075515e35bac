"""The partners' HR exports and device lists as the workplace hosts last got them.

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
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from ssc_infra.errors import InventoryError
from ssc_infra.inventory.files import load
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
