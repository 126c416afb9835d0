"""The roster replica: what meetings knows of cells and members, built from
the members service's events through an ordered feed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Column, Date, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

metadata = MetaData()

units = Table(
    "replica_units", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(30), nullable=False),
)

roster = Table(
    "replica_roster", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("cell_id", String(100), nullable=False, index=True),
    Column("full_name", String(200), nullable=False),
    Column("admitted_on", Date, nullable=False),
)


def apply_member_event(session: Session, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    if envelope["type"] == "unit_established":
        session.execute(insert(units).values(unit_id=data["unit_id"], name=data["name"],
                                             kind=data["kind"]))
    elif envelope["type"] == "member_admitted":
        session.execute(insert(roster).values(
            member_id=data["member_id"], cell_id=data["cell_id"], full_name=data["full_name"],
            admitted_on=date.fromisoformat(data["admitted_on"])))


def cell(session: Session, cell_id: str) -> dict[str, Any] | None:
    row = session.execute(select(units).where(units.c.unit_id == cell_id)).first()
    return dict(row._mapping) if row else None


def members_of(session: Session, cell_id: str) -> list[dict[str, Any]]:
    rows = session.execute(select(roster).where(roster.c.cell_id == cell_id)
                           .order_by(roster.c.full_name)).all()
    return [dict(r._mapping) for r in rows]
