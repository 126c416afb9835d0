"""The dashboard over HTTP with the real services embedded: the sample province loaded
through the commands, two months closed by supervision (so there are escalations), then
every page, the language switch, exports, error pages and an action on an escalation."""

from __future__ import annotations

import io
import json
from datetime import date
from urllib.parse import quote

import pytest
import requests
from openpyxl import load_workbook

from chibo.access import Grant, Identity, TokenSigner
from tests.sample_province import sample_province_served
from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    TEST_TOKEN_SECONDS,
    authenticated,
    bearer,
)
from tests.unit.test_reporting_web import visible_text

TIMEOUT = 30
LOADED_ON = date(2026, 6, 10)  # meetings in April and May 2026
HTML = "text/html; charset=utf-8"
CELL = "xa-1-cb-1"
MEETING = f"{CELL}-202604"
MEMBER = "dv-00001"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    with sample_province_served(tmp_path_factory.mktemp("dashboard")) as served:
        yield served


#: A provincial administrator's bearer token: every page and figure (no cookies kept
#: between requests, so one test's language choice does not follow the next).
AS_ADMIN = bearer(ADMIN)
#: Staff of the commune xa-1's organisation board: that commune only.
STAFF_XA1 = Identity("tk-xa1", "Cán bộ xã Mẫu 1", (Grant("staff", "xa-1"),))
CSRF = "csrf-kiem-thu-0123"


def get(base: str, path: str, **kwargs) -> requests.Response:
    headers = {**AS_ADMIN, **kwargs.pop("headers", {})}
    return requests.get(base + path, timeout=TIMEOUT, headers=headers, **kwargs)


def post(base: str, path: str, **kwargs) -> requests.Response:
    headers = {**AS_ADMIN, **kwargs.pop("headers", {})}
    return requests.post(base + path, timeout=kwargs.pop("timeout", TIMEOUT), headers=headers,
                         **kwargs)


def browser(base: str, identity: Identity = ADMIN) -> requests.Session:
    """A browser's session: the signed token in the session cookie, with its CSRF token."""
    session = requests.Session()
    session.cookies.set("chibo_session", TokenSigner(AUTH_SECRET).issue(
        identity, NOW, TEST_TOKEN_SECONDS, csrf=CSRF), domain="127.0.0.1", path="/")
    session.headers["Origin"] = base
    return session


def page(base: str, path: str, status: int = 200, **kwargs) -> str:
    response = get(base, path, **kwargs)
    assert response.status_code == status, (path, response.text[:500])
    assert response.headers["Content-Type"] == HTML, path
    return response.text


def open_escalations(base: str, state: str = "raised") -> list[dict]:
    return get(base, f"/reporting/api/escalations?state={state}").json()["escalations"]


def test_every_page_in_vietnamese(base):
    checks = {
        "/reporting/": ["Tổng quan", "Tỉnh ủy Mẫu", "Đảng ủy xã Mẫu 1", "Sinh hoạt thường kỳ đủ"],
        "/reporting/units/xa-1?period=2026-Q2": ["Đảng ủy xã Mẫu 1", "Quý II/2026", "Chi bộ"],
        "/reporting/heatmap": ["Bản đồ sinh hoạt chi bộ: Tỉnh ủy Mẫu", "Đảng ủy xã Mẫu 2"],
        "/reporting/units/xa-1/heatmap?year=2026": ["Bản đồ sinh hoạt chi bộ: Đảng ủy xã Mẫu 1"],
        "/reporting/heatmap?unit=xa-2": ["Bản đồ sinh hoạt chi bộ: Đảng ủy xã Mẫu 2"],
        f"/reporting/cells/{CELL}": ["Sinh hoạt từng tháng", "05/04/2026", "Đảng viên"],
        f"/reporting/meetings/{MEETING}": ["Biên bản sinh hoạt", "05/04/2026",
                                           "Nghị quyết tháng 04/2026", "Có mặt"],
        f"/reporting/members/{MEMBER}": ["Dự sinh hoạt năm 2026", "Thường kỳ"],
        "/reporting/escalations": ["Cảnh báo", "Không sinh hoạt thường kỳ", "Tiếp nhận"],
        "/reporting/audit": ["Nhật ký kiểm tra", "Kiểm tra toàn vẹn", "Kết quả tìm kiếm"],
        "/reporting/audit?type=meeting_held": ["Ghi biên bản sinh hoạt", "Sinh hoạt chi bộ",
                                               "Trang 1/"],
    }
    for path, expected in checks.items():
        text = visible_text(page(base, path))
        for words in expected:
            assert words in text, (path, words)
    overview = page(base, "/reporting/")
    assert 'href="/reporting/units/xa-1?period=' in overview
    assert 'href="/reporting/reports/quarterly.xlsx?quarter=2026-Q' in overview
    cell = page(base, f"/reporting/cells/{CELL}")
    assert f'href="/reporting/meetings/{MEETING}"' in cell
    assert f'href="/reporting/members/{MEMBER}?year=2026"' in cell
    event_id = get(base, "/reporting/api/audit/events?type=meeting_held&limit=1").json()[
        "results"][0]["event_id"]
    assert "meeting_held" in visible_text(page(base, f"/reporting/audit/events/{event_id}"))
    assert "Xếp loại đảng viên" in visible_text(overview)


