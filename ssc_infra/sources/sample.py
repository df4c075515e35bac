"""A fictional sample region, generated deterministically: the same seed, the same files.

The default is shaped like SSC Leeuwarden and its eleven partners (about 4,500 people, the
opt-ins of the seed articles); any size can be made for benchmarks, with generated partners
added beyond the eleven. Names are random combinations of common Frisian and Dutch given
names and surnames: fictional people, never real ones.
"""

from __future__ import annotations

import base64
import csv
import io
import random
from dataclasses import dataclass
from datetime import date, timedelta
from ipaddress import IPv4Network
from pathlib import Path

from ssc_infra.core.errors import SscError

MUNICIPAL_DEPARTMENTS = (
    "Burgerzaken", "Sociaal Domein", "Ruimte", "Publiekszaken", "Financiën", "ICT",
    "Handhaving", "Bestuursondersteuning", "Belastingen", "Personeel en Organisatie",
    "Communicatie", "Beheer Openbare Ruimte",
)
ISLAND_DEPARTMENTS = ("Publiekszaken", "Ruimte", "Sociaal Domein", "Bedrijfsvoering",
                      "Haven en Strand")

# code, name, kind, UPN suffix, identity, people (of 4,500), services, sites, departments
# sites: code, name, flex desks, shared
PARTNERS: tuple[tuple[str, str, str, str, str, int, tuple[str, ...],
                      tuple[tuple[str, str, int, bool], ...], tuple[str, ...]], ...] = (
    ("leeuwarden", "Gemeente Leeuwarden", "municipality", "leeuwarden.nl", "hybrid", 2300,
     ("m365-e3", "zaaksysteem-rex", "vpn"),
     (("lwd-stadskantoor", "Stadskantoor Leeuwarden", 420, True),
      ("lwd-hollanderwijk", "Kantoor Hollanderwijk", 90, False),
      ("lwd-stadsbeheer", "Werf Stadsbeheer", 25, False),
      ("lwd-stiens", "Flexhub Stiens", 40, True)), MUNICIPAL_DEPARTMENTS),
    ("noardeast-fryslan", "Gemeente Noardeast-Fryslân", "municipality", "noardeast-fryslan.nl",
     "hybrid", 560, ("m365-e3", "zaaksysteem-rex", "vpn"),
     (("nef-dokkum", "Gemeentehuis Dokkum", 110, True),
      ("nef-kollum", "Kantoor Kollum", 35, False)), MUNICIPAL_DEPARTMENTS),
    ("waadhoeke", "Gemeente Waadhoeke", "municipality", "waadhoeke.nl", "hybrid", 520,
     ("m365-e3", "zaaksysteem-rex", "vpn"),
     (("wdh-franeker", "Gemeentehuis Franeker", 120, True),
      ("wdh-st-annaparochie", "Kantoor Sint Annaparochie", 30, False)),
     MUNICIPAL_DEPARTMENTS),
    ("bv-sport", "BV Sport", "affiliated", "bvsport-fryslan.nl", "cloud", 280,
     ("m365-e3",),
     (("bvs-sportkantoor", "Sportkantoor Leeuwarden", 30, False),),
     ("Sportstimulering", "Accommodaties", "Bedrijfsvoering")),
    ("fumo", "FUMO", "affiliated", "fumo.nl", "hybrid", 240,
     ("m365-e3", "afas-ehrm", "vpn"),
     (("fumo-drachten", "FUMO Kantoor Drachten", 60, True),),
     ("Vergunningverlening", "Toezicht en Handhaving", "Advies", "Bedrijfsvoering")),
    ("dsz-nwf", "Dienst Sociale Zaken en Werkgelegenheid NW-Fryslân", "affiliated",
     "dszw-nwfryslan.nl", "hybrid", 210, ("m365-e3", "vpn"),
     (("dsz-harlingen", "Kantoor Harlingen", 45, False),),
     ("Werk", "Inkomen", "Bijzondere Bijstand", "Bedrijfsvoering")),
    ("terschelling", "Gemeente Terschelling", "municipality", "terschelling.nl", "hybrid", 140,
     ("m365-e3", "vpn"),
     (("ter-west", "Gemeentehuis West-Terschelling", 25, False),), ISLAND_DEPARTMENTS),
    ("ameland", "Gemeente Ameland", "municipality", "ameland.nl", "hybrid", 120,
     ("m365-e3", "afas-ehrm", "vpn"),
     (("aml-nes", "Gemeentehuis Nes", 20, False),), ISLAND_DEPARTMENTS),
    ("schiermonnikoog", "Gemeente Schiermonnikoog", "municipality", "schiermonnikoog.nl",
     "hybrid", 55, ("m365-e3", "afas-ehrm"),
     (("sch-dorp", "Gemeentehuis Schiermonnikoog", 10, False),), ISLAND_DEPARTMENTS),
    ("riec-noord", "RIEC Noord", "affiliated", "riec-noord.nl", "cloud", 45,
     ("m365-e3", "vpn"),
     (("riec-kantoor", "Kantoor RIEC Noord", 12, False),),
     ("Analyse", "Casuïstiek", "Bedrijfsvoering")),
    ("vlieland", "Gemeente Vlieland", "municipality", "vlieland.nl", "hybrid", 40,
     ("m365-e3", "afas-ehrm"),
     (("vli-oost", "Gemeentehuis Oost-Vlieland", 8, False),), ISLAND_DEPARTMENTS),
)

