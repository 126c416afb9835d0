"""Supervision's two measures: how many cells were visited in a quarter (coverage) and
whether a cell's year was good (annual quality). Pure: the tree, the visits, the
follow-up assignments and the meetings' levels are inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any, NamedTuple

from chibo.errors import ValidationFailed
from services.shared.text import name_sort_key, text_sort_key
from services.shared.tree import Tree
from services.supervision.rules import quarter_bounds
from services.supervision.snapshot import Meeting

#: A year is good with at least this many good regular meetings (and none below fair).
GOOD_MEETINGS_IN_A_GOOD_YEAR = 7


class Assignment(NamedTuple):
    """One cell a follower follows, from a day until a day (None: open-ended)."""

    follower: str
    cell_id: str
    from_date: date
    until_date: date | None


def quarter_asked(quarter: str) -> tuple[date, date]:
    """The first and last day of "YYYY-Qn"; ValidationFailed (422) for anything else."""
    try:
        return quarter_bounds(quarter)
    except (ValueError, IndexError):
        raise ValidationFailed({"quarter": ["Expected a quarter as YYYY-Qn."]}) from None


def _share(seen: int, of: int) -> float:
    return round(seen / of, 4)


def coverage(quarter: str, tree: Tree, visited: set[str],
             assignments: Iterable[Assignment],
             inside: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Share of cells visited at least once in the quarter: by committee (every
    committee standing at the quarter's end, over the cells under it then, in
    Vietnamese alphabetical order) and by follower (the cells they followed at any
    time in the quarter). With `inside`, only the committees and the followed cells
    it admits (a subtree's)."""
    first, last = quarter_asked(quarter)
    by_committee = []
    for unit in sorted(tree.as_of(last).values(),
                       key=lambda v: (text_sort_key(v.name), v.unit_id)):
        if tree.kinds[unit.kind].meets or (inside is not None and not inside(unit.unit_id)):
            continue
        cells = tree.cells_covered(unit.unit_id, last)
        if cells:
            seen = sum(1 for c in cells if c in visited)
            by_committee.append({"unit_id": unit.unit_id, "name": unit.name,
                                 "cells": len(cells), "visited": seen,
                                 "share": _share(seen, len(cells))})
    followed: dict[str, set[str]] = {}
    for row in assignments:
        if row.from_date <= last and (row.until_date is None or row.until_date >= first) \
                and (inside is None or inside(row.cell_id)):
            followed.setdefault(row.follower, set()).add(row.cell_id)
    by_follower = []
    for name, their_cells in sorted(followed.items(), key=lambda f: name_sort_key(f[0])):
        seen = sum(1 for c in their_cells if c in visited)
        by_follower.append({"follower": name, "cells": len(their_cells), "visited": seen,
                            "share": _share(seen, len(their_cells))})
    return {"quarter": quarter, "by_committee": by_committee, "by_follower": by_follower}


def annual_quality(cell_id: str, year: int, meetings: Iterable[Meeting],
                   confirmed: Mapping[str, str]) -> dict[str, Any]:
    """A cell's year is good when every regular meeting counting for it was fair or
    better and at least 7 were good. A visitor's confirmed level (`confirmed`, by
    meeting id) counts over the cell's own."""
    levels = [confirmed.get(m.meeting_id) or m.level for m in meetings]
    good = sum(1 for level in levels if level == "good")
    fair_or_better = bool(levels) and all(level in ("good", "fair") for level in levels)
    return {"cell_id": cell_id, "year": year, "regular_meetings": len(levels),
            "good": good, "unscored": sum(1 for level in levels if level is None),
            "good_year": fair_or_better and good >= GOOD_MEETINGS_IN_A_GOOD_YEAR}
