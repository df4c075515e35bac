"""A fresh Graph emulator per test, on a free loopback port in its own tmp_path, with one
tenant; and a Graph client signed in to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ssc_infra_lab.graph_emulator import GraphEmulator
from tests.integration.emulator.calls import DOMAIN, TENANT, client_for


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[GraphEmulator]:
    with GraphEmulator(tmp_path / "graph") as running:
        running.add_tenant(TENANT, [DOMAIN, "gemeentea.onmicrosoft.com"])
        yield running


@pytest.fixture
def graph(emulator: GraphEmulator) -> Iterator[httpx.Client]:
    with client_for(emulator) as client:
        yield client
