"""The state directory: run lock, audit log, credentials files, saved reports.

Default `./.ssc/` (git-ignored). Everything here is append-only or created fresh; passwords go
only to credentials files, never to the audit log. The folder holds personal data (HR copies,
plans with names, initial passwords), so it is 0700 with every folder below it, and every file
the tool writes in it is created 0600: use `private_dir`, `write_private` and `open_private`,
never `Path.write_text` or `mkdir` with the process umask.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import getpass
import os
import secrets
import shlex
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ssc_infra.core.errors import SscError
from ssc_infra.state.chain import append_chained


class LockedError(SscError):
    """Another run holds the lock."""


class StateError(SscError):
    """A folder or file in the state directory cannot be made private."""


ORIGIN_MAX = 500
DIR_MODE = 0o700
FILE_MODE = 0o600
# Folders below the state dir whose modes belong to something else: the lab DC's own tree (Samba
# insists on its modes, e.g. 0750 for ldap_priv) and the lab hosts' file trees (their modes are
# managed state). The state dir's own 0700 keeps them private all the same.
FOREIGN = ("lab",)


def private_dir(path: Path) -> Path:
    """The folder `path`, mode 0700 whatever the umask: created so (missing parents too, each
    0700), or tightened when it exists with a looser mode. For folders of the state dir only.

    Args:
        path: the folder.

    Returns:
        path, for chaining.

    Raises:
        StateError: the folder cannot be made or tightened (not ours, read-only, a file).
    """
    _make_missing(path)
    try:
        if path.stat().st_mode & 0o777 != DIR_MODE:
            path.chmod(DIR_MODE)
    except OSError as e:
        raise StateError(
            f"cannot make {path} a private folder (0700): {e.strerror}. Check that it belongs "
            "to the user running ssc-infra, or pass another --state-dir"
        ) from e
    return path


def _make_missing(path: Path) -> None:
    """Create `path` and its missing parents, each exactly 0700; existing folders stay as they
    are (a plan file written next to the inventory must not close the user's own folder)."""
    try:
        missing = [p for p in (path, *path.parents) if not p.exists()]
        for folder in reversed(missing):
            with contextlib.suppress(FileExistsError):  # a concurrent run made it first
                folder.mkdir(mode=DIR_MODE)
                folder.chmod(DIR_MODE)  # mkdir's mode went through the umask
        if not path.is_dir():
            raise StateError(f"{path} is not a folder; move it away, the state dir needs it")
    except OSError as e:
        raise StateError(f"cannot make the folder {path}: {e.strerror}") from e


def open_private(path: Path, append: bool = False) -> IO[str]:
    """Open a file for writing, created 0600 (an existing one is tightened to 0600 before
    anything is written); missing folders are made 0700.

    Args:
        path: the file.
        append: append to it (the audit log) instead of truncating it.
    """
    _make_missing(path.parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW, FILE_MODE)
    except OSError as e:
        raise StateError(f"cannot open {path} for writing: {e.strerror}") from e
    return _private_handle(fd, "a" if append else "w")


def write_private(path: Path, data: str | bytes) -> Path:
    """Write a whole file atomically with mode 0600: a temporary file in the same folder,
    created 0600, written and synced, then renamed over `path`. A reader sees the old content or
    the new one, never a part; nobody else ever sees either. Missing folders are made 0700; an
    existing one keeps its mode (the state dir's are tightened by `StateDir.ensure`).

    Args:
        path: the file; in the state dir, or wherever an operator asked (`plan --out`).
        data: text (written as UTF-8) or bytes (`write_private(dst, src.read_bytes())` copies).

    Returns:
        path, for chaining.
    """
    _make_missing(path.parent)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)  # exact, whatever the umask; before any data is in it
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except OSError as e:
        with contextlib.suppress(OSError):
            Path(tmp).unlink()
        raise StateError(f"cannot write {path}: {e.strerror}") from e
    _sync_folder(path.parent)
    return path


def tighten(root: Path) -> Path:
    """Make `root` and every folder below it 0700, whatever the umask, except the FOREIGN ones.

    Files keep their modes: the tool creates its own 0600; a looser one was written by an older
    version and is tightened before it is next written. The walk is cheap (the runner keeps three
    artifact folders, bundles are pruned), so every run repeats it.
    """
    private_dir(root)
    try:
        for folder, dirs, _files in os.walk(root):
            here = Path(folder)
            if here == root:
                dirs[:] = [d for d in dirs if d not in FOREIGN]
            for name in dirs:
                child = here / name
                if not child.is_symlink() and child.stat().st_mode & 0o777 != DIR_MODE:
                    child.chmod(DIR_MODE)
    except OSError as e:
        raise StateError(
            f"cannot make the folders in {root} private (0700): {e.strerror} ({e.filename}). "
            "Check that they belong to the user running ssc-infra"
        ) from e
    return root


# A cell starting with one of these is a formula (or becomes one) in Excel, LibreOffice and
# Google Sheets; the full-width forms are read as formulas by some locales' spreadsheets too.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def csv_cell(value: str) -> str:
    """A value safe to put in a CSV that someone opens in a spreadsheet: one that would start a
    formula gets a leading `'` (OWASP's advice for CSV injection), which spreadsheets show as
    text and do not display. Names come from HR exports: `=HYPERLINK(...)` is data, not code.
    """
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def csv_row(values: Iterable[object]) -> list[str]:
    """Every cell of a row through `csv_cell`; for every CSV the tool writes."""
    return [csv_cell(str(v)) for v in values]


