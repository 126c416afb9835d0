"""Meetings' replica of the members service takes a run of events in a few statements
(`apply_member_run`, what its feed uses); the tables it leaves are the ones applying the
same events one at a time leaves, whatever the run's mix of inserts and updates."""

from __future__ import annotations

from typing import Any

from services.meetings import replica
from tests.support import assert_runs_cut_anywhere_agree, tables_after

EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("unit_established", {"unit_id": "P", "name": "Tỉnh", "kind": "province",
                          "parent_id": None, "effective_date": "2022-01-01"}),
    ("unit_established", {"unit_id": "A", "name": "Chi bộ A", "kind": "cell",
                          "parent_id": "P", "effective_date": "2022-01-01"}),
    ("member_admitted", {"member_id": "m1", "cell_id": "A", "full_name": "Lê Văn Một"}),
    ("unit_renamed", {"unit_id": "A", "name": "Chi bộ Bản Máy", "effective_date":
                      "2023-01-01"}),
    ("unit_established", {"unit_id": "B", "name": "Chi bộ B", "kind": "cell",
                          "parent_id": "P", "effective_date": "2023-02-01"}),
    ("member_admitted", {"member_id": "m2", "cell_id": "A", "full_name": "Trần Thị Hai"}),
    ("member_transferred", {"member_id": "m1", "cell_id": "A", "to_cell_id": "B"}),
    ("member_renamed", {"member_id": "m1", "full_name": "Lê Văn Một"}),
    ("unit_dissolved", {"unit_id": "B", "effective_date": "2024-03-01"}),
    ("membership_ended", {"member_id": "m2", "cell_id": "A"}),
]


def _tables(apply) -> dict[str, list[tuple[Any, ...]]]:
    envelopes = [{"source": "members", "position": position, "type": kind, "data": data}
                 for position, (kind, data) in enumerate(EVENTS, start=1)]
    return tables_after(replica.metadata, apply, envelopes)


def test_a_run_leaves_the_tables_that_one_event_at_a_time_leaves():
    one_by_one = _tables(lambda session, envelopes: [
        replica.apply_member_event(session, e) for e in envelopes])
    as_a_run = _tables(replica.apply_member_run)
    assert as_a_run == one_by_one
    assert ("A", "Chi bộ Bản Máy") in {row[:2] for row in as_a_run["replica_units"]}
    assert len(as_a_run["replica_member_cells"]) == 3  # m1 in A and B, m2 in A: once each


def test_runs_split_anywhere_leave_the_same_tables():
    assert_runs_cut_anywhere_agree(_tables, replica.apply_member_run, len(EVENTS))
