"""Where supervision's things sit in the organisation tree, for the access check
(`chibo.nameko.access.Caller(locate=...)`): from supervision's own data alone, the tree
as its replica of members' unit events has it, as it stands today.

* "unit", "cell": the unit's own path. A unit dissolved by today answers the path of
  what it merged into (its history belongs there), so escalations and visits of a cell
  merged away stay with the committee that took it over.
* "meeting": the path of the cell that held it (supervision knows held meetings).
* "escalation": the path of its cell; failing that, of the committee it is raised to.
* "visit": the path of the visited cell.

An id supervision does not know answers None (a caller limited to a subtree is then
refused; one over the whole tree gets the handler's 404)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from chibo.db import GrowingTableCache
from services.shared.tree import Tree
from services.supervision import read_model, replica

#: The tree from the replica's unit events, built again only after it took in another.
_trees: GrowingTableCache[Tree] = GrowingTableCache(replica.unit_events.c.position)


def current_tree(session: Session) -> Tree:
    """The tree from every unit event the replica holds (rebuilt when one was added)."""
    return _trees.get(session, lambda s: replica.load_tree(s, replica.EVERYTHING))


def unit_path(tree: Tree, unit_id: str, today: date) -> list[str] | None:
    """The ids from the top of the tree down to `unit_id` as on `today`; for a unit
    dissolved by then, the path of its successor; None for a unit the tree lacks."""
    if not tree.exists(unit_id):
        return None
    path = tree.path(unit_id, today)
    if not path:
        successor = tree.successor(unit_id)
        path = tree.path(successor, today) if successor != unit_id else []
    return [version.unit_id for version in path] or None


def root_path(tree: Tree, today: date) -> list[str]:
    """The top of the tree today: [its id], or [] for an empty tree."""
    roots = sorted(v.unit_id for v in tree.as_of(today).values() if v.parent_id is None)
    return roots[:1]


def within(tree: Tree, unit_id: str, today: date) -> Callable[[str], bool]:
    """Whether a unit (a cell, a committee) sits in the subtree of `unit_id` today, by
    `unit_path` (so one dissolved into that subtree does)."""
    paths: dict[str, bool] = {}

    def inside(other: str) -> bool:
        if other not in paths:
            paths[other] = unit_id in (unit_path(tree, other, today) or ())
        return paths[other]
    return inside


def locate(session: Session, kind: str, thing_id: str | None, today: date
           ) -> Sequence[str] | None:
    """See the module's description."""
    tree = current_tree(session)
    if thing_id is None:
        return root_path(tree, today)
    cell_id: str | None
    if kind in ("unit", "cell"):
        return unit_path(tree, thing_id, today)
    if kind == "meeting":
        cell_id = session.execute(select(replica.held.c.cell_id).where(
            replica.held.c.meeting_id == thing_id)).scalar()
        return unit_path(tree, cell_id, today) if cell_id else None
    if kind == "visit":
        cell_id = session.execute(select(read_model.visits.c.cell_id).where(
            read_model.visits.c.visit_id == thing_id)).scalar()
        return unit_path(tree, cell_id, today) if cell_id else None
    if kind == "escalation":
        row = session.execute(select(read_model.escalations.c.cell_id,
                                     read_model.escalations.c.target_unit_id).where(
            read_model.escalations.c.escalation_id == thing_id)).first()
        if row is None:
            return None
        return unit_path(tree, row.cell_id, today) or unit_path(tree, row.target_unit_id, today)
    return None
