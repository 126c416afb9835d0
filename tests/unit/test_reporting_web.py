"""The reporting dashboard's web kit: labels, formats, pages, exports, static files.

Pages are rendered from the sample contexts in both languages and read as text;
browser behaviour (sorting, filtering, charts) is tested elsewhere.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from services.reporting.pages import Viewer
from services.reporting.web import html_tables, i18n, render
from services.reporting.web.i18n import Translator
from services.shared.events import meetings as meeting_events
from services.shared.events import members as member_events
from services.shared.events import supervision as supervision_events
from services.shared.tree import default_kinds
from tests import reporting_samples as samples

TEMPLATES = Path(render.TEMPLATES)
LANGS = ("vi", "en")


def request(path: str = "/reporting/", query: str = "", cookies: dict | None = None,
            headers: dict | None = None) -> Request:
    builder = EnvironBuilder(path=path, query_string=query, headers=headers or {})
    for name, value in (cookies or {}).items():
        builder.headers.add("Cookie", f"{name}={value}")
    return Request(builder.get_environ())


#: Who the sample pages are shown to: an administrator, offered everything.
VIEWER = Viewer("Nguyễn Thị Hoa", ("Quản trị viên cấp tỉnh (provincial administrator)",),
                "csrf-mau", can_audit=True, can_act_on_escalations=True)
#: A commune's viewer: figures only, no audit log, no escalation actions.
READER = Viewer("Lò Văn Hùng", ("Người xem (viewer) — Xã Sơn Thủy",), "csrf-xem")


def page(template: str, lang: str, path: str = "/reporting/x", viewer: Viewer | None = VIEWER
         ) -> str:
    context = samples.PAGES[template]()
    response = render.render_page(template, request(path, f"lang={lang}"), viewer=viewer,
                                  **context)
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    return response.get_data(as_text=True)


class _Text(HTMLParser):
    """The text a reader sees (no attributes, no script data)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


# -- messages ---------------------------------------------------------------------------

def template_keys() -> tuple[set[str], set[str]]:
    """Literal keys (``t('nav.overview')``) and prefixes of computed ones
    (``t('level.' ~ level)``) used by the templates."""
    keys, prefixes = set(), set()
    for path in TEMPLATES.glob("*.html"):
        for key, after in re.findall(r"\bt\('([^']+)'\s*(\S)", path.read_text(encoding="utf-8")):
            (prefixes if after == "~" else keys).add(key)
    return keys, prefixes


def test_every_key_the_templates_use_has_both_languages():
    keys, prefixes = template_keys()
    assert "nav.overview" in keys and len(keys) > 100
    missing = {lang: sorted(k for k in keys if not Translator(lang).has(k)) for lang in LANGS}
    assert missing == {"vi": [], "en": []}
    # Computed keys: the code sets are checked below; here, that each prefix is known.
    unknown = [p for p in prefixes if not any(k.startswith(p) for k in i18n.messages())]
    assert unknown == []


def test_every_message_has_both_languages_and_no_empty_label():
    for key, entry in i18n.messages().items():
        assert set(entry) == {"vi", "en"}, key
        assert all(isinstance(text, str) and text.strip() for text in entry.values()), key


@pytest.mark.parametrize("prefix, codes", [
    ("level", meeting_events.QUALITY_LEVELS),
    ("meeting_kind", meeting_events.MEETING_KINDS),
    ("attendance", meeting_events.RECORDED_STATUSES),
    ("rule", supervision_events.RULES),
    ("esc_state", ("raised", "acknowledged", "resolved")),
    ("task_state", ("assigned", "completed", "overdue", "cancelled")),
    ("rating", member_events.RATING_LEVELS),
    ("member_status", ("full", "probationary", *member_events.REMOVAL_KINDS)),
    ("unit_kind", tuple(default_kinds())),
    ("flag", ("short_meeting", "extra_regular_meeting", "materials_late")),
    ("heat_cell", ("good", "fair", "average", "poor", "unscored", "missed", "not_due",
                   "not_established", "dissolved", "none",
                   *(f"late_{level}" for level in ("good", "fair", "average", "poor",
                                                   "unscored")))),
    ("audit_state", ("ok", "tampered", "unknown")),
])
def test_every_code_the_services_emit_has_a_label(prefix, codes):
    for lang in LANGS:
        missing = [c for c in codes if not Translator(lang).has(f"{prefix}.{c}")]
        assert missing == [], (lang, prefix)


