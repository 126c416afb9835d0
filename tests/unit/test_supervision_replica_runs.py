"""Supervision's facts from members' and meetings' events, taken a run at a time
(`apply_run`, what its feed uses): the same tables as one event at a time, wherever the
runs are cut, a task closed in the run that assigned it included."""

from __future__ import annotations

from typing import Any

from services.supervision import replica
from tests.support import assert_runs_cut_anywhere_agree, tables_after

ATTENDANCE = [
    {"member_id": "m1", "full_name": "Lê Văn Một", "status": "present", "dues_paid": True},
    {"member_id": "m2", "full_name": "Trần Thị Hai", "status": "absent_unexcused"},
    {"member_id": "m3", "full_name": "Phạm Ba", "status": "present", "dues_paid": False},
    {"member_id": "m4", "full_name": "Vũ Bốn", "status": "absent_unexcused",
     "counted": False},
]
EVENTS: list[tuple[str, str, dict[str, Any]]] = [
    ("members", "unit_established", {"unit_id": "c", "name": "Chi bộ", "kind": "cell",
                                     "parent_id": None, "effective_date": "2020-01-01"}),
    ("members", "member_admitted", {"member_id": "m1", "cell_id": "c"}),
    ("meetings", "meeting_held", {"meeting_id": "k1", "cell_id": "c", "kind": "regular",
                                  "held_on": "2026-05-05", "self_score": {"level": "good"},
                                  "attendance": ATTENDANCE}),
    ("meetings", "task_assigned", {"task_id": "t1", "cell_id": "c", "title": "Việc một",
                                   "due_on": "2026-06-01"}),
    ("meetings", "meeting_held", {"meeting_id": "k2", "cell_id": "c", "kind": "regular",
                                  "held_on": "2026-06-20", "self_score": None,
                                  "makes_up_month": "2026-04", "attendance": []}),
    ("meetings", "task_completed", {"task_id": "t1", "cell_id": "c"}),
    ("members", "unit_renamed", {"unit_id": "c", "name": "Chi bộ Bản Máy"}),
    ("meetings", "task_assigned", {"task_id": "t2", "cell_id": "c", "title": "Việc hai",
                                   "due_on": "2026-07-01"}),
    ("supervision", "visit_logged", {"visit_id": "v1"}),
]


def _tables(apply) -> dict[str, list[tuple[Any, ...]]]:
    positions: dict[str, int] = {}
    envelopes = []
    for source, kind, data in EVENTS:
        positions[source] = positions.get(source, 0) + 1
        envelopes.append({"source": source, "type": kind, "data": data,
                          "position": positions[source], "event_id": f"e-{len(envelopes)}"})
    return tables_after(replica.metadata, apply, envelopes)


def test_a_run_leaves_the_facts_one_event_at_a_time_leaves():
    one_by_one = _tables(lambda session, envelopes: [replica.apply(session, e)
                                                     for e in envelopes])
    assert _tables(replica.apply_run) == one_by_one
    tasks = {row[0]: row for row in one_by_one[replica.tasks.name]}
    assert tasks["t1"][-1] is not None and tasks["t2"][-1] is None  # t1 closed, t2 open
    assert len(one_by_one[replica.absences.name]) == 2  # m2 unexcused, m3 dues unpaid


def test_runs_cut_anywhere_leave_the_same_facts():
    assert_runs_cut_anywhere_agree(_tables, replica.apply_run, len(EVENTS))
