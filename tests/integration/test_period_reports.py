"""The committee's period report over HTTP with the real services embedded: the sample
province loaded through the commands, April to June closed by supervision, then the
PDF's figures read back with pypdf and held against the JSON API, for the province's
quarter and one grassroots organisation's; a reader of one commune refused another's;
a report made in the background while its page is polled.

With CHIBO_REPORT_PDF_DIR set, the two PDFs are also written there (the screenshots in
docs/screenshots/reports/ are their pages, by pdftoppm)."""

from __future__ import annotations

import io
import os
from datetime import date
from pathlib import Path

import pytest
import requests
from pypdf import PdfReader

from chibo.access import Grant, Identity
from services.reporting.web.i18n import format_number, format_percent
from tests.sample_province import sample_province_served
from tests.support import (
    ADMIN,
    bearer,
    wait_until,
)

TIMEOUT = 60
LOADED_ON = date(2026, 6, 10)  # meetings in April and May 2026
QUARTER = "2026-Q2"
STAFF_XA1 = Identity("tk-xa1", "Cán bộ xã Mẫu 1", (Grant("staff", "xa-1"),))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with sample_province_served(tmp_path_factory.mktemp("period-reports")) as served:
        yield served


def get(base: str, path: str, identity: Identity = ADMIN, **kwargs) -> requests.Response:
    return requests.get(base + path, timeout=TIMEOUT, headers=bearer(identity), **kwargs)


def pdf_text(body: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(body))
    return len(reader.pages), " ".join(" ".join(page.extract_text().split())
                                       for page in reader.pages)


