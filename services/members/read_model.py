"""Members' own indexes over its log, written in the same transaction as the
events they index, so a command always sees them current."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

metadata = MetaData()

members_index = Table(
    "members_index", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("member_code", String(40), unique=True, nullable=True),
    Column("full_name", String(200), nullable=False),
    Column("cell_id", String(100), nullable=True, index=True),
    Column("admitted_on", Date, nullable=False),
    Column("full_since", Date, nullable=True),
    Column("removed_on", Date, nullable=True),
    Column("reminded", Boolean, nullable=False, default=False),
)

#: Every cell a member ever belonged to or attended: whose histories a roll needs.
member_cells = Table(
    "member_cells", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("cell_id", String(100), primary_key=True),
    # A roll or a cell's dissolution asks for the cell's members: without it each read
    # the whole table (12 ms at a province's 250,000 members, against 0.1 ms).
    Index("member_cells_by_cell", "cell_id", "member_id"),
)

#: What signing in checks, beside the account's events: the password's argon2 hash,
#: the second factor's secret (and one being enrolled), failed logins in a row and the
#: lockout they caused. Written in the transaction of the event that changes them;
#: nothing here is ever published.
account_secrets = Table(
    "account_secrets", metadata,
    Column("account_id", String(100), primary_key=True),
    Column("login", String(100), nullable=False, unique=True),
    Column("external_id", String(400), nullable=True, unique=True),
    Column("password_hash", String(300), nullable=True),
    Column("totp_secret", String(64), nullable=True),
    Column("totp_pending", String(64), nullable=True),
    Column("failed_logins", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("closed", Boolean, nullable=False, default=False),
)

#: Sign-in attempts of the last minute per login, for the rate limit.
sign_in_attempts = Table(
    "sign_in_attempts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(100), nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
)


def _day(value: Any) -> date | None:
    return value if value is None or isinstance(value, date) else date.fromisoformat(value)


def index(session: Session, recorded: Iterable[Any]) -> None:
    recorded = list(recorded)
    # Admissions come by the thousand in an import: insert them in two statements.
    admitted = [e.data for e in recorded if e.type == "member_admitted"]
    if admitted:
        session.execute(insert(members_index), [{
            "member_id": d["member_id"], "member_code": d.get("member_code"),
            "full_name": d["full_name"], "cell_id": d["cell_id"],
            "admitted_on": _day(d["admitted_on"]), "reminded": False} for d in admitted])
        session.execute(insert(member_cells), [
            {"member_id": d["member_id"], "cell_id": d["cell_id"]} for d in admitted])
    confirmed = [e.data for e in recorded if e.type == "member_confirmed"]
    if confirmed:
        session.execute(
            update(members_index).where(members_index.c.member_id == bindparam("who"))
            .values(full_since=bindparam("since")),
            [{"who": d["member_id"], "since": _day(d["effective_date"])} for d in confirmed])
    for event in recorded:
        data, kind = event.data, event.type
        if kind == "member_renamed":
            _set(session, data["member_id"], full_name=data["full_name"])
        elif kind == "membership_confirmation_due":
            _set(session, data["member_id"], reminded=True)
        elif kind == "member_transferred":
            _set(session, data["member_id"], cell_id=data.get("to_cell_id"))
            if data.get("to_cell_id"):
                _link(session, data["member_id"], data["to_cell_id"])
        elif kind == "member_temporarily_transferred" and data.get("to_cell_id"):
            _link(session, data["member_id"], data["to_cell_id"])
        elif kind == "member_removed":
            _set(session, data["member_id"], removed_on=_day(data["effective_date"]))


def _set(session: Session, member_id: str, **values: Any) -> None:
    session.execute(update(members_index).where(members_index.c.member_id == member_id)
                    .values(**values))


def _link(session: Session, member_id: str, cell_id: str) -> None:
    exists = session.execute(select(member_cells.c.member_id).where(
        (member_cells.c.member_id == member_id) & (member_cells.c.cell_id == cell_id))).first()
    if exists is None:
        session.execute(insert(member_cells).values(member_id=member_id, cell_id=cell_id))


def member_ids_of_cells(session: Session, cell_ids: Iterable[str]) -> list[str]:
    cell_ids = list(cell_ids)
    if not cell_ids:
        return []
    rows = session.execute(select(member_cells.c.member_id)
                           .where(member_cells.c.cell_id.in_(cell_ids))).scalars()
    return sorted(set(rows))


def member_ids_by_code(session: Session, codes: Iterable[str]) -> dict[str, str]:
    codes = list(codes)
    if not codes:
        return {}
    rows = session.execute(select(members_index.c.member_code, members_index.c.member_id)
                           .where(members_index.c.member_code.in_(codes))).all()
    return {r.member_code: r.member_id for r in rows}


def unconfirmed_member_ids(session: Session, admitted_by: date) -> list[str]:
    rows = session.execute(select(members_index.c.member_id).where(
        members_index.c.full_since.is_(None), members_index.c.removed_on.is_(None),
        members_index.c.reminded.is_(False), members_index.c.admitted_on <= admitted_by))
    return list(rows.scalars())


def cells_of_member(session: Session, member_id: str) -> list[str]:
    """Every cell the member ever belonged to or attended."""
    rows = session.execute(select(member_cells.c.cell_id)
                           .where(member_cells.c.member_id == member_id)).scalars()
    return sorted(set(rows))
