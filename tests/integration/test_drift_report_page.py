"""The nightly drift report in a real browser: Debian's Chromium, headless, over CDP.

Four nights of the sample region (11 partners, 4,500 people) are checked for drift with the
in-memory directory and hosts of `tests/unit/test_run.py`: a quiet night, then hand edits, a
lock, unmanaged objects (one named `<script>alert(1)</script>`), a leaver and someone gone from
the HR export. The last report's page must render without a console error (a CSP violation is
one), fetch nothing but itself, run no script, hold every partner with its counts, and link its
sections; a screenshot is taken. `SSC_REPORT_SCREENSHOT=docs/drift-report.png` keeps it (the
README's picture is made so).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ssc_infra.core.actual import (
    UAC_ACCOUNTDISABLE,
    DirectoryAccount,
    DirectoryGroup,
    DirectoryState,
)
from ssc_infra.core.desired import DesiredState, derive
from ssc_infra.report.folder import write_report
from ssc_infra.report.nightly import drift_run
from ssc_infra.run import PlannedRun, RunRequest, execute_apply, plan_run, prepare_apply
from ssc_infra.run.protocols import Backends
from ssc_infra.sources.files import FilesSource
from tests.chromium import INSTALL, ChromiumError, chromium, find_chromium
from tests.conftest import ROOT, TODAY
from tests.integration.conftest import unavailable
from tests.support import directory_as_desired
from tests.unit.test_run import MemoryDirectory, MemoryHosts

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert(1)</script>"
BASE = "DC=ssc,DC=frl"
SCREENSHOT_ENV = "SSC_REPORT_SCREENSHOT"
NIGHT = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)


@dataclasses.dataclass
class Region:
    """The sample region with in-memory backends, ready for nightly drift checks."""

    request: RunRequest
    directory: MemoryDirectory
    hosts: MemoryHosts
    desired: DesiredState

    def check(self) -> tuple[PlannedRun, int]:
        planned = plan_run(dataclasses.replace(self.request, command="drift"),
                           backends=Backends(self.directory, self.hosts))
        code = 1 if planned.incomplete else 0 if planned.empty else 2
        return planned, code


@pytest.fixture
def region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Region:
    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventory", inventory,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    monkeypatch.setenv("SSC_TEST_PASSWORD", "not-used-in-memory")
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"test": {
        "ad": {"url": "ldaps://127.0.0.1:636", "bind_user": "svc@ssc.frl", "base_dn": BASE,
               "bind_password_env": "SSC_TEST_PASSWORD"},
        "ansible": {"connection": "local", "root": str(tmp_path / "hosts")}}}))
    source = FilesSource(inventory)
    desired = derive(source.load(TODAY).region, TODAY)
    request = RunRequest(source, TODAY, targets, "test", tmp_path / "state")
    found = Region(request, MemoryDirectory(directory_as_desired(desired)), MemoryHosts(),
                   desired)
    planned = plan_run(request, backends=Backends(found.directory, found.hosts))
    execute_apply(planned, prepare_apply(planned, None))  # the hosts get their files
    return found


def _edit(state: DirectoryState, changes: dict[tuple[str, str], dict[str, Any]],
          extra: tuple[DirectoryAccount, ...] = (),
          groups: tuple[DirectoryGroup, ...] = ()) -> DirectoryState:
    accounts = tuple(dataclasses.replace(a, **changes[(a.partner, a.employee_id or "")])
                     if (a.partner, a.employee_id or "") in changes else a
                     for a in state.accounts)
    return dataclasses.replace(state, accounts=(*accounts, *extra),
                               groups=(*state.groups, *groups))


def _people(desired: DesiredState, code: str, count: int) -> list[str]:
    partner = desired.partner(code)
    return [a.employee_id for a in partner.accounts if a.enabled][:count]


def _nights(region: Region, folder: Path) -> dict[str, Any]:
    """Four nightly reports into `folder`; the last one's JSON."""
    start = region.directory.state
    desired = region.desired
    lwd = _people(desired, "leeuwarden", 3)
    wdh = _people(desired, "waadhoeke", 1)
    trs = _people(desired, "terschelling", 1)
    by_hand = {("leeuwarden", e): {"department": "Projecten (tijdelijk)"} for e in lwd}
    locked = {("waadhoeke", wdh[0]): {"uac": 0x0200 | UAC_ACCOUNTDISABLE, "marker": ""}}
    users = {p.code: p.users_ou for p in desired.partners}
    groups = {p.code: p.groups_ou for p in desired.partners}
    tonight = _edit(
        start, {**by_hand, **locked, ("terschelling", trs[0]): {"title": "Hoofd (waarnemend)"}},
        extra=(
            DirectoryAccount(f"CN=Scanner Balie,{users['waadhoeke']}", "scanbalie",
                             "waadhoeke", None),
            DirectoryAccount(f"CN={HOSTILE},{users['ameland']}", "odd", "ameland", None),
            DirectoryAccount(f"CN=Piet Post,{users['ameland']}", "ppost", "ameland", "999999",
                             given_name="Piet", surname="Post", full_name="Piet Post",
                             display_name=f"Post, Piet {HOSTILE}"),
            # gone from Vlieland's export, beside its leaver: more than its guard allows
            *(DirectoryAccount(f"CN={name},{users['vlieland']}", sam, "vlieland",
                               employee_id, display_name=label)
              for name, sam, employee_id, label in (
                  ("Anne Visser", "avisser", "990001", "Visser, Anne"),
                  ("Sjoerd de Jong", "sdejong", "990002", "Jong, Sjoerd de"))),
        ),
        groups=(DirectoryGroup(f"CN=Gedeelde mailbox Griffie,{groups['noardeast-fryslan']}",
                               "Gedeelde mailbox Griffie", "noardeast-fryslan"),))
    states = [start, _edit(start, dict(list(by_hand.items())[:1])),
              _edit(start, {**by_hand, **locked}), tonight]
    data: dict[str, Any] = {}
    for n, state in enumerate(states):
        region.directory.state = state
        if n == len(states) - 1:  # tonight two HR exports also say someone left
            _leaver(region, "vlieland", _people(desired, "vlieland", 1)[0])
            _leaver(region, "terschelling", _people(desired, "terschelling", 2)[1])
            # and someone was made a Domain Admin behind the tool's back
            admins = region.directory.privileged["domain admins"]
            region.directory.privileged["domain admins"] = dataclasses.replace(
                admins, members=(*admins.members, f"adm-{HOSTILE}"))
        planned, code = region.check()
        when = NIGHT - timedelta(days=len(states) - 1 - n)
        run = dataclasses.replace(drift_run(planned, code, when),
                                  today=(TODAY - timedelta(days=len(states) - 1 - n))
                                  .isoformat())
        files = write_report(folder, run, keep=30)
        data = json.loads(files.latest_json.read_text(encoding="utf-8"))
    return data


