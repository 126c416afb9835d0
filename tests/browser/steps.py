"""The browser steps, run by tests/browser/test_dashboard.py each in its own process:
`python -m tests.browser.steps <step> <base URL>`. Playwright's blocking calls must not
share a process with eventlet's monkey-patching (the test session's), so they live here.

Each step drives Debian's chromium (never a downloaded browser), logs in through the
login page as a person would, asserts what the user would see, and saves screenshots
under var/screenshots/.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import requests
from openpyxl import load_workbook
from playwright.sync_api import sync_playwright

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
#: The accounts the browser logs in with (tests/browser/test_dashboard.py opens them
#: through the members service): a provincial administrator, and a commune's staff.
ADMIN_LOGIN = os.environ.get("CHIBO_BROWSER_LOGIN", "")
ADMIN_NAME = os.environ.get("CHIBO_BROWSER_NAME", "")
ADMIN_ACCOUNT = os.environ.get("CHIBO_BROWSER_ACCOUNT", "")
COMMUNE_LOGIN = os.environ.get("CHIBO_BROWSER_COMMUNE_LOGIN", "")
COMMUNE = os.environ.get("CHIBO_BROWSER_COMMUNE", "")
PASSWORD = os.environ.get("CHIBO_BROWSER_PASSWORD", "")
#: The steps' own API calls send a bearer token (the tests' provincial administrator).
API = requests.Session()
API.headers["Authorization"] = f"Bearer {os.environ.get('CHIBO_BROWSER_BEARER', '')}"
CHROMIUM = os.environ.get("CHIBO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def log_in(page, dashboard: str, login: str, password: str = PASSWORD) -> None:
    """Fill in the login page and send it, as a person would; the dashboard opens."""
    page.goto(f"{dashboard}/login")
    page.fill("[data-testid=login-login]", login)
    page.fill("[data-testid=login-password]", password)
    page.click("[data-testid=login-submit]")
    page.wait_for_url("**/reporting/**")
    assert page.locator("[data-testid=logout]").count() == 1


def _children(dashboard: str, unit_id: str) -> list[dict]:
    """The units under `unit_id` as the JSON API lists them (today's tree)."""
    return API.get(f"{dashboard}/reporting/api/units/{unit_id}", timeout=10).json()[
        "children"]


def _follow_first_link(page) -> str:
    """Open the first unit listed under this one; returns its id."""
    link = page.locator("[data-testid=table-children] tbody tr a").first
    unit_id = link.get_attribute("href").split("/reporting/units/")[1].split("?")[0]
    link.click()
    page.wait_for_url(f"**/reporting/units/{unit_id}**")
    return unit_id


def step_overview_drill_down_to_a_cell_and_a_meeting(dashboard: str, page, browser,
                                                      tmp_path: Path) -> None:
    page.goto(f"{dashboard}/reporting/")
    assert "Đảng bộ tỉnh Mô Phỏng" in page.inner_text("h1")
    committees = page.locator("[data-testid=table-children] tbody tr")
    assert committees.count() == len(_children(dashboard, "tinh")) == 3
    ratings = page.inner_text("[data-testid=card-ratings]")
    assert "Xếp loại đảng viên năm" in ratings and "Hoàn thành xuất sắc nhiệm vụ" in ratings
    assert page.locator("[data-testid=table-children_ratings] tbody tr").count() == 3
    page.screenshot(path=SCREENSHOTS / "01-tong-quan.png", full_page=True)

    committee = _follow_first_link(page)  # rows are in Vietnamese name order
    assert committee.startswith("h")
    organisations = page.locator("[data-testid=table-children] tbody tr")
    assert organisations.count() == len(_children(dashboard, committee)) >= 2
    page.screenshot(path=SCREENSHOTS / "02-dang-bo.png", full_page=True)

    assert _follow_first_link(page).startswith(f"{committee}-x")
    page.locator("[data-testid=table-children] tbody tr a").first.click()
    page.wait_for_url("**/reporting/cells/**")
    assert "Chi bộ" in page.inner_text("h1")
    meetings = page.locator("[data-testid=table-meetings] tbody tr")
    assert meetings.count() >= 2
    page.screenshot(path=SCREENSHOTS / "03-chi-bo.png", full_page=True)

    meetings.first.locator("a").first.click()
    page.wait_for_url("**/reporting/meetings/**")
    attendance = page.locator("[data-testid=table-attendance] tbody tr")
    assert attendance.count() >= 3
    assert "Có mặt" in page.inner_text("[data-testid=table-attendance]")
    page.screenshot(path=SCREENSHOTS / "04-bien-ban.png", full_page=True)


def step_language_switch(dashboard: str, page, browser, tmp_path: Path) -> None:
    page.goto(f"{dashboard}/reporting/")
    assert "Tổng quan" in page.inner_text("nav")
    page.click("[data-testid=lang-en]")
    page.wait_for_url("**lang=en**")
    assert "Overview" in page.inner_text("nav")
    assert "Tổng quan" not in page.inner_text("nav")
    page.screenshot(path=SCREENSHOTS / "05-english.png", full_page=True)
    page.goto(f"{dashboard}/reporting/escalations")  # remembered by a cookie
    assert "Escalations" in page.inner_text("nav")
    page.click("[data-testid=lang-vi]")
    assert "Cảnh báo" in page.inner_text("nav")


def step_export_a_table_as_csv_and_excel(dashboard: str, page, browser, tmp_path: Path) -> None:
    page.goto(f"{dashboard}/reporting/units/h02")
    names = page.locator("[data-testid=table-children] tbody tr td:first-child").all_inner_texts()
    with page.expect_download() as csv_download:
        page.click("[data-testid=export-csv-children]")
    csv_path = tmp_path / csv_download.value.suggested_filename
    csv_download.value.save_as(csv_path)
    raw = csv_path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the Vietnamese right
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 1 + len(names) >= 3
    assert sorted(r[0] for r in rows[1:]) == sorted(n.strip() for n in names)

    with page.expect_download() as xlsx_download:
        page.click("[data-testid=export-xlsx-children]")
    xlsx_path = tmp_path / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(xlsx_path)
    sheet = load_workbook(xlsx_path).worksheets[0]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    found = {str(v) for row in values for v in row if v is not None}
    assert {n.strip() for n in names} <= found


def step_acknowledge_an_escalation(dashboard: str, page, browser, tmp_path: Path) -> None:
    page.goto(f"{dashboard}/reporting/escalations")
    form = page.locator("form[data-testid^=ack-]").first
    escalation_id = form.get_attribute("data-testid").removeprefix("ack-")
    assert form.locator("input[name=by]").count() == 0  # who acts is the login
    page.screenshot(path=SCREENSHOTS / "06-canh-bao.png", full_page=True)
    form.locator(f"[data-testid=ack-{escalation_id}-submit]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(f"form[data-testid=ack-{escalation_id}]").count() == 0
    listed = API.get(f"{dashboard}/reporting/api/escalations", timeout=10).json()
    state = {e["escalation_id"]: e for e in listed["escalations"]}[escalation_id]
    assert state["state"] == "acknowledged"
    assert state["acknowledged_by"] in (ADMIN_NAME, ADMIN_ACCOUNT)


def step_pages_fit_a_phone(dashboard: str, page, browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = context.new_page()
    log_in(phone, dashboard, ADMIN_LOGIN)
    for path, shot in (("/reporting/", "07-dien-thoai.png"),
                       ("/reporting/units/h01-x01/heatmap", "08-ban-do-nhiet.png")):
        phone.goto(f"{dashboard}{path}")
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390 + 1, f"{path} is {width}px wide on a 390px screen"
        phone.screenshot(path=SCREENSHOTS / shot, full_page=True)
    context.close()


def _make_up_a_missed_month(dashboard: str) -> tuple[str, str, str]:
    """A cell that missed one of the last three months holds its make-up meeting (sinh
    hoạt bù) today, as a secretary would record it; returns (cell, its parent, month)."""
    today = API.get(f"{dashboard}/members/tree", timeout=10).json()["on"]
    year, month = int(today[:4]), int(today[5:7])
    for back in (1, 2, 3):
        y, m = (year, month - back) if month > back else (year - 1, month - back + 12)
        missed_month = f"{y}-{m:02d}"
        cells = API.get(f"{dashboard}/reporting/cell-months",
                             params={"month": missed_month}, timeout=30).json()["cells"]
        missed = [c["cell_id"] for c in cells if not c["regular_held"]]
        if missed:
            break
    else:
        raise AssertionError("the sample has no missed month to make up")
    cell = missed[0]
    roll = API.get(f"{dashboard}/members/cells/{cell}/roll", params={"on": today},
                        timeout=10).json()
    answer = API.post(f"{dashboard}/meetings/commands/record_meeting_held", json={
        "meeting_id": f"{cell}-bu-{missed_month}", "cell_id": cell, "kind": "regular",
        "held_on": today, "makes_up_month": missed_month,
        "attendance": [{"member_id": m["member_id"], "status": "present"}
                       for m in roll["must_attend"]]}, timeout=20)
    assert answer.status_code == 201, answer.text
    parent = API.get(f"{dashboard}/members/units/{cell}", timeout=10).json()[
        "as_of"]["parent_id"]
    return cell, parent, missed_month


def step_heatmap_tells_the_month_states_apart(dashboard: str, page, browser,
                                               tmp_path: Path) -> None:
    cell, parent, missed_month = _make_up_a_missed_month(dashboard)
    square = (f"[data-testid=heatmap] tbody tr:has(a[href*='/cells/{cell}?']) "
              f"td.hm >> nth={int(missed_month[5:]) - 1}")
    for _ in range(60):  # reporting applies the make-up a moment later
        page.goto(f"{dashboard}/reporting/units/{parent}/heatmap?year={missed_month[:4]}")
        if page.get_attribute(square, "data-state") == "held_late":
            break
        page.wait_for_timeout(500)
    assert page.get_attribute(square, "data-state") == "held_late"
    assert page.inner_text(square) == "Bù"

    legend = page.inner_text("[data-testid=heat-legend]")
    for label in ("Đã sinh hoạt đúng kỳ", "Sinh hoạt bù (muộn)", "Không sinh hoạt",
                  "Chưa đến hạn", "Chi bộ chưa thành lập", "Chi bộ đã giải thể"):
        assert label in legend, label
    states = set(page.eval_on_selector_all(
        "[data-testid=heatmap] tbody td.hm", "cells => cells.map(c => c.dataset.state)"))
    # The sample's months were held or missed; the clock's month and the rest of the
    # year are not yet due, which is not what a month before a cell existed shows.
    assert {"held", "held_late", "not_due"} <= states, states
    assert states <= {"held", "held_late", "missed", "not_due", "not_established",
                      "dissolved", "none"}, states
    page.screenshot(path=SCREENSHOTS / "11-ban-do-nhiet-trang-thai.png", full_page=True)


def step_audit_page_checks_every_source(dashboard: str, page, browser, tmp_path: Path) -> None:
    page.goto(f"{dashboard}/reporting/audit?type=meeting_held")
    assert page.locator("[data-testid=table-results] tbody tr").count() > 0
    page.click("[data-testid=audit-verify]")
    page.wait_for_url("**/reporting/audit**")
    panel = page.inner_text("[data-testid=tamper-panel]")
    for source in ("members", "meetings", "supervision"):
        assert source in panel
    assert "Toàn vẹn" in page.inner_text("[data-testid=audit-status-meetings]")
    page.screenshot(path=SCREENSHOTS / "09-nhat-ky.png", full_page=True)

    # Page through every event, 50 at a time: the pages keep the filter and say where
    # they are among all the events found.
    page.goto(f"{dashboard}/reporting/audit?type=meeting_held&limit=50")
    assert "Trang 1/" in page.inner_text("[data-testid=audit-pager-top]")
    page.click("[data-testid=audit-pager-top] [data-testid=audit-next]")
    page.wait_for_url("**before=**")
    assert "Trang 2/" in page.inner_text("[data-testid=audit-pager-top]")
    assert "type=meeting_held" in page.url and "limit=50" in page.url
    rows = page.locator("[data-testid=table-results] tbody tr")
    assert rows.count() == 50 and "Ghi biên bản sinh hoạt" in rows.first.inner_text()
    page.screenshot(path=SCREENSHOTS / "10-nhat-ky-trang-2.png", full_page=True)
    page.click("[data-testid=audit-pager-top] [data-testid=audit-previous]")
    page.wait_for_url("**after=**")
    assert "Trang 1/" in page.inner_text("[data-testid=audit-pager-top]")


def step_a_communes_staff_sees_only_their_commune_until_logging_out(
        dashboard: str, page, browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    staff = context.new_page()
    staff.set_default_timeout(20_000)
    log_in(staff, dashboard, COMMUNE_LOGIN)
    # The province's overview is the commune's own for someone who sees only the commune.
    staff.goto(f"{dashboard}/reporting/")
    staff.wait_for_url(f"**/reporting/units/{COMMUNE}**")
    commune = API.get(f"{dashboard}/reporting/api/units/{COMMUNE}", timeout=10).json()
    assert commune["unit"]["name"] in staff.inner_text("h1")
    cells = staff.locator("[data-testid=table-children] tbody tr")
    assert cells.count() == len(commune["children"]) >= 1
    listed = set(staff.eval_on_selector_all(
        "[data-testid=table-children] tbody tr a",
        "links => links.map(a => a.getAttribute('href').split('?')[0])"))
    assert listed == {f"/reporting/cells/{c['unit_id']}" for c in commune["children"]}, listed
    staff.screenshot(path=SCREENSHOTS / "12-can-bo-xa.png", full_page=True)

    # Above the commune, and a neighbouring commune, are not shown to them.
    parent = commune["path"][-2]["unit_id"]
    neighbours = [c["unit_id"] for c in _children(dashboard, parent)
                  if c["unit_id"] != COMMUNE]
    for elsewhere in (parent, neighbours[0]):
        answer = staff.goto(f"{dashboard}/reporting/units/{elsewhere}")
        assert answer.status == 403, (elsewhere, answer.status)
        assert commune["unit"]["name"] not in staff.inner_text("h1")

    # Logging out ends the session: the next page asks to log in again.
    staff.goto(f"{dashboard}/reporting/units/{COMMUNE}")
    staff.click("[data-testid=logout]")
    staff.wait_for_url("**/login**")
    assert not [c for c in context.cookies() if c["name"] == "chibo_session"]
    staff.goto(f"{dashboard}/reporting/units/{COMMUNE}")
    staff.wait_for_url("**/login?next=**")
    assert staff.locator("[data-testid=login-form]").count() == 1
    context.close()


STEPS = {name.removeprefix("step_"): f for name, f in dict(globals()).items()
         if name.startswith("step_")}


def main() -> int:
    step, base = sys.argv[1], sys.argv[2]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as folder:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      accept_downloads=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base, ADMIN_LOGIN)
        STEPS[step](base, page, browser, Path(folder))
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    print(f"{step}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
