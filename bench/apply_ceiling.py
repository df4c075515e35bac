"""The whole apply of the sample to an empty DC, against the DC's own write ceiling.

The fair ceiling is the tool's whole desired directory state written by OpenLDAP's `ldapadd`
as one LDIF over LDAPS (the certificate verified with the DC's CA, simple bind as the admin):
every OU, every account with its `unicodePwd` and `userAccountControl` as the tool creates it,
and every group added with all its members (`member`), member groups before the groups that
hold them — nothing the DC has to be asked twice. On another fresh DC from the same template,
in the same run: `ssc-infra apply --yes` of the sample through the CLI — its plan (directory
and the hosts' check run), then OUs, groups, accounts, memberships and the five workplace
hosts. Printed: both wall times, the tool's directory part and its hosts part (from its audit
log), and the ratios ceiling / tool, of the directory part (target >= 0.9) and of the whole
(the hosts added to the ceiling as the tool's own hosts part: nothing writes them faster).
Beside each figure, the CPU seconds the DC used: a DC busy well below 100% means the machine's
other load took its share.

`--account-ceilings` adds the earlier, narrower ceilings of accounts alone (a bare ldap3 loop
over 1 and 4 connections, and `ldapadd` of the accounts' LDIF), their OUs made first.
Run: `make bench` or `python bench/apply_ceiling.py [--rounds N] [--account-ceilings]`.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from benchlab import (
    ROOT,
    TODAY,
    cli,
    cli_options,
    dc_cpu_seconds,
    fresh_dc,
    settings,
    write_targets,
)

from ssc_infra.ad.attributes import GLOBAL_SECURITY_GROUP
from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.ad.connection import connect
from ssc_infra.ad.writer import USER_CLASSES, new_account_attributes
from ssc_infra.core.model import Region
from ssc_infra.core.plan import Action, ObjectKind
from ssc_infra.core.secrets import new_password
from ssc_infra.run.directory import plan_directory, scope_of
from ssc_infra.sources.files import load
from ssc_infra_lab.dc import DomainController


@dataclass(frozen=True)
class Entry:
    """One object as the ceilings write it: DN, object classes and the attributes of the
    tool's create."""

    dn: str
    attributes: dict[str, Any]
    classes: tuple[str, ...] = tuple(USER_CLASSES)


@dataclass(frozen=True)
class FullState:
    """The tool's whole desired directory state of an empty DC, in the order an LDIF adds it."""

    entries: tuple[Entry, ...]
    ous: int
    accounts: int
    groups: int
    links: int  # member values


@dataclass(frozen=True)
class Layout:
    """What every ceiling writes: the OUs (in order, parents first) and the accounts."""

    ous: tuple[str, ...]
    accounts: tuple[Entry, ...]


@dataclass(frozen=True)
class Written:
    """What one writer says of its run: a note (an error, the tool's phases) and the seconds
    of its hosts part (the tool's; none for a ceiling)."""

    note: str = ""
    hosts_seconds: float = 0.0


@dataclass(frozen=True)
class Figure:
    label: str
    created: int
    seconds: float
    dc_cpu: float  # CPU seconds the DC used meanwhile
    note: str = ""
    groups: int = 0
    links: int = 0
    hosts_seconds: float = 0.0  # the tool's hosts part (from its audit log)

    @property
    def rate(self) -> float:
        return self.created / self.seconds if self.seconds else 0.0


def layout_of(region: Region, dc: DomainController) -> Layout:
    """The tool's own plan of an empty DC: its OUs and the accounts it creates, with passwords."""
    plan = plan_directory(region, TODAY, settings(dc)).plan
    ous = tuple(c.dn for c in plan.changes if c.kind is ObjectKind.OU)
    accounts = tuple(Entry(c.dn, new_account_attributes(c, new_password()))
                     for c in plan.changes
                     if c.kind is ObjectKind.ACCOUNT and c.action is Action.CREATE)
    return Layout(ous, accounts)


