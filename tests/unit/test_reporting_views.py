"""The dashboard's pages from real read models: a small province projected from its
events, each query shaped by `views` and rendered in Vietnamese and English; the
page routes called directly (errors, exports, the quarterly workbook)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from chibo.clock import FixedClock
from chibo.db import create_schema
from chibo.errors import ValidationFailed
from services.reporting import audit_search, audit_trace, pages, queries, source_checks, views
from services.reporting.audit_entrypoints import AuditEntrypoints
from services.reporting.entrypoints import ReportingQueries
from services.reporting.material_pages import MaterialPages
from services.reporting.web import html_tables, render
from services.reporting.web.html_tables import Table
from services.reporting.web.i18n import Translator
from services.shared import settings as shared_settings
from services.shared.events import SOURCES
from tests import reporting_samples as samples
from tests.reporting_caller import as_identity
from tests.support import Db
from tests.unit.test_reporting_projection import live_order, project_all, province
from tests.unit.test_reporting_web import visible_text

TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def factory():
    made = project_all(live_order(province()))
    with made() as session:
        create_schema(session.get_bind(), source_checks.audit_metadata)
    return made


@pytest.fixture
def session(factory):
    with factory() as session:
        yield session


def request(path: str = "/reporting/", query: str = "", method: str = "GET",
            form: dict | None = None) -> Request:
    return Request(EnvironBuilder(path=path, query_string=query, method=method,
                                  data=form).get_environ())


def html(template: str, context: dict, lang: str = "vi", path: str = "/reporting/") -> str:
    from tests.unit.test_reporting_web import VIEWER

    return render.render_html(template, lang, render.url_with_for(request(path)),
                              **{"viewer": VIEWER, **context})


def columns(table: Table) -> list[tuple]:
    return [(c.key, c.label, c.kind, c.codes) for c in table.columns]


def same_tables(context: dict, template: str) -> None:
    """The tables a view builds have the columns the page's sample documents."""
    sample = html_tables.find_tables(samples.PAGES[template]())
    built = html_tables.find_tables(context)
    assert sorted(built) == sorted(sample), template
    for table_id, table in sample.items():
        assert columns(built[table_id]) == columns(table), (template, table_id)


# -- each page from its query ----------------------------------------------------------

def test_overview_of_the_province(session):
    context = views.overview(queries.overview(session, None, "2026-02", "then", today=TODAY))
    same_tables(context, "overview.html")
    vi = html("overview.html", context)
    text = visible_text(vi)
    assert "Đơn vị P" in text and "Đơn vị A" in text and "Đơn vị B" in text
    assert "Số liệu 02/2026" in text
    # February: A1 met, A2 did not; B1 met.
    assert "2/3 lượt chi bộ-tháng có sinh hoạt" in text
    row_a = next(r for r in context["children"].rows if r["unit_id"] == "A")
    assert row_a["met_share"] == 0.5 and row_a["cells"] == 2
    assert "50,0%" in text
    assert 'href="/reporting/units/A?period=2026-02"' in vi
    assert 'href="/reporting/units/P/heatmap?year=2026' in vi
    assert "/reporting/reports/quarterly.xlsx?quarter=2026-Q1" in vi
    en = visible_text(html("overview.html", context, "en"))
    assert "Regular meetings held" in en and "Units below" in en and "50.0%" in en


def test_a_committee_keeps_the_grouping_in_its_links(session):
    context = views.overview(queries.overview(session, "A", "2026-02", "today", today=TODAY))
    hrefs = {r["unit_id"]: r["href"] for r in context["children"].rows}
    # Today's tree: A2 merged into A1 and B1 moved under A.
    assert hrefs == {"A1": "/reporting/cells/A1?year=2026", "B1": "/reporting/cells/B1?year=2026"}
    assert context["periods"][0] == "2026-03"
    unit = views.overview(queries.overview(session, None, "2025-Q4", "today", today=TODAY))
    assert unit["periods"][0] == "2025-Q4"  # a period asked for is offered even when empty
    assert unit["children"].rows[0]["href"] == "/reporting/units/A?period=2025-Q4&grouping=today"


