"""The ssc_bundle Ansible module (the gate before any host is touched): its logic on a bundle
ssc-infra makes, and the module run as Ansible runs a WANT_JSON module (a JSON file of
arguments, the result on stdout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.hosts.render import HostFiles, write_host_files
from tests.conftest import ROOT, as_ansible_runs_it, playbook_module

bundle_module = playbook_module("ssc_bundle")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    files = HostFiles({"fs01": {"etc/samba/smb.conf": "[global]\n"},
                       "vpn01": {"etc/wireguard/wg0.conf": "[Interface]\n"}})
    return write_host_files(files, tmp_path / "bundle")


def gate(params: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = bundle_module.run(
        bundle_module.checked(params, bundle_module.ARGUMENTS), True, False)
    return result


def test_a_bundle_as_made_passes_with_its_digest(bundle: Path) -> None:
    claimed = json.loads((bundle / "manifest.json").read_text())["digest"]
    result = gate({"path": str(bundle), "digest": claimed, "_ansible_check_mode": True})
    assert result == {"changed": False, "digest": claimed}


@pytest.mark.parametrize("params, says", [
    ({}, "missing required arguments: path"),
    ({"path": ["x"]}, "argument path is of type list and cannot be converted to str"),
    ({"path": "x", "digest": {}}, "argument digest is of type dict"),
    ({"path": "x", "render": True}, "unsupported parameters: render"),
])
def test_arguments_it_cannot_take_are_refused_with_a_reason(params: dict[str, Any],
                                                            says: str) -> None:
    with pytest.raises(ValueError, match=says):
        gate(params)


def test_a_folder_that_is_no_bundle_is_refused(tmp_path: Path) -> None:
    result = gate({"path": str(tmp_path / "nonexistent")})
    assert result["failed"] and "is not a bundle made by `ssc-infra plan`" in result["msg"]


def test_a_file_changed_after_the_plan_or_another_digest_is_refused(bundle: Path) -> None:
    assert gate({"path": str(bundle), "digest": "0" * 64})["failed"]
    conf = next(bundle.rglob("smb.conf"))
    conf.write_text("[global]\nguest ok = yes\n")
    result = gate({"path": str(bundle)})
    assert result["failed"] and "was changed after ssc-infra made it" in result["msg"]


def test_run_as_ansible_runs_it_the_result_is_json_and_the_exit_code_says_failed(
        bundle: Path, tmp_path: Path) -> None:
    module = ROOT / "playbooks" / "library" / "ssc_bundle.py"
    assert "WANT_JSON" in module.read_text()  # how Ansible knows to pass a file of arguments
    for params, code in (({"path": str(bundle)}, 0), ({"path": str(tmp_path)}, 1)):
        returncode, result = as_ansible_runs_it("ssc_bundle", params, tmp_path)
        assert returncode == code
        assert result["failed" if code else "digest"]
