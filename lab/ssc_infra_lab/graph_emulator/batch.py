"""$batch as Graph takes it: at most 20 requests, unique ids, dependsOn, answers shuffled.

The parsing and ordering are pure; the server runs each step through its own throttling,
faults and routes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ssc_infra_lab.emulator_server import Reply
from ssc_infra_lab.graph_emulator.model import JSON_TYPE, GraphError

BATCH_METHODS = frozenset({"GET", "POST", "PATCH", "PUT", "DELETE"})
BATCH_LIMIT = 20


@dataclass
class Step:
    """One request of a batch."""

    id: str
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    depends: list[str]


def parse_batch(payload: Any) -> list[Step]:
    """The steps of a $batch body, checked whole: any fault refuses the batch with 400.

    Raises:
        GraphError: 400 for a malformed batch, more than 20 requests, duplicate ids, an
            unknown dependency, or a write whose body and Content-Type do not come together.
    """
    entries = payload.get("requests") if isinstance(payload, dict) else None
    if not isinstance(entries, list) or not entries:
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    if len(entries) > BATCH_LIMIT:
        raise GraphError(400, "BadRequest", f"The batch holds {len(entries)} requests; "
                         f"the limit is {BATCH_LIMIT}.")
    steps = [_step(entry) for entry in entries]
    ids = {step.id for step in steps}
    if len(ids) != len(steps):
        raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
    for step in steps:
        for dependency in step.depends:
            if dependency not in ids:
                raise GraphError(400, "BadRequest", f"Request {step.id} depends on "
                                 f"'{dependency}', which is not in the batch.")
    return steps


def _step(entry: Any) -> Step:
    if not isinstance(entry, dict):
        raise GraphError(400, "BadRequest", "Invalid batch payload format.")
    step_id, method, url = entry.get("id"), entry.get("method"), entry.get("url")
    if not isinstance(step_id, str) or not step_id:
        raise GraphError(400, "BadRequest", "Every batch request needs a string id.")
    if not isinstance(method, str) or method.upper() not in BATCH_METHODS:
        raise GraphError(400, "BadRequest", f"Batch request {step_id}: invalid method "
                         f"{method!r}.")
    if not isinstance(url, str) or not url:
        raise GraphError(400, "BadRequest", f"Batch request {step_id}: a url is required.")
    headers = entry.get("headers") or {}
    depends = entry.get("dependsOn") or []
    if not isinstance(headers, dict) or not isinstance(depends, list):
        raise GraphError(400, "BadRequest", f"Batch request {step_id}: headers must be an "
                         "object and dependsOn a list.")
    headers = {str(k): str(v) for k, v in headers.items()}
    has_type = any(k.lower() == "content-type" for k in headers)
    if method.upper() in ("POST", "PATCH", "PUT") and ("body" in entry) != has_type:
        raise GraphError(400, "BadRequest", f"Write request id : {step_id} does not "
                         "contain Content-Type header or body.")
    return Step(step_id, method.upper(), url, headers, entry.get("body"),
                 [str(d) for d in depends])


def in_order(steps: list[Step]) -> list[Step]:
    """The steps with every dependency before its dependants, else in request order."""
    done: set[str] = set()
    ordered: list[Step] = []
    waiting = list(steps)
    while waiting:
        ready = next((s for s in waiting if all(d in done for d in s.depends)), None)
        if ready is None:
            raise GraphError(400, "BadRequest", "The dependsOn of the batch form a cycle.")
        waiting.remove(ready)
        done.add(ready.id)
        ordered.append(ready)
    return ordered


def sub_response(step_id: str, reply: Reply) -> dict[str, Any]:
    """A sub-request's answer in the batch response: id, status, its own headers, body."""
    headers = {k: v for k, v in reply.headers.items()
               if k.lower() not in ("request-id", "client-request-id")}
    answer: dict[str, Any] = {"id": step_id, "status": reply.status}
    if reply.body is not None:
        headers.setdefault("Content-Type", JSON_TYPE)
        answer["body"] = reply.body
    answer["headers"] = headers
    return answer


def shuffled(responses: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The answers in an order that is never the request order (when there are two or more),
    so that a client relying on the order fails here rather than in production."""
    mixed = list(responses)
    rng.shuffle(mixed)
    if len(mixed) > 1 and mixed == responses:
        mixed = mixed[1:] + mixed[:1]
    return mixed
