"""What the dashboard, the reporting API and the exports show, through the reporting
service's own read methods and page routes with a fixed clock: members' status as of
the clock's day, annual ratings at every level, overdue tasks by one definition, the
audit log's pages and labels, cells of one name told apart, the quarterly workbook's
months, and "today" always the clock's."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from openpyxl import load_workbook
from sqlalchemy import event
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from chibo.clock import FixedClock
from chibo.db import create_schema, make_engine, session_factory
from services.reporting import audit_search, pages, source_checks
from services.reporting.audit_entrypoints import AuditEntrypoints
from services.reporting.entrypoints import ReportingQueries
from services.reporting.projector import project_run
from services.reporting.read_model import metadata, snapshot
from services.shared import settings as shared_settings
from services.shared.membership import fold
from tests.reporting_caller import as_identity
from tests.support import Db
from tests.unit.test_reporting_projection import Log, held, rebuild_order, unit
from tests.unit.test_reporting_web import visible_text

NOW = datetime(2026, 3, 10, 8, 0)  # the clock: March 2026 is running


def admit(log: Log, member_id: str, cell_id: str, full: bool = True) -> None:
    log.add("members", "member_admitted", member_id=member_id, full_name=f"Lò Văn {member_id}",
            cell_id=cell_id, admitted_on="2020-01-01")
    if full:
        log.add("members", "member_confirmed", member_id=member_id,
                effective_date="2021-01-01")


def task(log: Log, task_id: str, cell_id: str, due_on: str, meeting_id: str) -> None:
    log.add("meetings", "task_assigned", task_id=task_id, cell_id=cell_id,
            meeting_id=meeting_id, resolution_id="r", title=f"Việc {task_id}",
            assignee_name="Lò Văn 1", due_on=due_on)


def province() -> Log:
    """Province P; communes X and Y each with a "Chi bộ thôn 1" (X1, Y1) and X2; Y merges
    into X on 1 February 2026, so two cells of one name sit under X."""
    log = Log()
    unit(log, "P", "province", None)
    unit(log, "X", "committee", "P")
    unit(log, "Y", "committee", "P")
    for cell, parent in (("X1", "X"), ("X2", "X"), ("Y1", "Y")):
        log.add("members", "unit_established", unit_id=cell, name="Chi bộ thôn 1"
                if cell != "X2" else "Chi bộ thôn 2", kind="grassroots_cell", parent_id=parent,
                effective_date="2025-01-01")
    for n in range(6):
        admit(log, f"X1-m{n}", "X1", full=n != 5)  # m5 stays probationary
    for n in range(3):
        admit(log, f"X2-m{n}", "X2")
        admit(log, f"Y1-m{n}", "Y1")
    # Away until the end of January (the period ends by date); away, then back by a
    # recorded return; away still; exempt; struck off.
    log.add("members", "member_working_away", member_id="X1-m0", reason="Đi làm ăn xa",
            from_date="2025-11-01", until_date="2026-01-31")
    log.add("members", "member_working_away", member_id="X1-m1", reason="Đi làm ăn xa",
            from_date="2025-11-01", until_date=None)
    log.add("members", "member_returned", member_id="X1-m1", effective_date="2026-02-15")
    log.add("members", "member_working_away", member_id="X1-m2", reason="Đi làm ăn xa",
            from_date="2026-02-01", until_date=None)
    log.add("members", "member_exempted", member_id="X2-m0", reason="Tuổi cao",
            from_date="2025-06-01")
    log.add("members", "member_removed", member_id="X2-m1", kind="struck_off",
            reason="Bỏ sinh hoạt", effective_date="2026-02-20")
    # The year-end review of 2025 (no month of 2025 has figures) and one of 2026 early.
    for member_id, level in (("X1-m0", "excellent"), ("X1-m1", "good"), ("X1-m2", "good"),
                             ("X1-m3", "complete"), ("X2-m2", "excellent"),
                             ("Y1-m0", "failed"), ("Y1-m1", "good")):
        log.add("members", "member_rated", member_id=member_id, year=2025, level=level)
    for month in ("01", "02", "03"):
        for cell in ("X1", "X2"):
            held(log, f"{cell}-{month}", cell, f"2026-{month}-05")
    held(log, "Y1-01", "Y1", "2026-01-06")
    # 1 February: Y merges into X (its cell moves under X, Y is dissolved).
    log.add("members", "unit_moved", unit_id="Y1", from_parent_id="Y", parent_id="X",
            effective_date="2026-02-01")
    log.add("members", "unit_dissolved", unit_id="Y", reason="sáp nhập", successor_id="X",
            effective_date="2026-02-01")
    log.add("members", "units_merged", successor_id="X", merged_ids=["Y"],
            effective_date="2026-02-01")
    held(log, "Y1-02", "Y1", "2026-02-06")
    # Tasks: one past due in February and never marked by meetings, one done late, one
    # cancelled; in March (running), one past due on the 5th, one due on the 20th.
    task(log, "t-feb", "X1", "2026-02-25", "X1-01")
    task(log, "t-done", "X1", "2026-02-10", "X1-01")
    log.add("meetings", "task_completed", task_id="t-done", result="xong",
            completed_on="2026-02-28")
    task(log, "t-cancel", "X1", "2026-02-12", "X1-01")
    log.add("meetings", "task_cancelled", task_id="t-cancel", reason="không cần",
            cancelled_on="2026-02-01")
    task(log, "t-mar5", "X2", "2026-03-05", "X2-02")
    task(log, "t-mar20", "X2", "2026-03-20", "X2-02")
    return log


def project(runs: list[list[dict]], url: str = "sqlite://"):
    engine = make_engine(url)
    create_schema(engine, metadata, source_checks.audit_metadata)
    factory = session_factory(engine)
    for run in runs:
        with factory() as session, session.begin():
            project_run(session, run)
    return factory


class Service(ReportingQueries, AuditEntrypoints, pages.DashboardPages):
    """Reporting's read methods and page routes as plain methods."""


