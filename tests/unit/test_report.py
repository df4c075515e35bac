"""Values print as they are: markup and emoji codes in a name never become styles or emoji.

Everything is printed through a real rich Console (recording), as the commands print it.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from rich.console import Console, RenderableType

from ssc_infra.core.plan import Action, Backend, Change, Held, ObjectKind, Plan, Section, Unmanaged
from ssc_infra.hosts.ansible import HostOutcome, file_change, homes_change
from ssc_infra.report import PartnerSummary, console, host_lines, partner_table, plan_lines

HOSTILE = ("Smit[/x]", "[bold]de Vries[/bold]", "Bûmâ :x: :thumbs_up:", "a\\", "[link=x]y")


def printed(items: Iterable[RenderableType], through: Console | None = None) -> str:
    """The text a terminal would show; a MarkupError here is what a user would have seen."""
    c = through or console(width=400)
    c.record = True
    for item in items:
        c.print(item, soft_wrap=True)
    return c.export_text()


def plan_with(value: str) -> Plan:
    changes = (
        Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", f"1001{value}", f"CN={value}",
               after={"sAMAccountName": f"s{value}", "displayName": f"Jan {value}",
                      "enabled": True}),
        Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "1002", "CN=x",
               before={"sn": "Vries"}, after={"sn": value}),
        Change(ObjectKind.MEMBERS, Action.UPDATE, "alpha", f"alpha-all{value}", "CN=g",
               after={"add": ["x"], "remove": []}),
        Change(ObjectKind.OU, Action.CREATE, "alpha", "ou", f"OU={value},OU=Partners"),
    )
    return Plan((Section(Backend.DIRECTORY, changes,
                         held=(Held(value, 60, 100, 50, "--allow-disable"),),
                         unmanaged=(Unmanaged("alpha", f"CN={value},OU=alpha", f"no {value}"),)),))


@pytest.mark.parametrize("value", HOSTILE)
def test_plan_lines_show_markup_and_emoji_codes_in_values_literally(value: str) -> None:
    text = printed(plan_lines(plan_with(value), {"alpha": f"Gemeente {value}"}))
    assert f"alpha — Gemeente {value}" in text
    assert f"1001{value} s{value} \"Jan {value}\"" in text
    assert f"sn: 'Vries' -> {value!r}" in text
    assert f"alpha-all{value}: +1 -0" in text
    assert f"OU={value},OU=Partners" in text
    assert f"unmanaged CN={value},OU=alpha: no {value}" in text
    assert f"partner {value!r}: the plan disables 60" in text


@pytest.mark.parametrize("value", HOSTILE)
def test_host_lines_show_paths_and_messages_literally(value: str) -> None:
    # Host names are codes (a-z, 0-9, -): the values come in through paths, partners, messages.
    changes = [file_change("fs02", f"/etc/{value}"),
               file_change("fs01", "/etc/x", f"--- a\n+++ b\n+{value}\n-old\n", 1, 1),
               homes_change("fs01", f"p{value}", {"create": [f"p{value}/x{value}"]})]
    failed = [HostOutcome(f"vpn{value}", failed=True, messages=[f"refused {value}"])]
    text = printed(host_lines(changes, failed))
    assert f"fs02     /etc/{value} (installed or updated)" in text
    assert f"+{value}" in text
    assert f"homes: 1 to create (p{value})" in text
    assert f"{'vpn' + value:<8} failed: refused {value}" in text


@pytest.mark.parametrize("value", HOSTILE)
def test_partner_table_shows_names_literally_even_on_an_emoji_console(value: str) -> None:
    row = PartnerSummary("alpha", f"G {value}", 3, 2, 1, 0, 0,
                         {"vdi": 1, "laptop": 1, "thin_client": 1}, (f"m365{value}",))
    # A default console turns :x: into an emoji in markup; table cells are no markup.
    text = printed([partner_table(f"SSC {value}", [row])], Console(width=400))
    assert f"SSC {value}" in text
    assert f"G {value}" in text and f"m365{value}" in text


def test_the_console_prints_emoji_codes_as_they_are() -> None:
    assert printed([":x: [bold]b[/]"]).strip() == ":x: b"
