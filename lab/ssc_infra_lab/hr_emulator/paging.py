"""What the two emulated HR APIs share in how they answer: a page of a list (its body and its
number, which the levers go by) and the error an answer becomes, in each API's own shape."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ApiError(Exception):
    """An answer that is an error: its status and a message for the API's error body."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Page:
    """One page of a list: its JSON body and its number (from 1)."""

    body: dict[str, Any]
    number: int


def whole_number(query: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    """A query parameter that is a whole number >= minimum (`default` when it is absent).

    Raises:
        ApiError: 400, it is not.
    """
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ApiError(400, f"{name}={text!r}: a whole number of at least {minimum} is "
                       "expected", "bad_request")
    return value


def unknown_parameters(query: Mapping[str, str], known: frozenset[str]) -> None:
    """Refuse a parameter the API does not know (a misspelt `take` would page wrongly).

    Raises:
        ApiError: 400, naming the parameters the emulator knows.
    """
    unknown = sorted(k for k in query if k.lower() not in known)
    if unknown:
        raise ApiError(400, f"unknown query parameters {', '.join(unknown)} (the emulator "
                       f"knows {', '.join(sorted(known))})", "bad_request")
