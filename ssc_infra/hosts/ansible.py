"""Ansible: one typed function around `ansible_runner.run`, and the inventory it runs against.

Job events are the vocabulary: each becomes a `TaskEvent` for the progress display, and the
events of changed tasks become the plan's `Change`s of the hosts' section, made here once:
a whole file (with its diff and its digest on the host as the run found it) or one partner's
home folders (who gets one made, restored, archived or fixed) for plan, drift and apply. A
failed or unreachable host is a result, never an exception: the other hosts go on and
converge.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ansible_runner

from ssc_infra.core.errors import BackendError
from ssc_infra.core.model import Region
from ssc_infra.core.packaged import PLAYBOOKS, packaged_path
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind
from ssc_infra.state.folder import private_dir

READ_TASK = "What this host holds now, in one read"  # the task in read.yml


@dataclass(frozen=True, slots=True)
class AnsibleSettings:
    """How to reach the workplace hosts (the `ansible:` section of a target)."""

    connection: str = "ssh"
    root: Path | None = None  # lab: each host's files live under root/<host>
    user: str | None = None
    private_key_file: str | None = None
    port: int | None = None
    forks: int = 5
    reload: bool = True  # reload daemons after a change; off in a lab without daemons
    unknown_owner: str = "fail"
    host_vars: dict[str, dict[str, Any]] = field(default_factory=dict)


def host_inventory(region: Region, settings: AnsibleSettings) -> dict[str, Any]:
    """The region's hosts as an Ansible inventory: one group per role, address as ansible_host.

    Also what `inventory/ansible_hosts.py` prints, so `ansible-inventory` and AWX see the same.
    """
    hosts: dict[str, dict[str, Any]] = {}
    for host in region.hosts:
        hv: dict[str, Any] = {"ansible_host": str(host.address),
                              "ssc_roles": [r.value for r in host.roles],
                              "ansible_connection": settings.connection}
        if settings.connection == "local":
            hv["ansible_python_interpreter"] = sys.executable
        if settings.root is not None:
            hv["ssc_root"] = str(settings.root / host.name)
        if settings.user:
            hv["ansible_user"] = settings.user
        if settings.private_key_file:
            hv["ansible_ssh_private_key_file"] = settings.private_key_file
        if settings.port:
            hv["ansible_port"] = settings.port
        hv.update(settings.host_vars.get(host.name, {}))
        hosts[host.name] = hv
    groups: dict[str, Any] = {}
    for host in region.hosts:
        for role in host.roles:
            groups.setdefault(role.value, {"hosts": {}})["hosts"][host.name] = {}
    return {"all": {"hosts": hosts, "children": groups,
                    "vars": {"ssc_region": region.code}}}


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One host finished one task: what the progress display shows."""

    host: str
    task: str
    status: str  # ok, changed, failed, unreachable, skipped


HOMES_TARGET = "homes"  # the key and target of a homes change: HOST:homes/PARTNER


def file_change(host: str, path: str, diff: str = "", added: int = 0, removed: int = 0,
                sha256: str = "") -> Change:
    """A whole file on a host that changes (or would): its diff, and its digest as found."""
    return Change(ObjectKind.FILE, Action.UPDATE, "", f"{host}:{path}", path,
                  {"sha256": sha256} if sha256 else {},
                  {"diff": diff, "added": added, "removed": removed}, Backend.HOSTS)


def homes_change(host: str, partner: str, lists: Mapping[str, list[str]],
                 sha256: str = "") -> Change:
    """One partner's home folders on a file server: `lists` maps "create", "restore",
    "archive", "fix", "move" and "shares" to the names or paths (the empty lists are left
    out)."""
    after = {k: list(v) for k, v in lists.items() if v}
    action = Action.ARCHIVE if after.get("archive") else (
        Action.CREATE if after.get("create") or after.get("restore") or after.get("shares")
        else Action.MOVE if after.get("move") else Action.UPDATE)
    return Change(ObjectKind.HOMES, action, partner, f"{host}:{HOMES_TARGET}/{partner}",
                  HOMES_TARGET, {"sha256": sha256} if sha256 else {}, after, Backend.HOSTS)


def host_of(change: Change) -> str:
    """The host a change of the hosts' section is on."""
    return change.key.partition(":")[0]