def service_over(factory, now: datetime = NOW) -> Service:
    found = Service()
    found.db = Db(factory)
    found.clock = FixedClock(now)
    found.shared = shared_settings.from_config({})  # the packaged unit kinds
    as_identity(found)  # a provincial administrator
    return found


@pytest.fixture(scope="module")
def factory():
    return project([[e] for e in province().events])


@pytest.fixture
def service(factory) -> Service:
    return service_over(factory)


def request(path: str, query: str = "") -> Request:
    return Request(EnvironBuilder(path=path, query_string=query).get_environ())


def page_text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return visible_text(response.get_data(as_text=True))


def csv_rows(response) -> list[dict[str, str]]:
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


# -- 1. members' status: one vocabulary, as of the clock's day ----------------------------

def test_a_members_status_is_read_for_the_clocks_day_in_one_vocabulary(service):
    statuses = {m["member_id"]: m["status"] for m in service.cell("X1")["members"]}
    assert statuses == {
        "X1-m0": "full",  # the away period ended on 31 January
        "X1-m1": "full",  # a return was recorded: full again, not "active"
        "X1-m2": "working_away", "X1-m3": "full", "X1-m4": "full",
        "X1-m5": "probationary"}
    assert {m["member_id"]: m["status"] for m in service.cell("X2")["members"]} == {
        "X2-m0": "exempt", "X2-m1": "struck_off", "X2-m2": "full"}
    assert service.member("X1-m0")["member"]["status"] == "full"
    # Before the away period ended, the same member was away.
    assert service_over(service.db.factory, datetime(2026, 1, 20)).member(
        "X1-m0")["member"]["status"] == "working_away"
    text = page_text(service.cell_page(request("/reporting/cells/X1"), "X1"))
    assert "Đi làm ăn xa" in text and "Đảng viên chính thức" in text
    assert "active" not in text


def test_the_members_service_derives_the_same_status():
    events = [SimpleNamespace(type=e["type"], data=e["data"]) for e in province().events]
    members = fold(events)
    day = NOW.date()
    assert {m: members[m].status_on(day) for m in ("X1-m0", "X1-m1", "X1-m2", "X1-m5",
                                                    "X2-m0", "X2-m1")} == {
        "X1-m0": "full", "X1-m1": "full", "X1-m2": "working_away", "X1-m5": "probationary",
        "X2-m0": "exempt", "X2-m1": "struck_off"}


