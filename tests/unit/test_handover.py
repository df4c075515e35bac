"""The handover bundle's files, written whole, and checked against their manifest."""

from __future__ import annotations

import base64
import json
import os
import uuid
from pathlib import Path

import pytest

from ssc_infra.lifecycle.handover import (
    BundleError,
    Entry,
    Handover,
    bundle_files,
    check_handover_bundle,
    exported,
    ldif,
    manifest,
    write_handover_bundle,
)
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY

GUID = uuid.UUID("12345678-1234-5678-9abc-def012345678")
LEAVERS = "OU=Leavers,DC=ssc,DC=test"


def _account(name: str, **extra: list[bytes]) -> Entry:
    return Entry(f"CN={name},OU=Users,OU=alpha,OU=Partners,DC=ssc,DC=test", {
        "cn": [name.encode()], "sAMAccountName": [b"wbuma"], "employeeID": [b"1001"],
        "objectGUID": [GUID.bytes_le], "userAccountControl": [b"512"],
        "objectSid": [bytes([1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 0xE8, 3, 0, 0])], **extra})


def _handover(*accounts: Entry) -> Handover:
    partner = load(MINI, TODAY).partner("alpha")
    group = Entry("CN=alpha-all,OU=Groups,OU=alpha,OU=Partners,DC=ssc,DC=test", {
        "sAMAccountName": [b"alpha-all"], "member": [a.dn.encode() for a in accounts]})
    return Handover(partner, "tst", "lab", "2026-11-23T10:00:00+00:00", accounts, [group],
                    addresses={"vpn": {"ALP-L-1001": "10.99.0.5"}},
                    configs={"rad01": {"etc/freeradius/authorize": "wbuma Cleartext\n"}})


def test_values_are_shown_as_people_write_them_and_secrets_never() -> None:
    entry = _account("Wâtse Bûmâ", unicodePwd=[b"secret"], thumbnailPhoto=[b"\x89PNG\x00\x01"])
    data = exported(entry)["attributes"]
    assert data["objectGUID"] == [str(GUID)]
    assert data["objectSid"] == ["S-1-5-21-1000"]
    assert data["cn"] == ["Wâtse Bûmâ"]
    assert data["thumbnailPhoto"][0].startswith("base64:")
    assert "unicodePwd" not in data


def test_ldif_encodes_what_is_not_plain_ascii_and_folds_long_lines() -> None:
    hostile = "Evil\nname [/x] " + "Z" * 200
    text = ldif([_account("Wâtse Bûmâ", description=[hostile.encode()],
                          info=[b" leading space"])])
    lines = text.splitlines()
    assert lines[0] == "version: 1"
    assert all(len(line) <= 76 for line in lines)
    unfolded = text.replace("\n ", "")
    dn = unfolded.splitlines()[2]
    assert dn.startswith("dn:: ")  # a DN with diacritics is base64
    assert base64.b64decode(dn[5:]).decode() == _account("Wâtse Bûmâ").dn
    assert f"description:: {base64.b64encode(hostile.encode()).decode()}" in unfolded
    assert "info:: " in unfolded and "sAMAccountName: wbuma" in unfolded


def test_a_bundle_is_written_whole_and_every_change_to_it_is_found(tmp_path: Path) -> None:
    handover = _handover(_account("Wâtse Bûmâ", memberOf=[b"CN=alpha-app,OU=Groups"]))
    files = bundle_files(handover, LEAVERS)
    assert {"people.csv", "accounts.json", "accounts.ldif", "groups.json", "devices.csv",
            "addresses.csv", "configs/rad01/etc/freeradius/authorize"} <= set(files)
    accounts = json.loads(files["accounts.json"])
    assert accounts[0]["groups"] == ["alpha-all", "alpha-app"] and accounts[0]["enabled"]
    folder = tmp_path / "bundle"
    digest = write_handover_bundle(folder, files, manifest(handover, files, "ssc-infra test"))
    check = check_handover_bundle(folder, digest)
    assert check.ok, check.problems
    assert check.partner == "alpha" and check.guids() == {str(GUID)}
    assert check.manifest["counts"]["accounts"] == 1
    assert not list(tmp_path.glob(".bundle.partial-*"))  # nothing left beside it
    (folder / "people.csv").write_bytes(b"employee_id\n")
    (folder / "extra.txt").write_text("added")
    (folder / "devices.csv").unlink()
    problems = " ".join(check_handover_bundle(folder, digest).problems)
    assert "people.csv: its SHA-256" in problems
    assert "extra.txt: not in the manifest" in problems
    assert "devices.csv" in problems
    assert "the offboarding recorded" in " ".join(check_handover_bundle(folder, "0" * 64).problems)


def test_a_bundle_never_goes_over_another_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "report.txt").write_text("someone's")
    with pytest.raises(BundleError, match="not an empty folder"):
        write_handover_bundle(tmp_path / "taken", {"a.csv": b"x"}, b"{}")
    assert (tmp_path / "taken" / "report.txt").read_text() == "someone's"


def test_a_manifest_that_points_outside_the_bundle_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({
        "format": "ssc-infra/handover/v1", "files": {"../../etc/passwd": {"sha256": "0",
                                                                          "bytes": 1}}}))
    assert "outside the bundle" in " ".join(check_handover_bundle(tmp_path).problems)
    (tmp_path / "manifest.json").write_text("[1, 2")
    assert "not a bundle manifest" in check_handover_bundle(tmp_path).problems[0]


def test_a_bundle_file_that_is_a_fifo_or_leads_out_is_named_never_waited_on(
        tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("root:$6$not-in-a-bundle\n")
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    os.mkfifo(bundle / "people.csv")
    (bundle / "devices.csv").symlink_to(outside)
    (bundle / "manifest.json").write_text(json.dumps({
        "format": "ssc-infra/handover/v1", "files": {
            "people.csv": {"sha256": "0", "bytes": 1},
            "devices.csv": {"sha256": "0", "bytes": 1}}}))
    said = " ".join(check_handover_bundle(bundle).problems)
    assert "people.csv: not a regular file but a FIFO" in said
    assert "devices.csv: " in said and "outside the folders it may be read from" in said
    (bundle / "manifest.json").unlink()
    os.mkfifo(bundle / "manifest.json")
    [problem] = check_handover_bundle(bundle).problems
    assert "manifest.json: not a regular file but a FIFO" in problem