@dataclass
class HostOutcome:
    host: str
    ok: int = 0
    changed: int = 0
    failed: bool = False
    unreachable: bool = False
    messages: list[str] = field(default_factory=list)
    read: str | None = None  # what the one-command read of the host gave (hostsync)
    homes_after: str | None = None  # the homes' digest once the run was done
    homes_held: bool = False  # homes were left to archive: the archive limit held a partner


@dataclass(frozen=True, slots=True)
class RunResult:
    status: str
    rc: int
    hosts: dict[str, HostOutcome]
    changes: tuple[Change, ...]  # of the hosts' section
    # What each host holds now, host -> path (or "homes") -> SHA-256 ("absent": no file);
    # a saved plan carries these and apply refuses what changed since.
    digests: dict[str, dict[str, str]] = field(default_factory=dict)
    in_sync: tuple[str, ...] = ()  # hosts not run: one read showed them as a run left them

    @property
    def failed_hosts(self) -> list[HostOutcome]:
        return [h for h in self.hosts.values() if h.failed or h.unreachable]


def run_playbook(
    *,
    private_data_dir: Path,
    inventory: dict[str, Any],
    extravars: dict[str, Any],
    check: bool,
    limit: str | None = None,
    forks: int = 5,
    playbook: str = "site.yml",
    project: Path | None = None,
    on_event: Callable[[TaskEvent], None] | None = None,
    on_result: Callable[[str, str, Mapping[str, Any]], None] | None = None,
) -> RunResult:
    """Run a playbook and turn its job events into results; never raises for a host's failure.

    Args:
        private_data_dir: ansible-runner's working folder (artifacts, the inventory it writes).
        inventory: as made by `host_inventory`.
        extravars: variables for every host (ssc_bundle, ssc_reload...).
        check: check + diff mode: report what would change, change nothing.
        limit: a host pattern to restrict the run to.
        forks: hosts worked on at once.
        playbook: the playbook, relative to `project`.
        project: the folder with the playbooks, roles and library; default the ones that
            ship in the package.
        on_event: called for every finished task on every host.
        on_result: called with (host, task, the module's result) for every task that
            finished ok or changed: what a read-only playbook read.

    Raises:
        BackendError: when Ansible itself cannot start (not installed, bad playbook).
    """
    hosts: dict[str, HostOutcome] = {}
    changes: list[Change] = []
    digests: dict[str, dict[str, str]] = {}

    def handle(event: dict[str, Any]) -> bool:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        host = data.get("host")
        if not host or not kind.startswith("runner_on_") or kind == "runner_on_start":
            return True
        outcome = hosts.setdefault(host, HostOutcome(host))
        res = data.get("res", {}) or {}
        task = str(data.get("task", ""))
        status = _status(kind, res)
        if status == "failed" and not data.get("ignore_errors"):
            outcome.failed = True
            outcome.messages.append(f"{task}: {task_message(res)}")
        elif status == "unreachable":
            outcome.unreachable = True
            outcome.messages.append(f"unreachable: {task_message(res)}")
        elif status in ("ok", "changed"):
            outcome.ok += 1
        if res.get("changed") and status != "skipped":
            outcome.changed += 1
            changes.extend(task_changes(host, task, res))
        _digests(res, digests.setdefault(host, {}))
        _host_state(task, status, res, outcome)
        if on_result is not None and status in ("ok", "changed"):
            on_result(host, task, res)
        if on_event is not None:
            on_event(TaskEvent(host, task, status))
        return True

    private_dir(private_data_dir)
    cmdline = "--check --diff" if check else "--diff"
    try:
        # The runner writes its artifacts (job events hold the diffs: people's names) with the
        # process umask: keep them to the owner for the run.
        with owner_only_umask(), contextlib.ExitStack() as stack:
            folder = project or stack.enter_context(packaged_path(PLAYBOOKS))
            runner = ansible_runner.run(
                private_data_dir=str(private_data_dir),
                project_dir=str(folder),
                playbook=playbook,
                inventory=inventory,
                extravars=extravars,
                cmdline=cmdline,
                limit=limit,
                forks=forks,
                envvars=_environment(),
                event_handler=handle,
                quiet=True,
                rotate_artifacts=3,
            )
    except Exception as e:  # ansible-runner raises bare exceptions for a broken setup
        raise BackendError(f"Ansible could not start: {e} (is ansible-core installed? "
                           "run `make test` or `pip install ansible-core ansible-runner`)") from e
    if runner.status in ("error", "timeout") and not hosts:
        tail = (runner.stdout.read()[-800:] if runner.stdout else "").strip()
        raise BackendError(f"ansible-playbook failed before any host was reached (rc "
                           f"{runner.rc}): {tail}")
    found = {host: seen for host, seen in digests.items() if seen}
    return RunResult(str(runner.status), int(runner.rc or 0), hosts,
                     tuple(_with_digest(c, found) for c in changes), found)


