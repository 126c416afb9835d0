"""Rate limits per account: how many of a kind of heavy request one account may make in
a sliding minute (audit searches, exports, checks), so one account cannot take the
time of everyone else's requests."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from chibo.errors import ChiboError


class RateLimited(ChiboError):
    """Too many requests of one kind from one account; `retry_after` seconds to wait."""

    http_status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class SlidingWindow:
    """At most `limit` takes per key within any `seconds`. `now` is a monotonic clock
    (elapsed time, not the calendar), injectable for tests."""

    def __init__(self, limit: int, seconds: float = 60.0,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, int(limit))
        self.seconds = seconds
        self._now = now
        self._taken: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> int | None:
        """Count one request for `key`; None when allowed, else whole seconds to wait."""
        now = self._now()
        with self._lock:
            taken = self._taken.setdefault(key, deque())
            while taken and taken[0] <= now - self.seconds:
                taken.popleft()
            if len(taken) >= self.limit:
                return max(1, math.ceil(taken[0] + self.seconds - now))
            taken.append(now)
            if len(self._taken) > 10_000:  # forget idle accounts, keep memory bounded
                for stale in [k for k, v in self._taken.items() if not v]:
                    del self._taken[stale]
            return None
