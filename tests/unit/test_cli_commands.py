"""Command groups from other packages (entry point group `ssc_infra.commands`): the lab's
`ssc-infra lab` is added when installed, and says how to install it when it is not."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import click
import pytest
from click.testing import CliRunner

from ssc_infra.cli import main as cli_main
from ssc_infra.cli.common import CommandGroup


def _group(points: list[EntryPoint], monkeypatch: pytest.MonkeyPatch) -> click.Group:
    monkeypatch.setattr(cli_main, "entry_points", lambda group: points)

    @click.group(cls=CommandGroup)
    def top() -> None:
        """A top group like `ssc-infra`."""

    @top.command("plan")
    def plan() -> None:
        click.echo("the tool's own plan")

    cli_main.add_installed(top)
    return top


def test_the_installed_lab_is_a_command_group() -> None:
    result = CliRunner().invoke(cli_main.main, ["lab", "--help"])
    assert result.exit_code == 0
    assert "up" in result.stdout and "entra-sync" in result.stdout


def test_without_the_lab_the_command_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    top = _group([], monkeypatch)
    result = CliRunner().invoke(top, ["lab", "up", "--address", "auto"])
    assert result.exit_code == 1
    assert "the lab is not installed here" in result.stderr
    assert "make demo" in result.stderr and "lab/" in result.stderr


def test_a_broken_add_on_leaves_the_tool_working(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = EntryPoint("extra", "json.no_such_part:group", "ssc_infra.commands")
    top = _group([broken], monkeypatch)
    assert CliRunner().invoke(top, ["plan"]).stdout == "the tool's own plan\n"
    result = CliRunner().invoke(top, ["extra"])
    assert result.exit_code == 1
    assert "does not load" in result.stderr and "json.no_such_part" in result.stderr


def test_an_add_on_whose_package_is_gone_is_not_installed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    left_over = EntryPoint("lab", "ssc_infra_lab_removed.cli:lab", "ssc_infra.commands")
    top = _group([left_over], monkeypatch)
    result = CliRunner().invoke(top, ["lab", "status"])
    assert result.exit_code == 1 and "the lab is not installed here" in result.stderr


def test_an_add_on_never_replaces_a_command_of_the_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    other = EntryPoint("plan", "ssc_infra_lab.cli:lab", "ssc_infra.commands")
    top = _group([other], monkeypatch)
    assert CliRunner().invoke(top, ["plan"]).stdout == "the tool's own plan\n"
