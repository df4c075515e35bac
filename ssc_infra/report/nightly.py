"""The nightly drift report: what one drift check found, as JSON and one HTML page, with the
trend over the reports before it.

`drift --report DIR` writes into DIR a JSON report (`report_data`: a stable schema, format
REPORT_FORMAT, version REPORT_VERSION) and the page (`ssc_infra.report.html`), each under a
name of its own (`drift-report-<UTC time>-<random>.json|html`) and again as `latest.json` and
`latest.html`; the trend comes from the JSON reports already in DIR, and only the newest
`keep` reports stay. Everything is written 0600 (the report names people), atomically: a reader
of `latest.html` sees the old page or the new one, never a part.

"Drift" is everything a read-only plan finds, in every section (directory, graph, hosts):
- `pending`: a change the next apply would make;
- `held`: a change of a partner held back (guard, seats, its tenant);
- `drift`: something the tool reports but does not put right (`Section.drift`: unmanaged
  objects, accounts locked by hand, licence errors), unless holds.yaml acknowledges it.
Acknowledged items are counted (`known`, `waiting_for_sync`), not listed.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ssc_infra import __version__
from ssc_infra.core.plan import WAITING_FOR_SYNC, Action, Backend, Change, ObjectKind, Plan
from ssc_infra.core.review import PRIVILEGED, due, inactive
from ssc_infra.hosts.ansible import host_of
from ssc_infra.report.text import homes_counts
from ssc_infra.run.planned import PlannedRun
from ssc_infra.sources.located import read_regular
from ssc_infra.state.reviews import last_completed

REPORT_FORMAT = "ssc-infra drift report"
REPORT_VERSION = 1
DEFAULT_KEEP = 30
TREND_POINTS = 30  # the reports the trend shows, tonight's included
REPORT_NAME = re.compile(r"^drift-report-(\d{8}T\d{6}Z)-([0-9a-f]{6})\.(json|html)$")
LATEST = "latest"
REPORT_MAX_BYTES = 256 << 20  # an earlier report larger than this is no report of ours

# The backends a drift check reads, and the kinds of object their sections hold: every one is
# counted, zero included, so a script never meets a missing key.
BACKENDS = (Backend.DIRECTORY, Backend.GRAPH, Backend.HOSTS)
KINDS = (ObjectKind.OU, ObjectKind.GROUP, ObjectKind.ACCOUNT, ObjectKind.MEMBERS,
         ObjectKind.CLOUD_USER, ObjectKind.CLOUD_LICENCE, ObjectKind.CLOUD_GROUP,
         ObjectKind.CLOUD_MEMBERS, ObjectKind.FILE, ObjectKind.HOMES)
UNMANAGED = "unmanaged"  # the kind of a drift item: reported, not put right
STATUSES = ("pending", "held", "drift")
SHARED = ""  # the partner code of what belongs to no one partner (a shared host file)
VERDICTS = {0: "no drift", 2: "drift found", 1: "drift check incomplete"}
# Attributes of an account change that are the apply's business, not the reader's.
_HIDDEN = {"uac", "add_keys", "remove_keys", "keep_address", "adminDescription"}


@dataclass(frozen=True)
class DriftRun:
    """What one drift check found, as the report needs it (made by `cli` from the run)."""

    region: str
    region_name: str
    target: str
    today: str
    created: datetime
    partners: tuple[tuple[str, str], ...]  # (code, name) of every partner of the region
    plan: Plan
    exit_code: int  # the drift command's: 0 no drift, 2 drift found, 1 incomplete
    incomplete: tuple[str, ...] = ()  # why the check did not cover everything
    held_inventory: Mapping[str, int] = field(default_factory=dict)  # partner -> problems
    failed_hosts: tuple[str, ...] = ()
    # BIO 5.18.02: the partners whose access review is due, and the accounts unused for long
    reviews_due: tuple[Mapping[str, str], ...] = ()  # {partner, last, due}
    inactive: tuple[Mapping[str, str], ...] = ()  # {partner, account, last_logon}


def drift_run(planned: PlannedRun, exit_code: int, created: datetime | None = None) -> DriftRun:
    """What the drift check `planned` found, for its report.

    Args:
        planned: the drift run's plan (every section read, nothing applied).
        exit_code: what `drift` exits with: 0 no drift, 2 drift found, 1 incomplete.
        created: when the report is made (default now).
    """
    asked = set(planned.partners)
    partners = [(p.code, p.name) for p in planned.region.partners
                if not asked or p.code in asked]
    known = {code for code, _ in partners}
    partners += [(code, "") for code in sorted(planned.held_inventory) if code not in known]
    failed = planned.hosts.result.failed_hosts if planned.hosts is not None else []
    return DriftRun(planned.region.code, planned.region.name, planned.target,
                    planned.request.today.isoformat(), created or datetime.now(UTC),
                    tuple(partners), planned.plan, exit_code, tuple(planned.incomplete),
                    {code: len(found) for code, found in planned.held_inventory.items()},
                    tuple(h.host for h in failed), *_reviews(planned, known))


def _reviews(planned: PlannedRun, partners: set[str]
             ) -> tuple[tuple[dict[str, str], ...], tuple[dict[str, str], ...]]:
    """The partners whose access review is due, and the enabled AD accounts unused for the
    policy's inactive_days (one never used: since its start date)."""
    request, today = planned.request, planned.request.today
    policy = request.governance.reviews
    active = {p.code for p in planned.region.partners if p.active}
    overdue = []
    subjects = [(code, policy.interval(code)) for code in sorted(partners & active)]
    for code, interval in [*subjects, (PRIVILEGED, policy.privileged_every_days)]:
        last = last_completed(request.state_dir, code)
        when = due(last.completed if last else None, interval, today)
        if when <= today:
            overdue.append({"partner": code, "last": last.completed.isoformat()
                            if last and last.completed else "never", "due": when.isoformat()})
    starts = {a.key: a.start_date for p in planned.desired.partners for a in p.accounts}
    accounts = [a for a in planned.actual.accounts if a.key is not None and a.enabled
                and not a.in_leavers and a.partner in partners]
    unused = set(inactive(((f"{a.partner}/{a.sam}", a.last_logon,
                            starts.get((a.partner, a.employee_id or ""), today))
                           for a in accounts), policy.inactive_days, today))
    idle = [{"partner": a.partner, "account": a.sam, "last_logon": a.last_logon or "never"}
            for a in accounts if f"{a.partner}/{a.sam}" in unused]
    return tuple(overdue), tuple(idle)


