"""The usage report end to end: the mini inventory applied to the real Samba DC, the Graph
EMULATOR (over HTTPS, a tenant per partner) and the lab's host folders with real Ansible; then
`ssc-infra report usage` through the CLI, its figures checked against what each system holds,
read back on its own: the enabled accounts in AD, the users and licences in the tenants, the
bytes of known files written into the homes.

Proves: every figure is the systems' own; a tenant that cannot be read leaves only that
partner's accounts and licences unknown (the rest is measured and kept, exit 1); the month is
kept and shown again without a system."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml

from ssc_infra_lab.dc import DomainController
from ssc_infra_lab.graph_emulator import Fault, GraphEmulator
from tests.integration.test_ad import TODAY
from tests.integration.test_graph import Cloud
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)

pytestmark = pytest.mark.integration


@pytest.fixture
def cloud(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection,
          emulator: GraphEmulator) -> Cloud:
    """The DC, the emulator and the lab's host folders in one target."""
    lab = Cloud(tmp_path, samba_dc, directory, emulator)
    lab.with_host_folders()
    return lab


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    with GraphEmulator(tmp_path / "emulator") as running:
        yield running


def _usage(cloud: Cloud, *args: str) -> tuple[int, dict[str, Any], str]:
    run = cloud.cli("report", "usage", "--format", "json", *args)
    assert "Traceback" not in run.err, run.err
    return run.code, json.loads(run.out), run.err


def _tree_bytes(folder: Path) -> int:
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and
               not p.is_symlink())


def _write_known_files(homes: Path) -> dict[str, int]:
    """Files of known sizes in every home of alpha: name -> bytes written."""
    written: dict[str, int] = {}
    for n, home in enumerate(sorted(p for p in homes.iterdir() if p.is_dir()), start=1):
        (home / "Documents").mkdir(exist_ok=True)
        (home / "Documents" / "notulen.odt").write_bytes(os.urandom(1000 * n))
        (home / "foto.jpg").write_bytes(b"\0" * (4096 + n))
        written[home.name] = 1000 * n + 4096 + n
    return written