def test_vietnamese_labels_for_the_value_sets():
    vi = Translator("vi")
    assert [vi.code("level", c) for c in ("good", "fair", "average", "poor")] == \
        ["Tốt", "Khá", "Trung bình", "Kém"]
    assert [vi.code("esc_state", c) for c in ("raised", "acknowledged", "resolved")] == \
        ["Mới", "Đã tiếp nhận", "Đã giải quyết"]
    assert [vi.code("meeting_kind", c) for c in ("regular", "thematic", "combined")] == \
        ["Thường kỳ", "Chuyên đề", "Thường kỳ kết hợp chuyên đề"]
    assert vi.code("unit_kind", "cell") == default_kinds()["cell"].label_vi
    assert Translator("en").code("unit_kind", "cell") == default_kinds()["cell"].label_en


def test_a_missing_key_falls_back_to_itself_and_parameters_fill_in():
    assert Translator("vi")("no.such.key") == "no.such.key"
    assert Translator("vi")("esc.level_n", n=2) == "Cấp 2"
    assert Translator("en").t("esc.level_n", n=2) == "Level 2"
    assert Translator("fr").lang == "vi"
    assert Translator("vi")("esc.level_n") == "Cấp {n}"
    assert Translator("vi")("esc.level_n", other=1) == "Cấp {n}"


# -- formats ----------------------------------------------------------------------------

def test_dates_months_and_periods():
    assert i18n.format_date("2026-10-05") == "05/10/2026"
    assert i18n.format_date(datetime(2026, 1, 2, 3, 4)) == "02/01/2026"
    assert i18n.format_date(None) == "—"
    assert i18n.format_month("2026-10") == "10/2026"
    assert i18n.format_period("2026-Q3", "vi") == "Quý III/2026"
    assert i18n.format_period("2026-Q4", "en") == "Q4 2026"
    assert i18n.format_period("2026", "vi") == "Năm 2026"
    assert i18n.format_period("2026", "en") == "2026"
    assert i18n.format_period("2026-01", "vi") == "01/2026"
    # Recorded in UTC, shown in Vietnam's time.
    assert i18n.format_datetime("2026-10-05T20:12:44+00:00") == "06/10/2026 03:12:44"


def test_numbers_and_percents_the_vietnamese_way():
    assert i18n.format_percent(0.925, "vi") == "92,5%"
    assert i18n.format_percent(0.925, "en") == "92.5%"
    assert i18n.format_percent(1, "vi") == "100,0%"
    assert i18n.format_percent(None, "vi") == "—"
    assert i18n.format_number(1234567, "vi") == "1.234.567"
    assert i18n.format_number(1234567, "en") == "1,234,567"
    assert i18n.format_number(1234.56, "vi") == "1.234,6"
    assert i18n.format_number(-1500, "vi") == "-1.500"
    assert i18n.format_number(104.6, "vi", 0) == "105"


def test_language_from_query_then_cookie_then_vietnamese():
    assert i18n.pick_lang(request(query="lang=en", cookies={"lang": "vi"})) == "en"
    assert i18n.pick_lang(request(cookies={"lang": "en"})) == "en"
    assert i18n.pick_lang(request(query="lang=xx", cookies={"lang": "en"})) == "en"
    assert i18n.pick_lang(request()) == "vi"


# -- pages ------------------------------------------------------------------------------

