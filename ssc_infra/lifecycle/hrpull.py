"""`ssc-infra hr pull`: each partner's people read from its HR system and written over its
people CSV — or held, its last good file kept, while the others go on.

Per partner whose partner file names an HR system (`hr:`), in code order:

1. read: the system's connector (`ssc_infra.hr`) or the export file it drops, converted with
   the partner's mapping laid over the system's default;
2. guard: the answer is held when it fails half-way (nothing half-read is ever written), holds
   no people, has a bad record, or has lost more people than the partner's threshold — people
   in the last good file who have not left (no end date, or one still to come) and are not in
   the answer. The threshold is `hr.max_lost`, else the region's guards (`max_disable`,
   `max_disable_fraction`); `--allow-lost PARTNER=N` lets a known reorganisation through;
3. check: the new CSV is loaded with the whole region in a staged copy (as `partner people`
   does); a problem there holds the partner too;
4. write: the file is replaced whole (written beside it, synced, renamed over it).

What the new people change in the directory, the workplaces and the licences is the next
plan's to show (and its guard's to hold); here it is counted: joiners, leavers, movers and the
changed fields.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ssc_infra.core.errors import Problem, SscError
from ssc_infra.core.model import Region
from ssc_infra.core.plan import disable_limit
from ssc_infra.hr import afas, raet
from ssc_infra.hr.answer import converted, laid_over, private_fields
from ssc_infra.hr.client import HrClient
from ssc_infra.hr.settings import HrError
from ssc_infra.lifecycle.people import NewExport, current_rows, new_export, write_export
from ssc_infra.run.targets import Target, hr_settings
from ssc_infra.sources.csvfile import read_csv_text
from ssc_infra.sources.hrexport import DEFAULT, Converted, HrMapping, load_mapping, read_export
from ssc_infra.sources.people import PEOPLE_COLUMNS
from ssc_infra.sources.regionfiles import read_partner_files
from ssc_infra.sources.schema import HrEntry, HrSystem

_END = PEOPLE_COLUMNS.index("end_date")
_MOVES = ("department", "job_title", "site")
PROBLEMS_SHOWN = 20
SCIM_PUSHED = "pushed by SCIM (hr serve), not pulled"


@dataclass(frozen=True)
class Pulled:
    """What a pull did for one partner.

    status: "written", "unchanged", "would write" (--dry-run), "held" (the last good file
    kept; `reason` says why, `problems` what was wrong with the answer's records) or "skipped"
    (its people are pushed by SCIM to `hr serve`).
    """

    partner: str
    system: str
    status: str
    people: int = 0
    joiners: tuple[str, ...] = ()
    leavers: tuple[str, ...] = ()  # gone from the answer, or given an end date
    movers: tuple[str, ...] = ()  # department, job title or site changed
    changed: Mapping[str, int] = field(default_factory=dict)  # column -> people changed
    lost: int = 0  # people who had not left and are gone from the answer
    kept: int = 0  # people who had left and are not in the answer: their rows kept as were
    reason: str = ""
    problems: tuple[Problem, ...] = ()
    private: tuple[str, ...] = ()  # private fields the answer held: dropped, never written
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0

    @property
    def held(self) -> bool:
        return self.status == "held"


@dataclass(frozen=True)
class PullRequest:
    """What `hr pull` was asked: where, for whom, with which target, and how carefully."""

    inventory: Path
    region: Region
    entries: Mapping[str, HrEntry]  # partner -> its hr: entry (the partners to pull)
    people_files: Mapping[str, str]  # partner -> its people CSV inside the inventory
    target: Target | None
    target_name: str
    today: date
    dry_run: bool = False
    allow_lost: Mapping[str, int] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class _Answer:
    converted: Converted
    private: tuple[str, ...] = ()
    requests: int = 0
    retries: int = 0


def pull_all(request: PullRequest,
             progress: Callable[[str], None] = lambda _: None) -> list[Pulled]:
    """Pull every partner of the request, one after the other; one partner's failure is its
    own (held), never the others'."""
    done = []
    for code in sorted(request.entries):
        progress(code)
        done.append(pull_one(request, code))
    return done


def pull_one(request: PullRequest, code: str) -> Pulled:
    """Pull one partner: read, guard, check, write (see the module's docstring)."""
    entry = request.entries[code]
    started = time.monotonic()
    system = entry.system.value

    def held(reason: str, problems: tuple[Problem, ...] = (), lost: int = 0,
             answer: _Answer | None = None) -> Pulled:
        return Pulled(code, system, "held", reason=reason, problems=problems, lost=lost,
                      private=answer.private if answer else (),
                      requests=answer.requests if answer else 0,
                      retries=answer.retries if answer else 0,
                      seconds=time.monotonic() - started)

    if entry.system is HrSystem.SCIM:
        return Pulled(code, system, "skipped", reason=SCIM_PUSHED)
    partner = next((p for p in request.region.partners if p.code == code), None)
    rel = request.people_files.get(code, "")
    if partner is None or not partner.active or not rel:
        return held("the inventory reads no HR export of it (offboarded, merged, or held by "
                    "problems of its own files: `ssc-infra validate`)")
    try:
        answer = _read(request, code, entry)
    except (HrError, SscError) as e:
        return held(str(e))
    found = answer.converted
    if found.problems:
        return held(f"{len(found.problems):,} problems in the answer: nothing written",
                    found.problems[:PROBLEMS_SHOWN], answer=answer)
    before = current_rows(request.inventory, rel)
    after = {row["employee_id"]: row for row in found.rows}
    staying = [e for e, row in before.items() if not _left(row[_END], request.today)]
    lost = sum(1 for e in staying if e not in after)
    limit = request.allow_lost.get(code, entry.max_lost if entry.max_lost is not None
                                   else disable_limit(request.region.guards, len(staying)))
    if lost > limit:
        return held(f"{lost:,} of {len(staying):,} people who have not left are gone from the "
                    f"answer, more than the {limit:,} allowed: a cut-off or filtered answer? "
                    f"If they really left, pull with --allow-lost {code}={lost}",
                    lost=lost, answer=answer)
    found = _with_kept(found, before, request.today)
    made = new_export(request.inventory, partner, rel, found, request.today)
    if isinstance(made, list):
        return held(f"{len(made):,} problems with the whole region: nothing written",
                    tuple(made[:PROBLEMS_SHOWN]), answer=answer)
    status = _write(request, made)
    counts = _counted(before, after, request.today)
    return Pulled(code, system, status, people=made.rows, joiners=counts.joiners,
                  leavers=counts.leavers, movers=counts.movers, changed=counts.changed,
                  lost=lost, kept=counts.kept, private=answer.private,
                  requests=answer.requests, retries=answer.retries,
                  seconds=time.monotonic() - started)


def _write(request: PullRequest, made: NewExport) -> str:
    try:  # the same people, whatever its line ends or a BOM: no need to write it again
        unchanged = read_csv_text(request.inventory, made.rel) == made.text
    except FileNotFoundError:
        unchanged = False
    if unchanged:
        return "unchanged"
    if request.dry_run:
        return "would write"
    write_export(request.inventory, made)
    return "written"


def _read(request: PullRequest, code: str, entry: HrEntry) -> _Answer:
    """The partner's answer, converted; HrError when the system fails or refuses."""
    mapping = _mapping(request.inventory, entry)
    if entry.system is HrSystem.CSV:
        # The partner file names the file; the target (the SSC's own) names where such files
        # may be: a partner file cannot have the tool read whatever its account can.
        hr = request.target.hr if request.target is not None else None
        if hr is None or not hr.drop_folders:
            raise HrError(f"{code}: reading the export file {entry.file} needs a target whose "
                          "`hr.drop_folders` lists the folder the HR system drops it in "
                          "(--target, targets.yaml; docs/hr.md)")
        file = entry.file or ""
        return _Answer(read_export(Path(file), file, mapping or DEFAULT, hr.drop_folders))
    if request.target is None:
        raise HrError(f"{code}: pulling from {entry.system.value} needs a target with an `hr:` "
                      "section (--target, targets.yaml)")
    settings = hr_settings(request.target, request.target_name, code, entry)
    if entry.system is HrSystem.AFAS:
        name = f"AFAS environment {entry.environment} ({code})"
        default, description = afas.FIELDS, afas.DESCRIPTION
    else:
        name = f"Visma Raet tenant {entry.tenant} ({code})"
        default, description = raet.FIELDS, raet.DESCRIPTION
    effective = laid_over(default, mapping, description)
    keep = frozenset(str(f) for f in effective.spec.columns.values())
    with HrClient(settings, name, sleep=request.sleep) as client:
        if entry.system is HrSystem.AFAS:
            records, fields = afas.read_afas(client, settings, entry.connector, request.today,
                                             entry.window_months, keep | {afas.EMPLOYEE})
        else:
            # The IAM API's persons hold private fields whoever asks: never read into a
            # record, and nothing the partner can take out, so not told every night.
            records, _ = raet.read_raet(client, settings, entry.tenant or "", request.today,
                                        entry.window_months)
            fields = set()
        requests, retries = client.requests, client.retries
    return _Answer(converted(records, effective, f"{entry.system.value}:{code}"),
                   tuple(private_fields(fields)), requests, retries)


def mapping_problems(inventory: Path) -> list[Problem]:
    """The problems of every mapping file a partner file's `hr:` names, under that partner:
    what would hold the partner at its next `hr pull` (`validate` tells them ahead)."""
    found: list[Problem] = []
    for doc in read_partner_files(inventory)[0]:
        entry = doc.spec.hr
        if entry is None or entry.mapping is None:
            continue
        loaded = load_mapping(inventory / entry.mapping, entry.mapping)
        if isinstance(loaded, list):
            found += [dataclasses.replace(problem, partner=doc.spec.code) for problem in loaded]
    return found


def _mapping(inventory: Path, entry: HrEntry) -> HrMapping | None:
    if entry.mapping is None:
        return None
    found = load_mapping(inventory / entry.mapping, entry.mapping)
    if isinstance(found, list):
        first = found[0]
        raise HrError(f"the mapping file {first.where()}: {first.message}"
                      + (f" ({first.hint})" if first.hint else ""))
    return found


def _with_kept(found: Converted, before: Mapping[str, list[str]], today: date) -> Converted:
    """The answer's rows and, as they were, the rows of people who had left and are not in
    it (the data window no longer reads them; their accounts, devices and history stay the
    inventory's); in employee id order, so the file changes only where the people do."""
    rows = list(zip(found.rows, found.lines, strict=True))
    listed = {row["employee_id"] for row in found.rows}
    rows += [(dict(zip(PEOPLE_COLUMNS, values, strict=True)), 0) for e, values in before.items()
             if e not in listed and _left(values[_END], today)]
    rows.sort(key=lambda pair: _order(pair[0]["employee_id"]))
    return dataclasses.replace(found, rows=tuple(r for r, _ in rows),
                               lines=tuple(line for _, line in rows))


def _order(employee_id: str) -> tuple[int, str]:
    """Numbers by their value (99 before 100), then everything else as text."""
    return (len(employee_id), employee_id) if employee_id.isdigit() else (1 << 30, employee_id)


def _left(end: str, today: date) -> bool:
    """Whether a row's end date is past (a person who left is not lost when gone)."""
    return bool(end) and end < today.isoformat()


@dataclass(frozen=True)
class _Counts:
    joiners: tuple[str, ...]
    leavers: tuple[str, ...]
    movers: tuple[str, ...]
    changed: dict[str, int]
    kept: int


def _counted(before: Mapping[str, list[str]], after: Mapping[str, Mapping[str, str]],
             today: date) -> _Counts:
    joiners = sorted(set(after) - set(before))
    leavers = sorted(e for e in before if e not in after and not _left(before[e][_END], today))
    changed: Counter[str] = Counter()
    movers = []
    for e in sorted(set(after) & set(before)):
        old = dict(zip(PEOPLE_COLUMNS, before[e], strict=True))
        new = after[e]
        differ = [c for c in PEOPLE_COLUMNS if old[c] != new[c]]
        changed.update(differ)
        if any(c in _MOVES for c in differ):
            movers.append(e)
        if "end_date" in differ and new["end_date"] and not old["end_date"]:
            leavers.append(e)
    kept = sum(1 for e in before if e not in after and _left(before[e][_END], today))
    return _Counts(tuple(joiners), tuple(sorted(leavers)), tuple(movers),
                   dict(sorted(changed.items())), kept)
