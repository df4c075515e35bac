"""The name ledger: every account name handed out, kept so that nobody is renamed later.

The naming policy settles collisions region-wide, earliest starter first. The directory holds
the names of hybrid partners' accounts, so those are kept from run to run; but cloud partners'
people have no AD account, and `desired` and `render` read no directory at all. Without a
record their names were made afresh each run, and a new partner or an earlier starter took a
name first: ahiemstra became ahiemstra5 in the VDI file.

The ledger (`STATE/names.json`, personal data: 0600, written atomically) keeps, per person
(partner, employee id), the sAMAccountName (also the mail nickname), the UPN local part and
the date the name was first given. It is written after each apply (`record_names`) and comes
before the policy (`kept_names` offline, `merge_names` with the directory): a kept name is
never given to anyone else, even after its holder left, until `forget_names` purges it. For
hybrid partners the directory stays the truth; where the two disagree the directory wins and
the disagreement is reported as a `NameConflict`.

The file is read as untrusted input: a kept name ends up in smb.conf, the VDI file and AD, so
every field is checked against the pattern the tool itself writes.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ssc_infra.core.desired import DesiredState
from ssc_infra.core.errors import SscError
from ssc_infra.core.model import PersonKey, Region
from ssc_infra.core.naming import UPN_LOCAL_MAX, ExistingName

FILE = "names.json"
PREVIOUS = "names.json.1"  # the ledger before the last write: what to restore from
VERSION = 1
MAX_BYTES = 64 * 1024 * 1024  # ~400 bytes a person: far beyond any region

_CODE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")  # as the inventory's partner codes
# An employee id is only ever compared with the HR export's: any text without control
# characters or surrounding blanks, as long as an HR system makes them.
_EMPLOYEE_ID = re.compile(r"[^\x00-\x20\x7f-\x9f]([^\x00-\x1f\x7f-\x9f]{0,62}"
                          r"[^\x00-\x20\x7f-\x9f])?")
_SAM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,19}")
_UPN_LOCAL = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{UPN_LOCAL_MAX - 1}}}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_FIELDS = ("partner", "employee_id", "sam", "upn_local", "since")


class LedgerError(SscError):
    """The name ledger cannot be read or written; the message names the file."""


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """The names one person was given, and since when."""

    partner: str
    employee_id: str
    sam: str  # sAMAccountName, also the mail nickname
    upn_local: str  # the UPN before the @; the suffix is the partner's
    since: date

    @property
    def key(self) -> PersonKey:
        return (self.partner, self.employee_id)

    def upn(self, suffix: str) -> str:
        return f"{self.upn_local}@{suffix}"


@dataclass(frozen=True)
class Ledger:
    """The kept names, one entry per person; `path` is where they came from (for messages)."""

    path: Path
    entries: tuple[LedgerEntry, ...] = ()
    _by_key: dict[PersonKey, LedgerEntry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key", {e.key: e for e in self.entries})

    def get(self, key: PersonKey) -> LedgerEntry | None:
        return self._by_key.get(key)

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class NameConflict:
    """A name the ledger keeps that the directory gives to someone else, or changed."""

    key: PersonKey
    kept: str  # the ledger's sAMAccountName
    directory: str  # what the directory holds instead, or who holds the kept name
    path: Path

    def __str__(self) -> str:
        partner, employee_id = self.key
        return (f"{partner}/{employee_id}: the name ledger {self.path} keeps {self.kept!r}, "
                f"but {self.directory}; the directory wins. If the directory is wrong, rename "
                "the account back; otherwise nothing to do: the next apply records it")


@dataclass(frozen=True, slots=True)
class MergedNames:
    """The names the policy must keep: the directory's, then the ledger's that do not clash."""

    existing: dict[PersonKey, ExistingName]
    conflicts: tuple[NameConflict, ...]


# -- pure: the ledger and the directory -------------------------------------------------


def kept_names(ledger: Ledger, region: Region) -> dict[PersonKey, ExistingName]:
    """The ledger's names as the naming policy takes them, for runs without a directory.

    Every entry counts, also of people gone from the HR export: their names stay taken. The
    UPN is the local part at the partner's suffix; a partner gone from the region keeps only
    its logon names taken.
    """
    suffixes = {p.code: p.upn_suffix for p in region.partners}
    return {e.key: ExistingName(e.sam, e.upn(suffixes[e.partner]) if e.partner in suffixes
                                else None)
            for e in ledger.entries}


def merge_names(
    ledger: Ledger,
    region: Region,
    directory: Mapping[PersonKey, ExistingName],
    reserved: Iterable[str] = (),
    reserved_upns: Iterable[str] = (),
) -> MergedNames:
    """The directory's names, then the ledger's names that the directory does not contradict.

    Args:
        ledger: the kept names.
        region: the inventory (who is a current person, each partner's UPN suffix).
        directory: the names of managed accounts, as `plan.directory_names` gives them.
        reserved: sAMAccountNames of objects the tool does not manage.
        reserved_upns: UPNs of objects the tool does not manage.

    Returns:
        The names to keep, and a conflict for each current person whose kept name the
        directory contradicts (an entry of someone who left is dropped without a word: its
        name moved with an account, or went to an object made by hand).
    """
    existing = dict(directory)
    held_sams = {n.lower() for n in reserved} | {e.sam.lower() for e in directory.values()}
    held_upns = {u.lower() for u in reserved_upns} | {e.upn.lower() for e in directory.values()
                                                       if e.upn}
    holders = {e.sam.lower(): key for key, e in directory.items()}
    current = {p.key for partner in region.partners for p in partner.people}
    kept = kept_names(ledger, region)
    conflicts: list[NameConflict] = []
    for entry in ledger.entries:
        key, name = entry.key, kept[entry.key]
        held = directory.get(key)
        if held is not None:
            if held.sam.lower() != entry.sam.lower():
                conflicts.append(NameConflict(key, entry.sam, f"its account in the directory "
                                              f"is {held.sam!r}", ledger.path))
            continue
        clash = entry.sam.lower() in held_sams or (name.upn or "").lower() in held_upns
        if clash:
            if key in current:
                holder = holders.get(entry.sam.lower())
                who = (f"the directory gives it to {holder[0]}/{holder[1]}" if holder else
                       "an object in the directory that the tool does not manage holds it")
                conflicts.append(NameConflict(key, entry.sam, who, ledger.path))
            continue
        existing[key] = name
        held_sams.add(entry.sam.lower())
        if name.upn:
            held_upns.add(name.upn.lower())
    return MergedNames(existing, tuple(conflicts))


def ledger_after(ledger: Ledger, desired: DesiredState) -> Ledger:
    """The ledger with every account name of `desired` in it; entries of leavers stay.

    A person whose name changed (the directory won a conflict) gets the new name from today
    on; an entry whose name now belongs to someone else in `desired` is dropped, so no name
    is kept twice. Names the ledger cannot hold (an odd name made by hand in the directory)
    are left to the directory.
    """
    new: dict[PersonKey, LedgerEntry] = {}
    for partner in desired.partners:
        for account in partner.accounts:
            local = account.name.upn.rsplit("@", 1)[0]
            entry = LedgerEntry(account.partner, account.employee_id, account.name.sam, local,
                                desired.today)
            if _problem(entry) is not None:
                continue
            old = ledger.get(entry.key)
            if old is not None and (old.sam, old.upn_local) == (entry.sam, entry.upn_local):
                entry = old
            new[entry.key] = entry
    sams = {e.sam.lower() for e in new.values()}
    upns = {(e.partner, e.upn_local.lower()) for e in new.values()}
    for old in ledger.entries:
        if old.key not in new and old.sam.lower() not in sams and \
                (old.partner, old.upn_local.lower()) not in upns:
            new[old.key] = old
    return Ledger(ledger.path, tuple(sorted(new.values(), key=lambda e: e.key)))


# -- the file ---------------------------------------------------------------------------


def load_ledger(state_dir: Path) -> Ledger:
    """The kept names from STATE/names.json; empty before the first apply.

    Raises:
        LedgerError: the file is missing while its previous version is there, cannot be
            read, or holds anything but well-formed, unique names.
    """
    path = state_dir / FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        if (state_dir / PREVIOUS).exists():
            raise LedgerError(
                f"{path} is missing, but its previous version {state_dir / PREVIOUS} is "
                "there: without it, the names of cloud partners' people are made afresh and "
                f"may change. Restore it from a backup, or copy {PREVIOUS} to {FILE} (an "
                "apply since then records its names again); to start a new ledger on "
                f"purpose, remove {PREVIOUS} too") from None
        return Ledger(path)
    except OSError as e:
        raise LedgerError(f"{path}: cannot open the name ledger ({e.strerror or e}); it must "
                          "be a regular file readable by this user") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise LedgerError(f"{path}: the name ledger is not a regular file; replace it "
                              "with the ledger from a backup")
        raw = handle.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise LedgerError(f"{path}: the name ledger is larger than {MAX_BYTES // 2**20} MiB, "
                          "far more than any region needs; restore it from a backup")
    return Ledger(path, parse_ledger(raw, path))


def parse_ledger(raw: bytes, path: Path) -> tuple[LedgerEntry, ...]:
    """Check and parse the ledger's bytes: every entry well-formed, every name once."""
    restore = f"; restore {path.name} from a backup (or from {PREVIOUS} beside it)"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise LedgerError(f"{path}: the name ledger is not valid JSON ({e}){restore}") from None
    if not isinstance(data, dict) or set(data) != {"version", "names"}:
        raise LedgerError(f"{path}: the name ledger must be an object with `version` and "
                          f"`names`{restore}")
    if data["version"] != VERSION:
        raise LedgerError(f"{path}: name ledger version {str(data['version'])[:20]!r}, this "
                          f"tool reads version {VERSION}; use the ssc-infra release that wrote "
                          "it")
    if not isinstance(data["names"], list):
        raise LedgerError(f"{path}: `names` must be a list{restore}")
    entries: list[LedgerEntry] = []
    keys: set[PersonKey] = set()
    sams: dict[str, int] = {}
    upns: dict[tuple[str, str], int] = {}
    for index, item in enumerate(data["names"]):
        where = f"{path}: names[{index}]"
        entry = _entry(item, where, restore)
        if entry.key in keys:
            raise LedgerError(f"{where}: {entry.partner}/{entry.employee_id} is in the ledger "
                              f"twice{restore}")
        first = sams.setdefault(entry.sam.lower(), index)
        if first != index:
            raise LedgerError(f"{where}: the name {entry.sam!r} is kept for two people (also "
                              f"names[{first}]){restore}")
        first = upns.setdefault((entry.partner, entry.upn_local.lower()), index)
        if first != index:
            raise LedgerError(f"{where}: the UPN {entry.upn_local!r} of {entry.partner} is "
                              f"kept for two people (also names[{first}]){restore}")
        keys.add(entry.key)
        entries.append(entry)
    return tuple(entries)


def _entry(item: Any, where: str, restore: str) -> LedgerEntry:
    if not isinstance(item, dict) or set(item) != set(_FIELDS) or \
            not all(isinstance(v, str) for v in item.values()):
        raise LedgerError(f"{where}: an entry has exactly the text fields "
                          f"{', '.join(_FIELDS)}{restore}")
    since = _date(item["since"])
    if since is None:
        raise LedgerError(f"{where}: `since` {item['since'][:20]!r} is not a date "
                          f"(YYYY-MM-DD){restore}")
    entry = LedgerEntry(item["partner"], item["employee_id"], item["sam"], item["upn_local"],
                        since)
    problem = _problem(entry)
    if problem is not None:
        raise LedgerError(f"{where}: {problem}{restore}")
    return entry


def _date(text: str) -> date | None:
    if not _DATE.fullmatch(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _problem(entry: LedgerEntry) -> str | None:
    """What is wrong with an entry's fields, shown with the value cut short; None if fine."""
    checks = (("partner", entry.partner, _CODE), ("employee_id", entry.employee_id, _EMPLOYEE_ID),
              ("sam", entry.sam, _SAM), ("upn_local", entry.upn_local, _UPN_LOCAL))
    for name, value, pattern in checks:
        if not pattern.fullmatch(value):
            return f"`{name}` {value[:40]!r} is not a valid {name}"
    return None


def record_names(state_dir: Path, desired: DesiredState) -> Ledger:
    """Keep every name of `desired` in the ledger; call it after a successful apply.

    Raises:
        LedgerError: the ledger cannot be read or written.
    """
    ledger = ledger_after(load_ledger(state_dir), desired)
    _write(state_dir, ledger)
    return ledger


def forget_names(state_dir: Path, keys: Collection[PersonKey]) -> Ledger:
    """Drop these people's kept names (their accounts were purged); the names are free again.

    Raises:
        LedgerError: the ledger cannot be read or written.
    """
    ledger = load_ledger(state_dir)
    purged = set(keys)
    kept = Ledger(ledger.path, tuple(e for e in ledger.entries if e.key not in purged))
    if len(kept) != len(ledger):
        _write(state_dir, kept)
    return kept


def _write(state_dir: Path, ledger: Ledger) -> None:
    """Replace the file whole: 0600 temp file, fsync, rename, fsync the folder."""
    data = {"version": VERSION, "names": [
        {"partner": e.partner, "employee_id": e.employee_id, "sam": e.sam,
         "upn_local": e.upn_local, "since": e.since.isoformat()} for e in ledger.entries]}
    text = json.dumps(data, ensure_ascii=False, indent=0, sort_keys=True) + "\n"
    path = state_dir / FILE
    try:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=".names.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if path.is_file() and not path.is_symlink():
                (state_dir / PREVIOUS).unlink(missing_ok=True)
                (state_dir / PREVIOUS).hardlink_to(path)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        folder = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as e:
        raise LedgerError(f"{path}: cannot write the name ledger ({e.strerror or e}); the "
                          "names of this apply are not kept: free space or fix the "
                          "permissions of the state directory, then apply again") from e
