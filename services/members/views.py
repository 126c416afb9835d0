"""How members' questions are answered: the tree, a unit and a member as JSON. Pure:
the tree, the member and the days are inputs."""

from __future__ import annotations

from datetime import date
from typing import Any

from chibo import inputs
from chibo.errors import NotFound
from services.shared.membership import Member
from services.shared.text import text_sort_key
from services.shared.tree import Tree


def day_asked(value: str | None, today: date, field: str = "on") -> date:
    """The day a question is asked about: `?on=YYYY-MM-DD`, else today."""
    return inputs.day(value, field) or today


def tree_view(tree: Tree, day: date, unit_id: str | None = None) -> dict[str, Any]:
    """The tree as it stood on `day`: roots and children in Vietnamese name order; with
    `unit_id`, only that unit's subtree (what a committee's staff may see)."""
    snapshot = tree.as_of(day)
    if unit_id is not None:
        if unit_id not in snapshot:
            raise NotFound(f"Unit {unit_id} did not exist on {day.isoformat()}.",
                           field="unit")
        kept = {v.unit_id for v in tree.subtree(unit_id, day)} | {unit_id}
        snapshot = {u: v for u, v in snapshot.items() if u in kept}
    nodes = {u: {**v.as_dict(), "children": []} for u, v in snapshot.items()}
    roots: list[dict[str, Any]] = []
    for node in sorted(nodes.values(), key=lambda n: (text_sort_key(n["name"]), n["unit_id"])):
        parent = nodes.get(node["parent_id"]) if node["parent_id"] else None
        (parent["children"] if parent and node["unit_id"] != unit_id else roots).append(node)
    return {"on": day.isoformat(), "units": len(nodes), "roots": roots}


def unit_view(tree: Tree, unit_id: str, day: date, today: date) -> dict[str, Any]:
    """A unit on `day`: its path then and today, the cells it covered, its history."""
    if not tree.exists(unit_id):
        raise NotFound(f"Unit {unit_id} does not exist.", field="unit_id")
    on_day = tree.version(unit_id, day)
    return {
        "unit_id": unit_id, "on": day.isoformat(),
        "as_of": on_day.as_dict() if on_day else None,
        "path_on": [v.as_dict() for v in tree.path(unit_id, day)],
        "path_today": [v.as_dict() for v in tree.path(unit_id, today)],
        "cells_covered_on": tree.cells_covered(unit_id, day),
        "history": [v.as_dict() for v in tree.history(unit_id)],
        "successor_today": tree.successor(unit_id),
    }


def member_view(member_id: str, member: Member | None, version: int, today: date
                ) -> dict[str, Any]:
    """A member's record as of today; NotFound when they were never on the rolls."""
    if member is None:
        raise NotFound(f"Member {member_id} is not on the rolls.", field="member_id")
    excuse = member.excuse_on(today)
    return {"member_id": member_id, "member_code": member.member_code,
            "full_name": member.full_name, "cell_id": member.cell_on(today),
            "admitted_on": member.admitted_on.isoformat() if member.admitted_on else None,
            "full_since": member.full_since.isoformat() if member.full_since else None,
            "status": member.status_on(today),
            "removed": ({"on": member.removed[0].isoformat(), "kind": member.removed[1],
                         "reason": member.removed[2]} if member.removed else None),
            "excused_today": ({"standing": excuse[0], "reason": excuse[1]}
                              if excuse else None),
            "ratings": {str(y): level for y, level in sorted(member.ratings.items())},
            "version": version}
