"""Graph's errors: the exceptions the client raises, and Graph's error answers in words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from ssc_infra.core.errors import BackendError

_RESYNC = ("syncstatenotfound", "resyncrequired")
_HINTS = {
    401: "check the app registration (client_id, tenant_id) and its secret or certificate",
    403: "the app lacks a Graph permission for this: check its application permissions and "
         "admin consent in the tenant",
}


class GraphError(BackendError):
    """Graph refused or failed; the message names method, path, Graph's code and request-id."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphThrottled(GraphError):
    """Still 429/503 after max_retries, or Graph asks to wait longer than max_wait."""


class GraphBudgetExceeded(GraphError):
    """The run has sent request_budget requests."""


class DeltaExpired(GraphError):
    """A delta link Graph no longer knows (410 syncStateNotFound); `delta()` reads in full."""


def http_error(method: str, path: str, response: httpx.Response) -> GraphError:
    """The error for a request Graph answered with a failure status (not one to retry).

    Args:
        method: the request's method.
        path: the request's path, for the message.
        response: Graph's answer.

    Returns:
        DeltaExpired for a delta link Graph no longer knows, else a GraphError; the message
        has Graph's code, message and request-id, and what to check for a 401 or a 403.
    """
    code, message, request_id = response_parts(response)
    status = response.status_code
    text = f"Graph {method} {path} answered HTTP {status} {code or '(no code)'}: " \
           f"{message or '(no message)'} (request-id {request_id or 'none'})"
    hint = _HINTS.get(status)
    resync = any(word in f"{code} {message}".lower() for word in _RESYNC)
    kind = DeltaExpired if status == 410 and resync else GraphError
    return kind(f"{text}; {hint}" if hint else text, status=status, code=code)


def response_parts(response: httpx.Response) -> tuple[str, str, str]:
    """Graph's error code, message and request-id in an answer (see `error_parts`)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = {"error": {"message": response.text[:300]}}
    return error_parts(body, response.headers)


def error_parts(body: Any, headers: Mapping[str, str]) -> tuple[str, str, str]:
    """Graph's error code, message and request-id (innerError, else the header)."""
    error = body.get("error") if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    inner = error.get("innerError") or error.get("innererror")
    inner = inner if isinstance(inner, Mapping) else {}
    message = " ".join(str(error.get("message") or "").split())[:500]
    request_id = inner.get("request-id") or header_value(headers, "request-id")
    return str(error.get("code") or ""), message, str(request_id or "")


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """A header by its name in any case (a `$batch` sub-answer's headers are a plain dict)."""
    return next((v for k, v in headers.items() if k.lower() == name.lower()), None)