def test_english_is_chosen_and_remembered(base):
    response = get(base, "/reporting/?lang=en")
    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Overview" in text and "Regular meetings held" in text and "Units below" in text
    assert response.cookies.get("lang") == "en"
    again = get(base, "/reporting/escalations", cookies={"lang": "en"})
    assert "Missed the regular meeting" in visible_text(again.text)
    assert "Không sinh hoạt thường kỳ" not in visible_text(again.text)


def test_exports(base):
    response = get(base, "/reporting/?format=csv&table=children")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "tong-quan-2026-" in response.headers["Content-Disposition"]
    body = response.content.decode("utf-8-sig")
    assert body.splitlines()[0].startswith("Đơn vị,Mã đơn vị,Trước đây trực thuộc,Số chi bộ,")
    assert "Đảng ủy xã Mẫu 1" in body and "Đảng ủy xã Mẫu 2" in body
    workbook = get(base, f"/reporting/cells/{CELL}?format=xlsx")
    assert workbook.status_code == 200
    assert load_workbook(io.BytesIO(workbook.content)).sheetnames == [
        "Sinh hoạt từng tháng", "Các buổi sinh hoạt", "Nhiệm vụ", "Đảng viên"]
    report = get(base, "/reporting/reports/quarterly.xlsx?quarter=2026-Q2")
    assert report.status_code == 200
    assert "bao-cao-quy-2026-Q2.xlsx" in report.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(report.content))
    assert book.sheetnames[0] == "Tổng hợp" and len(book.sheetnames) == 5
    rows = list(book["Tổng hợp"].iter_rows(values_only=True))
    assert [row[0] for row in rows[2:]] == ["Quý II/2026", "04/2026", "05/2026", "06/2026"]
    assert rows[2][1] == "Đã kết thúc" and rows[2][2] == 12  # the sample's twelve cells
    refused = get(base, "/reporting/reports/quarterly.xlsx?quarter=2026-13")
    assert refused.status_code == 422 and "quarter" in refused.json()["fields"]


def test_error_pages(base):
    missing = page(base, "/reporting/cells/no-such-cell", status=404)
    assert "Không tìm thấy trang" in visible_text(missing)
    assert "Traceback" not in missing
    bad = page(base, "/reporting/?period=2026-13", status=422)
    assert "Yêu cầu chưa hợp lệ" in visible_text(bad)
    assert "2026-10" in visible_text(bad)  # the message says what a period looks like
    assert page(base, "/reporting/escalations?state=closed", status=422)


def test_the_address_without_its_slash_leads_to_the_overview(base):
    response = get(base, "/reporting?lang=en", allow_redirects=False)
    assert response.status_code == 308
    assert response.headers["Location"].endswith("/reporting/?lang=en")