# -- 2. the ratings distribution at every level -----------------------------------------

def test_ratings_are_counted_at_every_level_by_year(service):
    province_page = service.overview(None, "2026-02", None)
    # 2026 has no year-end review yet: the latest year rated, 2025, is shown.
    assert province_page["ratings"]["year"] == 2025
    assert province_page["ratings"]["levels"] == {"excellent": 2, "good": 3, "complete": 1,
                                                  "failed": 1}
    assert province_page["ratings"]["rated"] == 7
    assert [y["year"] for y in province_page["ratings"]["by_year"]] == [2026, 2025]
    children = {c["unit_id"]: c for c in province_page["children"]}
    # Counted where the members were at the end of 2025: Y1 was still under Y then.
    assert (children["X"]["members_rated"], children["X"]["rated_excellent"]) == (5, 2)
    commune = service.overview("X", "2026-02", None)
    cells = {c["unit_id"]: c for c in commune["children"]}
    assert (cells["X1"]["rated_good"], cells["X1"]["rated_complete"]) == (2, 1)
    assert cells["X2"]["members_rated"] == 1
    assert service.overview("X", "2026-02", "today")["ratings"]["rated"] == 7  # Y1 too now
    assert service.cell("X1", 2025)["ratings"]["levels"]["excellent"] == 1


def test_ratings_show_on_the_page_and_in_every_export(service):
    text = page_text(service.overview_page(request("/reporting/", "period=2026-02")))
    assert "Xếp loại đảng viên năm 2025" in text
    assert "Hoàn thành xuất sắc nhiệm vụ: 2" in text and "Không hoàn thành nhiệm vụ: 1" in text
    by_year = csv_rows(service.overview_page(request(
        "/reporting/", "period=2026-02&format=csv&table=ratings")))
    assert by_year[1]["Năm"] == "2025" and by_year[1]["Hoàn thành tốt nhiệm vụ"] == "3"
    below = csv_rows(service.unit_page(request(
        "/reporting/units/X", "period=2026-02&format=csv&table=children_ratings"), "X"))
    assert {r["Mã đơn vị"]: r["Số đảng viên được xếp loại"] for r in below} == {
        "X1": "4", "X2": "1", "Y1": "2"}
    book = load_workbook(io.BytesIO(service.quarterly_report(request(
        "/reporting/reports/quarterly.xlsx", "quarter=2026-Q1")).get_data()))
    sheet = [row for row in book["Xếp loại đảng viên"].iter_rows(values_only=True)]
    header, top = sheet[1], dict(zip(sheet[1], sheet[2], strict=True))
    assert "Hoàn thành xuất sắc nhiệm vụ" in header
    assert (top["Đơn vị"], top["Số đảng viên được xếp loại"]) == ("Đơn vị P", 7)


def test_ratings_rebuilt_equal_the_live_ones_in_any_order():
    log = province()
    live = project([[e] for e in log.events])
    rebuilt = project(rebuild_order(log, 1000))
    with live() as a, rebuilt() as b:
        expected, got = snapshot(a), snapshot(b)
    for table in expected:
        if table != "archive":
            assert sorted(got[table]) == sorted(expected[table]), table
    assert any(row[0] == "P" or row[1] == "P" for row in expected["node_periods"])


def test_chibo_rebuild_keeps_statuses_ratings_and_overdue_tasks_on_either_database(
        any_db_url):
    from services.reporting.rebuild import rebuild_from_archive

    factory = project([[e] for e in province().events], any_db_url)
    with factory() as session:
        before = snapshot(session)
    rebuild_from_archive(factory, batch_size=9)
    with factory() as session:
        assert snapshot(session) == before
    service = service_over(factory)
    assert service.overview(None, "2026-Q1", None)["summary"]["tasks_overdue"] == 2
    assert service.overview(None, "2026-02", None)["ratings"]["rated"] == 7
    assert {m["member_id"]: m["status"] for m in service.cell("X1")["members"]}[
        "X1-m0"] == "full"
    factory.kw["bind"].dispose()


# -- 3. overdue tasks: due date passed by the clock's day, neither done nor cancelled --

