"""NetBox as mirror and source, against a real NetBox 4.7 (PostgreSQL, Redis, gunicorn).

Each test starts from an empty NetBox (the migrated template database cloned again) and the
mini inventory; what NetBox holds is read back through its REST API.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from ssc_infra.cli.main import main
from ssc_infra.core.secrets import Secret
from ssc_infra.netbox.client import NetBoxSettings
from ssc_infra.netbox.source import NetBoxSource
from ssc_infra.sources.files import load
from ssc_infra_lab.netbox import NetBoxServer

ROOT = Path(__file__).resolve().parents[2]
MINI = ROOT / "tests" / "fixtures" / "mini"
TODAY = "2026-03-01"


class Api:
    """A few REST calls, as an engineer's script (or the web UI) makes them."""

    def __init__(self, server: NetBoxServer) -> None:
        self.base = server.url.rstrip("/") + "/api/"
        self.token = server.token()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None

    def all(self, path: str, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in {"limit": "1000", **params}.items())
        return list(self.call("GET", f"{path}?{query}")["results"])

    def one(self, path: str, **params: str) -> dict[str, Any]:
        [found] = self.all(path, **params)
        return found


def _targets(tmp_path: Path, server: NetBoxServer, **settings: Any) -> Path:
    path = tmp_path / "targets.yaml"
    entry = {"url": server.url, "token_file": str(server.token_file), **settings}
    path.write_text(yaml.safe_dump({"lab": {"netbox": entry}}), encoding="utf-8")
    return path


def _inventory(tmp_path: Path) -> Path:
    folder = tmp_path / "inventory"
    shutil.copytree(MINI, folder)
    return folder


def _run(*args: str, targets: Path, inventory: Path, state: Path) -> Result:
    return CliRunner().invoke(main, [*args, "--inventory", str(inventory), "--targets",
                                     str(targets), "--state-dir", str(state), "--today",
                                     TODAY], catch_exceptions=False)


def push_inventory(tmp_path: Path, server: NetBoxServer, *extra: str) -> Result:
    """`netbox push --yes` of the mini inventory (copied into tmp_path once) into `server`."""
    return _run("netbox", "push", "--yes", *extra, targets=_targets(tmp_path, server),
                inventory=_inventory(tmp_path) if not (tmp_path / "inventory").exists()
                else tmp_path / "inventory", state=tmp_path / "state")


def test_push_makes_netbox_hold_the_inventory_and_a_second_push_writes_nothing(
        netbox: NetBoxServer, tmp_path: Path) -> None:
    first = push_inventory(tmp_path, netbox)
    assert first.exit_code == 0, first.output
    api = Api(netbox)
    region = load(MINI, date.fromisoformat(TODAY))
    tenants = {t["slug"]: t for t in api.all("tenancy/tenants/", group="tst")}
    assert set(tenants) == {p.code for p in region.partners}
    alpha = tenants["alpha"]
    assert alpha["custom_fields"]["ssc_upn_suffix"] == "alpha.example"
    assert alpha["custom_fields"]["ssc_services"] == ["m365-e3", "zaaksysteem-rex", "vpn"]
    site = api.one("dcim/sites/", slug="alp-hq")
    assert "ssc-shared-site" in {t["slug"] for t in site["tags"]}
    assert api.one("ipam/vlans/", site="alp-werf")["vid"] == 111
    assert api.one("ipam/prefixes/", q="10.20.4.0/24")["scope"]["slug"] == "alp-werf"
    thin = api.one("dcim/devices/", name="ALP-T-0001")
    assert thin["tenant"]["slug"] == "alpha" and thin["site"]["slug"] == "alp-werf"
    eth0 = api.one("dcim/interfaces/", device="ALP-T-0001", name="eth0")
    assert eth0["mac_address"].lower() == "02:00:00:00:01:03"
    reservation = api.one("ipam/ip-addresses/", device="ALP-T-0001")
    assert reservation["address"].startswith("10.20.4.")
    laptop = api.one("dcim/devices/", name="ALP-L-0001")
    assert laptop["custom_fields"]["ssc_wg_public_key"].startswith("RCCCPP3m")
    assert api.one("ipam/ip-addresses/", device="ALP-L-0001")["address"].startswith("10.250.")
    host = api.one("dcim/devices/", name="fs01")
    assert host["role"]["slug"] == "fileserver"
    assert host["primary_ip4"]["address"] == "10.1.0.10/32"

    again = _run("netbox", "plan", targets=_targets(tmp_path, netbox),
                 inventory=tmp_path / "inventory", state=tmp_path / "state")
    assert again.exit_code == 0, again.output
    assert "no changes" in again.output
    requests = int(again.output.rsplit("(", 1)[1].split()[0])
    assert requests <= 30, again.output


