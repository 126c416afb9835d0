"""The forms' browser steps, run by tests/browser/test_forms.py each in its own process:
`python -m tests.browser.form_steps <step> <base URL>` (Playwright's blocking calls must
not share a process with eventlet's monkey-patching). Each step signs in through the
login page, fills the forms as a person would, asserts what they would see, and saves
screenshots under docs/screenshots/forms/.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

from tests.browser.steps import API, CHROMIUM, PASSWORD, log_in

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "forms"
SECRETARY = os.environ.get("CHIBO_FORMS_SECRETARY", "")
SUPERVISOR = os.environ.get("CHIBO_FORMS_SUPERVISOR", "")
STAFF = os.environ.get("CHIBO_FORMS_STAFF", "")
STAFF_NAME = os.environ.get("CHIBO_FORMS_STAFF_NAME", "")
#: The cell's deputy secretary: records the same cell's meetings, on the same computer.
DEPUTY = os.environ.get("CHIBO_FORMS_DEPUTY", "")
#: A cell committee member who records the cell's meetings too.
CLERK = os.environ.get("CHIBO_FORMS_CLERK", "")
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
WIDE = {"viewport": {"width": 1280, "height": 900}}


def tid(name: str) -> str:
    return f"[data-testid='{name}']"


def shot(page, name: str) -> None:
    page.screenshot(path=SHOTS / name, full_page=True)


def fits(page, width: int = 390) -> None:
    scrolled = page.evaluate("document.documentElement.scrollWidth")
    assert scrolled <= width + 1, f"{page.url} is {scrolled}px wide on a {width}px screen"


def held_on(base: str, day: str, cell: str = "C1") -> list[dict]:
    meetings = API.get(f"{base}/reporting/api/cells/{cell}", timeout=10).json()["meetings"]
    return [m for m in meetings if m["held_on"] == day]


def arrive(page, pattern: str) -> None:
    """Wait for the page the form leads to; if it does not come, say what the page says."""
    try:
        page.wait_for_url(pattern, timeout=20_000)
    except Exception as exc:  # noqa: BLE001 - re-raised with what the page showed
        shown = page.evaluate("""() => Array.from(document.querySelectorAll(
            "[data-testid=form-error], .field-error, [data-testid=draft-status]"))
            .map(e => e.dataset.testid + ': ' + e.innerText).join(' | ')""")
        raise AssertionError(f"{page.url} did not lead to {pattern}: {shown}") from exc


def open_form(page, base: str, path: str = "/reporting/cells/C1/record") -> None:
    page.goto(base + path)
    page.wait_for_selector("form.entry-form")


def step_secretary_records_a_month_on_a_phone(base: str, browser, errors: list) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, SECRETARY)
    page.click(tid("nav-my"))
    page.wait_for_url("**/reporting/my")
    fits(page)
    shot(page, "01-chi-bo-cua-toi-390.png")
    page.click(tid("record-C1"))
    page.wait_for_url("**/cells/C1/record**")
    assert page.locator(".roll-row").count() == 14
    assert page.locator(tid("locked-C1-14")).count() == 1  # exempt: excused and locked
    page.fill(tid("field-held_on"), "05/07/2026")
    page.fill(tid("field-started_at"), "19:30")
    page.fill(tid("field-ended_at"), "21:45")
    page.fill(tid("field-place"), "Nhà văn hóa thôn Đông")
    page.select_option(tid("field-chair_id"), "C1-01")
    page.select_option(tid("field-minutes_taker_id"), "C1-02")
    page.check(tid("absent_excused-C1-03"))
    page.fill(tid("reason-C1-03"), "Ốm")
    page.check(tid("absent_excused-C1-04"))
    page.fill(tid("reason-C1-04"), "Đi công tác")
    page.check(tid("absent_unexcused-C1-05"))
    page.fill(tid("field-agenda"), "Kiểm điểm tháng 6\nPhương hướng tháng 7")
    page.fill(tid("field-conclusion"), "Chi bộ thống nhất làm đường liên thôn.")
    for criterion, points in (("preparation", "14"), ("attendance", "17"), ("conduct", "40"),
                              ("closing", "18")):
        page.fill(tid(f"field-score.{criterion}"), points)
    fits(page)
    shot(page, "02-ghi-bien-ban-390.png")
    page.click(tid("submit-meeting"))
    page.wait_for_url("**/resolution?saved=held&sent=*")
    assert "Đã ghi biên bản" in page.inner_text(tid("saved-notice"))
    assert "13" in page.inner_text(tid("eligible"))
    page.fill(tid("field-title"), "Nghị quyết tháng 7/2026")
    page.fill(tid("field-in_favour"), "10")
    page.fill(tid("field-task_title.0"), "Huy động ngày công làm đường")
    page.select_option(tid("field-task_assignee.0"), "C1-06")
    page.fill(tid("field-task_due.0"), "31/07/2026")
    page.fill(tid("field-task_title.1"), "Thu quỹ khuyến học")
    page.select_option(tid("field-task_assignee.1"), "C1-07")
    page.fill(tid("field-task_due.1"), "15/08/2026")
    fits(page)
    shot(page, "03-nghi-quyet-390.png")
    page.click(tid("submit-resolution"))
    page.wait_for_url("**/resolution?saved=resolution&sent=*")

    # The dashboard shows the meeting, its attendance and its tasks.
    page.goto(f"{base}/reporting/cells/C1")
    assert "05/07/2026" in page.inner_text(tid("table-meetings"))
    tasks = page.inner_text(tid("table-tasks"))
    assert "Huy động ngày công làm đường" in tasks and "Thu quỹ khuyến học" in tasks
    page.locator(tid("table-meetings") + " a[href^='/reporting/meetings/']").first.click()
    page.wait_for_url("**/reporting/meetings/**")
    attendance = page.inner_text(tid("table-attendance"))
    assert attendance.count("Vắng có lý do") == 2 and attendance.count("Vắng không lý do") == 1
    assert "Nghị quyết tháng 7/2026" in page.inner_text("main")
    # One material, uploaded from the phone on the meeting's page.
    with tempfile.TemporaryDirectory() as folder:
        draft = Path(folder) / "Báo cáo tháng 6.pdf"
        draft.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n")
        page.set_input_files(tid("material-form") + " input[type=file]", str(draft))
        page.click(tid("material-submit"))
        page.wait_for_url("**/reporting/meetings/**?attached=*")
    assert "Báo cáo tháng 6.pdf" in page.inner_text(tid("material-attached"))
    assert page.locator(tid("material-link")).count() == 1
    fits(page)
    context.close()

    wide = browser.new_context(**WIDE).new_page()
    log_in(wide, base, SECRETARY)
    open_form(wide, base)
    shot(wide, "02-ghi-bien-ban-1280.png")
    meeting_id = held_on(base, "2026-07-05")[0]["meeting_id"]
    open_form(wide, base, f"/reporting/meetings/{meeting_id}/resolution")
    shot(wide, "03-nghi-quyet-1280.png")
    wide.goto(f"{base}/reporting/cells/C1/calendar")
    assert "05/07/2026" in wide.inner_text(tid("month-2026-07"))
    shot(wide, "04-lich-sinh-hoat-1280.png")
    wide.goto(f"{base}/reporting/my")
    shot(wide, "01-chi-bo-cua-toi-1280.png")


def step_a_form_sent_twice_records_once(base: str, browser, errors: list) -> None:
    page = browser.new_context(**WIDE).new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, SECRETARY)
    open_form(page, base)
    page.fill(tid("field-held_on"), "06/07/2026")
    page.select_option(tid("field-kind"), "thematic")
    page.fill(tid("field-topic"), "Học tập chuyên đề năm 2026")
    page.dblclick(tid("submit-meeting"))  # an impatient double click
    page.wait_for_url("**/resolution?saved=held&sent=*")
    assert len(held_on(base, "2026-07-06")) == 1

    # The same form posted twice by hand (a resend after a timeout): recorded once.
    open_form(page, base)
    page.fill(tid("field-held_on"), "07/07/2026")
    page.select_option(tid("field-kind"), "thematic")
    page.fill(tid("field-topic"), "Chuyên đề gửi hai lần")
    statuses = page.evaluate("""async () => {
        const form = document.querySelector("form.entry-form");
        const body = new URLSearchParams(new FormData(form));
        const send = () => fetch(form.action, {method: "POST", body, redirect: "manual"});
        const answers = [await send(), await send()];
        return answers.map(a => a.type === "opaqueredirect" ? 303 : a.status);
    }""")
    assert statuses == [303, 303], statuses
    assert len(held_on(base, "2026-07-07")) == 1


def step_a_draft_kept_offline_is_sent_when_back_online(base: str, browser, errors: list
                                                       ) -> None:
    context = browser.new_context(**WIDE)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, SECRETARY)
    open_form(page, base)
    assert "chỉ được ghi khi bạn bấm nút gửi" in page.inner_text(tid("draft-status"))
    # A draft survives a reload: it is kept in this browser, not sent.
    page.fill(tid("field-place"), "Nhà ông Trưởng thôn")
    assert "lưu trong trình duyệt này (chưa gửi)" in page.inner_text(tid("draft-status"))
    page.reload()
    page.wait_for_selector("form.entry-form")
    assert page.input_value(tid("field-place")) == "Nhà ông Trưởng thôn"
    assert "khôi phục" in page.inner_text(tid("draft-status"))

    # The network goes: the form is filled and sent, and kept, marked as not sent.
    context.set_offline(True)
    page.fill(tid("field-held_on"), "08/07/2026")
    page.select_option(tid("field-kind"), "thematic")
    page.fill(tid("field-topic"), "Chuyên đề ghi khi mất mạng")
    page.check(tid("absent_unexcused-C1-09"))
    page.click(tid("submit-meeting"))
    status = page.locator(tid("draft-status"))
    assert status.get_attribute("data-state") == "queued"
    assert "CHƯA GỬI" in status.inner_text()
    shot(page, "05-mat-mang-1280.png")
    # Reloaded with the network still cut: the page (kept by the forms' service worker)
    # and the draft come back, still waiting to be sent.
    reloaded = page.reload()
    page.wait_for_selector("form.entry-form")
    assert reloaded.headers.get("x-chibo-kept-at"), "the reload did not come from the kept copy"
    assert page.input_value(tid("field-topic")) == "Chuyên đề ghi khi mất mạng"
    assert page.is_checked(tid("absent_unexcused-C1-09"))
    assert page.get_attribute(tid("draft-status"), "data-state") == "queued"
    assert held_on(base, "2026-07-08") == []

    # Back online, the page sends what was kept, once.
    context.set_offline(False)
    arrive(page, "**/resolution?saved=held&sent=*")
    recorded = held_on(base, "2026-07-08")
    assert len(recorded) == 1 and recorded[0]["topic"] == "Chuyên đề ghi khi mất mạng"
    page.goto(f"{base}/reporting/cells/C1/record")
    assert page.input_value(tid("field-topic")) == ""  # the sent draft is gone

    # A closed tab: the draft kept offline is sent when the form is next opened online.
    context.set_offline(True)
    page.fill(tid("field-held_on"), "03/07/2026")
    page.select_option(tid("field-kind"), "thematic")
    page.fill(tid("field-topic"), "Chuyên đề của thẻ đã đóng")
    page.click(tid("submit-meeting"))
    assert page.get_attribute(tid("draft-status"), "data-state") == "queued"
    page.close()
    context.set_offline(False)
    again = context.new_page()
    again.on("pageerror", lambda exc: errors.append(str(exc)))
    again.goto(f"{base}/reporting/cells/C1/record")
    arrive(again, "**/resolution?saved=held&sent=*")
    assert len(held_on(base, "2026-07-03")) == 1
    context.close()


def step_a_wrong_date_is_told_beside_its_field(base: str, browser, errors: list) -> None:
    for options, name in ((PHONE, "06-sai-ngay-390.png"), (WIDE, "06-sai-ngay-1280.png")):
        page = browser.new_context(**options).new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base, SECRETARY)
        open_form(page, base)
        before = API.get(f"{base}/reporting/api/cells/C1", timeout=10).json()["meetings"]
        page.fill(tid("field-held_on"), "31/02/2026")
        page.fill(tid("field-started_at"), "25:00")
        page.click(tid("submit-meeting"))
        page.wait_for_selector(tid("error-held_on"))
        beside = page.locator(f"{tid('field-held_on')} ~ {tid('error-held_on')}")
        assert beside.count() == 1
        assert "Không có ngày 31/02/2026" in beside.inner_text()
        assert "giờ:phút" in page.inner_text(tid("error-started_at"))
        assert page.get_attribute(tid("field-held_on"), "aria-invalid") == "true"
        assert page.input_value(tid("field-held_on")) == "31/02/2026"
        after = API.get(f"{base}/reporting/api/cells/C1", timeout=10).json()["meetings"]
        assert len(after) == len(before)  # nothing written
        if options is PHONE:
            fits(page)
        page.locator(tid("field-held_on")).scroll_into_view_if_needed()
        shot(page, name)


def step_a_supervisor_logs_a_visit_and_the_coverage_moves(base: str, browser, errors: list
                                                          ) -> None:
    page = browser.new_context(**PHONE).new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, SUPERVISOR)
    page.click(tid("nav-my"))
    page.wait_for_url("**/reporting/my")
    assert "0/2" in page.inner_text(tid("my-coverage"))
    assert page.get_attribute(tid("followed-C1"), "data-visited") == "no"
    fits(page)
    shot(page, "07-giam-sat-390.png")
    page.click(tid("visit-C1"))
    page.wait_for_url("**/cells/C1/visit**")
    page.fill(tid("field-comments"), "Chi bộ sinh hoạt nền nếp, nội dung thiết thực.")
    page.check(tid("score-change"))
    for criterion, points in (("preparation", "13"), ("attendance", "17"), ("conduct", "38"),
                              ("closing", "17")):
        page.fill(tid(f"field-score.{criterion}"), points)
    fits(page)
    shot(page, "08-du-sinh-hoat-390.png")
    page.click(tid("submit-visit"))
    arrive(page, "**/reporting/my?saved=visit&sent=*")
    assert "1/2" in page.inner_text(tid("my-coverage"))
    assert page.get_attribute(tid("followed-C1"), "data-visited") == "yes"
    coverage = API.get(f"{base}/supervision/coverage", params={"quarter": "2026-Q3"},
                       timeout=10).json()
    follower = {f["follower"]: f for f in coverage["by_follower"]}["Nguyễn Thị Giám Sát"]
    assert follower["visited"] == 1 and follower["cells"] == 2

    wide = browser.new_context(**WIDE).new_page()
    log_in(wide, base, SUPERVISOR)
    open_form(wide, base, "/reporting/cells/C1/visit")
    shot(wide, "08-du-sinh-hoat-1280.png")
    wide.goto(f"{base}/reporting/my")
    shot(wide, "07-giam-sat-1280.png")


def step_staff_see_who_acknowledged_and_when(base: str, browser, errors: list) -> None:
    page = browser.new_context(**WIDE).new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, STAFF)
    page.goto(f"{base}/reporting/escalations")
    form = page.locator("form[data-testid^=ack-]").first
    escalation_id = form.get_attribute("data-testid").removeprefix("ack-")
    form.locator(tid(f"ack-{escalation_id}-submit")).click()
    page.wait_for_url("**done=acknowledge**")
    done = page.inner_text(tid("action-done"))
    assert STAFF_NAME in done and "đã tiếp nhận cảnh báo lúc" in done and "08/07/2026" in done
    shot(page, "09-canh-bao-da-tiep-nhan-1280.png")
    phone = browser.new_context(**PHONE).new_page()
    log_in(phone, base, STAFF)
    phone.goto(page.url)
    assert STAFF_NAME in phone.inner_text(tid("action-done"))
    fits(phone)
    shot(phone, "09-canh-bao-da-tiep-nhan-390.png")


def step_every_form_fits_a_phone_and_a_desktop(base: str, browser, errors: list) -> None:
    """The forms the other steps do not show: scheduling (through its form, so the
    planned meeting's preparation form exists), preparation, correction and a task."""
    phone = browser.new_context(**PHONE).new_page()
    wide = browser.new_context(**WIDE).new_page()
    for page in (phone, wide):
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base, SECRETARY)

    def both(path: str, name: str) -> None:
        for page, width in ((phone, 390), (wide, 1280)):
            open_form(page, base, path)
            fits(page, width)
            shot(page, f"{name}-{width}.png")

    both("/reporting/cells/C1/schedule", "10-len-lich")
    phone.fill(tid("field-planned_on"), "06/08/2026")
    phone.fill(tid("field-place"), "Nhà văn hóa thôn Đông")
    phone.click(tid("submit-schedule"))
    arrive(phone, "**/calendar?saved=scheduled&sent=*")
    phone.locator("a[href*='/preparation']").first.click()
    phone.wait_for_selector("form.entry-form")
    both(phone.url.removeprefix(base), "11-chuan-bi")
    meeting_id = held_on(base, "2026-07-05")[0]["meeting_id"]
    both(f"/reporting/meetings/{meeting_id}/correction", "12-dinh-chinh")
    phone.goto(f"{base}/reporting/cells/C1/calendar")
    phone.locator(tid("open-tasks") + " a").first.click()
    phone.wait_for_selector("form.entry-form")
    both(phone.url.removeprefix(base), "13-nhiem-vu")


