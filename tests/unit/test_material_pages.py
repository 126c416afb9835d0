"""A meeting's materials and minutes in reporting, without services: the download's
headers (a Vietnamese name and its ASCII stand-in), the name an upload is kept under,
and who gets what. Materials are personal data of the cell: a viewer's meeting page
shows how many there are and nothing else, and the download refuses them; the printable
minutes are never kept by a browser."""

from __future__ import annotations

import base64
import unicodedata
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import insert
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from chibo.access import Grant, Identity
from chibo.clock import FixedClock
from services.meetings.commands import AttachMaterial
from services.reporting import pages, queries
from services.reporting.entrypoints import ReportingQueries
from services.reporting.material_pages import (
    MAX_FILE_NAME,
    MaterialPages,
    download_headers,
    upload_file_name,
)
from services.reporting.read_model import materials
from services.reporting.web import html_tables
from services.shared import settings as shared_settings
from tests.reporting_caller import as_identity
from tests.support import Db
from tests.unit.test_reporting_projection import live_order, project_all, province
from tests.unit.test_reporting_web import visible_text

PDF = b"%PDF-1.4\n%%EOF\n"
SHA = "ab" * 32
FILE_NAME = "Bản tự kiểm điểm của đồng chí Lò Văn 3.pdf"
#: Units of the sample province (tests.unit.test_reporting_projection): cell A1 under A.
VIEWER_A = Identity("xem-a", "Người xem A", (Grant("viewer", "A"),))
STAFF_A = Identity("cb-a", "Cán bộ A", (Grant("staff", "A"),))
SECRETARY_B1 = Identity("bt-b1", "Bí thư B1", (Grant("secretary", "B1"),))


# -- headers and names ------------------------------------------------------------------

