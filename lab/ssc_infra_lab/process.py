"""What every lab server needs of its processes: start one in the background, is one alive, stop
it, the end of its log, a secret file, and the cache directory its templates are kept in."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ssc_infra.core.errors import SscError

T = TypeVar("T")


def cache_dir() -> Path:
    """Where provisioned templates are kept: $SSC_CACHE_DIR, else ~/.cache/ssc-infra."""
    root = os.environ.get("SSC_CACHE_DIR") or Path.home() / ".cache" / "ssc-infra"
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def alive(pid: int) -> bool:
    """Is the process running (a zombie is not; a child of ours that ended is reaped)?"""
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap our own child, else a zombie lingers
        if waited == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def tail(path: Path, lines: int = 12) -> str:
    """The last lines of a log, on one line, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "(no log)"
    return " | ".join(text.splitlines()[-lines:])


def write_secret(path: Path, value: str) -> None:
    """Write `value`, exactly (`ldapadd -y` reads a password file whole), to a file only its
    owner may read (0600, even when it existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    path.chmod(0o600)


def is_loopback(address: str) -> bool:
    """Is `address` an IP address on loopback (127.0.0.0/8, ::1)? A lab server binds only there."""
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def stop_process(pid: int, timeout: float = 10.0) -> None:
    """End a lab server we started (SIGTERM; SIGKILL if it still runs after `timeout` seconds).
    One that has ended already is fine."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not alive(pid):
                return
            time.sleep(0.05)


def start_detached(command: Sequence[str], log: Path, ready: Callable[[], T | None],
                   timeout: float, what: str) -> T:
    """Start a lab server in a session of its own (it outlives the command that started it),
    its output appended to `log` (0600: it may name people), and wait until `ready()` finds
    it running.

    Raises:
        SscError: it ended, or was not ready within `timeout` seconds; the message ends with
            the end of its log.
    """
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while (found := ready()) is None:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SscError(f"{what} did not start: see {log} ({tail(log, 5)})")
        time.sleep(0.1)
    return found
