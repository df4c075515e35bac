"""A real NetBox for the integration tests: one per session, emptied before each test.

In CI (CI=true) a NetBox that cannot start fails the test; elsewhere the test is skipped with
the command that installs what is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ssc_infra.core.errors import BackendError
from ssc_infra_lab.netbox import NetBoxServer, reset_netbox, start_netbox, stop_netbox
from tests.integration.conftest import unavailable


@pytest.fixture(scope="session")
def netbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetBoxServer]:
    """One NetBox 4.7 for the session on free loopback ports (the first run on a machine
    installs it and migrates a database: minutes; later runs restore the cached dump)."""
    try:
        server = start_netbox(tmp_path_factory.mktemp("netbox") / "server", timeout=180)
    except BackendError as e:
        unavailable("NetBox", str(e), "make test (or: apt-get install -y postgresql-15 "
                    "redis-server, and a Python 3.12 for NetBox's venv)")
        raise  # not reached
    yield server
    stop_netbox(server)


@pytest.fixture
def netbox(netbox_server: NetBoxServer) -> NetBoxServer:
    """The session's NetBox, empty: the migrated template cloned again, Redis flushed."""
    reset_netbox(netbox_server)
    return netbox_server