GIVEN_NAMES = (
    "Wâtse", "Ytsje", "Sjoerd", "Auke", "Hylke", "Tjitske", "Baukje", "Jildou", "Sytse",
    "Gerbrich", "Durk", "Femke", "Hessel", "Jelle", "Wietske", "Geartsje", "Hiltsje", "Rixt",
    "Sjoukje", "Tsjalling", "Eelke", "Jetske", "Sietske", "Wybren", "Oene", "Fokje", "Klaas",
    "Marrit", "Jouke", "Bouke", "Aafke", "Freerk", "Sybren", "Minke", "Marten", "Pieter",
    "Lolkje", "Janke", "Jan", "Johan", "Anna", "Sanne", "Lotte", "Daan", "Thijs", "Mark",
    "Linda", "Eva", "Kees", "Ruud", "Marieke", "Esther", "Bas", "Niels", "Inge", "Joost",
    "Sander", "Lisa", "Emma", "Tim", "Rik", "Noor", "Mohammed", "Fatima", "Yusuf", "Ayşe",
    "Priya", "Wojciech", "Zoë", "Chloë", "Noël", "José", "Björn", "Łukasz", "Siobhán",
)
SURNAMES = (
    "Bûmâ", "Fênstra", "Dijkstra", "Hoekstra", "Visser", "Bakker", "Postma", "Wijnja",
    "Terpstra", "Zijlstra", "Yntema", "Kingma", "Sikkema", "Hiemstra", "Tjeerdsma", "Wiersma",
    "Jansma", "Bosma", "Koopmans", "Hofstra", "Brouwer", "Meijer", "Kuipers", "Haagsma",
    "Folkertsma", "Veenstra", "Faber", "Nauta", "Bergsma", "Osinga", "Idema", "Ypma",
    "Sjaarda", "Feenstra", "Rienstra", "Tolsma", "Stienstra", "O'Neill", "El Amrani",
    "Yılmaz", "Kowalski", "Nowak", "Hoekstra-de Vries",
)
INFIX_SURNAMES = (
    ("de", "Vries"), ("de", "Boer"), ("van der", "Meer"), ("van der", "Veen"), ("van 't", "Hof"),
    ("ter", "Horst"), ("in 't", "Veld"), ("van den", "Berg"), ("de", "Jong"), ("van", "Dijk"),
    ("de", "Haan"), ("van der", "Wal"), ("de", "Groot"), ("van der", "Bij"), ("de", "Wit"),
    ("van der", "Ploeg"), ("de", "Boer-van der Wal"), ("van der", "Meer-Bûmâ"),
)
LONG_NAMES = (("Hendrikje Wilhelmina", "van", "Tjallingii-van Haersma de With"),
              ("Tsjalling Wybren Sjoerd", "", "Rienks-Hiemstra-Folkertsma"))
JOB_TITLES = (
    "Medewerker", "Senior medewerker", "Adviseur", "Beleidsmedewerker", "Teamleider",
    "Coördinator", "Specialist", "Jurist", "Consulent", "Projectleider",
    "Applicatiebeheerder", "Stagiair",
)
_SYLLABLES = (("Wyn", "Hol", "Sud", "Bur", "Mar", "Dok", "Wier", "Bols", "Jel", "Oost"),
              ("wert", "dum", "kum", "ga", "um", "terp", "sum", "hout", "wâld", "buorren"))