def test_static_files(base):
    response = get(base, "/reporting/static/app.css")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
    assert get(base, "/reporting/static/../service.py").status_code == 404


def test_acknowledge_an_escalation_from_the_page(base):
    raised = open_escalations(base)
    assert raised, "closing April–June raised no escalation"
    escalation = raised[0]
    action = f"/reporting/escalations/{quote(escalation['escalation_id'])}/acknowledge"
    back = "/reporting/escalations?state=acknowledged"
    reader = browser(base)
    done = reader.post(base + action, data={"next": back, "csrf_token": CSRF},
                       allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:500]
    # Back to the page it came from, which then says who acknowledged it and when.
    assert done.headers["Location"].endswith(
        back + "&done=acknowledge&esc=" + quote(escalation["escalation_id"], safe=""))
    shown = page(base, back)
    assert f'data-testid="resolve-{escalation["escalation_id"]}"' in shown
    assert escalation["escalation_id"] not in [e["escalation_id"] for e in open_escalations(base)]
    again = reader.post(base + action, data={"next": back, "csrf_token": CSRF},
                        allow_redirects=False, timeout=TIMEOUT)
    assert again.status_code == 409 and again.headers["Content-Type"] == HTML
    text = visible_text(again.text)
    assert "Không thực hiện được" in text and "acknowledged" in text
    assert "Cảnh báo" in text  # the list again, not a JSON body
    with pytest.raises(json.JSONDecodeError):
        again.json()


def test_check_the_logs_from_the_audit_page(base):
    done = post(base, "/reporting/audit/verify", data={"next": "/reporting/audit"},
                allow_redirects=False, timeout=120)
    assert done.status_code == 303 and done.headers["Location"].endswith("/reporting/audit")
    text = visible_text(page(base, "/reporting/audit"))
    assert "Toàn vẹn" in text and "Chưa rõ" not in text


def test_a_form_posted_from_another_site_is_refused(base):
    response = post(base, "/reporting/audit/verify", data={},
                    headers={"Origin": "https://evil.example"}, allow_redirects=False)
    assert response.status_code == 403
    assert "chibo" in response.text


# -- who sees what -------------------------------------------------------------------

def test_a_commune_staff_sees_only_their_commune(base):
    staff = authenticated(STAFF_XA1)
    home = staff.get(base + "/reporting/?period=2026-Q2", allow_redirects=False, timeout=TIMEOUT)
    assert home.status_code == 303
    assert home.headers["Location"].endswith("/reporting/units/xa-1?period=2026-Q2")
    own = staff.get(base + "/reporting/units/xa-1", timeout=TIMEOUT)
    assert own.status_code == 200 and "Đảng ủy xã Mẫu 1" in visible_text(own.text)
    other = staff.get(base + "/reporting/units/xa-2", timeout=TIMEOUT)
    assert other.status_code == 403 and other.headers["Content-Type"] == HTML
    assert "Ngoài phạm vi được giao" in visible_text(other.text)
    assert staff.get(base + "/reporting/units/xa-2/heatmap", timeout=TIMEOUT).status_code == 403
    api = staff.get(base + "/reporting/api/units/xa-2", timeout=TIMEOUT)
    assert api.status_code == 403 and api.json()["error"] == "forbidden"
    whole = staff.get(base + "/reporting/api/overview", timeout=TIMEOUT)
    assert whole.status_code == 403 and whole.json()["parameter"] == "unit"
    assert whole.json()["units"] == ["xa-1"]
    assert staff.get(base + "/reporting/api/overview?unit=xa-1", timeout=TIMEOUT).ok
    listed = staff.get(base + "/reporting/api/escalations?unit=xa-1&state=", timeout=TIMEOUT)
    assert listed.ok and all(e["cell_id"].startswith("xa-1-")
                             for e in listed.json()["escalations"])
    assert staff.get(base + "/reporting/audit", timeout=TIMEOUT).status_code == 403