def _private_handle(fd: int, mode: str) -> IO[str]:
    try:
        if os.fstat(fd).st_mode & 0o777 != FILE_MODE:
            os.fchmod(fd, FILE_MODE)  # created through the umask, or left loose by an old run
        return os.fdopen(fd, mode, encoding="utf-8", newline="")
    except OSError:
        os.close(fd)
        raise


def _sync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder: no harm
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def operator() -> str:
    """Who runs the tool: user@host, for the audit log and the lock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


@functools.cache
def origin() -> str:
    """The command line this process runs, as an audit line names it (at most 500
    characters): `ssc-infra apply today.plan.json`."""
    words = [Path(sys.argv[0]).name if sys.argv else "?", *sys.argv[1:]]
    text = shlex.join(words)
    return text if len(text) <= ORIGIN_MAX else text[:ORIGIN_MAX - 3] + "..."


@functools.cache
def _host() -> str:
    return socket.gethostname()


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StateDir:
    path: Path

    def ensure(self) -> Path:
        """The state dir, 0700 with every folder below it (see `tighten`)."""
        return tighten(self.path)

    @property
    def audit_log(self) -> Path:
        return self.path / "audit.jsonl"

    @property
    def reports(self) -> Path:
        return self.path / "reports"

    @contextlib.contextmanager
    def run_lock(self, command: str) -> Iterator[None]:
        """Hold the run lock; a second concurrent apply fails at once, naming the holder."""
        self.ensure()
        path = self.path / "run.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, FILE_MODE)
            handle = _private_handle(fd, "r+")
        except OSError as e:
            raise StateError(f"cannot open the run lock {path}: {e.strerror}") from e
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise LockedError(
                    f"another run holds {path}: {holder}. Wait for it to finish; if it died, "
                    "the lock is released with its process"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}, {operator()}, `{command}`, since {now()}\n")
            handle.flush()
            yield
        finally:
            handle.close()

    def audit(self, entry: Mapping[str, Any]) -> None:
        """Append one JSON line (the log is 0600), linked to the line before it (`chain`);
        written at once so a crash loses nothing already done.

        Every line says when (`time`, UTC), who (`operator`: user@host), from where (`host`,
        and `origin`: the command line) and the entry's own fields: action, object, result.
        """
        _make_missing(self.audit_log.parent)
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
        try:  # read and write: the chain reads the last line back
            handle = _private_handle(os.open(self.audit_log, flags, FILE_MODE), "a")
        except OSError as e:
            raise StateError(f"cannot open {self.audit_log} for writing: {e.strerror}") from e
        with handle:
            append_chained(self.audit_log, handle.fileno(), {
                "time": now(), "operator": operator(), "host": _host(),
                "origin": origin(), **entry})

    @contextlib.contextmanager
    def credentials(self, run_id: str) -> Iterator[CredentialsFile]:
        """A new 0600 credentials file for this run's initial passwords."""
        folder = self.ensure() / "credentials"
        private_dir(folder)
        path = folder / f"{run_id}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            file = CredentialsFile(path, handle)
            yield file
        if file.count == 0:
            path.unlink()


class CredentialsFile:
    """Initial passwords, one line per new account, each flushed to disk as it is written.

    Every cell goes through `csv_cell`: an operator opens this file in a spreadsheet.

    A line is written before the account is created or its password reset (write-ahead),
    so a crash never leaves an account whose password nobody has. When the DC then refuses
    the account, its line stays and names an account that does not exist: harmless, the
    next run makes the account with a new password on a new line. Of several lines for one
    account, the last one written is the password it has.
    """

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._handle = handle
        self._writer = csv.writer(handle)
        self._writer.writerow(["partner", "employee_id", "sam", "upn", "initial_password"])
        self.count = 0

    def add(self, partner: str, employee_id: str, sam: str, upn: str, password: str) -> None:
        self._writer.writerow(csv_row([partner, employee_id, sam, upn, password]))
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.count += 1


def recorded_passwords(state_dir: Path) -> frozenset[tuple[str, str]]:
    """The (partner, employee id) of every account with a password in a credentials file.

    Reads every `credentials/*.csv` of the state dir; the plan gives a new password to an
    account that must still set its first one and is not among these.
    """
    folder = state_dir / "credentials"
    found: set[tuple[str, str]] = set()
    if not folder.is_dir():
        return frozenset()
    for path in sorted(folder.glob("*.csv")):
        try:
            with path.open(encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    if row.get("partner") and row.get("employee_id") and \
                            row.get("initial_password"):
                        found.add((row["partner"], row["employee_id"]))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise SscError(
                f"cannot read the credentials file {path}: {e}. Without it the plan cannot tell "
                "which accounts have a recorded password; fix its permissions or move it away"
            ) from e
    return frozenset(found)


def run_id() -> str:
    """A sortable, unique id for one run: UTC time, pid, and a little randomness."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}-{os.getpid()}-{secrets.token_hex(2)}"
