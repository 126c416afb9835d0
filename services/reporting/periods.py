"""Report periods as strings: months '2026-10', quarters '2026-Q4', years '2026'."""

from __future__ import annotations

import calendar
import re
from datetime import date

from chibo.errors import ValidationFailed
from chibo.inputs import MAX_YEAR, MIN_YEAR

PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")


def quarter_of(month: str) -> str:
    return f"{month[:4]}-Q{(int(month[5:7]) - 1) // 3 + 1}"


def month_days(month: str) -> tuple[date, date]:
    year, number = int(month[:4]), int(month[5:7])
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def kind_of(period: str) -> str:
    return "quarter" if "Q" in period else ("month" if len(period) == 7 else "year")


def months_of(period: str) -> list[str]:
    """The months a period covers, in order."""
    match = PERIOD.match(period)
    if not match:
        raise ValueError(period)
    year, month, quarter = match.groups()
    if month:
        return [period]
    numbers = range(3 * int(quarter) - 2, 3 * int(quarter) + 1) if quarter else range(1, 13)
    return [f"{year}-{n:02d}" for n in numbers]


def bounds(period: str) -> tuple[date, date]:
    months = months_of(period)
    return month_days(months[0])[0], month_days(months[-1])[1]


def parse(value: str | None, field: str = "period") -> str:
    match = PERIOD.match(value) if value else None
    if not match:
        raise ValidationFailed({field: [
            "Expected a month (2026-10), a quarter (2026-Q4) or a year (2026)."]})
    if not MIN_YEAR <= int(match.group(1)) <= MAX_YEAR:
        # Trends step back years from here: year 0 or 10000 has no dates to step over.
        raise ValidationFailed({field: [f"Expected a year from {MIN_YEAR} to {MAX_YEAR}."]})
    return value


def previous_months(month: str, count: int) -> list[str]:
    """`count` months ending with `month`, oldest first."""
    year, number = int(month[:4]), int(month[5:7])
    out = []
    for _ in range(count):
        out.append(f"{year}-{number:02d}")
        number -= 1
        if number == 0:
            year, number = year - 1, 12
    return list(reversed(out))


def trend_periods(period: str, count: int = 12) -> list[str]:
    """The periods of the same kind leading up to `period`, oldest first."""
    kind = kind_of(period)
    if kind == "month":
        return previous_months(period, count)
    if kind == "year":
        return [str(int(period) - n) for n in range(min(count, 5) - 1, -1, -1)]
    year, quarter = int(period[:4]), int(period[-1])
    out = []
    for _ in range(min(count, 8)):
        out.append(f"{year}-Q{quarter}")
        quarter -= 1
        if quarter == 0:
            year, quarter = year - 1, 4
    return list(reversed(out))