PREFIXES = {key.split(".")[0] for key in i18n.messages()}


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("template", sorted(samples.PAGES))
def test_every_page_renders_in_both_languages_with_no_raw_keys(template, lang):
    html = page(template, lang)
    assert f'<html lang="{lang}">' in html
    assert 'name="viewport"' in html
    assert 'href="/reporting/static/app.css"' in html and 'src="/reporting/static/app.js"' in html
    assert 'data-testid="lang-en"' in html and 'data-testid="lang-vi"' in html
    text = visible_text(html)
    raw = [m.group(0) for m in re.finditer(r"\b([a-z_]+)\.[a-z_0-9+-]+\b", text)
           if m.group(1) in PREFIXES]
    assert raw == []
    nav = ("Tổng quan", "Cảnh báo", "Nhật ký kiểm tra") if lang == "vi" else \
        ("Overview", "Escalations", "Audit log")
    assert all(label in text for label in nav)
    if lang == "vi":
        assert "chibo — Giám sát sinh hoạt chi bộ" in text


def test_overview_in_vietnamese():
    html = page("overview.html", "vi")
    text = visible_text(html)
    for expected in ("Tỉnh ủy Thanh Hóa", "Quý III/2026", "Theo cây tổ chức khi đó",
                     "Theo cây tổ chức hiện nay", "Đảng ủy xã Quan Sơn", "92,5%",
                     "Báo cáo quý (Excel)", "Trung bình", "Cấp 1"):
        assert expected in text, expected
    assert 'href="/reporting/reports/quarterly.xlsx?quarter=2026-Q3"' in html
    assert 'href="/reporting/units/u-thanh-hoa/heatmap?year=2026&amp;grouping=then"' in html
    assert 'href="/reporting/units/u-quan-son"' in html
    assert '<option value="2026-Q3" selected>Quý III/2026</option>' in html
    for testid in ("export-csv-children", "export-xlsx-children", "filter-children"):
        assert f'data-testid="{testid}"' in html
    assert 'href="/reporting/x?lang=vi&amp;format=csv&amp;table=children"' in html
    assert '<table class="data" data-table-id="children">' in html


def test_overview_embeds_the_trend_as_json():
    html = page("overview.html", "en")
    found = re.search(r'<script type="application/json" id="trend-data">(.*?)</script>',
                      html, re.S)
    data = json.loads(found.group(1))
    assert data["labels"] == ["Q4 2025", "Q1 2026", "Q2 2026", "Q3 2026"]
    assert [p["period"] for p in data["trend"]] == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert data["quality"]["good"] > 0 and data["lang"] == "en"
    assert "92.5%" in visible_text(html) and "Q3 2026" in visible_text(html)


def test_a_node_below_the_root_offers_no_quarterly_report():
    context = samples.overview()
    context["path"] = [{"unit_id": "u-thanh-hoa", "name": "Tỉnh ủy Thanh Hóa"},
                       {"unit_id": "u-quan-son", "name": "Đảng ủy xã Quan Sơn"}]
    html = render.render_html("overview.html", "vi", lambda **kw: "/x", **context)
    assert "quarterly.xlsx" not in html
    assert '<a href="/reporting/units/u-thanh-hoa?period=2026-Q3&amp;grouping=then">' in html


def test_heatmap():
    html = page("heatmap.html", "vi")
    text = visible_text(html)
    assert 'data-testid="heatmap"' in html and 'data-testid="heat-legend"' in html
    assert 'href="/reporting/cells/c-ban-ngam?year=2026"' in html
    assert 'class="hm held level-good"' in html and 'class="hm missed"' in html
    assert 'class="hm not-due"' in html and 'class="hm none"' in html
    assert 'class="hm not-established"' in html and 'class="hm dissolved"' in html
    assert 'class="hm held-late level-fair"' in html
    assert "Chi bộ thôn Đông Tiến" in text and "Không sinh hoạt" in text
    assert 'data-testid="export-xlsx-heatmap"' in html
    assert 'title="Chi bộ bản Máy · 06/2026: Không sinh hoạt"' in html


def test_cell_page():
    html = page("cell.html", "vi")
    text = visible_text(html)
    assert "26/03/1976" in text and "05/10/2026" in text and "10/2026" in text
    assert '<a href="/reporting/meetings/m-2026-10">05/10/2026</a>' in html
    assert '<a href="/reporting/members/p-2">Lò Thị Ánh</a>' in html
    for table in ("months", "meetings", "tasks", "members"):
        assert f'data-testid="export-csv-{table}"' in html
    assert "Đảng viên dự bị" in text and "Quá hạn" in text and "96,0%" in text