def test_the_figures_are_what_the_systems_hold(cloud: Cloud, tmp_path: Path) -> None:
    applied = cloud.cli("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    cloud.sync()  # Entra Connect: alpha's accounts and licence groups into its tenant
    homes = tmp_path / "hosts" / "fs01" / "srv" / "homes"
    written = _write_known_files(homes / "alpha")
    archive = tmp_path / "hosts" / "fs01" / "srv" / "archive" / "homes" / "alpha" / "yvmeer"
    archive.mkdir(parents=True)
    (archive / "oud.txt").write_bytes(b"y" * 333)

    code, data, err = _usage(cloud)
    assert code == 0, err
    assert data["complete"] is True and data["month"] == TODAY[:7] and data["target"] == "test"
    rows = {p["partner"]: p for p in data["partners"]}

    # alpha (hybrid): accounts from AD, licences from Graph, the licence group beside them
    users = cloud.users()
    enabled = [u for u in users.values()
               if ",OU=alpha," in u["dn"] and not int(u["userAccountControl"]) & 2]
    alpha = rows["alpha"]
    assert alpha["accounts"] == {"active": len(enabled), "unmanaged": 0}
    assert len(enabled) == 3  # 1004 left, 1005 has not started: made, disabled
    licensed = [u for u in cloud.cloud_users("alpha") if u["assignedLicenses"]]
    assert alpha["licences"] == {"M365_E3": len(licensed)} and alpha["licence_source"] == "graph"
    assert alpha["licence_groups"] == {"M365_E3": len(cloud.members("alpha-lic-m365-e3"))}
    assert alpha["workplaces"] == {"vdi": 1, "laptop": 1, "thin_client": 1}
    assert alpha["services"] == ["m365-e3", "zaaksysteem-rex", "vpn"]
    assert alpha["storage"] == {"homes": sum(written.values()), "archive": 333}
    assert alpha["storage"]["homes"] == _tree_bytes(homes / "alpha")

    # beta (cloud): its users and licences as its tenant holds them
    tenant = cloud.cloud_users("beta")
    beta = rows["beta"]
    assert beta["accounts"] == {"active": sum(1 for u in tenant if u["accountEnabled"]),
                                "unmanaged": 0}
    assert beta["licences"] == {"M365_E3": sum(1 for u in tenant if u["assignedLicenses"])}
    assert beta["licences"] == {"M365_E3": 2} and beta["licence_groups"] is None
    assert beta["storage"] == {"homes": _tree_bytes(homes / "beta"), "archive": 0}

    totals = data["totals"]
    assert totals["accounts"]["active"] == 5 and totals["licences"] == {"M365_E3": 5}
    assert totals["storage"]["homes"] == sum(written.values()) + _tree_bytes(homes / "beta")
    kept = cloud.state / "usage" / "test" / f"{TODAY[:7]}.json"
    assert json.loads(kept.read_text(encoding="utf-8"))["partners"] == data["partners"]

    # Nothing was changed by measuring: the next plan has nothing to do.
    assert cloud.cli("plan").code == 0

    # The kept month again, in the billing spreadsheet's form, without asking any system.
    csv_file = tmp_path / "usage.csv"
    saved = cloud.cli("report", "usage", "--saved", "--format", "csv", "--out", str(csv_file))
    assert saved.code == 0, saved.err
    lines = csv_file.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("month,partner,name,identity,accounts_active")
    assert lines[1].startswith(f"{TODAY[:7]},alpha,Gemeente Alpha,hybrid,3,0,1,1,1,3,")
    assert lines[-1].startswith(f"{TODAY[:7]},total,2 partners,,5,0,")


def test_a_tenant_that_cannot_be_read_leaves_only_its_partners_figures_unknown(
        cloud: Cloud) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    cloud.sync()
    cloud.emulator.inject(cloud.tenants["beta"], Fault("unavailable", count=1000,
                                                       retry_after=0.01))
    code, data, err = _usage(cloud)
    assert code == 1
    rows = {p["partner"]: p for p in data["partners"]}
    beta = rows["beta"]
    assert beta["accounts"] is None and beta["licences"] is None
    assert {u["figure"] for u in beta["unknown"]} == {"accounts", "licences"}
    assert all("could not be read" in u["reason"] for u in beta["unknown"])
    assert beta["workplaces"] == {"vdi": 0, "laptop": 1, "thin_client": 1}
    assert beta["storage"] is not None
    alpha = rows["alpha"]
    assert not alpha["unknown"] and alpha["licences"] == {"M365_E3": 3}
    assert data["totals"]["accounts"]["active"] is None  # never a total that leaves beta out
    assert "unknown: beta accounts" in err and "unknown: beta licences" in err
    kept = cloud.state / "usage" / "test" / f"{TODAY[:7]}.json"
    assert json.loads(kept.read_text(encoding="utf-8"))["partners"][1]["accounts"] is None


def test_an_unreachable_dc_leaves_the_hybrid_partners_figures_unknown(
        cloud: Cloud, tmp_path: Path) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    targets = yaml.safe_load(cloud.targets.read_text(encoding="utf-8"))
    # A loopback port nobody listens on (the DC's address, the port of the discard service).
    targets["test"]["ad"]["url"] = cloud.dc.url.rsplit(":", 1)[0] + ":9"
    cloud.targets.write_text(yaml.safe_dump(targets), encoding="utf-8")
    code, data, _err = _usage(cloud)
    assert code == 1
    rows = {p["partner"]: p for p in data["partners"]}
    assert rows["alpha"]["accounts"] is None
    assert any("AD could not be read" in u["reason"] for u in rows["alpha"]["unknown"])
    assert rows["beta"]["accounts"] == {"active": 2, "unmanaged": 0}
    assert rows["alpha"]["storage"] is not None

