"""Apply the 4,500-person sample to an empty Samba DC, against the raw ldap3 ceiling.

In one run, against one DC (started fresh on a free loopback address):
  1. the raw rate: a minimal ldap3 loop adding equivalent users with a password, one connection;
  2. the tool's apply of the sample region: accounts per second in the account phase;
  3. the raw loop again (the directory is bigger now), so the ceiling brackets the apply;
  4. a plan with nothing to do: wall time and LDAP round trips.
Run: `make bench` or `python bench/ad_apply.py [--raw N] [--workers W]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchlab import ROOT, TODAY, fresh_dc, settings

from ssc_infra.ad.apply import apply_changes
from ssc_infra.ad.connection import connect
from ssc_infra.ad.writer import AdWriter
from ssc_infra.core.plan import ItemResult, ObjectKind, Section
from ssc_infra.core.secrets import new_password
from ssc_infra.run.directory import plan_directory
from ssc_infra.sources.files import load
from ssc_infra_lab.dc import DomainController


def raw_rate(dc: DomainController, count: int, label: str) -> float:
    """Users per second of the simplest loop: one connection, one add with a password each."""
    conn = connect(settings(dc))
    ou = f"OU=Raw{label},{dc.base_dn}"
    conn.add(ou, ["top", "organizationalUnit"])
    started = time.perf_counter()
    for i in range(count):
        ok = conn.add(
            f"CN=Raw {label} {i},{ou}", ["top", "person", "organizationalPerson", "user"],
            {"sAMAccountName": f"raw{label.lower()}{i}", "givenName": "Raw", "sn": f"User {i}",
             "userPrincipalName": f"raw{label.lower()}{i}@{dc.domain}", "employeeID": str(i),
             "displayName": f"User {i}, Raw", "department": "Bench", "company": "Bench",
             "unicodePwd": f'"{new_password()}"'.encode("utf-16-le"),
             "userAccountControl": "512", "pwdLastSet": "0"},
        )
        assert ok, conn.result
    elapsed = time.perf_counter() - started
    conn.unbind()
    return count / elapsed


def plan_for(dc: DomainController, inventory: Path) -> tuple[Section, int, float]:
    started = time.perf_counter()
    run = plan_directory(load(inventory, TODAY), TODAY, settings(dc))
    return run.plan, run.round_trips, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--raw", type=int, default=400, help="users in each raw loop")
    parser.add_argument("--workers", type=int, default=4, help="parallel LDAP connections")
    parser.add_argument("--inventory", type=Path, default=ROOT / "inventory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ssc-bench-ad-") as tmp, \
            fresh_dc(Path(tmp) / "dc") as dc:
        before = raw_rate(dc, args.raw, "Before")
        print(f"raw ldap3 loop (1 connection, empty DC):   {before:6.1f} users/s")
        plan, _, plan_time = plan_for(dc, args.inventory)
        accounts = sum(1 for c in plan.changes if c.kind is ObjectKind.ACCOUNT)
        stamps: list[float] = []

        def on_result(result: ItemResult) -> None:
            if result.change.kind is ObjectKind.ACCOUNT:
                stamps.append(time.perf_counter())

        writer = AdWriter(settings(dc), workers=args.workers,
                          on_password=lambda _change, _password: None)
        started = time.perf_counter()
        report = apply_changes(plan.changes, writer, on_result)
        total = time.perf_counter() - started
        writer.close()
        account_phase = stamps[-1] - stamps[0] if len(stamps) > 1 else total
        rate = accounts / account_phase
        print(f"plan of the empty DC: {len(plan.changes):,} changes in {plan_time:.1f} s")
        print(f"ssc-infra apply ({args.workers} connections): {len(plan.changes):,} changes, "
              f"{len(report.failed)} failed, {total:.1f} s in all; accounts "
              f"{accounts:,} at {rate:6.1f} accounts/s")
        after = raw_rate(dc, args.raw, "After")
        print(f"raw ldap3 loop (1 connection, full DC):    {after:6.1f} users/s")
        ceiling = (before + after) / 2
        print(f"apply / raw ceiling: {rate / ceiling:5.0%} (target >= 80%)")
        noop, trips, noop_time = plan_for(dc, args.inventory)
        partners = len({c.partner for c in plan.changes} - {""})
        print(f"plan with nothing to do: {len(noop.changes)} changes, {noop_time:.2f} s wall "
              f"(load + read + derive + diff), {trips} LDAP round trips for "
              f"{accounts:,} accounts in {partners} partners")


if __name__ == "__main__":
    main()
