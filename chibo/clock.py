"""Time as an input: every rule that depends on "now" asks a clock.

Services get the clock from configuration (`CLOCK`, set by `CHIBO_CLOCK`), so
tests and replays can fix the time and get the same decisions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that says what it is told; `set` moves it."""

    def __init__(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)


class ClockSettingError(ValueError):
    """`CLOCK` holds something that is neither "system" nor a date or timestamp."""


CLOCK_FORMS = ('"system", a date YYYY-MM-DD, or a timestamp YYYY-MM-DDTHH:MM[:SS][+HH:MM] '
               "(no zone means UTC)")


def clock_from_setting(value: object, setting: str = "CLOCK (CHIBO_CLOCK)") -> Clock:
    """The clock a configuration value names.

    The config files read `CHIBO_CLOCK` as text (`!raw_env_var`); a config that lets
    YAML type it delivers a `datetime` for an unquoted timestamp and a `date` for a
    bare date. All of these fix the time (a date at midnight UTC); empty or
    "system" is the real clock; a Clock object (tests that move time) is used as
    it is. Anything else is refused, naming the setting.
    """
    if isinstance(value, str):
        value = value.strip().strip("'\"")  # quotes a shell or YAML left around it
    if value is None or (isinstance(value, str) and value.lower() in ("", "system")):
        return SystemClock()
    if isinstance(value, datetime):
        return FixedClock(value)
    if isinstance(value, date):
        return FixedClock(datetime.combine(value, time(0), tzinfo=UTC))
    if isinstance(value, str):
        try:
            return FixedClock(datetime.fromisoformat(value))  # a date alone: midnight
        except ValueError:
            raise ClockSettingError(f"{setting}: {value!r} is not a time; expected "
                                    f"{CLOCK_FORMS}") from None
    if callable(getattr(value, "now", None)) and not isinstance(value, type):
        return value  # type: ignore[return-value]
    raise ClockSettingError(f"{setting}: {value!r} is not a time; expected {CLOCK_FORMS}")
