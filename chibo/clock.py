"""Time as an input: every rule that depends on "now" asks a clock.

Services get the clock from configuration (`CLOCK`), so tests and replays can
fix the time and get the same decisions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told; `advance` moves it forward."""

    def __init__(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)


def clock_from_setting(value: str | None) -> Clock:
    """`None`/"system" gives the real clock; an ISO timestamp fixes the time."""
    if not value or value == "system":
        return SystemClock()
    return FixedClock(datetime.fromisoformat(value))