def _with_digest(change: Change, digests: Mapping[str, Mapping[str, str]]) -> Change:
    """A change with the digest its host reported, before the run, for what it changes."""
    if change.before:
        return change
    seen = digests.get(host_of(change), {})
    sha = seen.get("homes" if change.kind is ObjectKind.HOMES else change.target)
    return dataclasses.replace(change, before={"sha256": sha}) if sha else change


def _digests(res: dict[str, Any], found: dict[str, str]) -> None:
    """The digests the ssc_files and ssc_homes modules report, into host's `found`."""
    for seen in res.get("ssc_files") or ():
        if isinstance(seen, dict) and isinstance(seen.get("path"), str):
            found[seen["path"]] = str(seen.get("sha256", ""))
    if isinstance(res.get("digest"), str) and "archived" in res:
        found["homes"] = res["digest"]


def _host_state(task: str, status: str, res: dict[str, Any], outcome: HostOutcome) -> None:
    """What the read task and the homes module say of the host as the run leaves it."""
    if task == READ_TASK and status == "ok":
        outcome.read = str(res.get("stdout", "")).strip() or None
    if isinstance(res.get("digest_after"), str):
        outcome.homes_after = res["digest_after"]
    if res.get("held"):
        outcome.homes_held = True


_UMASK_LOCK = threading.Lock()
_umask_users = 0
_umask_before = 0o022


@contextlib.contextmanager
def owner_only_umask() -> Iterator[None]:
    """umask 077 while any playbook runs. The umask is the process's: runs in threads at once
    (a plan's host read beside the directory read, apply's host runs) must not restore one
    another's, so the first in sets it and the last out puts the old one back."""
    global _umask_users, _umask_before
    with _UMASK_LOCK:
        if _umask_users == 0:
            _umask_before = os.umask(0o077)
        _umask_users += 1
    try:
        yield
    finally:
        with _UMASK_LOCK:
            _umask_users -= 1
            if _umask_users == 0:
                os.umask(_umask_before)


def _environment() -> dict[str, str]:
    # ansible-runner starts `ansible-playbook` from PATH: put this Python's bin/ first, so the
    # Ansible installed next to ssc-infra (the venv) runs even when the venv is not activated.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path, "ANSIBLE_MAX_DIFF_SIZE": "50000000", "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0", "ANSIBLE_PIPELINING": "1"}


def _status(kind: str, res: dict[str, Any]) -> str:
    if kind == "runner_on_unreachable":
        return "unreachable"
    if kind == "runner_on_failed":
        return "failed"
    if kind == "runner_on_skipped":
        return "skipped"
    return "changed" if res.get("changed") else "ok"


def task_message(res: dict[str, Any]) -> str:
    """The first line of the message, and the checker's own words when a `validate:` failed."""
    failed_items = [r for r in res.get("results", []) if isinstance(r, dict) and r.get("failed")]
    if failed_items:  # a loop: the first item that failed says more than "items failed"
        res = failed_items[0]
    parts = [str(res.get(k) or "").strip() for k in ("msg", "stderr", "module_stderr")]
    lines = [p.splitlines()[-1] if k else p.splitlines()[0]
             for k, p in enumerate(parts) if p]
    return ": ".join(dict.fromkeys(lines))[:800] or "failed"


def _attribute_change(host: str, before: dict[str, Any],
                      after: dict[str, Any]) -> list[Change]:
    """A file whose mode or owner (not content) would change: "~ mode 0600 -> 0644"."""
    where = str(after.get("path") or before.get("path") or "")
    if f"/{host}/" in where:  # a lab host root: the path on the host
        where = "/" + where.split(f"/{host}/", 1)[1]
    lines = [f"~ {name} {before.get(name)} -> {after.get(name)}"
             for name in sorted(set(before) | set(after))
             if name != "path" and before.get(name) != after.get(name)]
    return [file_change(host, where, "\n".join(lines))] if where and lines else []