def kept_in_browser(page) -> dict:
    """What this browser profile keeps of the forms: drafts and the worker's caches."""
    return page.evaluate("""async () => ({
        drafts: Object.keys(localStorage).filter(k => k.startsWith("chibo-draft:")),
        caches: (await caches.keys()).filter(n => n.startsWith("chibo-forms")),
    })""")


def page_kept(page) -> None:
    """Wait until the forms' worker has kept a copy of a form page (of this account)."""
    page.wait_for_function("""async () => {
        for (const name of await caches.keys()) {
            if (!name.startsWith("chibo-forms-v2:pages:")) continue;
            if ((await (await caches.open(name)).keys()).length) return true;
        }
        return false;
    }""", timeout=20_000)


def log_out(page) -> None:
    page.click(tid("logout"))
    page.wait_for_url("**/login**")


def opens_offline(context, base: str, path: str = "/reporting/cells/C1/record") -> bool:
    """With the network cut, does a new tab still get the form page from the browser?"""
    context.set_offline(True)
    page = context.new_page()
    try:
        page.goto(base + path)
        shown = page.locator("form.entry-form").count() > 0
    except PlaywrightError:  # the browser's own "no network" error: nothing was kept
        shown = False
    page.close()
    context.set_offline(False)
    return shown


def step_after_logout_the_form_page_is_not_served_offline(base: str, browser, errors: list
                                                          ) -> None:
    """Twice: once as Chromium does it (the logout's Clear-Site-Data, honoured on
    http://127.0.0.1, a secure context: sent without the page's script), once as a browser
    that ignores the header (plain http to a commune's server: session.js clears)."""
    for by_header in (True, False):
        context = browser.new_context(**WIDE)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        log_in(page, base, DEPUTY)
        open_form(page, base)
        page.fill(tid("field-place"), "Nhà văn hóa thôn Đông")  # a draft, too
        page_kept(page)
        assert opens_offline(context, base), "the signed-in account's copy should open"
        if by_header:
            # The form sent without its submit handler: only the header clears.
            page.evaluate("HTMLFormElement.prototype.submit.call("
                          "document.querySelector('form[data-logout]'))")
            page.wait_for_url("**/login**")
        else:
            def ignoring_the_header(route) -> None:
                answer = route.fetch(max_redirects=0)
                headers = {k: v for k, v in answer.headers.items()
                           if k.lower() != "clear-site-data"}
                route.fulfill(response=answer, headers=headers)
            context.route("**/logout", ignoring_the_header)
            log_out(page)
            context.unroute("**/logout")
        kept = kept_in_browser(page)
        assert kept == {"drafts": [], "caches": []}, (by_header, kept)
        assert not opens_offline(context, base), "the roll opened after logout, offline"
        context.close()


