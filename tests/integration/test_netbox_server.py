"""The lab NetBox itself: a real NetBox 4.7 on a loopback port, its secrets kept 0600, and a
reset that empties it while it runs."""

from __future__ import annotations

import ipaddress
import json
import stat
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import pytest

from ssc_infra_lab.netbox import NetBoxServer, netbox_status, reset_netbox

pytestmark = pytest.mark.integration
WELL_KNOWN = {80, 443, 5432, 6379, 8000, 8080, 8443}


def _call(server: NetBoxServer, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{server.url}/api/{path}", method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token()}", "Accept": "application/json",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_the_api_answers_with_the_token_as_netbox_4_7(netbox: NetBoxServer) -> None:
    status = _call(netbox, "GET", "status/")
    assert status["netbox-version"].startswith("4.7."), status


def test_a_reset_removes_what_a_test_made(netbox: NetBoxServer) -> None:
    made = _call(netbox, "POST", "tenancy/tenants/", {"name": "Smoke", "slug": "smoke"})
    assert _call(netbox, "GET", f"tenancy/tenants/?slug={made['slug']}")["count"] == 1

    reset_netbox(netbox)

    assert _call(netbox, "GET", "tenancy/tenants/?slug=smoke")["count"] == 0
    assert _call(netbox, "GET", "status/")["netbox-version"].startswith("4.7.")  # token kept


def test_the_token_and_the_admin_password_are_owner_only(netbox: NetBoxServer) -> None:
    for path in (netbox.token_file, netbox.admin_password_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert netbox.token().startswith("nbt_")
    assert stat.S_IMODE(netbox.directory.stat().st_mode) == 0o700


def test_it_listens_on_loopback_on_a_port_picked_free(netbox: NetBoxServer) -> None:
    url = urlsplit(netbox.url)
    assert url.hostname is not None and ipaddress.ip_address(url.hostname).is_loopback
    assert url.port is not None and url.port not in WELL_KNOWN and url.port > 1024
    assert netbox.postgres_port not in WELL_KNOWN and netbox.redis_port not in WELL_KNOWN


def test_another_process_finds_the_running_server(netbox: NetBoxServer) -> None:
    assert netbox_status(netbox.directory) == netbox
