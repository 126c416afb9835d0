"""The committee's period report (PDF and XLSX), the printed set-up of every XLSX
export and the CSV for Excel set to Vietnamese, through the reporting service's page
routes with a fixed clock (no broker: the province of test_reporting_as_users_see_it)."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from chibo.access import Grant, Identity
from chibo.db import create_schema
from chibo.errors import Forbidden, ValidationFailed
from services.reporting import period_report, report_jobs
from services.reporting.period_report import ReportPeriod, parse_period
from services.reporting.report_entrypoints import ReportPages
from services.reporting.web import html_tables
from services.reporting.web.i18n import Translator
from tests.reporting_caller import as_identity
from tests.unit.test_reporting_as_users_see_it import (
    Service,
    factory,  # noqa: F401 (the module's projected province, a fixture)
    request,
    service_over,
)

#: A reader of one cell, X2: its report, no other.
STAFF_X2 = Identity("tk-x2", "Bí thư chi bộ thôn 2", (Grant("staff", "X2"),))


class Reports(Service, ReportPages):
    """The page routes and the report's routes as plain methods."""


@pytest.fixture
def service(factory):  # noqa: F811
    found = service_over(factory)
    create_schema(factory.kw["bind"], report_jobs.metadata)  # the jobs and made reports
    reports = Reports()
    reports.db, reports.clock, reports.shared = found.db, found.clock, found.shared
    return as_identity(reports)


def pdf_text(body: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), " ".join(" ".join(page.extract_text().split())
                                       for page in reader.pages)


# -- periods -------------------------------------------------------------------------------

def test_periods_of_one_length_follow_each_other():
    assert ReportPeriod("2026-Q1").previous().value == "2025-Q4"
    assert ReportPeriod("2026-Q3").previous().value == "2026-Q2"
    assert ReportPeriod("2026-H1").previous().value == "2025-H2"
    assert ReportPeriod("2026-H2").previous().value == "2026-H1"
    assert ReportPeriod("2026").previous().value == "2025"
    assert ReportPeriod("2026-H2").months == [f"2026-{m:02d}" for m in range(7, 13)]
    assert ReportPeriod("2026-H1").quarters == ["2026-Q1", "2026-Q2"]
    assert ReportPeriod("2026-Q3").phrase("vi") == "quý III năm 2026"
    assert ReportPeriod("2026-H1").phrase("vi") == "6 tháng đầu năm 2026"
    assert ReportPeriod("2026").last_day.isoformat() == "2026-12-31"
    for bad in ("2026-Q5", "2026-H3", "2026-03", "Q1", "", "0000"):
        with pytest.raises(ValidationFailed) as refused:
            parse_period(bad)
        assert "period" in refused.value.fields


# -- the PDF -------------------------------------------------------------------------------

def test_the_province_quarter_as_a_committee_prints_it(service):
    response = service.period_report_pdf(request(
        "/reporting/reports/period.pdf", "period=2026-Q1&signer=Nguyễn Văn An&position=Bí thư"
        "&place=Mẫu&number=12"))
    assert response.status_code == 200
    assert response.content_type == "application/pdf"
    assert "bao-cao-sinh-hoat-chi-bo-P-2026-Q1.pdf" in response.headers["Content-Disposition"]
    pages, text = pdf_text(response.get_data())
    figures = service.overview(None, "2026-Q1", None)["summary"]
    assert f"Trang 1/{pages}" in text and f"Trang {pages}/{pages}" in text
    for words in ("ĐẢNG CỘNG SẢN VIỆT NAM", "Số 12-BC/TU", "Mẫu, ngày 10 tháng 03 năm 2026",
                  "BÁO CÁO", "Kết quả sinh hoạt chi bộ quý I năm 2026", "T/M BAN THƯỜNG VỤ",
                  "BÍ THƯ", "Nguyễn Văn An", "So sánh với kỳ trước", "Chi bộ cần quan tâm",
                  f"{figures['cells']} chi bộ phải sinh hoạt thường kỳ "
                  f"{figures['cell_months']} lượt",
                  f"đã sinh hoạt {figures['months_met']} lượt",
                  f"có mặt {figures['members_present']} lượt"):
        assert words in text, words


