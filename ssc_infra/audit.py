"""Audit entries: one typed record per applied item, one run id per run.

`StateDir.audit` appends them as JSON lines (time and operator are added there); the audit
log never holds a password. Every backend's items are recorded alike, from their `ItemResult`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ssc_infra.plan import ItemResult


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """What one run did to one item, and how it went."""

    run: str  # the run id: every entry of one run shares it
    command: str  # plan, apply, drift
    target: str  # the targets-file entry
    partner: str  # the partner code ("" for region-wide items and shared host files)
    kind: str  # ou, group, account, members, file, homes, host (a host that failed)
    action: str  # create, update, move, enable, disable, archive, ...
    key: str  # partner/employee_id, a group name, host:path
    result: str  # ok, failed, refused
    dn: str = ""  # where the item is: a DN, a path on a host
    message: str = ""
    backend: str = "directory"  # directory, hosts

    @classmethod
    def of(cls, item: ItemResult, run: str, command: str, target: str) -> AuditEntry:
        c = item.change
        return cls(run=run, command=command, target=target, partner=c.partner,
                   kind=c.kind.value, action=c.action.value, key=c.key,
                   result="ok" if item.ok else "failed", dn=c.target, message=item.message,
                   backend=c.backend.value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
