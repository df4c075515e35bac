"""The HR emulator's levers: the ways a test or the lab makes an AFAS environment or a Visma
Raet tenant misbehave, so that the tool's retries and guards are seen to work. `Levers` says
what is set for one source; `LeverState` keeps what they have used up (the busy answers still
to give, the cut pages still to cut) and decides, request by request, what goes wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

BUSY_STATUSES = (429, 503)


@dataclass(frozen=True)
class Levers:
    """What goes wrong for one AFAS environment or Raet tenant; the default: nothing.

    Pages count from 1: page K is the one whose skip is (K-1) * take.

    Args:
        auth_failure: every request of the source (a Raet token request too) answers 401, as
            when the token was revoked or the API user blocked.
        busy: the next `busy` data requests answer `busy_status`, each with a Retry-After of
            `retry_after` seconds (a fraction keeps tests fast; real servers send whole
            seconds); then the source answers again.
        busy_status: 429 (throttled) or 503 (unavailable).
        retry_after: the Retry-After of the busy answers.
        truncate_page: page K answers 200 with its JSON cut off half-way and the connection
            closed (no Content-Length: the client sees the body end early) ...
        truncate_times: ... this many times (0: every time it is asked for).
        slow_page: page K is answered only after `slow_seconds` seconds (every time).
        slow_seconds: that delay.
        fail_from_page: page K and every later one answer 500 (every time): the read "fails
            half-way".
        lost_fraction: the answers silently leave out this fraction of the people (at least
            one while it is above 0), always the same ones, as valid JSON with fewer rows:
            what a connector filter changed by mistake looks like. The tool's guard must
            catch it.
        page_cap: AFAS: `take` is capped to this, and the answer's `take` says the capped
            value; Raet: the page size when `take` is not given, and the most a page holds.
            Paging is then exercised with a handful of people.
    """

    auth_failure: bool = False
    busy: int = 0
    busy_status: int = 429
    retry_after: float = 1.0
    truncate_page: int | None = None
    truncate_times: int = 1
    slow_page: int | None = None
    slow_seconds: float = 0.0
    fail_from_page: int | None = None
    lost_fraction: float = 0.0
    page_cap: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.busy < 0 or self.busy_status not in BUSY_STATUSES:
            problems.append(f"busy >= 0 and busy_status one of {BUSY_STATUSES}")
        if self.retry_after < 0 or self.slow_seconds < 0 or self.truncate_times < 0:
            problems.append("retry_after, slow_seconds and truncate_times >= 0")
        for name in ("truncate_page", "slow_page", "fail_from_page", "page_cap"):
            value = getattr(self, name)
            if value is not None and value < 1:
                problems.append(f"{name} >= 1 (or none)")
        if not 0.0 <= self.lost_fraction < 1.0:
            problems.append("0 <= lost_fraction < 1")
        if problems:
            raise ValueError("levers: " + "; ".join(problems))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Levers:
        """The levers of a control request; a name it does not know is refused.

        Raises:
            ValueError: an unknown lever or a value out of range.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown levers {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(known))}")
        return cls(**data)


def page_of(skip: int, take: int) -> int:
    """The page number (from 1) of a request for `take` rows from `skip`."""
    return 1 + skip // take if take > 0 else 1


def lost_people(codes: Iterable[str], fraction: float) -> frozenset[str]:
    """The people a `lost_fraction` leaves out: round(fraction * n) of them, at least one
    while fraction > 0, chosen by a hash of their code (so always the same ones, not the
    first or the last)."""
    unique = sorted(set(codes))
    if fraction <= 0 or not unique:
        return frozenset()
    count = max(1, round(fraction * len(unique)))
    ranked = sorted(unique, key=lambda c: hashlib.sha256(c.encode()).hexdigest())
    return frozenset(ranked[:count])


class LeverState:
    """The levers of one source and what they have used up; the emulator's lock guards it."""

    def __init__(self) -> None:
        self.levers = Levers()
        self.busy_left = 0
        self.truncate_left = 0
        self.requests = 0
        """Data requests the source received (token requests not counted)."""

    def set(self, levers: Levers) -> None:
        """Set the levers, counting the busy answers and the cuts anew."""
        self.levers = levers
        self.busy_left = levers.busy
        self.truncate_left = levers.truncate_times

    def take_busy(self) -> bool:
        """Is this request to be answered busy (and one busy answer used up)?"""
        if self.busy_left <= 0:
            return False
        self.busy_left -= 1
        return True

    def fails(self, page: int) -> bool:
        start = self.levers.fail_from_page
        return start is not None and page >= start

    def take_cut(self, page: int) -> bool:
        """Is this page to be cut off (and one cut used up)?"""
        if self.levers.truncate_page != page:
            return False
        if self.levers.truncate_times == 0:
            return True
        if self.truncate_left <= 0:
            return False
        self.truncate_left -= 1
        return True

    def delay(self, page: int) -> float:
        return self.levers.slow_seconds if self.levers.slow_page == page else 0.0

    def cap(self, take: int) -> int:
        """`take` within the page cap."""
        cap = self.levers.page_cap
        return take if cap is None else min(take, cap)

    def retry_after(self) -> str:
        value = self.levers.retry_after
        return str(int(value)) if float(value).is_integer() else f"{value:g}"

    def status(self) -> dict[str, Any]:
        return {"levers": self.levers.to_json(), "busy_left": self.busy_left,
                "truncate_left": self.truncate_left, "requests": self.requests}