def full_state_of(region: Region, dc: DomainController) -> FullState:
    """The tool's own plan of an empty DC as adds: OUs (parents first), accounts, then groups
    with all their members, a member group before the groups that hold it."""
    plan = plan_directory(region, TODAY, settings(dc)).plan
    members: dict[str, list[str]] = {}
    for c in plan.changes:
        if c.kind is ObjectKind.MEMBERS:
            members.setdefault(c.dn.lower(), []).extend(str(m) for m in c.after.get("add", ()))
    ous = [Entry(c.dn, {}, ("top", "organizationalUnit")) for c in plan.changes
           if c.kind is ObjectKind.OU and c.action is Action.CREATE]
    accounts = [Entry(c.dn, new_account_attributes(c, new_password())) for c in plan.changes
                if c.kind is ObjectKind.ACCOUNT and c.action is Action.CREATE]
    groups = {c.dn.lower(): Entry(c.dn, {
        "sAMAccountName": c.key, "groupType": GLOBAL_SECURITY_GROUP,
        "description": _values(c.after.get("description")),
        "member": members.get(c.dn.lower(), [])}, ("top", "group"))
        for c in plan.changes if c.kind is ObjectKind.GROUP and c.action is Action.CREATE}
    ordered: list[Entry] = []
    placed: set[str] = set()

    def place(key: str, seen: frozenset[str]) -> None:
        if key in placed or key in seen:
            return
        for member in groups[key].attributes["member"]:
            if member.lower() in groups:
                place(member.lower(), seen | {key})
        placed.add(key)
        ordered.append(groups[key])

    for key in groups:
        place(key, frozenset())
    for entry in ordered:
        if not entry.attributes["description"]:
            del entry.attributes["description"]
        if not entry.attributes["member"]:
            del entry.attributes["member"]
    return FullState((*ous, *accounts, *ordered), len(ous), len(accounts), len(groups),
                     sum(len(m) for m in members.values()))


def _values(value: Any) -> list[str]:
    """An attribute's values as the writer hands them to ldap3: one string, or a list."""
    if not value:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def make_ous(dc: DomainController, layout: Layout) -> None:
    conn = connect(settings(dc))
    try:
        for dn in layout.ous:
            if not conn.add(dn, ["top", "organizationalUnit"]):
                raise SystemExit(f"creating {dn} failed: {conn.result}")
    finally:
        conn.unbind()


def count_objects(dc: DomainController, region: Region) -> tuple[int, int, int]:
    """Accounts, groups and member links the directory holds now."""
    state = LdapDirectory(settings(dc)).read(scope_of(region), 4)
    return (len(state.accounts), len(state.groups),
            sum(len(g.members) for g in state.groups))


def ldap3_loop(dc: DomainController, entries: Sequence[Entry]) -> None:
    """The bare loop: connect, one add per account (the directory is counted afterwards)."""
    conn = connect(settings(dc))
    try:
        for entry in entries:
            conn.add(entry.dn, list(USER_CLASSES), entry.attributes)
    finally:
        conn.unbind()