WORKPLACES = (("laptop", 45), ("vdi", 35), ("thin_client", 20))
SITE_SUBNETS = IPv4Network("10.16.0.0/12")
PEOPLE_HEADER = ("employee_id,given_name,infix,surname,department,job_title,site,workplace,"
                 "start_date,end_date")
DEVICE_HEADER = "asset_tag,kind,employee_id,site,mac,wg_public_key"


@dataclass(frozen=True)
class Summary:
    partners: int
    people: int
    devices: int
    sites: int

    def __str__(self) -> str:
        return (f"{self.partners} partners, {self.people:,} people, {self.devices:,} devices, "
                f"{self.sites} sites")


@dataclass(frozen=True)
class SampleFiles:
    """Every file of a generated inventory: relative path -> text."""

    files: dict[str, str]
    summary: Summary


@dataclass
class _Partner:
    code: str
    name: str
    kind: str
    suffix: str
    identity: str
    size: int
    services: tuple[str, ...]
    sites: list[tuple[str, str, int, bool]]
    departments: tuple[str, ...]
    tag: str


# The SSC's governance (`ssc_infra.sources.governance`): fictional engineers whose private keys
# nobody has (the demo gives one of them a key of its own: `ssc-infra lab approver`).
_KEYS = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICQremP7x5fyP9IFtyQR19gqtzE5Qgg9Es7Rjl876Qrq "
         "tvdmeer@beheer.ssc.frl",
         "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ62wkkjkKYaqIJPHFMRNpHgzLrdFG+UFQcPLJtZ5m8n "
         "hbosma@beheer.ssc.frl")
GOVERNANCE = f"""\
# Governance of the SSC (BIO2): who approves plans and which plans need a second engineer
# (5.03), who belongs in the privileged groups (8.02.01), how often each partner's manager
# reviews its accounts (5.18.02). A change here is itself reviewed: it goes through the
# repository, never through NetBox.

approvers:  # each engineer's login name on the control machine and SSH public key
  - {{name: tvdmeer, key: "{_KEYS[0]}"}}
  - {{name: hbosma, key: "{_KEYS[1]}"}}

approval:
  destructive: 10     # more than 10 accounts disabled or archived for one partner
  privileged: true    # any change to a privileged group
  lifecycle: true     # every offboarding, purge and merge of partners
  valid_hours: 24

privileged_groups:    # the built-in ones are watched too; each holds only Administrator here
  Domain Admins: [Administrator]

reviews:
  every_days: 365             # each partner's manager, yearly
  privileged_every_days: 90   # the privileged groups' members, quarterly
  inactive_days: 90           # an enabled account unused this long is listed
  partners: {{fumo: 180}}       # FUMO (an environmental agency) twice a year
"""


# Two partners' people come from their HR systems (`ssc-infra hr pull`; the lab's emulators):
# Waadhoeke from AFAS Profit, through a mapping for its connector's Dutch workplace words;
# Vlieland from Visma Raet's IAM API.
HR_ENTRIES = {
    "waadhoeke": 'hr: {system: afas, environment: "81502", mapping: hr/waadhoeke-afas.yaml}',
    "vlieland": 'hr: {system: visma-raet, tenant: "4711"}',
}
HR_MAPPINGS = {"hr/waadhoeke-afas.yaml": """\
# How Waadhoeke's AFAS GetConnector (ssc_medewerkers) reads as the inventory's people CSV,
# laid over the default for AFAS (docs/hr.md): its Werkplek field holds Dutch words.
description: AFAS Profit, GetConnector ssc_medewerkers (Gemeente Waadhoeke)
values:
  workplace: {Laptop: laptop, Virtuele werkplek: vdi, Thin client: thin_client}
"""}


def generate(people: int = 4500, seed: int = 2026, partners: int | None = None) -> SampleFiles:
    """A whole inventory as text; deterministic for (people, seed, partners)."""
    rng = random.Random(seed)
    shapes = _partners(rng, people, partners)
    shared = [(site[0], p.code) for p in shapes for site in p.sites if site[3]]
    files: dict[str, str] = {"region.yaml": _region_yaml(people, seed, partners),
                             "governance.yaml": GOVERNANCE}
    files.update({rel: text for rel, text in HR_MAPPINGS.items()
                  if any(p.code == "waadhoeke" for p in shapes)})
    counters = {"site": 0, "mac": 0}
    total_people = total_devices = 0
    for partner in shapes:
        people_csv, devices_csv, made, devices = _people(rng, partner, shared, counters)
        files[f"partners/{partner.code}.yaml"] = _partner_yaml(partner, made, counters)
        files[f"people/{partner.code}.csv"] = people_csv
        files[f"devices/{partner.code}.csv"] = devices_csv
        total_people += made
        total_devices += devices
    summary = Summary(len(shapes), total_people, total_devices, counters["site"])
    return SampleFiles(files, summary)


