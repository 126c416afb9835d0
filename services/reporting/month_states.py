"""What a cell's month is, on the heat map and the cell's page, on a given day.

held        a regular meeting counts for it, dated inside it (with the weakest level held)
held_late   only a make-up meeting (sinh hoạt bù), held after it, counts for it
missed      it has been judged (ended, and its grace days passed) with no meeting
not_due     not judged yet: still running, ended within its grace days, or to come
not_established / dissolved
            the cell did not exist for the whole month (supervision judges only
            cells that did), and no meeting counts for it
none        no figures: the reports hold nothing at all for that month
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.reporting.periods import month_days
from services.reporting.read_model import meetings, units

STATES = ("held", "held_late", "missed", "not_due", "not_established", "dissolved", "none")
LEVELS = ("good", "fair", "average", "poor")
#: The days after a month's end before supervision judges it: the config files'
#: default (SUPERVISION.grace_days, CHIBO_GRACE_DAYS), for callers not given the setting.
DEFAULT_GRACE_DAYS = 5
_CHUNK = 1000

Lifetime = tuple[str, str | None]  # established_on, dissolved_on (ISO dates)


def lifetimes(session: Session, cell_ids: Iterable[str]) -> dict[str, Lifetime]:
    """When each cell was established and dissolved (None: it stands)."""
    ids = sorted(set(cell_ids))
    out: dict[str, Lifetime] = {}
    for start in range(0, len(ids), _CHUNK):
        out.update({r.unit_id: (r.established_on, r.dissolved_on) for r in session.execute(
            select(units.c.unit_id, units.c.established_on, units.c.dissolved_on)
            .where(units.c.unit_id.in_(ids[start:start + _CHUNK])))})
    return out


def made_up(session: Session, cell_ids: Iterable[str], months: list[str]
            ) -> dict[tuple[str, str], int]:
    """How many make-up meetings count for each (cell, month) that has any."""
    ids = sorted(set(cell_ids))
    out: dict[tuple[str, str], int] = {}
    for start in range(0, len(ids), _CHUNK):
        out.update({(r.cell_id, r.month): int(r.n) for r in session.execute(
            select(meetings.c.cell_id, meetings.c.month, func.count().label("n"))
            .where(meetings.c.makes_up_month.is_not(None))
            .where(meetings.c.cell_id.in_(ids[start:start + _CHUNK]))
            .where(meetings.c.month.in_(months))
            .group_by(meetings.c.cell_id, meetings.c.month))})
    return out


def month_state(row: Mapping[str, Any] | None, month: str, today: date,
                grace_days: int = DEFAULT_GRACE_DAYS, lifetime: Lifetime | None = None,
                made_up_meetings: int = 0) -> dict[str, Any]:
    """A cell-month's state (see the module's docstring) from its figures (`row`, a
    cell_periods row or None), the cell's `lifetime` and how many make-up meetings
    count for the month."""
    first, last = month_days(month)
    if lifetime is not None and lifetime[0] > last.isoformat():
        return {"state": "not_established"}
    if lifetime is not None and lifetime[1] is not None and lifetime[1] <= first.isoformat():
        return {"state": "dissolved"}
    if row is not None and row["months_met"]:
        # The lowest level held that month: oversight looks at the weakest meeting.
        level = next((lv for lv in reversed(LEVELS) if row[f"q_{lv}"]), "unscored")
        late = made_up_meetings > 0 and made_up_meetings >= row["regular_meetings"]
        return {"state": "held_late" if late else "held", "level": level}
    if today <= last + timedelta(days=grace_days):
        return {"state": "not_due"}
    if lifetime is not None and lifetime[0] > first.isoformat():
        return {"state": "not_established"}  # set up during the month: not judged
    if lifetime is not None and lifetime[1] is not None and lifetime[1] <= last.isoformat():
        return {"state": "dissolved"}  # dissolved during the month: not judged
    if row is None:
        return {"state": "none"}
    return {"state": "missed"}