# -- the report's data (pure) ---------------------------------------------------------------


def report_data(run: DriftRun) -> dict[str, Any]:
    """The JSON report of one drift check (schema: docs/nightly.md).

    Every partner of the region has its counts in `summary.partners`, zero included, and an
    entry in `partners` (with its items, possibly none); what belongs to no one partner is
    the partner "" ("shared"), listed when it has items.
    """
    items = list(_items(run.plan))
    names = dict(run.partners)
    codes = [code for code, _ in run.partners]
    codes += sorted({i["partner"] for i in items} - set(codes) - {SHARED})
    if any(i["partner"] == SHARED for i in items):
        codes.append(SHARED)
    acknowledged: dict[str, Counter[str]] = {}
    for section in run.plan.sections:
        for u in section.acknowledged:
            what = "waiting_for_sync" if u.known == WAITING_FOR_SYNC else "known"
            acknowledged.setdefault(u.partner, Counter())[what] += 1
    held: dict[str, list[str]] = {}
    for h in run.plan.held:
        held.setdefault(h.partner, []).append(h.message())
    for code, problems in sorted(run.held_inventory.items()):
        held.setdefault(code, []).append(
            f"held back: {problems} problem{'s' if problems != 1 else ''} in its HR export or "
            "device list; nothing of it was read (`ssc-infra validate` lists them)")
    by_partner = {code: [i for i in items if i["partner"] == code] for code in codes}
    summary = {code: _counts(by_partner[code], acknowledged.get(code, Counter()))
               for code in codes}
    total_known: Counter[str] = Counter()
    for found in acknowledged.values():
        total_known.update(found)
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "created": run.created.astimezone(UTC).isoformat(timespec="seconds"),
        "tool": f"ssc-infra {__version__}",
        "region": {"code": run.region, "name": run.region_name},
        "target": run.target,
        "today": run.today,
        "result": {"exit_code": run.exit_code,
                   "verdict": VERDICTS.get(run.exit_code, "drift check incomplete"),
                   "incomplete": list(run.incomplete),
                   "failed_hosts": list(run.failed_hosts)},
        "summary": {"total": _counts(items, total_known), "partners": summary},
        # first of all: the privileged groups' drift (BIO 8.02.01), made outside the tool
        "privileged": [{"group": u.key, "member": u.label, "dn": u.dn, "reason": u.reason}
                       for u in run.plan.privileged],
        # the access reviews due and the accounts unused for long (BIO 5.18.02)
        "reviews_due": [dict(r) for r in run.reviews_due],
        "inactive": [dict(i) for i in run.inactive],
        "partners": [{"code": code, "name": names.get(code, "shared (every partner)"
                                                      if code == SHARED else ""),
                      "held": held.get(code, []), "items": by_partner[code]}
                     for code in codes],
    }


def _counts(items: Sequence[Mapping[str, Any]], acknowledged: Mapping[str, int]
            ) -> dict[str, Any]:
    """Counts of these items by status, backend, kind and action; every key always there."""
    status = Counter(str(i["status"]) for i in items)
    backend = Counter(str(i["backend"]) for i in items)
    kind = Counter(str(i["kind"]) for i in items)
    action = Counter(str(i["action"]) for i in items if i["status"] != "drift")
    return {
        "items": len(items),
        **{s: status[s] for s in STATUSES},
        "known": int(acknowledged.get("known", 0)),
        "waiting_for_sync": int(acknowledged.get("waiting_for_sync", 0)),
        "by_backend": {b.value: backend[b.value] for b in BACKENDS},
        "by_kind": {**{k.value: kind[k.value] for k in KINDS}, UNMANAGED: kind[UNMANAGED]},
        "by_action": {a.value: action[a.value] for a in Action},
    }


