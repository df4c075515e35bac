"""Home storage on the file servers: how many bytes each partner's homes hold, read in one
read-only call per file server (`playbooks/usage.yml`, the `ssc_usage` module), never a task
per person.

`read_storage` does the I/O and hands the module's raw results to the pure `parse_storage`
(the shape of `ad/read.py` and `ad/parse.py`). Every file server holds a part of every
partner's homes, so the figures are added up over them, and a file server that cannot be read
leaves every partner's figure unknown rather than too low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssc_infra.core.model import HostRole, Region
from ssc_infra.core.workplaces import ARCHIVE_DIR, HOMES_DIR
from ssc_infra.hosts.ansible import AnsibleSettings, host_inventory, run_playbook


@dataclass(frozen=True, slots=True)
class PartnerStorage:
    """What one partner's folders hold on all file servers together, in bytes."""

    homes: int = 0
    archive: int = 0  # the archived homes of leavers, kept for the retention period
    files: int = 0


@dataclass(frozen=True)
class StorageRead:
    """The file servers' answer: a figure per partner, or why there is none."""

    partners: Mapping[str, PartnerStorage] = field(default_factory=dict)
    unreadable: Mapping[str, str] = field(default_factory=dict)  # partner -> why not known
    failed: str = ""  # why no partner's figure is known (a file server not read)


USAGE_PLAYBOOK = "usage.yml"
USAGE_TASK = "Bytes below every partner's homes and archived homes, in one read"


def read_storage(region: Region, settings: AnsibleSettings, state: Path,
                 partners: Sequence[str]) -> StorageRead:
    """Read every file server of the region once, for these partners.

    Args:
        region: the hosts (those with the fileserver role are read).
        settings: how to reach them (the target's `ansible:`).
        state: the state dir (ansible-runner's artifacts go to STATE/ansible).
        partners: the partner codes whose folders are measured.
    """
    servers = [h.name for h in region.hosts_with(HostRole.FILESERVER)]
    if not servers:  # no file server: the tool made no homes anywhere
        return StorageRead({code: PartnerStorage() for code in partners})
    results, failures = _read(region, settings, state, servers, partners, ())
    return parse_storage(results, servers, partners, failures)


def read_home_folders(region: Region, settings: AnsibleSettings, state: Path,
                      partner: str) -> list[dict[str, Any]] | str:
    """Every home and archived home of one partner on every file server, each measured on its
    own (a handover bundle's manifest of homes); or why a file server could not be read."""
    servers = [h.name for h in region.hosts_with(HostRole.FILESERVER)]
    if not servers:
        return []
    results, failures = _read(region, settings, state, servers, (partner,), (partner,))
    return parse_folders(results, servers, partner, failures)


def _read(region: Region, settings: AnsibleSettings, state: Path, servers: Sequence[str],
          partners: Sequence[str], detail: Sequence[str],
          ) -> tuple[dict[str, Mapping[str, Any]], dict[str, str]]:
    results: dict[str, Mapping[str, Any]] = {}

    def keep(host: str, task: str, res: Mapping[str, Any]) -> None:
        if task == USAGE_TASK:
            results[host] = res

    run = run_playbook(
        private_data_dir=state / "ansible", inventory=host_inventory(region, settings),
        extravars={"ssc_usage_partners": sorted(partners), "ssc_homes_dir": HOMES_DIR,
                   "ssc_archive_dir": ARCHIVE_DIR, "ssc_usage_detail": sorted(detail)},
        check=True, forks=settings.forks, limit=",".join(servers), playbook=USAGE_PLAYBOOK,
        on_result=keep)
    return results, {h.host: "; ".join(h.messages) or "failed" for h in run.failed_hosts}


def parse_folders(results: Mapping[str, Mapping[str, Any]], servers: Sequence[str],
                  partner: str, failures: Mapping[str, str]) -> list[dict[str, Any]] | str:
    """One partner's home folders from the `ssc_usage` results (with `detail`), each row
    naming its file server; or why they are not all known. Pure."""
    rows: list[dict[str, Any]] = []
    for host in servers:
        if host not in results:
            return f"{host} not read ({failures.get(host) or 'no answer'})"
        raw = (results[host].get("storage") or {}).get(partner)
        folders = raw.get("folders") if isinstance(raw, Mapping) else None
        if not isinstance(folders, list):
            return f"{host}: no home folders of {partner} in its answer"
        for row in folders:
            if not isinstance(row, Mapping):
                return f"{host}: a home folder of {partner} that is not one: {row!r}"
            if row.get("unreadable"):
                return f"{host}: {row.get('path')} could not be read whole"
            rows.append({"host": host, **{k: row.get(k) for k in (
                "kind", "name", "path", "owner", "files", "bytes", "newest")}})
    return rows


def parse_storage(results: Mapping[str, Mapping[str, Any]], servers: Sequence[str],
                  partners: Sequence[str], failures: Mapping[str, str]) -> StorageRead:
    """The `ssc_usage` results of the file servers as one figure per partner. Pure.

    Args:
        results: host -> the module's result.
        servers: every file server that should have answered.
        partners: the partners asked for.
        failures: host -> why it failed or could not be reached.
    """
    missing = [h for h in servers if h not in results]
    if missing:
        why = "; ".join(f"{h}: {failures.get(h) or 'no answer'}" for h in missing)
        return StorageRead(failed=f"file server not read ({why})")
    found: dict[str, PartnerStorage] = {}
    unreadable: dict[str, str] = {}
    for code in partners:
        homes = archive = files = 0
        problems: list[str] = []
        for host in servers:
            raw = (results[host].get("storage") or {}).get(code)
            if not isinstance(raw, Mapping):
                problems.append(f"{host}: no figure for {code}")
                continue
            try:
                homes += _count(raw, "homes_bytes")
                archive += _count(raw, "archive_bytes")
                files += _count(raw, "homes_files") + _count(raw, "archive_files")
                bad = _count(raw, "unreadable")
            except ValueError as e:
                problems.append(f"{host}: {e}")
                continue
            if bad:
                first = [str(p) for p in raw.get("problems") or ()][:1]
                problems.append(f"{host}: {bad} folders or files could not be read"
                                + (f" (first: {first[0]})" if first else ""))
        if problems:
            unreadable[code] = "; ".join(problems)
        else:
            found[code] = PartnerStorage(homes, archive, files)
    return StorageRead(found, unreadable)


def _count(raw: Mapping[str, Any], name: str) -> int:
    value = raw.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} is not a count of bytes or files: {value!r}")
    return value
