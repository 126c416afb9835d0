"""Meetings' replica of the members service: the units, their history in the tree and
every member event, built through an ordered feed. Rolls are answered by the same pure
code the members service uses (services.shared.membership), and a unit's place in the
tree by the same tree (services.shared.tree), so both agree."""

from __future__ import annotations

import json
from datetime import date, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
)
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from chibo.db import GrowingTableCache, upsert
from services.shared.membership import fold, roll
from services.shared.tree import Tree, UnitKinds

metadata = MetaData()

units = Table(
    "replica_units", metadata,
    Column("unit_id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("established_on", Date, nullable=False),
    Column("dissolved_on", Date, nullable=True),
)

#: The tree's own events (established, renamed, moved, dissolved) as members published
#: them: the tree through time, for where a unit sits today (`unit_path`).
unit_events = Table(
    "replica_unit_events", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(60), nullable=False),
    Column("data", Text, nullable=False),
)
TREE_EVENTS = ("unit_established", "unit_renamed", "unit_moved", "unit_dissolved")

member_events = Table(
    "replica_member_events", metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("member_id", String(100), nullable=False, index=True),
    Column("type", String(100), nullable=False),
    Column("data", Text, nullable=False),
)

member_cells = Table(
    "replica_member_cells", metadata,
    Column("member_id", String(100), primary_key=True),
    Column("cell_id", String(100), primary_key=True),
    # Every roll asks for one cell's members: without it each roll read the whole table
    # (12 ms at a province's 250,000 members, against 0.1 ms).
    Index("replica_member_cells_by_cell", "cell_id", "member_id"),
)

_CELL_FIELDS = ("cell_id", "to_cell_id")


def apply_member_event(session: Session, envelope: dict[str, Any]) -> None:
    apply_member_run(session, [envelope])


def apply_member_run(session: Session, envelopes: list[dict[str, Any]]) -> None:
    """Take in a run of the members service's events: the rows of the whole run go in
    one statement per table (the feed's run is one transaction), except a unit's rename
    or dissolution, which updates a row an earlier event of the run may have inserted:
    the rows gathered so far are written first."""
    rows: dict[Table, list[dict[str, Any]]] = {unit_events: [], units: [], member_events: []}
    links: dict[tuple[str, str], dict[str, str]] = {}

    def flush() -> None:
        for table, pending in rows.items():
            if pending:
                session.execute(insert(table), pending)
                pending.clear()
        # A member's cell is linked once, however often its events name it.
        upsert(session, member_cells, list(links.values()))
        links.clear()

    for envelope in envelopes:
        data, kind = envelope["data"], envelope["type"]
        if kind in TREE_EVENTS:
            rows[unit_events].append({"position": envelope["position"], "type": kind,
                                      "data": json.dumps(data, ensure_ascii=False,
                                                         default=str)})
        if kind == "unit_established":
            rows[units].append({"unit_id": data["unit_id"], "name": data["name"],
                                "kind": data["kind"], "dissolved_on": None,
                                "established_on": date.fromisoformat(data["effective_date"])})
        elif kind in ("unit_renamed", "unit_dissolved"):
            flush()
            change = ({"name": data["name"]} if kind == "unit_renamed" else
                      {"dissolved_on": date.fromisoformat(data["effective_date"])})
            session.execute(sql_update(units).where(units.c.unit_id == data["unit_id"])
                            .values(**change))
        elif kind.startswith(("member", "membership")) and "member_id" in data:
            rows[member_events].append({"position": envelope["position"],
                                        "member_id": data["member_id"], "type": kind,
                                        "data": json.dumps(data, ensure_ascii=False)})
            for field in _CELL_FIELDS:
                if data.get(field):
                    key = (data["member_id"], data[field])
                    links[key] = {"member_id": key[0], "cell_id": key[1]}
    flush()


def cell(session: Session, cell_id: str, day: date, kinds: UnitKinds
         ) -> dict[str, Any] | None:
    """The unit, whether it is a cell (its kind, of `kinds`, meets) and whether it
    existed on `day`."""
    row = session.execute(select(units).where(units.c.unit_id == cell_id)).first()
    if row is None:
        return None
    found = dict(row._mapping)
    kind = kinds.get(found["kind"])
    found["meets"] = bool(kind and kind.meets)
    found["active"] = (found["established_on"] <= day
                       and (found["dissolved_on"] is None or day < found["dissolved_on"]))
    return found


def attendance_roll(session: Session, cell_id: str, day: date) -> dict[str, list[dict]]:
    ids = session.execute(select(member_cells.c.member_id)
                          .where(member_cells.c.cell_id == cell_id)).scalars().all()
    if not ids:
        return {"must_attend": [], "excused": []}
    rows = session.execute(select(member_events).where(member_events.c.member_id.in_(ids))
                           .order_by(member_events.c.position)).all()
    events = [SimpleNamespace(type=r.type, data=json.loads(r.data)) for r in rows]
    return roll(fold(events).values(), cell_id, day)


def knows_members(session: Session, member_ids: list[str]) -> bool:
    if not member_ids:
        return True
    found = session.execute(select(member_events.c.member_id)
                            .where(member_events.c.member_id.in_(member_ids))
                            .distinct()).scalars().all()
    return set(found) >= set(member_ids)


# -- the tree ------------------------------------------------------------------------

def load_tree(session: Session, kinds: UnitKinds | None = None) -> Tree:
    """The organisation tree through time, from the unit events the replica holds."""
    rows = session.execute(select(unit_events).order_by(unit_events.c.position)).all()
    return Tree.from_events((SimpleNamespace(type=r.type, data=json.loads(r.data))
                             for r in rows), kinds)


#: The tree an access check places units in, built again only after a unit event came in.
_trees: GrowingTableCache[Tree] = GrowingTableCache(unit_events.c.position)


def unit_path(session: Session, unit_id: str | None, today: date) -> list[str] | None:
    """The ids of the units from the top of the tree down to `unit_id`, as the tree
    stands `today`: after every restructure in effect by then, before any dated later.

    A unit dissolved by today is placed where its history belongs now: under its
    successor when it was merged into one, else under the unit it last sat in (itself
    last on the path). None: a unit the replica does not know, or not yet established.
    `unit_id` None: the root's path (`[root]`, or `[]` when there is no single root)."""
    tree = _trees.get(session, load_tree)
    if unit_id is None:
        roots = [v.unit_id for v in tree.as_of(today).values() if v.parent_id is None]
        return roots if len(roots) == 1 else []
    return _path_today(tree, unit_id, today, set())


def _path_today(tree: Tree, unit_id: str, today: date, seen: set[str]) -> list[str] | None:
    path = tree.path(unit_id, today)
    if path:
        return [version.unit_id for version in path]
    latest = tree.latest(unit_id)
    if latest is None or unit_id in seen:
        return None
    seen.add(unit_id)
    if not latest.dissolved:
        return None  # established after today
    if latest.successor_id:
        found = _path_today(tree, latest.successor_id, today, seen)
        if found:
            return found
    before = tree.version(unit_id, latest.valid_from - timedelta(days=1))
    return _under_parent(tree, before.parent_id if before else None, unit_id, today, seen)


def _under_parent(tree: Tree, parent_id: str | None, unit_id: str, today: date,
                  seen: set[str]) -> list[str] | None:
    if parent_id is None:
        return [unit_id]
    above = _path_today(tree, parent_id, today, seen)
    return [*above, unit_id] if above else None
