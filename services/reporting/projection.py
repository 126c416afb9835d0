"""Reporting's archive and read models, projected from every service's events.

`project` is the only writer: the live feed and a rebuild from the logs both
go through it, so they cannot disagree.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.common import month_of
from services.members.tree import KINDS

metadata = MetaData()

archive = Table(
    "archive", metadata,
    Column("source", String(50), primary_key=True),
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("type", String(100), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("data", Text, nullable=False),
    Column("metadata", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("hash", String(64), nullable=False),
)

cells = Table(
    "cells", metadata,
    Column("cell_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("parent_id", String(100), nullable=True),
)

cell_months = Table(
    "cell_months", metadata,
    Column("cell_id", String(100), primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("regular_held", Boolean, nullable=False, default=False),
    Column("meetings", Integer, nullable=False, default=0),
    Column("members_counted", Integer, nullable=False, default=0),
    Column("members_present", Integer, nullable=False, default=0),
    Column("visits", Integer, nullable=False, default=0),
    Column("thematic_meetings", Integer, nullable=False, default=0),
    Column("quality_level", String(20), nullable=True),
)

tasks = Table(
    "tasks", metadata,
    Column("task_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("meeting_id", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("assignee_name", String(200), nullable=False),
    Column("due_on", String(10), nullable=False),
    Column("state", String(20), nullable=False),
    Column("completed_on", String(10), nullable=True),
)

READ_MODELS = (cells, cell_months, tasks)
TASK_STATES = {"task_completed": "completed", "task_overdue": "overdue",
               "task_cancelled": "cancelled"}


def project(session: Session, envelope: dict[str, Any]) -> None:
    session.execute(insert(archive).values(
        source=envelope["source"], position=envelope["position"],
        event_id=envelope["event_id"], stream_id=envelope["stream_id"], type=envelope["type"],
        version=envelope["version"],
        data=json.dumps(envelope["data"], ensure_ascii=False, sort_keys=True),
        metadata=json.dumps(envelope["metadata"], ensure_ascii=False, sort_keys=True),
        recorded_at=envelope["recorded_at"], hash=envelope["hash"]))
    data, kind = envelope["data"], envelope["type"]
    if kind == "unit_established" and KINDS.get(data["kind"]) and KINDS[data["kind"]].meets:
        session.execute(insert(cells).values(cell_id=data["unit_id"], name=data["name"],
                                             parent_id=data.get("parent_id")))
    elif kind == "unit_renamed":
        session.execute(update(cells).where(cells.c.cell_id == data["unit_id"])
                        .values(name=data["name"]))
    elif kind == "meeting_held":
        row = _cell_month(session, data["cell_id"], month_of(date.fromisoformat(data["held_on"])))
        values: dict[str, Any] = {"meetings": row["meetings"] + 1}
        if data["kind"] in ("regular", "combined"):
            values.update(regular_held=True,
                          members_counted=row["members_counted"] + data["members_counted"],
                          members_present=row["members_present"] + data["members_present"])
            if data.get("self_score"):
                values["quality_level"] = data["self_score"]["level"]
        if data["kind"] in ("thematic", "combined"):
            values["thematic_meetings"] = row["thematic_meetings"] + 1
        _update_cell_month(session, row, values)
    elif kind == "task_assigned":
        session.execute(insert(tasks).values(
            task_id=data["task_id"], cell_id=data["cell_id"], meeting_id=data["meeting_id"],
            title=data["title"], assignee_name=data["assignee_name"], due_on=data["due_on"],
            state="assigned"))
    elif kind in TASK_STATES:
        session.execute(update(tasks).where(tasks.c.task_id == data["task_id"]).values(
            state=TASK_STATES[kind], completed_on=data.get("completed_on")))
    elif kind == "visit_logged":
        row = _cell_month(session, data["cell_id"],
                          month_of(date.fromisoformat(data["visited_on"])))
        _update_cell_month(session, row, {"visits": row["visits"] + 1})


def _cell_month(session: Session, cell_id: str, month: str) -> dict[str, Any]:
    key = (cell_months.c.cell_id == cell_id) & (cell_months.c.month == month)
    row = session.execute(select(cell_months).where(key)).first()
    if row is None:
        session.execute(insert(cell_months).values(
            cell_id=cell_id, month=month, regular_held=False, meetings=0, members_counted=0,
            members_present=0, visits=0, thematic_meetings=0, quality_level=None))
        row = session.execute(select(cell_months).where(key)).one()
    return dict(row._mapping)


def _update_cell_month(session: Session, row: dict[str, Any], values: dict[str, Any]) -> None:
    session.execute(update(cell_months).where(cell_months.c.cell_id == row["cell_id"])
                    .where(cell_months.c.month == row["month"]).values(**values))


def cell_month_report(session: Session, month: str) -> list[dict[str, Any]]:
    """Every known cell for `month`: whether it held its regular meeting, and attendance."""
    rows = session.execute(
        select(cells.c.cell_id, cells.c.name, cell_months.c.regular_held, cell_months.c.meetings,
               cell_months.c.members_counted, cell_months.c.members_present,
               cell_months.c.visits, cell_months.c.thematic_meetings,
               cell_months.c.quality_level)
        .select_from(cells.outerjoin(cell_months, (cell_months.c.cell_id == cells.c.cell_id)
                                     & (cell_months.c.month == month)))
        .order_by(cells.c.name, cells.c.cell_id)).all()
    return [{
        "cell_id": r.cell_id, "cell_name": r.name, "month": month,
        "regular_held": bool(r.regular_held), "meetings": r.meetings or 0,
        "attendance_rate": (round(r.members_present / r.members_counted, 4)
                            if r.members_counted else None),
        "visits": r.visits or 0, "thematic_meetings": r.thematic_meetings or 0,
        "quality_level": r.quality_level,
    } for r in rows]


def cell_tasks(session: Session, cell_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(tasks).where(tasks.c.cell_id == cell_id)
                           .order_by(tasks.c.due_on, tasks.c.task_id)).all()
    return [dict(r._mapping) for r in rows]


def snapshot(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read model and the archive, in key order: for comparisons."""
    out = {}
    for table in (archive, *READ_MODELS):
        rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
        out[table.name] = [tuple(r) for r in rows]
    return out
