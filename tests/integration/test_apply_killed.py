"""`apply` killed with SIGKILL at random points, against the real DC and the hosts with real
Ansible: each re-run picks up where the last one died, the last converges, nothing is lost.

The points are drawn afresh on every run of the test (the seed is in every failure message):
anywhere from the plan (before the first write) to the last host file, counted in the audit
lines the killed run had written.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ssc_infra.ad.connection import connect
from ssc_infra.core.errors import BackendError
from ssc_infra.core.secrets import Secret
from ssc_infra.state.folder import recorded_passwords
from tests.integration.conftest import settings_for
from tests.integration.test_ad import TODAY, Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)
from tests.integration.test_one_plan import lab  # noqa: F401  (with the hosts as folders)

pytestmark = pytest.mark.integration

HIRES = 24
KILLS = 3


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def _last_passwords(state: Path) -> dict[tuple[str, str], tuple[str, str]]:
    """(partner, employee id) -> (UPN, password) of the last row written for each account."""
    rows: dict[tuple[str, str], tuple[str, str]] = {}
    files = sorted((state / "credentials").glob("*.csv"), key=lambda p: (p.stat().st_mtime_ns,
                                                                          p.name))
    for path in files:
        with path.open(newline="", encoding="utf-8") as handle:
            for row in list(csv.reader(handle))[1:]:
                rows[(row[0], row[1])] = (row[3], row[4])
    return rows


def _made(region_lab: Lab) -> dict[tuple[str, str], dict[str, object]]:
    """(partner, employee id) -> the account, for every account below the partners OU."""
    found = {}
    for user in region_lab.users().values():
        partner = str(user["dn"]).split(",OU=Partners,")[0].split(",OU=")[-1]
        found[(partner, str(user["employeeID"]))] = user
    return found


def test_apply_killed_at_random_points_converges_and_loses_nothing(
        lab: Lab, tmp_path: Path) -> None:  # noqa: F811  (lab: the fixture imported above)
    hires = "".join(f"{6000 + i},Sjoukje,,Hoekstra,Ruimte,Adviseur,alp-hq,vdi,2020-01-01,\n"
                    for i in range(HIRES))
    lab.edit({"file": "people/alpha.csv", "append": hires},
             {"file": "partners/alpha.yaml", "replace": ["users: 10", "users: 1000"]})
    seed = random.randrange(1_000_000)
    draw = random.Random(seed)
    planned = lab.cli("plan", "--format", "json")
    assert planned.code == 2, planned.err
    total = sum(len(s["changes"]) for s in json.loads(planned.out)["sections"].values())
    audit = lab.state / "audit.jsonl"
    command = [str(Path(sys.executable).parent / "ssc-infra"), "apply", "--yes",
               "--inventory", str(lab.inventory), "--today", TODAY, "--targets",
               str(lab.targets), "--target", "test", "--state-dir", str(lab.state)]
    landed: list[tuple[int, int, int | None]] = []  # (point, lines written, exit code)
    for _ in range(KILLS):
        before = _lines(audit)
        point = draw.randint(0, max(1, total - before))  # 0: somewhere in the plan
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            if point == 0:
                time.sleep(draw.uniform(0.0, 2.0))
            deadline = time.monotonic() + 180
            while process.poll() is None and _lines(audit) - before < point and \
                    time.monotonic() < deadline:
                time.sleep(0.005)
        finally:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.wait()
        landed.append((point, _lines(audit) - before, process.returncode))
        why = f"seed {seed}, kills so far (point, audit lines, exit): {landed}"
        # Whatever the point: every account made so far has its password on disk.
        made = _made(lab)
        assert set(made) <= recorded_passwords(lab.state), why
        # No half-written line in the audit log or the credentials files.
        text = audit.read_text(encoding="utf-8") if audit.exists() else ""
        assert not text or text.endswith("\n"), why
        assert all(json.loads(line) for line in text.splitlines()), why
        assert all(len(row) == 2 for row in _last_passwords(lab.state).values()), why

    why = f"seed {seed}, kills (point, audit lines, exit): {landed}"
    final = lab.apply()
    assert final.code == 0, f"{why}\n{final.out}{final.err}"
    again = lab.cli("plan")
    assert again.code == 0, f"{why}: the plan after the re-run is not empty\n{again.out}"
    drift = lab.cli("drift")
    assert drift.code == 0, f"{why}\n{drift.out}{drift.err}"
    made = _made(lab)
    assert len(made) == 4 + HIRES, why  # every person of alpha has an account
    assert len(lab.members("alpha-all")) == 4 + HIRES, why
    homes = {p.name for p in (tmp_path / "hosts" / "fs01" / "srv/homes/alpha").iterdir()}
    assert homes == {str(u["sAMAccountName"]) for u in made.values()}, why
    # The last password written down for each account is the one the DC has: a bind with it
    # is told to change it first (a wrong one would be refused as invalid).
    passwords = _last_passwords(lab.state)
    for key, user in made.items():
        if int(str(user["userAccountControl"])) & 2:  # not yet started: disabled
            continue
        upn, password = passwords[key]
        with pytest.raises(BackendError, match="the password must be changed first"):
            connect(settings_for(lab.dc, bind_user=upn, password=Secret(password)))
