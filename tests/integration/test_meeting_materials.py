"""Meeting materials and minutes on RabbitMQ and PostgreSQL, every service running: a
cell's secretary attaches documents (over meetings' HTTP command and through reporting's
upload form); a refused file names its field and leaves no file and no event; the
materials are personal data of the cell: its secretary and the district's staff download
them, another cell's secretary and a province viewer may not (in either service), and the
viewer's meeting page says only how many there are; reporting's read models equal a
rebuild from the services' logs; the printable minutes open for the cell's personal-data
readers only and are never kept by a browser.

The tree: province P; districts X and Y; cell A under X, B under Y.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import requests

from chibo.access import Grant, Identity
from chibo.db import make_engine, session_factory
from chibo.eventstore.store import EventStore
from services.reporting.read_model import snapshot
from services.reporting.rebuild import rebuild
from services.shared.events import SOURCES, catalogue
from tests.support import ADMIN, TODAY, bearer, running, services_config, wait_until

SECRETARY_A = Identity("bt-a", "Bí thư chi bộ A", (Grant("secretary", "A"),))
SECRETARY_B = Identity("bt-b", "Bí thư chi bộ B", (Grant("secretary", "B"),))
VIEWER_P = Identity("xem-p", "Người xem tỉnh", (Grant("viewer", "P"),))
STAFF_X = Identity("cb-x", "Cán bộ huyện X", (Grant("staff", "X"),))
UNITS = (
    {"unit_id": "P", "name": "Tỉnh ủy Nghệ An", "kind": "province"},
    {"unit_id": "X", "name": "Huyện ủy Con Cuông", "kind": "committee", "parent_id": "P"},
    {"unit_id": "Y", "name": "Huyện ủy Tương Dương", "kind": "committee", "parent_id": "P"},
    {"unit_id": "A", "name": "Chi bộ bản Khe Choăng", "kind": "cell", "parent_id": "X"},
    {"unit_id": "B", "name": "Chi bộ bản Xốp Pu", "kind": "cell", "parent_id": "Y"},
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MAX_BYTES = 4096

pytestmark = pytest.mark.services


def post(base: str, name: str, body: dict, identity: Identity = ADMIN) -> requests.Response:
    return requests.post(f"{base}/meetings/commands/{name}", json=body,
                         headers=bearer(identity), timeout=30)


def ok(base: str, service: str, name: str, body: dict) -> dict:
    response = requests.post(f"{base}/{service}/commands/{name}", json=body, headers=bearer(),
                             timeout=30)
    assert response.status_code == 201, response.text
    return response.json()


def attach(content: bytes, media_type: str = "application/pdf", meeting_id: str = "A-06",
           file_name: str = "Dự thảo nghị quyết.pdf") -> dict:
    return {"meeting_id": meeting_id, "file_name": file_name, "media_type": media_type,
            "content": base64.b64encode(content).decode("ascii")}


def meetings_head(config: dict) -> int:
    engine = make_engine(config["DATABASES"]["meetings"])
    try:
        with session_factory(engine)() as session:
            return EventStore(session, catalogue).head_position()
    finally:
        engine.dispose()


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture
def system(pg_database_factory, amqp_uri, tmp_path):
    folder = tmp_path / "materials"
    config = services_config(pg_database_factory, amqp_uri)
    config["MATERIALS"] = {"dir": str(folder), "max_bytes": MAX_BYTES}
    with running(config) as runner:
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        for unit in UNITS:
            ok(base, "members", "establish_unit", {**unit, "effective_date": "2022-01-01"})
        for cell, name in (("A", "Lô Văn Thịnh"), ("B", "Vi Thị Hoa")):
            ok(base, "members", "admit_member", {"member_id": f"{cell}-1", "full_name": name,
                                                 "cell_id": cell, "admitted_on": "2023-01-01"})
        for cell in ("A", "B"):
            ok(base, "meetings", "record_meeting_held", {
                "meeting_id": f"{cell}-06", "cell_id": cell, "held_on": TODAY.isoformat(),
                "attendance": [{"member_id": f"{cell}-1", "status": "present"}]})
        ok(base, "meetings", "schedule_meeting", {"meeting_id": "A-07", "cell_id": "A",
                                                  "planned_on": "2026-07-10"})
        ok(base, "meetings", "cancel_meeting", {"meeting_id": "A-07", "reason": "Lũ lụt"})
        wait_until(lambda: requests.get(f"{base}/reporting/api/meetings/B-06", headers=bearer(),
                                        timeout=10).status_code == 200,
                   message="reporting to show the meetings")
        yield config, base, folder, runner


def test_refused_files_name_their_field_and_leave_nothing(system):
    config, base, folder, _ = system
    head, kept = meetings_head(config), files_in(folder)
    cases = [
        (attach(PNG), 422, "media_type"),                      # the bytes are a PNG
        (attach(b"plain text, not a document"), 422, "content"),
        (attach(PDF + b"x" * MAX_BYTES), 422, "content"),       # over MATERIALS.max_bytes
        (attach(PDF, media_type="text/html"), 422, "media_type"),
        (attach(PDF, meeting_id="A-404"), 404, "meeting_id"),   # no such meeting (admin)
        (attach(PDF, meeting_id="A-07"), 422, "meeting_id"),    # cancelled
    ]
    for body, status, field in cases:
        refused = post(base, "attach_material", body)
        assert refused.status_code == status, (field, refused.text)
        answer = refused.json()
        assert field in answer.get("fields", {}) or answer.get("field") == field, answer
    # A secretary cannot probe another cell's meeting.
    assert post(base, "attach_material", attach(PDF, meeting_id="B-06"),
                SECRETARY_A).status_code == 403
    assert meetings_head(config) == head and files_in(folder) == kept


def test_a_secretary_attaches_a_pdf_and_only_the_cells_personal_data_readers_get_it(system):
    config, base, folder, _ = system
    answer = post(base, "attach_material", attach(PDF), SECRETARY_A)
    assert answer.status_code == 201, answer.text
    sha = hashlib.sha256(PDF).hexdigest()
    assert answer.json()["sha256"] == sha
    assert (folder / sha[:2] / sha).read_bytes() == PDF
    again = post(base, "attach_material", attach(PDF, file_name="lần hai.pdf"), SECRETARY_A)
    assert again.status_code == 409, again.text  # the same document once

    path = f"/meetings/meetings/A-06/materials/{sha}"
    got = requests.get(base + path, headers=bearer(SECRETARY_A), timeout=10)
    assert got.status_code == 200 and base64.b64decode(got.json()["content"]) == PDF
    for outsider in (SECRETARY_B, VIEWER_P):  # the viewer sees the cell, not its people
        assert requests.get(base + path, headers=bearer(outsider),
                            timeout=10).status_code == 403

    page = f"{base}/reporting/meetings/A-06"
    wait_until(lambda: "Dự thảo nghị quyết.pdf" in requests.get(
        page, headers=bearer(SECRETARY_A), timeout=10).text, message="the page to list it")
    # The viewer's page: how many materials, not their names, uploader or links.
    listed = requests.get(page, headers=bearer(VIEWER_P), timeout=10).text
    assert "Dự thảo nghị quyết.pdf" not in listed and "Bí thư chi bộ A" not in listed
    assert 'data-testid="materials-hidden"' in listed and "Số tài liệu đính kèm: 1" in listed
    assert 'data-testid="material-link"' not in listed and f"/materials/{sha}" not in listed
    assert 'data-testid="material-form"' not in listed  # a viewer uploads nothing
    hidden = requests.get(f"{base}/reporting/api/meetings/A-06", headers=bearer(VIEWER_P),
                          timeout=10).json()
    assert hidden["materials"] == [] and hidden["materials_count"] == 1
    for reader in (SECRETARY_A, STAFF_X):
        shown = requests.get(page, headers=bearer(reader), timeout=10).text
        assert 'data-testid="material-link"' in shown and "Bí thư chi bộ A" in shown
        download = requests.get(f"{page}/materials/{sha}", headers=bearer(reader), timeout=10)
        assert download.status_code == 200 and download.content == PDF
        assert download.headers["Content-Type"] == "application/pdf"
        assert download.headers["Cache-Control"] == "private, no-store"
        disposition = download.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "UTF-8''D%E1%BB%B1" in disposition
    for outsider in (SECRETARY_B, VIEWER_P):
        refused = requests.get(f"{page}/materials/{sha}", headers=bearer(outsider),
                               timeout=10)
        assert refused.status_code == 403 and refused.content != PDF
    # The printable minutes name the members: the cell's personal-data readers only.
    minutes = requests.get(f"{page}/minutes", headers=bearer(SECRETARY_A), timeout=10)
    assert minutes.status_code == 200
    assert minutes.headers["Cache-Control"] == "no-store"  # it lists the absent, with reasons
    assert "BIÊN BẢN SINH HOẠT CHI BỘ" in minutes.text and "CHI BỘ BẢN KHE CHOĂNG" in minutes.text
    assert "HUYỆN ỦY CON CUÔNG" in minutes.text and "Con Cuông, ngày" in minutes.text
    assert 'data-testid="minutes-link"' in requests.get(
        page, headers=bearer(SECRETARY_A), timeout=10).text
    assert 'data-testid="minutes-link"' not in listed
    for outsider in (VIEWER_P, SECRETARY_B):
        assert requests.get(f"{page}/minutes", headers=bearer(outsider),
                            timeout=10).status_code == 403
    api = requests.get(f"{base}/reporting/api/meetings/A-06", headers=bearer(), timeout=10)
    [material] = api.json()["materials"]
    assert (material["file_name"], material["size"], material["uploaded_by"]) == (
        "Dự thảo nghị quyết.pdf", len(PDF), "Bí thư chi bộ A")


def test_the_upload_form_sends_the_file_to_meetings_and_comes_back(system):
    config, base, folder, _ = system
    form = f"{base}/reporting/meetings/A-06/materials"
    image = PNG + b"upload"
    sent = requests.post(form, headers=bearer(SECRETARY_A), allow_redirects=False, timeout=30,
                         files={"file": ("Ảnh hiện trường.png", image, "image/png")})
    assert sent.status_code == 303, sent.text
    sha = hashlib.sha256(image).hexdigest()
    assert sent.headers["Location"].endswith(f"/reporting/meetings/A-06?attached={sha}")
    shown = requests.get(base + sent.headers["Location"], headers=bearer(SECRETARY_A), timeout=10)
    assert 'data-testid="material-attached"' in shown.text
    assert "Ảnh hiện trường.png" in shown.text

    head = meetings_head(config)
    wrong = requests.post(form, headers=bearer(SECRETARY_A), timeout=30,
                          files={"file": ("giả.pdf", b"not a pdf at all", "application/pdf")})
    assert wrong.status_code == 422
    assert 'data-testid="material-error"' in wrong.text and "Nội dung tệp không phải" in wrong.text
    large = requests.post(form, headers=bearer(SECRETARY_A), timeout=30,
                          files={"file": ("to.pdf", PDF + b"x" * (MAX_BYTES * 20),
                                          "application/pdf")})
    assert large.status_code == 422 and "Tệp quá lớn" in large.text
    empty = requests.post(form, headers=bearer(SECRETARY_A), timeout=30, data={"x": "1"})
    assert empty.status_code == 422 and "Chưa chọn tệp" in empty.text
    other = requests.post(f"{base}/reporting/meetings/B-06/materials", timeout=30,
                          headers=bearer(SECRETARY_A),
                          files={"file": ("a.pdf", PDF, "application/pdf")})
    assert other.status_code == 403
    assert meetings_head(config) == head


def test_reporting_equals_a_rebuild_from_the_logs(system):
    config, base, _, _ = system
    assert post(base, "attach_material", attach(PDF), SECRETARY_A).status_code == 201
    assert post(base, "attach_material", attach(PNG, "image/png", meeting_id="B-06",
                                                file_name="ảnh.png")).status_code == 201
    engines = {s: make_engine(config["DATABASES"][s]) for s in SOURCES}

    def fetch(source, after, limit):
        with session_factory(engines[source])() as session:
            return [e.envelope(source) for e in EventStore(session, catalogue)
                    .read_all(after, limit)]

    heads = {}
    for source in SOURCES:
        with session_factory(engines[source])() as session:
            heads[source] = EventStore(session, catalogue).head_position()
    reporting = make_engine(config["DATABASES"]["reporting"])

    def live():
        with session_factory(reporting)() as session:
            return snapshot(session)
    wait_until(lambda: len(live()["archive"]) == sum(heads.values()), timeout=60,
               message="reporting to archive every event")
    rebuilt, _ = rebuild(fetch)
    current = live()
    assert current["materials"] and current["materials"] == rebuilt["materials"]
    for table in rebuilt:
        assert current[table] == rebuilt[table], table
    for engine in (*engines.values(), reporting):
        engine.dispose()
