"""Values from HR exports are data in every line the tool prints: `[/x]` never crashes rich
and `:x:` never turns into an emoji."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from ssc_infra.cli.main import main
from ssc_infra.core.errors import Problem
from ssc_infra.core.plan import Action, Backend, Change, ObjectKind, Plan, Section, Unmanaged
from ssc_infra.report import plan_lines, problem_lines
from tests.conftest import TODAY
from tests.unit.test_inventory import apply_edits

HOSTILE = ["Smit[/x]", "[bold]de Boer[/bold]", ":x: Hoekstra", "[/]", "\\[red]"]


@pytest.mark.parametrize("value", HOSTILE)
def test_plan_lines_print_values_literally(value: str) -> None:
    plan = Plan((Section(
        Backend.DIRECTORY,
        (Change(ObjectKind.ACCOUNT, Action.CREATE, "alpha", f"alpha/{value}", f"CN={value}",
                {}, {"sAMAccountName": value, "displayName": value, "enabled": True}),
         Change(ObjectKind.ACCOUNT, Action.UPDATE, "alpha", "alpha/1", "CN=x",
                {"sn": "old"}, {"sn": value})),
        unmanaged=(Unmanaged("alpha", f"CN={value},OU=alpha", f"made by {value}"),)),))
    console = Console(record=True, width=200, emoji=False, highlight=False)
    for line in plan_lines(plan, {"alpha": value}):
        console.print(line)
    text = console.export_text()
    assert text.count(value) >= 4, text


@pytest.mark.parametrize("value", HOSTILE)
def test_problem_lines_print_values_literally(value: str) -> None:
    problems = [Problem(f"people/{value}.csv", 3, f"surname {value} is not valid",
                        f"check {value} in the HR export", "alpha")]
    console = Console(record=True, width=200, emoji=False, highlight=False)
    for line in problem_lines(problems):
        console.print(line)
    text = console.export_text()
    assert text.count(value) == 3, text


def test_validate_and_show_print_a_bracketed_surname_as_it_is(mini: Path) -> None:
    apply_edits(mini, [{"file": "people/alpha.csv", "replace": [",Bûmâ,", ",Bûmâ[/x] :x:,"]}])
    runner = CliRunner()
    for command in ("validate", "show"):
        result = runner.invoke(main, [command, "--inventory", str(mini), "--today",
                                      TODAY.isoformat()])
        assert not isinstance(result.exception, Exception) or \
            isinstance(result.exception, SystemExit), result.exception
        assert "MarkupError" not in result.output
        assert "❌" not in result.output
