"""Real servers for the integration tests: a Samba AD DC on a loopback address.

In CI (CI=true) a server that cannot start fails the test; elsewhere the test is skipped with
the command that installs what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import ldap3
import pytest
import yaml

from ssc_infra.ad.connection import AdSettings, connect
from ssc_infra.core.errors import BackendError
from ssc_infra.core.secrets import Secret
from ssc_infra_lab.dc import (
    DomainController,
    ensure_samba_installed,
    free_loopback_address,
    start_dc,
    stop_dc,
)

IN_CI = os.environ.get("CI") == "true"
TREE_DELETE = "1.2.840.113556.1.4.805"


def unavailable(what: str, reason: str, install: str) -> None:
    """Fail in CI, skip elsewhere, always saying what to run."""
    message = f"{what} cannot start: {reason}. Install it with: {install}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def start_or_give_up(directory: Path, domain: str) -> DomainController:
    """A fresh DC on a free loopback address (two test runs on one machine never collide)."""
    try:
        ensure_samba_installed()
        return start_dc(directory, domain, free_loopback_address(), fresh=True)
    except BackendError as e:
        unavailable("Samba AD DC", str(e), "make test (or: apt-get install -y "
                    "--no-install-recommends samba-ad-dc samba-ad-provision)")
        raise  # not reached


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DomainController]:
    """One DC for the session, for the mini inventory's domain, on a free loopback address."""
    dc = start_or_give_up(tmp_path_factory.mktemp("samba") / "dc", "ssc.test")
    yield dc
    stop_dc(dc)


def settings_for(dc: DomainController, **overrides: object) -> AdSettings:
    values: dict[str, object] = {
        "url": dc.url, "bind_user": dc.bind_user, "password": Secret(dc.password()),
        "base_dn": dc.base_dn, "ca_file": str(dc.ca_file), "tls_names": (dc.tls_name,),
    }
    values.update(overrides)
    return AdSettings(**values)  # type: ignore[arg-type]


def write_targets(path: Path, dc: DomainController, **ad: object) -> Path:
    entry = {"url": dc.url, "bind_user": dc.bind_user, "base_dn": dc.base_dn,
             "ca_file": str(dc.ca_file), "tls_names": [dc.tls_name],
             "bind_password_file": str(dc.password_file), **ad}
    path.write_text(yaml.safe_dump({"test": {"ad": entry}}), encoding="utf-8")
    return path


@pytest.fixture
def directory(samba_dc: DomainController) -> Iterator[ldap3.Connection]:
    """An admin connection to a directory emptied of partners, leavers and test accounts."""
    conn = connect(settings_for(samba_dc))
    empty_directory(conn, samba_dc.base_dn)
    yield conn
    conn.unbind()


def empty_directory(conn: ldap3.Connection, base: str) -> None:
    for ou in ("OU=Partners", "OU=Leavers"):
        conn.delete(f"{ou},{base}", controls=[(TREE_DELETE, True, None)])
        assert conn.result["description"] in ("success", "noSuchObject"), conn.result
    # Made by hand in CN=Users, or a partner's account a test moved out there (it carries an
    # employeeID: no built-in account does); left in place it takes a logon name from the
    # next test on this session's DC.
    conn.search(f"CN=Users,{base}", "(|(description=made by hand in a test)(employeeID=*))",
                attributes=["cn"])
    for entry in list(conn.response or []):
        if entry.get("type") == "searchResEntry":
            conn.delete(entry["dn"])


# The NetBox fixtures live beside the DC's; pytest finds fixtures of a conftest's imports.
from tests.integration.netbox_server import netbox, netbox_server  # noqa: E402,F401
