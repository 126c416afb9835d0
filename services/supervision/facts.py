"""What supervision knows of other services, from their events (ordered feeds).

Each fact keeps the source position it came from, so a decision can be
re-made exactly as it was: a period close records the watermarks it saw, and
the rules read only facts at or below them.
"""

from __future__ import annotations

import json
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from services.members.tree import Tree

metadata = MetaData()

unit_events = Table(
    "fact_unit_events", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(60), nullable=False),
    Column("data", Text, nullable=False),
)

held = Table(
    "fact_meetings", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("held_on", Date, nullable=False, index=True),
    Column("level", String(20), nullable=True),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
)

#: Make-up meetings (sinh hoạt bù): a regular meeting held after the month it makes up,
#: which counts for that month and not for the one it was held in.
make_ups = Table(
    "fact_make_ups", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("month", String(7), nullable=False, index=True),
    Column("position", BigInteger, nullable=False),
)

absences = Table(
    "fact_absences", metadata,
    Column("meeting_id", String(100), primary_key=True),
    Column("member_id", String(100), primary_key=True),
    Column("full_name", String(200), nullable=False),
    Column("cell_id", String(100), nullable=False),
    Column("held_on", Date, nullable=False, index=True),
    Column("unexcused", Boolean, nullable=False),
    Column("dues_unpaid", Boolean, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
)

tasks = Table(
    "fact_tasks", metadata,
    Column("task_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("due_on", Date, nullable=False, index=True),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("closed_position", BigInteger, nullable=True),
)


def apply(session: Session, envelope: dict[str, Any]) -> None:
    """The feed's projector: facts from members' and meetings' events."""
    if envelope["source"] == "members":
        apply_members_event(session, envelope)
    elif envelope["source"] == "meetings":
        apply_meetings_event(session, envelope)


def apply_members_event(session: Session, envelope: dict[str, Any]) -> None:
    if envelope["type"].startswith("unit"):
        session.execute(insert(unit_events).values(
            position=envelope["position"], type=envelope["type"],
            data=json.dumps(envelope["data"], ensure_ascii=False)))


def apply_meetings_event(session: Session, envelope: dict[str, Any]) -> None:
    data, kind, position = envelope["data"], envelope["type"], envelope["position"]
    if kind == "meeting_held":
        score = data.get("self_score") or {}
        held_on = date.fromisoformat(data["held_on"])
        session.execute(insert(held).values(
            meeting_id=data["meeting_id"], cell_id=data["cell_id"], kind=data["kind"],
            held_on=held_on, level=score.get("level"), event_id=envelope["event_id"],
            position=position))
        if data.get("makes_up_month"):
            session.execute(insert(make_ups).values(
                meeting_id=data["meeting_id"], cell_id=data["cell_id"],
                month=data["makes_up_month"], position=position))
        rows = [{"meeting_id": data["meeting_id"], "member_id": a["member_id"],
                 "full_name": a["full_name"], "cell_id": data["cell_id"], "held_on": held_on,
                 "unexcused": a["status"] == "absent_unexcused",
                 "dues_unpaid": a.get("dues_paid") is False,
                 "event_id": envelope["event_id"], "position": position}
                for a in data["attendance"] if a.get("counted", True)
                and (a["status"] == "absent_unexcused" or a.get("dues_paid") is False)]
        if rows:
            session.execute(insert(absences), rows)
    elif kind == "task_assigned":
        session.execute(insert(tasks).values(
            task_id=data["task_id"], cell_id=data["cell_id"], title=data["title"],
            due_on=date.fromisoformat(data["due_on"]), event_id=envelope["event_id"],
            position=position))
    elif kind in ("task_completed", "task_cancelled"):
        session.execute(update(tasks).where(tasks.c.task_id == data["task_id"])
                        .values(closed_position=position))


class Facts:
    """The facts as they stood at given source watermarks: the input of every rule."""

    def __init__(self, session: Session, watermarks: dict[str, int]) -> None:
        self.session = session
        self.members_wm = int(watermarks.get("members", 0))
        self.meetings_wm = int(watermarks.get("meetings", 0))
        self._tree: Tree | None = None

    def tree(self) -> Tree:
        if self._tree is None:
            rows = self.session.execute(
                select(unit_events).where(unit_events.c.position <= self.members_wm)
                .order_by(unit_events.c.position)).all()
            self._tree = Tree.from_events(
                SimpleNamespace(type=r.type, data=json.loads(r.data)) for r in rows)
        return self._tree

    def meetings_between(self, first: date, last: date) -> list[Any]:
        return self.session.execute(
            select(held.c.meeting_id, held.c.cell_id, held.c.kind, held.c.held_on,
                   held.c.level, held.c.event_id).where(
                held.c.held_on >= first, held.c.held_on <= last,
                held.c.position <= self.meetings_wm)
            .order_by(held.c.held_on, held.c.meeting_id)).all()

    def regular_meetings_for(self, first_month: str, last_month: str) -> list[Any]:
        """Regular (and combined) meetings that count for the months `first_month` to
        `last_month` ("YYYY-MM"), each with the `month` it counts for and whether it
        was a make-up (`made_up`): the meetings dated in those months that make up no
        other, and the make-ups of those months, wherever dated."""
        first = date.fromisoformat(f"{first_month}-01")
        last = date.fromisoformat(f"{last_month}-01")
        last = (last.replace(year=last.year + 1, month=1) if last.month == 12
                else last.replace(month=last.month + 1))
        visible = held.c.position <= self.meetings_wm
        columns = (held.c.meeting_id, held.c.cell_id, held.c.kind, held.c.held_on,
                   held.c.level, held.c.event_id)
        on_time = self.session.execute(
            select(*columns).where(
                held.c.held_on >= first, held.c.held_on < last, visible,
                held.c.kind.in_(("regular", "combined")),
                ~held.c.meeting_id.in_(select(make_ups.c.meeting_id)))).all()
        late = self.session.execute(
            select(*columns, make_ups.c.month).join(
                make_ups, make_ups.c.meeting_id == held.c.meeting_id).where(
                make_ups.c.month >= first_month, make_ups.c.month <= last_month,
                visible)).all()
        rows = [SimpleNamespace(**r._mapping, month=r.held_on.strftime("%Y-%m"),
                                made_up=False) for r in on_time]
        rows += [SimpleNamespace(**r._mapping, made_up=True) for r in late]
        # Ordered fully: decisions must not depend on the order rows come back in.
        return sorted(rows, key=lambda r: (r.held_on, r.meeting_id))

    def absences_between(self, first: date, last: date, of_members_absent_from: date | None = None
                         ) -> list[Any]:
        """Absences in [first, last]; with `of_members_absent_from`, only of members who
        were also absent on or after that day (the ones a month's close must look at)."""
        visible = absences.c.position <= self.meetings_wm
        query = select(absences.c.member_id, absences.c.full_name, absences.c.cell_id,
                       absences.c.held_on, absences.c.event_id).where(
            absences.c.held_on >= first, absences.c.held_on <= last, visible)
        if of_members_absent_from is not None:
            recent = select(absences.c.member_id).where(
                absences.c.held_on >= of_members_absent_from, absences.c.held_on <= last,
                visible)
            query = query.where(absences.c.member_id.in_(recent))
        # Ordered fully: decisions (and their order in the log) must not depend on
        # the order a backend happens to return rows in.
        return self.session.execute(query.order_by(absences.c.held_on, absences.c.member_id,
                                                   absences.c.meeting_id)).all()

    def open_tasks_due_by(self, day: date) -> list[Any]:
        closed = tasks.c.closed_position
        return self.session.execute(select(tasks).where(
            tasks.c.due_on <= day, tasks.c.position <= self.meetings_wm,
            (closed.is_(None)) | (closed > self.meetings_wm))
            .order_by(tasks.c.due_on, tasks.c.task_id)).all()