@pytest.mark.parametrize(("name", "plain"), [
    ("ĐẢNG.docx", "DANG.docx"),                  # NFKD alone drops "Đ": spelled out
    ("Nghị quyết đảng bộ.pdf", "Nghi quyet dang bo.pdf"),
    ('bad"name\r\n.pdf', "bad_name_.pdf"),       # nothing that could break the header
    ("黨", "tai-lieu"),                          # nothing of the name left
])
def test_a_download_names_the_file_in_utf8_and_in_plain_ascii(name: str, plain: str) -> None:
    headers = download_headers(name, "application/pdf")
    disposition = headers["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="{plain}"; filename*=UTF-8\'\'')
    assert "\r" not in disposition and "\n" not in disposition
    assert headers["Cache-Control"] == "private, no-store"
    # One rule for every download: an export's header is built the same way.
    assert disposition == html_tables.content_disposition(name, "tai-lieu")


def test_an_export_keeps_its_own_fallback_name() -> None:
    assert html_tables.content_disposition("黨").startswith('attachment; filename="export"')


@pytest.mark.parametrize("sent", [
    "x" * 254 + " " + "y" * 50 + ".pdf",         # the cut falls just after a space
    "  " + "z" * 300,                            # leading spaces, then too long
    "C:\\Users\\bt\\Tài liệu\\  Báo cáo tháng 6.pdf  ",
])
def test_an_upload_name_is_cut_then_stripped_so_meetings_takes_it(sent: str) -> None:
    name = upload_file_name(sent)
    assert 0 < len(name) <= MAX_FILE_NAME and name == name.strip()
    body = {"meeting_id": "A1-01", "file_name": name, "media_type": "application/pdf",
            "content": base64.b64encode(PDF).decode("ascii")}
    assert AttachMaterial().validate(body) == {}, name


def test_an_upload_name_is_its_last_part_in_nfc() -> None:
    assert upload_file_name("C:\\Tài liệu\\ Báo cáo.pdf ") == "Báo cáo.pdf"
    assert upload_file_name("/tmp/a/b.docx") == "b.docx"
    assert upload_file_name(unicodedata.normalize("NFD", "Đảng.pdf")) == "Đảng.pdf"
    assert upload_file_name("   ") == "tai-lieu"


# -- who gets what ------------------------------------------------------------------------

class Service(ReportingQueries, pages.DashboardPages, MaterialPages):
    """The page routes with the service's read methods, as plain methods."""


class Meetings:
    """The meetings service's `material` read, as reporting's RPC proxy calls it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def material(self, meeting_id: str, sha256: str) -> dict[str, Any]:
        self.asked.append((meeting_id, sha256))
        return {"meeting_id": meeting_id, "sha256": sha256, "file_name": FILE_NAME,
                "media_type": "application/pdf", "size": len(PDF),
                "content": base64.b64encode(PDF).decode("ascii")}


@pytest.fixture(scope="module")
def factory():
    made = project_all(live_order(province()))
    with made() as session, session.begin():
        session.execute(insert(materials).values(
            meeting_id="A1-02", sha256=SHA, cell_id="A1", file_name=FILE_NAME,
            media_type="application/pdf", size=len(PDF), uploaded_by="Bí thư chi bộ A1",
            uploaded_at="2026-02-04T08:00:00"))
    return made


def service_as(factory: Any, identity: Identity) -> Service:
    found = Service()
    found.db = Db(factory)
    found.clock = FixedClock(datetime(2026, 3, 10, 8, 0))
    found.shared = shared_settings.from_config({})
    found.config = {}
    found.meetings = Meetings()
    return as_identity(found, identity)


def get(path: str) -> Request:
    return Request(EnvironBuilder(path=path, method="GET").get_environ())


def test_without_personal_data_a_meeting_keeps_only_how_many_materials(factory) -> None:
    with factory() as session:
        data = queries.meeting(session, "A1-02", today=datetime(2026, 3, 10).date())
    assert [m["file_name"] for m in data["materials"]] == [FILE_NAME]
    hidden = queries.without_personal_data(data)
    assert hidden["materials"] == [] and hidden["materials_count"] == 1
    assert FILE_NAME not in repr(hidden) and "Bí thư chi bộ A1" not in repr(hidden)


def test_a_viewer_sees_how_many_materials_and_cannot_download_them(factory) -> None:
    viewer = service_as(factory, VIEWER_A)
    page = viewer.meeting_page(get("/reporting/meetings/A1-02"), "A1-02")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert FILE_NAME not in html and "Bí thư chi bộ A1" not in html and SHA not in html
    assert 'data-testid="materials-hidden"' in html
    assert "Số tài liệu đính kèm: 1." in visible_text(html)
    assert 'data-testid="material-form"' not in html
    refused = viewer.material_download(get(f"/reporting/meetings/A1-02/materials/{SHA}"),
                                       "A1-02", SHA)
    assert refused.status_code == 403 and refused.get_data() != PDF
    assert viewer.meetings.asked == []  # refused before meetings is asked


def test_the_cells_personal_data_readers_see_and_download_them(factory) -> None:
    staff = service_as(factory, STAFF_A)
    html = staff.meeting_page(get("/reporting/meetings/A1-02"), "A1-02").get_data(as_text=True)
    assert FILE_NAME in html and "Bí thư chi bộ A1" in html
    assert f'/reporting/meetings/A1-02/materials/{SHA}' in html
    assert 'data-testid="materials-hidden"' not in html
    got = staff.material_download(get(f"/reporting/meetings/A1-02/materials/{SHA}"),
                                  "A1-02", SHA)
    assert got.status_code == 200 and got.get_data() == PDF
    assert got.headers["Content-Disposition"].startswith(
        'attachment; filename="Ban tu kiem diem cua dong chi Lo Van 3.pdf"')
    other_cell = service_as(factory, SECRETARY_B1)
    assert other_cell.material_download(get(f"/reporting/meetings/A1-02/materials/{SHA}"),
                                        "A1-02", SHA).status_code == 403
    assert other_cell.meetings.asked == []


def test_the_printable_minutes_are_never_kept_by_a_browser(factory) -> None:
    staff = service_as(factory, STAFF_A)
    minutes = staff.minutes_page(get("/reporting/meetings/A1-02/minutes"), "A1-02")
    assert minutes.status_code == 200
    assert minutes.headers["Cache-Control"] == "no-store"
    assert FILE_NAME in minutes.get_data(as_text=True)
