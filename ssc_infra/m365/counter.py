"""What a run sent to Graph and waited for: requests, `$batch`es, throttling, re-sends."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass
class GraphCounter:
    """What a run sent and waited for, for the progress line and the bench.

    Re-sends count in requests, batches, sub_requests and writes_sent; `retries` counts them
    alone (a request sent again, or a sub-request in a following $batch).
    """

    requests: int = 0
    batches: int = 0
    sub_requests: int = 0
    retries: int = 0
    throttled: int = 0
    unavailable: int = 0
    dropped: int = 0
    waited: float = 0.0
    seconds: float = 0.0
    writes_sent: int = 0

    def __add__(self, other: GraphCounter) -> GraphCounter:
        return GraphCounter(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                               for f in fields(self)})

    def summary(self) -> str:
        """One line for people: what was sent, and what Graph held back (throttling)."""
        text = (f"{self.requests:,} requests ({self.batches:,} $batch, {self.writes_sent:,} "
                f"writes sent)")
        if self.throttled or self.unavailable or self.dropped:
            text += (f"; throttled {self.throttled:,} times (HTTP 429), unavailable "
                     f"{self.unavailable:,} (503), {self.dropped:,} dropped connections; "
                     f"{self.retries:,} re-sent, {self.waited:,.1f} s waited (Retry-After, "
                     "back-off)")
        else:
            text += "; not throttled"
        return text
