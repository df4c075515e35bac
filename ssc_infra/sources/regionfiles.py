"""The files the SSC itself edits, region.yaml and partners/*.yaml: read, validated, and
checked against each other (service references, duplicate partners, merges written on both
sides, site codes, VLANs and subnets unique in the region).

Each function returns the problems it found, with file, line and a hint; a problem here stops
the run, as it may touch every partner (`files.load_holding`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ssc_infra.core.errors import Problem
from ssc_infra.core.model import Site
from ssc_infra.sources.located import Located, read_yaml
from ssc_infra.sources.problems import SCHEMA_HINT, did_you_mean, schema_problem
from ssc_infra.sources.schema import PartnerFile, RegionFile

_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True)
class PartnerDoc:
    """One partner file: where each key stands (`doc`) and what it says (`spec`)."""

    doc: Located
    spec: PartnerFile

    @property
    def active(self) -> bool:
        """Neither offboarded nor merged: its HR export and device list are read."""
        return self.spec.offboarded is None and self.spec.merged is None


def read_region(root: Path) -> tuple[RegionFile | None, list[Problem]]:
    """region.yaml of the inventory folder `root`; None when it does not validate."""
    doc, problems = read_yaml(root / "region.yaml", "region.yaml", root)
    if doc is None:
        return None, problems
    spec, invalid = validate(RegionFile, doc, "")
    return spec, [*problems, *invalid]


def read_partner_files(root: Path) -> tuple[list[PartnerDoc], set[str], list[Problem]]:
    """partners/*.yaml of the inventory folder `root`.

    Returns:
        The files that validated; the site codes of those that did not, so that references
        to them are not reported again (one broken file does not bury the report in follow-up
        errors); and the problems.
    """
    folder = root / "partners"
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    problems: list[Problem] = []
    if not paths:
        problems.append(Problem("partners/", 0, "no partner files",
                                "add partners/<code>.yaml per partner"))
    docs: list[PartnerDoc] = []
    unchecked_sites: set[str] = set()
    for path in paths:
        rel = f"partners/{path.name}"
        doc, found = read_yaml(path, rel, root)
        problems.extend(found)
        if doc is None:
            continue
        spec, invalid = validate(PartnerFile, doc, path.stem)
        problems.extend(invalid)
        if spec is None:
            unchecked_sites.update(_raw_site_codes(doc.data))
            continue
        if spec.code != path.stem:
            problems.append(Problem(
                rel, doc.line(("code",)),
                f"partner code {spec.code!r} differs from the file name {path.name!r}",
                f"rename the file to {spec.code}.yaml, or correct the code", spec.code,
            ))
        docs.append(PartnerDoc(doc, spec))
    return docs, unchecked_sites, problems


def validate(model: type[_M], doc: Located, partner: str) -> tuple[_M | None, list[Problem]]:
    """The document as `model`, or None and a problem for each error, at its line."""
    if not isinstance(doc.data, dict):
        return None, [Problem(doc.file, 1, "expected a mapping of keys at the top", SCHEMA_HINT,
                              partner)]
    try:
        return model.model_validate(doc.data), []
    except ValidationError as e:
        return None, [schema_problem(model, doc, error, partner) for error in e.errors()]


def check_service_refs(region: RegionFile, partners: list[PartnerDoc]) -> list[Problem]:
    """Every service a partner takes is in region.yaml's catalogue."""
    known = sorted(region.services)
    return [
        Problem(p.doc.file, p.doc.line(("services", index)), f"unknown service {code!r}",
                did_you_mean(code, known) or f"the catalogue in region.yaml has: "
                f"{', '.join(known) or 'nothing'}", p.spec.code)
        for p in partners
        for index, code in enumerate(p.spec.services)
        if code not in region.services
    ]


def check_partner_uniqueness(partners: list[PartnerDoc]) -> list[Problem]:
    """Every partner has a code and a UPN suffix of its own."""
    problems: list[Problem] = []
    for attribute, what in (("code", "partner code"), ("upn_suffix", "UPN suffix")):
        seen: dict[str, PartnerDoc] = {}
        for p in partners:
            value = getattr(p.spec, attribute)
            first = seen.setdefault(value, p)
            if first is not p:
                problems.append(Problem(
                    p.doc.file, p.doc.line((attribute,)),
                    f"duplicate {what} {value!r}, also in {first.doc.file}",
                    f"every partner needs its own {what}", p.spec.code,
                ))
    return problems


def check_own_data_files(partners: Sequence[PartnerDoc]) -> list[Problem]:
    """Every partner reads an HR export and a device list of its own: a file another partner
    names too would make its people twice (with other logon names), or give one partner the
    other's devices. The partner named later is the one with the problem (and held back)."""
    problems: list[Problem] = []
    seen: dict[str, tuple[PartnerDoc, str]] = {}
    for p in partners:
        for key in ("people", "devices"):
            rel = getattr(p.spec, key)
            if not rel:
                continue
            first, first_key = seen.setdefault(rel, (p, key))
            if first is not p:
                problems.append(Problem(
                    p.doc.file, p.doc.line((key,)),
                    f"{key} file {rel!r} is also the {first_key} file of partner "
                    f"{first.spec.code!r} ({first.doc.file})",
                    f"give {p.spec.code} a file of its own, e.g. {key}/{p.spec.code}.csv",
                    p.spec.code))
    return problems


def check_merges(partners: list[PartnerDoc]) -> list[Problem]:
    """A merge is written on both sides: `merged: {into: B}` in A, `merged_from` in B."""
    docs = {p.spec.code: p for p in partners}
    problems: list[Problem] = []
    for p in partners:
        merged = p.spec.merged
        if merged is not None:
            into = docs.get(merged.into)
            if into is None or into.spec.merged_from is None or \
                    p.spec.code not in into.spec.merged_from.partners:
                problems.append(Problem(p.doc.file, p.doc.line(("merged", "into")),
                                        f"merged into {merged.into!r}, which does not list "
                                        f"{p.spec.code!r} under merged_from.partners",
                                        "a merge is recorded on both partners' files; "
                                        "`ssc-infra partner merge` writes both", p.spec.code))
        merged_from = p.spec.merged_from
        for index, code in enumerate(merged_from.partners if merged_from else ()):
            other = docs.get(code)
            if other is None or other.spec.merged is None or \
                    other.spec.merged.into != p.spec.code:
                problems.append(Problem(p.doc.file,
                                        p.doc.line(("merged_from", "partners", index)),
                                        f"merged_from lists {code!r}, whose file does not say "
                                        f"it merged into {p.spec.code!r}",
                                        "keep the merged partner's file with `merged: {into: "
                                        f"{p.spec.code}, date: ...}}`", p.spec.code))
    return problems


def collect_sites(partners: list[PartnerDoc]) -> tuple[dict[str, Site], list[Problem]]:
    """The region's sites by code; a duplicate code, a VLAN of another partner or an
    overlapping subnet is a problem (a duplicate code is left out)."""
    sites: dict[str, Site] = {}
    where: dict[str, str] = {}
    vlans: dict[int, tuple[str, str]] = {}
    problems: list[Problem] = []
    # Each site against every earlier one only when some subnets overlap at all (one sort
    # tells): a region of hundreds of sites is otherwise a hundred thousand comparisons.
    overlapping = _any_overlap([e.subnet for p in partners for e in p.spec.sites])
    for p in partners:
        for index, entry in enumerate(p.spec.sites):
            loc = f"{p.doc.file}:{p.doc.line(('sites', index))}"
            line = p.doc.line(("sites", index))
            site = Site(entry.code, entry.name, p.spec.code, entry.vlan, entry.subnet,
                        entry.flex_desks, entry.shared)
            if entry.code in sites:
                problems.append(Problem(p.doc.file, line,
                                        f"duplicate site code {entry.code!r}, also at "
                                        f"{where[entry.code]}",
                                        "site codes are unique in the region", p.spec.code))
                continue
            owner = vlans.setdefault(entry.vlan, (p.spec.code, loc))
            if owner[0] != p.spec.code:
                problems.append(Problem(
                    p.doc.file, line,
                    f"VLAN {entry.vlan} of site {entry.code!r} is already used by partner "
                    f"{owner[0]!r} (at {owner[1]})",
                    "each partner has VLANs of its own: pick a free VLAN id", p.spec.code,
                ))
            for other in sites.values() if overlapping else ():
                if other.subnet.overlaps(entry.subnet):
                    problems.append(Problem(
                        p.doc.file, line,
                        f"subnet {entry.subnet} of site {entry.code!r} overlaps {other.subnet} "
                        f"of site {other.code!r} (partner {other.partner!r}, at "
                        f"{where[other.code]})",
                        "give each site a subnet of its own", p.spec.code,
                    ))
            sites[entry.code] = site
            where[entry.code] = loc
    return sites, problems


def _any_overlap(subnets: list[IPv4Network]) -> bool:
    """Whether any two of `subnets` share an address."""
    reach = -1
    for first, last in sorted((int(n.network_address), int(n.broadcast_address))
                              for n in subnets):
        if first <= reach:
            return True
        reach = max(reach, last)
    return False


def _raw_site_codes(data: Any) -> set[str]:
    sites = data.get("sites") if isinstance(data, dict) else None
    if not isinstance(sites, list):
        return set()
    return {str(s["code"]) for s in sites if isinstance(s, dict) and "code" in s}
