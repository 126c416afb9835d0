"""A simulated year over 200 cells with a known pattern of misses, visits and
overdue tasks: every escalation, its level, target and resolution is what the
rules say; and a replay of the same logs and closes gives the same decisions."""

from __future__ import annotations

from datetime import date, datetime
from types import SimpleNamespace

import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.clock import FixedClock
from chibo.db import make_engine, session_factory
from chibo.eventstore.store import EventStore
from services.shared.events import catalogue
from services.supervision.replay import is_system_decision, normalised, replay
from services.supervision.rules import Settings
from tests.support import ADMIN, as_caller, embedded_config, running

CELLS = 200
YEAR = 2025
MISS_MARCH = range(0, 10)          # miss March; 0–4 make it up late
MADE_UP = range(0, 5)
MISS_THREE = range(10, 15)         # miss March, April, May
NO_THEMATIC_Q2 = range(20, 30)
NOT_VISITED_Q3 = range(30, 40)
OVERDUE_TASK = range(40, 45)       # a task due 1 Feb, never done
DONE_TASK = range(45, 50)          # a task done in time
ABSENT = 50                        # one member absent without reason Jan–Mar
ACKNOWLEDGED = 5                   # its March escalation is acknowledged at once
SETTINGS = {"grace_days": 5, "overdue_days": 14, "reescalate_after_days": 10,
            "start_date": f"{YEAR}-01-01"}


def cell(n: int) -> str:
    return f"c{n:03d}"


def commune(n: int) -> str:
    return f"x{n // 50}"


def district(n: int) -> str:
    return f"h{n // 100}"


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    clock = FixedClock(datetime(YEAR, 1, 2, 8, 0))
    config = embedded_config(tmp_path_factory.mktemp("year"), CLOCK=clock,
                             SUPERVISION=SETTINGS, max_workers=20)
    with running(config), ClusterRpcProxy(config, timeout=120,
                                          context_data=as_caller(ADMIN)) as rpc:
        build_tree(rpc)
        simulate(rpc, clock)
        escalations = {(e["rule"], e["subject_id"], e["period"]): e
                       for e in rpc.supervision.escalations()}
        raised = {(e["data"]["rule"], e["data"]["subject_id"], e["data"]["period"]): e["data"]
                  for e in rpc.supervision.read_events(after=0, limit=5000)
                  if e["type"] == "escalation_raised"}
        yield SimpleNamespace(config=config, escalations=escalations, raised=raised)


def pipelined(send, items):
    """Keep 16 RPC calls in flight: `send(item)` returns an async reply."""
    pending = []
    for item in items:
        pending.append(send(item))
        if len(pending) >= 16:
            pending.pop(0).result()
    for reply in pending:
        reply.result()


def build_tree(rpc) -> None:
    units = [("p", "Tỉnh ủy Mẫu", "province", None)]
    units += [(f"h{d}", f"Huyện ủy {d}", "committee", "p") for d in range(2)]
    units += [(f"x{x}", f"Đảng ủy xã {x}", "committee", f"h{x // 2}") for x in range(4)]
    for kind_unit in units:
        rpc.members.establish_unit({"unit_id": kind_unit[0], "name": kind_unit[1],
                                    "kind": kind_unit[2], "parent_id": kind_unit[3],
                                    "effective_date": "2020-01-01"})
    pipelined(lambda n: rpc.members.establish_unit.call_async({
        "unit_id": cell(n), "name": f"Chi bộ Thôn {n:03d}", "kind": "cell",
        "parent_id": commune(n), "effective_date": "2020-01-01"}), range(CELLS))
    members = [(n, m) for n in range(CELLS) for m in range(3)]
    pipelined(lambda nm: rpc.members.admit_member.call_async({
        "member_id": f"{cell(nm[0])}-m{nm[1]}", "full_name": f"Đảng viên {nm[1]} Thôn {nm[0]}",
        "cell_id": cell(nm[0]), "admitted_on": "2020-06-01"}), members)
    pipelined(lambda nm: rpc.members.confirm_member.call_async({
        "member_id": f"{cell(nm[0])}-m{nm[1]}", "effective_date": "2021-06-01"}), members)


