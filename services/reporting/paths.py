"""Where a cell's figures are counted: its path from the top of the tree.

Two groupings: the tree as it was in the period ("then"), and today's tree,
where a dissolved cell's history counts under its successor. The tree is folded
from the unit events in reporting's archive and kept per database, advanced by
the events archived since it was last read.
"""

from __future__ import annotations

import json
import threading
import weakref
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from services.reporting.periods import bounds
from services.reporting.read_model import TREE_TYPES, archive
from services.shared.text import text_sort_key
from services.shared.tree import Tree, UnitVersion

__all__ = ["Places", "places_for", "encode", "decode", "passes_through", "containing",
           "TREE_TYPES"]

_SOURCE = "members"


class Places:
    """The tree and the questions reports ask of it, answered once per tree version.

    Where units sit, not what they are: which units are cells the caller answers from
    its configured kinds, so the tree here is built with none.
    """

    def __init__(self) -> None:
        self.tree = Tree(kinds={})
        self.position = 0
        self.now = date.min  # the latest day the tree changes on: "today's tree"
        self._memo: dict[tuple[str, Any], list[str]] = {}
        self._below: dict[date, dict[str | None, list[UnitVersion]]] = {}

    def advance(self, events: list[tuple[int, str, dict[str, Any]]]) -> None:
        for position, event_type, data in events:
            self.tree.apply(event_type, data)
            self.position = position
        days = self.tree.change_dates(date.min)
        self.now = days[-1] if days else date.min
        self._memo.clear()
        self._below.clear()

    def then_path(self, cell_id: str, period: str) -> list[str]:
        """The cell's path at the end of the period (or its last day, if dissolved)."""
        key = (cell_id, period)
        if key not in self._memo:
            day = self._last_day_alive(cell_id, bounds(period)[1])
            self._memo[key] = self._ids(cell_id, day) or [cell_id]
        return self._memo[key]

    def today_path(self, unit_id: str) -> list[str]:
        """The unit's path in today's tree: under its successor if it was merged away."""
        key = (unit_id, None)
        if key not in self._memo:
            home = self.tree.successor(unit_id)
            path = self._ids(home, self._last_day_alive(home, self.now))
            if home != unit_id:
                # Counted with its successor's committees (not inside the successor: a
                # cell's own figures are only ever its own).
                path = [*path[:-1], unit_id]
            self._memo[key] = path or [unit_id]
        return self._memo[key]

    def children(self, unit_id: str, day: date) -> list[UnitVersion]:
        """The units directly under `unit_id` on `day`, in Vietnamese name order."""
        if day not in self._below:
            below: dict[str | None, list[UnitVersion]] = {}
            for version in self.tree.as_of(day).values():
                below.setdefault(version.parent_id, []).append(version)
            for versions in below.values():
                versions.sort(key=lambda v: (text_sort_key(v.name), v.unit_id))
            self._below[day] = below
        return self._below[day].get(unit_id, [])

    def _ids(self, unit_id: str, day: date) -> list[str]:
        return [v.unit_id for v in self.tree.path(unit_id, day)]

    def _last_day_alive(self, unit_id: str, day: date) -> date:
        """`day`, or the day before the unit was dissolved if that is earlier."""
        for version in self.tree.history(unit_id):
            if version.dissolved and version.valid_from <= day:
                return version.valid_from - timedelta(days=1)
        return day


_places: weakref.WeakKeyDictionary[Any, Places] = weakref.WeakKeyDictionary()


_advancing = threading.Lock()


def places_for(session: Session) -> Places:
    """Places from every unit event archived so far (as this session sees the archive).

    One request builds or advances them at a time: twenty pages opened together on a
    fresh process would otherwise each fold the whole tree."""
    with _advancing:
        return _places_for(session)


def _places_for(session: Session) -> Places:
    engine = session.get_bind().engine
    places = _places.get(engine)
    newest = session.execute(select(func.max(archive.c.position)).where(
        archive.c.source == _SOURCE).where(archive.c.type.in_(TREE_TYPES))).scalar() or 0
    if places is None or newest < places.position:
        places = _places[engine] = Places()  # first use, or after a rollback: start over
    if newest > places.position:
        rows = session.execute(
            select(archive.c.position, archive.c.type, archive.c.data)
            .where(archive.c.source == _SOURCE).where(archive.c.type.in_(TREE_TYPES))
            .where(archive.c.position > places.position).order_by(archive.c.position))
        places.advance([(r.position, r.type, json.loads(r.data)) for r in rows])
    return places


def encode(path: list[str]) -> str:
    return json.dumps(path)


def decode(path: str) -> list[str]:
    return json.loads(path) if path else []


#: LIKE's escape character here. Not PostgreSQL's default, the backslash: JSON writes a
#: non-ASCII id as \uXXXX, and those backslashes must stay plain characters.
_ESCAPE = "!"


def containing(column: Any, fragment: str) -> ColumnElement[bool]:
    """`column` holds `fragment` as written, LIKE's wildcards in it escaped."""
    for special in (_ESCAPE, "%", "_"):
        fragment = fragment.replace(special, _ESCAPE + special)
    return column.like(f"%{fragment}%", escape=_ESCAPE)


def passes_through(column: Any, unit_id: str) -> ColumnElement[bool]:
    """`column` (an encoded path) goes through `unit_id`, matched whole as its JSON
    string: `xa_1` does not match `xa-1`, nor `xa-1` match `xa-10`."""
    return containing(column, json.dumps(unit_id))