def _items(plan: Plan) -> Iterable[dict[str, Any]]:
    for section in plan.sections:
        for change in section.changes:
            yield _change_item(change, "pending")
        for change in section.held_changes:
            yield _change_item(change, "held")
        for u in section.drift:
            if u.privileged:
                continue  # in the report's own list, first: `privileged`
            yield {"status": "drift", "backend": section.backend.value, "partner": u.partner,
                   "kind": UNMANAGED, "action": "", "key": u.key or u.dn, "label": u.label,
                   "target": u.dn, "destructive": False, "detail": u.reason}


def _change_item(change: Change, status: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "status": status, "backend": change.backend.value, "partner": change.partner,
        "kind": change.kind.value, "action": change.action.value, "key": change.key,
        "label": change.label, "target": change.target, "destructive": change.destructive,
        "detail": _detail(change)}
    if change.kind is ObjectKind.HOMES:
        item["people"] = [{"home": str(entry), "what": what,
                           "label": change.names.get(str(entry), "")}
                          for what in ("archive", "restore")
                          for entry in change.after.get(what, ())]
    return item


def _detail(change: Change) -> str:
    """One short line on what the change does, without the values (the plan has those)."""
    after = change.after
    if change.kind in (ObjectKind.MEMBERS, ObjectKind.CLOUD_MEMBERS):
        return f"+{len(after.get('add', ()))} -{len(after.get('remove', ()))} members"
    if change.kind is ObjectKind.CLOUD_LICENCE:
        return ", ".join([*(f"+{n}" for n in after.get("add_names", ())),
                          *(f"-{n}" for n in after.get("remove_names", ()))])
    if change.kind is ObjectKind.HOMES:
        return homes_counts([change])
    if change.kind is ObjectKind.FILE:
        where = host_of(change)
        diff = str(after.get("diff", ""))
        if diff.startswith("~ "):
            return f"{where}: " + "; ".join(line[2:] for line in diff.splitlines())
        return f"{where}: +{after.get('added', 0)} -{after.get('removed', 0)} lines"
    if change.action is Action.CREATE:
        return ""
    # "enabled" is the action itself (enable, disable); "dn" says where the object goes.
    shown = [name for name in after if name not in _HIDDEN | {"enabled", "accountEnabled", "dn"}]
    parts = [f"to {after['dn']}"] if "dn" in after else []
    if shown:
        parts.append(", ".join(shown))
    return "; ".join(parts)


# -- the trend: the earlier reports in the folder -----------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    """One report's place in the trend."""

    created: str
    today: str
    exit_code: int
    items: int
    partners: Mapping[str, int]  # partner -> its items


def trend_point(data: Mapping[str, Any]) -> TrendPoint:
    """A report's figures for the trend; KeyError/TypeError/ValueError when it is no report."""
    summary = data["summary"]
    return TrendPoint(str(data["created"]), str(data["today"]),
                      int(data["result"]["exit_code"]), int(summary["total"]["items"]),
                      {str(code): int(counts["items"])
                       for code, counts in dict(summary["partners"]).items()})


def report_names(folder: Path) -> list[str]:
    """The stems of the reports in the folder (`drift-report-...`), oldest first."""
    stems = {m.group(0).rsplit(".", 1)[0] for p in folder.iterdir()
             if (m := REPORT_NAME.match(p.name)) and p.is_file()}
    return sorted(stems)


def read_trend(folder: Path, stems: Sequence[str]) -> tuple[list[TrendPoint], list[str]]:
    """The trend points of these reports, and the files that could not be read, with why.

    A damaged, foreign or newer-version file is left out of the trend and named: the page
    says so, and tonight's report is written all the same.
    """
    points: list[TrendPoint] = []
    skipped: list[str] = []
    for stem in stems:
        path = folder / f"{stem}.json"
        try:
            raw = read_regular(path, path.name, REPORT_MAX_BYTES)
        except FileNotFoundError:
            continue  # only its page is left
        try:
            if not isinstance(raw, bytes):
                raise ValueError(raw.message)
            data = json.loads(raw.decode("utf-8"))
            if data.get("format") != REPORT_FORMAT or data.get("version") != REPORT_VERSION:
                raise ValueError(f"format {data.get('format')!r} version "
                                 f"{data.get('version')!r}, not {REPORT_FORMAT!r} "
                                 f"{REPORT_VERSION}")
            points.append(trend_point(data))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            skipped.append(f"{path.name}: {e}")
    return points, skipped
