"""A state directory written by ssc-infra 0.1.0, the layout before the redesign, is read and
applied by this version: its kept names, kept addresses and audit log carry on.

`tests/fixtures/state-0.1.0/` is what 0.1.0 (commit e272183) left in its state directory after
`lab up`, `plan --out` and `apply` of the mini inventory on 2026-03-01: the name ledger
(`names.json`), the addresses handed out (`addresses.json`), the audit log, the copy of the
applied HR exports, the directory snapshot and the hosts' sync records (both of another DC and
other host folders, as after a move of the management host). The sealing key, the initial
passwords and the lab are not kept: a key never leaves its state directory.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ssc_infra.ad.connection import connect
from ssc_infra.cli.main import main
from ssc_infra_lab.dc import DomainController, stop_dc
from tests.conftest import ROOT
from tests.integration.conftest import settings_for, start_or_give_up
from tests.integration.test_ad import Lab
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)

pytestmark = pytest.mark.integration

OLD_STATE = ROOT / "tests" / "fixtures" / "state-0.1.0"
OLD_RUN = "20261204T193356Z-16482-891d"  # the apply 0.1.0 made


def _private_copy(source: Path, target: Path) -> None:
    """The fixture as the old version left it: folders 0700, files 0600 (git keeps neither)."""
    shutil.copytree(source, target)
    target.chmod(0o700)
    for path in target.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)


def run_cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _partner_of(dn: str) -> str:
    """The partner OU an account sits below: the RDN just above OU=Partners."""
    rdns = [part.split("=", 1)[1].lower() for part in dn.split(",")]
    return rdns[rdns.index("partners") - 1]


@pytest.fixture
def fresh_dc(tmp_path: Path) -> Iterator[DomainController]:
    """A DC of its own, empty: names other tests leave in the shared DC would be avoided."""
    dc = start_or_give_up(tmp_path / "dc", "ssc.test")
    yield dc
    stop_dc(dc)


@pytest.fixture
def old_lab(tmp_path: Path, fresh_dc: DomainController,
            validators: None) -> Iterator[Lab]:  # noqa: F811
    conn = connect(settings_for(fresh_dc))
    lab = Lab(tmp_path, fresh_dc, conn)
    _private_copy(OLD_STATE, lab.state)
    lab.with_host_folders()
    yield lab
    conn.unbind()


def test_the_old_state_dir_keeps_its_names_addresses_and_history(old_lab: Lab) -> None:
    kept = {(n["partner"], n["employee_id"]): n["sam"]
            for n in json.loads((OLD_STATE / "names.json").read_text())["names"]}
    assert kept[("alpha", "1003")] == "jvries2"  # the second J. de Vries of alpha
    # Jan de Vries (1002) leaves the HR export before his account exists in this directory:
    # derived afresh, Jelle (1003) would be `jvries`; the old ledger keeps him `jvries2`.
    people = old_lab.inventory / "people" / "alpha.csv"
    people.write_text("".join(line for line in people.read_text().splitlines(keepends=True)
                              if not line.startswith("1002,")))

    held = old_lab.apply()
    assert held.code == 1  # one row fewer than 0.1.0 applied (its copy of the HR exports)
    assert "1 fewer than as applied 2026-12-04 19:34 UTC (5)" in held.err
    done = old_lab.apply("--allow-disable", "alpha=1")
    assert done.code == 0, done.out + done.err
    users = old_lab.users()
    by_id = {(_partner_of(u["dn"]), str(u["employeeID"])): sam for sam, u in users.items()}
    assert by_id[("alpha", "1003")] == "jvries2"
    # every account made here that 0.1.0 had named keeps that name (1004 left in January;
    # beta is a cloud partner, its accounts are in Microsoft 365)
    named = {key: by_id[key] for key in kept if key in by_id}
    assert len(named) >= 2 and named == {key: kept[key] for key in named}

    addresses = json.loads((OLD_STATE / "addresses.json").read_text())
    hosts = old_lab.state.parent / "hosts"
    written = "".join(p.read_text(errors="replace") for p in hosts.rglob("*") if p.is_file())
    for by_tag in addresses.values():
        for address in by_tag.values():
            assert address in written, f"the kept address {address} was handed out anew"

    history = run_cli("history", "--state-dir", str(old_lab.state), "--format", "json",
                      "--last", "50")
    assert history.exit_code == 0, history.output
    runs = [r["run"] for r in json.loads(history.stdout)["runs"]]
    assert OLD_RUN in runs and len(runs) >= 2  # the old apply, then this one

    again = old_lab.cli("plan")
    assert again.code == 0, again.out + again.err