def test_meeting_page_escapes_the_minutes():
    html = page("meeting.html", "vi")
    text = visible_text(html)
    for expected in ("05/10/2026", "Thường kỳ kết hợp chuyên đề", "Nhà văn hóa bản Máy",
                     "135 phút", "Hà Văn Bằng", "Vắng có lý do", "Vắng không lý do",
                     "Biểu quyết: 23/25 tán thành", "Tài liệu gửi muộn"):
        assert expected in text, expected
    assert "&lt;liên bản&gt; &amp; nước sạch" in html
    assert "<liên bản>" not in html


def test_member_page():
    html = page("member.html", "vi")
    text = visible_text(html)
    assert "Dự sinh hoạt năm 2026" in text and "Hoàn thành xuất sắc nhiệm vụ" in text
    assert '<a href="/reporting/members/p-2?year=2025">2025</a>' in html
    assert '<a href="/reporting/meetings/m-2026-08">04/08/2026</a>' in html


def test_escalations_offer_actions_only_on_open_rows():
    html = page("escalations.html", "vi")
    text = visible_text(html)
    assert 'action="/reporting/escalations/e-1/acknowledge"' in html
    assert 'data-testid="ack-e-1"' in html and 'data-testid="resolve-e-1"' in html
    # Acknowledged: can still be resolved, not acknowledged again; resolved: nothing.
    assert 'data-testid="ack-e-2"' not in html and 'data-testid="resolve-e-2"' in html
    assert "e-3/" not in html
    # Who acts is the login: no name is asked for, and every form carries the CSRF token.
    assert 'name="how"' in html and 'name="by"' not in html
    assert html.count('name="csrf_token" value="csrf-mau"') == html.count('method="post"')
    assert "Xử lý với tên Nguyễn Thị Hoa" in text
    for expected in ("Mới", "Đã tiếp nhận", "Đã giải quyết", "Tiếp nhận", "Giải quyết",
                     "Không sinh hoạt thường kỳ", "09/2026", "Quý III/2026", "Trên 30 ngày"):
        assert expected in text, expected


def test_a_reader_is_not_offered_the_audit_log_or_escalation_actions():
    html = page("escalations.html", "vi", viewer=READER)
    text = visible_text(html)
    assert "Nhật ký kiểm tra" not in text and 'data-testid="nav-audit"' not in html
    assert 'action="/reporting/escalations/' not in html and "Xử lý với tên" not in text
    assert "Không sinh hoạt thường kỳ" in text  # the list itself is shown


def test_audit_page():
    html = page("audit.html", "en")
    text = visible_text(html)
    assert "Tampered" in text and "Intact" in text and "Unknown" in text
    assert "Events 101–200 of 13,330" in text and "Page 2 of 134" in text
    assert 'data-testid="audit-status-meetings"' in html
    assert '<form method="post" action="/reporting/audit/verify"' in html
    assert '<a href="/reporting/audit/events/ev-7f3a">ev-7f3a</a>' in html
    assert 'value="2026-10-01"' in html and 'value="Lò Thị Ánh"' in html
    assert "05/10/2026 10:12:44" in text  # 03:12 UTC is 10:12 in Vietnam


def test_audit_event_page():
    html = page("audit_event.html", "vi")
    text = visible_text(html)
    assert '"place": "Nhà văn hóa bản Máy"' in text  # readable, not \u escapes
    assert 'href="/reporting/audit/events/ev-6d20"' in html
    assert 'href="/reporting/audit/events/ev-7f3b"' in html
    assert "Chuỗi nguyên nhân" in text and "(sự kiện này)" in text


def test_error_page_is_friendly():
    response = render.error_page(request(), 404)
    assert response.status_code == 404
    text = visible_text(response.get_data(as_text=True))
    assert "Không tìm thấy trang" in text and "Về trang tổng quan" in text


