"""A partner's life against the real Samba DC and the Graph emulator: offboard it with its
handover bundle, verify the bundle against the directory, purge after the retention period.

Nothing is deleted before the purge; the purge deletes only what the verified bundle holds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import stat
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import ldap3
import pytest

from ssc_infra_lab.dc import DomainController
from ssc_infra_lab.graph_emulator import GraphEmulator
from tests.integration.test_ad import TODAY, Lab
from tests.integration.test_graph import Cloud, emulator  # noqa: F401  (its fixture)
from tests.integration.test_hosts import validators  # noqa: F401  (skips without checkers)

pytestmark = pytest.mark.integration

AFTER_RETENTION = (date.fromisoformat(TODAY) + timedelta(days=91)).isoformat()


@pytest.fixture
def lab(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection,
        emulator: GraphEmulator) -> Cloud:  # noqa: F811 (the fixture's name)
    cloud = Cloud(tmp_path, samba_dc, directory, emulator)
    cloud.with_host_folders()
    applied = cloud.cli("apply", "--yes")
    assert applied.code == 0, applied.out + applied.err
    return cloud


def _cli(lab: Cloud, *args: str, today: str = TODAY) -> Any:
    from click.testing import CliRunner

    from ssc_infra.cli.main import main

    common = ["--inventory", str(lab.inventory), "--today", today, "--targets",
              str(lab.targets), "--target", "test", "--state-dir", str(lab.state)]
    result = CliRunner().invoke(main, [*args, *common])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def _alpha_accounts(lab: Cloud) -> dict[str, dict[str, Any]]:
    return {sam: user for sam, user in lab.users().items() if "OU=alpha," in str(user["dn"])}


def test_offboard_writes_the_whole_bundle_first_then_parks_everything_and_deletes_nothing(
        lab: Cloud, tmp_path: Path) -> None:
    before = _alpha_accounts(lab)
    assert len(before) == 4  # 1004 left before the tool began: she never had an account
    folder = tmp_path / "handover" / "alpha"
    run = _cli(lab, "partner", "offboard", "alpha", "--to", str(folder), "--yes")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "marked offboarded" in run.stdout
    # The bundle: whole, private, every account with its attributes and groups.
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["partner"]["code"] == "alpha"
    assert manifest["counts"]["accounts"] == 4 and manifest["counts"]["people"] == 5
    assert manifest["counts"]["groups"] >= 5 and manifest["counts"]["memberships"] > 0
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE((folder / f).stat().st_mode) == 0o600 for f in manifest["files"])
    rows = list(csv.DictReader((folder / "accounts.csv").open(encoding="utf-8")))
    assert {r["sam"] for r in rows} == set(before)
    assert all(r["groups"] for r in rows if r["enabled"] == "yes")
    ldif = (folder / "accounts.ldif").read_text(encoding="utf-8")
    assert ldif.count("\ndn: ") + ldif.count("\ndn:: ") == 4
    assert "unicodePwd" not in ldif
    assert (folder / "configs" / "vpn01" / "etc" / "wireguard" / "wg0.conf").is_file()
    homes = list(csv.DictReader((folder / "homes.csv").open(encoding="utf-8")))
    assert {h["name"] for h in homes if h["kind"] == "home"} == set(before)
    assert all(h["host"] == "fs01" and h["path"].startswith("/srv/homes/alpha/")
               for h in homes)
    assert manifest["counts"]["homes"] == len(homes) > 0
    assert "alpha" in (folder / "configs" / "rad01").rglob("authorize").__next__().read_text()
    # The partner file records it, with the manifest's digest.
    partner = (lab.inventory / "partners" / "alpha.yaml").read_text(encoding="utf-8")
    assert f"manifest_sha256: {manifest and _sha(folder / 'manifest.json')}" in partner
    # Every account parked: disabled, in alpha's leavers OU, out of every group; none deleted.
    after = _alpha_accounts(lab)
    assert set(after) == set(before)
    assert all(",OU=alpha,OU=Leavers," in str(u["dn"]) for u in after.values())
    assert all(int(u["userAccountControl"]) & 2 for u in after.values())
    assert all(str(u["adminDescription"]).endswith(": partner offboarded on 2026-11-23")
               for u in after.values())
    assert all(not lab.members(g) for g in ("alpha-all", "alpha-lic-m365-e3", "alpha-acc-vpn"))
    hosts = tmp_path / "hosts"
    assert not list((hosts / "fs01" / "srv" / "homes" / "alpha").iterdir())  # all archived
    assert {p.name for p in (hosts / "fs01" / "srv" / "archive" / "homes" / "alpha").iterdir()}
    assert "alpha" not in (hosts / "vpn01" / "etc" / "wireguard" / "wg0.conf").read_text()
    # The run converged: nothing left to do, and the bundle verifies against the directory.
    assert lab.cli("plan").code == 0
    verify = _cli(lab, "bundle", "verify", str(folder), "--format", "json")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert json.loads(verify.stdout)["directory"]["present"] == 4


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_declining_the_offboarding_changes_nothing_but_leaves_the_bundle(
        lab: Cloud, tmp_path: Path) -> None:
    partner = (lab.inventory / "partners" / "alpha.yaml").read_bytes()
    before = _alpha_accounts(lab)
    folder = tmp_path / "alpha-bundle"
    from click.testing import CliRunner

    from ssc_infra.cli.main import main

    run = CliRunner().invoke(main, ["partner", "offboard", "alpha", "--to", str(folder),
                                    "--inventory", str(lab.inventory), "--today", TODAY,
                                    "--targets", str(lab.targets), "--target", "test",
                                    "--state-dir", str(lab.state)], input="n\n")
    assert run.exit_code == 2, run.stdout + run.stderr
    assert (lab.inventory / "partners" / "alpha.yaml").read_bytes() == partner
    assert (folder / "manifest.json").is_file()
    assert _alpha_accounts(lab) == before
    again = _cli(lab, "partner", "offboard", "alpha", "--to", str(folder), "--yes")
    assert again.exit_code == 1 and "not an empty folder" in again.stderr  # never overwritten


def test_the_bundle_goes_where_to_resolves_and_a_stop_after_it_takes_it_back(
        lab: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssc_infra.cli.partner_out as partner_cli
    from ssc_infra.core.errors import SscError

    partner = lab.inventory / "partners" / "alpha.yaml"
    before = partner.read_bytes()
    real = tmp_path / "handover"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)

    def stopped(*_args: Any, **_kwargs: Any) -> None:
        raise SscError("the directory went away")

    monkeypatch.setattr(partner_cli, "planned_run", stopped)
    run = _cli(lab, "partner", "offboard", "alpha", "--to", str(tmp_path / "link"), "--yes")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "removed the handover bundle this run wrote to " + str(real) in run.stderr
    assert real.is_dir() and not list(real.iterdir())  # as it was: there, and empty
    assert partner.read_bytes() == before
    monkeypatch.undo()

    (tmp_path / "x").mkdir()
    run = _cli(lab, "partner", "offboard", "alpha", "--to",
               str(tmp_path / "x" / ".." / "link"), "--yes")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert (real / "manifest.json").is_file()
    assert f"bundle: {json.dumps(str(real))}" in partner.read_text(encoding="utf-8")
    assert _cli(lab, "bundle", "verify", str(real)).exit_code == 0


def test_purge_after_retention_deletes_only_what_the_verified_bundle_holds(
        lab: Cloud, tmp_path: Path) -> None:
    folder = tmp_path / "alpha"
    assert _cli(lab, "partner", "offboard", "alpha", "--to", str(folder), "--yes").exit_code == 0
    # Within retention: nothing to delete.
    early = _cli(lab, "purge", "--yes")
    assert early.exit_code == 0 and "0 to delete" in early.stdout
    leavers = _cli(lab, "leavers", "--format", "json", today=AFTER_RETENTION)
    assert leavers.exit_code == 2 and json.loads(leavers.stdout)["due"] == 4
    # A bundle changed since: the offboarded partner's accounts are all kept.
    people = folder / "people.csv"
    original = people.read_bytes()
    people.write_bytes(original + b"9999,Forged,,Row,X,Y,alp-hq,vdi,2020-01-01,\r\n")
    refused = _cli(lab, "purge", "--yes", "--format", "json", today=AFTER_RETENTION)
    assert refused.exit_code == 2
    assert len(json.loads(refused.stdout)["refused"]) == 4
    assert len(_alpha_accounts(lab)) == 4
    people.write_bytes(original)
    # An account of alpha made by hand in its leavers OU since: the bundle does not hold it,
    # so it is not complete; `bundle verify` and the purge say so alike, and nothing of alpha
    # is deleted until it is dealt with.
    base = lab.base
    handmade = f"CN=Hand Made,OU=alpha,OU=Leavers,{base}"
    lab.conn.add(handmade, ["top", "person", "organizationalPerson", "user"],
                 {"sAMAccountName": "handmade", "employeeID": "7777",
                  "userAccountControl": "514",
                  "adminDescription": "ssc-infra: disabled by the tool: leaver on 2026-01-01"})
    verify = _cli(lab, "bundle", "verify", str(folder))
    assert verify.exit_code == 1 and "not in the bundle: handmade" in verify.stderr
    assert "a purge deletes none of this partner's accounts" in verify.stderr
    kept = _cli(lab, "purge", "--yes", "--format", "json", today=AFTER_RETENTION)
    assert kept.exit_code == 2, kept.stdout + kept.stderr
    data = json.loads(kept.stdout)
    assert data["delete"] == [] and len(data["refused"]) == 5
    assert all("does not verify" in r["reason"] and "handmade" in r["reason"]
               for r in data["refused"])
    assert len(_alpha_accounts(lab)) == 5
    # Checked and removed by hand: the bundle is complete again, and the purge goes on.
    assert lab.conn.delete(handmade), lab.conn.result
    run = _cli(lab, "purge", "--yes", "--format", "json", today=AFTER_RETENTION)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert len(json.loads(run.stdout)["delete"]) == 4
    assert _alpha_accounts(lab) == {}
    audit = [json.loads(line) for line in (lab.state / "audit.jsonl").read_text().splitlines()]
    deleted = [e for e in audit if e["command"] == "purge" and e["action"] == "delete"]
    assert len(deleted) == 4 and all(e["result"] == "ok" and "objectGUID" in e["message"]
                                     for e in deleted)
    # The bundle still verifies: its accounts are deleted by the purge, as the log says.
    verify = _cli(lab, "bundle", "verify", str(folder), "--format", "json")
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    found = json.loads(verify.stdout)["directory"]
    assert len(found["purged"]) == 4 and found["extra"] == [] and found["missing"] == []


def test_a_bundle_that_lost_an_account_keeps_the_whole_partner_from_a_purge(
        lab: Cloud, tmp_path: Path) -> None:
    """An account taken out of accounts.json, the checksums and the partner file's manifest
    digest made to fit: the files agree with each other, the directory does not. Verify and
    purge give one verdict: the bundle is incomplete, nothing of the partner is deleted."""
    folder = tmp_path / "alpha"
    assert _cli(lab, "partner", "offboard", "alpha", "--to", str(folder), "--yes").exit_code == 0
    accounts = json.loads((folder / "accounts.json").read_bytes())
    dropped = accounts.pop()
    body = json.dumps(accounts, indent=1).encode()
    (folder / "accounts.json").write_bytes(body)
    manifest = json.loads((folder / "manifest.json").read_bytes())
    manifest["files"]["accounts.json"] = {"sha256": hashlib.sha256(body).hexdigest(),
                                          "bytes": len(body)}
    raw = json.dumps(manifest, indent=1).encode()
    (folder / "manifest.json").write_bytes(raw)
    partner_file = lab.inventory / "partners" / "alpha.yaml"
    text = partner_file.read_text(encoding="utf-8")
    old = next(line.split(":", 1)[1].strip() for line in text.splitlines()
               if line.strip().startswith("manifest_sha256:"))
    partner_file.write_text(text.replace(old, hashlib.sha256(raw).hexdigest()),
                            encoding="utf-8")
    assert _cli(lab, "bundle", "verify", str(folder), "--files-only").exit_code == 0

    verify = _cli(lab, "bundle", "verify", str(folder), "--format", "json")
    assert verify.exit_code == 1, verify.stdout
    extra = json.loads(verify.stdout)["directory"]["extra"]
    assert [e.split(" (")[0] for e in extra] == [dropped["attributes"]["sAMAccountName"][0]]
    purge = _cli(lab, "purge", "--yes", "--format", "json", today=AFTER_RETENTION)
    assert purge.exit_code == 2, purge.stdout + purge.stderr
    data = json.loads(purge.stdout)
    assert data["delete"] == [] and len(data["refused"]) == 4
    assert all("does not verify" in r["reason"] for r in data["refused"])
    assert len(_alpha_accounts(lab)) == 4


@pytest.fixture
def merging(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> Lab:
    """The mini inventory with a second hybrid municipality, gamma, applied with its hosts."""
    from tests.unit.test_merge import GAMMA, GAMMA_PEOPLE

    lab = Lab(tmp_path, samba_dc, directory)
    (lab.inventory / "partners" / "gamma.yaml").write_text(GAMMA, encoding="utf-8")
    (lab.inventory / "people" / "gamma.csv").write_text(GAMMA_PEOPLE, encoding="utf-8")
    lab.with_host_folders()
    applied = lab.apply()
    assert applied.code == 0, applied.out + applied.err
    return lab


def test_a_merge_moves_accounts_homes_and_memberships_and_disables_nobody(
        merging: Lab, tmp_path: Path) -> None:
    lab = merging
    before = {sam: u for sam, u in lab.users().items() if "OU=Partners," in str(u["dn"])}
    homes = tmp_path / "hosts" / "fs01" / "srv" / "homes"
    (homes / "gamma" / "shoekstra" / "notes.txt").write_text("werkinstructies")
    refused = lab.cli("partner", "merge", "alpha", "gamma", "--into", "delta",
                      "--name", "Gemeente Delta", "--upn-suffix", "delta.example", "--yes")
    assert refused.code == 1 and "'1001' is alpha/1001 and gamma/1001" in refused.err
    assert not (lab.inventory / "partners" / "delta.yaml").exists()  # nothing written
    ids = tmp_path / "ids.csv"
    ids.write_text("partner,employee_id,new_employee_id\ngamma,1001,G1001\n")
    run = lab.cli("partner", "merge", "alpha", "gamma", "--into", "delta", "--name",
                  "Gemeente Delta", "--upn-suffix", "delta.example", "--ids", str(ids), "--yes")
    assert run.code == 0, run.out + run.err
    after = lab.users()
    # Every account is there, with its logon name, in delta's OU and under delta's suffix.
    assert set(before) <= set(after)
    for sam, user in before.items():
        moved = after[sam]
        assert ",OU=delta,OU=Partners," in str(moved["dn"]), sam
        assert str(moved["userPrincipalName"]).endswith("@delta.example")
        assert int(moved["userAccountControl"]) & 2 == int(user["userAccountControl"]) & 2
        assert str(user["mail"]).lower() in [str(a).lower().removeprefix("smtp:")
                                             for a in moved["proxyAddresses"]]
    assert after["shoekstra"]["employeeID"] == "G1001"
    # Memberships follow; the merged partners' groups are emptied and marked retired.
    assert "Sjoerd Hoekstra" in lab.members("delta-all")
    assert not lab.members("alpha-all") and not lab.members("gamma-lic-m365-e3")
    lab.conn.search(f"OU=Partners,{lab.base}", "(&(objectClass=group)(cn=gamma-lic-m365-e3))",
                    attributes=["description"])
    retired = str(lab.conn.entries[0].description)
    assert retired.startswith("ssc-infra: retired ") and "the partner merged into delta" in retired
    # Homes move along with their files; nothing was archived.
    assert (homes / "delta" / "shoekstra" / "notes.txt").read_text() == "werkinstructies"
    assert not list((homes / "gamma").iterdir())
    archive = tmp_path / "hosts" / "fs01" / "srv" / "archive" / "homes"
    assert not any(archive.rglob("*")) if archive.exists() else True
    # The inventory: delta's files, the records, and who was who.
    assert "merged: {into: delta" in (lab.inventory / "partners" / "alpha.yaml").read_text()
    assert "gamma,1001,G1001" in (lab.inventory / "merges" / "delta.csv").read_text()
    assert lab.cli("plan").code == 0  # converged


def test_changes_behind_the_tools_back_are_in_the_nightly_html_report(
        lab: Cloud, tmp_path: Path) -> None:
    """An account edited with ldap3, a host file edited, a licence removed in the tenant: the
    drift check over every backend names each, with the person, in the report's JSON and page
    (rendered in Chromium)."""
    from ssc_infra.core.secrets import Secret
    from ssc_infra.m365.graph import Graph
    from ssc_infra.m365.settings import GraphSettings
    from tests.chromium import INSTALL, ChromiumError, chromium, find_chromium
    from tests.integration.conftest import unavailable
    from tests.integration.test_graph import E3

    report = tmp_path / "nightly"
    quiet = lab.cli("drift", "--report", str(report))
    assert quiet.code in (0, 2), quiet.out + quiet.err  # alpha waits for Entra Connect
    jan = lab.users()["jvries"]
    lab.conn.modify(str(jan["dn"]), {"department": [(ldap3.MODIFY_REPLACE, ["Achterkamer"])]})
    vdi = tmp_path / "hosts" / "vdi01" / "etc" / "ssc-vdi" / "assignments.json"
    vdi.write_text(vdi.read_text(encoding="utf-8").replace('"pools"', '"pools" ', 1))
    beta = next(u for u in lab.cloud_users("beta") if u["employeeId"] == "1001")
    settings = GraphSettings(lab.tenants["beta"], lab.emulator.client_id,
                             Secret(lab.emulator.client_secret), graph_url=lab.emulator.url,
                             login_url=lab.emulator.login_url, ca_file=str(lab.emulator.ca_file))
    with Graph(settings) as graph:
        graph.send("POST", f"/users/{beta['id']}/assignLicense",
                   body={"addLicenses": [], "removeLicenses": [E3]})
    run = lab.cli("drift", "--report", str(report))
    assert run.code == 2, run.out + run.err
    data = json.loads((report / "latest.json").read_text(encoding="utf-8"))
    items = data["items"] if "items" in data else [
        i for p in data["partners"] for i in p.get("items", [])]
    found = {(i["backend"], i["kind"], i["key"]): i for i in items}
    assert found[("directory", "account", "alpha/1002")]["label"] == "Vries, Jan de"
    assert found[("graph", "licences", "beta/1001")]["label"] == "Hoekstra, Jildou"
    assert ("hosts", "file", "vdi01:/etc/ssc-vdi/assignments.json") in found
    assert data["summary"]["partners"]["alpha"]["pending"] >= 1
    assert data["summary"]["partners"]["beta"]["pending"] >= 1
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium", "no chromium on PATH", INSTALL)
    try:
        with chromium(binary) as page:
            loaded = page.load((report / "latest.html").as_uri())
            text = str(page.evaluate("document.body.innerText"))
    except ChromiumError as e:
        unavailable("Chromium", str(e), INSTALL)
        raise  # not reached
    assert loaded.errors == [], loaded.errors
    for needle in ("Vries, Jan de", "Hoekstra, Jildou", "assignments.json", "alpha", "beta",
                   "trend (2 reports)"):
        assert needle in text, needle


def test_offboarding_a_cloud_partner_keeps_its_tenant_users_disabled_and_unlicensed(
        lab: Cloud, tmp_path: Path) -> None:
    folder = tmp_path / "beta"
    run = _cli(lab, "partner", "offboard", "beta", "--to", str(folder), "--yes")
    assert run.exit_code == 0, run.stdout + run.stderr
    users = list(csv.DictReader((folder / "m365" / "users.csv").open(encoding="utf-8")))
    assert {u["employee_id"] for u in users} == {"1001", "2002"}
    assert all(u["licences"] == "M365_E3" and u["enabled"] == "yes" for u in users)
    now = lab.cloud_users("beta")
    assert len(now) == 2  # never deleted
    assert all(not u["accountEnabled"] and not u["assignedLicenses"] for u in now)
    assert lab.cli("plan").code == 0
    assert _cli(lab, "bundle", "verify", str(folder)).exit_code == 0
