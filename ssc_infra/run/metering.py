"""Metering: read the systems for the usage report, and keep each month's measurement.

The I/O edge of `ssc_infra.run.usage`: one full read of AD for the hybrid partners, one read of
each partner's tenant through Graph, and one read-only Ansible call per file server, the
file servers read while AD and Graph are. A system that cannot be read (unreachable, its
settings unusable) leaves its figures unknown with the reason, and the others are measured
all the same; only a problem that concerns everything (the targets file, the inventory's
region) stops the measurement.

Billing is per month. The current month is measured when asked and kept as
`STATE/usage/<target>/<YYYY-MM>.json` (0600, replaced whole by a later measurement in the
same month: the last one of the month is the month's figure); an earlier month is shown from
what was kept, never measured again (the systems hold today's state, not that month's).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from pydantic import ValidationError

from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.errors import Problem, SscError
from ssc_infra.core.model import Identity, Region
from ssc_infra.hosts.storage import StorageRead, read_storage
from ssc_infra.m365.backend import M365
from ssc_infra.m365.tenant import TenantState
from ssc_infra.run.directory import scope_of
from ssc_infra.run.plan import check_base_dn
from ssc_infra.run.protocols import DirectoryBackend, GraphBackend
from ssc_infra.run.targets import Target, ad_settings, ansible_settings, graph_settings
from ssc_infra.run.usage import (
    TARGET_PATTERN,
    Month,
    Reads,
    UsageReport,
    measure_usage,
    one_line,
)
from ssc_infra.state.folder import StateDir, write_private

USAGE_DIR = "usage"
SNAPSHOT_MAX = 20 * 1024 * 1024  # a month of 300 partners is a few hundred KiB
_TARGET = re.compile(TARGET_PATTERN)

StorageReader = Callable[[Region, Sequence[str]], StorageRead]


class UsageError(SscError):
    """A month that cannot be reported: in the future, never measured, or its file damaged."""


@dataclass(frozen=True)
class Meters:
    """What one measurement reads; a system is None, with the reason in `why`, where the
    target does not name it or its settings cannot be used.

    Args:
        directory: AD (the hybrid partners' accounts and licence groups).
        graph: Microsoft 365 (cloud partners' users, every partner's licences).
        storage: the file servers' home folders.
        graph_named: the target has a `graph:` section (then licences are Graph's).
        why: "directory", "graph", "storage" -> why that system is not read.
        workers: LDAP connections for the read.
    """

    directory: DirectoryBackend | None
    graph: GraphBackend | None
    storage: StorageReader | None
    graph_named: bool = False
    why: Mapping[str, str] = field(default_factory=dict)
    workers: int = 4


def meters_for(target: Target, name: str, region: Region, state: Path) -> Meters:
    """The systems the target names, each ready to be read, or the reason it cannot be."""
    why: dict[str, str] = {}
    directory: DirectoryBackend | None = None
    try:
        settings = ad_settings(target, name)
        check_base_dn(settings, region)  # the wrong DC would count nothing, silently
        directory = LdapDirectory(settings)
    except SscError as e:
        why["directory"] = str(e)
    graph: GraphBackend | None = None
    if target.graph is not None:
        try:
            graph = M365(graph_settings(target, name), target.graph.tenant_of, state)
        except SscError as e:
            why["graph"] = str(e)
    storage: StorageReader | None = None
    hosts = ansible_settings(target)
    if hosts is None:
        why["storage"] = (f"target {name!r} has no `ansible:` section, so the file servers "
                          "cannot be read")
    else:
        def storage(region: Region, partners: Sequence[str]) -> StorageRead:
            return read_storage(region, hosts, state, partners)
    return Meters(directory, graph, storage, target.graph is not None, why,
                  target.ad.workers if target.ad else 4)


def measure(region: Region, held: Mapping[str, Sequence[Problem]], today: date, month: Month,
            target: str, meters: Meters, now: datetime | None = None) -> UsageReport:
    """Read every system once and make the month's figures.

    Args:
        region: the partners whose own data loaded.
        held: the partners whose own data did not load, with its problems.
        today: the day measured (who is active).
        month: the month measured (today's).
        target: the target's name, kept with the figures.
        meters: the systems to read.
        now: when the reading starts (tests); default the clock.
    """
    started = now or datetime.now(UTC).replace(microsecond=0)
    why = dict(meters.why)
    codes = sorted(p.code for p in region.partners)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="storage") as pool:
        # Ansible takes seconds to start: the file servers are read while AD and Graph are.
        pending: Future[StorageRead] | None = (
            pool.submit(meters.storage, region, codes) if meters.storage and codes else None)
        directory = _read_directory(region, meters, why)
        tenants, tenant_errors = _read_tenants(region, meters, why)
        storage = None
        if pending is not None:
            try:
                storage = pending.result()
            except SscError as e:
                why["storage"] = str(e)
        elif not codes:
            storage = StorageRead()
    reads = Reads(directory, tenants, storage, meters.graph_named,
                  {k: one_line(v) for k, v in why.items()}, tenant_errors)
    return measure_usage(region, held, today, month, target, started, reads)


def _read_directory(region: Region, meters: Meters,
                    why: dict[str, str]) -> DirectoryState | None:
    hybrid = tuple(sorted(p.code for p in region.partners if p.identity is Identity.HYBRID))
    if not hybrid:
        return DirectoryState(frozenset(), (), ())
    if meters.directory is None:
        return None
    try:
        return meters.directory.read(dataclasses.replace(scope_of(region), partners=hybrid),
                                     meters.workers)
    except SscError as e:
        why["directory"] = str(e)
        return None


def _read_tenants(region: Region, meters: Meters,
                  why: dict[str, str]) -> tuple[dict[str, TenantState], dict[str, str]]:
    if meters.graph is None or not region.partners:
        return {}, {}
    try:
        found, unreadable = meters.graph.read(region.partners)
    except SscError as e:
        why["graph"] = str(e)
        return {}, {}
    finally:
        meters.graph.close()
    return found, {u.partner: u.reason for u in unreadable}


# -- the months kept ----------------------------------------------------------------------


def measured_now(month: Month, today: date) -> bool:
    """True for today's month (measured now), False for an earlier one (shown as kept).

    Raises:
        UsageError: for a month after today's.
    """
    current = Month.of(today)
    if month > current:
        raise UsageError(f"--month {month} is in the future (today is {today.isoformat()}): "
                         f"a month is measured during the month itself; ask for {current} or "
                         "an earlier month")
    return month == current


def snapshot_path(state: Path, target: str, month: Month) -> Path:
    """Where the target's measurement of the month is kept."""
    if not _TARGET.match(target):
        raise UsageError(f"the target name {target!r} cannot name a folder for its usage "
                         "figures: use letters, digits, '.', '_' and '-' in targets.yaml")
    return state / USAGE_DIR / target / f"{month}.json"


def save_snapshot(state: Path, report: UsageReport) -> Path:
    """Keep the month's measurement (0600, written whole), replacing an earlier one of it."""
    path = snapshot_path(StateDir(state).ensure(), report.target, Month.parse(report.month))
    write_private(path, report.model_dump_json(indent=1) + "\n")
    return path


def load_snapshot(state: Path, target: str, month: Month) -> tuple[UsageReport, Path]:
    """The kept measurement of the month; UsageError names the file and what to do."""
    path = snapshot_path(state, target, month)
    try:
        info = path.lstat()
    except FileNotFoundError:
        raise UsageError(
            f"no usage figures were kept for {month} of target {target!r}: {path} does not "
            "exist. A month is measured during the month itself (`ssc-infra report usage`, "
            "e.g. on its last day from the scheduler); to measure it late, run with --today "
            "set to a day of that month: what the systems hold now is kept as its figures"
        ) from None
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"{path} is not a regular file: move it away and keep the month's "
                         "figures from a backup")
    if info.st_size > SNAPSHOT_MAX:
        raise UsageError(f"{path} is {info.st_size:,} bytes, more than a measurement can be "
                         f"({SNAPSHOT_MAX:,}): it is not one; restore it from a backup")
    try:
        with contextlib.closing(os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")) \
                as handle:
            text = handle.read(SNAPSHOT_MAX + 1).decode("utf-8")
        report = UsageReport.model_validate_json(text)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: not UTF-8 text (byte {e.start}): the file is damaged; "
                         "restore it from a backup") from e
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'the file'}: "
                             f"{err['msg']}" for err in e.errors()[:5])
        more = f" (+{e.error_count() - 5} more)" if e.error_count() > 5 else ""
        raise UsageError(f"{path} is not a usage measurement ssc-infra can read: "
                         f"{one_line(problems)}{more}; restore it from a backup") from e
    if report.month != str(month) or report.target != target:
        raise UsageError(f"{path} holds the figures of {report.month} of target "
                         f"{report.target!r}, not of {month} of {target!r}: it was copied "
                         "there by hand; put it back where it belongs")
    return report, path
