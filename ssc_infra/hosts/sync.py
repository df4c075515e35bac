"""Which hosts are known to hold what the bundle would give them: one cheap read tells.

A full check-mode run over every host takes many seconds. After a run that left a host exactly
as the bundle wants it (an apply without failures, or a check that found nothing to change),
the tool records for that host a key (the host's files in the bundle, the playbooks and the
run's variables) and what one cheap read of the host gave then: the mode, owner and SHA-256
of every managed file and the list of homes, hashed on the host. A later `plan` with the same
key reads each host once more; a host whose read is unchanged is in sync without a check
run, and the digests recorded for it are what a saved plan expects there. Every other host
gets the full check. `drift` always checks every host in full (as Terraform's plan refreshes,
where `-refresh=false` trusts the state).
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ssc_infra.hosts.ansible import HostOutcome, RunResult, host_of
from ssc_infra.hosts.render import HOMES_DATA
from ssc_infra.state.folder import write_private

RECORDS = "hosts-in-sync.json"
CHECKER = "usr/local/sbin/ssc-check"  # the config checker the roles copy to every host
# Variables that change what a run does on a host; a record holds only for the same ones.
KEY_VARS = ("ssc_reload", "ssc_unknown_owner", "ssc_max_archive", "ssc_hold_archive",
            "ssc_allow_archive", "ssc_only_partners")


@dataclass(frozen=True, slots=True)
class InSync:
    """A host as a run left it: in sync with the bundle that `key` names."""

    key: str
    command: str  # the read that was made then (and is made again to compare)
    read: str  # what it gave
    expect: dict[str, str]  # path (or "homes") -> digest, as a saved plan expects it


def load_records(state: Path) -> dict[str, InSync]:
    """The recorded hosts; none when the file is missing or unreadable (a full check then)."""
    try:
        data = json.loads((state / RECORDS).read_text(encoding="utf-8"))
        return {str(host): InSync(str(r["key"]), str(r["command"]), str(r["read"]),
                                  {str(k): str(v) for k, v in r["expect"].items()})
                for host, r in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save_records(state: Path, records: Mapping[str, InSync]) -> None:
    write_private(state / RECORDS, json.dumps({h: asdict(r) for h, r in sorted(records.items())},
                                              indent=1) + "\n")


def tree_digest(folder: Path) -> str:
    """A fingerprint of the playbooks: a new version of the tool is checked in full once."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in
                       p.parts):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def host_files(bundle: Path, host: str) -> list[str]:
    """The host's files in the bundle (relative paths, the tool's own .ssc/ data left out)."""
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    return sorted(str(p) for p in manifest["hosts"].get(host, []) if not str(p).startswith(".ssc/"))


def host_key(bundle: Path, host: str, playbooks: str, extravars: Mapping[str, Any]) -> str:
    """What a record is for: this host's part of the bundle, the playbooks, the run's vars."""
    h = hashlib.sha256(playbooks.encode())
    base = bundle / host
    for path in sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else ():
        h.update(b"\0" + str(path.relative_to(base)).encode() + b"\0" + path.read_bytes())
    used = {k: extravars.get(k) for k in KEY_VARS}
    h.update(json.dumps(used, sort_keys=True, default=str).encode())
    return h.hexdigest()


def read_command(bundle: Path, host: str, root: str) -> str:
    """One shell command that reads what this host holds, hashed on the host.

    Mode, owner and SHA-256 of every managed file (and the checker), and the name, mode and
    owner of every home and archived home of the partners the homes list names. Only
    coreutils and findutils; errors (a file gone) are part of what is read.
    """
    prefix = root.rstrip("/")
    files = [f"{prefix}/{p}" for p in [*host_files(bundle, host), CHECKER]]
    words = " ".join(shlex.quote(f) for f in files)
    parts = [f"stat -c '%n %a %u %g' -- {words}", f"sha256sum -- {words}"]
    folders = list(_home_folders(bundle / host / HOMES_DATA, prefix))
    if folders:
        parts.append("find " + " ".join(shlex.quote(f) for f in folders) +
                     " -mindepth 1 -maxdepth 1 -printf '%p %m %U %G\\n' | LC_ALL=C sort")
    return "{ " + "; ".join(parts) + "; } 2>&1 | sha256sum"


def _home_folders(spec_file: Path, prefix: str) -> Iterable[str]:
    try:
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    homes = spec.get("homes_dir", "/srv/homes")
    archive = spec.get("archive_dir", "/srv/archive/homes")
    for partner in sorted(spec["partners"]):
        yield f"{prefix}{homes}/{partner}"
        yield f"{prefix}{archive}/{partner}"


def in_sync(records: Mapping[str, InSync], keys: Mapping[str, str],
            reads: Mapping[str, str]) -> dict[str, InSync]:
    """The hosts whose record is for this key and whose read is still the recorded one."""
    return {host: r for host, r in records.items()
            if keys.get(host) == r.key and reads.get(host) == r.read and r.read}


def after_run(records: Mapping[str, InSync], result: RunResult, *, check: bool,
              hosts: Collection[str], keys: Mapping[str, str], commands: Mapping[str, str],
              bundle: Path) -> dict[str, InSync]:
    """The records once a run over `hosts` is done: each of them recorded again or dropped.

    A host is recorded when the run left it as the bundle wants it: a check that found no
    change, or an apply without a failure and with no homes held by the archive limit. Its
    expected digests are then the bundle's files (after an apply) or what the check saw.
    """
    kept = {h: r for h, r in records.items() if h not in hosts}
    changed = {host_of(c) for c in result.changes}
    for host in hosts:
        outcome = result.hosts.get(host)
        if outcome is None or not _clean(outcome) or (check and host in changed):
            continue
        seen = result.digests.get(host, {})
        expect = dict(seen) if check else _applied_digests(bundle, host, seen, outcome)
        if expect is None or outcome.read is None:
            continue
        kept[host] = InSync(keys[host], commands[host], outcome.read, expect)
    return kept


def _clean(outcome: HostOutcome) -> bool:
    return not (outcome.failed or outcome.unreachable or outcome.homes_held)


def _applied_digests(bundle: Path, host: str, seen: Mapping[str, str],
                     outcome: HostOutcome) -> dict[str, str] | None:
    """After an apply the host holds the bundle's files: their digests, and the homes' after."""
    found: dict[str, str] = {}
    for path in seen:
        if path == "homes":
            if outcome.homes_after is None:
                return None
            found[path] = outcome.homes_after
            continue
        try:
            found[path] = hashlib.sha256((bundle / host / path.lstrip("/")).read_bytes()) \
                .hexdigest()
        except OSError:
            return None
    return found
