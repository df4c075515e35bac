"""Each partner's inventory files as the systems last got them: the files source's copies.

Every host file (smb.conf, wg0.conf, the DHCP and RADIUS configs, the VDI assignments) holds
all partners. A partner that is not applied in a run — held back by a guard or by a bad export,
or simply not asked for with `--partner` — must keep its part of those files exactly as last
applied. So at each apply the applied partners' own files (`partners/<code>.yaml` and its CSV
files) are copied here, with the day they were applied for; a partner that is not applied is
rendered from that copy. The copies live in the state directory (`STATE/applied-inventory/`,
the same relative paths as in the inventory), never in git, mode 0600.
"""

from __future__ import annotations

import contextlib
import csv
import json
import shutil
import tempfile
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from ssc_infra.core.model import Guards, PersonKey
from ssc_infra.sources import Kept
from ssc_infra.state.folder import write_private

FOLDER = "applied-inventory"
INDEX = "applied.json"  # partner -> {"today": the day applied for, "time": when}
ROW_LIMIT = 50 * 1024 * 1024  # a CSV larger than this is not counted (the loader refuses it)


def _inside(rel: str) -> bool:
    path = PurePosixPath(rel)
    return not path.is_absolute() and ".." not in path.parts


def partner_files(code: str, data_files: Mapping[str, Collection[str]]) -> tuple[str, ...]:
    """A partner's own inventory files: its partner file and its HR export and device list."""
    return (f"partners/{code}.yaml", *data_files.get(code, ()))


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


def usable_copies(data_files: Mapping[str, Collection[str]], state: Path) -> dict[str, Kept]:
    """Every partner whose files were kept whole, and when."""
    found: dict[str, Kept] = {}
    for code in data_files:
        found.update(kept_copies(data_files, [code], state) or {})
    return found


def kept_since(data_files: Mapping[str, Collection[str]], partners: Collection[str],
               state: Path) -> datetime | None:
    """When these partners' files were last kept (the oldest); None if one is missing."""
    found = kept_copies(data_files, partners, state)
    if not found:
        return None
    return min(k.time for k in found.values())


def ever_applied(state: Path) -> frozenset[str] | None:
    """The partners applied at least once with this state dir; None when it cannot tell."""
    index = _read_index(state)
    return None if index is None else frozenset(index)


@contextlib.contextmanager
def combined(inventory: Path, data_files: Mapping[str, Collection[str]],
             partners: Collection[str], state: Path,
             leave_out: Collection[str] = ()) -> Iterator[Path | None]:
    """A temporary copy of the inventory, these partners' files taken from the kept copies.

    Args:
        leave_out: partners never applied: their partner file is left out (the hosts do not
            hold them yet).

    Yields:
        The folder, or None when a copy is missing for one of these partners.
    """
    if partners and kept_copies(data_files, partners, state) is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="ssc-applied-") as tmp:
        folder = Path(tmp) / "inventory"
        shutil.copytree(inventory, folder, ignore=shutil.ignore_patterns(".git"),
                        symlinks=True)
        for code in partners:
            for rel in partner_files(code, data_files):
                kept = state / FOLDER / rel
                if kept.is_file():
                    shutil.copyfile(kept, folder / rel)
        for code in leave_out:
            (folder / "partners" / f"{code}.yaml").unlink(missing_ok=True)
        yield folder


def kept_places(data_files: Mapping[str, Collection[str]], partners: Collection[str],
                state: Path) -> dict[PersonKey, tuple[str, str, str, str]]:
    """Each person's department, job title, site and workplace in these partners' HR exports
    as last applied, by key: where the plan's movers come from (`core.movers`).

    Read as data, never trusted: a partner whose copy is missing, too large or not in the
    inventory's columns gives nobody, and a value too long or unprintable is left out.
    """
    found: dict[PersonKey, tuple[str, str, str, str]] = {}
    for code in partners:
        rels = [rel for rel in data_files.get(code, ()) if _inside(rel)]
        if not rels:
            continue
        path = state / FOLDER / rels[0]  # the HR export comes first (`files._load`)
        try:
            if not path.is_file() or path.stat().st_size > ROW_LIMIT:
                continue
            with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
                rows = csv.DictReader(handle)
                if not set(_PLACE) <= set(rows.fieldnames or ()):
                    continue
                for row in rows:
                    eid, department, title, site, workplace = (
                        str(row.get(c) or "").strip() for c in _PLACE)
                    values = (department, title, site, workplace)
                    if all(len(v) <= _VALUE_MAX and v.isprintable() for v in (eid, *values)):
                        found[(code, eid)] = values
        except (OSError, csv.Error):
            continue
    return found


_PLACE = ("employee_id", "department", "job_title", "site", "workplace")
_VALUE_MAX = 128  # the longest inventory value of these (a job title)


# -- exports that shrank ---------------------------------------------------------------


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
                   guards: Guards, allow: Mapping[str, int], state: Path,
                   moved: Mapping[str, int] | None = None) -> dict[str, RowsLost]:
    """The partners whose HR export or device list lost more rows than the guard allows.

    Counted against the copy as last applied, with the same limits as for disabling accounts
    (`max_disable`, `max_disable_fraction` of the rows as last applied); `--allow-disable
    PARTNER=N` raises the limit for one run. `moved`: per partner, the people who moved to
    another partner (moves.yaml): as many rows may go without counting.
    """
    moved = moved or {}
    from ssc_infra.core.plan import disable_limit

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
            if kept_rows - rows - moved.get(code, 0) > limit:
                found[code] = RowsLost(code, rel, rows, kept_rows, copies[code].time, limit)
                break
    return found