_HOMES_LISTS = {"created": "create", "restored": "restore", "archived": "archive",
                "fixed": "fix", "moved": "move"}


def _homes_changes(host: str, res: dict[str, Any]) -> list[Change]:
    """The homes module's result, one change per partner it changes."""
    lists: dict[str, dict[str, list[str]]] = {}
    for field_name, what in _HOMES_LISTS.items():
        for entry in res.get(field_name) or []:
            partner = str(entry).partition("/")[0]
            lists.setdefault(partner, {}).setdefault(what, []).append(str(entry))
    for share in res.get("shares") or []:
        if isinstance(share, dict):
            lists.setdefault(str(share.get("partner", "")), {}).setdefault("shares", []).append(
                str(share.get("path", "")))
    return [homes_change(host, partner, found) for partner, found in sorted(lists.items())]


def _files_changes(host: str, res: dict[str, Any]) -> list[Change]:
    """The ssc_files module's result: a change per file it changes (its diff when the run
    asked for one, a new mode as `~ mode A -> B`), and the config checker's."""
    texts = {d.get("after_header"): d for d in _diff_list(res)
             if isinstance(d.get("before"), str) and isinstance(d.get("after"), str)}
    found = [file_change(host, "ssc-check")] if res.get("checker_changed") else []
    for seen in res.get("ssc_files") or ():
        if not isinstance(seen, dict) or not seen.get("changed"):
            continue
        path = str(seen.get("path", ""))
        lines: list[str] = []
        if (d := texts.get(path)) is not None:
            lines = list(difflib.unified_diff(d["before"].splitlines(),
                                              d["after"].splitlines(), path, path,
                                              lineterm="", n=1))
        mode = seen.get("mode")
        attributes = [f"~ mode {mode[0]} -> {mode[1]}"] if isinstance(mode, list) and \
            len(mode) == 2 else []
        found.append(file_change(host, path, "\n".join([*lines, *attributes]),
                                 sum(1 for x in lines[2:] if x.startswith("+")),
                                 sum(1 for x in lines[2:] if x.startswith("-"))))
    return found


def _diff_list(res: dict[str, Any]) -> list[dict[str, Any]]:
    diffs = res.get("diff") or []
    return [d for d in ([diffs] if isinstance(diffs, dict) else diffs) if isinstance(d, dict)]


def task_changes(host: str, task: str, res: dict[str, Any]) -> list[Change]:
    """The changes one task's result shows on `host` (pure).

    The homes module gives one change per partner and the files module one per file; for
    another module, a file whose content would change gives its diff (the path as on the
    host), one whose mode or owner would change the attributes; a changed task that shows no
    diff gives a change named after its dest, path or task.
    """
    if "archived" in res and "created" in res:  # the homes module
        return _homes_changes(host, res)
    if "ssc_files" in res:
        return _files_changes(host, res)
    found: list[Change] = []
    for d in _diff_list(res):
        if isinstance(d.get("before"), dict) and isinstance(d.get("after"), dict):
            found.extend(_attribute_change(host, d["before"], d["after"]))
        elif "before" in d or "after" in d:
            source = str(d.get("after_header") or "")
            if f"/{host}/" not in source:  # not a rendered file: the tool's own checker
                found.append(file_change(host, Path(source).name or task))
                continue
            path = "/" + source.split(f"/{host}/", 1)[1]
            before = d.get("before", "")
            after = d.get("after", "")
            if not isinstance(before, str) or not isinstance(after, str):
                continue  # a file's state (not its content or its mode)
            diff = list(difflib.unified_diff(before.splitlines(), after.splitlines(),
                                             path, path, lineterm="", n=1))
            if not diff:
                continue
            found.append(file_change(host, path, "\n".join(diff),
                                     sum(1 for x in diff[2:] if x.startswith("+")),
                                     sum(1 for x in diff[2:] if x.startswith("-"))))
    if not found and res.get("changed"):
        found.append(file_change(host, str(res.get("dest") or res.get("path") or task)))
    return found
