"""The lab's HR systems: the project's HR EMULATOR (AFAS Profit's GetConnector, Visma Raet's
IAM API), one environment or tenant per partner that pulls its people from one. Never a real
HR system.

`start_hr_emulator` runs `python -m ssc_infra_lab.hr_emulator` in the background on a free
loopback port (TLS from its own throwaway CA), gives each partner's environment or tenant its
own secrets (an AFAS token; a Raet client id and secret, each in a 0600 file here, kept across
restarts) and seeds it with the partner's people from the inventory. An emulator found running
keeps the people it has (what a lab user changed in it through `HrControl` stays).
"""

from __future__ import annotations

import csv
import json
import secrets
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ssc_infra.state.folder import private_dir, write_private
from ssc_infra_lab.emulator_process import INFO
from ssc_infra_lab.hr_emulator import (
    AFAS,
    DEFAULT_CONNECTOR,
    RAET,
    HrControl,
    afas_rows,
    afas_token,
    raet_tenant,
)
from ssc_infra_lab.process import alive, start_detached, stop_process

PARTNERS, LOG = "partners.json", "emulator.log"


@dataclass(frozen=True)
class HrSeed:
    """One partner's HR source in the lab.

    Args:
        partner: the partner's code.
        system: "afas" or "visma-raet".
        source: the AFAS environment number, or the Raet tenant id.
        people: its people, as the inventory's people rows (csv.DictReader of
            inventory/people/<partner>.csv).
        connector: AFAS: the GetConnector's id.
    """

    partner: str
    system: str
    source: str
    people: Sequence[Mapping[str, str]] = ()
    connector: str = DEFAULT_CONNECTOR


@dataclass(frozen=True)
class LabHrPartner:
    """Where one partner's HR source is in the lab and where its secrets are.

    Args:
        system: "afas" or "visma-raet".
        source: the AFAS environment number, or the Raet tenant id.
        base_url: AFAS: the environment's base (…/ProfitRestServices is added); Raet: the
            API's base.
        token_url: Raet: the token endpoint; AFAS: "".
        token_file: AFAS: the file holding the token's XML; Raet: "".
        client_id_file, client_secret_file: Raet: the files of the API user's client id and
            secret; AFAS: "".
        connector: AFAS: the GetConnector's id; Raet: "".
    """

    system: str
    source: str
    base_url: str
    token_url: str = ""
    token_file: str = ""
    client_id_file: str = ""
    client_secret_file: str = ""
    connector: str = ""


@dataclass(frozen=True)
class LabHr:
    """The lab's running HR emulator.

    Args:
        url: its base, "https://127.0.0.1:PORT".
        ca_file: the test CA its certificate is from.
        control_secret_file: the file of its control surface's secret.
        pid: its process.
        partners: partner code -> its source and secrets (those seeded by start_hr_emulator).
    """

    url: str
    ca_file: str
    control_secret_file: str
    pid: int
    partners: Mapping[str, LabHrPartner] = field(default_factory=dict)

    def control(self) -> HrControl:
        return HrControl(self.url, Path(self.ca_file),
                         Path(self.control_secret_file).read_text(encoding="utf-8").strip())

    def target(self) -> dict[str, Any]:
        """The `hr:` section of the lab target (HrTarget's fields)."""
        partners: dict[str, dict[str, str]] = {}
        for code, p in sorted(self.partners.items()):
            partners[code] = {"token_file": p.token_file} if p.system == AFAS else \
                {"client_id_file": p.client_id_file, "client_secret_file": p.client_secret_file}
        return {"afas_url": self.url + "/{environment}",
                "raet_token_url": self.url + "/connect/token", "raet_api_url": self.url,
                "ca_file": self.ca_file, "emulator": True, "partners": partners}


def seeds_of(inventory: Path) -> list[HrSeed]:
    """The seeds of the partners whose partner file names AFAS or Visma Raet as their HR
    system: their people as the inventory has them, the workplace in the words the partner's
    mapping file reads (`values: workplace:`), as its HR system would write them."""
    from ssc_infra.sources.hrexport import load_mapping
    from ssc_infra.sources.regionfiles import read_partner_files

    seeds = []
    for doc in read_partner_files(inventory)[0]:
        entry = doc.spec.hr
        if entry is None or entry.system.value not in (AFAS, RAET) or not doc.active:
            continue
        words: dict[str, str] = {}
        mapping = load_mapping(inventory / entry.mapping, entry.mapping) if entry.mapping \
            else None
        if mapping is not None and not isinstance(mapping, list):
            for word, value in mapping.spec.values.get("workplace", {}).items():
                words.setdefault(value, word)
        with (inventory / doc.spec.people).open(encoding="utf-8-sig", newline="") as f:
            people = [{**row, "workplace": words.get(row.get("workplace") or "",
                                                      row.get("workplace") or "")}
                      for row in csv.DictReader(f)]
        seeds.append(HrSeed(doc.spec.code, entry.system.value,
                            entry.environment or entry.tenant or "", people, entry.connector))
    return seeds


