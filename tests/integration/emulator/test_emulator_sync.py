"""The Graph emulator as the lab's Entra Connect and as a process: hybrid accounts synced
with group-based licensing, tenants kept apart, `python -m ssc_infra_lab.graph_emulator`
driven by its control surface, its state kept across restarts.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ssc_infra_lab.graph_emulator import EmulatorControl, Fault, GraphEmulator, Sku
from tests.integration.emulator.calls import (
    DOMAIN,
    E3,
    E5,
    EXCHANGE,
    OTHER,
    ROOT,
    TENANT,
    client_for,
    consumed,
    create_user,
    error_of,
    states_of,
    trust,
    user_body,
)

# ---- Entra Connect and group-based licensing -----------------------------------------------


def synced_users(count: int) -> list[dict[str, Any]]:
    return [{"onPremisesImmutableId": f"aW1tdXRhYmxl{n}", "userPrincipalName": f"s{n}@{DOMAIN}",
             "displayName": f"Synced {n}", "employeeId": f"E{n}", "accountEnabled": True,
             "mail": f"s{n}@{DOMAIN}", "usageLocation": "NL"} for n in range(count)]


def test_sync_hybrid_and_group_licences_give_count_violations(emulator: GraphEmulator,
                                                              graph: httpx.Client) -> None:
    users = synced_users(3)
    group = {"onPremisesSecurityIdentifier": "S-1-5-21-1-2-3-1001",
             "displayName": "GG-M365-E3", "members": [u["onPremisesImmutableId"] for u in users]}
    emulator.sync_hybrid(TENANT, users, [group])
    emulator.set_seats(TENANT, "SPE_E3", 2)
    emulator.set_group_licences(TENANT, "GG-M365-E3", ["SPE_E3"])
    group_id = graph.get("/groups", params={"$filter": "displayName eq 'GG-M365-E3'"}).json()[
        "value"][0]["id"]
    states = [states_of(graph, u["userPrincipalName"]) for u in users]
    assert [(s[0]["state"], s[0]["error"]) for s in states] == [
        ("Active", "None"), ("Active", "None"), ("Error", "CountViolation")]
    assert all(s[0]["assignedByGroup"] == group_id and s[0]["skuId"] == E3 for s in states)
    assert consumed(graph, "SPE_E3") == 2
    emulator.set_seats(TENANT, "SPE_E3", 3)
    assert states_of(graph, "s2@gemeente-a.nl")[0]["state"] == "Active"
    assert consumed(graph, "SPE_E3") == 3

    emulator.set_group_licences(TENANT, "GG-M365-E3", ["SPE_E3", "SPE_E5"])
    e5 = [s for s in states_of(graph, "s0@gemeente-a.nl") if s["skuId"] == E5]
    assert e5[0]["state"] == "Error" and e5[0]["error"] == "MutuallyExclusiveViolation"

    emulator.sync_hybrid(TENANT, users, [{**group, "members": [users[0]["onPremisesImmutableId"]]}])
    assert states_of(graph, "s1@gemeente-a.nl") == []
    assert consumed(graph, "SPE_E3") == 1

    synced = graph.get("/users/s0@gemeente-a.nl", params={
        "$select": "id,onPremisesSyncEnabled,onPremisesImmutableId"}).json()
    assert synced["onPremisesSyncEnabled"] is True
    refused = graph.patch(f"/users/{synced['id']}", json={"displayName": "Anders"})
    assert refused.status_code == 400 and "on-premises mastered" in error_of(refused)["message"]
    assert graph.patch(f"/users/{synced['id']}", json={"usageLocation": "BE"}).status_code == 204
    member = graph.post(f"/groups/{group_id}/members/$ref",
                        json={"@odata.id": f"{emulator.url}/v1.0/directoryObjects/"
                                           f"{synced['id']}"})
    assert member.status_code == 400
    assert graph.delete(f"/users/{synced['id']}").status_code == 400
    with pytest.raises(ValueError, match="unknown members"):
        emulator.sync_hybrid(TENANT, [], [{**group, "members": ["nobody"]}])


def test_sync_takes_over_a_cloud_user_with_the_same_upn(emulator: GraphEmulator,
                                                         graph: httpx.Client) -> None:
    cloud = create_user(graph, "s0")
    emulator.sync_hybrid(TENANT, synced_users(1), [])
    synced = graph.get("/users/s0@gemeente-a.nl",
                       params={"$select": "id,onPremisesSyncEnabled,employeeId"}).json()
    assert synced == {"@odata.context": synced["@odata.context"], "id": cloud["id"],
                      "onPremisesSyncEnabled": True, "employeeId": "E0"}


def test_sync_refuses_what_entra_connect_could_not_export(emulator: GraphEmulator) -> None:
    with pytest.raises(ValueError, match="onPremisesImmutableId is required"):
        emulator.sync_hybrid(TENANT, [{"userPrincipalName": f"x@{DOMAIN}"}], [])
    with pytest.raises(ValueError, match="domain"):
        emulator.sync_hybrid(TENANT, [{"onPremisesImmutableId": "a",
                                       "userPrincipalName": "x@elders.nl"}], [])
    with pytest.raises(ValueError, match="unknown properties"):
        emulator.sync_hybrid(TENANT, [{**synced_users(1)[0], "city": "Sneek"}], [])
    with pytest.raises(ValueError, match="no SKU"):
        emulator.set_seats(TENANT, "SPE_F1", 3)


def test_purge_member_of_domains_and_group_licences_through_graph(
        emulator: GraphEmulator, graph: httpx.Client) -> None:
    user = create_user(graph, "weg", usageLocation="NL")
    group = graph.post("/groups", json={"displayName": "Team", "mailEnabled": True,
                                        "mailNickname": "team", "securityEnabled": False,
                                        "groupTypes": ["Unified"]}).json()
    assert group["mail"] == f"team@{DOMAIN}"
    graph.post(f"/groups/{group['id']}/members/$ref",
               json={"@odata.id": f"{emulator.url}/v1.0/users/{user['id']}"})
    granted = graph.post(f"/groups/{group['id']}/assignLicense",
                         json={"addLicenses": [{"skuId": EXCHANGE}], "removeLicenses": []})
    assert granted.status_code == 202
    assert states_of(graph, user["id"])[0]["assignedByGroup"] == group["id"]
    inherited = graph.post(f"/users/{user['id']}/assignLicense",
                           json={"addLicenses": [], "removeLicenses": [EXCHANGE]})
    assert "inherited from a group" in error_of(inherited)["message"]
    member_of = graph.get(f"/users/{user['id']}/memberOf").json()["value"]
    assert [g["displayName"] for g in member_of] == ["Team"]
    domains = graph.get("/domains").json()["value"]
    assert [(d["id"], d["isDefault"]) for d in domains] == [
        (DOMAIN, True), ("gemeentea.onmicrosoft.com", False)]
    assert graph.get("/organization").json()["value"][0]["id"] == TENANT
    delta_link = graph.get("/users/delta").json()["@odata.deltaLink"]
    assert graph.delete(f"/users/{user['id']}").status_code == 204
    assert consumed(graph, "EXCHANGESTANDARD") == 0
    assert graph.delete(f"/directory/deletedItems/{user['id']}").status_code == 204
    removed = graph.get(delta_link).json()["value"]
    assert removed == [{"id": user["id"], "@removed": {"reason": "deleted"}}]


def test_tenants_are_isolated(emulator: GraphEmulator, graph: httpx.Client) -> None:
    emulator.add_tenant(OTHER, ["gemeente-b.nl"], skus=[Sku(E3, "SPE_E3", 5)])
    mine = create_user(graph, "alleen")
    with client_for(emulator, OTHER) as other:
        assert other.get("/users").json()["value"] == []
        assert other.get(f"/users/{mine['id']}").status_code == 404
        assert other.post("/users", json=user_body("x")).status_code == 400  # A's domain
        made = other.post("/users", json=user_body("x", domain="gemeente-b.nl"))
        assert made.status_code == 201
        skus = other.get("/subscribedSkus").json()["value"]
        assert [s["skuPartNumber"] for s in skus] == ["SPE_E3"]
    assert [u["mailNickname"] for u in graph.get(
        "/users", params={"$select": "mailNickname"}).json()["value"]] == ["alleen"]
    assert len(emulator.writes(TENANT)) == 1 and len(emulator.writes(OTHER)) == 1
    with pytest.raises(ValueError, match="already belongs"):
        emulator.add_tenant("third", [DOMAIN])


# ---- the process, control and state --------------------------------------------------------


def wait_for(path: Path, process: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the emulator exited: {process.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.02)


def run_emulator(directory: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "ssc_infra_lab.graph_emulator", "--dir", str(directory), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_process(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=20)
    assert process.returncode == 0
    return out


def test_main_runs_as_a_process_driven_by_emulator_control(tmp_path: Path) -> None:
    directory = tmp_path / "lab-graph"
    process = run_emulator(directory, "--tenant", f"{TENANT}={DOMAIN}")
    try:
        wait_for(directory / "emulator.json", process)
        info = json.loads((directory / "emulator.json").read_text())
        assert info["pid"] == process.pid and info["tenants"] == {TENANT: [DOMAIN]}
        assert (directory / "emulator.json").stat().st_mode & 0o777 == 0o600
        assert (directory / "client-secret").stat().st_mode & 0o777 == 0o600
        secret = (directory / "client-secret").read_text().strip()
        with EmulatorControl.from_directory(directory) as control:
            control.add_tenant(OTHER, ["gemeente-b.nl"])
            control.sync_hybrid(OTHER, [{"onPremisesImmutableId": "x1",
                                         "userPrincipalName": "p@gemeente-b.nl",
                                         "displayName": "P", "usageLocation": "NL"}],
                                [{"onPremisesSecurityIdentifier": "S-1", "displayName": "G",
                                  "members": ["x1"]}])
            control.set_seats(OTHER, "SPE_E3", 0)
            control.set_group_licences(OTHER, "G", ["SPE_E3"])
            control.inject(OTHER, Fault("throttle", retry_after=0.01, path="/users"))
            with pytest.raises(ValueError, match="no tenant"):
                control.set_seats("nobody", "SPE_E3", 1)
            access = httpx.post(
                f"{info['login_url']}/{OTHER}/oauth2/v2.0/token", verify=trust(info["ca_file"]),
                trust_env=False, data={"grant_type": "client_credentials",
                                       "client_id": info["client_id"], "client_secret": secret,
                                       "scope": f"{info['url']}/.default"}).json()
            with httpx.Client(base_url=f"{info['url']}/v1.0", verify=trust(info["ca_file"]),
                              trust_env=False, headers={
                                  "Authorization": f"Bearer {access['access_token']}"}) as graph:
                assert graph.get("/users/p@gemeente-b.nl").status_code == 429
                states = graph.get("/users/p@gemeente-b.nl",
                                   params={"$select": "licenseAssignmentStates"}).json()
                assert states["licenseAssignmentStates"][0]["error"] == "CountViolation"
                create_user(graph, "nieuw", domain="gemeente-b.nl")
            assert control.writes(OTHER) == [("POST", "/v1.0/users")]
            assert control.status()["throttled"] == 1
        refused = httpx.get(f"{info['url']}/_emulator/status", verify=trust(info["ca_file"]),
                            trust_env=False)
        assert refused.status_code == 401
    finally:
        if process.poll() is None:
            output = stop_process(process)
            assert "EMULATOR" in output and secret not in output
    assert not (directory / "emulator.json").exists()
    assert (directory / "state.json").stat().st_mode & 0o777 == 0o600

    again = run_emulator(directory, "--tenant", f"{TENANT}={DOMAIN}")
    try:
        wait_for(directory / "emulator.json", again)
        info = json.loads((directory / "emulator.json").read_text())
        assert set(info["tenants"]) == {TENANT, OTHER}
        with EmulatorControl.from_directory(directory) as control:
            control.set_seats(OTHER, "SPE_E3", 1)  # the state came back: the group is there
    finally:
        stop_process(again)


def test_state_is_persisted_and_reloaded(tmp_path: Path) -> None:
    directory = tmp_path / "graph"
    with GraphEmulator(directory) as first:
        first.add_tenant(TENANT, [DOMAIN])
        with client_for(first) as graph:
            user = create_user(graph, "blijft", usageLocation="NL")
            graph.post(f"/users/{user['id']}/assignLicense",
                       json={"addLicenses": [{"skuId": E3}], "removeLicenses": []})
            delta_link = graph.get("/users/delta").json()["@odata.deltaLink"]
        secret, ca = first.client_secret, first.ca_file.read_bytes()
    assert (directory / "state.json").stat().st_mode & 0o777 == 0o600
    with GraphEmulator(directory) as second:
        assert second.client_secret == secret and second.ca_file.read_bytes() == ca
        second.add_tenant(TENANT, [DOMAIN])  # the same tenant again: nothing changes
        with client_for(second) as graph:
            again = graph.get("/users/blijft@gemeente-a.nl",
                              params={"$select": "id,assignedLicenses"}).json()
            assert again["id"] == user["id"]
            assert again["assignedLicenses"] == [{"disabledPlans": [], "skuId": E3}]
            assert consumed(graph, "SPE_E3") == 1
            old_link = delta_link.replace(delta_link.split("/v1.0")[0], second.url)
            assert graph.get(old_link).json()["value"] == []
            assert graph.post("/users", json=user_body("blijft")).status_code == 400
            second.add_tenant(TENANT, [DOMAIN], [Sku(E3, "SPE_E3", 7)])  # more seats bought
            skus = {s["skuPartNumber"]: s for s in graph.get("/subscribedSkus").json()["value"]}
            assert skus["SPE_E3"]["prepaidUnits"]["enabled"] == 7
            assert skus["SPE_E3"]["consumedUnits"] == 1 and "EXCHANGESTANDARD" in skus
        with pytest.raises(ValueError, match="domains"):
            second.add_tenant(TENANT, ["elders.nl"])


def test_the_emulator_binds_only_to_loopback(tmp_path: Path) -> None:
    for address in ("0.0.0.0", "192.0.2.1", "localhost"):
        with pytest.raises(ValueError, match="loopback"):
            GraphEmulator(tmp_path / "graph", address)