def test_a_page_without_a_session_goes_to_the_login_page(base):
    response = requests.get(base + "/reporting/units/xa-1?lang=en", allow_redirects=False,
                            timeout=TIMEOUT)
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        "/login?next=%2Freporting%2Funits%2Fxa-1%3Flang%3Den")
    assert requests.get(base + "/reporting/api/overview", timeout=TIMEOUT).status_code == 401
    login = requests.get(base + response.headers["Location"], timeout=TIMEOUT)
    assert login.status_code == 200 and "Đăng nhập" in visible_text(login.text)
    assert 'name="next" value="/reporting/units/xa-1?lang=en"' in login.text


def test_a_page_names_who_is_logged_in(base):
    text = visible_text(browser(base, STAFF_XA1).get(base + "/reporting/units/xa-1",
                                                     timeout=TIMEOUT).text)
    assert "Cán bộ xã Mẫu 1" in text and "Cán bộ Ban Tổ chức" in text
    assert "Đảng ủy xã Mẫu 1" in text and "Đăng xuất" in text


def test_a_form_needs_the_sessions_csrf_token_and_its_origin(base):
    reader = browser(base)
    without = reader.post(base + "/reporting/audit/verify", data={"next": "/reporting/audit"},
                          allow_redirects=False, timeout=TIMEOUT)
    assert without.status_code == 403 and without.json()["error"] == "csrf_failed"
    del reader.headers["Origin"]
    no_origin = reader.post(base + "/reporting/audit/verify",
                            data={"next": "/reporting/audit", "csrf_token": CSRF},
                            allow_redirects=False, timeout=TIMEOUT)
    assert no_origin.status_code == 403 and "Origin" in no_origin.text
    reader.headers["Origin"] = base
    done = reader.post(base + "/reporting/audit/verify",
                       data={"next": "/reporting/audit", "csrf_token": CSRF},
                       allow_redirects=False, timeout=120)
    assert done.status_code == 303 and done.headers["Location"].endswith("/reporting/audit")


def test_logout_clears_the_session_cookie(base):
    reader = browser(base)
    done = reader.post(base + "/logout", data={"csrf_token": CSRF}, allow_redirects=False,
                       timeout=TIMEOUT)
    assert done.status_code == 303 and done.headers["Location"] == "/login"
    cleared = done.headers["Set-Cookie"]
    assert cleared.startswith("chibo_session=;") and "Max-Age=0" in cleared
    assert "chibo_session" not in reader.cookies
    after = reader.get(base + "/reporting/", allow_redirects=False, timeout=TIMEOUT)
    assert after.status_code == 303 and "/login?next=" in after.headers["Location"]


def test_a_viewer_sees_a_cells_figures_but_not_its_people(base):
    from chibo.access import Grant, Identity

    viewer = authenticated(Identity("xem-xa1", "Người xem xã 1", (Grant("viewer", "xa-1"),)))
    staff = authenticated(STAFF_XA1)
    seen = viewer.get(f"{base}/reporting/api/cells/{CELL}", timeout=TIMEOUT).json()
    full = staff.get(f"{base}/reporting/api/cells/{CELL}", timeout=TIMEOUT).json()
    assert full["members"] and not full.get("personal_hidden")
    assert seen["members"] == [] and seen["personal_hidden"] is True
    assert seen["months"] == full["months"]  # the figures are the same
    assert all(task["assignee_name"] is None for task in seen["tasks"])
    meeting = viewer.get(f"{base}/reporting/api/meetings/{MEETING}", timeout=TIMEOUT).json()
    assert meeting["attendance"] == [] and meeting["meeting"]["speakers"] == []
    assert meeting["meeting"]["chair_name"] is None
    names = {m["full_name"] for m in full["members"]}
    for path in (f"/reporting/cells/{CELL}", f"/reporting/meetings/{MEETING}"):
        page_text = visible_text(viewer.get(base + path, timeout=TIMEOUT).text)
        assert "Danh sách đảng viên và thông tin cá nhân được ẩn" in page_text, path
        assert not any(name in page_text for name in names), path
    assert viewer.get(f"{base}/reporting/members/{MEMBER}", timeout=TIMEOUT).status_code == 403