def test_heatmap_lists_the_cells_under_each_committee(session):
    data = queries.heatmap_cells(session, None, 2026, "then", TODAY)
    context = views.heatmap(data)
    same_tables({"table": context["table"]}, "heatmap.html")
    rows = {r["cell_id"]: r for r in context["rows"]}
    # A2 was dissolved on 1 March 2026: its months before are shown, and after as dissolved.
    assert set(rows) == {"A1", "A2", "B1"}
    assert rows["A2"]["months"]["2026-01"]["state"] == "held"
    assert rows["A2"]["months"]["2026-03"]["state"] == "dissolved"
    assert rows["A1"]["parent_name"] == "Đơn vị A"
    assert rows["A1"]["months"]["2026-01"] == {"state": "held", "level": "good"}
    assert rows["B1"]["months"]["2026-01"] == {"state": "held", "level": "fair"}
    assert rows["A1"]["months"]["2026-05"]["state"] == "not_due"
    vi = html("heatmap.html", context, path="/reporting/heatmap")
    assert 'href="/reporting/cells/A1?year=2026"' in vi
    assert 'data-state="held" data-level="fair"' in vi
    assert "Bản đồ sinh hoạt chi bộ: Đơn vị P" in visible_text(vi)
    assert "Cell meeting map" in visible_text(html("heatmap.html", context, "en"))
    table = list(csv.reader(io.StringIO(
        html_tables.to_csv(context["table"], Translator("vi")).decode("utf-8-sig"))))
    assert table[0][:6] == ["Chi bộ", "Trực thuộc", "Mã đơn vị", "Trước đây trực thuộc",
                            "01/2026", "02/2026"]
    assert ["Đơn vị A1", "Đơn vị A", "A1", "", "Tốt", "Tốt", "Tốt"] == table[1][:7]


def test_heatmap_of_a_month_still_running_is_not_due(session):
    context = views.heatmap(queries.heatmap_cells(session, "A", 2026, "today", TODAY))
    rows = {r["cell_id"]: r["months"] for r in context["rows"]}
    # B1 has no meeting in March, the latest month: not yet due.
    assert rows["B1"]["2026-03"] == {"state": "not_due", "level": None}


def test_cell_page(session):
    context = views.cell(queries.cell(session, "A1", 2026, today=TODAY))
    same_tables(context, "cell.html")
    months = {r["month"]: r for r in context["months"].rows}
    assert months["2026-01"]["state"] == "good" and months["2026-01"]["visited"] == "no"
    assert (months["2026-02"]["members_counted"], months["2026-02"]["members_present"]) == (5, 4)
    assert context["months"].rows[0]["month"] == "2026-03"  # latest first
    assert [t["held_on"] for t in context["tasks"].rows] == ["2026-01-05", "2026-01-05"]
    vi = html("cell.html", context, path="/reporting/cells/A1")
    text = visible_text(vi)
    assert "Đơn vị A1" in text and "Đơn vị A" in text
    assert "05/01/2026" in text and "80,0%" in text
    assert "Làm đường" in text and "Đã hoàn thành" in text and "Quá hạn" in text
    assert 'href="/reporting/meetings/A1-01"' in vi
    assert 'href="/reporting/members/A1-m0?year=2026"' in vi
    assert "Lò Văn 0" in text
    en = visible_text(html("cell.html", context, "en", path="/reporting/cells/A1"))
    assert "Month by month" in en and "80.0%" in en and "Completed" in en


def test_meeting_page(session):
    context = views.meeting(queries.meeting(session, "A1-01", today=TODAY))
    same_tables(context, "meeting.html")
    vi = html("meeting.html", context, path="/reporting/meetings/A1-01")
    text = visible_text(vi)
    assert "Biên bản sinh hoạt: Đơn vị A1" in text and "05/01/2026" in text
    assert "4/5 đảng viên có mặt" in text and "Vắng không lý do" in text
    assert 'href="/reporting/members/A1-m4"' in vi
    assert 'href="/reporting/cells/A1?year=2026"' in vi
    assert {t["held_on"] for t in context["tasks"].rows} == {"2026-01-05"}
    en = visible_text(html("meeting.html", context, "en"))
    assert "Meeting minutes" in en and "Absent without reason" in en


