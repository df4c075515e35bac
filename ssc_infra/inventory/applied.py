"""Each partner's inventory files as the systems last got them, and the inventory as plan,
apply and drift use it (`load_for_run`).

Every host file (smb.conf, wg0.conf, the DHCP and RADIUS configs, the VDI assignments) holds
all partners. A partner that is not applied in a run — held back by a guard or by a bad export,
or simply not asked for with `--partner` — must keep its part of those files exactly as last
applied. So at each apply the applied partners' own files (`partners/<code>.yaml` and its CSV
files) are copied here, with the day they were applied for; a partner that is not applied is
rendered from that copy. The copies live in the state directory (`STATE/applied-inventory/`,
the same relative paths as in the inventory), never in git, mode 0600.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from ssc_infra.errors import InventoryError, Problem
from ssc_infra.inventory.files import load, load_holding
from ssc_infra.model import Guards, Region
from ssc_infra.state import write_private

FOLDER = "applied-inventory"
INDEX = "applied.json"  # partner -> {"today": the day applied for, "time": when}
ROW_LIMIT = 50 * 1024 * 1024  # a CSV larger than this is not counted (the loader refuses it)


def _inside(rel: str) -> bool:
    path = PurePosixPath(rel)
    return not path.is_absolute() and ".." not in path.parts


def partner_files(code: str, data_files: Mapping[str, Collection[str]]) -> tuple[str, ...]:
    """A partner's own inventory files: its partner file and its HR export and device list."""
    return (f"partners/{code}.yaml", *data_files.get(code, ()))


@dataclass(frozen=True, slots=True)
class Kept:
    """A partner's files as last applied."""

    today: date  # the day the apply was for (who had left then)
    time: datetime  # when it was applied


def _read_index(state: Path) -> dict[str, Kept] | None:
    """The kept copies by partner; None when no index was ever written (an older state dir)."""
    path = state / FOLDER / INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {code: Kept(date.fromisoformat(entry["today"]),
                           datetime.fromisoformat(entry["time"]))
                for code, entry in data.items()}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}  # a damaged index trusts no copy: the hosts wait rather than guess


def remember(inventory: Path, data_files: Mapping[str, Collection[str]],
             partners: Collection[str], state: Path, today: date) -> None:
    """Keep these partners' files as the systems now have them (each file replaced whole).

    Call it only for the partners that were applied: a held partner keeps its older copy.
    """
    folder = state / FOLDER
    index = _read_index(state) or {}
    for code in partners:
        for rel in partner_files(code, data_files):
            if not _inside(rel) or not (inventory / rel).is_file():
                continue
            write_private(folder / rel, (inventory / rel).read_bytes())
        index[code] = Kept(today, datetime.now(UTC).replace(microsecond=0))
    data = {code: {"today": k.today.isoformat(), "time": k.time.isoformat()}
            for code, k in sorted(index.items())}
    write_private(folder / INDEX, (json.dumps(data, indent=1) + "\n").encode())


def kept_copies(data_files: Mapping[str, Collection[str]], partners: Collection[str],
                state: Path) -> dict[str, Kept] | None:
    """When these partners' files were kept; None if a copy is missing for one of them."""
    index = _read_index(state)
    found: dict[str, Kept] = {}
    for code in partners:
        rels = [rel for rel in data_files.get(code, ()) if _inside(rel)]
        if len(rels) != len(data_files.get(code, ())):
            return None
        if not all((state / FOLDER / rel).is_file() for rel in rels):
            return None
        if index is not None and code in index:
            found[code] = index[code]
        elif index is None and rels:  # kept before the index existed: the files' own time
            mtime = min((state / FOLDER / rel).stat().st_mtime for rel in rels)
            stamp = datetime.fromtimestamp(mtime, UTC)
            found[code] = Kept(stamp.date(), stamp)
        else:
            return None
    return found


def kept_since(data_files: Mapping[str, Collection[str]], partners: Collection[str],
               state: Path) -> datetime | None:
    """When these partners' files were last kept (the oldest); None if one is missing."""
    found = kept_copies(data_files, partners, state)
    if not found:
        return None
    return min(k.time for k in found.values())


def ever_applied(state: Path) -> set[str] | None:
    """The partners applied at least once with this state dir; None when it cannot tell."""
    index = _read_index(state)
    return None if index is None else set(index)


def with_applied(inventory: Path, data_files: Mapping[str, Collection[str]],
                 partners: Collection[str], state: Path, today: date,
                 leave_out: Collection[str] = ()) -> Region | None:
    """The whole region, these partners' files taken from the kept copies.

    Args:
        leave_out: partners never applied: left out of the region (the hosts do not hold
            them yet).

    Returns:
        None when a copy is missing or the combination does not load cleanly (say, the
        partner's file now names a site that was removed): then the hosts wait for the fix.
    """
    if partners and kept_copies(data_files, partners, state) is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ssc-applied-") as tmp:
        combined = Path(tmp) / "inventory"
        shutil.copytree(inventory, combined, ignore=shutil.ignore_patterns(".git"),
                        symlinks=True)
        for code in partners:
            for rel in partner_files(code, data_files):
                kept = state / FOLDER / rel
                if kept.is_file():
                    shutil.copyfile(kept, combined / rel)
        for code in leave_out:
            (combined / "partners" / f"{code}.yaml").unlink(missing_ok=True)
        try:
            return load(combined, today)
        except InventoryError:
            return None