def test_a_committee_below_the_province_and_a_half_year(service):
    response = service.period_report_pdf(request("/reporting/reports/period.pdf",
                                                 "unit=X&period=2026-H1"))
    _, text = pdf_text(response.get_data())
    # The committee above heads the block; blank lines stand for the number and signer.
    assert "ĐƠN VỊ P ĐƠN VỊ X" in text.replace("\n", " ") or "ĐƠN VỊ X" in text
    assert "-BC/ĐU" in text and period_report.BLANK in text
    assert "6 tháng đầu năm 2026" in text


def test_the_same_report_as_a_workbook(service):
    response = service.period_report_xlsx(request("/reporting/reports/period.xlsx",
                                                  "period=2026-Q1"))
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames[0] == "Báo cáo"
    lines = [row[0] for row in book["Báo cáo"].iter_rows(values_only=True)]
    assert "BÁO CÁO" in lines and "Kết quả sinh hoạt chi bộ quý I năm 2026" in lines
    assert "So sánh với kỳ trước" in book.sheetnames


def test_bad_report_parameters_name_the_field(service):
    for query, field in (("period=2026-13", "period"), ("position=" + "x" * 201, "position"),
                         ("background=yes", "background")):
        with pytest.raises(ValidationFailed) as refused:
            service.period_report_pdf(request("/reporting/reports/period.pdf", query))
        assert field in refused.value.fields


def test_a_reader_of_one_unit_gets_no_other_units_report(service):
    as_identity(service, STAFF_X2)
    for unit in ("X1", "X", "P"):
        with pytest.raises(Forbidden):
            service.period_report_pdf(request("/reporting/reports/period.pdf", f"unit={unit}"))
    with pytest.raises(Forbidden):
        service.period_report_xlsx(request("/reporting/reports/period.xlsx", "unit=X"))
    sent = service.period_report_pdf(request("/reporting/reports/period.pdf", "period=2026-Q1"))
    assert sent.status_code == 303 and sent.headers["Location"].endswith("unit=X2")
    own = service.period_report_pdf(request("/reporting/reports/period.pdf",
                                            "unit=X2&period=2026-Q1"))
    assert own.status_code == 200
    _, text = pdf_text(own.get_data())
    assert "-BC/CB" in text and "T/M CHI ỦY" in text  # a cell reports as a cell