def test_language_cookie_is_set_only_when_chosen():
    context = samples.error()
    chosen = render.render_page("error.html", request(query="lang=en"), **context)
    assert "lang=en" in chosen.headers["Set-Cookie"]
    remembered = render.render_page("error.html", request(cookies={"lang": "en"}), **context)
    assert "Set-Cookie" not in remembered.headers
    assert '<html lang="en">' in remembered.get_data(as_text=True)


def test_url_with_replaces_and_removes_parameters():
    url_with = render.url_with_for(request("/reporting/units/u-1", "period=2026-Q3&lang=vi"))
    assert url_with(lang="en") == "/reporting/units/u-1?period=2026-Q3&lang=en"
    assert url_with(period=None) == "/reporting/units/u-1?lang=vi"
    assert url_with(format="csv", table="children") == \
        "/reporting/units/u-1?period=2026-Q3&lang=vi&format=csv&table=children"


# -- exports ----------------------------------------------------------------------------

def test_csv_has_a_bom_translated_headers_and_plain_values():
    body = html_tables.to_csv(samples.children_table(), Translator("vi"))
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:5] == ["Đơn vị", "Mã đơn vị", "Trước đây trực thuộc", "Số chi bộ",
                           "Sinh hoạt thường kỳ đủ (%)"]
    assert rows[1][:5] == ["Đảng ủy xã Quan Sơn", "u-quan-son", "", "190", "92.5"]
    assert rows[3][2] == "Đảng ủy xã Sơn Điện"
    assert rows[4][4] == ""  # no value: an empty cell, not a dash

    tasks = list(csv.reader(io.StringIO(
        html_tables.to_csv(samples.tasks_table(), Translator("en")).decode("utf-8-sig"))))
    assert tasks[0] == ["Task", "Assignee", "Due", "Completed on", "State", "Date"]
    assert tasks[2][2:5] == ["30/09/2026", "28/09/2026", "Completed"]


def test_xlsx_has_real_dates_percent_formats_and_a_frozen_bold_header():
    body = html_tables.to_xlsx([samples.tasks_table(), samples.children_table()], Translator("vi"),
                          title="Báo cáo quý III/2026")
    book = load_workbook(io.BytesIO(body))
    assert book.sheetnames == ["Nhiệm vụ", "Các đơn vị trực thuộc"]
    tasks = book["Nhiệm vụ"]
    assert tasks["A1"].value == "Báo cáo quý III/2026"
    assert tasks["A2"].value == "Nhiệm vụ" and tasks["A2"].font.bold
    assert tasks.freeze_panes == "A3"
    due = tasks["C3"]
    assert isinstance(due.value, datetime) and due.value.date().isoformat() == "2026-11-30"
    assert due.number_format == "DD/MM/YYYY"
    assert tasks["E3"].value == "Đang thực hiện"
    children = book["Các đơn vị trực thuộc"]
    assert children["E2"].value == "Sinh hoạt thường kỳ đủ (%)"
    assert children["E3"].value == pytest.approx(0.925)
    assert children["E3"].number_format == "0.0%"
    assert children["D3"].value == 190
    assert children["E6"].value is None
    assert children.column_dimensions["A"].width >= len("Đảng ủy phường Hạc Thành")


def test_text_that_looks_like_a_formula_stays_text():
    table = html_tables.Table("t", "table.tasks", [html_tables.Column("title", "col.task"),
                                             html_tables.Column("n", "col.cells", "int")],
                         [{"title": "=HYPERLINK(\"http://x\")", "n": -3}])
    text = html_tables.to_csv(table, Translator("vi")).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1] == ["'=HYPERLINK(\"http://x\")", "-3"]
    sheet = load_workbook(io.BytesIO(html_tables.to_xlsx([table], Translator("vi"))))["Nhiệm vụ"]
    assert sheet["A2"].value == '=HYPERLINK("http://x")' and sheet["A2"].data_type == "s"
    assert sheet["B2"].value == -3


def test_sheet_names_are_valid_and_unique():
    taken: set[str] = set()
    first = html_tables.sheet_name("Báo cáo [quý]: 3/2026*? rất dài dài dài dài dài", taken)
    assert len(first) <= 31 and not set("[]:*?/\\") & set(first)
    second = html_tables.sheet_name("Báo cáo [quý]: 3/2026*? rất dài dài dài dài dài", taken)
    assert second != first and len(second) <= 31 and second.endswith("(2)")


