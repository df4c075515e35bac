"""Onboarding a partner (invlechting): the new partner's inventory documents, made from the
engineer's options and the partner's converted HR export. Pure: no I/O.

`new_partner` checks the options against the partner file's schema and gives the documents to
write (`partners/<code>.yaml`, `people/<code>.csv`, optionally `devices/<code>.csv`) together
with where each of their lines came from: an option, a line of the sites file, a line of the
HR export. The documents are then checked with the whole region by the inventory's own loader
(`ssc_infra.lifecycle.staging`); `NewPartner.retold` tells each problem the loader finds in
them at the place the engineer can fix — `--upn-suffix`, `sites.yaml:4`, `export.csv:17` —
rather than in a file that was never written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from ssc_infra.core.errors import Problem, SscError
from ssc_infra.sources.hrexport import Converted, people_csv
from ssc_infra.sources.located import Located
from ssc_infra.sources.problems import schema_problem
from ssc_infra.sources.schema import CODE_PATTERN, PartnerFile

# The options that give each key of the partner file, for messages.
OPTION_OF = {"code": "CODE", "name": "--name", "kind": "--kind", "upn_suffix": "--upn-suffix",
             "identity": "--identity", "services": "--services", "quota": "--quota",
             "sites": "--site/--sites", "people": "--people", "devices": "--devices"}
SITE_KEYS = ("code", "name", "vlan", "subnet", "flex_desks", "shared")
_CODE = re.compile(CODE_PATTERN)
_SITE_HINT = ("give a site as --site code=CODE,name=NAME,vlan=N,subnet=A.B.C.D/N[,flex_desks=N]"
              "[,shared=true], or list them in a file (--sites sites.yaml)")


class OnboardError(SscError):
    """The partner cannot be onboarded as asked; nothing was written."""


@dataclass(frozen=True)
class SiteGiven:
    """One site as the engineer gave it, and where."""

    values: Mapping[str, Any]
    file: str  # "--site" or the sites file as named
    line: int = 0  # its line in the sites file (0: an option)


@dataclass(frozen=True)
class PartnerOptions:
    """The partner as the engineer names it on the command line."""

    code: str
    name: str
    upn_suffix: str
    kind: str = "municipality"
    identity: str = "hybrid"
    services: tuple[str, ...] = ()
    quota: int | None = None


@dataclass(frozen=True)
class Onboarding:
    """What the engineer asked for: the partner, its sites, its HR export and devices."""

    partner: PartnerOptions
    people: Converted
    sites: tuple[SiteGiven, ...] = ()
    devices: tuple[str, str] | None = None  # (the file as named, its text)
    problems: tuple[Problem, ...] = ()  # of the files the options name (but the export's)

    @property
    def code(self) -> str:
        return self.partner.code


@dataclass(frozen=True)
class Origin:
    """Where the lines of one document came from."""

    file: str  # what the engineer gave: an option or a file
    lines: Mapping[int, tuple[str, int]] | None = None  # line -> (file, line); None: the same

    def of(self, line: int) -> tuple[str, int]:
        if self.lines is None:
            return self.file, line
        return self.lines.get(line, (self.file, 0))


@dataclass(frozen=True)
class NewPartner:
    """The new partner's documents, in the order to write them (data files before the
    partner file that names them), and where their lines came from."""

    code: str
    files: Mapping[str, str]  # inventory-relative path -> text
    origins: Mapping[str, Origin]  # inventory-relative path -> where its lines came from
    people: int  # rows of the HR export
    split: int  # surnames whose voorvoegsels were split off

    def retold(self, problems: Iterable[Problem]) -> list[Problem]:
        """The problems, those in the new documents told where the engineer gave the value;
        a mention of a new document's line in a message is told so too."""
        return [self._retold(p) for p in problems]

    def _retold(self, problem: Problem) -> Problem:
        file, line, message = problem.file, problem.line, problem.message
        origin = self.origins.get(file)
        if origin is not None:
            file, line = origin.of(line)
            if origin.lines is not None and problem.file.startswith("people/"):
                # "duplicate employee_id '7' (first on line 3)": the export's line, not ours
                message = re.sub(r"\bon line (\d+)\b",
                                 lambda m: f"on line {origin.of(int(m[1]))[1]}", message)
        return Problem(file, line, self._mentions(message), self._mentions(problem.hint),
                       problem.partner)

    def _mentions(self, text: str) -> str:
        for rel, origin in self.origins.items():
            if rel not in text:
                continue

            def told(match: re.Match[str], origin: Origin = origin) -> str:
                if not match[1]:
                    return origin.file
                file, line = origin.of(int(match[1]))
                return f"{file}:{line}" if line else file

            text = re.sub(re.escape(rel) + r"(?::(\d+))?", told, text)
        return text


def valid_code(code: str) -> bool:
    """Whether `code` is a partner code (and so safe in a path)."""
    return bool(_CODE.fullmatch(code))


def parse_site(text: str) -> SiteGiven | Problem:
    """One `--site code=...,name=...,vlan=...,subnet=...` option as a site."""
    values: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            return Problem("--site", 0, f"{_short(text)}: {_short(part)} is not key=value",
                           _SITE_HINT)
        if key in values:
            return Problem("--site", 0, f"{_short(text)}: {key!r} given twice", _SITE_HINT)
        values[key] = value.strip()
    return SiteGiven(values, "--site")