def step_a_draft_of_one_account_is_never_restored_or_sent_for_another(
        base: str, browser, errors: list) -> None:
    context = browser.new_context(**WIDE)

    def tab():
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    def queued_offline(page, day: str, topic: str) -> None:
        """The committee member fills the form offline and sends it: it is kept, queued; then
        the tab is closed before the network comes back."""
        open_form(page, base)
        context.set_offline(True)
        page.fill(tid("field-held_on"), day)
        page.select_option(tid("field-kind"), "thematic")
        page.fill(tid("field-topic"), topic)
        page.click(tid("submit-meeting"))
        assert page.get_attribute(tid("draft-status"), "data-state") == "queued"
        page.close()
        context.set_offline(False)

    def nothing_restored(page) -> None:
        open_form(page, base)
        page.wait_for_load_state("load")
        # A restored queued draft says "sending" at once, before the page has loaded.
        assert page.get_attribute(tid("draft-status"), "data-state") in (None, "")
        assert page.input_value(tid("field-topic")) == ""
        assert "chỉ được ghi khi bạn bấm nút gửi" in page.inner_text(tid("draft-status"))

    # The deputy signs in over the committee member's session, which was never logged out.
    page = tab()
    log_in(page, base, CLERK)
    queued_offline(page, "02/07/2026", "Chuyên đề của chi ủy viên, chờ gửi")
    deputy = tab()
    log_in(deputy, base, DEPUTY)
    nothing_restored(deputy)
    assert held_on(base, "2026-07-02") == []
    # The committee member, back on this computer, gets their own draft, which sends itself.
    log_in(deputy, base, CLERK)
    deputy.goto(f"{base}/reporting/cells/C1/record")
    arrive(deputy, "**/resolution?saved=held&sent=*")
    recorded = held_on(base, "2026-07-02")
    assert len(recorded) == 1 and recorded[0]["topic"] == "Chuyên đề của chi ủy viên, chờ gửi"
    deputy.close()

    # The committee member logs out with a draft still queued: the next account gets nothing.
    page = tab()
    log_in(page, base, CLERK)
    queued_offline(page, "01/07/2026", "Chuyên đề bị bỏ khi đăng xuất")
    page = tab()
    page.goto(f"{base}/reporting/")
    log_out(page)
    assert kept_in_browser(page)["drafts"] == []
    log_in(page, base, DEPUTY)
    nothing_restored(page)
    assert held_on(base, "2026-07-01") == []
    context.close()


