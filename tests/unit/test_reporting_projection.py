"""Reporting's read models from a small province's events: figures by the tree as it
was and by today's tree, through a restructuring, equal however the events arrive."""

from __future__ import annotations

import random
import uuid
from datetime import date

import pytest
from sqlalchemy import select

from chibo.db import create_schema, make_engine, session_factory
from services.reporting import queries
from services.reporting.projector import project_run
from services.reporting.read_model import meetings, metadata, snapshot

SOURCES = ("members", "meetings", "supervision")


class Log:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.positions = dict.fromkeys(SOURCES, 0)

    def add(self, source: str, type_: str, **data) -> None:
        self.positions[source] += 1
        self.events.append({
            "source": source, "position": self.positions[source], "event_id": str(uuid.uuid4()),
            "stream_id": f"{source}-{data.get('unit_id') or data.get('meeting_id') or 'x'}",
            "type": type_, "version": 1, "data": data,
            "metadata": {"actor": "tester", "command_id": str(uuid.uuid4())},
            "recorded_at": f"2026-04-01T00:00:{len(self.events) % 60:02d}+00:00",
            "hash": "0" * 64})


def unit(log: Log, unit_id: str, kind: str, parent: str | None, on: str = "2025-01-01") -> None:
    log.add("members", "unit_established", unit_id=unit_id, name=f"Đơn vị {unit_id}", kind=kind,
            parent_id=parent, effective_date=on)


def held(log: Log, meeting_id: str, cell_id: str, held_on: str, kind: str = "regular",
         present: int = 4, counted: int = 5, level: str | None = "good",
         duration: int | None = 120) -> None:
    lines = [{"member_id": f"{cell_id}-m{i}", "full_name": f"Lò Văn {i}",
              "status": "present" if i < present else "absent_unexcused", "counted": True}
             for i in range(counted)]
    log.add("meetings", "meeting_held", meeting_id=meeting_id, cell_id=cell_id, kind=kind,
            held_on=held_on, attendance=lines, members_counted=counted, members_present=present,
            duration_minutes=duration, self_score={"level": level} if level else None,
            agenda=[], speakers=[], flags=[])


def province() -> Log:
    log = Log()
    unit(log, "P", "province", None)
    unit(log, "A", "committee", "P")
    unit(log, "B", "committee", "P")
    for cell, parent in (("A1", "A"), ("A2", "A"), ("B1", "B")):
        unit(log, cell, "grassroots_cell", parent)
        for i in range(5):
            log.add("members", "member_admitted", member_id=f"{cell}-m{i}",
                    full_name=f"Lò Văn {i}", cell_id=cell, admitted_on="2024-01-01")
    for month in ("01", "02"):
        held(log, f"A1-{month}", "A1", f"2026-{month}-05")
        held(log, f"B1-{month}", "B1", f"2026-{month}-06", present=3, level="fair")
    held(log, "A2-01", "A2", "2026-01-07", level=None, duration=80)  # A2 misses February
    held(log, "A1-t1", "A1", "2026-02-20", kind="thematic", level=None)
    log.add("meetings", "meeting_corrected", meeting_id="A2-01", corrects_event_id="x",
            changes={"duration_minutes": 95}, reason="giờ kết thúc ghi nhầm")
    log.add("meetings", "task_assigned", task_id="t1", cell_id="A1", meeting_id="A1-01",
            resolution_id="r1", title="Làm đường", assignee_name="Lò Văn 1", due_on="2026-02-28")
    log.add("meetings", "task_assigned", task_id="t2", cell_id="A1", meeting_id="A1-01",
            resolution_id="r1", title="Vệ sinh", assignee_name="Lò Văn 2", due_on="2026-02-28")
    log.add("meetings", "task_completed", task_id="t1", result="xong", completed_on="2026-02-20")
    log.add("meetings", "material_attached", meeting_id="A1-01", cell_id="A1",
            file_name="Dự thảo nghị quyết.pdf", media_type="application/pdf", size=1234,
            sha256="a" * 64)
    log.add("meetings", "task_overdue", task_id="t2", due_on="2026-02-28", noticed_on="2026-03-01")
    log.add("supervision", "visit_logged", visit_id="v1", visitor="Hà Thị Lan", cell_id="B1",
            meeting_id="B1-02", visited_on="2026-02-06", confirmed_level="good", comments="")
    log.add("supervision", "escalation_raised", escalation_id="e1", rule="missed_regular_meeting",
            level=1, target_unit_id="A", target_name="A", subject_id="A2", subject_name="A2",
            cell_id="A2", period="2026-02", reason="…", raised_on="2026-03-03",
            closed_period="2026-03-02")
    # 1 March 2026: A2 merges into A1, B1 moves under A, B is dissolved.
    log.add("members", "unit_dissolved", unit_id="A2", reason="sáp nhập", successor_id="A1",
            effective_date="2026-03-01")
    log.add("members", "unit_moved", unit_id="B1", from_parent_id="B", parent_id="A",
            effective_date="2026-03-01")
    log.add("members", "unit_dissolved", unit_id="B", reason="sáp nhập", successor_id="A",
            effective_date="2026-03-01")
    held(log, "A1-03", "A1", "2026-03-05")
    log.add("supervision", "escalation_acknowledged", escalation_id="e1", by="Hà Thị Lan",
            on="2026-03-04")
    return log


