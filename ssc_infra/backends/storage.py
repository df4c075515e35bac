"""Home storage on the file servers: how many bytes each partner's homes hold, read in one
read-only call per file server (`playbooks/usage.yml`, the `ssc_usage` module), never a task
per person.

`read_storage` does the I/O and hands the module's raw results to the pure `parse_storage`
(the shape of `backends/ad.py`'s reads). Every file server holds a part of every partner's
homes, so the figures are added up over them, and a file server that cannot be read leaves
every partner's figure unknown rather than too low.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ssc_infra.backends.ansible import AnsibleSettings, host_inventory, run_playbook
from ssc_infra.model import HostRole, Region
from ssc_infra.usage import PartnerStorage, StorageRead
from ssc_infra.workplaces import ARCHIVE_DIR, HOMES_DIR

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
    results: dict[str, Mapping[str, Any]] = {}

    def keep(host: str, task: str, res: Mapping[str, Any]) -> None:
        if task == USAGE_TASK:
            results[host] = res

    run = run_playbook(
        private_data_dir=state / "ansible", inventory=host_inventory(region, settings),
        extravars={"ssc_usage_partners": sorted(partners), "ssc_homes_dir": HOMES_DIR,
                   "ssc_archive_dir": ARCHIVE_DIR},
        check=True, forks=settings.forks, limit=",".join(servers), playbook=USAGE_PLAYBOOK,
        on_result=keep)
    failures = {h.host: "; ".join(h.messages) or "failed" for h in run.failed_hosts}
    return parse_storage(results, servers, partners, failures)


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
