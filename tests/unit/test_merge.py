"""Merging partners (`ssc_infra.lifecycle.merge`): the files, the region they load into, and
the directory plan that follows — accounts move, nobody is disabled, nothing is made twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from ssc_infra.ad.diff import diff_directory, directory_names
from ssc_infra.core.desired import derive
from ssc_infra.core.errors import Problem
from ssc_infra.core.plan import Action, ObjectKind
from ssc_infra.lifecycle.merge import MergeFiles, MergeRequest, merge_files, read_ids
from ssc_infra.sources.files import load
from ssc_infra.sources.people import PEOPLE_COLUMNS
from tests.conftest import TODAY
from tests.support import directory_as_desired

GAMMA = """code: gamma
name: Gemeente Gamma
kind: municipality
upn_suffix: gamma.example
services: [m365-e3, vpn]
quota: {users: 10}
sites:
  - {code: gam-hq, name: Gemeentehuis Gamma, vlan: 130, subnet: 10.40.0.0/24}
people: people/gamma.csv
"""
GAMMA_PEOPLE = ",".join(PEOPLE_COLUMNS) + """
1001,Sjoerd,,Hoekstra,Burgerzaken,Medewerker,gam-hq,vdi,2016-05-01,
3002,Baukje,,Postma,Ruimte,Adviseur,gam-hq,vdi,2019-02-01,
"""


@pytest.fixture
def region_dir(mini: Path) -> Path:
    (mini / "partners" / "gamma.yaml").write_text(GAMMA, encoding="utf-8")
    (mini / "people" / "gamma.csv").write_text(GAMMA_PEOPLE, encoding="utf-8")
    return mini


def _paths(folder: Path) -> dict[str, str]:
    return {p.stem: f"partners/{p.name}" for p in (folder / "partners").glob("*.yaml")}


def _request(**extra: object) -> MergeRequest:
    values: dict[str, object] = {"sources": ("alpha", "gamma"), "into": "delta",
                                 "name": "Gemeente Delta", "upn_suffix": "delta.example"}
    values.update(extra)
    return MergeRequest(**values)  # type: ignore[arg-type]


def _write(folder: Path, files: MergeFiles) -> None:
    for rel, text in {**files.new, **files.replaced}.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text, encoding="utf-8")


def test_colliding_employee_ids_are_refused_without_a_mapping(region_dir: Path) -> None:
    region = load(region_dir, TODAY)
    found = merge_files(region, _request(), TODAY, _paths(region_dir))
    assert isinstance(found, list)
    assert "'1001' is alpha/1001 and gamma/1001" in found[0].message
    assert "--ids" in found[0].hint


@pytest.mark.parametrize(("request_", "says"), [
    (_request(sources=("alpha",)), "two or more partners"),
    (_request(sources=("alpha", "beta")), "cloud partner"),
    (_request(sources=("alpha", "nope")), "no partner 'nope'"),
    (_request(into="beta"), "a partner already"),
    (_request(name="", upn_suffix=""), "needs a name"),
])
def test_merges_that_cannot_be_are_refused_with_the_reason(
        region_dir: Path, request_: MergeRequest, says: str) -> None:
    found = merge_files(load(region_dir, TODAY), request_, TODAY, _paths(region_dir))
    assert isinstance(found, list) and says in " ".join(p.message for p in found)


def test_a_merge_moves_every_account_and_disables_nobody(region_dir: Path) -> None:
    region = load(region_dir, TODAY)
    before = derive(region, TODAY)
    actual = directory_as_desired(before)
    ids = read_ids(Path("ids.csv"), "partner,employee_id,new_employee_id\ngamma,1001,G1001\n")
    assert not isinstance(ids, list)
    files = merge_files(region, _request(ids=ids), TODAY, _paths(region_dir))
    assert not isinstance(files, list), files
    assert set(files.new) == {"partners/delta.yaml", "people/delta.csv", "devices/delta.csv",
                              "merges/delta.csv"}
    assert set(files.replaced) == {"partners/alpha.yaml", "partners/gamma.yaml"}
    assert files.moved == 7 and files.renumbered == 1
    _write(region_dir, files)
    merged = load(region_dir, TODAY)  # the files are a valid inventory
    delta = merged.partner("delta")
    assert {p.previous for p in delta.people} >= {("alpha", "1001"), ("gamma", "1001")}
    assert merged.partner("alpha").merged is not None and not merged.partner("alpha").people
    assert delta.services == ("m365-e3", "zaaksysteem-rex", "vpn")
    existing, reserved, moves = directory_names(merged, actual)
    plan = diff_directory(derive(merged, TODAY, existing, reserved), actual, moves)
    accounts = [c for c in plan.changes if c.kind is ObjectKind.ACCOUNT]
    assert {c.action for c in accounts} == {Action.MOVE}, [(c.key, c.action) for c in accounts]
    moved = {c.key: c for c in accounts}
    sjoerd = moved["delta/G1001"]
    assert sjoerd.after["employeeID"] == "G1001"
    assert sjoerd.after["userPrincipalName"].endswith("@delta.example")
    assert "smtp:sjoerd.hoekstra@gamma.example" in [
        a.lower() for a in sjoerd.after["proxyAddresses"]]  # the old address kept
    assert ",OU=delta,OU=Partners," in sjoerd.after["dn"]
    assert "sAMAccountName" not in sjoerd.after  # the logon name stays
    # The merged partners' groups are emptied (retired), the new partner's filled.
    retired = {c.key for c in plan.changes if c.kind is ObjectKind.MEMBERS
               and c.action is Action.DISABLE}
    assert {"alpha-dep-burgerzaken", "alpha-lic-m365-e3"} <= retired
    filled = {c.key for c in plan.changes if c.kind is ObjectKind.MEMBERS
              and c.after.get("add")}
    assert {"delta-all", "delta-lic-m365-e3"} <= filled
    assert not [c for c in plan.changes if c.kind is ObjectKind.ACCOUNT
                and c.action in (Action.CREATE, Action.DISABLE)]


def test_a_mapping_file_with_faults_is_refused_at_its_line() -> None:
    found = read_ids(Path("ids.csv"), "partner,employee_id,new_employee_id\n"
                                      "gamma,1001,G1001\ngamma,1001,G1002\ngamma,[/x],Z\n")
    assert isinstance(found, list)
    assert [(p.line, p.message) for p in found] == [
        (3, "gamma/1001 is listed twice"), (4, "not an employee id: '[/x]'")]
    wrong = read_ids(Path("ids.csv"), "who,old,new\n")
    assert isinstance(wrong, list) and isinstance(wrong[0], Problem) and wrong[0].line == 1
