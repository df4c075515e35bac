"""Graph's delta queries: what a read by delta gives, and the links kept for the next read.

A delta link older than DELTA_MAX_AGE is not used: the next read is a full one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ssc_infra.core.errors import BackendError
from ssc_infra.state.folder import private_dir, write_private

DELTA_MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class Delta:
    """Users or groups as the delta query gives them ("@removed", "members@delta" included)."""

    items: list[dict[str, Any]]
    delta_link: str
    full: bool
    reason: str = ""


def too_old(saved_at: datetime | None, now: datetime | None = None) -> bool:
    """Whether a link saved at `saved_at` is older than DELTA_MAX_AGE (a naive time is UTC).

    Args:
        saved_at: when the link was saved; None: not known, so not too old.
        now: the current time (tests).
    """
    if not saved_at:
        return False
    return _aware(now or datetime.now(UTC)) - _aware(saved_at) > DELTA_MAX_AGE


class DeltaLinks:
    """The delta link per (partner, resource), in state_dir/graph/delta.json (0600, dir 0700)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "graph" / "delta.json"

    def get(self, partner: str, resource: str) -> tuple[str, datetime] | None:
        entry: Any = self._load().get(partner, {}).get(resource)
        try:
            return str(entry["link"]), datetime.fromisoformat(entry["saved_at"])
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, partner: str, resource: str, link: str, when: datetime) -> None:
        data = self._load()
        data.setdefault(partner, {})[resource] = {"link": link, "saved_at": when.isoformat()}
        self._save(data)

    def forget(self, partner: str) -> None:
        data = self._load()
        if data.pop(partner, None) is not None:
            self._save(data)

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise BackendError(f"{self.path}: not readable JSON ({e}); remove it, and the next "
                               "run reads Graph in full") from e
        if not isinstance(data, dict):
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, dict)}

    def _save(self, data: Mapping[str, Any]) -> None:
        private_dir(self.path.parent)
        write_private(self.path, json.dumps(data, indent=1, sort_keys=True))


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)
