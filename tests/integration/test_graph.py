"""Microsoft 365 end to end: the CLI against the real Samba DC and the project's Graph
EMULATOR over HTTPS (its own CA), with the mini inventory: alpha is hybrid, beta is cloud.

Proves: a cloud partner from nothing and a no-op re-run; a leaver disabled, never deleted;
a name change that keeps the old address; seats exhausted hold that partner and the others are
applied; throttling in the middle of a batch applies every write exactly once; an expired
delta link gives a full read; hybrid users with a licence error and not yet synced are reported
apart; a partner switching from cloud to hybrid is refused.
"""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import ldap3
import pytest
import yaml

from ssc_infra.ad.backend import LdapDirectory
from ssc_infra.core.secrets import Secret
from ssc_infra.m365.graph import Graph
from ssc_infra.m365.settings import GraphSettings
from ssc_infra.m365.tenant import USER_SELECT
from ssc_infra.run.directory import scope_of
from ssc_infra.sources.files import FilesSource
from ssc_infra_lab.dc import DomainController
from ssc_infra_lab.graph import entra_sync, sku_id, tenant_id
from ssc_infra_lab.graph_emulator import Fault, GraphEmulator, Sku
from tests.integration.conftest import settings_for
from tests.integration.test_ad import TODAY, Lab

E3 = sku_id("M365_E3")
TODAY_DATE = date.fromisoformat(TODAY)


class Cloud(Lab):
    """The Lab of test_ad (mini inventory, the DC, the CLI) with the Graph emulator in its
    target: a tenant per partner."""

    def __init__(self, root: Path, dc: DomainController, conn: ldap3.Connection,
                 emulator: GraphEmulator) -> None:
        super().__init__(root, dc, conn)
        self.region = FilesSource(self.inventory).load(TODAY_DATE).region
        self.emulator = emulator
        self.tenants = {p.code: tenant_id(self.region, p.code) for p in self.region.partners}
        for partner in self.region.partners:
            emulator.add_tenant(self.tenants[partner.code], [partner.upn_suffix],
                                [Sku(E3, "M365_E3", 20)])
        data = yaml.safe_load(self.targets.read_text(encoding="utf-8"))
        secret = root / "graph-secret"
        secret.write_text(emulator.client_secret, encoding="utf-8")
        secret.chmod(0o600)
        data["test"]["graph"] = {
            "url": emulator.url, "login_url": emulator.login_url,
            "tenant_id": self.tenants["alpha"], "tenants": self.tenants,
            "client_id": emulator.client_id, "client_secret_file": str(secret),
            "ca_file": str(emulator.ca_file), "emulator": True}
        self.targets.write_text(yaml.safe_dump(data), encoding="utf-8")

    def plan_json(self, *args: str) -> dict[str, Any]:
        run = self.cli("plan", "--format", "json", *args)
        assert run.code in (0, 2), run.err
        return dict(json.loads(run.out))

    def graph_changes(self, *args: str) -> list[dict[str, Any]]:
        return list(self.plan_json(*args)["sections"].get("graph", {}).get("changes", []))

    def cloud_users(self, partner: str) -> list[dict[str, Any]]:
        """The tenant's users as Graph gives them (read with the project's client)."""
        settings = GraphSettings(self.tenants[partner], self.emulator.client_id,
                                 Secret(self.emulator.client_secret),
                                 graph_url=self.emulator.url, login_url=self.emulator.login_url,
                                 ca_file=str(self.emulator.ca_file))
        with Graph(settings) as graph:
            return graph.pages("/users", {"$select": ",".join(USER_SELECT)})

    def sync(self) -> None:
        """Entra Connect: alpha's AD accounts into its tenant."""
        region = FilesSource(self.inventory).load(TODAY_DATE).region
        state = LdapDirectory(settings_for(self.dc)).read(scope_of(region), 2)
        entra_sync(region, state, self.tenants, self.emulator)




@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    with GraphEmulator(tmp_path / "emulator") as running:
        yield running


@pytest.fixture
def cloud(tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection,
          emulator: GraphEmulator) -> Cloud:
    return Cloud(tmp_path, samba_dc, directory, emulator)


