"""The host side of a plan without running Ansible: events -> changes, inventory, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ssc_infra.cli.main import main
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind
from ssc_infra.core.workplaces import derive_workplaces
from ssc_infra.hosts.ansible import (
    AnsibleSettings,
    HostOutcome,
    RunResult,
    homes_change,
    host_inventory,
    host_of,
    task_changes,
    task_message,
)
from ssc_infra.hosts.backend import Bundle, HostPlan
from ssc_infra.report import host_lines, host_summary
from ssc_infra.sources.files import load
from tests.conftest import MINI, TODAY

COPY_NEW = {"changed": True, "diff": [{"before": "", "after": "[global]\nworkgroup = SSC\n",
                                        "after_header": "/s/bundles/ab12/fs01/etc/samba/smb.conf"}]}
COPY_EDIT = {"changed": True, "diff": [{
    "before": "a\nb\n", "after": "a\nc\n", "before_header": "/h/fs01/etc/samba/smb.conf",
    "after_header": "/s/bundles/ab12/fs01/etc/samba/smb.conf"}]}
CHECKER = {"changed": True, "diff": [{"before": "", "after": "#!/usr/bin/env python3\n",
                                      "after_header": "/repo/playbooks/files/ssc-check"}]}
HOMES = {"changed": True, "created": ["alpha/wbuma"], "restored": [],
         "archived": ["alpha/yvdmeer"], "fixed": [], "digest": "d0", "held": {}, "errors": [],
         "shares": [{"partner": "alpha", "path": "/srv/shares/alpha"}],
         "diff": {"prepared": "+ share /srv/shares/alpha\n+ home alpha/wbuma\n"
                              "- home alpha/yvdmeer (to the archive)"}}
MODE_ONLY = {"changed": True, "diff": {"before": {"mode": "0755"}, "after": {"mode": "0700"},
                                       "before_header": "/h/fs01/srv"}}


@pytest.mark.parametrize(("res", "path", "added", "removed"), [
    (COPY_NEW, "/etc/samba/smb.conf", 2, 0),
    (COPY_EDIT, "/etc/samba/smb.conf", 1, 1),
    (CHECKER, "ssc-check", 0, 0),
    (MODE_ONLY, "task", 0, 0),
])
def test_a_changed_task_becomes_a_file_change_of_the_hosts_section(
        res: dict[str, Any], path: str, added: int, removed: int) -> None:
    (change,) = task_changes("fs01", "task", res)
    assert change.backend is Backend.HOSTS and change.kind is ObjectKind.FILE
    assert (host_of(change), change.target) == ("fs01", path)
    assert (change.after["added"], change.after["removed"]) == (added, removed)
    assert change.partner == "" and change.key == f"fs01:{path}"  # a shared file


def test_the_homes_module_gives_one_change_per_partner_naming_the_people() -> None:
    res = {**HOMES, "created": ["alpha/wbuma", "beta/jhoekstra"]}
    alpha, beta = task_changes("fs01", "homes", res)
    assert (alpha.partner, alpha.action, alpha.key) == ("alpha", Action.ARCHIVE,
                                                        "fs01:homes/alpha")
    assert alpha.after == {"create": ["alpha/wbuma"], "archive": ["alpha/yvdmeer"],
                           "shares": ["/srv/shares/alpha"]}
    assert alpha.destructive and alpha.weight == 1
    assert (beta.partner, beta.action, beta.after) == ("beta", Action.CREATE,
                                                       {"create": ["beta/jhoekstra"]})


def test_a_failed_check_says_what_the_checker_said() -> None:
    res = {"msg": "failed to validate", "stderr": "warning\nssc-check: testparm rejects x"}
    assert task_message(res) == "failed to validate: ssc-check: testparm rejects x"
    loop = {"msg": "One or more items failed",
            "results": [{"failed": False}, {"failed": True, "msg": "Permission denied"}]}
    assert task_message(loop) == "Permission denied"


def test_inventory_groups_hosts_by_role_with_a_root_each_in_a_lab(tmp_path: Path) -> None:
    region = load(MINI, TODAY)
    inv = host_inventory(region, AnsibleSettings(connection="local", root=tmp_path))
    assert inv["all"]["children"]["radius"]["hosts"] == {"rad01": {}}
    assert inv["all"]["hosts"]["fs01"]["ssc_root"] == str(tmp_path / "fs01")
    real = host_inventory(region, AnsibleSettings(user="ansible",
                                                  host_vars={"vpn01": {"ansible_port": 2222}}))
    assert real["all"]["hosts"]["vpn01"]["ansible_host"] == "10.1.0.20"
    assert real["all"]["hosts"]["vpn01"]["ansible_port"] == 2222
    assert "ssc_root" not in real["all"]["hosts"]["fs01"]


def _plan(changes: tuple[Change, ...]) -> HostPlan:
    region = load(MINI, TODAY)
    from ssc_infra.core.desired import derive

    workplaces = derive_workplaces(region, derive(region, TODAY))
    result = RunResult("failed", 2, {"vpn01": HostOutcome("vpn01", unreachable=True,
                                                          messages=["unreachable: timed out"])},
                       changes)
    return HostPlan(Bundle(Path("/b"), "d", workplaces), result)


def test_partner_filter_keeps_that_partners_homes_and_every_shared_file() -> None:
    homes_beta = homes_change("fs01", "beta", {"create": ["beta/jhoekstra"]})
    plan = _plan((*task_changes("fs01", "homes", HOMES), *task_changes("fs01", "smb", COPY_EDIT),
                  homes_beta))
    shown = plan.changes_for(["alpha"])
    assert [c.key for c in shown] == ["fs01:homes/alpha", "fs01:/etc/samba/smb.conf"]
    assert len(plan.changes_for([])) == 3
    assert plan.section(["alpha"]).changes == tuple(shown)


def test_text_plan_lists_files_with_diff_homes_counts_and_failed_hosts() -> None:
    plan = _plan((*task_changes("fs01", "homes", HOMES), *task_changes("fs01", "smb", COPY_EDIT)))
    lines = list(host_lines(plan.result.changes, plan.result.failed_hosts))
    text = "\n".join(lines)
    assert "homes: 1 shares to create, 1 to create, 1 to archive (alpha)" in text
    assert "/etc/samba/smb.conf (+1 -1 lines)" in text
    assert "vpn01" in text and "unreachable" in text
    assert host_summary(plan.result.changes, plan.result.failed_hosts) == \
        "Hosts: 2 changes on 1 host, [red]1 host failed[/]."


def test_render_writes_every_hosts_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--inventory", str(MINI), "--today",
                                       "2026-11-23", "--out", str(tmp_path / "out"),
                                       "--state-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output
    smb = (tmp_path / "out" / "fs01" / "etc/samba/smb.conf").read_text()
    assert "[alpha]" in smb and "[beta]" not in smb  # beta is cloud-only
    assert (tmp_path / "out" / "dhcp01" / "etc/kea/kea-dhcp4.conf").exists()
    only_beta = CliRunner().invoke(main, ["render", "--inventory", str(MINI), "--partner",
                                          "beta", "--out", str(tmp_path / "beta")])
    assert only_beta.exit_code == 0, only_beta.output
    wg = (tmp_path / "beta" / "vpn01" / "etc/wireguard/wg0.conf").read_text()
    assert "BET-L-0001" in wg and "ALP-L-0001" not in wg


def test_render_of_an_unknown_partner_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["render", "--inventory", str(MINI), "--partner",
                                       "gamma", "--out", str(tmp_path / "x")])
    assert result.exit_code == 1
    assert "gamma" in result.output
