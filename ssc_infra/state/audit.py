"""Audit entries: one typed record per applied item, one run id per run.

`StateDir.audit` appends them as JSON lines (time and operator are added there); the audit
log never holds a password. Every backend's items are recorded alike, from their `ItemResult`.
`read_history` reads the log back as runs (`ssc-infra history`).
"""

from __future__ import annotations

import json
import os
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from ssc_infra.core.approval import Approved
from ssc_infra.core.errors import SscError
from ssc_infra.core.plan import ItemResult
from ssc_infra.state.chain import ChainReport, read_head, verify_chain

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one run did to one item, and how it went."""

    run: str  # the run id: every entry of one run shares it
    command: str  # plan, apply, drift
    target: str  # the targets-file entry
    partner: str  # the partner code ("" for region-wide items and shared host files)
    kind: str  # ou, group, account, members, file, homes, host (a host that failed)
    action: str  # create, update, move, enable, disable, archive, ...
    key: str  # partner/employee_id, a group name, host:path
    result: str  # ok, failed, refused
    dn: str = ""  # where the item is: a DN, a path on a host
    message: str = ""
    backend: str = "directory"  # directory, hosts
    planner: str = ""  # who made the plan applied (an apply of a saved plan: its maker)
    approvers: tuple[str, ...] = ()  # who approved it: "name (SHA256:key fingerprint)"

    @classmethod
    def of(cls, item: ItemResult, run: str, command: str, target: str) -> AuditEntry:
        c = item.change
        return cls(run=run, command=command, target=target, partner=c.partner,
                   kind=c.kind.value, action=c.action.value, key=c.key,
                   result="ok" if item.ok else "failed", dn=c.target, message=item.message,
                   backend=c.backend.value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def approved(self, approved: Approved | None) -> AuditEntry:
        """This entry with the apply's planner and approvers (BIO 8.15.01: the actor)."""
        if approved is None:
            return self
        return replace(self, planner=approved.planner, approvers=approved.approvers)


# -- reading the log back: the runs it records ---------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run as the audit log tells it: who, when, what, and how it went."""

    run: str
    started: str  # the time of its first entry (UTC, ISO 8601)
    ended: str  # of its last entry
    operators: tuple[str, ...]  # user@host
    commands: tuple[str, ...]  # apply, netbox push, ...
    targets: tuple[str, ...]
    partners: tuple[str, ...]  # the partners its items belong to ("" for shared items left out)
    backends: tuple[str, ...]
    actions: dict[str, int]  # action -> items, e.g. {"create": 12, "disable": 1}
    ok: int
    failed: int
    refused: int

    @property
    def items(self) -> int:
        return self.ok + self.failed + self.refused

    @property
    def result(self) -> str:
        """"ok", or how many items did not go through: "3 failed, 1 refused"."""
        bad = [f"{n:,} {word}" for n, word in ((self.failed, "failed"),
                                                (self.refused, "refused")) if n]
        return ", ".join(bad) if bad else "ok"


@dataclass(frozen=True, slots=True)
class DamagedLine:
    """A line of the audit log that is not an entry: reported by its number, never skipped
    in silence (a truncated last line after a crash, an edit by hand)."""

    line: int
    problem: str


@dataclass(frozen=True, slots=True)
class History:
    runs: tuple[RunRecord, ...]  # oldest first
    damaged: tuple[DamagedLine, ...]


class AuditLogError(SscError):
    """The audit log cannot be read at all (not a regular file, no permission)."""


def history_of(lines: Iterable[bytes]) -> History:
    """The runs of an audit log's lines (pure): entries grouped by their run id.

    Args:
        lines: the log's lines as bytes, in order (line numbers count from 1).
    """
    runs: dict[str, _RunBuilder] = {}
    damaged: list[DamagedLine] = []
    for number, raw in enumerate(lines, start=1):
        entry = _entry(raw)
        if isinstance(entry, str):
            damaged.append(DamagedLine(number, entry))
            continue
        run = str(entry["run"])
        runs.setdefault(run, _RunBuilder(run)).add(entry)
    records = sorted((b.record() for b in runs.values()), key=lambda r: (r.started, r.run))
    return History(tuple(records), tuple(damaged))


def verify_log(path: Path) -> ChainReport:
    """Check the hash chain of the audit log at `path` (`chain.verify_chain`): a line edited,
    removed or put in between, or lines cut off at the end, are findings, each with its line.

    Raises:
        AuditLogError: the log exists but cannot be read.
    """
    return _read_lines(path, lambda lines: verify_chain(lines, read_head(path)),
                       verify_chain((), read_head(path)))


def read_history(path: Path) -> History:
    """The runs recorded in the audit log at `path`; an empty history when there is none yet.

    The log is read line by line (it grows by thousands of lines per apply), and only when it
    is a regular file: a FIFO or a device there never hangs the command.

    Raises:
        AuditLogError: the log exists but cannot be read.
    """
    return _read_lines(path, history_of, History((), ()))


def _read_lines(path: Path, use: Callable[[Iterator[bytes]], T], absent: T) -> T:
    """`use` of the log's lines (without line ends); `absent` when there is no log yet."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return absent
    except OSError as e:
        raise AuditLogError(f"cannot read the audit log {path}: {e.strerror}") from e
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AuditLogError(f"{path} is not a regular file; the audit log must be one "
                                "(move what is there away)")
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return use(line.rstrip(b"\n") for line in handle)
    except OSError as e:
        raise AuditLogError(f"cannot read the audit log {path}: {e.strerror}") from e
    finally:
        os.close(fd)


def _entry(raw: bytes) -> dict[str, Any] | str:
    """One line as an entry, or what is wrong with it."""
    if not raw.strip():
        return "an empty line"
    try:
        entry = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return f"not UTF-8 (byte {e.start})"
    except json.JSONDecodeError as e:
        return f"not JSON ({e.msg} at column {e.colno}); cut off by a crash, or edited by hand"
    if not isinstance(entry, dict):
        return "not a JSON object"
    for name in ("run", "time"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            return f"no {name!r} field"
    return entry


class _RunBuilder:
    """The entries of one run, gathered while the log is read."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.times: list[str] = []
        self.sets: dict[str, set[str]] = {name: set() for name in _SETS}
        self.actions: Counter[str] = Counter()
        self.results: Counter[str] = Counter()

    def add(self, entry: dict[str, Any]) -> None:
        self.times.append(str(entry["time"]))
        for name, field in _SETS.items():
            value = entry.get(field)
            if isinstance(value, str) and value:
                self.sets[name].add(value)
        self.actions[str(entry.get("action") or "?")] += 1
        self.results[str(entry.get("result") or "?")] += 1

    def record(self) -> RunRecord:
        s = self.sets
        ok = self.results["ok"]
        refused = self.results["refused"]
        return RunRecord(
            self.run, min(self.times), max(self.times), tuple(sorted(s["operators"])),
            tuple(sorted(s["commands"])), tuple(sorted(s["targets"])),
            tuple(sorted(s["partners"])), tuple(sorted(s["backends"])),
            dict(sorted(self.actions.items())), ok,
            sum(self.results.values()) - ok - refused, refused)


# RunRecord field -> the audit entry's field it gathers
_SETS = {"operators": "operator", "commands": "command", "targets": "target",
         "partners": "partner", "backends": "backend"}