def project_all(runs: list[list[dict]]):
    engine = make_engine("sqlite://")
    create_schema(engine, metadata)
    factory = session_factory(engine)
    for run in runs:
        with factory() as session, session.begin():
            project_run(session, run)
    return factory


def live_order(log: Log) -> list[list[dict]]:
    return [[e] for e in log.events]


def rebuild_order(log: Log, size: int) -> list[list[dict]]:
    runs = []
    for source in SOURCES:
        events = [e for e in log.events if e["source"] == source]
        runs += [events[i:i + size] for i in range(0, len(events), size)]
    return runs


@pytest.fixture(scope="module")
def live():
    return project_all(live_order(province()))


#: The clock's day for the figures: after the events, so every month shown has ended.
TODAY = date(2026, 4, 10)


def figures(factory, unit_id: str, period: str, grouping: str) -> dict:
    with factory() as session:
        return queries.overview(session, unit_id, period, grouping, today=TODAY)["summary"]


def test_month_figures_by_the_tree_as_it_was(live):
    feb = figures(live, "A", "2026-02", "then")
    assert feb["cells"] == 2 and feb["months_met"] == 1  # A2 missed February
    assert feb["met_share"] == 0.5
    assert feb["thematic_meetings"] == 1 and feb["cells_thematic"] == 1
    assert feb["tasks_due"] == 2 and feb["tasks_completed"] == 1 and feb["tasks_overdue"] == 1
    assert figures(live, "B", "2026-02", "then")["quality"]["good"] == 1  # the visit's level
    jan = figures(live, "A", "2026-01", "then")
    assert jan["months_met"] == 2 and jan["avg_duration_minutes"] == round((120 + 95) / 2)
    assert jan["quality"] == {"good": 1, "fair": 0, "average": 0, "poor": 0, "unscored": 1}
    march = figures(live, "A", "2026-03", "then")
    assert march["cells"] == 2  # A1 and B1; A2 was dissolved on the 1st
    assert figures(live, "P", "2026-03", "then")["cells"] == 2


def test_today_grouping_moves_history_into_todays_tree(live):
    feb_today = figures(live, "A", "2026-02", "today")
    assert feb_today["cells"] == 3 and feb_today["months_met"] == 2
    assert figures(live, "B", "2026-02", "today")["cells"] == 0
    assert figures(live, "P", "2026-02", "today")["cells"] == figures(
        live, "P", "2026-02", "then")["cells"] == 3


def test_quarter_and_year_roll_up_months(live):
    q1 = figures(live, "P", "2026-Q1", "then")
    assert q1["cell_months"] == 3 + 3 + 2 and q1["months_met"] == 3 + 2 + 1
    assert q1["cells"] == 3 and q1["cells_thematic"] == 1 and q1["cells_visited"] == 1
    assert figures(live, "P", "2026", "today")["cells"] == 3


def test_children_and_open_escalations(live):
    with live() as session:
        page = queries.overview(session, "P", "2026-02", "then", today=TODAY)
        assert [c["unit_id"] for c in page["children"]] == ["A", "B"]
        assert page["escalations_open"] == {"by_level": {"1": 1}, "total": 1}
        today = queries.overview(session, "P", "2026-02", "today", today=TODAY)
        assert [c["unit_id"] for c in today["children"]] == ["A"]
        listed = queries.escalation_list(session, date(2026, 3, 10))
        assert listed["by_age"]["0-7"] == 1 and listed["escalations"][0]["state"] == \
            "acknowledged"


def test_heatmap_states(live):
    with live() as session:
        grid = queries.heatmap(session, "A", 2026, "then", today=date(2026, 3, 20))
        rows = {r["unit_id"]: r["months"] for r in grid["rows"]}
        assert rows["A1"]["2026-03"] == {"state": "held", "level": "good"}
        assert rows["A1"]["2026-04"] == {"state": "not_due"}
        assert rows["B1"]["2026-03"] == {"state": "not_due"}  # the month is not over
        february = queries.heatmap(session, "A", 2026, "today", today=date(2026, 3, 20))
        # A2, merged into A1 on 1 March, is shown beside it (its history counts there).
        assert {r["unit_id"] for r in february["rows"]} == {"A1", "A2", "B1"}
        later = queries.heatmap(session, "A", 2026, "then", today=date(2026, 5, 2))
        assert {r["unit_id"]: r["months"] for r in later["rows"]}["B1"]["2026-03"] == {
            "state": "missed"}


def test_default_period_is_the_last_month_that_ended(live):
    with live() as session:
        assert queries.default_period(session, date(2026, 3, 20)) == "2026-02"
        assert queries.default_period(session, date(2026, 4, 1)) == "2026-03"


