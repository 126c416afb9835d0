"""The data-entry forms over HTTP, with every service embedded: a secretary's session
records a meeting through the form; a wrong date is shown next to its field in
Vietnamese and nothing is written; the same form sent twice records once; another
cell's form is 403; a supervisor logs a visit; staff see who acknowledged an escalation."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import requests

from chibo.access import Grant, Identity, TokenSigner
from chibo.clock import FixedClock
from chibo.nameko.runtime import rpc_client
from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    TEST_TOKEN_SECONDS,
    bearer,
    embedded_config,
    reporting_caught_up,
    running,
    token,
    wait_until,
)
from tests.unit.test_reporting_web import visible_text

TIMEOUT = 30
CSRF = "csrf-bieu-mau-0123"
SECRETARY = Identity("tk-bithu-c1", "Bí thư Chi bộ Bản Máy", (Grant("secretary", "c1"),))
SUPERVISOR = Identity("tk-giamsat", "Đồng chí Giám Sát", (Grant("supervisor", "x"),))
#: Thirteen members who must attend, and one exempt (shown excused and locked).
MEMBERS = [f"c1-{n:02d}" for n in range(13)]
EXEMPT = "c1-miễn"
STAFF = Identity("tk-canbo-x", "Cán bộ xã Sơn Thủy", (Grant("staff", "x"),))
#: The module's clock and RPC proxy, for the last test, which moves the clock on.
SYSTEM: dict = {}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    folder = tmp_path_factory.mktemp("forms")
    clock = FixedClock(datetime(2026, 6, 17, 9, 30))
    config = embedded_config(folder, CLOCK=clock)
    with running(config), rpc_client(config, timeout=60, token=token(ADMIN)) as rpc:
        for unit in ({"unit_id": "p", "name": "Tỉnh ủy", "kind": "province"},
                     {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                      "parent_id": "p"},
                     {"unit_id": "c1", "name": "Chi bộ Bản Máy", "kind": "cell",
                      "parent_id": "x"},
                     {"unit_id": "c2", "name": "Chi bộ Bản Ngàm", "kind": "cell",
                      "parent_id": "x"}):
            rpc.members.establish_unit({**unit, "effective_date": "2020-01-01"})
        for n, member_id in enumerate([*MEMBERS, EXEMPT, "c2-0"]):
            cell = "c2" if member_id.startswith("c2") else "c1"
            rpc.members.admit_member({"member_id": member_id, "full_name": f"Nguyễn Văn {n:02d}",
                                      "cell_id": cell, "admitted_on": "2020-06-01"})
            rpc.members.confirm_member({"member_id": member_id, "effective_date": "2021-06-01"})
        rpc.members.exempt_member({"member_id": EXEMPT, "reason": "Tuổi cao, sức yếu",
                                   "from_date": "2025-01-01"})
        rpc.supervision.assign_follower({"follower": SUPERVISOR.name, "cell_ids": ["c1", "c2"],
                                         "from_date": "2026-01-01"})
        wait_until(lambda: reporting_caught_up(rpc), timeout=60,
                   message="reporting to read every source's log")
        SYSTEM.update(clock=clock, rpc=rpc)
        yield f"http://{config['WEB_SERVER_ADDRESS']}"


def browser(base: str, identity: Identity) -> requests.Session:
    """A browser's session: the signed identity in the session cookie, with its CSRF token."""
    session = requests.Session()
    session.cookies.set("chibo_session", TokenSigner(AUTH_SECRET).issue(
        identity, NOW, TEST_TOKEN_SECONDS, csrf=CSRF), domain="127.0.0.1", path="/")
    session.headers["Origin"] = base
    return session


def command_id_in(html: str) -> str:
    return re.search(r'name="command_id" value="([^"]+)"', html).group(1)


def meeting_form(held_on: str, command_id: str) -> dict[str, str]:
    form = {"csrf_token": CSRF, "command_id": command_id, "held_on": held_on,
            "kind": "regular", "started_at": "19:30", "ended_at": "21:30",
            "place": "Nhà văn hóa bản", "chair_id": MEMBERS[0], "minutes_taker_id": MEMBERS[1],
            "agenda": "Kiểm điểm tháng\nPhương hướng tháng tới", "dues_collected": "yes"}
    for member_id in MEMBERS:
        form[f"status.{member_id}"] = "present"
    form[f"status.{MEMBERS[2]}"] = "absent_excused"
    form[f"reason.{MEMBERS[2]}"] = "Ốm"
    form[f"status.{MEMBERS[3]}"] = "absent_unexcused"
    return form


