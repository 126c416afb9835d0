"""What callers may send: strict fields for command bodies, checked parameters for URLs.

JSON has distinct types for numbers, booleans and text, and a command means one of
them: a year is an integer, so `2025.5`, `true` and `"2024"` are refused rather than
rounded, cast or parsed. Dates are text in exactly one form, `YYYY-MM-DD`.

Every date and year is kept inside one window (`EARLIEST`..`LATEST`): rules add months
and compare years, reports step back over periods, and a year such as 0 or 10000
would take that arithmetic outside what Python's dates can hold (a 500 instead of a
clear refusal). URL path and query parameters arrive as text, so they get their own
parsers here with the same window and bounds; each failure is a ValidationFailed
naming the parameter.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import ValidationError, fields, validate

from chibo.errors import ValidationFailed

EARLIEST = date(1900, 1, 1)
LATEST = date(2200, 12, 31)
MIN_YEAR, MAX_YEAR = EARLIEST.year, LATEST.year
#: Large enough for any count the system keeps, small enough for a database integer.
MAX_WHOLE_NUMBER = 2**31 - 1

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_WHOLE = re.compile(r"^[+-]?\d{1,12}$")
_WINDOW_TEXT = f"{EARLIEST:%d/%m/%Y} to {LATEST:%d/%m/%Y}"


class Integer(fields.Integer):
    """A JSON integer: floats (even 2025.0), booleans and numeric text are refused.
    `minimum`/`maximum` bound it (inclusive)."""

    def __init__(self, minimum: int | None = None, maximum: int | None = None,
                 **kwargs: Any) -> None:
        validators = list(_as_list(kwargs.pop("validate", None)))
        if minimum is not None or maximum is not None:
            validators.append(validate.Range(min=minimum, max=maximum))
        super().__init__(strict=True, validate=validators, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):  # bool is an int to Python, never to a caller
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Year(Integer):
    """A calendar year as a JSON integer inside the window."""

    def __init__(self, minimum: int = MIN_YEAR, maximum: int = MAX_YEAR, **kwargs: Any) -> None:
        super().__init__(minimum=max(minimum, MIN_YEAR), maximum=min(maximum, MAX_YEAR),
                         **kwargs)


class Boolean(fields.Boolean):
    """JSON `true` or `false` only: not 1, "yes", "on" or "true"."""

    default_error_messages = {"invalid": "Expected true or false."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={True}, falsy={False}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):  # 1 == True, so the sets alone would accept 1 and 0
            raise self.make_error("invalid", input=value)
        return value


class Date(fields.Date):
    """A date written `YYYY-MM-DD` (not `20260101`, not a week date), inside the window."""

    default_error_messages = {
        "invalid": "Expected a date as YYYY-MM-DD.",
        "no_such_day": "No such day: {input}.",
        "window": f"Expected a date from {_WINDOW_TEXT}.",
    }

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date:
        if isinstance(value, date) and not hasattr(value, "hour"):
            day = value  # an in-process caller's date object
        elif isinstance(value, str) and _DAY.match(value):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise self.make_error("no_such_day", input=value) from None
        else:
            raise self.make_error("invalid", input=value)
        if not EARLIEST <= day <= LATEST:
            raise self.make_error("window", input=value)
        return day


# --------------------------------------------------------------------------- URL parameters


def whole_number(value: str | None, field: str, minimum: int = 0,
                 maximum: int = MAX_WHOLE_NUMBER) -> int | None:
    """An optional whole number from a path or query parameter (None when absent)."""
    if value in (None, ""):
        return None
    return _bounded(value, field, minimum, maximum, "a whole number")


def year(value: str | int | None, field: str = "year", required: bool = False) -> int | None:
    """A calendar year from a path or query parameter (or an RPC argument), inside the
    window; None when absent and not `required`."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if value in (None, ""):
        if required:
            raise ValidationFailed({field: [f"Required: a year from {MIN_YEAR} to {MAX_YEAR}."]})
        return None
    return _bounded(value, field, MIN_YEAR, MAX_YEAR, "a year")


def _bounded(value: Any, field: str, minimum: int, maximum: int, what: str) -> int:
    text = str(value).strip()
    number = int(text) if _WHOLE.match(text) else None
    if number is None or not minimum <= number <= maximum:
        raise ValidationFailed({field: [
            f"Expected {what} from {minimum} to {maximum}, got {_shown(value)}."]})
    return number


def day(value: str | None, field: str = "on") -> date | None:
    """An optional `YYYY-MM-DD` date from a query parameter, inside the window."""
    if value in (None, ""):
        return None
    try:
        return Date().deserialize(value)
    except ValidationError as exc:
        raise ValidationFailed({field: list(exc.messages)}) from None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…'"


def _as_list(validators: Any) -> list[Any]:
    if validators is None:
        return []
    return list(validators) if isinstance(validators, list | tuple) else [validators]