def ldap3_ceiling(dc: DomainController, layout: Layout, connections: int) -> Written:
    """The bare loop over `connections` connections, one thread each."""
    if connections == 1:
        ldap3_loop(dc, layout.accounts)
    else:
        shares = [layout.accounts[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(max_workers=connections) as pool:
            list(pool.map(lambda share: ldap3_loop(dc, share), shares))
    return Written()


def _ldif_line(name: str, value: str | bytes) -> str:
    """One `name: value` line of LDIF (RFC 2849), base64 when the value is not a safe string."""
    if isinstance(value, str):
        raw = value.encode("utf-8")
        safe = value.isascii() and value == value.strip() and not value.startswith((":", "<")) \
            and "\n" not in value and "\r" not in value and "\0" not in value
        if safe:
            return f"{name}: {value}"
    else:
        raw = value
    return f"{name}:: {base64.b64encode(raw).decode('ascii')}"


def write_ldif(path: Path, entries: Sequence[Entry]) -> None:
    """The entries as an LDIF of adds; it holds passwords, so 0600."""
    lines: list[str] = []
    for entry in entries:
        lines.append(_ldif_line("dn", entry.dn))
        lines.extend(_ldif_line("objectClass", c) for c in entry.classes)
        for name, value in entry.attributes.items():
            values = value if isinstance(value, list | tuple) else [value]
            lines.extend(_ldif_line(name, v if isinstance(v, str | bytes) else str(v))
                         for v in values)
        lines.append("")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write("\n".join(lines) + "\n")


def can_name_the_dc() -> bool:
    """ldapadd checks the certificate's name (DC1.<domain>) against the URL's host, so it
    must reach the DC by that name: through a hosts file of its own in a private mount
    namespace, which needs root and a kernel that allows it."""
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--mount", "true"], capture_output=True, check=False).returncode == 0


def ldapadd_ceiling(dc: DomainController, ldif: Path, work: Path) -> Written:
    """One ldapadd of the accounts' LDIF over LDAPS."""
    hosts = work / "hosts.ldapadd"
    hosts.write_text(f"127.0.0.1 localhost\n{dc.address} {dc.tls_name}\n", encoding="utf-8")
    # The bind password from a 0600 file (-y, read whole: no newline), never on the command line.
    password = work / "bind.pass"
    fd = os.open(password, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dc.password())
    command = ["unshare", "--mount", "sh", "-c",
               'mount --bind "$1" /etc/hosts && shift && exec ldapadd "$@"', "sh", str(hosts),
               "-H", f"ldaps://{dc.tls_name}:636", "-x", "-D", dc.bind_user,
               "-y", str(password), "-c", "-f", str(ldif)]
    env = {**os.environ, "LDAPTLS_CACERT": str(dc.ca_file), "LDAPTLS_REQCERT": "demand"}
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    return Written(f"ldapadd exit {done.returncode}: {done.stderr.strip()[-300:]}"
                   if done.returncode else "")


def tool_apply(dc: DomainController, inventory: Path, work: Path,
               workers: int | None) -> Written:
    """`ssc-infra apply --yes` of the sample: its exit code, and where the time went."""
    work.mkdir()
    targets = write_targets(work, dc, workers)
    state = work / "state"
    started = time.time()
    code = cli("apply", "--yes", *cli_options(inventory, targets, state))
    note, hosts = _phases(state / "audit.jsonl", started, time.time())
    return Written(f"exit {code}; " + note, hosts)


def _phases(audit: Path, started: float, ended: float) -> tuple[str, float]:
    """From the audit log (times to the second): until the first directory write, the
    directory writes, the hosts after them; and the hosts' seconds."""
    stamps: dict[str, list[float]] = {}
    with audit.open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            at = datetime.fromisoformat(item["time"]).timestamp()
            backend = item.get("backend", "directory")
            stamps.setdefault("host" if backend == "hosts" else backend, []).append(at)
    directory = stamps.get("directory")
    if not directory:
        return "", 0.0
    first, last = min(directory), max(directory)
    hosts = max(0.0, max(stamps.get("host", [last])) - last)
    return (f"before the first directory write {first - started:.0f} s, directory "
            f"{last - first:.0f} s, hosts after it {hosts:.0f} s, "
            f"after the last write {ended - max(last, *stamps.get('host', [last])):.0f} s",
            hosts)


def measure(label: str, work: Path, region: Region, layout: Layout | None,
            write: Callable[[DomainController], Written]) -> Figure:
    """One figure: a fresh DC (with the OUs for a ceiling), `write` timed, the accounts counted
    in the directory afterwards."""
    with fresh_dc(work / "dc") as dc:
        if layout is not None:
            make_ous(dc, layout)
        cpu = dc_cpu_seconds(dc)
        started = time.perf_counter()
        written = write(dc)
        note = written.note
        seconds = time.perf_counter() - started
        accounts, groups, links = count_objects(dc, region)
        figure = Figure(label, accounts, seconds, dc_cpu_seconds(dc) - cpu, note, groups,
                        links, written.hosts_seconds)
    print(f"  {label}: {accounts:,} accounts, {groups:,} groups, {links:,} member links in "
          f"{seconds:.1f} s" + (f" ({note})" if note else ""), flush=True)
    return figure


def one_round(inventory: Path, work: Path, workers: int | None,
              account_ceilings: bool) -> list[Figure]:
    region = load(inventory, TODAY)
    with fresh_dc(work / "dc") as dc:
        layout = layout_of(region, dc)
        full = full_state_of(region, dc)
    print(f"  the desired directory state: {full.ous:,} OUs, {full.accounts:,} accounts, "
          f"{full.groups:,} groups, {full.links:,} member links", flush=True)
    figures: list[Figure] = []
    if account_ceilings:
        figures += [measure(f"accounts only: bare ldap3 loop, {n} connection" + "s" * (n > 1),
                            work, region, layout,
                            partial(ldap3_ceiling, layout=layout, connections=n))
                    for n in (1, 4)]
    if shutil.which("ldapadd") is None:
        print("  ldapadd: not installed (apt-get install ldap-utils, or make system)")
    elif not can_name_the_dc():
        print("  ldapadd: no private mount namespace here to reach the DC by its "
              "certificate's name; left out")
    else:
        if account_ceilings:
            accounts_ldif = work / "accounts.ldif"
            write_ldif(accounts_ldif, layout.accounts)
            figures.append(measure("accounts only: ldapadd of their LDIF, LDAPS", work, region,
                                   layout, lambda dc: ldapadd_ceiling(dc, accounts_ldif, work)))
            accounts_ldif.unlink()
        ldif = work / "state.ldif"
        write_ldif(ldif, full.entries)
        figures.append(measure(f"{CEILING}: ldapadd of the whole desired state, LDAPS", work,
                               region, None, lambda dc: ldapadd_ceiling(dc, ldif, work)))
        ldif.unlink()
    figures.append(measure("ssc-infra apply --yes: plan, OUs, groups, accounts, members, hosts",
                           work, region, None,
                           lambda dc: tool_apply(dc, inventory, work / "tool", workers)))
    return figures


CEILING = "ceiling"


def report(figures: Sequence[Figure]) -> float:
    print(f"  {'':<66} {'accounts':>8} {'groups':>7} {'links':>7} {'wall':>8} {'DC CPU':>8}"
          f" {'DC busy':>8}")
    for f in figures:
        print(f"  {f.label:<66} {f.created:>8,} {f.groups:>7,} {f.links:>7,} {f.seconds:>7.1f}s"
              f" {f.dc_cpu:>7.1f}s {f.dc_cpu / f.seconds:>8.0%}")
    tool = figures[-1]
    ceilings = [f for f in figures if f.label.startswith(CEILING)]
    if not ceilings:
        return 0.0
    ceiling = ceilings[0]
    if (ceiling.created, ceiling.groups, ceiling.links) != (tool.created, tool.groups,
                                                           tool.links):
        print("  the ceiling did not write the whole state (see its note): no ratio")
        return 0.0
    directory = tool.seconds - tool.hosts_seconds
    ratio = ceiling.seconds / directory if directory else 0.0
    whole = (ceiling.seconds + tool.hosts_seconds) / tool.seconds if tool.seconds else 0.0
    print(f"  the tool's directory part {directory:.1f} s (its plan included), its hosts part "
          f"{tool.hosts_seconds:.1f} s")
    print(f"  ceiling / tool, the directory: {ratio:.3f} (target >= 0.9); the whole apply, the "
          f"hosts part added to the ceiling: {whole:.3f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything N times")
    parser.add_argument("--workers", type=int, default=None,
                        help="the tool's LDAP connections (default: the tool's own default)")
    parser.add_argument("--account-ceilings", action="store_true",
                        help="also the narrower ceilings of the accounts alone")
    args = parser.parse_args()
    ratios = []
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="ssc-bench-ceiling-") as tmp:
            print(f"round {number} of {args.rounds}:", flush=True)
            figures = one_round(args.inventory, Path(tmp), args.workers,
                                args.account_ceilings)
            ratios.append(report(figures))
    if len(ratios) > 1:
        print("ceiling / tool of the directory, each round: "
              + ", ".join(f"{r:.3f}" for r in ratios))


if __name__ == "__main__":
    main()