def write(sample: SampleFiles, out_dir: Path, force: bool = False) -> None:
    """Write the files; a folder that is not empty is refused unless `force`."""
    if out_dir.exists() and any(out_dir.iterdir()) and not force:
        raise SscError(f"{out_dir} is not empty: choose another --out, or pass --force")
    for rel, text in sample.files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def write_sample(out_dir: Path, people: int = 4500, seed: int = 2026,
                 partners: int | None = None, force: bool = False) -> Summary:
    """Generate and write a sample region; returns what was made."""
    sample = generate(people, seed, partners)
    write(sample, out_dir, force)
    return sample.summary


def _partners(rng: random.Random, people: int, count: int | None) -> list[_Partner]:
    shapes = [
        _Partner(code, name, kind, suffix, identity, size, services, list(sites), deps,
                 code[:3].upper())
        for code, name, kind, suffix, identity, size, services, sites, deps in PARTNERS
    ]
    if count is not None and count < len(shapes):
        shapes = shapes[:count]
    for index in range(len(shapes), count or 0):
        place = rng.choice(_SYLLABLES[0]) + rng.choice(_SYLLABLES[1])
        code = f"p{index:03d}-{place.lower().replace('â', 'a')}"
        services = ("m365-e3", *(s for s in ("zaaksysteem-rex", "afas-ehrm", "vpn")
                                 if rng.random() < 0.5))
        sites = [(f"{code}-hq", f"Gemeentehuis {place}", rng.randint(10, 120), rng.random() < 0.2)]
        if rng.random() < 0.5:
            sites.append((f"{code}-werf", f"Werf {place}", rng.randint(5, 30), False))
        shapes.append(_Partner(code, f"Gemeente {place}", "municipality",
                               f"{code}.example.nl", "hybrid", rng.randint(60, 1500),
                               services, sites, MUNICIPAL_DEPARTMENTS, f"P{index:03d}"))
    weight = sum(p.size for p in shapes)
    for p in shapes:
        p.size = max(1, round(p.size * people / weight))
    shapes[0].size = max(1, shapes[0].size + people - sum(p.size for p in shapes))
    return shapes


def _region_yaml(people: int, seed: int, partners: int | None) -> str:
    made_by = f"ssc-infra sample --people {people} --seed {seed}" + (
        f" --partners {partners}" if partners else "")
    return f"""\
# The region: SSC Leeuwarden and the services its partners may opt in to.
# Generated by `{made_by}` (fictional data); engineers may edit it.
region: {{code: frl, name: SSC Leeuwarden}}
directory:
  domain: ssc.frl                  # AD DNS domain -> DC=ssc,DC=frl
  partners_ou: OU=Partners         # one OU per partner below it
  leavers_ou: OU=Leavers           # disabled accounts wait here for the retention period
  retention_days: 90
  prestart_days: 14                # accounts are made this long before the start date
naming: {{sam: "{{given_initial}}{{surname}}", upn: "{{given}}.{{full_surname}}", max_len: 20}}
guards: {{max_disable: 50, max_disable_fraction: 0.05}}     # per partner per run
services:                          # the catalogue partners opt in to
  m365-e3:         {{kind: licence, sku: "M365_E3"}}
  zaaksysteem-rex: {{kind: application}}
  afas-ehrm:       {{kind: application}}
  vpn:             {{kind: access}}
hosts:                             # infrastructure that Ansible manages
  fs01:   {{roles: [fileserver],  address: 10.1.0.10}}
  vpn01:  {{roles: [vpn_gateway], address: 10.1.0.20}}
  dhcp01: {{roles: [dhcp],        address: 10.1.0.30}}
  rad01:  {{roles: [radius],      address: 10.1.0.40}}
  vdi01:  {{roles: [vdi_broker],  address: 10.1.0.50}}
"""


