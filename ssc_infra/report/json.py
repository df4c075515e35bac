"""Results as scripts read them: plain JSON data from our dataclasses, and its text.

Every command's `--format json` prints through `json_text`; the plans' own JSON (saved plans,
drift reports) is made by `plan.plan_to_dict` and `run.PlannedRun.to_dict`.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from enum import Enum
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ssc_infra.core.errors import Problem


def jsonable(value: Any) -> Any:
    """Plain JSON data from our frozen dataclasses, enums, dates, sets and addresses."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: jsonable(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, IPv4Address | IPv4Network):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def problems_json(problems: list[Problem]) -> list[dict[str, Any]]:
    return [jsonable(p) for p in problems]


def json_text(data: Any) -> str:
    """What `--format json` prints: indented, non-ASCII names as they are."""
    return json.dumps(data, indent=2, ensure_ascii=False)
