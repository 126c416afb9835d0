"""Supervision's coverage and annual quality as arithmetic over plain facts (no
database): which committees and followers count which cells, how shares round, what
makes a good year, and that a visitor's confirmed level counts over the cell's own."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest

from chibo.errors import ValidationFailed
from services.shared.tree import Tree
from services.supervision.quality import Assignment, annual_quality, coverage
from services.supervision.snapshot import Meeting


def unit(unit_id: str, name: str, kind: str, parent: str | None = None,
         on: str = "2020-01-01") -> SimpleNamespace:
    return SimpleNamespace(type="unit_established", data={
        "unit_id": unit_id, "name": name, "kind": kind, "parent_id": parent,
        "effective_date": on})


TREE = Tree.from_events([
    unit("p", "Tỉnh ủy Mẫu", "province"),
    unit("h", "Huyện ủy Mẫu", "committee", "p"),
    unit("x", "Đảng ủy xã Mẫu", "committee", "h"),
    unit("y", "Đảng ủy xã Trống", "committee", "h"),  # no cells under it
    unit("c1", "Chi bộ bản Máy", "cell", "x"),
    unit("c2", "Chi bộ bản Phố", "cell", "x"),
    unit("c3", "Chi bộ bản Mới", "cell", "x", on="2026-04-01"),  # after the quarter
])


def test_coverage_by_committee_counts_the_cells_under_each_at_the_quarters_end():
    answer = coverage("2026-Q1", TREE, visited={"c1"}, assignments=[])
    assert answer["quarter"] == "2026-Q1"
    assert [(c["unit_id"], c["cells"], c["visited"], c["share"])
            for c in answer["by_committee"]] == [
        ("x", 2, 1, 0.5), ("h", 2, 1, 0.5), ("p", 2, 1, 0.5)]  # y has no cells
    # In Vietnamese alphabetical order: Đ is a letter of its own, after D, before H.
    assert [c["name"] for c in answer["by_committee"]] == [
        "Đảng ủy xã Mẫu", "Huyện ủy Mẫu", "Tỉnh ủy Mẫu"]


def test_coverage_by_follower_counts_assignments_overlapping_the_quarter():
    assignments = [
        Assignment("Hà", "c1", date(2025, 1, 1), None),
        Assignment("Hà", "c2", date(2026, 3, 31), date(2026, 6, 30)),  # its last day
        Assignment("Hà", "c3", date(2026, 4, 1), None),                # after it
        Assignment("Mai", "c1", date(2025, 1, 1), date(2025, 12, 31)),  # before it
        Assignment("Mai", "c2", date(2026, 1, 1), date(2026, 1, 1)),   # its first day
        Assignment("Tú", "c1", date(2026, 2, 1), None),
        Assignment("Tú", "c2", date(2026, 2, 1), None),
        Assignment("Tú", "c9", date(2026, 2, 1), None),
    ]
    answer = coverage("2026-Q1", TREE, visited={"c1"}, assignments=assignments)
    assert answer["by_follower"] == [
        {"follower": "Hà", "cells": 2, "visited": 1, "share": 0.5},
        {"follower": "Mai", "cells": 1, "visited": 0, "share": 0.0},
        {"follower": "Tú", "cells": 3, "visited": 1, "share": 0.3333},
    ]


@pytest.mark.parametrize("quarter", ["2026-Q5", "2026", "", "Q1-2026"])
def test_a_quarter_that_is_not_one_is_refused(quarter):
    with pytest.raises(ValidationFailed) as refused:
        coverage(quarter, TREE, visited=set(), assignments=[])
    assert "quarter" in refused.value.fields


def regular(month: int, level: str | None) -> Meeting:
    return Meeting(f"c1-{month:02d}", "c1", "regular", date(2026, month, 10),
                   f"ev-{month}", level)


def year_of(*levels: str | None) -> list[Meeting]:
    return [regular(month, level) for month, level in enumerate(levels, start=1)]


def test_seven_good_and_the_rest_fair_make_a_good_year():
    answer = annual_quality("c1", 2026, year_of(*["good"] * 7, *["fair"] * 5), {})
    assert answer == {"cell_id": "c1", "year": 2026, "regular_meetings": 12, "good": 7,
                      "unscored": 0, "good_year": True}


@pytest.mark.parametrize("levels", [
    [*["good"] * 6, *["fair"] * 6],               # six good only
    [*["good"] * 11, "average"],                  # one below fair
    [*["good"] * 11, None],                       # one unscored
    [],                                           # no meetings at all
])
def test_fewer_than_seven_good_or_one_below_fair_is_not_a_good_year(levels):
    assert annual_quality("c1", 2026, year_of(*levels), {})["good_year"] is False


def test_a_visitors_confirmed_level_counts_over_the_cells_own():
    meetings = year_of(*["good"] * 8, *["fair"] * 3, None)
    lowered = annual_quality("c1", 2026, meetings, {"c1-01": "average", "c1-12": "fair"})
    assert (lowered["good"], lowered["unscored"], lowered["good_year"]) == (7, 0, False)
    raised = annual_quality("c1", 2026, meetings, {"c1-12": "good"})
    assert (raised["good"], raised["unscored"], raised["good_year"]) == (9, 0, True)