def cell_meetings(base: str, cell_id: str = "c1") -> list[dict]:
    return requests.get(f"{base}/reporting/api/cells/{cell_id}", headers=bearer(),
                        timeout=TIMEOUT).json()["meetings"]


def test_the_form_is_prefilled_from_the_roll_with_the_exempt_locked(base):
    page = browser(base, SECRETARY).get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    for member_id in MEMBERS:
        assert f'data-testid="present-{member_id}"' in html
    assert f'data-testid="locked-{EXEMPT}"' in html
    assert f'name="status.{EXEMPT}"' not in html  # locked: nothing to choose
    text = visible_text(html)
    assert "Miễn sinh hoạt" in text and "Tuổi cao, sức yếu" in text
    assert 'name="csrf_token" value="' + CSRF in html and "command_id" in html
    assert "/reporting/static/forms.js" in html and 'data-testid="materials-slot"' in html
    assert "Chuẩn bị (0–15)" in text  # the province's score sheet drives the form


def test_a_wrong_date_is_shown_next_to_its_field_and_nothing_is_written(base):
    reader = browser(base, SECRETARY)
    html = reader.get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT).text
    before = len(cell_meetings(base))
    answer = reader.post(f"{base}/reporting/cells/c1/record",
                         data=meeting_form("31/02/2026", command_id_in(html)),
                         allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 422
    error = re.search(r'data-testid="error-held_on">([^<]+)<', answer.text).group(1)
    assert "Không có ngày 31/02/2026" in error and "ngày/tháng/năm" in error
    assert 'value="31/02/2026"' in answer.text  # what was typed is kept
    assert 'value="Nhà văn hóa bản"' in answer.text
    # The service's own refusal (a reason missing) is shown beside the member's row.
    form = meeting_form("10/06/2026", command_id_in(html))
    form[f"reason.{MEMBERS[2]}"] = ""
    answer = reader.post(f"{base}/reporting/cells/c1/record", data=form,
                         allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 422
    assert f'data-testid="error-reason.{MEMBERS[2]}">Vắng có lý do: hãy ghi lý do.' in answer.text
    # A refusal the meetings service makes (a day still to come) comes back over RPC as
    # text and is shown beside its field too, in Vietnamese.
    form = meeting_form("20/06/2026", command_id_in(html))
    answer = reader.post(f"{base}/reporting/cells/c1/record", data=form,
                         allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 422, answer.text[:500]
    assert ('data-testid="error-held_on">Không thể ghi buổi sinh hoạt vào ngày chưa đến.'
            in answer.text)
    assert len(cell_meetings(base)) == before


def test_a_form_sent_twice_records_once(base):
    reader = browser(base, SECRETARY)
    html = reader.get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT).text
    form = meeting_form("05/06/2026", command_id_in(html))
    first = reader.post(f"{base}/reporting/cells/c1/record", data=form, allow_redirects=False,
                        timeout=TIMEOUT)
    second = reader.post(f"{base}/reporting/cells/c1/record", data=form, allow_redirects=False,
                         timeout=TIMEOUT)
    assert first.status_code == second.status_code == 303, first.text[:500]
    assert first.headers["Location"] == second.headers["Location"]
    assert "/resolution?saved=held" in first.headers["Location"]
    # The page names the command it confirms: the browser forgets that draft only.
    assert first.headers["Location"].endswith("&sent=" + form["command_id"])
    held = [m for m in cell_meetings(base) if m["held_on"] == "2026-06-05"]
    assert len(held) == 1
    meeting = requests.get(f"{base}/reporting/api/meetings/{held[0]['meeting_id']}",
                           headers=bearer(), timeout=TIMEOUT).json()
    assert meeting["meeting"]["members_counted"] == 13
    assert meeting["meeting"]["members_present"] == 11
    assert {a["status"] for a in meeting["attendance"] if a["member_id"] == EXEMPT} == {"excused"}

    # The resolution form counts the eligible voters; its tasks go to members of the roll.
    page = reader.get(base + first.headers["Location"], timeout=TIMEOUT)
    assert "Đã ghi biên bản buổi sinh hoạt" in visible_text(page.text)
    assert "có quyền biểu quyết (đảng viên chính thức phải dự): 13" in visible_text(page.text)
    resolution = {"csrf_token": CSRF, "command_id": command_id_in(page.text),
                  "title": "Nghị quyết tháng 6", "in_favour": "12", "against": "0",
                  "abstaining": "1", "task_title.0": "Sửa đường vào bản",
                  "task_assignee.0": MEMBERS[4], "task_due.0": "30/06/2026",
                  "task_title.1": "Vận động đóng góp quỹ", "task_due.1": "15/07/2026"}
    for _ in range(2):
        done = reader.post(base + first.headers["Location"].split("?")[0], data=resolution,
                           allow_redirects=False, timeout=TIMEOUT)
        assert done.status_code == 303, done.text[:800]
    tasks = requests.get(f"{base}/reporting/cells/c1/tasks", headers=bearer(),
                         timeout=TIMEOUT).json()["tasks"]
    assert sorted(t["title"] for t in tasks) == ["Sửa đường vào bản", "Vận động đóng góp quỹ"]


def test_schedule_prepare_hold_correct_and_follow_up_a_task(base):
    reader = browser(base, SECRETARY)
    page = reader.get(f"{base}/reporting/cells/c1/schedule", timeout=TIMEOUT).text
    done = reader.post(f"{base}/reporting/cells/c1/schedule", data={
        "csrf_token": CSRF, "command_id": command_id_in(page), "planned_on": "15/06/2026",
        "kind": "thematic", "topic": "Học tập và làm theo tư tưởng Hồ Chí Minh",
        "place": "Hội trường thôn"}, allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:800]
    calendar = reader.get(base + done.headers["Location"], timeout=TIMEOUT).text
    assert "Đã lên lịch buổi sinh hoạt" in visible_text(calendar)
    month = re.search(r'data-testid="month-2026-06">(.*?)</li>', calendar, re.S).group(1)
    assert "Dự kiến" in visible_text(month) and "15/06/2026" in visible_text(month)
    preparation = re.search(r'href="(/reporting/cells/c1/meetings/[^"]+/preparation)"',
                            month).group(1)
    page = reader.get(base + preparation, timeout=TIMEOUT).text
    done = reader.post(base + preparation, data={
        "csrf_token": CSRF, "command_id": command_id_in(page),
        "preparation_held_on": "10/06/2026", "materials_sent_on": "12/06/2026",
        "higher_committee_notified": "yes"}, allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:800]
    calendar = reader.get(base + done.headers["Location"], timeout=TIMEOUT).text
    month = re.search(r'data-testid="month-2026-06">(.*?)</li>', calendar, re.S).group(1)
    assert "đã chuẩn bị" in visible_text(month)  # its event names the meeting, not the cell
    record = re.search(r'href="(/reporting/cells/c1/record\?meeting=[^"]+)"', calendar)
    page = reader.get(base + record.group(1).replace("&amp;", "&"), timeout=TIMEOUT).text
    assert 'value="15/06/2026"' in page and "Học tập và làm theo" in page  # from the plan
    form = meeting_form("15/06/2026", command_id_in(page))
    form.update(kind="thematic", topic="Học tập và làm theo tư tưởng Hồ Chí Minh",
                meeting_id=re.search(r'name="meeting_id" value="([^"]+)"', page).group(1))
    done = reader.post(f"{base}/reporting/cells/c1/record", data=form, allow_redirects=False,
                       timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:800]
    meeting_id = done.headers["Location"].split("/meetings/")[1].split("/")[0]
    assert meeting_id == form["meeting_id"]

    # A correction: a new record referencing the old, with its reason.
    page = reader.get(f"{base}/reporting/meetings/{meeting_id}/correction", timeout=TIMEOUT)
    assert 'value="Nhà văn hóa bản"' in page.text
    fields = {"csrf_token": CSRF, "command_id": command_id_in(page.text),
              "topic": form["topic"], "place": "Nhà văn hóa bản", "started_at": "19:30",
              "ended_at": "21:30", "agenda": form["agenda"], "reason": ""}
    refused = reader.post(f"{base}/reporting/meetings/{meeting_id}/correction", data=fields,
                          allow_redirects=False, timeout=TIMEOUT)
    assert refused.status_code == 422
    assert 'data-testid="error-reason">Mục này không được để trống.' in refused.text
    assert "Chưa có gì thay đổi so với biên bản đã ghi." in refused.text
    fields.update(place="Hội trường thôn", reason="Ghi nhầm địa điểm")
    done = reader.post(f"{base}/reporting/meetings/{meeting_id}/correction", data=fields,
                       allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303 and "saved=corrected" in done.headers["Location"]
    shown = requests.get(f"{base}/reporting/api/meetings/{meeting_id}", headers=bearer(),
                         timeout=TIMEOUT).json()["meeting"]
    assert shown["place"] == "Hội trường thôn"

    # A task: its progress, then its completion.
    page = reader.get(f"{base}/reporting/meetings/{meeting_id}/resolution", timeout=TIMEOUT)
    done = reader.post(f"{base}/reporting/meetings/{meeting_id}/resolution", data={
        "csrf_token": CSRF, "command_id": command_id_in(page.text), "title": "Nghị quyết",
        "in_favour": "11", "against": "0", "abstaining": "0", "task_title.0": "Viết thu hoạch",
        "task_due.0": "30/06/2026"}, allow_redirects=False, timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:800]
    task = next(t for t in requests.get(f"{base}/reporting/cells/c1/tasks", headers=bearer(),
                                        timeout=TIMEOUT).json()["tasks"]
                if t["title"] == "Viết thu hoạch")
    address = f"{base}/reporting/tasks/{task['task_id']}"
    for step in ({"note": "Đã có 8/11 bài"},
                 {"action": "complete", "result": "Đủ 11 bài", "completed_on": "16/06/2026"}):
        page = reader.get(address, timeout=TIMEOUT).text
        done = reader.post(address, data={"csrf_token": CSRF, "command_id": command_id_in(page),
                                          **step}, allow_redirects=False, timeout=TIMEOUT)
        assert done.status_code == 303, done.text[:800]
    task = next(t for t in requests.get(f"{base}/reporting/cells/c1/tasks", headers=bearer(),
                                        timeout=TIMEOUT).json()["tasks"]
                if t["title"] == "Viết thu hoạch")
    assert task["state"] == "completed"


def test_the_forms_speak_english_when_asked(base):
    page = browser(base, SECRETARY).get(f"{base}/reporting/cells/c1/record?lang=en",
                                        timeout=TIMEOUT).text
    text = visible_text(page)
    assert "Record a meeting" in text and "Absent, no reason" in text
    assert 'placeholder="DD/MM/YYYY"' in page


def test_a_secretary_opening_another_cells_form_gets_403(base):
    reader = browser(base, SECRETARY)
    for path in ("/reporting/cells/c2/record", "/reporting/cells/c2/schedule",
                 "/reporting/cells/c2/calendar", "/reporting/cells/c2/visit"):
        assert reader.get(base + path, timeout=TIMEOUT).status_code == 403, path
    html = reader.get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT).text
    refused = reader.post(f"{base}/reporting/cells/c2/record",
                          data=meeting_form("06/06/2026", command_id_in(html)),
                          allow_redirects=False, timeout=TIMEOUT)
    assert refused.status_code == 403
    assert cell_meetings(base, "c2") == []
    # Their own cell's page offers them the form; "my cells" lists it.
    assert 'data-testid="record-link"' in reader.get(f"{base}/reporting/cells/c1",
                                                     timeout=TIMEOUT).text
    mine = reader.get(f"{base}/reporting/my", timeout=TIMEOUT).text
    assert 'data-testid="my-cell-c1"' in mine and "my-cell-c2" not in mine


def test_a_supervisor_logs_a_visit_and_the_coverage_moves(base):
    secretary = browser(base, SECRETARY)
    html = secretary.get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT).text
    recorded = secretary.post(f"{base}/reporting/cells/c1/record",
                              data=meeting_form("12/06/2026", command_id_in(html)),
                              allow_redirects=False, timeout=TIMEOUT)
    assert recorded.status_code == 303
    reader = browser(base, SUPERVISOR)
    mine = reader.get(f"{base}/reporting/my", timeout=TIMEOUT).text
    before = re.search(r'data-testid="my-coverage">([^<]+)<', mine).group(1)
    assert "/2 chi bộ" in before
    page = reader.get(f"{base}/reporting/cells/c1/visit", timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:500]
    meeting_id = [m for m in cell_meetings(base) if m["held_on"] == "2026-06-12"][0][
        "meeting_id"]
    form = {"csrf_token": CSRF, "command_id": command_id_in(page.text), "meeting_id": meeting_id,
            "visited_on": "12/06/2026", "comments": "Sinh hoạt nghiêm túc.",
            "score_choice": "change", "score.preparation": "14", "score.attendance": "18",
            "score.conduct": "40", "score.closing": "18"}
    done = reader.post(f"{base}/reporting/cells/c1/visit", data=form, allow_redirects=False,
                       timeout=TIMEOUT)
    assert done.status_code == 303, done.text[:800]
    after = reader.get(base + done.headers["Location"], timeout=TIMEOUT).text
    moved = re.search(r'data-testid="my-coverage">([^<]+)<', after).group(1)
    assert moved != before and "Đã dự sinh hoạt 1/2 chi bộ" in moved


def test_a_namesake_sees_only_the_followed_cells_of_their_own_scope(base):
    # Assignments name the follower as text: another account bearing the same name,
    # supervising only c1, is not shown c2.
    namesake = Identity("tk-trung-ten", SUPERVISOR.name, (Grant("supervisor", "c1"),))
    mine = browser(base, namesake).get(f"{base}/reporting/my", timeout=TIMEOUT).text
    assert 'data-testid="followed-c1"' in mine
    assert 'data-testid="followed-c2"' not in mine and "Bản Ngàm" not in mine


def test_staff_see_who_acknowledged_and_when_after_the_redirect(base):
    # Last in this module: the clock moves on to July, so May and June are closed and
    # the cell that never met (c2) is escalated.
    SYSTEM["clock"].set(datetime(2026, 7, 8, 8, 0))
    assert SYSTEM["rpc"].supervision.close_periods(since="2026-04-01") > 0
    wait_until(lambda: reporting_caught_up(SYSTEM["rpc"]), timeout=60,
               message="reporting to read every source's log")
    listed = requests.get(f"{base}/reporting/api/escalations?state=raised&unit=x",
                          headers=bearer(), timeout=TIMEOUT).json()["escalations"]
    escalation = next(e for e in listed if e["cell_id"] == "c2")
    reader = browser(base, STAFF)
    back = "/reporting/escalations?unit=x"
    done = reader.post(f"{base}/reporting/escalations/{escalation['escalation_id']}/acknowledge",
                       data={"next": back, "csrf_token": CSRF}, allow_redirects=False,
                       timeout=TIMEOUT)
    assert done.status_code == 303
    assert done.headers["Location"].startswith(back + "&done=acknowledge&esc=")
    page = reader.get(base + done.headers["Location"], timeout=TIMEOUT)
    shown = re.search(r'data-testid="action-done">(.*?)</div>', page.text, re.S).group(1)
    assert "Cán bộ xã Sơn Thủy đã tiếp nhận cảnh báo lúc" in visible_text(shown)
    assert "08/07/2026" in visible_text(shown)
    # The secretary of another cell, given the escalation's id, learns nothing of it.
    notice = done.headers["Location"].replace("unit=x&", "")
    elsewhere = browser(base, SECRETARY).get(base + notice, timeout=TIMEOUT)
    assert elsewhere.status_code == 200
    assert 'data-testid="action-done"' not in elsewhere.text
    assert "Cán bộ xã Sơn Thủy" not in visible_text(elsewhere.text)


def test_a_form_page_names_its_account_by_a_keyed_hash(base):
    """Drafts and offline copies are kept per account: the page names the account (the
    body's data-account; the service worker reads X-Chibo-Account) by a hash keyed with
    the cluster's secret, never by its id, and another account gets another name."""
    page = browser(base, SECRETARY).get(f"{base}/reporting/cells/c1/record", timeout=TIMEOUT)
    assert page.status_code == 200
    account = page.headers["X-Chibo-Account"]
    assert re.fullmatch(r"[0-9a-f]{32}", account)
    assert f'<body data-account="{account}">' in page.text
    assert SECRETARY.account_id not in page.headers["X-Chibo-Account"]
    assert account == TokenSigner(AUTH_SECRET).pseudonym("reporting.browser-account",
                                                         SECRETARY.account_id)
    other = browser(base, SUPERVISOR).get(f"{base}/reporting/cells/c1/visit", timeout=TIMEOUT)
    assert other.status_code == 200
    assert other.headers["X-Chibo-Account"] not in (account, "")


def test_the_forms_pages_titles_are_plain_text(base):
    reader = browser(base, SECRETARY)
    for path in ("/reporting/my", "/reporting/cells/c1/calendar", "/reporting/cells/c1/record"):
        page = reader.get(base + path, timeout=TIMEOUT).text
        title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
        assert "<" not in title and "chibo" in title, (path, title)
