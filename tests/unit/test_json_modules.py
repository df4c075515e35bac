"""The project's JSON-in/JSON-out Ansible modules (ssc_bundle, ssc_files, ssc_homes,
ssc_usage): a copy of the argument handling in each, kept equal; the arguments checked and
converted as AnsibleModule does; and each module run as Ansible runs a WANT_JSON module (a JSON
file of arguments, the result on stdout, exit 1 when failed), check and diff mode included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, as_ansible_runs_it, playbook_module

LIBRARY = ROOT / "playbooks" / "library"
JSON_MODULES = tuple(sorted(p.stem for p in LIBRARY.glob("ssc_*.py")))
MARK = "# ---- The same in every JSON-in/JSON-out module"
files_module = playbook_module("ssc_files")
homes_module = playbook_module("ssc_homes")


def shared_part(name: str) -> str:
    text = (LIBRARY / f"{name}.py").read_text(encoding="utf-8")
    assert MARK in text, f"{name}.py has no shared part"
    return text[text.index(MARK):text.index('if __name__ == "__main__":')]


def test_every_json_module_has_the_same_shared_part_and_no_ansible_import() -> None:
    assert JSON_MODULES == ("ssc_bundle", "ssc_files", "ssc_homes", "ssc_usage")
    first = shared_part(JSON_MODULES[0])
    for name in JSON_MODULES:
        text = (LIBRARY / f"{name}.py").read_text(encoding="utf-8")
        assert shared_part(name) == first, f"{name}.py: its shared part differs from the others'"
        assert "WANT_JSON" in text and "module_utils" not in text.replace(
            "module_utils to unpack", "")


@pytest.mark.parametrize("params, args", [
    ({"files": [{"path": "/x"}]}, {"root": "", "files": [{"path": "/x"}], "expect": {},
                                   "checker": None, "checker_path": None}),
    ({"files": [], "root": 7, "_ansible_check_mode": True},
     {"root": "7", "files": [], "expect": {}, "checker": None, "checker_path": None}),
])
def test_arguments_are_given_their_defaults_and_converted(params: dict[str, Any],
                                                          args: dict[str, Any]) -> None:
    assert files_module.checked(params, files_module.ARGUMENTS) == args


def test_a_default_is_a_fresh_copy_each_time() -> None:
    first = homes_module.checked({"spec": {}}, homes_module.ARGUMENTS)
    first["hold_archive"].append("alpha")
    assert homes_module.checked({"spec": {}}, homes_module.ARGUMENTS)["hold_archive"] == []


@pytest.mark.parametrize("params, args", [
    ({"spec": {}, "max_archive": "12"}, {"max_archive": 12}),
    ({"spec": {}, "hold_archive": "alpha,beta"}, {"hold_archive": ["alpha", "beta"]}),
    ({"spec": {}, "only_partners": []}, {"only_partners": []}),
    ({"spec": {}}, {"only_partners": None, "max_archive": 50, "unknown_owner": "fail"}),
])
def test_homes_arguments_convert_as_ansible_does(params: dict[str, Any],
                                                 args: dict[str, Any]) -> None:
    got = homes_module.checked(params, homes_module.ARGUMENTS)
    assert {k: got[k] for k in args} == args


@pytest.mark.parametrize("params, says", [
    ({}, "missing required arguments: spec"),
    ({"spec": []}, "argument spec is of type list and cannot be converted to dict"),
    ({"spec": {}, "max_archive": "a lot"}, "argument max_archive is of type str"),
    ({"spec": {}, "max_archive": True}, "argument max_archive is of type bool"),
    ({"spec": {}, "unknown_owner": "ignore"}, "must be one of: fail, keep, got: ignore"),
    ({"spec": {}, "hold_archive": [["alpha"]]}, r"hold_archive \(an element\) is of type list"),
    ({"spec": {}, "delete": True, "purge": 1}, "unsupported parameters: delete, purge"),
])
def test_arguments_it_cannot_take_are_refused_with_a_reason(params: dict[str, Any],
                                                            says: str) -> None:
    with pytest.raises(ValueError, match=says):
        homes_module.checked(params, homes_module.ARGUMENTS)


def test_files_run_as_ansible_runs_it_in_check_mode_then_for_real(tmp_path: Path) -> None:
    conf = tmp_path / "etc/kea/kea-dhcp4.conf"
    params = {"root": str(tmp_path), "files": [
        {"path": "/etc/kea/kea-dhcp4.conf", "content": "{}\n", "mode": "0644",
         "validate": "test -s %s"}], "_ansible_check_mode": True, "_ansible_diff": True}
    code, planned = as_ansible_runs_it("ssc_files", params, tmp_path)
    assert code == 0 and planned["changed"] and not conf.exists()
    assert planned["diff"][0]["after"] == "{}\n" and "invocation" not in planned
    code, done = as_ansible_runs_it("ssc_files", dict(params, _ansible_check_mode=False),
                                    tmp_path)
    assert code == 0 and done["changed"] and conf.read_text() == "{}\n" and "diff" in done


def test_files_refused_by_its_check_or_missing_checker_fails_and_keeps_the_old(
        tmp_path: Path) -> None:
    conf = tmp_path / "etc/kea/kea-dhcp4.conf"
    conf.parent.mkdir(parents=True)
    conf.write_text("old\n")
    for validate, rc in (("false %s", 1), ("no-such-checker-anywhere %s", 127)):
        params = {"root": str(tmp_path), "files": [
            {"path": "/etc/kea/kea-dhcp4.conf", "content": "new\n", "validate": validate}]}
        code, result = as_ansible_runs_it("ssc_files", params, tmp_path)
        assert code == 1 and result["failed"] and result["msg"] == "failed to validate"
        assert result["rc"] == rc and conf.read_text() == "old\n"


def test_homes_run_as_ansible_runs_it_and_a_held_partner_fails_the_task(tmp_path: Path) -> None:
    spec = {"partners": ["alpha"], "homes": [{"partner": "alpha", "name": n, "owner": n}
                                             for n in ("jdevries", "wbuma")]}
    params = {"spec": spec, "root": str(tmp_path), "unknown_owner": "keep"}
    code, made = as_ansible_runs_it("ssc_homes", params, tmp_path)
    assert code == 0 and made["changed"] and made["counts"]["created"] == 2
    assert "+ home alpha/wbuma" in made["diff"]["prepared"]
    spec["homes"] = []
    code, held = as_ansible_runs_it("ssc_homes", dict(params, max_archive="1"), tmp_path)
    assert code == 1 and held["failed"] and "would archive 2 homes of alpha" in held["msg"]
    assert (tmp_path / "srv/homes/alpha/wbuma").is_dir()


@pytest.mark.parametrize("params, says", [
    (["not", "a", "mapping"], "no arguments could be read: they are not a mapping"),
    ({"spec": {}, "mode": "0700", "unknown_owner": "maybe"}, "must be one of"),
])
def test_arguments_that_cannot_be_taken_fail_before_any_work(params: Any, says: str,
                                                             tmp_path: Path) -> None:
    code, result = as_ansible_runs_it("ssc_homes", params, tmp_path)
    assert code == 1 and result["failed"] and says in result["msg"]
    assert not (tmp_path / "srv").exists()


def test_usage_run_as_ansible_runs_it_reads_and_a_bad_code_fails(tmp_path: Path) -> None:
    home = tmp_path / "srv/homes/alpha/wbuma"
    home.mkdir(parents=True)
    (home / "report.docx").write_bytes(b"x" * 1000)
    params = {"partners": ["alpha"], "root": str(tmp_path), "_ansible_check_mode": True}
    code, found = as_ansible_runs_it("ssc_usage", params, tmp_path)
    assert code == 0 and not found["changed"]
    assert found["storage"]["alpha"]["homes_bytes"] == 1000
    code, refused = as_ansible_runs_it("ssc_usage", dict(params, partners=["../etc"]), tmp_path)
    assert code == 1 and "not a partner code" in refused["msg"]


def test_files_validate_gets_a_path_with_a_space_quote_and_percent_as_one_word(
        tmp_path: Path) -> None:
    root = tmp_path / "host 'one' %d"
    item = {"path": "/etc/kea/kea-dhcp4.conf", "content": "{}\n", "validate": "test -s %s"}
    params: dict[str, Any] = {"root": str(root), "files": [item]}
    code, done = as_ansible_runs_it("ssc_files", params, tmp_path)
    assert code == 0 and done["changed"]
    assert (root / "etc/kea/kea-dhcp4.conf").read_text() == "{}\n"
    item["validate"] = "test -s '%s"
    code, refused = as_ansible_runs_it("ssc_files", params, tmp_path)
    assert code == 1 and "cannot be split into words" in refused["msg"]


@pytest.mark.parametrize("home, says", [
    ({"partner": "alpha", "name": "../../etc"}, "'../../etc' is not a folder name"),
    ({"partner": "..", "name": "wbuma"}, "'..' is not a folder name"),
    ({"partner": "alpha", "name": "wbuma", "moved_from": "a/b"}, "'a/b' is not a folder name"),
    ({"partner": "alpha"}, "the spec is not one ssc-infra rendered: no 'name'"),
    ("alpha/wbuma", "the spec is not one ssc-infra rendered (string indices must be integers"),
])
def test_homes_a_name_that_would_reach_outside_its_folder_fails_before_any_change(
        home: Any, says: str, tmp_path: Path) -> None:
    params = {"spec": {"partners": ["alpha"], "homes": [home]}, "root": str(tmp_path),
              "unknown_owner": "keep"}
    code, result = as_ansible_runs_it("ssc_homes", params, tmp_path)
    assert code == 1 and says in result["msg"] and "nothing was changed" in result["msg"]
    assert not (tmp_path / "srv").exists()