def test_member_page(session):
    context = views.member(queries.member(session, "A1-m4", 2026, today=TODAY))
    same_tables(context, "member.html")
    year = context["years"].rows[0]
    assert (year["year"], year["meetings"], year["attended"], year["absent_unexcused"],
            year["absent_excused"]) == ("2026", 4, 0, 4, 0)
    vi = html("member.html", context, path="/reporting/members/A1-m4")
    text = visible_text(vi)
    assert "Lò Văn 4" in text and "Dự sinh hoạt năm 2026" in text and "0,0%" in text
    assert 'href="/reporting/members/A1-m4?year=2026"' in vi
    assert 'href="/reporting/meetings/A1-t1"' in vi
    assert "Attendance in 2026" in visible_text(html("member.html", context, "en"))


def test_escalations_page_and_an_action_refused(session):
    data = queries.escalation_list(session, TODAY, "open")
    context = views.escalations(data)
    same_tables(context, "escalations.html")
    assert context["filters"] == {"state": "open", "level": "", "rule": "", "unit": ""}
    vi = html("escalations.html", context, path="/reporting/escalations")
    text = visible_text(vi)
    assert "Không sinh hoạt thường kỳ" in text and "03/03/2026" in text
    assert "Đã tiếp nhận" in text
    assert 'action="/reporting/escalations/e1/resolve"' in vi
    assert "/acknowledge" not in vi  # acknowledged already
    assert 'data-testid="action-error"' not in vi
    refused = views.escalations(data, "Escalation e1 is acknowledged.", 409)
    text = visible_text(html("escalations.html", refused, path="/reporting/escalations"))
    assert "Không thực hiện được" in text and "Escalation e1 is acknowledged." in text
    en = visible_text(html("escalations.html", refused, "en"))
    assert "That could not be done" in en and "Missed the regular meeting" in en


def test_audit_pages(session):
    found = audit_search.search_by_query(session, {"type": "meeting_held", "limit": "5"})
    status = source_checks.latest_status(session, SOURCES)
    context = views.audit(found, status, {"type": "meeting_held"})
    same_tables(context, "audit.html")
    assert context["filters"]["type"] == "meeting_held" and context["filters"]["actor"] == ""
    vi = html("audit.html", context, path="/reporting/audit")
    event_id = found["results"][0]["event_id"]
    assert f'href="/reporting/audit/events/{event_id}"' in vi
    assert "Chưa rõ" in visible_text(vi) and "UNKNOWN" not in visible_text(vi)
    assert "Ghi biên bản sinh hoạt" in visible_text(vi)  # meeting_held, by its label
    detail = views.audit_event(audit_trace.event(session, event_id))
    assert detail["chain"] and all("event_id" in step for step in detail["chain"])
    text = visible_text(html("audit_event.html", detail))
    assert "meeting_held" in text and "Thông tin ghi nhận" in text and "tester" in text


# -- the quarterly workbook --------------------------------------------------------------

def test_quarterly_workbook(session):
    data = pages.quarterly_data(session, "2026-Q1", None, TODAY)
    tr = Translator("vi")
    title, sheets = views.quarterly(data, tr)
    assert title == "Báo cáo quý: Đơn vị P, Quý I/2026"
    book = load_workbook(io.BytesIO(html_tables.to_xlsx(sheets, tr, title)))
    assert book.sheetnames == ["Tổng hợp", "Các đơn vị trực thuộc", "Đơn vị cấp dưới",
                               "Xếp loại đảng viên", "Cảnh báo chưa giải quyết"]
    summary = [list(row) for row in book["Tổng hợp"].iter_rows(values_only=True)]
    assert summary[0][0] == title
    header = summary[1]
    assert header[:6] == ["Kỳ", "Tình trạng kỳ", "Số chi bộ", "Lượt chi bộ-tháng",
                          "Lượt có sinh hoạt thường kỳ", "Sinh hoạt thường kỳ đủ (%)"]
    # 10 March: the quarter and March are still running, January and February are over.
    assert [row[:2] for row in summary[2:]] == [
        ["Quý I/2026", "Đang diễn ra (số liệu chưa đủ)"], ["01/2026", "Đã kết thúc"],
        ["02/2026", "Đã kết thúc"], ["03/2026", "Đang diễn ra (số liệu chưa đủ)"]]
    quarter = dict(zip(header, summary[2], strict=True))
    assert (quarter["Số chi bộ"], quarter["Lượt chi bộ-tháng"],
            quarter["Lượt có sinh hoạt thường kỳ"]) == (3, 8, 6)
    assert quarter["Sinh hoạt thường kỳ đủ (%)"] == 0.75
    february = dict(zip(header, summary[4], strict=True))
    assert february["Lượt có sinh hoạt thường kỳ"] == 2 and february["Số chi bộ"] == 3
    units = [row for row in book["Các đơn vị trực thuộc"].iter_rows(values_only=True)][2:]
    assert [row[0] for row in units] == ["Đơn vị A"]
    below = [row for row in book["Đơn vị cấp dưới"].iter_rows(values_only=True)][2:]
    assert sorted((row[0], row[1]) for row in below) == [("Đơn vị A", "Đơn vị A1"),
                                                         ("Đơn vị A", "Đơn vị B1")]
    escalations = [row for row in book["Cảnh báo chưa giải quyết"].iter_rows(values_only=True)]
    assert escalations[2][0] == "Không sinh hoạt thường kỳ"


