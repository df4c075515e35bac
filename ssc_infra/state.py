"""The state directory: run lock, audit log, credentials files, saved reports.

Default `./.ssc/` (git-ignored). Everything here is append-only or created fresh; passwords go
only to credentials files with mode 0600, never to the audit log.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import getpass
import json
import os
import secrets
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from ssc_infra.errors import SscError


class LockedError(SscError):
    """Another run holds the lock."""


def operator() -> str:
    """Who runs the tool: user@host, for the audit log and the lock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StateDir:
    path: Path

    def ensure(self) -> Path:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.path

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
        handle = path.open("a+", encoding="utf-8")
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
        """Append one JSON line; flushed at once so a crash loses nothing already done."""
        self.ensure()
        line = json.dumps({"time": now(), "operator": operator(), **entry}, ensure_ascii=False)
        with self.audit_log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    @contextlib.contextmanager
    def credentials(self, run_id: str) -> Iterator[CredentialsFile]:
        """A new 0600 credentials file for this run's initial passwords."""
        folder = self.ensure() / "credentials"
        folder.mkdir(exist_ok=True, mode=0o700)
        path = folder / f"{run_id}.csv"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            file = CredentialsFile(path, handle)
            yield file
        if file.count == 0:
            path.unlink()


class CredentialsFile:
    """Initial passwords, one line per new account, each flushed to disk as it is written.

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
        self._writer.writerow([partner, employee_id, sam, upn, password])
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
