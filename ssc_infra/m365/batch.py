"""Graph's `$batch`: its sub-requests and their answers, and how items are put into chunks.

A `$batch` holds at most MAX_BATCH sub-requests; items linked by depends_on must share one.
The client (`ssc_infra.m365.graph.Graph.batch`) sends the chunks and retries sub-requests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ssc_infra.m365.errors import error_parts

MAX_BATCH = 20
OUTCOME_UNKNOWN = "OutcomeUnknown"


@dataclass(frozen=True)
class BatchItem:
    """One sub-request; `url` is relative to /v1.0 ("/users/{id}/assignLicense")."""

    id: str
    method: str
    url: str
    body: Mapping[str, Any] | None = None
    depends_on: tuple[str, ...] = ()
    # False: a write that must not run twice (a group create: names are not unique in Entra
    # ID). After a dropped connection it is not sent again; it gets status 0 and the code
    # OUTCOME_UNKNOWN, and the caller reads back whether it happened.
    repeatable: bool = True


@dataclass(frozen=True)
class BatchResult:
    """Graph's answer to one sub-request (status 0: none, see OUTCOME_UNKNOWN)."""

    id: str
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error(self) -> str:
        """Graph's "Code: message (request-id ...)", or "" when the sub-request succeeded."""
        if self.ok:
            return ""
        code, message, request_id = error_parts(self.body, self.headers)
        text = f"{code or f'HTTP {self.status}'}: {message or 'no message'}"
        return f"{text} (request-id {request_id})" if request_id else text


def chunks(items: Sequence[BatchItem]) -> list[list[BatchItem]]:
    """Chunks of at most MAX_BATCH, items linked by depends_on together, each in input order."""
    root: dict[str, str] = {}

    def find(key: str) -> str:
        while root[key] != key:
            root[key] = root[root[key]]
            key = root[key]
        return key

    for item in items:
        if item.id in root:
            raise ValueError(f"batch item id {item.id!r} appears twice")
        root[item.id] = item.id
        for dep in item.depends_on:
            if dep not in root:
                raise ValueError(f"batch item {item.id!r} depends on {dep!r}, which does not "
                                 "come before it")
            root[find(dep)] = find(item.id)
    groups: dict[str, list[BatchItem]] = {}
    for item in items:
        groups.setdefault(find(item.id), []).append(item)
    found: list[list[BatchItem]] = []
    current: list[BatchItem] = []
    for group in groups.values():
        if len(group) > MAX_BATCH:
            raise ValueError(f"batch items {group[0].id!r}..{group[-1].id!r}: {len(group)} "
                             f"linked by depends_on, more than fit in one $batch ({MAX_BATCH})")
        if len(current) + len(group) > MAX_BATCH:
            found.append(current)
            current = []
        current += group
    found += [current] if current else []
    place = {item.id: n for n, item in enumerate(items)}
    return [sorted(chunk, key=lambda item: place[item.id]) for chunk in found]


def sub_request(item: BatchItem, pending: set[str]) -> dict[str, Any]:
    """The item as a `$batch` sub-request; it depends only on the items still `pending`."""
    sub: dict[str, Any] = {"id": item.id, "method": item.method.upper(), "url": item.url}
    if item.body is not None:
        sub["body"] = dict(item.body)
        sub["headers"] = {"Content-Type": "application/json"}
    depends = [d for d in item.depends_on if d in pending]  # what is done already is no longer
    if depends:
        sub["dependsOn"] = depends
    return sub