def sites_of(doc: Located) -> tuple[list[SiteGiven], list[Problem]]:
    """The sites of a sites file: a list of sites, or a mapping with the list under `sites:`
    (as in a partner file)."""
    data: Any = doc.data
    base: tuple[str | int, ...] = ()
    if isinstance(data, dict) and set(data) == {"sites"}:
        data, base = data["sites"], ("sites",)
    if not isinstance(data, list) or not data:
        return [], [Problem(doc.file, 1, "expected a list of sites", _SITE_HINT)]
    sites: list[SiteGiven] = []
    problems: list[Problem] = []
    for index, entry in enumerate(data):
        path: tuple[str | int, ...] = (*base, index)
        if not isinstance(entry, dict):
            problems.append(Problem(doc.file, doc.line(path), "expected a site: a mapping of "
                                    f"{', '.join(SITE_KEYS)}", _SITE_HINT))
            continue
        sites.append(SiteGiven(entry, doc.file, doc.line(path)))
    return sites, problems


def new_partner(request: Onboarding) -> NewPartner | list[Problem]:
    """The new partner's documents, or every problem of the options and the export.

    The partner file is checked against its schema here; what spans the region (a VLAN, a
    subnet, a UPN suffix or a site code another partner has; the quota; the people's fields
    and sites) is for the loader, on the documents staged with the whole region.
    """
    code = request.code
    if not valid_code(code):
        return [Problem("CODE", 0, f"invalid partner code {_short(code)}",
                        "lowercase letters, digits and hyphens, 2 to 32 long, e.g. harlingen"),
                *request.problems, *request.people.problems]
    people, devices = f"people/{code}.csv", f"devices/{code}.csv"
    options = request.partner
    data: dict[str, Any] = {
        "code": code, "name": options.name, "kind": options.kind,
        "upn_suffix": options.upn_suffix, "identity": options.identity,
        "services": list(options.services),
        **({"quota": {"users": options.quota}} if options.quota is not None else {}),
        "sites": [dict(s.values) for s in request.sites],
        "people": people,
        **({"devices": devices} if request.devices is not None else {}),
    }
    rel = f"partners/{code}.yaml"
    _, paths = _partner_text(data)
    origin = Origin(rel, _origins(paths, request.sites))
    found = [*request.problems, *request.people.problems]
    try:
        spec = PartnerFile.model_validate(data)
    except ValidationError as e:
        doc = Located(rel, data, paths)
        schema = [schema_problem(PartnerFile, doc, error, code) for error in e.errors()]
        if not request.sites:
            schema = [p for p in schema if not p.message.startswith("sites:")]
            schema.append(Problem("--site/--sites", 0, "no site given", _SITE_HINT, code))
        found.extend(NewPartner(code, {}, {rel: origin}, 0, 0).retold(schema))
    if found:
        return found
    typed = spec.model_dump(mode="json")
    data["sites"] = [{k: v for k, v in site.items()} for site in typed["sites"]]
    text, _ = _partner_text(data)
    csv_text, starts = people_csv(request.people.rows)
    files = {people: csv_text}
    origins = {rel: origin, people: Origin(request.people.file, {
        start: (request.people.file, line) for start, line in zip(starts, request.people.lines,
                                                                 strict=True)})}
    if request.devices is not None:
        files[devices] = request.devices[1]
        origins[devices] = Origin(request.devices[0])
    files[rel] = text
    return NewPartner(code, files, origins, len(request.people.rows), request.people.split)


def _partner_text(data: Mapping[str, Any]) -> tuple[str, dict[tuple[str | int, ...], int]]:
    """The partner file, a key per line and a site per line, and the line of each path.

    The lines are given by the layout, not read back from the text: a value is on one line
    once it passed the schema (printable text on one line).
    """
    lines: list[str] = []
    paths: dict[tuple[str | int, ...], int] = {}
    for key, value in data.items():
        paths[(key,)] = len(lines) + 1
        if key != "sites":
            lines.append(f"{key}: {_dump(value, True)}" if isinstance(value, list | dict)
                         else _dump({key: value}, False))
            continue
        lines.append("sites:")
        for index, site in enumerate(value):
            paths[(key, index)] = len(lines) + 1
            lines.append(f"  - {_dump(site, True)}")
    return "\n".join(lines) + "\n", paths


def _dump(value: Any, flow: bool | None) -> str:
    return yaml.safe_dump(value, default_flow_style=flow, sort_keys=False, allow_unicode=True,
                          width=1 << 20).strip()


def _origins(paths: Mapping[tuple[str | int, ...], int],
             sites: tuple[SiteGiven, ...]) -> dict[int, tuple[str, int]]:
    """Each line of the partner file -> the option or the sites file's line it came from."""
    found: dict[int, tuple[str, int]] = {}
    for path, line in paths.items():
        if len(path) == 1:
            found.setdefault(line, (OPTION_OF.get(str(path[0]), str(path[0])), 0))
        elif isinstance(path[1], int) and path[1] < len(sites):
            site = sites[path[1]]
            found[line] = (site.file, site.line)
    return found


def _short(value: str) -> str:
    return repr(value) if len(value) <= 60 else f"{value[:40]!r}... ({len(value)} characters)"