def test_overview_children_csv_round_trips(session):
    context = views.overview(queries.overview(session, None, "2026-Q1", "today", today=TODAY))
    body = html_tables.to_csv(context["children"], Translator("vi"))
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [r["Đơn vị"] for r in rows] == ["Đơn vị A"]
    assert rows[0]["Số chi bộ"] == "3"
    assert float(rows[0]["Sinh hoạt thường kỳ đủ (%)"]) == pytest.approx(
        100 * context["children"].rows[0]["met_share"], abs=0.05)


# -- the routes, called directly --------------------------------------------------------

class Actions:
    def __init__(self) -> None:
        self.done: list[tuple[str, dict]] = []
        self.refuse: Exception | None = None

    def __call__(self, action: str, escalation_id: str, payload: dict) -> dict:
        if self.refuse:
            raise self.refuse
        self.done.append((action, {**payload, "escalation_id": escalation_id}))
        return {"escalation_id": escalation_id, "events": []}


class Service(ReportingQueries, AuditEntrypoints, pages.DashboardPages, MaterialPages):
    """The page routes with the service's read methods, as plain methods."""


@pytest.fixture
def service(factory):
    found = Service()
    found.db = Db(factory)
    found.clock = FixedClock(datetime(2026, 3, 10, 8, 0))
    found.shared = shared_settings.from_config({})  # the packaged unit kinds
    as_identity(found)  # a provincial administrator
    found.act_on_escalation = Actions()
    return found


def test_every_page_route_answers_html(service):
    for route, args, path in [
            (service.overview_page, (), "/reporting/"),
            (service.unit_page, ("A",), "/reporting/units/A"),
            (service.heatmap_page, (), "/reporting/heatmap"),
            (service.unit_heatmap_page, ("A",), "/reporting/units/A/heatmap"),
            (service.cell_page, ("A1",), "/reporting/cells/A1"),
            (service.meeting_page, ("A1-01",), "/reporting/meetings/A1-01"),
            (service.member_page, ("A1-m0",), "/reporting/members/A1-m0"),
            (service.escalations_page, (), "/reporting/escalations")]:
        response = route(request(path), *args)
        assert response.status_code == 200, path
        assert response.content_type == "text/html; charset=utf-8"
        assert "chibo — Giám sát sinh hoạt chi bộ" in response.get_data(as_text=True)


