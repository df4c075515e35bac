"""The whole apply of the sample to an empty DC, against the DC's own write ceiling.

In one run, each figure against a fresh DC unpacked from the same template, as created
accounts per second of wall:
  1. a bare ldap3 loop over 1 connection: one add per account, with the DNs, object classes,
     attributes, OU layout, unicodePwd (over LDAPS) and userAccountControl of the tool's own
     create (the tool creates an account in one add too);
  2. the same loop over 4 connections, one thread each;
  3. OpenLDAP's `ldapadd` of the equivalent LDIF over LDAPS, the certificate verified with
     the DC's CA (LDAPTLS_CACERT), simple bind as the admin;
  4. `ssc-infra apply --yes` of the sample through the CLI: the plan (directory and the hosts'
     check run), then OUs, groups, accounts, memberships and the five workplace hosts.
The ceilings create the accounts of the tool's own plan of the empty DC, their OUs made first
(not timed). Then the tool's ratio to the best ceiling (target >= 0.9). Beside each figure,
the CPU seconds the DC used: the DC is the bottleneck of every ceiling, so a DC busy well
below 100% there means the machine's other load took its share.
Run: `make bench` or `python bench/apply_ceiling.py [--rounds N]`.
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
    """One account as the ceilings write it: DN and the attributes of the tool's create."""

    dn: str
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Layout:
    """What every ceiling writes: the OUs (in order, parents first) and the accounts."""

    ous: tuple[str, ...]
    accounts: tuple[Entry, ...]


@dataclass(frozen=True)
class Figure:
    label: str
    created: int
    seconds: float
    dc_cpu: float  # CPU seconds the DC used meanwhile
    note: str = ""

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


def make_ous(dc: DomainController, layout: Layout) -> None:
    conn = connect(settings(dc))
    try:
        for dn in layout.ous:
            if not conn.add(dn, ["top", "organizationalUnit"]):
                raise SystemExit(f"creating {dn} failed: {conn.result}")
    finally:
        conn.unbind()


def count_accounts(dc: DomainController, region: Region) -> int:
    return len(LdapDirectory(settings(dc)).read(scope_of(region), 4).accounts)


def ldap3_loop(dc: DomainController, entries: Sequence[Entry]) -> None:
    """The bare loop: connect, one add per account (the directory is counted afterwards)."""
    conn = connect(settings(dc))
    try:
        for entry in entries:
            conn.add(entry.dn, list(USER_CLASSES), entry.attributes)
    finally:
        conn.unbind()


def ldap3_ceiling(dc: DomainController, layout: Layout, connections: int) -> str:
    """The bare loop over `connections` connections, one thread each."""
    if connections == 1:
        ldap3_loop(dc, layout.accounts)
    else:
        shares = [layout.accounts[i::connections] for i in range(connections)]
        with ThreadPoolExecutor(max_workers=connections) as pool:
            list(pool.map(lambda share: ldap3_loop(dc, share), shares))
    return ""


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
    """The accounts as an LDIF of adds; it holds their passwords, so 0600."""
    lines: list[str] = []
    for entry in entries:
        lines.append(_ldif_line("dn", entry.dn))
        lines.extend(_ldif_line("objectClass", c) for c in USER_CLASSES)
        lines.extend(_ldif_line(name, value) for name, value in entry.attributes.items())
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


def ldapadd_ceiling(dc: DomainController, ldif: Path, work: Path) -> str:
    """One ldapadd of the accounts' LDIF over LDAPS."""
    hosts = work / "hosts.ldapadd"
    hosts.write_text(f"127.0.0.1 localhost\n{dc.address} {dc.tls_name}\n", encoding="utf-8")
    # The bind password comes from the DC's 0600 file (-y), never on the command line.
    command = ["unshare", "--mount", "sh", "-c",
               'mount --bind "$1" /etc/hosts && shift && exec ldapadd "$@"', "sh", str(hosts),
               "-H", f"ldaps://{dc.tls_name}:636", "-x", "-D", dc.bind_user,
               "-y", str(dc.password_file), "-c", "-f", str(ldif)]
    env = {**os.environ, "LDAPTLS_CACERT": str(dc.ca_file), "LDAPTLS_REQCERT": "demand"}
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, check=False)
    return f"ldapadd exit {done.returncode}: {done.stderr.strip()[-300:]}" \
        if done.returncode else ""