def test_export_response_names_the_file_for_every_client():
    response = html_tables.export_response(samples.children_table(), "csv", Translator("vi"),
                                      "báo-cáo-đơn-vị")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="bao-cao-don-vi.csv"')
    assert "filename*=UTF-8''b%C3%A1o-c%C3%A1o-%C4%91%C6%A1n-v%E1%BB%8B.csv" in disposition
    assert response.content_type == "text/csv; charset=utf-8"
    xlsx = html_tables.export_response([samples.tasks_table()], "xlsx", Translator("en"), "tasks")
    assert xlsx.content_type.startswith("application/vnd.openxmlformats")
    with pytest.raises(ValueError):
        html_tables.export_response([samples.tasks_table()] * 2, "csv", Translator("vi"), "x")
    with pytest.raises(ValueError):
        html_tables.export_response(samples.tasks_table(), "pdf", Translator("vi"), "x")


def test_a_page_answers_its_export_links():
    context = samples.cell()
    csv_response = render.render_or_export(
        "cell.html", request("/reporting/cells/c-ban-may", "format=csv&table=meetings"),
        "chi-bộ", **context)
    assert csv_response.content_type == "text/csv; charset=utf-8"
    assert "chi-b%E1%BB%99-meetings.csv" in csv_response.headers["Content-Disposition"]
    everything = render.render_or_export(
        "cell.html", request("/reporting/cells/c-ban-may", "format=xlsx"), "chi-bộ", **context)
    assert load_workbook(io.BytesIO(everything.get_data())).sheetnames == [
        "Sinh hoạt từng tháng", "Các buổi sinh hoạt", "Nhiệm vụ", "Đảng viên"]
    unknown = render.render_or_export(
        "cell.html", request("/reporting/cells/c-ban-may", "format=csv&table=nope"), "x",
        **context)
    assert unknown.status_code == 404
    assert "text/html" in unknown.content_type
    page_response = render.render_or_export("cell.html", request("/reporting/cells/c"), "x",
                                            **context)
    assert page_response.status_code == 200 and "text/html" in page_response.content_type


# -- static files -----------------------------------------------------------------------

def test_static_files_are_served_with_types_and_caching():
    css = render.static_response("app.css")
    assert css.status_code == 200 and css.content_type == "text/css; charset=utf-8"
    assert "max-age" in css.headers["Cache-Control"]
    js = render.static_response("app.js")
    assert js.content_type == "text/javascript; charset=utf-8"
    etag = js.headers["ETag"]
    again = render.static_response("app.js", request(headers={"If-None-Match": etag}))
    assert again.status_code == 304


@pytest.mark.parametrize("name", ["../render.py", "../../../../etc/passwd", "/etc/passwd",
                                  "vendor/../../render.py", "vendor/../node_modules/x",
                                  "..\\render.py", "./app.css", ".hidden", "", "nope.css",
                                  "vendor/package.json"])
def test_static_refuses_anything_outside_its_folder(name):
    response = render.static_response(name)
    assert response.status_code == 404


def test_the_chart_library_is_served_from_node_modules():
    if not render.charts_available():
        pytest.skip("node_modules not installed (run npm ci --prefix services/reporting/web)")
    response = render.static_response("vendor/uPlot.iife.min.js")
    assert response.status_code == 200 and b"uPlot" in response.get_data()
    assert render.static_response("vendor/uPlot.min.css").content_type.startswith("text/css")


def test_without_the_chart_library_pages_still_work(monkeypatch, tmp_path):
    monkeypatch.setattr(render, "NODE_MODULES", tmp_path)
    missing = render.static_response("vendor/uPlot.iife.min.js")
    assert missing.status_code == 404
    assert "npm ci --prefix services/reporting/web" in missing.get_data(as_text=True)
    html = page("overview.html", "vi")
    assert "vendor/uPlot" not in html and 'id="trend-data"' in html
