"""The audit log's hash chain: each line carries the SHA-256 of the line before it.

An entry holds `"prev": "<64 hex>"`, the digest of the previous line's bytes (without its line
end); the first line ever holds 64 zeros. A line edited, removed or put in between breaks the
link of the line after it; lines cut off at the end are found by the head file next to the log
(`audit.head`: how many lines the log had and the digest of the last one), which every append
rewrites. Lines written before the chain existed (by an earlier version) have no link: they are
reported as unchained, and the chain begins after them.

Appends go through `append_chained`, under a lock on the log itself (`flock`), so threads and
processes writing at once still make one chain. `verify_chain` is pure: lines in, findings out.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
HEAD_SUFFIX = ".head"
_TAIL_CHUNK = 65536
_HEAD_SIZE = 128
_lock = threading.Lock()  # the threads of one process; `flock` orders the processes


def digest(line: bytes) -> str:
    """The link to a line: SHA-256 of its bytes, without the line end."""
    return hashlib.sha256(line).hexdigest()


def append_chained(path: Path, fd: int, entry: Mapping[str, Any]) -> None:
    """Append `entry` as one JSON line to the open log `fd` (O_APPEND), linked to the line
    before it, and rewrite the head file.

    Args:
        path: the log (the head file is `path` + ".head").
        fd: the log opened for appending; the caller closes it.
        entry: the entry without its link; "prev" is added here.
    """
    with _lock:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                os.write(fd, b"\n")  # a line cut off by a crash stays a (damaged) line
                size += 1
            lines, last = _lines_and_last(fd, size)
            prev = digest(last) if last is not None else GENESIS
            line = json.dumps({**entry, "prev": prev}, ensure_ascii=False).encode()
            os.write(fd, line + b"\n")
            _known[os.fstat(fd).st_ino] = (size + len(line) + 1, lines + 1)
            _write_head(path, lines + 1, digest(line))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


# inode -> (size, lines) after this process's last append: the log is counted once per run,
# and again only where another process appended since
_known: dict[int, tuple[int, int]] = {}


def _lines_and_last(fd: int, size: int) -> tuple[int, bytes | None]:
    """How many lines a log of `size` bytes ending in a line end has, and its last line."""
    if size == 0:
        return 0, None
    end, tail, chunk = size - 1, b"", 4096  # the last line end is not part of the last line
    while True:  # an entry is a few hundred bytes; one holding a long message takes more reads
        start = max(0, end - chunk)
        tail = os.pread(fd, end - start, start) + tail
        cut = tail.rfind(b"\n")
        if cut >= 0 or start == 0:
            last = tail[cut + 1:]
            break
        end, chunk = start, min(chunk * 4, _TAIL_CHUNK)
    known_size, lines = _known.get(os.fstat(fd).st_ino, (0, 0))
    if known_size > size:
        known_size, lines = 0, 0  # the log was cut since: count it again
    offset = known_size
    while offset < size:
        block = os.pread(fd, min(1 << 20, size - offset), offset)
        lines += block.count(b"\n")
        offset += len(block)
    return lines, last


def _write_head(path: Path, lines: int, last: str) -> None:
    head = Path(str(path) + HEAD_SUFFIX)
    # Always the same length, written over itself: no truncation (that is what costs).
    data = json.dumps({"lines": lines, "last": last}).encode().ljust(_HEAD_SIZE - 1) + b"\n"
    fd = os.open(head, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        os.pwrite(fd, data, 0)
        if os.fstat(fd).st_size != _HEAD_SIZE:  # new, or not ours
            os.ftruncate(fd, _HEAD_SIZE)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class ChainFinding:
    """What `verify_chain` found wrong at one line of the log (1-based)."""

    line: int
    problem: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    lines: int  # lines in the log
    chained: int  # lines that carry a link
    unchained: int  # lines before the chain began (written by an earlier version)
    findings: tuple[ChainFinding, ...]

    @property
    def intact(self) -> bool:
        return not self.findings


def verify_chain(lines: Iterable[bytes], head: Mapping[str, Any] | None) -> ChainReport:
    """Check every link of the log's lines (without line ends) and the head (pure).

    Args:
        lines: the log's lines in order.
        head: the head file's content, None when there is none.
    """
    findings: list[ChainFinding] = []
    previous: bytes | None = None
    count = chained = unchained = 0
    for number, line in enumerate(lines, start=1):
        count = number
        prev = _link(line)
        if prev is None:
            if chained:
                findings.append(ChainFinding(number, "no link to the line before it: put in "
                                                     "by hand, or cut off by a crash"))
            else:
                unchained += 1
        else:
            chained += 1
            want = digest(previous) if previous is not None else GENESIS
            if prev != want:
                findings.append(ChainFinding(number, (
                    "does not follow the line before it: that line was changed, or lines "
                    "between them were removed") if previous is not None else
                    "the first line links to a line before it: lines at the start were "
                    "removed"))
        previous = line
    if chained and head is None:
        findings.append(ChainFinding(count, "the head file (audit.jsonl.head) is missing: "
                                            "lines at the end may have been removed"))
    elif head is not None:
        findings += _head_findings(head, count, previous)
    return ChainReport(count, chained, unchained, tuple(findings))


def _head_findings(head: Mapping[str, Any], count: int,
                   last: bytes | None) -> list[ChainFinding]:
    lines, want = head.get("lines"), head.get("last")
    if not isinstance(lines, int) or not isinstance(want, str):
        return [ChainFinding(count, "the head file is damaged: lines at the end cannot be "
                                    "checked")]
    if lines > count:
        return [ChainFinding(count, f"the head says the log had {lines:,} lines; it has "
                                    f"{count:,}: lines at the end were removed")]
    if lines == count and (last is None or digest(last) != want):
        return [ChainFinding(count, "the last line is not the one the head recorded: it was "
                                    "changed")]
    return []  # more lines than the head: a run that stopped between its append and the head


def _link(line: bytes) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    prev = entry.get("prev") if isinstance(entry, dict) else None
    return prev if isinstance(prev, str) else None


def read_head(path: Path) -> dict[str, Any] | None:
    """The head file of the log at `path`; None when there is none or it is no JSON object."""
    try:
        data = json.loads(Path(str(path) + HEAD_SUFFIX).read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