def _leaver(region: Region, code: str, employee_id: str) -> None:
    source = region.request.source
    assert isinstance(source, FilesSource)
    path = source.folder / "people" / f"{code}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    day = (TODAY - timedelta(days=2)).isoformat()
    edited = [f"{line.rsplit(',', 1)[0]},{day}" if line.startswith(f"{employee_id},") else line
              for line in lines]
    assert edited != lines
    path.write_text("\n".join(edited) + "\n", encoding="utf-8")


def test_the_nightly_report_renders_in_chromium_with_every_partner_and_its_counts(
        region: Region, tmp_path: Path) -> None:
    binary = find_chromium()
    if binary is None:
        unavailable("Chromium", "no chromium on PATH", INSTALL)
    folder = tmp_path / "nightly"
    data = _nights(region, folder)
    assert data["result"]["exit_code"] == 2
    summary = data["summary"]
    assert summary["total"]["drift"] >= 4 and summary["total"]["pending"] >= 5
    assert summary["partners"]["vlieland"]["held"] >= 3
    assert summary["partners"][""]["by_kind"]["file"] >= 1  # the leaver's part of host files
    try:
        with chromium(binary) as page:
            found = page.load((folder / "latest.html").as_uri(), width=1280)
            text = str(page.evaluate("document.body.innerText"))
            scripts = page.evaluate("document.querySelectorAll('script').length")
            dangling = page.evaluate(
                "Array.from(document.querySelectorAll('a[href^=\"#\"]'))"
                ".filter(a => !document.getElementById(a.getAttribute('href').slice(1)))"
                ".map(a => a.getAttribute('href'))")
            sections = page.evaluate("document.querySelectorAll('section.partner').length")
            first = page.evaluate("document.querySelector('section').id")
            shot = page.screenshot(tmp_path / "drift-report.png", height=1500)
    except ChromiumError as e:
        unavailable("Chromium", str(e), INSTALL)
        raise  # not reached
    assert found.errors == [], found.errors  # a CSP violation would be one
    assert found.requests == [(folder / "latest.html").as_uri()]  # nothing else is fetched
    assert found.dialogs == [] and scripts == 0
    assert dangling == [] and sections == len(data["partners"])
    # every partner, with its counts as the JSON has them, in the table's row
    for partner in data["partners"]:
        code = partner["code"] or "shared"
        counts = summary["partners"][partner["code"]]
        row = "\t".join([code, partner["name"], *(f"{counts[k]:,}" for k in (
            "items", "pending", "held", "drift", "known")),
            *(f"{counts['by_backend'][b]:,}" for b in ("directory", "graph", "hosts"))])
        assert row in text, f"no row {row!r} on the page"
    assert f"drift found: {summary['total']['items']:,} items (exit code 2)" in text
    assert f"Post, Piet {HOSTILE}" in text and f"CN={HOSTILE}" in text  # text, not markup
    assert "trend (4 reports)" in text
    # no partner was ever reviewed, and nobody in this region ever logged on
    assert {r["partner"] for r in data["reviews_due"]} >= {"leeuwarden", "waadhoeke"}
    assert all(r["last"] == "never" for r in data["reviews_due"])
    assert len(data["inactive"]) > 1000 and "Access reviews" in text
    # the privileged group's new member comes first, before every partner, as text
    assert first == "privileged" and data["privileged"][0]["group"] == "Domain Admins"
    assert f"adm-{HOSTILE}" in text and text.index("Privileged groups") < text.index("Per partner")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    keep = os.environ.get(SCREENSHOT_ENV)
    if keep:
        Path(keep).write_bytes(png)


def test_a_day_without_drift_is_said_so_in_the_page(region: Region, tmp_path: Path) -> None:
    planned, code = region.check()
    assert code == 0
    files = write_report(tmp_path / "nightly", drift_run(planned, code, NIGHT))
    data = json.loads(files.json.read_text(encoding="utf-8"))
    assert data["result"]["verdict"] == "no drift" and data["summary"]["total"]["items"] == 0
    page = files.html.read_text(encoding="utf-8")
    assert "no drift: 0 items (exit code 0)" in page
    assert page.count(">no drift<") == len(data["partners"])  # each partner says so
    assert date.fromisoformat(data["today"]) == TODAY