def _partner_yaml(partner: _Partner, made: int, counters: dict[str, int]) -> str:
    quota = (made * 6 // 5 // 10 + 1) * 10  # about 20% headroom, rounded up to tens
    lines = [
        f"code: {partner.code}",
        f"name: {partner.name}",
        f"kind: {partner.kind}",
        f"upn_suffix: {partner.suffix}",
        f"identity: {partner.identity}",
        f"services: [{', '.join(partner.services)}]",
        f"quota: {{users: {quota}}}",
        "sites:",
    ]
    for code, name, desks, shared in partner.sites:
        index = counters["site"]
        counters["site"] += 1
        subnet = _nth_subnet(index)
        lines.append(f"  - {{code: {code}, name: {name}, vlan: {100 + index}, subnet: {subnet}, "
                     f"flex_desks: {desks}, shared: {'true' if shared else 'false'}}}")
    lines += [f"people: people/{partner.code}.csv", f"devices: devices/{partner.code}.csv"]
    if partner.code in HR_ENTRIES:
        lines.append(HR_ENTRIES[partner.code])
    lines.append("")
    return "\n".join(lines)


def _nth_subnet(index: int) -> IPv4Network:
    """The index-th /23 of 10.16.0.0/12: room for 2,048 sites."""
    if index >= 2048:
        raise SscError("more than 2,048 sites do not fit the sample's address plan")
    return IPv4Network((int(SITE_SUBNETS.network_address) + index * 512, 23))


def _people(
    rng: random.Random, partner: _Partner, shared: list[tuple[str, str]],
    counters: dict[str, int],
) -> tuple[str, str, int, int]:
    people = io.StringIO()
    devices = io.StringIO()
    people_out = csv.writer(people, lineterminator="\n")
    devices_out = csv.writer(devices, lineterminator="\n")
    people.write(PEOPLE_HEADER + "\n")
    devices.write(DEVICE_HEADER + "\n")
    own_sites = [s[0] for s in partner.sites]
    own_weights = [max(1, s[2]) for s in partner.sites]
    elsewhere = [code for code, owner in shared if owner != partner.code]
    employee_id = 100000 + rng.randrange(0, 90000, 10)
    device_count = 0
    for n in range(partner.size):
        employee_id += rng.randint(1, 7)
        given, infix, surname = _name(rng, n)
        site = (rng.choice(elsewhere) if elsewhere and rng.random() < 0.1 else
                rng.choices(own_sites, own_weights)[0])
        workplace = rng.choices([w for w, _ in WORKPLACES], [p for _, p in WORKPLACES])[0]
        start, end = _dates(rng)
        people_out.writerow([employee_id, given, infix, surname, rng.choice(partner.departments),
                             rng.choice(JOB_TITLES), site, workplace, start.isoformat(),
                             end.isoformat() if end else ""])
        if end is not None and end < date(2026, 11, 1):
            continue  # a leaver handed in the device
        device_count += 1
        if workplace == "laptop":
            key = base64.b64encode(rng.randbytes(32)).decode()
            devices_out.writerow([f"{partner.tag}-L-{employee_id}", "laptop", employee_id, "", "",
                                  key])
        elif workplace == "thin_client":
            counters["mac"] += 1
            mac = "02:00:" + ":".join(f"{b:02x}" for b in counters["mac"].to_bytes(4, "big"))
            devices_out.writerow([f"{partner.tag}-T-{employee_id}", "thin_client", employee_id,
                                  site, mac, ""])
        else:
            device_count -= 1
    return people.getvalue(), devices.getvalue(), partner.size, device_count


def _name(rng: random.Random, n: int) -> tuple[str, str, str]:
    roll = rng.random()
    if roll < 0.002:
        return rng.choice(LONG_NAMES)
    given = rng.choice(GIVEN_NAMES)
    if roll < 0.35:
        infix, surname = rng.choice(INFIX_SURNAMES)
        return given, infix, surname
    return given, "", rng.choice(SURNAMES)


def _dates(rng: random.Random) -> tuple[date, date | None]:
    roll = rng.random()
    if roll < 0.005:  # a future joiner
        return date(2026, 12, 1) + timedelta(days=rng.randrange(90)), None
    start = date(2005, 1, 1) + timedelta(days=rng.randrange(7300))
    if roll < 0.015:  # left: end date between January 2025 and October 2026
        end = date(2025, 1, 1) + timedelta(days=rng.randrange(670))
        return min(start, end - timedelta(days=30)), end
    if roll < 0.035:  # a fixed-term contract that ends next year
        return start, date(2027, 1, 1) + timedelta(days=rng.randrange(365))
    return start, None
