"""Access reviews against the real DC: a review per partner (its page rendered in headless
Chromium, its sheet filled in as a manager would), a returned sheet checked, its revokes a
sealed plan that disables exactly those accounts, and after it no drift: the revoked account is
an acknowledged lock until the partner's next review."""

from __future__ import annotations

import csv
import io
import json
import secrets
from pathlib import Path

import ldap3
import pytest
from click.testing import CliRunner

from ssc_infra.ad.connection import connect
from ssc_infra.cli.main import main
from ssc_infra.core.secrets import Secret
from tests.chromium import INSTALL, ChromiumError, chromium, find_chromium
from tests.integration.conftest import settings_for, unavailable
from tests.integration.test_ad import Lab
from tests.integration.test_ad import lab as ad_lab  # noqa: F401  (the fixture, by this name)
from tests.integration.test_graph import Cloud, cloud, emulator  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def lab(ad_lab: Lab) -> Lab:  # noqa: F811  (the imported fixture, by its name)
    return ad_lab


def _log_on(lab: Lab, sam: str) -> None:
    """Give the account a password of its own and bind with it, as its person would."""
    user = lab.users()[sam]
    password = "Pw-" + secrets.token_urlsafe(18)
    assert lab.conn.modify(user["dn"], {
        "unicodePwd": [(ldap3.MODIFY_REPLACE, [f'"{password}"'.encode("utf-16-le")])],
        "pwdLastSet": [(ldap3.MODIFY_REPLACE, ["-1"])]}), lab.conn.result
    connect(settings_for(lab.dc, bind_user=user["userPrincipalName"],
                         password=Secret(password))).unbind()


def _sheet(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _write(path: Path, rows: list[dict[str, str]]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8")


def test_a_review_goes_out_comes_back_and_its_revoke_is_applied(lab: Lab,
                                                                 tmp_path: Path) -> None:
    lab.edit({"file": "people/alpha.csv", "replace": ["Teamleider", f"Teamleider {HOSTILE}"]})
    assert lab.apply().code == 0
    _log_on(lab, "jvries")
    folder = tmp_path / "reviews"
    started = lab.cli("review", "start", "--out", str(folder))
    assert started.code == 0, started.out + started.err
    assert "beta: a cloud partner" in started.err
    sheet = next(folder.glob("alpha-*.csv"))
    page = sheet.with_suffix(".html")
    assert sheet.stat().st_mode & 0o777 == 0o600 and page.stat().st_mode & 0o777 == 0o600
    rows = _sheet(sheet)
    by_account = {r["account"]: r for r in rows}
    assert by_account["jvries"]["last_logon"].endswith("(±14 days)")  # the DC recorded it
    assert by_account["wbuma"]["last_logon"] == "never"
    assert by_account["wbuma"]["licences"] == "M365_E3"

    binary = find_chromium()
    if binary is None:
        unavailable("Chromium", "no chromium on PATH", INSTALL)
    try:
        with chromium(binary) as browser:
            shown = browser.load(page.as_uri(), width=1280)
            text = str(browser.evaluate("document.body.innerText"))
            scripts = browser.evaluate("document.querySelectorAll('script').length")
    except ChromiumError as e:
        unavailable("Chromium", str(e), INSTALL)
        raise  # not reached
    assert shown.errors == [] and shown.requests == [page.as_uri()] and scripts == 0
    assert f"Teamleider {HOSTILE}" in text and "Access review — Gemeente Alpha" in text
    assert "by SSC Test" in text

    for row in rows:
        row["decision"] = "revoke" if row["account"] == "jvries2" else "keep"
    bad = [dict(r) for r in rows]
    bad[0]["groups"] += "; Domain Admins"
    _write(tmp_path / "bad.csv", bad)
    refused = lab.cli("review", "apply", str(tmp_path / "bad.csv"))
    assert refused.code == 1 and "was changed (groups)" in refused.err
    back = tmp_path / "back.csv"
    _write(back, rows)
    plan = tmp_path / "revoke.plan.json"
    taken = lab.cli("review", "apply", str(back), "--out", str(plan))
    assert taken.code == 2, taken.out + taken.err
    assert "1 revoked" in taken.out
    changes = json.loads(plan.read_text())["sections"]["directory"]["changes"]
    assert [(c["key"], c["action"]) for c in changes] == [("alpha/1003", "disable")]
    again = lab.cli("review", "apply", str(back))
    assert again.code == 1 and "was taken in" in again.err

    applied = lab.apply(str(plan))
    assert applied.code == 0, applied.out + applied.err
    assert int(lab.users()["jvries2"]["userAccountControl"]) & 2
    drift = lab.cli("drift")
    assert drift.code == 0, drift.out + drift.err  # a known lock, held until the next review
    assert "= known" in drift.out and "Vries, Jelle de" in drift.out
    status = CliRunner().invoke(main, ["review", "status", "--format", "json", "--inventory",
                                       str(lab.inventory), "--today", "2026-11-23",
                                       "--state-dir", str(lab.state)])
    alpha = next(r for r in json.loads(status.stdout) if r["partner"] == "alpha")
    assert alpha["last"] == "2026-11-23" and not alpha["overdue"]


def test_a_cloud_partners_review_shows_sign_ins_and_its_revoke_stays(
        cloud: Cloud, tmp_path: Path) -> None:  # noqa: F811  (the imported fixture)
    assert cloud.cli("apply", "--yes").code == 0  # beta's users made in its tenant
    users = {u["employeeId"]: u for u in cloud.cloud_users("beta")}
    cloud.emulator.sign_in(cloud.tenants["beta"], users["1001"]["userPrincipalName"],
                           "2026-11-20T08:15:00Z")
    folder = tmp_path / "reviews"
    started = cloud.cli("review", "start", "--partner", "beta", "--out", str(folder))
    assert started.code == 0, started.out + started.err
    sheet = next(folder.glob("beta-*.csv"))
    rows = {r["employee_id"]: r for r in _sheet(sheet)}
    assert rows["1001"]["last_logon"] == "2026-11-20 (±14 days)"
    assert rows["2002"]["last_logon"] == "never" and rows["2002"]["licences"] == "M365_E3"
    for row in rows.values():
        row["decision"] = "revoke" if row["employee_id"] == "2002" else "keep"
    _write(sheet, list(rows.values()))
    plan = tmp_path / "beta.plan.json"
    taken = cloud.cli("review", "apply", str(sheet), "--out", str(plan))
    assert taken.code == 2, taken.out + taken.err
    changes = json.loads(plan.read_text())["sections"]["graph"]["changes"]
    assert [(c["key"], c["action"]) for c in changes] == [("beta/2002", "disable")]
    applied = cloud.cli("apply", "--yes", str(plan))
    assert applied.code == 0, applied.out + applied.err
    users = {u["employeeId"]: u for u in cloud.cloud_users("beta")}
    assert users["2002"]["accountEnabled"] is False and users["1001"]["accountEnabled"]
    again = cloud.cli("plan")  # the revoke stays: no plan enables the user again
    assert "beta/2002" not in again.out, again.out
    assert cloud.cli("drift").code == 0