def attendance(n: int, month: int) -> list[dict]:
    lines = [{"member_id": f"{cell(n)}-m{m}", "status": "present"} for m in range(3)]
    if n == ABSENT and month <= 3:
        lines[0] = {"member_id": f"{cell(n)}-m0", "status": "absent_unexcused"}
    return lines


def simulate(rpc, clock: FixedClock) -> None:
    for month in range(1, 13):
        clock.set(datetime(YEAR, month, 8, 8, 0))
        rpc.supervision.close_periods()  # last month closed on the 5th
        clock.set(datetime(YEAR, month, 15, 8, 0))
        held_on = date(YEAR, month, 10).isoformat()
        regular = [n for n in range(CELLS)
                   if not (month == 3 and n in MISS_MARCH)
                   and not (month in (3, 4, 5) and n in MISS_THREE)]
        pipelined(lambda n, month=month, held_on=held_on:
                  rpc.meetings.record_meeting_held.call_async({
                      "meeting_id": f"{cell(n)}-{month:02d}", "cell_id": cell(n),
                      "kind": "regular", "held_on": held_on,
                      "attendance": attendance(n, month)}), regular)
        if month % 3 == 1:  # a thematic meeting in the first month of each quarter
            quarter = (month + 2) // 3
            pipelined(lambda n, quarter=quarter, month=month:
                      rpc.meetings.record_meeting_held.call_async({
                          "meeting_id": f"{cell(n)}-t{quarter}", "cell_id": cell(n),
                          "kind": "thematic",
                          "topic": "Học tập và làm theo tư tưởng Hồ Chí Minh",
                          "held_on": date(YEAR, month, 12).isoformat(),
                          "attendance": attendance(n, 99)}),
                      [n for n in range(CELLS) if not (quarter == 2 and n in NO_THEMATIC_Q2)])
        if month % 3 == 2:  # visits in the second month of each quarter
            quarter = (month + 2) // 3
            # A cell with no regular meeting this month is visited at its thematic one.
            pipelined(lambda n, month=month, held_on=held_on, quarter=quarter, held=set(regular):
                      rpc.supervision.log_visit.call_async({
                          "visitor": "Đồng chí Ủy viên Thường vụ", "cell_id": cell(n),
                          "meeting_id": (f"{cell(n)}-{month:02d}" if n in held
                                         else f"{cell(n)}-t{quarter}"),
                          "visited_on": (held_on if n in held
                                         else date(YEAR, month - 1, 12).isoformat())}),
                      [n for n in range(CELLS) if not (quarter == 3 and n in NOT_VISITED_Q3)])
        if month == 1:
            for n in (*OVERDUE_TASK, *DONE_TASK):
                rpc.meetings.adopt_resolution({
                    "meeting_id": f"{cell(n)}-01", "resolution_id": f"nq-{n}",
                    "title": "Nghị quyết tháng 1",
                    "vote": {"in_favour": 3, "against": 0, "abstaining": 0},
                    "tasks": [{"task_id": f"task-{n}", "title": "Làm đường liên thôn",
                               "assignee_id": f"{cell(n)}-m1", "due_on": f"{YEAR}-02-01"}]})
        if month == 1:
            for n in DONE_TASK:
                rpc.meetings.complete_task({"task_id": f"task-{n}", "result": "Đã xong"})
        if month == 4:  # late make-up meetings for March, recorded after March closed
            for n in MADE_UP:
                rpc.meetings.record_meeting_held({
                    "meeting_id": f"{cell(n)}-03b", "cell_id": cell(n), "kind": "regular",
                    "held_on": f"{YEAR}-03-28", "attendance": attendance(n, 3)})
        rpc.supervision.close_periods()
        if month == 4:
            march = [e for e in rpc.supervision.escalations()
                     if e["subject_id"] == cell(ACKNOWLEDGED) and e["period"] == f"{YEAR}-03"]
            rpc.supervision.acknowledge_escalation({"escalation_id": march[0]["escalation_id"],
                                                    "by": "Ban Tổ chức Huyện ủy"})
    clock.set(datetime(YEAR + 1, 1, 10, 8, 0))
    rpc.supervision.close_periods()