def test_a_cloud_partner_from_nothing_then_a_rerun_does_nothing(cloud: Cloud) -> None:
    changes = cloud.graph_changes()
    assert {c["partner"] for c in changes} == {"beta"}
    run = cloud.cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    assert "Microsoft 365: " in run.out and "not throttled" in run.out
    users = {u["employeeId"]: u for u in cloud.cloud_users("beta")}
    assert set(users) == {"1001", "2002"}
    assert all(u["accountEnabled"] and u["usageLocation"] == "NL" for u in users.values())
    assert all([a["skuId"] for a in u["assignedLicenses"]] == [E3] for u in users.values())
    assert not cloud.cloud_users("alpha")  # hybrid: never written through Graph
    credentials = list((cloud.state / "credentials").glob("*-m365.csv"))
    assert len(credentials) == 1 and stat.S_IMODE(credentials[0].stat().st_mode) == 0o600
    assert "beta" in credentials[0].read_text(encoding="utf-8")
    writes = len(cloud.emulator.writes(cloud.tenants["beta"]))
    assert cloud.graph_changes() == []
    assert len(cloud.emulator.writes(cloud.tenants["beta"])) == writes


def test_a_partner_given_a_tenant_of_its_own_is_read_whole_there(cloud: Cloud) -> None:
    """A partner onboarded while the target named no tenant for it was read in the default
    tenant; the delta link that tenant gave must not hold it once it has its own."""
    targets = yaml.safe_load(cloud.targets.read_text(encoding="utf-8"))
    own = targets["test"]["graph"]["tenants"].pop("beta")
    cloud.targets.write_text(yaml.safe_dump(targets), encoding="utf-8")
    assert not cloud.plan_json()["sections"]["graph"]["held"]  # beta read in alpha's tenant
    targets["test"]["graph"]["tenants"]["beta"] = own
    cloud.targets.write_text(yaml.safe_dump(targets), encoding="utf-8")
    graph = cloud.plan_json()["sections"]["graph"]
    assert not graph["held"], graph["held"]
    assert {c["partner"] for c in graph["changes"]} == {"beta"}


def test_a_leaver_is_disabled_and_keeps_nothing_but_the_user(cloud: Cloud) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    cloud.edit({"file": "people/beta.csv", "replace": ["2021-04-01,", "2021-04-01,2026-11-01"]})
    held = cloud.cli("plan")
    assert held.code == 2 and "--allow-disable beta=1" in held.out
    run = cloud.cli("apply", "--yes", "--allow-disable", "beta=1")
    assert run.code == 0, run.out + run.err
    user = next(u for u in cloud.cloud_users("beta") if u["employeeId"] == "2002")
    assert user["accountEnabled"] is False and user["assignedLicenses"] == []
    assert len(cloud.cloud_users("beta")) == 2  # never deleted


def test_a_name_change_keeps_the_old_address(cloud: Cloud) -> None:
    region = cloud.inventory / "region.yaml"
    region.write_text(region.read_text(encoding="utf-8").replace(
        'max_len: 20}', 'max_len: 20, upn_follows_name: true}'), encoding="utf-8")
    assert cloud.cli("apply", "--yes").code == 0
    cloud.edit({"file": "people/beta.csv", "replace": ["Hoekstra", "Postma"]})
    run = cloud.cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    user = next(u for u in cloud.cloud_users("beta") if u["employeeId"] == "1001")
    assert user["userPrincipalName"] == user["mail"] == "jildou.postma@beta.example"
    assert "smtp:jildou.hoekstra@beta.example" in [a.lower() for a in user["proxyAddresses"]]


def test_seats_exhausted_hold_that_partner_and_the_others_are_applied(cloud: Cloud) -> None:
    cloud.emulator.set_seats(cloud.tenants["beta"], "M365_E3", 1)
    run = cloud.cli("apply", "--yes")
    assert run.code == 2, run.out + run.err
    assert "needs 2 more M365_E3 licences, 1 free" in run.out
    assert cloud.cloud_users("beta") == []
    assert cloud.cli("drift").code == 2
    assert "alpha" in run.out  # alpha's accounts went on


def _expected_writes(changes: list[dict[str, Any]]) -> Counter[str]:
    """What a plan's Graph changes should make the tenant apply, one write each."""
    want: Counter[str] = Counter()
    for c in changes:
        if c["kind"] == "cloud-members":
            want["member"] += len(c["after"]["add"]) + len(c["after"]["remove"])
        else:
            want[f"{c['kind']} {c['action']}"] += 1
    return want