def test_a_task_past_its_due_date_is_overdue_on_every_page(service):
    february = service.overview("X", "2026-02", None)["summary"]
    assert (february["tasks_due"], february["tasks_completed"], february["tasks_overdue"]) == (
        2, 1, 1)  # t-feb; the cancelled one does not count, the late one was done
    quarter = service.overview(None, "2026-Q1", None)["summary"]
    assert quarter["tasks_overdue"] == 2  # t-feb and t-mar5; t-mar20 is not due yet
    assert service.overview(None, "2026-03", None)["summary"]["tasks_overdue"] == 1
    states = {t["task_id"]: t["state"] for t in service.tasks("X1") + service.tasks("X2")}
    assert states == {"t-feb": "overdue", "t-done": "completed", "t-cancel": "cancelled",
                      "t-mar5": "overdue", "t-mar20": "assigned"}
    assert "Quá hạn" in page_text(service.cell_page(request("/reporting/cells/X1"), "X1"))
    children = csv_rows(service.overview_page(request(
        "/reporting/", "period=2026-Q1&format=csv&table=children")))
    assert children[0]["Nhiệm vụ quá hạn"] == "2"
    book = load_workbook(io.BytesIO(service.quarterly_report(request(
        "/reporting/reports/quarterly.xlsx", "quarter=2026-Q1")).get_data()))
    rows = [row for row in book["Tổng hợp"].iter_rows(values_only=True)]
    overdue = rows[1].index("Nhiệm vụ quá hạn")
    assert {row[0]: row[overdue] for row in rows[2:]} == {
        "Quý I/2026": 2, "01/2026": 0, "02/2026": 1, "03/2026": 1}
    # A week later t-mar20 is still open but not yet due; after the 20th it is overdue.
    later = service_over(service.db.factory, datetime(2026, 3, 21))
    assert later.overview(None, "2026-Q1", None)["summary"]["tasks_overdue"] == 3


# -- 5. cells of one name under one committee after a merge ------------------------------

def test_cells_of_one_name_are_told_apart_by_code_and_former_parent(service):
    cells = {c["unit_id"]: c for c in service.overview("X", "2026-02", None)["children"]}
    assert cells["X1"]["name"] == cells["Y1"]["name"] == "Chi bộ thôn 1"
    assert cells["Y1"]["former_parent_name"] == "Đơn vị Y"
    assert cells["X1"]["former_parent_name"] is None
    rows = csv_rows(service.unit_page(request(
        "/reporting/units/X", "period=2026-02&format=csv&table=children"), "X"))
    assert [(r["Đơn vị"], r["Mã đơn vị"], r["Trước đây trực thuộc"]) for r in rows] == [
        ("Chi bộ thôn 1", "X1", ""), ("Chi bộ thôn 1", "Y1", "Đơn vị Y"),
        ("Chi bộ thôn 2", "X2", "")]
    text = page_text(service.cell_page(request("/reporting/cells/Y1"), "Y1"))
    assert "Trước đây trực thuộc Đơn vị Y" in text and "Mã đơn vị Y1" in text
    # The heat map lists them side by side too: the moved one says where it came from.
    heat = page_text(service.unit_heatmap_page(request("/reporting/units/X/heatmap",
                                                       "year=2026"), "X"))
    assert "Y1 · Trước đây trực thuộc: Đơn vị Y" in heat
    rows = csv_rows(service.unit_heatmap_page(request(
        "/reporting/units/X/heatmap", "year=2026&format=csv&table=heatmap"), "X"))
    assert [(r["Chi bộ"], r["Mã đơn vị"], r["Trước đây trực thuộc"]) for r in rows] == [
        ("Chi bộ thôn 1", "X1", ""), ("Chi bộ thôn 1", "Y1", "Đơn vị Y"),
        ("Chi bộ thôn 2", "X2", "")]


# -- 6. the quarterly workbook leaves out months the clock has not reached ---------------