@pytest.mark.parametrize("size", [1, 3, 1000])
def test_every_arrival_order_gives_the_same_models(live, size):
    log = province()
    with live() as session:
        expected = snapshot(session)
    rebuilt = project_all(rebuild_order(log, size))
    with rebuilt() as session:
        got = snapshot(session)
    for table in expected:
        if table == "archive":
            continue
        assert sorted(got[table]) == sorted(expected[table]), table
    # Interleaved at random across sources, each source still in order:
    rng = random.Random(size)
    queues = {s: [e for e in log.events if e["source"] == s] for s in SOURCES}
    order = []
    while any(queues.values()):
        source = rng.choice([s for s in SOURCES if queues[s]])
        take = rng.randint(1, 4)
        order.append(queues[source][:take])
        queues[source] = queues[source][take:]
    shuffled = project_all(order)
    with shuffled() as session:
        got = snapshot(session)
    for table in expected:
        if table != "archive":
            assert sorted(got[table]) == sorted(expected[table]), table


@pytest.mark.parametrize("size", [1, 500])
def test_a_visit_that_arrives_before_its_meeting_keeps_its_confirmed_level(live, size):
    """Each source arrives in order, not the sources among themselves: with supervision's
    feed ahead of meetings', the visit to B1-02 is projected before the meeting, and the
    level it confirmed still counts for the meeting, the cell and the committees."""
    log = province()
    with live() as session:
        expected = snapshot(session)
        assert session.execute(select(meetings.c.visit_level)
                               .where(meetings.c.meeting_id == "B1-02")).scalar() == "good"
    runs = []
    for source in ("members", "supervision", "meetings"):
        events = [e for e in log.events if e["source"] == source]
        runs += [events[i:i + size] for i in range(0, len(events), size)]
    with project_all(runs)() as session:
        got = snapshot(session)
    for table in expected:
        if table != "archive":
            assert sorted(got[table]) == sorted(expected[table]), table


def test_rebuild_from_the_archive_equals_the_live_models(any_db_url):
    """`chibo rebuild` drops every read model and projects the archive again; the result
    equals what the live feed built, row for row, on either database."""
    from services.reporting.rebuild import rebuild_from_archive

    engine = make_engine(any_db_url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    for run in live_order(province()):
        with factory() as session, session.begin():
            project_run(session, run)
    with factory() as session:
        before = snapshot(session)
    seen = []
    assert rebuild_from_archive(factory, batch_size=7, progress=seen.append) == len(
        province().events)
    assert sum(seen) == len(province().events)
    with factory() as session:
        after = snapshot(session)
    assert after == before
    assert after["node_periods"] and after["cell_periods"] and after["escalations"]
    engine.dispose()


def test_chibo_rebuild_command(tmp_path, capsys):
    from chibo.cli import main

    url = f"sqlite:///{tmp_path}/reporting.db"
    engine = make_engine(url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    events = province().events
    for run in live_order(province()):
        with factory() as session, session.begin():
            project_run(session, run)
    with factory() as session:
        before = snapshot(session)
    engine.dispose()
    config = tmp_path / "chibo.yaml"
    config.write_text(f"DATABASES:\n  reporting: {url}\n", encoding="utf-8")
    assert main(["rebuild", "--config", str(config), "--batch", "10"]) == 0
    printed = capsys.readouterr()
    assert f"{len(events)} events projected" in printed.out
    assert "Dựng lại báo cáo" in printed.err  # the progress bar
    engine = make_engine(url)
    with session_factory(engine)() as session:
        assert snapshot(session) == before
    engine.dispose()


def test_a_rebuild_keeps_awkward_text_exactly(any_db_url):
    """A rebuild writes whole tables in bulk (COPY on PostgreSQL): tabs, line breaks,
    backslashes, a literal \\N, empty text and missing values come back as written."""
    from services.reporting.rebuild import rebuild_from_archive

    awkward = "một\tdòng\nhai\r\nba \\ bốn \\N năm\\"
    log = province()
    log.add("meetings", "meeting_held", meeting_id="A1-x", cell_id="A1", kind="regular",
            held_on="2026-03-20", attendance=[], members_counted=0, members_present=0,
            topic="", place=None, minutes=awkward, conclusion="\\N",
            agenda=[awkward], speakers=[], flags=[])
    engine = make_engine(any_db_url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    for run in live_order(log):
        with factory() as session, session.begin():
            project_run(session, run)
    with factory() as session:
        before = snapshot(session)
    rebuild_from_archive(factory, batch_size=5)
    with factory() as session:
        assert snapshot(session) == before
        row = session.execute(select(meetings).where(meetings.c.meeting_id == "A1-x")).one()
    assert (row.minutes, row.conclusion, row.topic, row.place) == (awkward, "\\N", "", None)
    engine.dispose()


def test_rebuilding_an_empty_archive_leaves_empty_models(any_db_url):
    from services.reporting.rebuild import rebuild_from_archive

    engine = make_engine(any_db_url)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    assert rebuild_from_archive(factory) == 0
    with factory() as session:
        assert not any(snapshot(session).values())
    engine.dispose()