def _applied(writes: list[tuple[str, str]]) -> Counter[str]:
    got: Counter[str] = Counter()
    for method, path in writes:
        if path.endswith("/$ref"):
            got["member"] += 1
        elif path.endswith("/assignLicense"):
            got["licences update"] += 1
        elif path == "/v1.0/groups":
            got["cloud-group create"] += 1
        elif path == "/v1.0/users" and method == "POST":
            got["cloud-user create"] += 1
        else:
            got[f"{method} {path}"] += 1
    return got


def test_throttling_in_the_middle_of_a_batch_applies_every_write_exactly_once(
        cloud: Cloud) -> None:
    tenant = cloud.tenants["beta"]
    want = _expected_writes(cloud.graph_changes())
    assert want["cloud-group create"] and want["member"]
    # The first $batch runs and its answer is lost (the drop): the first three sub-requests
    # take throttles the client never sees; the next three throttles reach it.
    cloud.emulator.inject(tenant, Fault("throttle", count=6, retry_after=0.2, in_batch=True))
    cloud.emulator.inject(tenant, Fault("drop", count=1, path="$batch", executed=True))
    run = cloud.cli("apply", "--yes")
    assert run.code == 0, run.out + run.err
    assert "throttled 3 times (HTTP 429)" in run.out  # the operator sees Graph held back
    assert "1 dropped connections" in run.out
    assert _applied(cloud.emulator.writes(tenant)) == want  # none lost, none twice
    assert {u["employeeId"] for u in cloud.cloud_users("beta")} == {"1001", "2002"}
    assert cloud.graph_changes() == []


def test_an_expired_delta_link_gives_a_full_read(cloud: Cloud) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    cloud.emulator.expire_deltas(cloud.tenants["beta"])
    assert cloud.graph_changes() == []  # read in full again, nothing lost
    links = json.loads((cloud.state / "graph" / "delta.json").read_text(encoding="utf-8"))
    assert "beta" in json.dumps(links)


def test_hybrid_licence_errors_are_drift_and_unsynced_users_wait(cloud: Cloud) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    waiting = cloud.plan_json()["sections"]["graph"]["unmanaged"]
    alpha = [u for u in waiting if u["partner"] == "alpha"]
    assert alpha and all(u["known"].startswith("waiting for Entra Connect") for u in alpha)
    cloud.emulator.set_seats(cloud.tenants["alpha"], "M365_E3", 1)  # fewer seats than people
    cloud.sync()
    found = cloud.plan_json()["sections"]["graph"]["unmanaged"]
    errors = [u for u in found if u["partner"] == "alpha" and "CountViolation" in u["reason"]]
    assert errors and all(not u["known"] for u in errors)
    drift = cloud.cli("drift")
    assert drift.code == 2 and "CountViolation" in drift.out
    cloud.emulator.set_seats(cloud.tenants["alpha"], "M365_E3", 20)
    cloud.sync()
    assert cloud.cli("drift").code == 0


def test_a_partner_switching_from_cloud_to_hybrid_is_refused(cloud: Cloud) -> None:
    assert cloud.cli("apply", "--yes").code == 0
    partner = cloud.inventory / "partners" / "beta.yaml"
    partner.write_text(partner.read_text(encoding="utf-8").replace(
        "identity: cloud", "identity: hybrid"), encoding="utf-8")
    run = cloud.cli("plan")
    assert run.code == 2
    assert "switching a partner from cloud to hybrid is a migration" in run.out
    assert "Users,OU=beta" not in run.out  # no AD accounts made for it meanwhile


HOSTILE = "Evil\n[/x][bold red]<script>alert(1)</script> 'quote\" " + "Z" * 10_000