def keep(name: str, body: bytes) -> None:
    folder = os.environ.get("CHIBO_REPORT_PDF_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / name).write_bytes(body)


def expected_sentences(summary: dict, escalations: list[dict]) -> list[str]:
    """The report's sentences as the JSON API's figures make them (Vietnamese format)."""
    n, pct = format_number, format_percent
    opened = [e for e in escalations if "2026-04-01" <= e["raised_on"] <= "2026-06-30"]
    resolved = [e for e in escalations
                if e.get("resolved_on") and "2026-04-01" <= e["resolved_on"] <= "2026-06-30"]
    return [
        f"{n(summary['cells'])} chi bộ phải sinh hoạt thường kỳ {n(summary['cell_months'])} "
        f"lượt (chi bộ - tháng); đã sinh hoạt {n(summary['months_met'])} lượt, đạt "
        f"{pct(summary['met_share'])}.",
        f"Tổ chức {n(summary['thematic_meetings'])} buổi sinh hoạt chuyên đề; "
        f"{n(summary['cells_thematic'])}/{n(summary['cells'])} chi bộ",
        f"Đảng viên phải dự {n(summary['members_counted'])} lượt, có mặt "
        f"{n(summary['members_present'])} lượt, đạt {pct(summary['attendance_rate'])}; vắng "
        f"không có lý do {n(summary['unexcused_absences'])} lượt.",
        "Buổi sinh hoạt xếp loại Tốt: {good}; Khá: {fair}; Trung bình: {average}; Kém: "
        "{poor}; chưa xếp loại: {unscored}.".format(**{k: n(v) for k, v in
                                                      summary["quality"].items()}),
        f"Nhiệm vụ đến hạn trong kỳ: {n(summary['tasks_due'])}; đã hoàn thành "
        f"{n(summary['tasks_completed'])}, đạt {pct(summary['task_completion'])}; quá hạn "
        f"chưa hoàn thành: {n(summary['tasks_overdue'])}.",
        f"dự sinh hoạt tại {n(summary['cells_visited'])}/{n(summary['cells'])} chi bộ, đạt "
        f"{pct(summary['visit_coverage'])}",
        f"Phát sinh {n(len(opened))} cảnh báo trong kỳ; đã giải quyết {n(len(resolved))};",
    ]


def test_the_province_quarter_matches_the_api(base):
    response = get(base, f"/reporting/reports/period.pdf?period={QUARTER}")
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == "application/pdf"
    keep("tinh-2026-Q2.pdf", response.content)
    pages, text = pdf_text(response.content)
    summary = get(base, f"/reporting/api/overview?period={QUARTER}").json()["summary"]
    found = get(base, "/reporting/api/escalations?state=").json()["escalations"]
    assert summary["cells"] == 12
    for sentence in expected_sentences(summary, found):
        assert sentence in text, sentence
    for words in ("TỈNH ỦY MẪU", "Số …………-BC/TU", "ĐẢNG CỘNG SẢN VIỆT NAM",
                  "ngày 08 tháng 07 năm 2026", "Kết quả sinh hoạt chi bộ quý II năm 2026",
                  "Đảng ủy xã Mẫu 1", "Đảng ủy xã Mẫu 2", "So sánh với kỳ trước",
                  "T/M BAN THƯỜNG VỤ", f"Trang 1/{pages}", f"Trang {pages}/{pages}"):
        assert words in text, words
    # A cell that missed a month is named among those needing attention.
    missed = [row for row in get(base, "/reporting/cell-months?month=2026-04").json()["cells"]
              if not row["regular_held"]]
    assert missed and all(row["cell_name"] in text for row in missed)


def test_a_grassroots_organisations_quarter_matches_the_api(base):
    response = get(base, f"/reporting/reports/period.pdf?unit=xa-1&period={QUARTER}"
                   "&signer=Lò Văn Minh&position=Bí thư")
    assert response.status_code == 200, response.text[:300]
    keep("xa-1-2026-Q2.pdf", response.content)
    _, text = pdf_text(response.content)
    summary = get(base, f"/reporting/api/units/xa-1?period={QUARTER}").json()["summary"]
    found = get(base, "/reporting/api/escalations?state=&unit=xa-1").json()["escalations"]
    assert summary["cells"] == 6
    for sentence in expected_sentences(summary, found):
        assert sentence in text, sentence
    for words in ("TỈNH ỦY MẪU ĐẢNG ỦY XÃ MẪU 1", "-BC/ĐU", "BÍ THƯ", "Lò Văn Minh"):
        assert words in text, words
    book = get(base, f"/reporting/reports/period.xlsx?unit=xa-1&period={QUARTER}")
    assert book.status_code == 200 and book.content[:2] == b"PK"


def test_a_reader_of_one_commune_cannot_get_anothers_report(base):
    for path in (f"/reporting/reports/period.pdf?unit=xa-2&period={QUARTER}",
                 f"/reporting/reports/period.xlsx?unit=tinh&period={QUARTER}"):
        refused = get(base, path, STAFF_XA1)
        assert refused.status_code == 403, path
    own = get(base, f"/reporting/reports/period.pdf?period={QUARTER}", STAFF_XA1)
    assert own.status_code == 200 and own.url.endswith("unit=xa-1")
    bad = get(base, "/reporting/reports/period.pdf?period=2026-Q7")
    assert bad.status_code == 422 and "period" in bad.json()["fields"]


def test_a_report_made_in_the_background_is_polled_then_fetched(base):
    path = "/reporting/reports/period.pdf?unit=xa-2&period=2026-H1&background=1"
    sent = get(base, path, allow_redirects=False)
    assert sent.status_code == 303
    job = sent.headers["Location"]
    assert job.startswith("/reporting/reports/jobs/")
    # Asked again, the same job: the report is made once.
    assert get(base, path, allow_redirects=False).headers["Location"] == job
    page = get(base, job)
    assert page.status_code == 200 and 'data-testid="report-job"' in page.text
    wait_until(lambda: get(base, job + "?format=json").json()["state"] == "done",
               timeout=60, message="the report to be made")
    status = get(base, job + "?format=json").json()
    assert status["done_steps"] == status["total_steps"] == 3
    assert 'data-testid="report-job-file"' in get(base, job).text
    made = get(base, job + "/file")
    assert made.status_code == 200 and made.content.startswith(b"%PDF")
    assert "6 tháng đầu năm 2026" in pdf_text(made.content)[1]
    # Another account does not see the job.
    assert get(base, job + "?format=json", STAFF_XA1).status_code == 404