def step_a_saved_confirmation_forgets_only_its_own_draft(base: str, browser, errors: list
                                                         ) -> None:
    context = browser.new_context(**WIDE)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, base, DEPUTY)
    # A schedule sent, and cut short on the way: never recorded, its draft still owed.
    open_form(page, base, "/reporting/cells/C1/schedule")
    page.fill(tid("field-planned_on"), "20/08/2026")
    page.fill(tid("field-topic"), "Lịch gửi bị đứt mạng")
    page.route("**/reporting/cells/C1/schedule", lambda route: route.abort()
               if route.request.method == "POST" else route.continue_())
    try:
        page.click(tid("submit-schedule"))
        page.wait_for_load_state()
    except PlaywrightError:
        pass
    page.unroute("**/reporting/cells/C1/schedule")
    page.goto(f"{base}/reporting/my")  # off the browser's error page, back on the site's
    schedule_drafts = [k for k in kept_in_browser(page)["drafts"] if k.endswith(":schedule-C1")]
    assert len(schedule_drafts) == 1, kept_in_browser(page)
    # Another form is recorded: its confirmation forgets its own draft only.
    open_form(page, base)
    page.fill(tid("field-held_on"), "04/07/2026")
    page.select_option(tid("field-kind"), "thematic")
    page.fill(tid("field-topic"), "Chuyên đề ghi đủ")
    page.click(tid("submit-meeting"))
    arrive(page, "**/resolution?saved=held&sent=*")
    drafts = kept_in_browser(page)["drafts"]
    assert schedule_drafts[0] in drafts, drafts
    assert not [k for k in drafts if k.endswith(":record-C1")], drafts
    open_form(page, base, "/reporting/cells/C1/schedule")
    assert page.input_value(tid("field-topic")) == "Lịch gửi bị đứt mạng"
    page.click(tid("draft-discard"))
    page.wait_for_selector("form.entry-form")
    context.close()


STEPS = {name.removeprefix("step_"): f for name, f in dict(globals()).items()
         if name.startswith("step_")}


def main() -> int:
    step, base = sys.argv[1], sys.argv[2]
    SHOTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with sync_playwright() as playwright, tempfile.TemporaryDirectory():
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-gpu"])
        STEPS[step](base, browser, errors)
        browser.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert PASSWORD, "the accounts' password comes from the test"
    print(f"{step}: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
