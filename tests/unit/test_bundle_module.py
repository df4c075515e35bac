"""The ssc_bundle Ansible module (the gate before any host is touched): its logic on a bundle
ssc-infra makes, and the module run as Ansible runs a WANT_JSON module (a JSON file of
arguments, the result on stdout)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ssc_infra.hosts.render import HostFiles, write_host_files
from tests.conftest import ROOT, playbook_module

bundle_module = playbook_module("ssc_bundle")


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    files = HostFiles({"fs01": {"etc/samba/smb.conf": "[global]\n"},
                       "vpn01": {"etc/wireguard/wg0.conf": "[Interface]\n"}})
    return write_host_files(files, tmp_path / "bundle")


def test_a_bundle_as_made_passes_with_its_digest(bundle: Path) -> None:
    claimed = json.loads((bundle / "manifest.json").read_text())["digest"]
    result = bundle_module.run({"path": str(bundle), "digest": claimed,
                                "_ansible_check_mode": True})
    assert result == {"changed": False, "digest": claimed}


@pytest.mark.parametrize("params, says", [
    ({}, "path must be a string and is required"),
    ({"path": ["x"]}, "path must be a string"),
    ({"path": "x", "digest": 7}, "digest must be a string"),
    ({"path": "x", "render": True}, "unsupported parameters: render"),
    ({"path": "/nonexistent/bundle"}, "is not a bundle made by `ssc-infra plan`"),
])
def test_arguments_it_cannot_take_fail_with_a_reason(params: dict[str, Any], says: str) -> None:
    result = bundle_module.run(params)
    assert result["failed"] and says in result["msg"]


def test_a_file_changed_after_the_plan_or_another_digest_is_refused(bundle: Path) -> None:
    assert bundle_module.run({"path": str(bundle), "digest": "0" * 64})["failed"]
    conf = next(bundle.rglob("smb.conf"))
    conf.write_text("[global]\nguest ok = yes\n")
    result = bundle_module.run({"path": str(bundle)})
    assert result["failed"] and "was changed after ssc-infra made it" in result["msg"]


def test_run_as_ansible_runs_it_the_result_is_json_and_the_exit_code_says_failed(
        bundle: Path, tmp_path: Path) -> None:
    module = ROOT / "playbooks" / "library" / "ssc_bundle.py"
    assert "WANT_JSON" in module.read_text()  # how Ansible knows to pass a file of arguments
    args = tmp_path / "args.json"
    for params, code in (({"path": str(bundle)}, 0), ({"path": str(tmp_path)}, 1)):
        args.write_text(json.dumps(params))
        done = subprocess.run([sys.executable, str(module), str(args)], capture_output=True,
                              text=True, check=False)
        assert done.returncode == code
        assert json.loads(done.stdout)["failed" if code else "digest"]