def start_hr_emulator(directory: Path, address: str, seeds: Sequence[HrSeed],
                      timeout: float = 20.0) -> LabHr:
    """Start (or find running) the lab's HR emulator, each seed's source made and given its
    people (a running emulator keeps the people it has) and its secrets.

    Raises:
        SscError: the emulator did not start (the message ends with its log's end).
        ValueError: a seed the emulator refuses (an unknown system, a bad environment or
            tenant, two partners on one source, a people row without its columns).
    """
    private_dir(directory)
    _check(seeds)
    running = hr_status(directory)
    if running is None:
        (directory / INFO).unlink(missing_ok=True)
        running = start_detached(
            [sys.executable, "-m", "ssc_infra_lab.hr_emulator", "--dir", str(directory),
             "--address", address], directory / LOG, lambda: _running(directory), timeout,
            "the lab's HR emulator")
    partners: dict[str, LabHrPartner] = {}
    with running.control() as control:
        for seed in seeds:
            partners[seed.partner] = _seed(control, directory, running.url, seed)
    write_private(directory / PARTNERS, json.dumps(
        {code: asdict(p) for code, p in sorted(partners.items())}, indent=2) + "\n")
    return LabHr(running.url, running.ca_file, running.control_secret_file, running.pid,
                 partners)


def hr_status(directory: Path) -> LabHr | None:
    """The running lab HR emulator with the partners it was last seeded with, or None."""
    running = _running(directory)
    if running is None:
        return None
    try:
        data = json.loads((directory / PARTNERS).read_text(encoding="utf-8"))
        partners = {str(code): LabHrPartner(**p) for code, p in data.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        partners = {}
    return LabHr(running.url, running.ca_file, running.control_secret_file, running.pid,
                 partners)


def stop_hr_emulator(lab: LabHr, timeout: float = 10.0) -> None:
    """Stop the emulator (SIGTERM, then SIGKILL); its people go with it, its secrets stay."""
    stop_process(lab.pid, timeout)


def _running(directory: Path) -> LabHr | None:
    try:
        data = json.loads((directory / INFO).read_text(encoding="utf-8"))
        pid = int(data["pid"])
        found = LabHr(str(data["url"]), str(data["ca_file"]), str(data["control_secret_file"]),
                      pid)
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # a pid reused by another program is not the emulator
    return found if alive(pid) and b"ssc_infra_lab.hr_emulator" in command else None


def _check(seeds: Sequence[HrSeed]) -> None:
    partners = [s.partner for s in seeds]
    sources = [s.source for s in seeds]
    for seed in seeds:
        if seed.system not in (AFAS, RAET):
            raise ValueError(f"partner {seed.partner}: HR system {seed.system!r} has no "
                             f"emulator (it has {AFAS} and {RAET})")
        if partners.count(seed.partner) > 1 or sources.count(seed.source) > 1:
            raise ValueError(f"partner {seed.partner}: each partner needs an AFAS environment "
                             f"or Raet tenant of its own ({seed.source} is named twice)")
        if not seed.partner.replace("-", "").isalnum():
            raise ValueError(f"partner {seed.partner!r}: a partner code (letters, digits, -)")


def _seed(control: HrControl, directory: Path, url: str, seed: HrSeed) -> LabHrPartner:
    prefix = directory / f"{seed.system}-{seed.partner}"
    if seed.system == AFAS:
        token_file = _secret(prefix.with_name(prefix.name + ".token"),
                             lambda: afas_token(secrets.token_hex(32).upper()))
        control.set_afas_environment(seed.source, token_file.read_text(encoding="utf-8"),
                                     afas_rows(seed.people), seed.connector, keep_people=True)
        return LabHrPartner(AFAS, seed.source, f"{url}/{seed.source}",
                            token_file=str(token_file), connector=seed.connector)
    id_file = _secret(prefix.with_name(prefix.name + ".client-id"), lambda: str(uuid.uuid4()))
    secret_file = _secret(prefix.with_name(prefix.name + ".client-secret"),
                          lambda: secrets.token_urlsafe(32))
    control.set_raet_tenant(seed.source, id_file.read_text(encoding="utf-8"),
                            secret_file.read_text(encoding="utf-8"), raet_tenant(seed.people),
                            keep_people=True)
    return LabHrPartner(RAET, seed.source, url, token_url=f"{url}/connect/token",
                        client_id_file=str(id_file), client_secret_file=str(secret_file))


def _secret(path: Path, make: Callable[[], str]) -> Path:
    """A secret's file (0600, the value alone, no newline), made the first time."""
    if not path.exists():
        write_private(path, make())
    return path
