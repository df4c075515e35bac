"""The usage figures without a server: figures from what the systems gave (data cases), the
months, the kept measurements as hostile files, the forms of the report, the in-memory
orchestration of one measurement, and the CLI on kept months."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from ssc_infra.ad.scope import Scope
from ssc_infra.cli.main import main
from ssc_infra.core.actual import DirectoryState
from ssc_infra.core.desired import derive
from ssc_infra.core.errors import BackendError, Problem
from ssc_infra.core.model import Partner, Region
from ssc_infra.hosts.storage import PartnerStorage, StorageRead, parse_storage
from ssc_infra.m365.counter import GraphCounter
from ssc_infra.m365.diff import Unreadable
from ssc_infra.m365.tenant import Seats, TenantState, parse_user
from ssc_infra.report.usage import human_bytes, unknown_lines, usage_csv, usage_html, usage_table
from ssc_infra.run.metering import (
    Meters,
    UsageError,
    load_snapshot,
    measure,
    measured_now,
    save_snapshot,
    snapshot_path,
)
from ssc_infra.run.usage import (
    Figure,
    Month,
    PartnerUsage,
    Reads,
    UsageReport,
    measure_usage,
)
from ssc_infra.sources.files import FilesSource
from tests.conftest import MINI, TODAY, data_cases
from tests.support import directory_as_desired, edit_directory

MEASURED = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
NOVEMBER = Month(2026, 11)


def _region(path: Path = MINI) -> Region:
    return FilesSource(path).load(TODAY).region


def _tenant(spec: Mapping[str, Any]) -> TenantState:
    parts = sorted({sku for u in spec["users"] for sku in u["licences"]} | {"M365_E3"})
    users = tuple(parse_user({
        "id": f"u{n}", "userPrincipalName": u["upn"], "employeeId": u["employee_id"] or None,
        "accountEnabled": u["enabled"],
        "assignedLicenses": [{"skuId": f"id-{s}"} for s in u["licences"]]})
        for n, u in enumerate(spec["users"]))
    return TenantState("t1", users, (), tuple(Seats(f"id-{p}", p, 10, 0) for p in parts))


def _reads(case: Mapping[str, Any], region: Region) -> Reads:
    why: dict[str, str] = {}
    directory: DirectoryState | None = directory_as_desired(derive(region, TODAY))
    spec = case.get("directory", "as_applied")
    if isinstance(spec, dict) and "error" in spec:
        directory, why["directory"] = None, spec["error"]
    elif isinstance(spec, dict):
        assert directory is not None
        directory = edit_directory(directory, spec["edits"])
    graph = case.get("graph")
    tenants: dict[str, TenantState] = {}
    errors: dict[str, str] = {}
    if isinstance(graph, dict) and "error" in graph and len(graph) == 1:
        why["graph"] = graph["error"]
    elif graph:
        for code, found in graph.items():
            if "error" in found:
                errors[code] = found["error"]
            else:
                tenants[code] = _tenant(found)
    storage_spec = dict(case["storage"])
    storage: StorageRead
    if "failed" in storage_spec:
        storage = StorageRead(failed=storage_spec["failed"])
    else:
        unreadable = storage_spec.pop("unreadable", {})
        storage = StorageRead({code: PartnerStorage(v["homes"], v["archive"])
                               for code, v in storage_spec.items()}, unreadable)
    return Reads(directory, tenants, storage, graph is not None, why, errors)


@pytest.mark.parametrize("case", data_cases("usage"))
def test_usage_figures(case: dict[str, Any]) -> None:
    region = _region()
    report = measure_usage(region, {}, TODAY, NOVEMBER, "test", MEASURED, _reads(case, region))
    rows = {p.partner: p for p in report.partners}
    for code, expected in case["expect"].items():
        found = rows[code].model_dump(mode="json")
        for name, value in expected.items():
            if name == "unknown":
                got = {u["figure"]: u["reason"] for u in found["unknown"]}
                assert set(got) == {u["figure"] for u in value}, (code, got)
                for u in value:
                    assert u.get("reason", "") in got[u["figure"]], (code, got)
            else:
                assert found[name] == value, (code, name, found[name])
    assert report.complete is not any(rows[c].unknown for c in rows)


def test_a_partner_whose_hr_export_is_bad_is_all_unknown_and_the_others_go_on(
        mini: Path) -> None:
    (mini / "people" / "beta.csv").write_text(
        (mini / "people" / "beta.csv").read_text(encoding="utf-8").replace("2019-02-01",
                                                                           "2019-13-01"),
        encoding="utf-8")
    loaded = FilesSource(mini).load(TODAY)
    reads = Reads(directory_as_desired(derive(loaded.region, TODAY)), {},
                  StorageRead({"alpha": PartnerStorage(1, 0)}))
    report = measure_usage(loaded.region, loaded.held, TODAY, NOVEMBER, "test", MEASURED,
                           reads)
    alpha, beta = report.partners
    assert alpha.accounts is not None and alpha.accounts.active == 3 and not alpha.unknown
    assert beta.partner == "beta" and beta.name is None and beta.accounts is None
    assert {u.figure for u in beta.unknown} == set(Figure)
    assert all("people/beta.csv:2" in u.reason for u in beta.unknown)


# -- months -------------------------------------------------------------------------------


def test_months_are_written_yyyy_mm() -> None:
    assert str(Month.parse("2026-11")) == "2026-11"
    assert Month.parse("2026-09") < Month.parse("2026-10") < Month.parse("2027-01")
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01", "2026/11", " 2026-11", "2026-00"):
        with pytest.raises(ValueError, match="write YYYY-MM"):
            Month.parse(bad)


def test_the_current_month_is_measured_an_earlier_one_kept_a_later_one_refused() -> None:
    assert measured_now(Month(2026, 11), date(2026, 11, 30)) is True
    assert measured_now(Month(2026, 10), date(2026, 11, 1)) is False
    assert measured_now(Month(2025, 12), date(2026, 1, 1)) is False
    with pytest.raises(UsageError, match="2026-12 is in the future"):
        measured_now(Month(2026, 12), date(2026, 11, 30))


# -- kept measurements --------------------------------------------------------------------


def _report(**changes: Any) -> UsageReport:
    region = _region()
    reads = Reads(directory_as_desired(derive(region, TODAY)), {},
                  StorageRead({"alpha": PartnerStorage(2048, 0), "beta": PartnerStorage()}))
    report = measure_usage(region, {}, TODAY, NOVEMBER, "test", MEASURED, reads)
    return report.model_copy(update=changes) if changes else report


def test_a_kept_month_reads_back_as_it_was_written_and_is_private(tmp_path: Path) -> None:
    report = _report()
    path = save_snapshot(tmp_path / "state", report)
    assert path == tmp_path / "state" / "usage" / "test" / "2026-11.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again, found = load_snapshot(tmp_path / "state", "test", NOVEMBER)
    assert again == report and found == path
    assert json.loads(path.read_text(encoding="utf-8"))["format"] == "ssc-infra/usage/v1"


def test_a_month_never_measured_names_its_file_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as e:
        load_snapshot(tmp_path, "test", Month(2026, 10))
    message = str(e.value)
    assert str(tmp_path / "usage" / "test" / "2026-10.json") in message
    assert "measured during the month itself" in message


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "not a usage measurement"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"", "not a usage measurement"),
    (b'{"format": "ssc-infra/usage/v1"}', "region: Field required"),
])
def test_a_damaged_kept_month_is_refused_naming_the_file(tmp_path: Path, content: bytes,
                                                         message: str) -> None:
    path = snapshot_path(tmp_path, "test", NOVEMBER)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as e:
        load_snapshot(tmp_path, "test", NOVEMBER)
    assert str(path) in str(e.value)


@pytest.mark.parametrize("edit", [
    {"partners": [{"name": "Gemeente\nAlpha"}]},
    {"partners": [{"name": "x" * 10_000}]},
    {"partners": [{"accounts": {"active": -1, "unmanaged": 0}}]},
    {"partners": [{"accounts": {"active": True, "unmanaged": 0}}]},
    {"partners": [{"licences": {"M365 E3\n": 1}}]},
    {"partners": [{"partner": "../etc"}]},
    {"partners": [{"script": "<script>"}]},
    {"measured": "2026-11-23T07:30:00"},  # no time zone
])
def test_a_hand_edited_kept_month_with_hostile_values_is_refused(tmp_path: Path,
                                                                 edit: dict[str, Any]) -> None:
    data = _report().to_dict()
    for key, value in edit.items():
        if key == "partners":
            data["partners"][0].update(value[0])
        else:
            data[key] = value
    path = snapshot_path(tmp_path, "test", NOVEMBER)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(UsageError, match="not a usage measurement") as e:
        load_snapshot(tmp_path, "test", NOVEMBER)
    assert "\n" not in str(e.value)


def test_a_kept_month_copied_to_another_month_is_refused(tmp_path: Path) -> None:
    path = save_snapshot(tmp_path, _report())
    october = snapshot_path(tmp_path, "test", Month(2026, 10))
    october.write_bytes(path.read_bytes())
    with pytest.raises(UsageError, match="holds the figures of 2026-11"):
        load_snapshot(tmp_path, "test", Month(2026, 10))


def test_a_fifo_or_a_folder_in_place_of_a_kept_month_is_refused_without_hanging(
        tmp_path: Path) -> None:
    path = snapshot_path(tmp_path, "test", NOVEMBER)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.raises(UsageError, match="not a regular file"):
        load_snapshot(tmp_path, "test", NOVEMBER)


def test_a_target_name_that_cannot_name_a_folder_is_refused(tmp_path: Path) -> None:
    for name in ("../prod", "a/b", "", ".hidden"):
        with pytest.raises(UsageError, match="cannot name a folder"):
            snapshot_path(tmp_path, name, NOVEMBER)


# -- the forms of the report --------------------------------------------------------------

HOSTILE_NAME = "=HYPERLINK(\"x\") <script>alert(1)</script> [/x] :x:"


def _hostile_report() -> UsageReport:
    report = _report()
    alpha, beta = report.partners
    beta = beta.model_copy(update={"name": HOSTILE_NAME})
    return report.model_copy(update={"partners": (alpha, beta)})


def test_csv_has_a_row_per_partner_a_totals_row_and_no_formula() -> None:
    text = usage_csv(_hostile_report())
    rows = list(csv.reader(io.StringIO(text)))
    header, alpha, beta, total = rows
    assert header[:6] == ["month", "partner", "name", "identity", "accounts_active",
                          "accounts_unmanaged"]
    assert "licences_M365_E3" in header and header[-1] == "unknown"
    cell = dict(zip(header, alpha, strict=True))
    assert cell["accounts_active"] == "3" and cell["home_bytes"] == "2048"
    assert cell["licences_M365_E3"] == "3" and cell["licence_source"] == "directory"
    beta_cells = dict(zip(header, beta, strict=True))
    assert beta_cells["name"] == "'" + HOSTILE_NAME  # shown as text, never run
    assert beta_cells["accounts_active"] == "unknown"
    assert "no `graph:` section" in beta_cells["unknown"]
    totals = dict(zip(header, total, strict=True))
    assert totals["partner"] == "total" and totals["accounts_active"] == "unknown"
    assert totals["home_bytes"] == "2048" and totals["workplaces_laptop"] == "2"
    assert not any(c.startswith(("=", "+", "-", "@")) for row in rows for c in row)


def test_html_is_self_contained_and_every_value_escaped() -> None:
    page = usage_html(_hostile_report())
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    for outside in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert outside not in page
    assert "2.0 KiB" in page and "Unknown figures" in page


def test_the_table_and_the_unknown_lines_print_values_literally() -> None:
    report = _hostile_report()
    report = report.model_copy(update={"partners": tuple(
        p.model_copy(update={"unknown": tuple(u.model_copy(update={"reason": "[/x] :x: \\"})
                                              for u in p.unknown)})
        for p in report.partners)})
    console = Console(record=True, width=300, emoji=False, highlight=False)
    console.print(usage_table(report))
    for line in unknown_lines(report):
        console.print(line)
    text = console.export_text()
    assert "[/x] :x: \\" in text and "❌" not in text
    assert "unknown: beta accounts" in text


def test_json_is_the_kept_measurement_with_totals() -> None:
    data = _report().to_json()
    assert data["format"] == "ssc-infra/usage/v1" and data["month"] == "2026-11"
    assert data["complete"] is False  # beta: no Graph in this target
    assert data["totals"]["accounts"] == {"active": None, "unmanaged": None}
    assert data["totals"]["storage"] == {"homes": 2048, "archive": 0}
    assert UsageReport.model_validate_json(json.dumps(_report().to_dict())) == _report()


def test_bytes_read_as_people_count_them() -> None:
    assert human_bytes(None) == "unknown"
    assert human_bytes(1000) == "1,000 bytes"
    assert human_bytes(2048) == "2.0 KiB"
    assert human_bytes(5 * 1024 ** 3) == "5.0 GiB"
    assert human_bytes(3 * 1024 ** 5) == "3,072.0 TiB"


# -- the file servers' answer ---------------------------------------------------------------


def _raw(homes: int, archive: int, unreadable: int = 0) -> dict[str, Any]:
    return {"homes_bytes": homes, "homes_files": 1, "archive_bytes": archive,
            "archive_files": 0, "unreadable": unreadable,
            "problems": ["/srv/homes/alpha/x: Permission denied"] if unreadable else []}


def test_storage_is_added_up_over_the_file_servers() -> None:
    read = parse_storage({"fs01": {"storage": {"alpha": _raw(10, 1), "beta": _raw(0, 0)}},
                          "fs02": {"storage": {"alpha": _raw(5, 2), "beta": _raw(7, 0)}}},
                         ["fs01", "fs02"], ["alpha", "beta"], {})
    assert read.partners == {"alpha": PartnerStorage(15, 3, 2), "beta": PartnerStorage(7, 0, 2)}
    assert not read.unreadable and not read.failed


def test_a_file_server_not_read_leaves_every_figure_unknown() -> None:
    read = parse_storage({"fs01": {"storage": {"alpha": _raw(10, 1)}}}, ["fs01", "fs02"],
                         ["alpha"], {"fs02": "unreachable: connection refused"})
    assert read.failed == "file server not read (fs02: unreachable: connection refused)"
    assert not read.partners


@pytest.mark.parametrize("raw", [
    {"storage": {"alpha": _raw(10, 0, unreadable=2)}},
    {"storage": {"alpha": {**_raw(10, 0), "homes_bytes": "10"}}},
    {"storage": {"alpha": {**_raw(10, 0), "homes_bytes": -1}}},
    {"storage": {}},
    {},
])
def test_a_partner_whose_folders_were_not_read_completely_is_unknown(
        raw: dict[str, Any]) -> None:
    read = parse_storage({"fs01": raw}, ["fs01"], ["alpha"], {})
    assert "alpha" not in read.partners and read.unreadable["alpha"].startswith("fs01: ")


# -- one measurement, with systems in memory ------------------------------------------------


class _Directory:
    def __init__(self, state: DirectoryState | None) -> None:
        self.state = state
        self.scopes: list[Scope] = []

    def read(self, scope: Scope, workers: int, full: bool = True) -> DirectoryState:
        self.scopes.append(scope)
        if self.state is None:
            raise BackendError("cannot reach the DC at ldaps://127.0.0.9:636")
        return self.state

    def taken_names(self, sams: set[str], upns: set[str]) -> tuple[set[str], set[str]]:
        raise AssertionError("a measurement never asks for names")

    def read_privileged(self, names: Any) -> Any:
        raise AssertionError("a measurement never reads the privileged groups")

    def writer(self, *_args: Any) -> Any:
        raise AssertionError("a measurement never writes")


class _Graph:
    def __init__(self, tenants: Mapping[str, TenantState], down: Sequence[str] = ()) -> None:
        self.tenants = tenants
        self.down = down
        self.closed = False

    def read_sign_ins(self, partner: Any) -> Any:
        raise AssertionError("a measurement never reads sign-ins")

    def read(self, partners: Sequence[Partner]) -> tuple[dict[str, TenantState],
                                                         list[Unreadable]]:
        return ({p.code: self.tenants[p.code] for p in partners if p.code not in self.down},
                [Unreadable(c, f"its Microsoft 365 tenant could not be read: 503 ({c})")
                 for c in self.down])

    def apply(self, *_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a measurement never writes")

    def traffic(self) -> GraphCounter:
        return GraphCounter()

    def close(self) -> None:
        self.closed = True


def _storage(region: Region, partners: Sequence[str]) -> StorageRead:
    return StorageRead({code: PartnerStorage(100, 1) for code in partners})


def test_one_measurement_reads_each_system_once_and_a_down_tenant_holds_only_its_figures(
        ) -> None:
    region = _region()
    beta = _tenant({"users": [{"upn": "jildou.hoekstra@beta.example", "employee_id": "1001",
                               "enabled": True, "licences": ["M365_E3"]}]})
    directory = _Directory(directory_as_desired(derive(region, TODAY)))
    graph = _Graph({"beta": beta}, down=["alpha"])
    report = measure(region, {}, TODAY, NOVEMBER, "test",
                     Meters(directory, graph, _storage, graph_named=True), MEASURED)
    assert [s.partners for s in directory.scopes] == [("alpha",)]  # only the hybrid partner
    assert graph.closed
    alpha, beta_row = report.partners
    assert alpha.accounts is not None and alpha.accounts.active == 3
    assert alpha.licences is None and [u.figure for u in alpha.unknown] == [Figure.LICENCES]
    assert "503 (alpha)" in alpha.unknown[0].reason
    assert beta_row.licences == {"M365_E3": 1} and not beta_row.unknown
    assert beta_row.storage is not None and beta_row.storage.homes == 100
    assert report.measured == MEASURED and not report.complete


def test_systems_that_fail_or_are_not_named_leave_only_their_figures_unknown() -> None:
    region = _region()

    def broken(_region: Region, _partners: Sequence[str]) -> StorageRead:
        raise BackendError("Ansible could not start: no ansible-playbook")

    report = measure(region, {}, TODAY, NOVEMBER, "test",
                     Meters(_Directory(None), None, broken, why={"graph": "no secret"}),
                     MEASURED)
    alpha, beta = report.partners
    reasons = {(p.partner, u.figure.value): u.reason for p in report.partners
               for u in p.unknown}
    assert "cannot reach the DC" in reasons[("alpha", "accounts")]
    assert "Ansible could not start" in reasons[("alpha", "storage")]
    assert "no secret" in reasons[("beta", "accounts")]
    assert alpha.workplaces is not None and beta.workplaces is not None  # the inventory's


# -- the command ----------------------------------------------------------------------------


def _cli(state: Path, targets: Path, inventory: Path, *args: str) -> Any:
    return CliRunner().invoke(main, [
        "report", "usage", "--inventory", str(inventory), "--today", TODAY.isoformat(),
        "--targets", str(targets), "--target", "test", "--state-dir", str(state), *args])


def test_an_earlier_month_is_shown_as_kept_in_every_format(tmp_path: Path, mini: Path) -> None:
    october = _report(month="2026-10", measured=datetime(2026, 10, 31, 22, 0, tzinfo=UTC))
    save_snapshot(tmp_path / "state", october)
    targets = tmp_path / "no-targets.yaml"  # an earlier month needs no system
    for fmt in ("text", "csv", "json", "html"):
        run = _cli(tmp_path / "state", targets, mini, "--month", "2026-10", "--format", fmt)
        assert run.exit_code == 1, run.output  # beta's figures were unknown then
        assert "measured 2026-10-31 22:00 UTC" in run.stderr
        assert "unknown: beta accounts" in run.stderr
    data = json.loads(_cli(tmp_path / "state", targets, mini, "--month", "2026-10",
                           "--format", "json").stdout)
    assert data["month"] == "2026-10" and data["totals"]["storage"]["homes"] == 2048
    out = tmp_path / "usage.csv"
    run = _cli(tmp_path / "state", targets, mini, "--month", "2026-10", "--format", "csv",
               "--out", str(out))
    assert run.stdout == "" and stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8").startswith("month,partner,name")


def test_the_command_refuses_a_future_month_a_bad_month_and_out_for_the_table(
        tmp_path: Path, mini: Path) -> None:
    targets = tmp_path / "targets.yaml"
    run = _cli(tmp_path, targets, mini, "--month", "2026-12")
    assert run.exit_code == 1 and "2026-12 is in the future" in run.stderr
    run = _cli(tmp_path, targets, mini, "--month", "2026-13")
    assert run.exit_code == 1 and "write YYYY-MM" in run.stderr
    run = _cli(tmp_path, targets, mini, "--out", str(tmp_path / "x"))
    assert run.exit_code == 1 and "--out writes csv, json or html" in run.stderr
    run = _cli(tmp_path, targets, mini, "--month", "2026-10")
    assert run.exit_code == 1 and "no usage figures were kept for 2026-10" in run.stderr
    assert "Traceback" not in run.output


def test_the_current_month_is_measured_and_kept_with_the_unknown_figures_named(
        tmp_path: Path, mini: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("test: {}\n", encoding="utf-8")  # a target that names no system
    run = _cli(tmp_path / "state", targets, mini, "--format", "json")
    assert run.exit_code == 1, run.output
    data = json.loads(run.stdout)
    alpha = next(p for p in data["partners"] if p["partner"] == "alpha")
    assert alpha["workplaces"] == {"vdi": 1, "laptop": 1, "thin_client": 1}
    reasons = {u["figure"]: u["reason"] for u in alpha["unknown"]}
    assert "has no `ad:` section" in reasons["accounts"]
    assert "no `ansible:` section" in reasons["storage"]
    kept = tmp_path / "state" / "usage" / "test" / "2026-11.json"
    assert "kept in" in run.stderr and kept.exists()
    saved = _cli(tmp_path / "state", tmp_path / "gone.yaml", mini, "--saved", "--format",
                 "json")
    assert json.loads(saved.stdout)["measured"] == data["measured"]


def test_partner_usage_rows_have_a_stable_schema() -> None:
    assert list(PartnerUsage.model_fields) == [
        "partner", "name", "identity", "services", "accounts", "workplaces", "licences",
        "licence_source", "licence_groups", "storage", "unknown"]
    assert list(UsageReport.model_fields) == [
        "format", "region", "target", "month", "today", "measured", "partners"]


def test_problems_of_a_held_partner_name_their_file_and_line() -> None:
    report = measure_usage(_region(), {"gamma": [Problem("people/gamma.csv", 7, "bad date")]},
                           TODAY, NOVEMBER, "test", MEASURED, Reads())
    gamma = report.partners[-1]
    assert gamma.partner == "gamma"
    assert "people/gamma.csv:7: bad date" in gamma.unknown[0].reason
