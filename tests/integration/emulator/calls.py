"""Calls to the Graph emulator as a client makes them (httpx over its HTTPS, its CA trusted),
shared by the emulator's own tests."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx

from ssc_infra_lab.graph_emulator import DEFAULT_SKUS, GraphEmulator

ROOT = Path(__file__).resolve().parents[3]
TENANT = "0d5c6a4e-0000-4000-8000-00000000000a"
OTHER = "0d5c6a4e-0000-4000-8000-00000000000b"
DOMAIN = "gemeente-a.nl"
PASSWORD = "Welkom-2026!x"
E3, E5, EXCHANGE = (s.skuId for s in DEFAULT_SKUS)


def trust(ca_file: Path | str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


class FakeClock:
    """The emulator's throttling clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token_for(emulator: GraphEmulator, tenant: str, secret: str | None = None) -> httpx.Response:
    return httpx.post(f"{emulator.login_url}/{tenant}/oauth2/v2.0/token",
                      data={"grant_type": "client_credentials", "client_id": emulator.client_id,
                            "client_secret": secret or emulator.client_secret,
                            "scope": f"{emulator.url}/.default"},
                      verify=trust(emulator.ca_file), trust_env=False)


def client_for(emulator: GraphEmulator, tenant: str = TENANT) -> httpx.Client:
    access = token_for(emulator, tenant).json()["access_token"]
    return httpx.Client(base_url=f"{emulator.url}/v1.0", verify=trust(emulator.ca_file),
                        trust_env=False, headers={"Authorization": f"Bearer {access}"})


def user_body(name: str, domain: str = DOMAIN, **extra: Any) -> dict[str, Any]:
    return {"accountEnabled": True, "displayName": name.title(), "mailNickname": name,
            "userPrincipalName": f"{name}@{domain}",
            "passwordProfile": {"password": PASSWORD, "forceChangePasswordNextSignIn": True},
            **extra}


def create_user(graph: httpx.Client, name: str, **extra: Any) -> dict[str, Any]:
    response = graph.post("/users", json=user_body(name, **extra))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}
    return error


def batch(graph: httpx.Client, requests_: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    response = graph.post("/$batch", json={"requests": requests_})
    assert response.status_code == 200, response.text
    return {answer["id"]: answer for answer in response.json()["responses"]}


def post_user_step(step_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "method": "POST", "url": "/users", "body": user_body(name),
            "headers": {"Content-Type": "application/json"}, **extra}


def states_of(graph: httpx.Client, upn: str) -> list[dict[str, Any]]:
    response = graph.get(f"/users/{upn}", params={"$select": "licenseAssignmentStates"})
    states: list[dict[str, Any]] = response.json()["licenseAssignmentStates"]
    return states


def consumed(graph: httpx.Client, part_number: str) -> int:
    skus = graph.get("/subscribedSkus").json()["value"]
    return int(next(s for s in skus if s["skuPartNumber"] == part_number)["consumedUnits"])
