"""The lab's Microsoft 365: the project's Graph EMULATOR, one tenant per partner, and the lab's
stand-in for Entra Connect. Never a real tenant.

`start_graph_emulator` runs `python -m ssc_infra_lab.graph_emulator` in the background on a free
loopback port (TLS from its own throwaway CA) and adds a tenant per partner with the partner's
UPN suffix as its domain and seats for its licences; `entra_sync` copies the hybrid partners'
AD accounts and licence groups into their tenants, as Entra Connect would every 30 minutes,
and turns on group-based licensing for the licence groups.
"""

from __future__ import annotations

import json
import math
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import group_name
from ssc_infra.core.dn import dn_key
from ssc_infra.core.model import Identity, Region
from ssc_infra.m365.tenant import USAGE_LOCATION, licence_skus
from ssc_infra.state.folder import private_dir
from ssc_infra_lab.graph_emulator import EmulatorControl, Sku
from ssc_infra_lab.process import start_detached, stop_process

SEAT_MARGIN = 1.1  # seats per licence in a lab tenant: the partner's people and a tenth


@dataclass(frozen=True)
class LabGraph:
    url: str
    login_url: str
    ca_file: str
    client_id: str
    secret_file: str
    pid: int
    tenants: Mapping[str, str]  # partner code -> tenant id

    def control(self) -> EmulatorControl:
        return EmulatorControl(self.url, Path(self.ca_file),
                               Path(self.secret_file).read_text(encoding="utf-8").strip())

    def target(self) -> dict[str, Any]:
        """The `graph:` section of the lab target."""
        first = next(iter(sorted(self.tenants.values())), "")
        return {"url": self.url, "login_url": self.login_url, "tenant_id": first,
                "tenants": dict(sorted(self.tenants.items())), "client_id": self.client_id,
                "client_secret_file": self.secret_file, "ca_file": self.ca_file,
                "emulator": True}


def tenant_id(region: Region, partner: str) -> str:
    """A stable tenant id per partner of the lab (a GUID, as Entra ID's are)."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{partner}.{region.code}.emulator.ssc-infra"))


def sku_id(part_number: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{part_number}.sku.emulator.ssc-infra"))


def start_graph_emulator(directory: Path, address: str, region: Region,
                         timeout: float = 20.0) -> LabGraph:
    """Start (or find running) the lab's Graph emulator, with a tenant per partner."""
    private_dir(directory)
    running = graph_status(directory)
    if running is None:
        (directory / "emulator.json").unlink(missing_ok=True)
        # the log names the users the requests were about: 0600 like the rest of the state
        running = start_detached(
            [sys.executable, "-m", "ssc_infra_lab.graph_emulator", "--dir", str(directory),
             "--address", address], directory / "emulator.log",
            lambda: graph_status(directory), timeout, "the lab's Graph emulator")
    control = running.control()
    tenants: dict[str, str] = {}
    for partner in region.partners:
        tid = tenant_id(region, partner.code)
        seats = math.ceil(len(partner.people) * SEAT_MARGIN) + 5
        skus = [Sku(sku_id(part), part, seats) for part in licence_skus(region, partner)]
        control.add_tenant(tid, [partner.upn_suffix], skus)
        tenants[partner.code] = tid
    return LabGraph(running.url, running.login_url, running.ca_file, running.client_id,
                    running.secret_file, running.pid, tenants)


def graph_status(directory: Path) -> LabGraph | None:
    """The running lab emulator, or None."""
    try:
        data = json.loads((directory / "emulator.json").read_text(encoding="utf-8"))
        pid = int(data["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return LabGraph(str(data["url"]), str(data.get("login_url", data["url"])),
                    str(data["ca_file"]), str(data["client_id"]),
                    str(directory / "client-secret"), pid, {})  # tenants: the lab target


def stop_graph_emulator(lab: LabGraph, timeout: float = 10.0) -> None:
    stop_process(lab.pid, timeout)


@dataclass(frozen=True)
class Synced:
    partner: str
    users: int
    groups: int


class Control(Protocol):
    """What Entra Connect's stand-in needs of the emulator (in process, or over HTTP)."""

    def sync_hybrid(self, tenant_id: str, users: Sequence[Mapping[str, Any]],
                    groups: Sequence[Mapping[str, Any]]) -> None: ...

    def set_group_licences(self, tenant_id: str, group_display_name: str,
                           sku_part_numbers: Sequence[str]) -> None: ...


def entra_sync(region: Region, state: DirectoryState, tenants: Mapping[str, str],
               control: Control) -> list[Synced]:
    """Entra Connect in the lab: the hybrid partners' accounts and licence groups into their
    tenants (partner code -> tenant id), and group-based licensing on each licence group."""
    done: list[Synced] = []
    for partner in region.partners:
        if partner.identity is not Identity.HYBRID or partner.code not in tenants:
            continue
        tid = tenants[partner.code]
        accounts = [a for a in state.accounts if a.partner == partner.code and a.employee_id]
        anchor = {dn_key(a.dn): a.sam for a in accounts}
        users = [{"onPremisesImmutableId": a.sam, "userPrincipalName": a.upn or "",
                  "displayName": a.display_name, "givenName": a.given_name,
                  "surname": a.surname, "employeeId": a.employee_id,
                  "accountEnabled": a.enabled, "mail": a.upn or "",
                  "department": a.department or None, "jobTitle": a.title or None,
                  "companyName": a.company or None, "usageLocation": USAGE_LOCATION}
                 for a in accounts]
        licence_groups = {group_name(partner.code, "lic", code).lower(): region.service(code).sku
                          for code in partner.services if region.service(code).sku}
        groups = [{"onPremisesImmutableId": g.name, "displayName": g.name,
                   "members": sorted(anchor[m] for m in g.members if m in anchor)}
                  for g in state.groups if g.partner == partner.code
                  and g.name.lower() in licence_groups]
        control.sync_hybrid(tid, users, groups)
        for g in groups:
            control.set_group_licences(tid, str(g["displayName"]),
                                       [str(licence_groups[str(g["displayName"]).lower()])])
        done.append(Synced(partner.code, len(users), len(groups)))
    return done
