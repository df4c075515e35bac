"""The nightly drift report's data and page, from hand-built plans: the schema scripts rely on,
counts with every key present, the trend, and a page that loads nothing and escapes everything.
(`tests/integration/test_drift_report_page.py` renders it in a real Chromium.)"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from markupsafe import escape

from ssc_infra.core.plan import (
    WAITING_FOR_SYNC,
    Action,
    Backend,
    Change,
    Held,
    ObjectKind,
    Plan,
    Section,
    Unmanaged,
)
from ssc_infra.hosts.ansible import file_change, homes_change
from ssc_infra.report.folder import write_report
from ssc_infra.report.html import ITEMS_SHOWN, TEXT_SHOWN, render_page
from ssc_infra.report.nightly import (
    REPORT_FORMAT,
    REPORT_VERSION,
    DriftRun,
    read_trend,
    report_data,
    trend_point,
)

HOSTILE = ('<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "';--",
           "[/x] :x:", "</style><style>*{}", "a\nb")
NOW = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


def _plan(value: str = "") -> Plan:
    disable = Change(ObjectKind.ACCOUNT, Action.DISABLE, "alpha", "alpha/1003", "CN=Jelle",
                     {"enabled": True}, {"enabled": False, "dn": "CN=Jelle,OU=Leavers"},
                     label=f"Vries, Jelle de{value}")
    create = Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", "alpha/1006", "CN=Sytse",
                    {}, {"displayName": "Hiemstra, Sytse"}, label="Hiemstra, Sytse")
    held = Change(ObjectKind.CLOUD_USER, Action.DISABLE, "beta", "beta/2002", "jv@beta",
                  {"accountEnabled": True}, {"accountEnabled": False}, Backend.GRAPH,
                  f"Vries, Johan de{value}")
    homes = dataclasses.replace(
        homes_change("fs01", "alpha", {"archive": ["alpha/jdevries"]}),
        names={"alpha/jdevries": f"Vries, Jelle de{value}"})
    return Plan((
        Section(Backend.DIRECTORY, (create, disable), unmanaged=(
            Unmanaged("alpha", f"CN=Scanner{value},OU=Users", f"no employeeID{value}"),
            Unmanaged("alpha", "CN=Printer,OU=Users", "no employeeID", known="known: printer"),
            Unmanaged("alpha", "jan@alpha", "not synced", "alpha/1002", WAITING_FOR_SYNC))),
        Section(Backend.GRAPH, (), (Held("beta", 1, 2, 0, "--allow-disable beta=1"),),
                (held,)),
        Section(Backend.HOSTS, (homes, file_change("vpn01", "/etc/wireguard/wg0.conf",
                                                   "--- a\n+++ b\n-x\n+y", 1, 1)))))


def _run(value: str = "", exit_code: int = 2, **kwargs: object) -> DriftRun:
    fields: dict[str, object] = {
        "region": "tst", "region_name": f"SSC Test{value}", "target": f"lab{value}",
        "today": "2026-11-23", "created": NOW,
        "partners": (("alpha", f"Gemeente Alpha{value}"), ("beta", "Stichting Beta"),
                     ("gamma", "Gemeente Gamma")),
        "plan": _plan(value), "exit_code": exit_code, **kwargs}
    return DriftRun(**fields)  # type: ignore[arg-type]


def test_the_report_has_its_format_and_every_count_zero_included() -> None:
    data = report_data(_run())
    assert (data["format"], data["version"]) == (REPORT_FORMAT, REPORT_VERSION)
    assert data["result"]["verdict"] == "drift found"
    partners = data["summary"]["partners"]
    assert list(partners) == ["alpha", "beta", "gamma", ""]  # the region's order, then shared
    keys = {"items", "pending", "held", "drift", "known", "waiting_for_sync", "by_backend",
            "by_kind", "by_action"}
    for counts in [data["summary"]["total"], *partners.values()]:
        assert set(counts) == keys
        assert set(counts["by_backend"]) == {"directory", "graph", "hosts"}
        assert set(counts["by_kind"]) >= {"account", "homes", "file", "cloud-user", "unmanaged"}
        assert set(counts["by_action"]) >= {"create", "disable", "archive", "revoke"}
        assert counts["items"] == counts["pending"] + counts["held"] + counts["drift"] == \
            sum(counts["by_backend"].values()) == sum(counts["by_kind"].values())
    gamma = partners["gamma"]
    assert gamma["items"] == 0 and all(v == 0 for v in gamma["by_action"].values())
    alpha = partners["alpha"]
    assert (alpha["pending"], alpha["drift"], alpha["known"], alpha["waiting_for_sync"]) == \
        (3, 1, 1, 1)
    assert partners["beta"]["held"] == 1 and partners[""]["by_kind"]["file"] == 1
    total = data["summary"]["total"]
    assert total["items"] == sum(p["items"] for p in partners.values()) == 6


def test_items_name_people_and_say_what_changes_without_the_values() -> None:
    data = report_data(_run())
    alpha = next(p for p in data["partners"] if p["code"] == "alpha")
    by_key = {i["key"]: i for i in alpha["items"]}
    assert by_key["alpha/1003"]["label"] == "Vries, Jelle de"
    assert by_key["alpha/1003"]["detail"] == "to CN=Jelle,OU=Leavers"
    assert by_key["alpha/1003"]["destructive"] is True
    assert by_key["fs01:homes/alpha"]["people"] == [
        {"home": "alpha/jdevries", "what": "archive", "label": "Vries, Jelle de"}]
    assert by_key["CN=Scanner,OU=Users"]["status"] == "drift"
    beta = next(p for p in data["partners"] if p["code"] == "beta")
    assert beta["held"] and "--allow-disable beta=1" in beta["held"][0]
    assert [i["status"] for i in beta["items"]] == ["held"]


def test_a_partner_held_for_its_inventory_is_said_and_the_check_is_incomplete() -> None:
    data = report_data(_run(exit_code=1, incomplete=("partner gamma held back",),
                            held_inventory={"gamma": 3}))
    assert data["result"]["verdict"] == "drift check incomplete"
    gamma = next(p for p in data["partners"] if p["code"] == "gamma")
    assert "3 problems in its HR export" in gamma["held"][0]


@pytest.mark.parametrize("value", HOSTILE)
def test_every_value_on_the_page_is_text(value: str) -> None:
    data = json.loads(json.dumps(report_data(_run(value))))
    page = render_page(data, [trend_point(data)], [f"old.json: {value}"], "r.json")
    # names, keys, reasons, the region, the target, a skipped file: each shown, escaped
    assert page.count(str(escape(value))) >= 8
    if re.search(r"[<>\"'&]", value):
        assert value not in page
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert page.count("<style>") == 1 and page.count("</style>") == 1


def test_the_page_loads_nothing_and_allows_only_its_own_stylesheet() -> None:
    data = report_data(_run())
    page = render_page(data, [trend_point(data)], [], "r.json")
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert policy is not None
    assert "default-src 'none'" in policy.group(1) and "script-src 'none'" in policy.group(1)
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy.group(1)
    assert not re.search(r"\b(src|srcset|action|formaction|xlink:href)=", page)
    assert not re.search(r"url\(|@import|https?://", page)
    assert set(re.findall(r'href="([^"]*)"', page)) <= {f"#p-{n}" for n in range(1, 9)} | {"#top"}
    assert ' style="' not in page  # a style attribute would need 'unsafe-inline'


def test_long_values_are_cut_on_the_page_and_kept_whole_in_the_json() -> None:
    long = "x" * 10_000
    run = dataclasses.replace(_run(), plan=Plan((Section(Backend.DIRECTORY, unmanaged=tuple(
        Unmanaged("alpha", f"CN={n}", long) for n in range(ITEMS_SHOWN + 5))),)))
    data = report_data(run)
    assert data["partners"][0]["items"][0]["detail"] == long
    page = render_page(data, [trend_point(data)], [], "r.json")
    assert "x" * TEXT_SHOWN + "…" in page and "x" * (TEXT_SHOWN + 1) not in page
    assert "… and 5 more items" in page


def test_the_trend_skips_damaged_foreign_and_newer_reports_and_names_them(
        tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    first = write_report(folder, _run(), keep=10)
    data = json.loads(first.json.read_text())
    for stem, content in (
            ("drift-report-20261120T023000Z-aaaaaa", b'{"format": "ssc-infra drift rep'),
            ("drift-report-20261121T023000Z-bbbbbb", json.dumps({**data, "version": 99}).encode()),
            ("drift-report-20261122T023000Z-cccccc", json.dumps({"format": "other"}).encode())):
        (folder / f"{stem}.json").write_bytes(content)
    points, skipped = read_trend(folder, sorted({p.stem for p in folder.glob("drift-report-*")}))
    assert len(points) == 1
    assert [s.split(":")[0] for s in skipped] == [
        "drift-report-20261120T023000Z-aaaaaa.json", "drift-report-20261121T023000Z-bbbbbb.json",
        "drift-report-20261122T023000Z-cccccc.json"]
    assert "version 99" in skipped[1]
    second = write_report(folder, dataclasses.replace(_run(), created=NOW.replace(day=24)),
                          keep=10)
    assert len(second.skipped) == 3
    assert "trend (2 reports)" in second.html.read_text()
