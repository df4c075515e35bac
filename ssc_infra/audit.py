"""Audit entries: one typed record per applied item, one run id per run.

`StateDir.audit` appends them as JSON lines (time and operator are added there); the audit
log never holds a password.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one run did to one item, and how it went."""

    run: str  # the run id: every entry of one run shares it
    command: str  # plan, apply, drift
    target: str  # the targets-file entry
    partner: str  # the partner code ("" for region-wide items, "a,b" for shared host files)
    kind: str  # ou, group, account, members, host
    action: str  # create, update, move, enable, disable, ...
    key: str  # partner/employee_id, a group name, host:path
    result: str  # ok, failed, refused
    dn: str = ""
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
