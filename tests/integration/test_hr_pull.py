"""`hr pull` against the project's HR emulator (AFAS Profit's GetConnector and Visma Raet's IAM
API over real HTTPS): both partners pulled; joiners, movers and leavers counted; and a
partner whose answer is cut off, lost people, fails half-way, is refused or too slow is held
with its last good file while the other is written."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import ldap3
import pytest
import yaml
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.lifecycle.hrpull import Pulled, PullRequest, pull_all
from ssc_infra.run.targets import load_target
from ssc_infra.sources.files import FilesSource
from ssc_infra.sources.regionfiles import read_partner_files
from ssc_infra_lab.dc import DomainController
from ssc_infra_lab.hr_emulator import HrEmulator, Levers, afas_rows, afas_token, raet_tenant
from tests.conftest import TODAY
from tests.integration.conftest import write_targets

TOKEN = afas_token("5e1c7a0d9b3f4e2a")  # fictional


def _people(inventory: Path, partner: str) -> list[dict[str, str]]:
    with (inventory / "people" / f"{partner}.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def hr(mini: Path, tmp_path: Path) -> Iterator[tuple[HrEmulator, Path]]:
    """alpha pulls from AFAS (environment 81502), beta from Visma Raet (tenant 4711); the
    emulator holds the people they have now; the target says where and names the secrets."""
    for partner, entry in (("alpha", {"system": "afas", "environment": "81502"}),
                           ("beta", {"system": "visma-raet", "tenant": "4711"})):
        path = mini / "partners" / f"{partner}.yaml"
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc["hr"] = entry
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    for name, text in (("afas", TOKEN), ("id", "ssc-infra-lab"), ("secret", "s3cr3t-cl1ent")):
        (secrets / name).write_text(text, encoding="utf-8")
    with HrEmulator(tmp_path / "emulator") as emulator:
        emulator.set_afas_environment("81502", TOKEN, afas_rows(_people(mini, "alpha")))
        emulator.set_raet_tenant("4711", "ssc-infra-lab", "s3cr3t-cl1ent",
                                 raet_tenant(_people(mini, "beta")))
        targets = tmp_path / "targets.yaml"
        targets.write_text(yaml.safe_dump({"lab": {"hr": {
            "afas_url": emulator.url + "/{environment}", "raet_api_url": emulator.raet_url,
            "raet_token_url": emulator.raet_token_url, "ca_file": str(emulator.ca_file),
            "emulator": True, "timeout": 2, "page_size": 2,
            "partners": {"alpha": {"token_file": str(secrets / "afas")},
                         "beta": {"client_id_file": str(secrets / "id"),
                                  "client_secret_file": str(secrets / "secret")}}}}}),
            encoding="utf-8")
        yield emulator, targets


def _cli(mini: Path, targets: Path, *args: str) -> tuple[int, dict[str, dict[str, object]]]:
    result = CliRunner().invoke(main, ["hr", "pull", "--inventory", str(mini), "--targets",
                                       str(targets), "--today", TODAY.isoformat(), "--format",
                                       "json", *args])
    assert result.exit_code in (0, 2), result.output
    assert "s3cr3t" not in result.output and "5e1c7a0d" not in result.output
    return result.exit_code, {p["partner"]: p for p in json.loads(result.output)["partners"]}


def _pulled(mini: Path, targets: Path, name: str = "lab") -> dict[str, Pulled]:
    """The pull, as the lifecycle runs it, but without waiting between retries."""
    loaded = FilesSource(mini).load(TODAY)
    docs = {d.spec.code: d.spec.hr for d in read_partner_files(mini)[0] if d.spec.hr}
    request = PullRequest(mini, loaded.region, docs,
                          {c: loaded.data_files[c][0] for c in docs},
                          load_target(targets, name), name, TODAY, sleep=lambda _: None)
    return {p.partner: p for p in pull_all(request)}


def test_both_systems_pulled_page_by_page_and_changes_counted(
        mini: Path, hr: tuple[HrEmulator, Path]) -> None:
    emulator, targets = hr
    code, done = _cli(mini, targets)
    assert code == 0, (done["alpha"]["reason"], done["alpha"]["problems"])
    assert {p: d["status"] for p, d in done.items()} == {"alpha": "unchanged",
                                                         "beta": "unchanged"}
    assert int(done["alpha"]["requests"]) >= 3, "paged: two rows a page"  # type: ignore[call-overload]
    joiner = {"employee_id": "1006", "given_name": "Sjoukje", "infix": "", "surname": "Zijlstra",
              "department": "Ruimte", "job_title": "Adviseur", "site": "alp-hq",
              "workplace": "vdi", "start_date": "2027-01-04", "end_date": ""}
    emulator.add_person("81502", joiner)
    mover = next(r for r in _people(mini, "beta") if r["employee_id"] == "2002")
    emulator.change_person("4711", {**mover, "department": "Secretariaat",
                                    "site": "bet-kantoor"})
    leaver = next(r for r in _people(mini, "beta") if r["employee_id"] == "1001")
    emulator.change_person("4711", {**leaver, "end_date": "2027-01-31"})
    code, done = _cli(mini, targets)
    assert code == 0
    assert (done["alpha"]["status"], done["alpha"]["joiners"]) == ("written", ["1006"])
    assert (done["beta"]["movers"], done["beta"]["leavers"]) == (["2002"], ["1001"])
    assert done["beta"]["changed"] == {"department": 1, "end_date": 1, "site": 1}
    assert "1006,Sjoukje,,Zijlstra" in (mini / "people" / "alpha.csv").read_text("utf-8")
    code, done = _cli(mini, targets)
    assert {d["status"] for d in done.values()} == {"unchanged"}, "a pull converges"


@pytest.mark.parametrize(("partner", "levers", "reason"), [
    ("alpha", Levers(truncate_page=2, truncate_times=0), "gave up after 6 attempts"),
    ("alpha", Levers(lost_fraction=0.5), "gone from the answer"),
    ("beta", Levers(fail_from_page=2), "HTTP 500"),
    ("beta", Levers(auth_failure=True), "refused the credentials"),
    ("alpha", Levers(slow_page=2, slow_seconds=3.0), "gave up after 6 attempts"),
], ids=["cut off", "lost people", "fails half-way", "refused", "too slow"])
def test_a_bad_answer_holds_its_partner_only(mini: Path, hr: tuple[HrEmulator, Path],
                                             partner: str, levers: Levers,
                                             reason: str) -> None:
    emulator, targets = hr
    other = "beta" if partner == "alpha" else "alpha"
    source = {"alpha": "81502", "beta": "4711"}
    before = (mini / "people" / f"{partner}.csv").read_bytes()
    emulator.set_levers(source[partner], levers)
    row = dict(_people(mini, other)[0])
    emulator.change_person(source[other], {**row, "job_title": "Coördinator"})
    done = _pulled(mini, targets)
    assert done[partner].held and reason in done[partner].reason
    assert (mini / "people" / f"{partner}.csv").read_bytes() == before
    assert done[other].status == "written"


def test_throttling_is_waited_out(mini: Path, hr: tuple[HrEmulator, Path]) -> None:
    emulator, targets = hr
    emulator.set_levers("81502", Levers(busy=2, busy_status=429, retry_after=0))
    emulator.set_levers("4711", Levers(busy=1, busy_status=503, retry_after=0))
    done = _pulled(mini, targets)
    assert {p.status for p in done.values()} == {"unchanged"}
    assert (done["alpha"].retries, done["beta"].retries) == (2, 1)


def test_who_left_before_the_window_is_kept_as_was_and_a_silent_exit_is_lost(
        mini: Path, hr: tuple[HrEmulator, Path]) -> None:
    """1004 left in January: the window no longer reads them, their row (and device) stays.
    1002's end date, months ago, was never seen: gone from the answer, they count as lost."""
    emulator, targets = hr
    done = _pulled(mini, targets)
    assert (done["alpha"].status, done["alpha"].kept) == ("unchanged", 1)
    gone = next(r for r in _people(mini, "alpha") if r["employee_id"] == "1002")
    emulator.change_person("81502", {**gone, "end_date": "2026-06-30"})
    assert date(2026, 6, 30) < TODAY
    done = _pulled(mini, targets)
    assert done["alpha"].held and done["alpha"].lost == 1
    assert "1002,Jan" in (mini / "people" / "alpha.csv").read_text("utf-8")


