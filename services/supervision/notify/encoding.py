"""How notifications write values: escalations as JSON with dates in ISO form, moments in UTC."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive moment is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def utc_naive(moment: datetime) -> datetime:
    """`moment` in UTC without its offset, as the notifications table stores times."""
    return as_utc(moment).replace(tzinfo=None)


def json_default(value: Any) -> Any:
    """`json.dumps` default: dates as ISO text, other iterables as lists, the rest as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)