def test_missed_months_climb_the_ladder(year):
    for n in MISS_THREE:
        levels = [(year.escalations[("missed_regular_meeting", cell(n), f"{YEAR}-{m:02d}")]
                   ["raised_level"]) for m in (3, 4, 5)]
        assert levels == [1, 2, 3]
        targets = [year.raised[("missed_regular_meeting", cell(n), f"{YEAR}-{m:02d}")]
                   ["target_unit_id"] for m in (3, 4, 5)]
        assert targets == [commune(n), district(n), "p"]


def test_a_single_miss_goes_to_the_commune_and_a_late_make_up_resolves_it(year):
    for n in MISS_MARCH:
        march = year.escalations[("missed_regular_meeting", cell(n), f"{YEAR}-03")]
        if n in MADE_UP:
            assert march["state"] == "resolved" and march["resolved_how"] == "make_up_meeting"
        else:
            assert march["state"] != "resolved"


def test_unacknowledged_escalations_move_up_and_acknowledged_ones_do_not(year):
    acknowledged = year.escalations[("missed_regular_meeting", cell(ACKNOWLEDGED),
                                     f"{YEAR}-03")]
    assert (acknowledged["state"], acknowledged["level"]) == ("acknowledged", 1)
    assert acknowledged["target_unit_id"] == commune(ACKNOWLEDGED)
    left = year.escalations[("missed_regular_meeting", cell(6), f"{YEAR}-03")]
    assert left["level"] == 3 and left["target_unit_id"] == "p"


def test_no_other_cell_missed_a_month(year):
    missed = {(key[1], key[2]) for key in year.escalations
              if key[0] == "missed_regular_meeting"}
    assert missed == {(cell(n), f"{YEAR}-03") for n in MISS_MARCH} | {
        (cell(n), f"{YEAR}-{m:02d}") for n in MISS_THREE for m in (3, 4, 5)}


def test_quarters_without_thematic_meeting_or_visit(year):
    thematic = {(k[1], k[2]) for k in year.escalations if k[0] == "no_thematic_meeting"}
    assert thematic == {(cell(n), f"{YEAR}-Q2") for n in NO_THEMATIC_Q2}
    unvisited = {(k[1], k[2]) for k in year.escalations if k[0] == "not_visited"}
    assert unvisited == {(cell(n), f"{YEAR}-Q3") for n in NOT_VISITED_Q3}


def test_overdue_tasks_and_removal_candidates(year):
    overdue = {k[1] for k in year.escalations if k[0] == "task_overdue"}
    assert overdue == {f"task-{n}" for n in OVERDUE_TASK}
    candidates = {(k[1], k[2]) for k in year.escalations if k[0] == "removal_candidate"}
    assert candidates == {(f"{cell(ABSENT)}-m0", f"{YEAR}-03")}


def test_replaying_the_logs_gives_the_same_escalations(year):
    config = year.config
    engines = {s: make_engine(config["DATABASES"][s]) for s in ("members", "meetings",
                                                                 "supervision")}

    def read(source, after=0, limit=100_000):
        with session_factory(engines[source])() as session:
            return EventStore(session, catalogue).read_all(after, limit)

    def fetch(source, after, limit):
        return [e.envelope(source) for e in read(source, after, limit)]

    own = read("supervision")
    live = [normalised(e.type, e.data) for e in own if is_system_decision(e.type, e.data)]
    settings = Settings(**{k: v for k, v in SETTINGS.items() if k != "start_date"},
                        start_date=date.fromisoformat(SETTINGS["start_date"]))
    assert live, "the year raised nothing"
    assert replay(fetch, own, settings, catalogue) == live
    for engine in engines.values():
        engine.dispose()
