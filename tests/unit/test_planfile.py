"""A plan file is read as hostile data by every command that takes one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ssc_infra.netbox.push import load_netbox_plan
from ssc_infra.sources.planfile import PlanFileError, read_plan_json
from tests.conftest import write_or_fifo


@pytest.mark.parametrize(("content", "says"), [
    (None, "not a regular file but a FIFO"),
    (b'{"format": 2,\n "sections": ', ":2:14: not JSON"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text (byte 0)"),
])
def test_a_plan_file_that_cannot_be_read_is_named_with_what_to_do(
        tmp_path: Path, content: bytes | None, says: str) -> None:
    path = write_or_fifo(tmp_path / "bad.plan.json", content)
    with pytest.raises(PlanFileError) as raised:
        read_plan_json(path)
    assert str(raised.value).startswith(str(path)) and says in str(raised.value)


def test_a_missing_plan_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(PlanFileError, match="no such file; name a plan file made with"):
        read_plan_json(tmp_path / "nowhere.json")


def test_netbox_push_refuses_a_fifo_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "nb.plan.json"
    os.mkfifo(fifo)
    with pytest.raises(PlanFileError, match="not a regular file"):
        load_netbox_plan(fifo, tmp_path / "state")