def tool_apply(dc: DomainController, inventory: Path, work: Path, workers: int | None) -> str:
    """`ssc-infra apply --yes` of the sample: its exit code, and where the time went."""
    work.mkdir()
    targets = write_targets(work, dc, workers)
    state = work / "state"
    started = time.time()
    code = cli("apply", "--yes", *cli_options(inventory, targets, state))
    return f"exit {code}; " + _phases(state / "audit.jsonl", started, time.time())


def _phases(audit: Path, started: float, ended: float) -> str:
    """From the audit log (times to the second): until the first account, the accounts, after."""
    stamps: dict[str, list[float]] = {}
    with audit.open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            at = datetime.fromisoformat(item["time"]).timestamp()
            what = "host" if item.get("backend") == "hosts" else item["kind"]
            stamps.setdefault(what, []).append(at)
    accounts = stamps.get("account")
    if not accounts:
        return ""
    first, last = min(accounts), max(accounts)
    hosts = stamps.get("host", [])
    return (f"before the first account {first - started:.0f} s, accounts {last - first:.0f} s, "
            f"after the last account {ended - last:.0f} s"
            + (f" (hosts audited {max(hosts) - last:+.0f} s from it)" if hosts else ""))


def measure(label: str, work: Path, region: Region, layout: Layout | None,
            write: Callable[[DomainController], str]) -> Figure:
    """One figure: a fresh DC (with the OUs for a ceiling), `write` timed, the accounts counted
    in the directory afterwards."""
    with fresh_dc(work / "dc") as dc:
        if layout is not None:
            make_ous(dc, layout)
        cpu = dc_cpu_seconds(dc)
        started = time.perf_counter()
        note = write(dc)
        seconds = time.perf_counter() - started
        figure = Figure(label, count_accounts(dc, region), seconds, dc_cpu_seconds(dc) - cpu,
                        note)
    print(f"  {label}: {figure.created:,} accounts in {seconds:.1f} s"
          + (f" ({note})" if note else ""), flush=True)
    return figure


def one_round(inventory: Path, work: Path, workers: int | None) -> list[Figure]:
    region = load(inventory, TODAY)
    with fresh_dc(work / "dc") as dc:
        layout = layout_of(region, dc)
    figures = [measure(f"ceiling: bare ldap3 loop, {n} connection" + "s" * (n > 1), work,
                       region, layout, partial(ldap3_ceiling, layout=layout, connections=n))
               for n in (1, 4)]
    if shutil.which("ldapadd") is None:
        print("  ldapadd: not installed (apt-get install ldap-utils, or make system)")
    elif not can_name_the_dc():
        print("  ldapadd: no private mount namespace here to reach the DC by its "
              "certificate's name; left out")
    else:
        ldif = work / "accounts.ldif"
        write_ldif(ldif, layout.accounts)
        figures.append(measure("ceiling: ldapadd of the equivalent LDIF, LDAPS", work, region,
                               layout, lambda dc: ldapadd_ceiling(dc, ldif, work)))
        ldif.unlink()
    figures.append(measure("ssc-infra apply --yes: plan, accounts, groups, members, hosts",
                           work, region, None,
                           lambda dc: tool_apply(dc, inventory, work / "tool", workers)))
    return figures


def report(figures: Sequence[Figure]) -> float:
    print(f"  {'':<62} {'accounts':>8} {'wall':>8} {'accounts/s':>11} {'DC CPU':>8}"
          f" {'DC busy':>8}")
    for f in figures:
        print(f"  {f.label:<62} {f.created:>8,} {f.seconds:>7.1f}s {f.rate:>11.1f}"
              f" {f.dc_cpu:>7.1f}s {f.dc_cpu / f.seconds:>8.0%}")
    ceilings = [f for f in figures if f.label.startswith("ceiling")]
    best = max(ceilings, key=lambda f: f.rate)
    tool = figures[-1]
    ratio = tool.rate / best.rate
    print(f"  the tool / the best ceiling ({best.label.removeprefix('ceiling: ')}): "
          f"{ratio:.2f} (target >= 0.9)")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    parser.add_argument("--rounds", type=int, default=1, help="repeat everything N times")
    parser.add_argument("--workers", type=int, default=None,
                        help="the tool's LDAP connections (default: the tool's own default)")
    args = parser.parse_args()
    ratios = []
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="ssc-bench-ceiling-") as tmp:
            print(f"round {number} of {args.rounds}:", flush=True)
            figures = one_round(args.inventory, Path(tmp), args.workers)
            ratios.append(report(figures))
    if len(ratios) > 1:
        print("the tool / the best ceiling, each round: "
              + ", ".join(f"{r:.2f}" for r in ratios))


if __name__ == "__main__":
    main()