def test_netbox_as_source_gives_the_same_region(netbox: NetBoxServer,
                                                tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    today = date.fromisoformat(TODAY)
    settings = NetBoxSettings(netbox.url, Secret(netbox.token()))
    source = NetBoxSource(tmp_path / "inventory", lambda: settings, tmp_path / "state")
    assert source.load(today).strict() == load(MINI, today)


def test_a_thin_client_added_in_netbox_reaches_the_host_files(netbox: NetBoxServer,
                                                              tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    api = Api(netbox)
    # As an engineer does it in the web UI: a device, an interface, its MAC.
    beta_site = api.one("dcim/sites/", tenant="beta")
    device = api.call("POST", "dcim/devices/", {
        "name": "BET-T-0099", "device_type": api.one("dcim/device-types/",
                                                     slug="ssc-thin-client")["id"],
        "role": api.one("dcim/device-roles/", slug="thin-client")["id"],
        "site": beta_site["id"], "tenant": api.one("tenancy/tenants/", slug="beta")["id"],
        "custom_fields": {"ssc_employee_id": _an_employee(tmp_path / "inventory", "beta")}})
    mac = api.call("POST", "dcim/mac-addresses/", {"mac_address": "02:00:00:00:09:99"})
    api.call("POST", "dcim/interfaces/", {"device": device["id"], "name": "eth0",
                                          "type": "1000base-t", "primary_mac_address": mac["id"]})
    vlan = api.one("ipam/vlans/", site=beta_site["slug"])
    api.call("PATCH", f"ipam/vlans/{vlan['id']}/", {"vid": 3333})
    out = tmp_path / "rendered"
    result = _run("render", "--source", "netbox", "--out", str(out),
                  targets=_targets(tmp_path, netbox), inventory=tmp_path / "inventory",
                  state=tmp_path / "state")
    assert result.exit_code == 0, result.output
    text = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    assert "02:00:00:00:09:99" in text
    assert "3333" in text


def _an_employee(inventory: Path, partner: str) -> str:
    lines = (inventory / "people" / f"{partner}.csv").read_text(encoding="utf-8").splitlines()
    return lines[1].split(",")[0]


def test_a_bad_device_in_netbox_holds_only_its_partner(netbox: NetBoxServer,
                                                       tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    api = Api(netbox)
    laptop = api.one("dcim/devices/", name="ALP-L-0001")
    api.call("PATCH", f"dcim/devices/{laptop['id']}/",
             {"custom_fields": {"ssc_wg_public_key": "abc\n[Peer]\nAllowedIPs = 0.0.0.0/0"}})
    result = _run("validate", "--source", "netbox", targets=_targets(tmp_path, netbox),
                  inventory=tmp_path / "inventory", state=tmp_path / "state")
    assert result.exit_code != 0
    assert "NetBox device ALP-L-0001" in result.output
    assert "/dcim/devices/" in result.output
    today = date.fromisoformat(TODAY)
    settings = NetBoxSettings(netbox.url, Secret(netbox.token()))
    loaded = NetBoxSource(tmp_path / "inventory", lambda: settings, tmp_path / "s2").load(today)
    assert list(loaded.held) == ["alpha"]
    assert [p.code for p in loaded.region.partners] == ["beta"]


def test_a_tenant_without_the_custom_fields_is_named(netbox: NetBoxServer,
                                                     tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    api = Api(netbox)
    group = api.one("tenancy/tenant-groups/", slug="tst")
    api.call("POST", "tenancy/tenants/", {"name": "Gemeente Gamma", "slug": "gamma",
                                          "group": group["id"]})
    result = _run("validate", "--source", "netbox", targets=_targets(tmp_path, netbox),
                  inventory=tmp_path / "inventory", state=tmp_path / "state")
    assert result.exit_code == 1
    assert "NetBox tenant Gemeente Gamma" in result.output


def test_an_object_without_the_tag_is_never_touched(netbox: NetBoxServer,
                                                    tmp_path: Path) -> None:
    api = Api(netbox)
    api.call("POST", "tenancy/tenants/", {"name": "Handmade Beta", "slug": "beta"})
    result = push_inventory(tmp_path, netbox)
    assert result.exit_code == 2, result.output
    assert "without the tag ssc-infra" in result.output
    beta = api.one("tenancy/tenants/", slug="beta")
    assert beta["name"] == "Handmade Beta" and beta["tags"] == []
    assert api.one("tenancy/tenants/", slug="alpha")["name"] == "Gemeente Alpha"


def test_a_saved_plan_refuses_an_object_edited_since(netbox: NetBoxServer,
                                                     tmp_path: Path) -> None:
    assert push_inventory(tmp_path, netbox).exit_code == 0
    inventory = tmp_path / "inventory"
    partner = inventory / "partners" / "alpha.yaml"
    partner.write_text(partner.read_text(encoding="utf-8").replace(
        "name: Gemeente Alpha", "name: Gemeente Alpha-Noord"), encoding="utf-8")
    targets = _targets(tmp_path, netbox)
    plan_file = tmp_path / "nb.plan.json"
    planned = _run("netbox", "plan", "--out", str(plan_file), targets=targets,
                   inventory=inventory, state=tmp_path / "state")
    assert planned.exit_code == 2, planned.output
    api = Api(netbox)
    alpha = api.one("tenancy/tenants/", slug="alpha")
    api.call("PATCH", f"tenancy/tenants/{alpha['id']}/", {"name": "Edited In The UI"})
    pushed = _run("netbox", "push", "--yes", str(plan_file), targets=targets,
                  inventory=inventory, state=tmp_path / "state")
    assert pushed.exit_code == 2, pushed.output
    assert "changed in NetBox since the plan" in pushed.output
    assert api.one("tenancy/tenants/", slug="alpha")["name"] == "Edited In The UI"
    edited = json.loads(plan_file.read_text(encoding="utf-8"))
    edited["sections"]["netbox"]["changes"][0]["after"]["name"] = "Evil"
    plan_file.write_text(json.dumps(edited), encoding="utf-8")
    tampered = _run("netbox", "push", "--yes", str(plan_file), targets=targets,
                    inventory=inventory, state=tmp_path / "state")
    assert tampered.exit_code == 1 and "seal" in tampered.output.lower()


def test_a_wrong_token_and_an_unreachable_netbox_say_so(netbox: NetBoxServer,
                                                        tmp_path: Path) -> None:
    bad = tmp_path / "bad-token"
    bad.write_text("nbt_wrongwrong.0123456789abcdef0123456789abcdef01234567", encoding="utf-8")
    targets = _targets(tmp_path, netbox, token_file=str(bad))
    result = CliRunner().invoke(main, ["netbox", "status", "--targets", str(targets)])
    assert result.exit_code == 1
    assert "refused the token" in result.output
    assert "0123456789abcdef" not in result.output
    closed = tmp_path / "closed.yaml"
    closed.write_text(yaml.safe_dump({"lab": {"netbox": {
        "url": "http://127.0.0.1:9", "token_file": str(netbox.token_file)}}}), encoding="utf-8")
    result = CliRunner().invoke(main, ["netbox", "status", "--targets", str(closed)])
    assert result.exit_code == 1
    assert "cannot be reached" in result.output


def test_http_status_is_what_netbox_says(netbox: NetBoxServer) -> None:
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(netbox.url.rstrip("/") + "/api/dcim/devices/", timeout=30)


class _FaultyProxy:
    """A loopback HTTP proxy to NetBox that answers the Nth POST with a 500 of its own."""

    def __init__(self, upstream: str, fail_post: int) -> None:
        import http.server
        import threading

        proxy = self
        self.posts = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "POST":
                    proxy.posts += 1
                    if proxy.posts == fail_post:
                        self.send_response(500)
                        self.send_header("Content-Type", "text/plain")
                        self.end_headers()
                        self.wfile.write(b"Internal Server Error (injected)")
                        return
                request = urllib.request.Request(
                    upstream.rstrip("/") + self.path, data=body, method=self.command,
                    headers={k: v for k, v in self.headers.items()
                             if k.lower() not in ("host", "content-length", "connection")})
                try:
                    with urllib.request.urlopen(request, timeout=120) as answer:
                        status, data, kind = answer.status, answer.read(), answer.headers.get(
                            "Content-Type", "application/json")
                except urllib.error.HTTPError as e:
                    status, data, kind = e.code, e.read(), e.headers.get(
                        "Content-Type", "application/json")
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_a_500_in_the_middle_of_a_push_fails_only_what_it_hit_and_a_rerun_converges(
        netbox: NetBoxServer, tmp_path: Path) -> None:
    proxy = _FaultyProxy(netbox.url, fail_post=8)  # the sites' batch
    try:
        targets = _targets(tmp_path, netbox, url=proxy.url)
        result = _run("netbox", "push", "--yes", targets=targets,
                      inventory=_inventory(tmp_path), state=tmp_path / "state")
    finally:
        proxy.close()
    assert result.exit_code == 1, result.output
    assert "HTTP 500" in result.output
    assert "not sent: site" in result.output
    api = Api(netbox)
    assert api.all("dcim/sites/", tenant_group="tst") == []
    assert {t["slug"] for t in api.all("tenancy/tenants/", group="tst")} == {"alpha", "beta"}
    audit = (tmp_path / "state" / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    assert any('"result": "failed"' in line and '"backend": "netbox"' in line for line in audit)
    again = push_inventory(tmp_path, netbox)
    assert again.exit_code == 0, again.output
    settled = _run("netbox", "plan", targets=_targets(tmp_path, netbox),
                   inventory=tmp_path / "inventory", state=tmp_path / "state")
    assert settled.exit_code == 0, settled.output