def test_a_cut_off_partner_is_held_and_the_other_applied_to_the_dc(
        mini: Path, hr: tuple[HrEmulator, Path], samba_dc: DomainController,
        directory: ldap3.Connection, tmp_path: Path) -> None:
    """The nightly order — pull, then apply — against the real DC: beta's answer (Visma Raet)
    is cut off every time, so beta is held with its last good file; alpha's (AFAS) joiner
    and mover are applied."""
    emulator, hr_targets = hr
    targets = write_targets(tmp_path / "dc-targets.yaml", samba_dc)
    both = yaml.safe_load(targets.read_text(encoding="utf-8"))
    both["test"]["hr"] = yaml.safe_load(hr_targets.read_text(encoding="utf-8"))["lab"]["hr"]
    targets.write_text(yaml.safe_dump(both), encoding="utf-8")
    common = ["--inventory", str(mini), "--today", TODAY.isoformat(), "--targets",
              str(targets), "--target", "test", "--state-dir", str(tmp_path / "state")]
    applied = CliRunner().invoke(main, ["apply", "--yes", *common])
    assert applied.exit_code == 0, applied.output
    emulator.set_levers("4711", Levers(truncate_page=1, truncate_times=0))
    emulator.change_person("4711", {**_people(mini, "beta")[0], "job_title": "Griffier"})
    emulator.add_person("81502", {
        "employee_id": "1006", "given_name": "Sjoukje", "infix": "", "surname": "Zijlstra",
        "department": "Ruimte", "job_title": "Adviseur", "site": "alp-hq", "workplace": "vdi",
        "start_date": "2026-11-02", "end_date": ""})
    mover = next(r for r in _people(mini, "alpha") if r["employee_id"] == "1002")
    emulator.change_person("81502", {**mover, "job_title": "Afdelingshoofd"})
    beta_before = (mini / "people" / "beta.csv").read_bytes()
    done = _pulled(mini, targets, "test")
    assert done["beta"].held and done["alpha"].status == "written"
    assert (mini / "people" / "beta.csv").read_bytes() == beta_before
    applied = CliRunner().invoke(main, ["apply", "--yes", *common])
    assert applied.exit_code == 0, applied.output

    def title_of(employee_id: str) -> list[str]:
        directory.search(f"OU=alpha,OU=Partners,{samba_dc.base_dn}",
                         f"(employeeID={employee_id})", attributes=["title"])
        return [str(e.title) for e in directory.entries]

    assert title_of("1002") == ["Afdelingshoofd"]
    assert title_of("1006") == ["Adviseur"]