# -- the inventory for a run ------------------------------------------------------------


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
    shrunk: dict[str, RowsLost] = field(default_factory=dict)  # held for lost rows


@dataclass(frozen=True, slots=True)
class RowsLost:
    """A partner's HR export that lost more rows than the guard allows since its last apply."""

    partner: str
    file: str
    rows: int  # data rows now
    kept_rows: int  # data rows in the copy as last applied
    kept: datetime
    limit: int

    def message(self) -> str:
        return (f"partner {self.partner}: {self.rows} rows, {self.kept_rows - self.rows} "
                f"fewer than as applied {self.kept:%Y-%m-%d %H:%M} UTC ({self.kept_rows}); "
                f"the guard allows {self.limit}. Is the export complete? If the departures are "
                f"real, "
                f"re-run with --allow-disable {self.partner}={self.kept_rows - self.rows}")


def count_rows(path: Path) -> int | None:
    """Data rows of a CSV (header not counted); None when it cannot be counted."""
    try:
        if not path.is_file() or path.stat().st_size > ROW_LIMIT:
            return None
        with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
            return max(0, sum(1 for row in csv.reader(handle) if any(c.strip() for c in row))
                       - 1)
    except (OSError, csv.Error):
        return None


def shrunk_exports(inventory: Path, data_files: Mapping[str, Collection[str]],
                   guards: Guards, allow: Mapping[str, int], state: Path) -> dict[str, RowsLost]:
    """The partners whose HR export or device list lost more rows than the guard allows.

    Counted against the copy as last applied, with the same limits as for disabling accounts
    (`max_disable`, `max_disable_fraction` of the rows as last applied); `--allow-disable
    PARTNER=N` raises the limit for one run.
    """
    from ssc_infra.plan import disable_limit

    found: dict[str, RowsLost] = {}
    copies = _read_index(state) or {}
    for code, rels in sorted(data_files.items()):
        if code not in copies:
            continue
        for rel in rels:
            if not _inside(rel):
                continue
            kept_rows = count_rows(state / FOLDER / rel)
            rows = count_rows(inventory / rel)
            if kept_rows is None or rows is None or rows >= kept_rows:
                continue
            limit = allow.get(code, disable_limit(guards, kept_rows))
            if kept_rows - rows > limit:
                found[code] = RowsLost(code, rel, rows, kept_rows, copies[code].time, limit)
                break
    return found


def load_for_run(inventory: Path, today: date, partners: Collection[str],
                 state: Path, allow_disable: Mapping[str, int] | None = None) -> RunInventory:
    """Load for a run over these partners (empty: all), holding back partners with bad data.

    A partner whose HR export lost more rows than the guard allows against its copy as last
    applied is held with one problem that says so, before its rows are looked at.

    Raises:
        InventoryError: as `load_holding`, and when every partner asked for is held.
    """
    loaded = load_holding(inventory, today)
    region0 = loaded.region
    shrunk = shrunk_exports(inventory, loaded.data_files, region0.guards, allow_disable or {},
                            state)
    held: dict[str, tuple[Problem, ...]] = dict(loaded.held)
    for code, lost in shrunk.items():  # one line, not a flood of row problems
        held[code] = (Problem(lost.file, 0, lost.message(), partner=code),)
    shown = {code: found for code, found in held.items() if not partners or code in partners}
    if partners and all(code in held for code in partners):
        raise InventoryError([p for found in shown.values() for p in found])
    going_on = tuple(code for code in partners if code not in held)
    if not held:
        return RunInventory(inventory, region0, going_on, {}, {}, False, None,
                            loaded.data_files)
    going_on = going_on or tuple(p.code for p in region0.partners if p.code not in held)
    region = with_applied(inventory, loaded.data_files, held, state, today) \
        if region0.hosts or shrunk else None
    if region is None and shrunk:
        # No usable copy: leave the shrunk partner out altogether, as a bad export is.
        region = _without(region0, shrunk)
        hosts_held = bool(region0.hosts)
        return RunInventory(inventory, region, going_on, held, shown, hosts_held, None,
                            loaded.data_files, shrunk)
    hosts_held = bool(region0.hosts) and region is None
    return RunInventory(inventory, region or region0, going_on, held, shown,
                        hosts_held, kept_since(loaded.data_files, held, state),
                        loaded.data_files, shrunk)


def _without(region: Region, partners: Collection[str]) -> Region:
    return dataclasses.replace(
        region, partners=tuple(p for p in region.partners if p.code not in partners))
