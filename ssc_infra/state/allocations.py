"""The addresses handed out to workplaces, kept in the state folder across runs.

A laptop or thin client keeps its address from one apply to the next: the hosts' apply saves
what it handed out, and every later derive starts from it.
"""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path

from ssc_infra.core.errors import SscError
from ssc_infra.core.workplaces import Allocations, Workplaces
from ssc_infra.state.folder import write_private

ALLOCATIONS = "addresses.json"


def load_allocations(state: Path) -> Allocations:
    """Addresses handed out by earlier applies; empty on a first run."""
    path = state / ALLOCATIONS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise SscError(f"{path}: cannot read the kept addresses ({e}); restore it from a "
                       "backup, or remove it to hand out addresses afresh") from e
    return {kind: {tag: IPv4Address(a) for tag, a in by_tag.items()}
            for kind, by_tag in data.items()}


def save_allocations(state: Path, workplaces: Workplaces) -> None:
    write_private(state / ALLOCATIONS,
                  json.dumps(workplaces.allocations(), indent=1, sort_keys=True) + "\n")
