"""Meetings' own indexes over its log, written with the events they index."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chibo.errors import ConcurrencyError
from chibo.eventstore.tables import events
from services.meetings.domain import meeting_stream, task_stream

metadata = MetaData()

held_meetings = Table(
    "held_meetings", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("held_on", Date, nullable=False),
)

#: Make-up meetings: each counts for the month it makes up, not for the one it was held in.
#: One per cell and month: two recorded at once cannot both make up the same month.
make_ups = Table(
    "make_up_meetings", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("month", String(7), nullable=False),
    UniqueConstraint("cell_id", "month", name="one_make_up_a_month"),
)

open_tasks = Table(
    "tasks_index", metadata,
    Column("task_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("due_on", Date, nullable=False, index=True),
    Column("state", String(20), nullable=False),
)


def index(session: Session, recorded: Iterable[Any]) -> None:
    for event in recorded:
        data = event.data
        if event.type == "meeting_held":
            session.execute(insert(held_meetings).values(
                meeting_id=data["meeting_id"], cell_id=data["cell_id"], kind=data["kind"],
                held_on=date.fromisoformat(str(data["held_on"]))))
            if data.get("makes_up_month"):
                _index_make_up(session, data)
        elif event.type == "task_assigned":
            session.execute(insert(open_tasks).values(
                task_id=data["task_id"], cell_id=data["cell_id"],
                due_on=date.fromisoformat(str(data["due_on"])), state="assigned"))
        elif event.type in ("task_completed", "task_cancelled", "task_overdue"):
            state = {"task_completed": "completed", "task_cancelled": "cancelled",
                     "task_overdue": "overdue"}[event.type]
            session.execute(update(open_tasks).where(open_tasks.c.task_id == data["task_id"])
                            .values(state=state))


def _index_make_up(session: Session, data: dict[str, Any]) -> None:
    """The rule checks a month has no make-up before deciding; a make-up of the same month
    committed meanwhile (PostgreSQL lets commands decide side by side) is caught here,
    and the command fails whole, as any concurrent change does."""
    try:
        with session.begin_nested():
            session.execute(insert(make_ups).values(
                meeting_id=data["meeting_id"], cell_id=data["cell_id"],
                month=data["makes_up_month"]))
    except IntegrityError:
        raise ConcurrencyError(
            f"Tháng {data['makes_up_month']} của chi bộ vừa được ghi một buổi sinh hoạt bù "
            f"khác (another make-up of {data['makes_up_month']} for this cell was recorded "
            "meanwhile); tải lại và xem lại (reload and decide again).") from None


def regular_meetings_in_month(session: Session, cell_id: str, day: date) -> int:
    """The regular meetings that count for the month of `day`."""
    return regular_meetings_for(session, cell_id, day.strftime("%Y-%m"))


def regular_meetings_for(session: Session, cell_id: str, month: str) -> int:
    """The regular (and combined) meetings that count for `month` ("YYYY-MM"): those
    dated in it that make up no other month, and the make-ups of it."""
    first = date.fromisoformat(f"{month}-01")
    following = (first.replace(year=first.year + 1, month=1) if first.month == 12
                 else first.replace(month=first.month + 1))
    dated = int(session.execute(select(func.count()).select_from(held_meetings).where(
        held_meetings.c.cell_id == cell_id, held_meetings.c.kind.in_(("regular", "combined")),
        held_meetings.c.held_on >= first, held_meetings.c.held_on < following,
        ~held_meetings.c.meeting_id.in_(
            select(make_ups.c.meeting_id).where(make_ups.c.cell_id == cell_id)))).scalar())
    made_up = int(session.execute(select(func.count()).select_from(make_ups).where(
        make_ups.c.cell_id == cell_id, make_ups.c.month == month)).scalar())
    return dated + made_up


def open_task_ids(session: Session, cell_id: str) -> list[str]:
    return list(session.execute(select(open_tasks.c.task_id).where(
        open_tasks.c.cell_id == cell_id, open_tasks.c.state.in_(("assigned", "overdue")))
        .order_by(open_tasks.c.due_on, open_tasks.c.task_id)).scalars())


def due_task_ids(session: Session, before: date) -> list[str]:
    return list(session.execute(select(open_tasks.c.task_id).where(
        open_tasks.c.state == "assigned", open_tasks.c.due_on < before)).scalars())


# -- where a meeting or a task belongs ----------------------------------------------

def meeting_cell(session: Session, meeting_id: str) -> str | None:
    """The cell a meeting is of: its stream's first event (scheduled or held) names it;
    no later event changes it. None: no such meeting."""
    return _first_cell(session, meeting_stream(meeting_id))


def task_cell(session: Session, task_id: str) -> str | None:
    """The cell a task was assigned by. None: no such task."""
    found = session.execute(select(open_tasks.c.cell_id)
                            .where(open_tasks.c.task_id == task_id)).scalar()
    if found is not None:
        return str(found)
    return _first_cell(session, task_stream(task_id))


def _first_cell(session: Session, stream_id: str) -> str | None:
    data = session.execute(select(events.c.data).where(events.c.stream_id == stream_id)
                           .order_by(events.c.stream_version).limit(1)).scalar()
    if data is None:
        return None
    cell_id = json.loads(data).get("cell_id")
    return str(cell_id) if cell_id else None