def test_the_quarterly_workbook_has_no_row_for_a_month_not_begun(factory):
    mid_february = service_over(factory, datetime(2026, 2, 14))
    book = load_workbook(io.BytesIO(mid_february.quarterly_report(request(
        "/reporting/reports/quarterly.xlsx", "quarter=2026-Q1")).get_data()))
    rows = [row for row in book["Tổng hợp"].iter_rows(values_only=True)]
    assert [row[:2] for row in rows[2:]] == [
        ("Quý I/2026", "Đang diễn ra (số liệu chưa đủ)"), ("01/2026", "Đã kết thúc"),
        ("02/2026", "Đang diễn ra (số liệu chưa đủ)")]
    in_april = service_over(factory, datetime(2026, 4, 2))
    book = load_workbook(io.BytesIO(in_april.quarterly_report(request(
        "/reporting/reports/quarterly.xlsx", "quarter=2026-Q1")).get_data()))
    rows = [row for row in book["Tổng hợp"].iter_rows(values_only=True)]
    assert [row[:2] for row in rows[2:]] == [
        ("Quý I/2026", "Đã kết thúc"), ("01/2026", "Đã kết thúc"), ("02/2026", "Đã kết thúc"),
        ("03/2026", "Đã kết thúc")]


# -- 7. "today" is the clock's, never the machine's ---------------------------------------

def test_a_page_without_a_year_opens_the_clocks_year():
    factory = project([[e] for e in province().events])
    far = service_over(factory, datetime(2031, 5, 2))
    assert far.cell("X1")["year"] == 2026  # the cell's latest year with figures
    with factory() as session, session.begin():
        project_run(session, _events_after(
            "members", [("unit_established", {"unit_id": "Z1", "name": "Chi bộ mới",
                                              "kind": "grassroots_cell", "parent_id": "X",
                                              "effective_date": "2031-05-01"}),
                        ("member_admitted", {"member_id": "Z1-m0", "full_name": "Lò Văn Z",
                                             "cell_id": "Z1", "admitted_on": "2031-05-01"})]))
    assert far.cell("Z1")["year"] == 2031  # nothing recorded yet: the clock's year
    assert far.member("Z1-m0")["year"] == 2031


def _events_after(source: str, events: list[tuple[str, dict]]) -> list[dict]:
    positions = {"members": 10_000}
    out = []
    for type_, data in events:
        positions[source] += 1
        out.append({"source": source, "position": positions[source],
                    "event_id": str(uuid.uuid4()), "stream_id": f"{source}-{type_}",
                    "type": type_, "version": 1, "data": data,
                    "metadata": {"actor": "tester"},
                    "recorded_at": "2031-05-01T00:00:00.000000+00:00", "hash": "0" * 64})
    return out


# -- 4. the audit log: pages, indexed filters, causes that lead somewhere, labels --------

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def archive(factory, envelopes: list[dict]) -> None:
    """Archived as the live feed archives them (types the read models do not project)."""
    with factory() as session, session.begin():
        project_run(session, envelopes)


@pytest.fixture
def archived():
    """250 archived events: every fifth by a named secretary, the rest anonymous (as
    the services' own timers act); each caused by its command."""
    engine = make_engine("sqlite://")
    create_schema(engine, metadata, source_checks.audit_metadata)
    factory = session_factory(engine)
    envelopes = []
    for n in range(250):
        command = f"cmd-{n}"
        envelopes.append({
            "source": "meetings", "position": n + 1, "event_id": f"ev-{n:03d}",
            "stream_id": f"meeting-{n % 10}", "type": "meeting_scheduled", "version": 1,
            "data": {"n": n}, "recorded_at": (T0 + timedelta(minutes=n)).isoformat(
                timespec="microseconds"), "hash": "0" * 64,
            "metadata": {"actor": "Lò Thị Xuân" if n % 5 == 0 else "anonymous",
                         "command_id": command, "correlation_id": command,
                         "causation_id": command}})
    archive(factory, envelopes)
    yield factory
    engine.dispose()


