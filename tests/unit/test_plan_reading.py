"""Plans people read: every line about a person names them, `--compact` keeps one line per
object, and a saved plan reads back with its names (older plan files without them still load).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from rich.console import Console

from ssc_infra.core.actual import DirectoryAccount, DirectoryState
from ssc_infra.core.plan import (
    Action,
    Backend,
    Change,
    ObjectKind,
    Plan,
    Section,
    Unmanaged,
    change_to_dict,
    plan_from_dict,
    plan_to_dict,
)
from ssc_infra.hosts.ansible import file_change, homes_change
from ssc_infra.hosts.backend import home_names, name_homes
from ssc_infra.report import HostPart, console, host_lines, plan_lines, shown_plan_lines
from tests.conftest import MINI, TODAY
from tests.support import desired_for, directory_as_desired

HOSTILE = "<script>alert(1)</script> [/x] :x:"


def printed(lines: Iterable[str]) -> str:
    c: Console = console(width=300)
    c.record = True
    for line in lines:
        c.print(line, soft_wrap=True)
    return c.export_text()


def _plan() -> Plan:
    disable = Change(ObjectKind.ACCOUNT, Action.DISABLE, "alpha", "alpha/1003", "CN=Jelle",
                     {"enabled": True}, {"enabled": False, "dn": "CN=Jelle,OU=Leavers"},
                     label="Vries, Jelle de")
    update = Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1001", "CN=Watse",
                    {"department": "Ruimte"}, {"department": "Burgerzaken"},
                    label="Bûmâ, Wâtse")
    licence = Change(ObjectKind.CLOUD_LICENCE, Action.REVOKE, "beta", "beta/1001",
                     "jildou@beta.example", {"licences": ["M365_E3"]},
                     {"add": [], "remove": ["e3"], "add_names": [], "remove_names": ["M365_E3"]},
                     Backend.GRAPH, "Hoekstra, Jildou")
    homes = dataclasses.replace(
        homes_change("fs01", "alpha", {"create": ["alpha/shiemstra"],
                                       "archive": ["alpha/jdevries", "alpha/ymeer"]}),
        names={"alpha/jdevries": "Vries, Jelle de", "alpha/shiemstra": "Hiemstra, Sytse"})
    lock = Unmanaged("alpha", "CN=Jan,OU=Users", "disabled outside the tool", "alpha/1002",
                     label=HOSTILE)
    return Plan((Section(Backend.DIRECTORY, (update, disable), unmanaged=(lock,)),
                 Section(Backend.GRAPH, (licence,)),
                 Section(Backend.HOSTS, (homes, file_change(
                     "vpn01", "/etc/wireguard/wg0.conf", "--- a\n+++ b\n-# alpha/1003\n", 0, 1)))))


def test_disable_lines_and_findings_name_the_person() -> None:
    text = printed(plan_lines(_plan(), {"alpha": "Gemeente Alpha"}))
    assert '- account  alpha/1003 "Vries, Jelle de" (disable)' in text
    assert '~ account  alpha/1001 "Bûmâ, Wâtse" (update)' in text
    assert "department: 'Ruimte' -> 'Burgerzaken'" in text
    assert '- licences beta/1001 "Hoekstra, Jildou" jildou@beta.example: -M365_E3' in text
    # a name from the directory is data: shown as it is, never markup
    assert f'? alpha/1002 "{HOSTILE}": disabled outside the tool' in text


def test_archived_homes_are_listed_with_their_person() -> None:
    plan = _plan()
    text = printed(host_lines(plan.section(Backend.HOSTS).changes, []))
    assert "homes: 1 to create, 2 to archive (alpha)" in text
    assert '- archive alpha/jdevries "Vries, Jelle de"' in text
    assert "- archive alpha/ymeer\n" in text  # nobody knows the name: the entry alone
    assert "shiemstra" not in text  # new homes are counted, not listed


def test_compact_keeps_one_line_per_object() -> None:
    plan = _plan()
    hosts = HostPart(plan.section(Backend.HOSTS).changes)
    full = printed(shown_plan_lines(plan, {}, hosts)).splitlines()
    compact = printed(shown_plan_lines(plan, {}, hosts, compact=True)).splitlines()
    assert any("department:" in line for line in full)
    assert not any("department:" in line or "archive alpha/" in line or "# alpha/1003" in line
                   for line in compact)
    objects = [line for line in compact if line.startswith("  ")]
    # update, disable, lock, licence, the host's homes, the file: one line each
    assert len(objects) == 6, compact
    assert compact[-2].startswith("Plan: 1 to update, 1 to disable, 1 to revoke")
    assert compact[-1].startswith("Hosts: 2 changes on 2 hosts")


def test_names_and_labels_survive_a_plan_file_and_an_older_file_still_loads() -> None:
    plan = _plan()
    data = json.loads(json.dumps(plan_to_dict(plan, {"region": "tst"})))
    again, _, _ = plan_from_dict(data)
    assert again == plan
    # a plan file made before plans named people: no "label", no "names"
    for section in data["sections"].values():
        for change in section["changes"]:
            change.pop("label", None)
            change.pop("names", None)
        for item in section["unmanaged"]:
            item.pop("label", None)
    older, _, _ = plan_from_dict(data)
    assert [c.ident for c in older.changes] == [c.ident for c in plan.changes]
    assert {c.label for c in older.changes} == {""}


def test_a_name_is_no_part_of_what_a_saved_item_is_matched_or_checked_by() -> None:
    change = _plan().changes[0]
    renamed = dataclasses.replace(change, label="someone else", names={"x": "y"})
    assert renamed.ident == change.ident and renamed.fingerprint == change.fingerprint
    assert change_to_dict(renamed)["fingerprint"] == change_to_dict(change)["fingerprint"]


def test_homes_are_named_from_the_inventory_and_the_gone_from_the_directory() -> None:
    desired = desired_for(MINI, TODAY)
    actual = directory_as_desired(desired)
    gone = DirectoryAccount("CN=Piet,OU=Users,OU=alpha", "PPost", "alpha", "1099",
                            display_name="Post, Piet")
    actual = DirectoryState(actual.ous, (*actual.accounts, gone), actual.groups)
    names = home_names(desired, actual)
    wbuma = next(a for p in desired.partners for a in p.accounts if a.employee_id == "1001"
                 and a.partner == "alpha")
    assert names[f"alpha/{wbuma.name.sam}"] == "Bûmâ, Wâtse"
    change = homes_change("fs01", "alpha", {"archive": ["alpha/ppost"],
                                            "create": [f"alpha/{wbuma.name.sam}"],
                                            "shares": ["/srv/shares/alpha"]})
    [named] = name_homes((change, file_change("fs01", "/etc/samba/smb.conf")), names)[:1]
    assert named.names == {"alpha/ppost": "Post, Piet",
                           f"alpha/{wbuma.name.sam}": "Bûmâ, Wâtse"}
    assert named.after == change.after and named.ident == change.ident

