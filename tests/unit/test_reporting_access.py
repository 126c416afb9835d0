"""Who sees what on the dashboard: reporting's locate over its read model, and the
pages' answers to a caller limited to part of the tree, to one without the permission
and to nobody logged in (the page routes called directly, as the worker would)."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from chibo.access import Grant, Identity
from chibo.errors import Forbidden
from services.reporting import access_rules
from services.reporting.entrypoints import ReportingService
from services.reporting.login_entrypoints import cookie_settings, safe_local_next
from services.reporting.pages import CrossSiteForm, same_site_form
from tests.reporting_caller import as_identity
from tests.unit import test_reporting_views as views_tests
from tests.unit.test_reporting_web import visible_text

TODAY = date(2026, 3, 10)  # the service fixture's clock: after the 1 March restructure
#: A cell secretary of A1, the cell A2 merged into on 1 March.
SECRETARY_A1 = Identity("tk-bt-a1", "Bí thư A1", (Grant("secretary", "A1"),))
#: Staff of committee A (B1 moved under it, B was merged into it).
STAFF_A = Identity("tk-a", "Cán bộ A", (Grant("staff", "A"),))
VIEWER_A1 = Identity("tk-xem", "Người xem A1", (Grant("viewer", "A1"),))
EXPIRED = Identity("tk-cu", "Hết hạn", (Grant("staff", "A", None, date(2026, 2, 28)),))


@pytest.fixture(scope="module")
def factory():
    return views_tests.factory.__wrapped__()


@pytest.fixture
def service(factory):
    return views_tests.service.__wrapped__(factory)


def request(path: str, query: str = "", method: str = "GET", headers: dict | None = None,
            form: dict | None = None) -> Request:
    return Request(EnvironBuilder(path=path, query_string=query, method=method,
                                  headers=headers or {}, data=form).get_environ())


def test_every_entrypoint_declares_its_access():
    from chibo.nameko.access import undeclared_entrypoints

    assert undeclared_entrypoints(ReportingService) == []


def test_locate_places_each_kind_in_todays_tree(service):
    with service.db.transaction() as session:
        def where(kind, value):
            return access_rules.locate(session, kind, value, TODAY)

        assert where("unit", None) == ["P"]
        assert where("unit", "A1") == ["P", "A", "A1"]
        assert where("cell", "B1") == ["P", "A", "B1"]  # moved under A on 1 March
        assert where("cell", "A2") == ["P", "A", "A1", "A2"]  # merged into A1: under it
        assert where("unit", "B") == ["P", "A", "B"]  # merged into A
        assert where("member", "A1-m0") == ["P", "A", "A1"]
        assert where("meeting", "A1-01") == ["P", "A", "A1"]
        assert where("unit", "nowhere") is None
        assert where("member", "nobody") is None
        assert where("visit", "v1") is None  # not a kind reporting keeps
        # Before the restructure B1 still sat under B.
        assert access_rules.locate(session, "cell", "B1", date(2026, 2, 1)) == ["P", "B", "B1"]


def test_home_units_only_for_a_caller_limited_to_a_subtree():
    assert access_rules.home_units(STAFF_A, "view_reports", TODAY) == ["A"]
    assert access_rules.home_units(Identity("x", "x", (Grant("admin"),)), "view_reports",
                                   TODAY) is None
    assert access_rules.home_units(VIEWER_A1, "view_personal", TODAY) is None  # no grant
    assert access_rules.home_units(EXPIRED, "view_reports", TODAY) is None


def test_a_page_without_a_session_goes_to_the_login_page(service):
    as_identity(service, None)
    response = service.unit_page(request("/reporting/units/A", "period=2026-02&lang=en"), "A")
    assert response.status_code == 303
    assert response.headers["Location"] == (
        "/login?next=%2Freporting%2Funits%2FA%3Fperiod%3D2026-02%26lang%3Den")


def test_a_subtree_reader_is_sent_to_their_unit_and_kept_out_of_the_rest(service):
    as_identity(service, SECRETARY_A1)
    home = service.overview_page(request("/reporting/", "period=2026-02"))
    assert home.status_code == 303
    assert home.headers["Location"] == "/reporting/units/A1?period=2026-02"
    heatmap = service.heatmap_page(request("/reporting/heatmap", "year=2026"))
    assert heatmap.headers["Location"] == "/reporting/units/A1/heatmap?year=2026"
    listed = service.escalations_page(request("/reporting/escalations", "state="))
    assert listed.status_code == 303
    assert listed.headers["Location"] == "/reporting/escalations?state=&unit=A1"
    assert service.cell_page(request("/reporting/cells/A1"), "A1").status_code == 200
    assert service.cell_page(request("/reporting/cells/A2"), "A2").status_code == 200
    assert service.member_page(request("/reporting/members/A1-m0"), "A1-m0").status_code == 200
    refused = service.unit_page(request("/reporting/units/A"), "A")
    assert refused.status_code == 403 and refused.content_type.startswith("text/html")
    text = visible_text(refused.get_data(as_text=True))
    assert "Không có quyền xem trang này" in text and "Ngoài phạm vi được giao" in text
    assert "view_reports on A" in text
    assert service.cell_page(request("/reporting/cells/B1"), "B1").status_code == 403
    # An id reporting does not know is refused like one outside the grant: nothing to probe.
    assert service.cell_page(request("/reporting/cells/nope"), "nope").status_code == 403


def test_the_page_names_its_reader_with_their_roles(service):
    as_identity(service, STAFF_A)
    html = service.unit_page(request("/reporting/units/A"), "A").get_data(as_text=True)
    text = visible_text(html)
    assert "Cán bộ A" in text
    assert "Cán bộ Ban Tổ chức (organisation-board staff) — Đơn vị A" in text
    assert 'action="/logout"' in html and 'name="csrf_token" value="csrf-kiem-thu"' in html


def test_a_member_record_needs_the_personal_permission(service):
    as_identity(service, VIEWER_A1)
    assert service.cell_page(request("/reporting/cells/A1"), "A1").status_code == 200
    refused = service.member_page(request("/reporting/members/A1-m0"), "A1-m0")
    assert refused.status_code == 403
    assert "view_personal" in visible_text(refused.get_data(as_text=True))
    with pytest.raises(Forbidden):
        service.member("A1-m0")


def test_a_grant_past_its_last_day_gives_nothing(service):
    as_identity(service, EXPIRED)
    assert service.unit_page(request("/reporting/units/A"), "A").status_code == 403


def test_the_quarterly_workbook_of_a_subtree_reader_is_their_units(service):
    as_identity(service, STAFF_A)
    sent = service.quarterly_report(request("/reporting/reports/quarterly.xlsx",
                                            "quarter=2026-Q1"))
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/reporting/reports/quarterly.xlsx?quarter=2026-Q1&unit=A"
    with pytest.raises(Forbidden):
        service.quarterly_report(request("/reporting/reports/quarterly.xlsx", "unit=P"))
    book = service.quarterly_report(request("/reporting/reports/quarterly.xlsx",
                                            "quarter=2026-Q1&unit=A"))
    assert book.status_code == 200


class Form:
    """A route behind same_site_form that records being reached."""

    reached = 0

    @same_site_form
    def post(self, request: Request):
        Form.reached += 1
        return "done"


@pytest.mark.parametrize(("headers", "allowed"), [
    ({"Origin": "http://localhost"}, True),
    ({"Referer": "http://localhost/reporting/audit"}, True),
    ({"Origin": "https://evil.example"}, False),
    ({"Referer": "https://evil.example/page"}, False),
    ({"Origin": "null"}, False),
    ({}, False),  # with the session cookie and neither header
])
def test_a_form_post_with_the_session_cookie_names_this_site(headers, allowed):
    headers = {**headers, "Cookie": "chibo_session=abc"}
    post = request("/reporting/audit/verify", method="POST", headers=headers)
    before = Form.reached
    if allowed:
        assert Form().post(post) == "done" and Form.reached == before + 1
    else:
        with pytest.raises(CrossSiteForm) as refused:
            Form().post(post)
        assert refused.value.http_status == 403 and Form.reached == before


def test_next_after_login_is_a_local_path_only():
    assert safe_local_next("/reporting/units/A?period=2026-02") == \
        "/reporting/units/A?period=2026-02"
    for bad in (None, "", "https://evil.org/", "//evil.org/x", "/\\evil.org", "reporting/",
                "/reporting/\r\nSet-Cookie: a=b", "javascript:alert(1)"):
        assert safe_local_next(bad) == "/reporting/"


def test_cookie_settings_follow_the_config():
    assert cookie_settings({}) == (8 * 3600, True)
    assert cookie_settings({"AUTH": {"session_hours": 2, "cookie_secure": False}}) == (7200, False)
    assert cookie_settings({"AUTH": {"session_hours": "1", "cookie_secure": "false"}}) == (
        3600, False)
