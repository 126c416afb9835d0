"""The meetings HTTP API end to end in one process: a meeting scheduled, prepared,
held and corrected; a resolution with tasks carried through to completion or past
their due day; an extra regular meeting flagged; two clients recording the same
meeting at once.

The system runs on a fixed clock (15/10/2025), so "today", "overdue" and "this month"
do not depend on the day the tests run. Each test works in its own cell.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date
from typing import Any

import eventlet
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.nameko import memory
from services.meetings.handlers import registry
from tests.support import ADMIN, as_caller, bearer, embedded_config, running, wait_until

NOW = "2025-10-15T09:00:00+00:00"
TODAY = date(2025, 10, 15)
ESTABLISHED = date(2022, 1, 1)
ADMITTED = date(2023, 6, 1)
FULL = date(2024, 6, 1)  # 12 months after admission
NAMES = ("Hà Văn Thành", "Lò Thị Xuân", "Vi Văn Sơn", "Lương Văn Quyết")
SCORES = {"preparation": 15, "attendance": 20, "conduct": 42, "closing": 18}  # 95: Tốt
COMMANDS = [handler.name for handler in registry]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    memory.register()
    config = embedded_config(tmp_path_factory.mktemp("meetings-api"), CLOCK=NOW)
    with running(config):
        for body in ({"unit_id": "t", "name": "Tỉnh ủy Thanh Hóa", "kind": "province"},
                     {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                      "parent_id": "t"}):
            ok(config, "members", "establish_unit",
               {**body, "effective_date": ESTABLISHED.isoformat()})
        yield config


# --------------------------------------------------------------------------- helpers


def post(system, service: str, name: str, body: dict) -> requests.Response:
    return requests.post(f"http://{system['WEB_SERVER_ADDRESS']}/{service}/commands/{name}",
                         json=body, headers=bearer(ADMIN), timeout=30)


def ok(system, service: str, name: str, body: dict) -> dict:
    response = post(system, service, name, body)
    assert response.status_code == 201, response.text
    return response.json()


def refused(system, name: str, body: dict, status: int, error: str) -> dict:
    response = post(system, "meetings", name, body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == error, response.text
    return response.json()


def get(system, path: str) -> Any:
    response = requests.get(f"http://{system['WEB_SERVER_ADDRESS']}{path}",
                            headers=bearer(ADMIN), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def meetings_log(system) -> list[dict]:
    out: list[dict] = []
    with ClusterRpcProxy(system, context_data=as_caller(ADMIN)) as proxy:
        while batch := proxy.meetings.read_events(after=out[-1]["position"] if out else 0,
                                                  limit=5000):
            out.extend(batch)
    return out


def _read(url: str, sql: str) -> Any:
    path = url.removeprefix("sqlite:///")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def replica_caught_up(system) -> bool:
    """Meetings' roster replica has applied everything in the members' log."""
    head = _read(system["DATABASES"]["members"], "SELECT position FROM event_head")
    seen = _read(system["DATABASES"]["meetings"],
                 "SELECT position FROM feed_watermarks WHERE source = 'members'")
    return seen is not None and seen >= head


def cell_with_members(system, cell_id: str) -> list[str]:
    """A cell with four members admitted in 2023; the first three are full members."""
    ok(system, "members", "establish_unit", {
        "unit_id": cell_id, "name": f"Chi bộ thôn {cell_id}", "kind": "cell", "parent_id": "x",
        "effective_date": ESTABLISHED.isoformat()})
    ids = [f"{cell_id}-dv{n}" for n in range(1, 5)]
    for member_id, name in zip(ids, NAMES, strict=True):
        ok(system, "members", "admit_member", {"member_id": member_id, "full_name": name,
                                               "cell_id": cell_id,
                                               "admitted_on": ADMITTED.isoformat()})
    for member_id in ids[:3]:
        ok(system, "members", "confirm_member", {"member_id": member_id,
                                                 "effective_date": FULL.isoformat()})
    wait_until(lambda: replica_caught_up(system), message="meetings' roster replica")
    return ids


def everyone_present(ids: list[str]) -> list[dict]:
    return [{"member_id": m, "status": "present"} for m in ids]


def held_body(meeting_id: str, cell_id: str, ids: list[str], **extra: Any) -> dict:
    return {"meeting_id": meeting_id, "cell_id": cell_id, "kind": "regular",
            "held_on": TODAY.isoformat(), "place": "Nhà văn hóa thôn",
            "started_at": "19:00", "ended_at": "21:00", "chair_id": ids[0],
            "minutes_taker_id": ids[1], "dues_collected": True,
            "agenda": ["Kiểm điểm nghị quyết tháng trước", "Nhiệm vụ tháng tới"],
            "speakers": [ids[0], ids[2]], "minutes": "Đồng chí Thành khai mạc …",
            "conclusion": "Thống nhất nhiệm vụ tháng 11.",
            "attendance": everyone_present(ids), "scores": SCORES, **extra}


# --------------------------------------------------------------------------- the lifecycle


def test_a_meeting_from_schedule_to_tasks_done(system):
    ids = cell_with_members(system, "cb1")
    ok(system, "meetings", "schedule_meeting", {
        "meeting_id": "cb1-m", "cell_id": "cb1", "kind": "regular",
        "planned_on": TODAY.isoformat(), "place": "Nhà văn hóa thôn"})
    ok(system, "meetings", "record_preparation", {
        "meeting_id": "cb1-m", "preparation_held_on": "2025-10-12",
        "materials_sent_on": "2025-10-13", "higher_committee_notified": True})
    attendance = [{"member_id": ids[0], "status": "present"},
                  {"member_id": ids[1], "status": "present"},
                  {"member_id": ids[2], "status": "absent_excused", "reason": "Ốm"},
                  {"member_id": ids[3], "status": "present"}]
    held = ok(system, "meetings", "record_meeting_held",
              held_body("cb1-m", "cb1", ids, attendance=attendance))
    assert held["meeting_id"] == "cb1-m"
    [held_event_id] = held["events"]

    meeting = get(system, "/meetings/meetings/cb1-m")
    assert (meeting["status"], meeting["planned_on"], meeting["held_on"]) == (
        "held", "2025-10-15", "2025-10-15")
    assert meeting["preparation"]["materials_sent_on"] == "2025-10-13"
    assert meeting["preparation"]["higher_committee_notified"] is True
    assert (meeting["started_at"], meeting["ended_at"], meeting["duration_minutes"]) == (
        "19:00", "21:00", 120)
    assert (meeting["chair_id"], meeting["minutes_taker_id"], meeting["speakers"]) == (
        ids[0], ids[1], [ids[0], ids[2]])
    assert meeting["dues_collected"] is True
    assert meeting["conclusion"] == "Thống nhất nhiệm vụ tháng 11."
    assert (meeting["members_counted"], meeting["members_present"]) == (4, 3)
    assert {a["member_id"]: (a["full_name"], a["status"], a["reason"])
            for a in meeting["attendance"]}[ids[2]] == ("Vi Văn Sơn", "absent_excused", "Ốm")
    assert meeting["self_score"] == {"sheet_version": 1, "points": SCORES, "total": 95,
                                     "level": "good"}
    assert meeting["flags"] == [] and meeting["tasks_reviewed"] == []
    assert meeting["held_event_id"] == held_event_id

    adopted = ok(system, "meetings", "adopt_resolution", {
        "meeting_id": "cb1-m", "resolution_id": "cb1-nq", "title": "Nghị quyết tháng 10",
        "vote": {"in_favour": 2, "against": 0, "abstaining": 1},
        "tasks": [{"task_id": "cb1-t1", "title": "Vận động đóng đảng phí đúng hạn",
                   "assignee_id": ids[1], "due_on": "2025-10-31"},
                  {"task_id": "cb1-t2", "title": "Sửa đường liên thôn",
                   "assignee_id": None, "due_on": "2025-11-30"}]})
    assert adopted["resolution_id"] == "cb1-nq"
    [resolution] = get(system, "/meetings/meetings/cb1-m")["resolutions"]
    # three full members were due to attend: two of three is more than half
    assert resolution["vote"] == {"in_favour": 2, "against": 0, "abstaining": 1,
                                  "eligible": 3}
    assert resolution["task_ids"] == ["cb1-t1", "cb1-t2"]
    assert get(system, "/meetings/tasks/cb1-t1")["assignee_name"] == "Lò Thị Xuân"
    committee_task = get(system, "/meetings/tasks/cb1-t2")
    assert (committee_task["assignee_id"], committee_task["assignee_name"]) == (None, "Chi ủy")

    ok(system, "meetings", "note_task_progress", {"task_id": "cb1-t1", "note": "Đã thu 80%"})
    task = get(system, "/meetings/tasks/cb1-t1")
    assert task["state"] == "assigned"
    assert task["progress"] == [{"note": "Đã thu 80%", "noted_on": "2025-10-15"}]
    ok(system, "meetings", "complete_task", {"task_id": "cb1-t1",
                                             "result": "100% đảng viên đã đóng"})
    task = get(system, "/meetings/tasks/cb1-t1")
    assert (task["state"], task["result"], task["completed_on"]) == (
        "completed", "100% đảng viên đã đóng", "2025-10-15")
    refused(system, "note_task_progress", {"task_id": "cb1-t1", "note": "Thêm"},
            409, "rule_violated")
    assert [t["task_id"] for t in get(system, "/meetings/cells/cb1/open-tasks")] == ["cb1-t2"]

    with ClusterRpcProxy(system, context_data=as_caller(ADMIN)) as proxy:
        proxy.meetings.flag_overdue_tasks()
    assert get(system, "/meetings/tasks/cb1-t2")["state"] == "assigned"  # due 30/11/2025

    ok(system, "meetings", "correct_meeting", {
        "meeting_id": "cb1-m", "changes": {"minutes": "Đồng chí Thành khai mạc lúc 19 giờ …"},
        "reason": "Đọc lại biên bản: thiếu giờ khai mạc"})
    meeting = get(system, "/meetings/meetings/cb1-m")
    assert meeting["minutes"] == "Đồng chí Thành khai mạc lúc 19 giờ …"
    [correction] = meeting["corrections"]
    assert correction["reason"] == "Đọc lại biên bản: thiếu giờ khai mạc"
    assert correction["changes"] == {"minutes": "Đồng chí Thành khai mạc lúc 19 giờ …"}
    # in the log: the minutes as held, untouched, and a correction referencing them
    log = [e for e in meetings_log(system) if e["stream_id"] == "meeting-cb1-m"]
    assert [e["type"] for e in log] == ["meeting_scheduled", "meeting_prepared",
                                        "meeting_held", "resolution_adopted",
                                        "meeting_corrected"]
    assert log[2]["event_id"] == held_event_id
    assert log[2]["data"]["minutes"] == "Đồng chí Thành khai mạc …"
    assert log[4]["data"]["corrects_event_id"] == held_event_id
    assert log[4]["event_id"] == correction["event_id"]


def test_a_task_past_its_due_day_is_marked_overdue_once(system):
    ids = cell_with_members(system, "cb2")
    ok(system, "meetings", "record_meeting_held", held_body(
        "cb2-m", "cb2", ids, kind="thematic", topic="Học tập và làm theo tư tưởng, đạo đức, "
        "phong cách Hồ Chí Minh", held_on="2025-10-01"))
    ok(system, "meetings", "adopt_resolution", {
        "meeting_id": "cb2-m", "resolution_id": "cb2-nq", "title": "Nghị quyết chuyên đề",
        "vote": {"in_favour": 3, "against": 0, "abstaining": 0},
        "tasks": [{"task_id": f"cb2-{name}", "title": f"Việc {name}", "assignee_id": ids[0],
                   "due_on": due}
                  for name, due in (("late", "2025-10-01"), ("today", "2025-10-15"),
                                    ("later", "2025-10-20"))]})
    with ClusterRpcProxy(system, context_data=as_caller(ADMIN)) as proxy:
        first = proxy.meetings.flag_overdue_tasks()
        second = proxy.meetings.flag_overdue_tasks()
    assert first >= 1 and second == 0
    states = {t: get(system, f"/meetings/tasks/cb2-{t}")["state"]
              for t in ("late", "today", "later")}
    assert states == {"late": "overdue", "today": "assigned", "later": "assigned"}
    overdue = [e for e in meetings_log(system)
               if e["type"] == "task_overdue" and e["data"]["task_id"] == "cb2-late"]
    assert len(overdue) == 1 and overdue[0]["data"]["noticed_on"] == "2025-10-15"
    # an overdue task is still open: it comes up for review and can still be done
    assert [t["task_id"] for t in get(system, "/meetings/cells/cb2/open-tasks")] == [
        "cb2-late", "cb2-today", "cb2-later"]
    ok(system, "meetings", "complete_task", {"task_id": "cb2-late", "result": "Đã xong, muộn"})
    assert get(system, "/meetings/tasks/cb2-late")["state"] == "completed"


def test_a_second_regular_meeting_that_month_is_flagged(system):
    ids = cell_with_members(system, "cb3")
    first = held_body("cb3-oct", "cb3", ids, held_on="2025-10-03")
    ok(system, "meetings", "record_meeting_held", first)
    assert get(system, "/meetings/meetings/cb3-oct")["flags"] == []
    ok(system, "meetings", "adopt_resolution", {
        "meeting_id": "cb3-oct", "resolution_id": "cb3-nq", "title": "Nghị quyết tháng 10",
        "vote": {"in_favour": 3, "against": 0, "abstaining": 0},
        "tasks": [{"task_id": "cb3-t1", "title": "Thu đảng phí", "assignee_id": ids[3],
                   "due_on": "2025-11-01"}]})

    # a thematic meeting the same month is not an extra regular one
    ok(system, "meetings", "record_meeting_held", held_body(
        "cb3-thematic", "cb3", ids, kind="thematic", topic="Chuyển đổi số", held_on="2025-10-08"))
    thematic = get(system, "/meetings/meetings/cb3-thematic")
    assert thematic["flags"] == []
    assert thematic["tasks_reviewed"] == ["cb3-t1"]  # open tasks come up for review

    ok(system, "meetings", "record_meeting_held", held_body("cb3-extra", "cb3", ids,
                                                            held_on="2025-10-10"))
    extra = get(system, "/meetings/meetings/cb3-extra")
    assert (extra["status"], extra["kind"]) == ("held", "regular")  # recorded, not refused
    assert extra["flags"] == ["extra_regular_meeting"]
    assert extra["tasks_reviewed"] == ["cb3-t1"]

    # September is another month; 75 minutes is short: recorded and flagged
    ok(system, "meetings", "record_meeting_held", held_body(
        "cb3-sep", "cb3", ids, held_on="2025-09-25", started_at="19:00", ended_at="20:15"))
    september = get(system, "/meetings/meetings/cb3-sep")
    assert (september["duration_minutes"], september["flags"]) == (75, ["short_meeting"])


def test_refusals_say_what_is_wrong(system):
    ids = cell_with_members(system, "cb4")
    outsider = "cb1-dv1"  # a member of another cell
    body = held_body("cb4-m", "cb4", ids)
    future = refused(system, "record_meeting_held", {**body, "held_on": "2025-10-16"},
                     422, "validation_failed")
    assert set(future["fields"]) == {"held_on"}
    stranger = refused(system, "record_meeting_held", {
        **body, "attendance": [*body["attendance"],
                               {"member_id": outsider, "status": "present"}]},
        422, "validation_failed")
    assert set(stranger["fields"]) == {"attendance.4.member_id"}
    missing = refused(system, "record_meeting_held", {**body, "attendance": body["attendance"][1:]},
                      422, "validation_failed")
    assert ids[0] in missing["fields"]["attendance"][0]
    refused(system, "adopt_resolution", {
        "meeting_id": "cb4-m", "title": "Nghị quyết",
        "vote": {"in_favour": 3, "against": 0, "abstaining": 0}}, 409, "rule_violated")

    ok(system, "meetings", "record_meeting_held", body)
    refused(system, "record_meeting_held", body, 409, "rule_violated")
    refused(system, "adopt_resolution", {
        "meeting_id": "cb4-m", "title": "Nghị quyết",
        "vote": {"in_favour": 1, "against": 1, "abstaining": 1}}, 409, "rule_violated")
    assert get(system, "/meetings/meetings/cb4-m")["resolutions"] == []


def test_openapi_lists_every_command(system):
    spec = get(system, "/meetings/openapi.json")
    assert spec["openapi"].startswith("3.")
    assert set(COMMANDS) >= {"schedule_meeting", "record_preparation", "postpone_meeting",
                             "cancel_meeting", "record_meeting_held", "correct_meeting",
                             "adopt_resolution", "note_task_progress", "complete_task",
                             "cancel_task"}
    for name in COMMANDS:
        assert f"/meetings/commands/{name}" in spec["paths"], name
    for path in ("/meetings/meetings/{meeting_id}", "/meetings/tasks/{task_id}",
                 "/meetings/cells/{cell_id}/open-tasks"):
        assert path in spec["paths"], path
    held = spec["components"]["schemas"]["RecordMeetingHeld"]
    assert {"cell_id", "held_on", "attendance"} <= set(held["required"])


# --------------------------------------------------------------------------- concurrency


def test_two_clients_recording_the_same_meeting_at_once(system):
    ids = cell_with_members(system, "cb5")
    ok(system, "meetings", "schedule_meeting", {
        "meeting_id": "cb5-m", "cell_id": "cb5", "planned_on": TODAY.isoformat()})
    bodies = [held_body("cb5-m", "cb5", ids, minutes=f"Biên bản do thư ký {n} ghi")
              for n in (1, 2)]
    go = eventlet.event.Event()

    def client(body: dict) -> requests.Response:
        go.wait()
        return post(system, "meetings", "record_meeting_held", body)

    clients = [eventlet.spawn(client, body) for body in bodies]
    eventlet.sleep(0)  # both clients are waiting at the gate
    go.send(True)
    responses = [c.wait() for c in clients]

    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    [winner] = [body for body, r in zip(bodies, responses, strict=True) if r.status_code == 201]
    [loser] = [r for r in responses if r.status_code == 409]
    assert loser.json()["error"] in ("concurrency_conflict", "rule_violated"), loser.text
    assert loser.json()["message"]

    held = [e for e in meetings_log(system)
            if e["type"] == "meeting_held" and e["data"]["meeting_id"] == "cb5-m"]
    assert len(held) == 1
    assert held[0]["data"]["minutes"] == winner["minutes"]
    meeting = get(system, "/meetings/meetings/cb5-m")
    assert (meeting["status"], meeting["minutes"]) == ("held", winner["minutes"])
