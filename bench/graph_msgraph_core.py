"""bench/graph.py's msgraph-core side, run by the venv that has it (.venv-graph-bench): read
every user of the emulator's tenant with msgraph-core's client (its default middleware: retry,
redirect, parameters) and an azure-identity token. Prints: import seconds, requests, seconds.

Arguments: GRAPH_URL LOGIN_URL TENANT CLIENT_ID CA_FILE; the client secret on stdin.
"""

from __future__ import annotations

import sys
import time

started = time.perf_counter()
import asyncio  # noqa: E402

import httpx  # noqa: E402
from azure.identity import ClientSecretCredential  # noqa: E402
from msgraph_core import APIVersion, GraphClientFactory  # noqa: E402

IMPORTED = time.perf_counter() - started
SELECT = ("accountEnabled,displayName,givenName,surname,mailNickname,userPrincipalName,mail,"
          "employeeId,department,jobTitle,companyName,usageLocation,id,proxyAddresses,"
          "onPremisesSyncEnabled,assignedLicenses,licenseAssignmentStates")


async def read(graph_url: str, token: str, ca_file: str) -> tuple[int, int]:
    client = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.v1, client=httpx.AsyncClient(verify=ca_file, timeout=60),
        host=graph_url)
    headers = {"Authorization": f"Bearer {token}"}
    requests = users = 0
    url: str | None = f"{graph_url}/v1.0/users?$top=999&$select={SELECT}"
    async with client:
        while url:
            answer = await client.get(url, headers=headers)
            answer.raise_for_status()
            requests += 1
            body = answer.json()
            users += len(body.get("value", []))
            url = body.get("@odata.nextLink")
    return requests, users


def main() -> None:
    graph_url, login_url, tenant, client_id, ca_file = sys.argv[1:6]
    secret = sys.stdin.read().strip()
    credential = ClientSecretCredential(
        tenant, client_id, secret, authority=login_url.removeprefix("https://"),
        disable_instance_discovery=True, connection_verify=ca_file)
    token = credential.get_token(f"{graph_url}/.default").token
    began = time.perf_counter()
    requests, _users = asyncio.run(read(graph_url, token, ca_file))
    print(IMPORTED, requests, time.perf_counter() - began)


if __name__ == "__main__":
    main()