def test_a_report_is_made_once_per_state_of_the_read_models(service, monkeypatch):
    made = []
    real = period_report.assemble

    def counting(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(period_report, "assemble", counting)
    query = "unit=X&period=2026-Q1&signer=Lò Văn Một"
    first = service.period_report_pdf(request("/reporting/reports/period.pdf", query))
    again = service.period_report_pdf(request("/reporting/reports/period.pdf", query))
    assert first.get_data() == again.get_data() and len(made) == 1


def test_a_job_left_by_a_process_that_ended_says_so_to_its_reader_only(service):
    from services.reporting.report_jobs import ReportJobs, ReportKey

    jobs = ReportJobs(service.db.factory, service.clock)
    key = ReportKey("pdf", "X", "2026-Q1", None, "vi", {}, [], "Báo cáo quý I năm 2026 — X")
    job, maker = jobs._claim(key, "tk-quantri", 3)
    maker.release()  # its proof of life gone, the report never written
    page = service.report_job_page(request(f"/reporting/reports/jobs/{job.job_id}"),
                                   job.job_id)
    assert page.status_code == 200
    assert 'data-testid="report-job-stopped"' in page.get_data(as_text=True)
    as_identity(service, STAFF_X2)  # another account: no such job
    other = service.report_job_page(request(f"/reporting/reports/jobs/{job.job_id}"),
                                    job.job_id)
    assert other.status_code == 404


# -- every XLSX prints ---------------------------------------------------------------------

def test_the_quarterly_workbook_is_set_up_to_print(service):
    book = load_workbook(io.BytesIO(service.quarterly_report(request(
        "/reporting/reports/quarterly.xlsx", "quarter=2026-Q1")).get_data()))
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert int(setup.paperSize) == 9, sheet.title  # A4
        assert setup.fitToWidth == 1 and setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage
        assert sheet.print_title_rows == "$1:$2"  # the title row and the header row
        assert sheet.freeze_panes == "A3"
        assert sheet.oddHeader.left.text == "Đơn vị P"
        assert sheet.oddHeader.right.text == "Quý I/2026"
        assert sheet.oddFooter.center.text == "Trang &P/&N"
    assert book["Tổng hợp"].page_setup.orientation == "landscape"  # many figure columns


def test_a_narrow_table_prints_portrait_and_a_page_export_is_headed_by_its_unit(service):
    table = html_tables.Table("t", "report.table.quality", [
        html_tables.Column("level", "col.level", "level"),
        html_tables.Column("count", "report.col.meetings", "int")], [{"level": "good",
                                                                      "count": 3}])
    sheet = load_workbook(io.BytesIO(html_tables.to_xlsx([table], Translator("en"))))[
        "Quality of the meetings"]
    assert sheet.page_setup.orientation == "portrait"
    assert sheet.oddFooter.center.text == "Page &P/&N" and sheet.print_title_rows == "$1:$1"
    page = service.unit_page(request("/reporting/units/X", "period=2026-Q1&format=xlsx"), "X")
    sheet = load_workbook(io.BytesIO(page.get_data())).worksheets[0]
    assert sheet.oddHeader.left.text == "Đơn vị X" and sheet.oddHeader.right.text == "Quý I/2026"
    assert sheet.freeze_panes == "A2"


# -- CSV for Excel set to Vietnamese -------------------------------------------------------

def test_csv_with_semicolons_and_decimal_commas(service):
    plain = service.unit_page(request("/reporting/units/X",
                                      "period=2026-Q1&format=csv&table=children"), "X")
    vietnamese = service.unit_page(request(
        "/reporting/units/X", "period=2026-Q1&format=csv&table=children&sep=semicolon"), "X")
    assert vietnamese.status_code == 200
    body = vietnamese.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM, as before
    comma = list(csv.DictReader(io.StringIO(plain.get_data().decode("utf-8-sig"))))
    semi = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert semi and len(semi) == len(comma) and semi[0].keys() == comma[0].keys()
    rate = "Tỷ lệ dự sinh hoạt (%)"
    for a, b in zip(comma, semi, strict=True):
        assert b[rate] == a[rate].replace(".", ",")
    assert any("," in row[rate] for row in semi)
    bad = service.unit_page(request("/reporting/units/X", "format=csv&table=children&sep=tab"),
                            "X")
    assert bad.status_code == 400


def test_in_english_and_for_the_latest_quarter_by_default(service):
    response = service.period_report_pdf(request("/reporting/reports/period.pdf", "lang=en"))
    assert "P-2026-Q1.pdf" in response.headers["Content-Disposition"]  # February's quarter
    pages, text = pdf_text(response.get_data())
    for words in ("COMMUNIST PARTY OF VIETNAM", "REPORT", "Results of party cell meetings, "
                  "Q1 2026", "ON BEHALF OF THE STANDING COMMITTEE", f"Page 1/{pages}"):
        assert words in text, words


def test_the_overview_and_a_units_page_link_their_reports(service):
    province = service.overview_page(request("/reporting/", "period=2026-02")).get_data(
        as_text=True)
    for href in ('href="/reporting/reports/period.pdf?period=2026-Q1"',
                 'href="/reporting/reports/period.xlsx?period=2026-Q1"',
                 'href="/reporting/reports/period.pdf?period=2026-H1"',
                 'href="/reporting/reports/period.pdf?period=2026"'):
        assert href in province, href
    commune = service.unit_page(request("/reporting/units/X", "period=2026-Q1"), "X").get_data(
        as_text=True)
    assert 'href="/reporting/reports/period.pdf?unit=X&amp;period=2026-Q1"' in commune
    # Printed, the page opens with its title and the clock's day.
    assert "In ngày 10/03/2026" in commune