def test_a_route_exports_its_tables(service):
    response = service.overview_page(request("/reporting/", "period=2026-02&format=csv"
                                             "&table=children"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "tong-quan-2026-02-children.csv" in response.headers["Content-Disposition"]
    assert "Đơn vị A" in response.get_data().decode("utf-8-sig")
    response = service.cell_page(request("/reporting/cells/A1", "format=xlsx"), "A1")
    assert load_workbook(io.BytesIO(response.get_data())).sheetnames == [
        "Sinh hoạt từng tháng", "Các buổi sinh hoạt", "Nhiệm vụ", "Đảng viên"]


def test_errors_are_pages(service):
    missing = service.cell_page(request("/reporting/cells/nope"), "nope")
    assert missing.status_code == 404 and missing.content_type.startswith("text/html")
    text = visible_text(missing.get_data(as_text=True))
    assert "Không tìm thấy trang" in text and "No unit 'nope'" in text
    assert "kiểm tra lại đường dẫn" in text
    bad = service.overview_page(request("/reporting/", "period=2026-13"))
    assert bad.status_code == 422 and "Yêu cầu chưa hợp lệ" in bad.get_data(as_text=True)
    bad_year = service.cell_page(request("/reporting/cells/A1", "year=abc"), "A1")
    assert bad_year.status_code == 422
    bad_state = service.escalations_page(request("/reporting/escalations", "state=closed"))
    assert bad_state.status_code == 422


def test_an_unexpected_failure_is_logged_and_gets_the_500_page(service, caplog):
    service.db = None  # anything that breaks
    response = service.overview_page(request("/reporting/", "lang=en"))
    assert response.status_code == 500
    assert "Something went wrong" in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert any("failed" in r.message for r in caplog.records)


def test_an_action_redirects_back_or_shows_why_it_was_refused(service):
    form = {"how": " Đã họp bù ", "next": "/reporting/escalations?state="}
    done = service.resolve_form(request("/reporting/escalations/e1/resolve", method="POST",
                                        form=form), "e1")
    # Back to the list it came from, which then says who acted and when.
    assert done.status_code == 303
    assert done.headers["Location"] == "/reporting/escalations?state=&done=resolve&esc=e1"
    assert service.act_on_escalation.done == [
        ("resolve", {"escalation_id": "e1", "how": "Đã họp bù"})]
    elsewhere = service.acknowledge_form(request(
        "/reporting/escalations/e1/acknowledge", method="POST",
        form={"next": "https://example.org/"}), "e1")
    assert elsewhere.headers["Location"] == "/reporting/escalations?done=acknowledge&esc=e1"
    from chibo.errors import DomainRuleViolated

    service.act_on_escalation.refuse = DomainRuleViolated("Escalation e1 is acknowledged.")
    refused = service.acknowledge_form(request(
        "/reporting/escalations/e1/acknowledge", method="POST",
        form={"next": "/reporting/escalations?state=&lang=en"}), "e1")
    assert refused.status_code == 409 and refused.content_type.startswith("text/html")
    page = refused.get_data(as_text=True)
    assert "Escalation e1 is acknowledged." in page and "That could not be done" in page
    # The page shown is the list it came from: its links point there, not at the POST.
    assert 'href="/reporting/escalations?state=&amp;lang=vi"' in page


def test_quarterly_route_validates_the_quarter_and_names_the_file(service):
    with pytest.raises(ValidationFailed) as refused:
        service.quarterly_report(request("/reporting/reports/quarterly.xlsx", "quarter=2026-3"))
    assert "quarter" in refused.value.fields
    response = service.quarterly_report(request("/reporting/reports/quarterly.xlsx"))
    assert "bao-cao-quy-2026-Q1.xlsx" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames[0] == "Tổng hợp"


def test_next_only_on_the_dashboard():
    assert pages.safe_next("/reporting/units/A?period=2026-02", "/x") == \
        "/reporting/units/A?period=2026-02"
    for bad in (None, "", "//evil.org/", "https://evil.org/reporting/", "/reportingx",
                "/reporting/\r\nSet-Cookie: a=b", "/reporting\\..\\"):
        assert pages.safe_next(bad, "/reporting/escalations") == "/reporting/escalations"


def test_a_heat_map_page_too_long_for_a_screen_is_cut_and_says_so(monkeypatch, session):
    from services.reporting import views as page_views

    monkeypatch.setattr(page_views, "HEATMAP_PAGE_ROWS", 1)
    context = page_views.heatmap(queries.heatmap_cells(session, None, 2026, "then", TODAY))
    # A1, B1 and A2 (dissolved in March, its months shown until then)
    assert len(context["rows"]) == 1 and context["hidden_rows"] == 2
    assert len(context["table"].rows) == 3  # the export keeps every cell
    html = render.render_html("heatmap.html", "vi", lambda **_: "#", **context)
    assert "còn 2 chi bộ nữa" in html