def test_hostile_values_read_from_graph_stay_data_in_plan_drift_and_json(cloud: Cloud) -> None:
    """A tenant is written by others too: what Graph answers is shown escaped, never markup,
    and a hostile value in a user the tool manages is put right like any other."""
    assert cloud.cli("apply", "--yes").code == 0
    settings = GraphSettings(cloud.tenants["beta"], cloud.emulator.client_id,
                             Secret(cloud.emulator.client_secret),
                             graph_url=cloud.emulator.url, login_url=cloud.emulator.login_url,
                             ca_file=str(cloud.emulator.ca_file))
    user = next(u for u in cloud.cloud_users("beta") if u["employeeId"] == "1001")
    with Graph(settings) as graph:
        graph.send("PATCH", f"/users/{user['id']}",
                      body={"displayName": HOSTILE[:256], "jobTitle": HOSTILE[:128]})
        graph.send("POST", "/users", body={  # made by hand: no employee id
            "accountEnabled": True, "displayName": HOSTILE[:256], "mailNickname": "evil",
            "userPrincipalName": "evil@beta.example",
            "passwordProfile": {"password": "Hand-made-2026!", "forceChangePasswordNextSignIn":
                                True}})
    plan = cloud.cli("plan")
    assert plan.code == 2, plan.out + plan.err
    assert "[/x][bold red]<script>" in plan.out  # shown as text, not taken as markup
    assert "Evil\\n" in plan.out  # a line break is shown, never printed as one
    drift = cloud.cli("drift", "--format", "json")
    assert drift.code == 2
    data = json.loads(drift.out)
    changes = data["sections"]["graph"]["changes"]
    fixed = next(c for c in changes if c["key"] == "beta/1001")
    assert fixed["before"]["displayName"] == HOSTILE[:256]  # the value as data, whole
    assert any("evil@beta.example" in u["dn"] for u in data["sections"]["graph"]["unmanaged"])
    assert cloud.cli("apply", "--yes").code == 2  # put right; the hand-made user stays drift
    assert next(u for u in cloud.cloud_users("beta")
                if u["employeeId"] == "1001")["displayName"] != HOSTILE[:256]
    assert any(u["userPrincipalName"] == "evil@beta.example" for u in cloud.cloud_users("beta"))


def test_apply_killed_mid_graph_writes_loses_no_password_and_a_rerun_converges(
        tmp_path: Path, samba_dc: DomainController, directory: ldap3.Connection) -> None:
    """kill -9 while the tenant throttles the writes: every cloud user the killed run made has
    its initial password on disk (written ahead), and a rerun makes nobody twice."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from ssc_infra.state.folder import recorded_passwords

    # A tenant that takes 40 writes per 2 s: the apply takes several seconds, time to kill it.
    with GraphEmulator(tmp_path / "emulator", write_limit=40, write_window=2.0) as emulator:
        cloud = Cloud(tmp_path, samba_dc, directory, emulator)
        hires = "".join(f"{7000 + i},Sietske,,Bosma,Secretariaat,Adviseur,bet-kantoor,vdi,"
                        "2020-01-01,\n" for i in range(90))
        cloud.edit({"file": "people/beta.csv", "append": hires},
                   {"file": "partners/beta.yaml", "replace": ["users: 5", "users: 500"]})
        emulator.set_seats(cloud.tenants["beta"], "M365_E3", 200)
        tenant = cloud.tenants["beta"]
        command = [str(Path(sys.executable).parent / "ssc-infra"), "apply", "--yes",
                   "--inventory", str(cloud.inventory), "--today", TODAY, "--targets",
                   str(cloud.targets), "--target", "test", "--state-dir", str(cloud.state)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 120
            while len(emulator.writes(tenant)) < 30 and process.poll() is None and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            os.kill(process.pid, signal.SIGKILL)  # kill -9 in the middle of the Graph writes
        finally:
            process.wait()
        made = {u["employeeId"] for u in cloud.cloud_users("beta")}
        assert 10 <= len(made) < 92, "the kill came too late (or too early) to test anything"
        assert {("beta", e) for e in made} <= recorded_passwords(cloud.state)
        again = cloud.cli("apply", "--yes")
        assert again.code == 0, again.out + again.err
        users = cloud.cloud_users("beta")
        ids = [u["employeeId"] for u in users]
        assert len(ids) == len(set(ids)) == 92  # nobody made twice
        assert {("beta", e) for e in ids} <= recorded_passwords(cloud.state)
        assert all([a["skuId"] for a in u["assignedLicenses"]] == [E3] for u in users)
        assert cloud.graph_changes() == []
