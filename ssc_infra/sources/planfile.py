"""A saved plan's file read as hostile data, for `apply PLAN`, `show PLAN` and `netbox push
PLAN`: a regular
file of a sane size (a FIFO never blocks), UTF-8 JSON; each failure an `SscError` that names
the file (and the line) and says what to do next. Its seal and content are checked after.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import Problem, SscError
from ssc_infra.sources.located import read_regular

# A plan of 200,000 people is some hundreds of MiB; more is no plan file.
PLAN_MAX_BYTES = 1 << 30


class PlanFileError(SscError):
    """A plan file that cannot be read as JSON: missing, not a regular file, too large, not
    UTF-8 or not JSON."""


def read_plan_json(path: Path) -> Any:
    """The JSON value of a plan file (not yet unsealed or checked).

    Raises:
        PlanFileError: what is wrong, where, and what to do.
    """
    try:
        raw = read_regular(path, str(path), PLAN_MAX_BYTES)
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file; name a plan file made with "
                            "`ssc-infra plan --out FILE`, or a report in STATE/reports") from None
    if isinstance(raw, Problem):
        raise PlanFileError(f"{path}: {raw.message}" + (f"; {raw.hint}" if raw.hint else ""))
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise PlanFileError(f"{path}: not UTF-8 text (byte {e.start}): not a plan file "
                            "ssc-infra wrote; make a new one with `ssc-infra plan --out`") from e
    except json.JSONDecodeError as e:
        raise PlanFileError(f"{path}:{e.lineno}:{e.colno}: not JSON ({e.msg}); the file is "
                            "cut off or not a plan file: make a new one with `ssc-infra plan "
                            "--out`") from e
