"""The emulator's vocabulary: licence SKUs, injected faults, and the Graph error it answers."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast

FaultKind = Literal["throttle", "unavailable", "drop"]
FAULT_KINDS: tuple[str, ...] = ("throttle", "unavailable", "drop")
JSON_TYPE = ("application/json;odata.metadata=minimal;odata.streaming=true;"
             "IEEE754Compatible=false;charset=utf-8")


@dataclass(frozen=True)
class Sku:
    """One licence subscription of an emulated tenant.

    Args:
        skuId: the SKU's GUID, as Graph's `subscribedSku.skuId`.
        skuPartNumber: its part number, e.g. "SPE_E3" (Microsoft 365 E3).
        seats: the subscription's `prepaidUnits.enabled`.
        exclusive_with: part numbers a user cannot hold together with this one; the emulator
            treats the relation as symmetric (MutuallyExclusiveViolation).
    """

    skuId: str  # noqa: N815 - Graph's property name
    skuPartNumber: str  # noqa: N815
    seats: int
    exclusive_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        uuid.UUID(self.skuId)  # a GUID, or ValueError
        if self.seats < 0:
            raise ValueError(f"SKU {self.skuPartNumber}: seats must be >= 0, not {self.seats}")

    def to_json(self) -> dict[str, Any]:
        return {"skuId": self.skuId, "skuPartNumber": self.skuPartNumber, "seats": self.seats,
                "exclusive_with": list(self.exclusive_with)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Sku:
        return cls(str(data["skuId"]), str(data["skuPartNumber"]), int(data["seats"]),
                   tuple(str(x) for x in data.get("exclusive_with", ())))


# The public GUIDs of these SKUs, so that plans and tests may name them as in a real tenant.
DEFAULT_SKUS: tuple[Sku, ...] = (
    Sku("05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3", 10000),
    Sku("06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5", 25, exclusive_with=("SPE_E3",)),
    Sku("4b9405b0-7788-4568-add1-99614e613b69", "EXCHANGESTANDARD", 500),
)


@dataclass(frozen=True)
class Fault:
    """A fault to inject into the next matching requests of one tenant.

    Args:
        kind: "throttle" answers 429 with Retry-After, "unavailable" 503 with Retry-After,
            "drop" closes the connection without an answer.
        count: how many matching requests (or sub-requests) it hits.
        retry_after: the Retry-After it announces, in seconds (fractions allowed, so tests stay
            fast; real Graph sends whole seconds).
        path: only requests whose path contains this ("" = any Graph request of the tenant).
        in_batch: True hits sub-requests inside a $batch, each answered on its own as Graph
            does; False hits whole HTTP requests (a $batch among them).
        executed: for "drop" only: True runs the request before the connection is dropped,
            as when the answer to a write that happened is lost on the way back.
    """

    kind: FaultKind
    count: int = 1
    retry_after: float = 1.0
    path: str = ""
    in_batch: bool = False
    executed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, "
                             f"not {self.kind!r}")
        if self.count < 1:
            raise ValueError(f"fault count must be >= 1, not {self.count}")
        if self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, not {self.retry_after}")
        if self.kind == "drop" and self.in_batch:
            raise ValueError("a dropped connection cannot hit one sub-request: "
                             "use in_batch=False for kind 'drop'")
        if self.executed and self.kind != "drop":
            raise ValueError("executed=True only makes sense for kind 'drop'")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "retry_after": self.retry_after,
                "path": self.path, "in_batch": self.in_batch, "executed": self.executed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Fault:
        kind = str(data["kind"])
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {kind!r}")
        return cls(cast(FaultKind, kind), int(data.get("count", 1)),
                   float(data.get("retry_after", 1.0)), str(data.get("path", "")),
                   bool(data.get("in_batch", False)), bool(data.get("executed", False)))


@dataclass
class GraphError(Exception):
    """An error answer in Graph's shape; raised inside a handler, turned into a response."""

    status: int
    code: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)
    details: list[dict[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code}: {self.message}"


def not_found(object_id: str) -> GraphError:
    return GraphError(404, "Request_ResourceNotFound",
                      f"Resource '{object_id}' does not exist or one of its queried "
                      "reference-property objects are not present.")


def bad_request(message: str, code: str = "Request_BadRequest") -> GraphError:
    return GraphError(400, code, message)


def now_iso() -> str:
    """Graph's timestamp format: UTC, whole seconds, a Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(error: GraphError, request_id: str, client_request_id: str) -> dict[str, Any]:
    inner = {"date": now_iso(), "request-id": request_id, "client-request-id": client_request_id}
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.details:
        body["details"] = error.details
    body["innerError"] = inner
    return {"error": body}