def test_the_audit_search_pages_with_a_total_and_keeps_its_filters(archived):
    service = service_over(archived)
    first = service.audit_search(limit=100)
    assert (first["total"], first["offset"], len(first["results"])) == (250, 0, 100)
    assert first["previous"] is None and first["results"][0]["event_id"] == "ev-249"
    second = service.audit_search(limit=100, before=first["next"])
    assert (second["offset"], second["results"][0]["event_id"]) == (100, "ev-149")
    back = service.audit_search(limit=100, after=second["previous"])
    assert [r["event_id"] for r in back["results"]] == [r["event_id"] for r in first["results"]]
    oldest = service.audit_search(limit=100, oldest=True)
    assert (oldest["offset"], oldest["results"][-1]["event_id"], oldest["next"]) == (
        150, "ev-000", None)
    named = service.audit_search(actor="Lò Thị Xuân", limit=20)
    assert (named["total"], len(named["results"])) == (50, 20)
    html = service.audit_page(request("/reporting/audit", "actor=Lò Thị Xuân&limit=20"))
    text = page_text(html)
    assert "Sự kiện 1–20 trong tổng số 50" in text and "Trang 1/3" in text
    body = html.get_data(as_text=True)
    assert "actor=L%C3%B2+Th%E1%BB%8B+Xu%C3%A2n&amp;limit=20&amp;before=" in body  # kept


def test_audit_filters_read_indexes_not_every_row(archived):
    """The report that `?actor=causation_id&limit=1` scanned for minutes: every
    statement a search runs must find its rows through an index."""
    engine = archived.kw["bind"]
    statements = []

    @event.listens_for(engine, "before_cursor_execute")
    def keep(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    with archived() as session:
        assert audit_search.search(session, actor="causation_id", limit=1)["results"] == []
        audit_search.search(session, actor="Lò Thị Xuân", limit=5, type="meeting_scheduled")
        plans = [str(row) for statement, parameters in statements
                 for row in session.connection().exec_driver_sql(
                     "EXPLAIN QUERY PLAN " + statement, parameters)]
    event.remove(engine, "before_cursor_execute", keep)
    assert plans and not [p for p in plans if "SCAN archive" in p], plans


def test_the_cause_of_an_event_links_only_to_an_archived_event(archived):
    service = service_over(archived)
    archive(archived, [{
        "source": "supervision", "position": 1, "event_id": "ev-caused",
        "stream_id": "follower-1", "type": "follower_assigned", "version": 1,
        "data": {}, "recorded_at": (T0 + timedelta(days=1)).isoformat(timespec="microseconds"),
        "hash": "0" * 64, "metadata": {"actor": "anonymous", "command_id": "cmd-x",
                                       "correlation_id": "cmd-7", "causation_id": "ev-007"}}])
    by_command = service.audit_event_page(request("/reporting/audit/events/ev-007"), "ev-007")
    html = by_command.get_data(as_text=True)
    assert 'href="/reporting/audit/events/cmd-7"' not in html  # a command has no page
    assert "cmd-7" in visible_text(html) and "mã lệnh khởi đầu" in visible_text(html)
    by_event = service.audit_event_page(request("/reporting/audit/events/ev-caused"),
                                        "ev-caused")
    assert 'href="/reporting/audit/events/ev-007"' in by_event.get_data(as_text=True)


def test_the_audit_page_speaks_vietnamese(archived):
    service = service_over(archived)
    text = page_text(service.audit_page(request("/reporting/audit")))
    assert "Không rõ người thực hiện" in text and "anonymous" not in text
    assert "Lên lịch sinh hoạt" in text and "meeting_scheduled" not in text
    assert "Chưa rõ" in text and "UNKNOWN" not in text  # no check has run yet
    english = page_text(service.audit_page(request("/reporting/audit", "lang=en")))
    assert "Unknown (anonymous)" in english and "Meeting scheduled" in english
    event_page = page_text(service.audit_event_page(request("/reporting/audit/events/ev-001"),
                                                    "ev-001"))
    assert "Không rõ người thực hiện" in event_page and "Lên lịch sinh hoạt" in event_page


def test_every_event_type_has_a_label_in_both_languages():
    from services.reporting.web.i18n import Translator
    from services.shared.events import catalogue

    for lang in ("vi", "en"):
        missing = [name for name in sorted(catalogue._types)
                   if not Translator(lang).has(f"event_type.{name}")]
        assert missing == [], lang


def test_members_rated_for_a_year_without_figures_still_count(service):
    """A province whose records start with last year's ratings: no month of 2025 has
    figures, yet 2025's ratings count (the restructuring of 2026 does not drop them)."""
    page = service.overview(None, "2025", None)
    assert page["ratings"]["year"] == 2025 and page["ratings"]["rated"] == 7
    assert page["summary"]["cell_months"] == 0
