"""Who may record and read meetings, on RabbitMQ and PostgreSQL: a cell's secretary
records its own cell's meetings and no other's; a district's staff reads the meetings of
the cells under the district as the tree stands today, and a restructure that moves a
cell to another district moves who may read it.

The tree: province P; districts X and Y; cells A and C under X, B under Y. The clock is
fixed at tests.support.NOW.
"""

from __future__ import annotations

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from chibo.access import Grant, Identity
from services.meetings.entrypoints import MeetingsService
from services.members.entrypoints import MembersService
from tests.support import (
    ADMIN,
    TODAY,
    as_caller,
    bearer,
    running,
    services_config,
    wait_until,
)

ESTABLISHED = "2022-01-01"
SECRETARY_A = Identity("bt-a", "Bí thư chi bộ A", (Grant("secretary", "A"),))
STAFF_X = Identity("cb-x", "Cán bộ Ban Tổ chức huyện X", (Grant("staff", "X"),))
STAFF_Y = Identity("cb-y", "Cán bộ Ban Tổ chức huyện Y", (Grant("staff", "Y"),))

UNITS = (
    {"unit_id": "P", "name": "Tỉnh ủy Nghệ An", "kind": "province"},
    {"unit_id": "X", "name": "Huyện ủy Con Cuông", "kind": "committee", "parent_id": "P"},
    {"unit_id": "Y", "name": "Huyện ủy Tương Dương", "kind": "committee", "parent_id": "P"},
    {"unit_id": "A", "name": "Chi bộ bản Khe Choăng", "kind": "cell", "parent_id": "X"},
    {"unit_id": "C", "name": "Chi bộ bản Nưa", "kind": "cell", "parent_id": "X"},
    {"unit_id": "B", "name": "Chi bộ bản Xốp Pu", "kind": "cell", "parent_id": "Y"},
)
NAMES = {"A": "Lô Văn Thịnh", "B": "Vi Thị Hoa", "C": "Lương Văn Hải"}


pytestmark = pytest.mark.services


@pytest.fixture
def system(pg_database_factory, amqp_uri):
    config = services_config(pg_database_factory, amqp_uri)
    with running(config, [MembersService, MeetingsService]):
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        for unit in UNITS:
            ok(base, "members", "establish_unit", {**unit, "effective_date": ESTABLISHED})
        for cell, name in NAMES.items():
            ok(base, "members", "admit_member", {
                "member_id": f"{cell}-1", "full_name": name, "cell_id": cell,
                "admitted_on": "2023-01-01"})
            ok(base, "members", "confirm_member", {"member_id": f"{cell}-1",
                                                   "effective_date": "2024-01-01"})
        wait_until(lambda: replica_caught_up(config), message="meetings' roster replica")
        yield config, base


# --------------------------------------------------------------------------- helpers


def post(base: str, service: str, name: str, body: dict, identity: Identity = ADMIN
         ) -> requests.Response:
    return requests.post(f"{base}/{service}/commands/{name}", json=body,
                         headers=bearer(identity), timeout=30)


def ok(base: str, service: str, name: str, body: dict, identity: Identity = ADMIN) -> dict:
    response = post(base, service, name, body, identity)
    assert response.status_code == 201, response.text
    return response.json()


def read(base: str, path: str, identity: Identity) -> requests.Response:
    return requests.get(f"{base}{path}", headers=bearer(identity), timeout=30)


def held(meeting_id: str, cell: str) -> dict:
    return {"meeting_id": meeting_id, "cell_id": cell, "held_on": TODAY.isoformat(),
            "attendance": [{"member_id": f"{cell}-1", "status": "present"}]}


def meetings_log(config: dict) -> list[dict]:
    with ClusterRpcProxy(config, context_data=as_caller(ADMIN)) as rpc:
        return rpc.meetings.read_events(after=0, limit=10_000)


def _position(url: str, sql: str) -> int | None:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def replica_caught_up(config: dict) -> bool:
    head = _position(config["DATABASES"]["members"], "SELECT position FROM event_head")
    seen = _position(config["DATABASES"]["meetings"],
                     "SELECT position FROM feed_watermarks WHERE source = 'members'")
    return head is not None and seen is not None and seen >= head


# --------------------------------------------------------------------------- recording


def test_a_secretary_records_their_own_cell_and_no_other(system):
    config, base = system
    before = meetings_log(config)

    refused = post(base, "meetings", "record_meeting_held", held("B-06", "B"), SECRETARY_A)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"] == "forbidden"
    scheduled = post(base, "meetings", "schedule_meeting",
                     {"meeting_id": "B-07", "cell_id": "B", "planned_on": "2026-07-10"},
                     SECRETARY_A)
    assert scheduled.status_code == 403, scheduled.text
    with ClusterRpcProxy(config, context_data=as_caller(SECRETARY_A)) as rpc, \
            pytest.raises(Exception, match="Forbidden|forbidden"):
        rpc.meetings.record_meeting_held(held("B-06", "B"))
    assert meetings_log(config) == before  # nothing written

    recorded = ok(base, "meetings", "record_meeting_held", held("A-06", "A"), SECRETARY_A)
    assert recorded["meeting_id"] == "A-06"
    [event] = [e for e in meetings_log(config) if e["position"] > len(before)]
    assert (event["type"], event["data"]["cell_id"]) == ("meeting_held", "A")
    assert event["metadata"]["actor"] == SECRETARY_A.account_id


def test_a_secretary_cannot_act_on_another_cells_meeting_or_task(system):
    config, base = system
    ok(base, "meetings", "record_meeting_held", held("B-05", "B"))
    ok(base, "meetings", "adopt_resolution", {
        "meeting_id": "B-05", "resolution_id": "B-nq", "title": "Nghị quyết tháng 6",
        "vote": {"in_favour": 1, "against": 0, "abstaining": 0},
        "tasks": [{"task_id": "B-t1", "title": "Thu đảng phí", "due_on": "2026-07-01"}]})
    before = meetings_log(config)

    for name, body in (
            ("correct_meeting", {"meeting_id": "B-05", "changes": {"minutes": "Sửa"},
                                 "reason": "Ghi sai"}),
            ("adopt_resolution", {"meeting_id": "B-05", "title": "Nghị quyết khác",
                                  "vote": {"in_favour": 1, "against": 0, "abstaining": 0}}),
            ("complete_task", {"task_id": "B-t1", "result": "Xong"}),
            ("correct_meeting", {"meeting_id": "no-such-meeting", "changes": {"minutes": "…"},
                                 "reason": "Thử"})):
        response = post(base, "meetings", name, body, SECRETARY_A)
        assert response.status_code == 403, (name, response.text)
    assert meetings_log(config) == before

    # The whole-tree administrator is told what is missing instead.
    missing = post(base, "meetings", "correct_meeting", {
        "meeting_id": "no-such-meeting", "changes": {"minutes": "…"}, "reason": "Thử"})
    assert missing.status_code in (404, 409), missing.text


# --------------------------------------------------------------------------- reading


def test_district_staff_read_the_meetings_of_their_district_only(system):
    config, base = system
    ok(base, "meetings", "record_meeting_held", held("A-04", "A"))
    ok(base, "meetings", "record_meeting_held", held("B-04", "B"))

    assert read(base, "/meetings/meetings/A-04", STAFF_X).status_code == 200
    refused = read(base, "/meetings/meetings/B-04", STAFF_X)
    assert refused.status_code == 403, refused.text
    assert read(base, "/meetings/meetings/B-04", STAFF_Y).json()["cell_id"] == "B"
    assert read(base, "/meetings/cells/B/open-tasks", STAFF_X).status_code == 403
    assert read(base, "/meetings/meetings/unknown", STAFF_X).status_code == 403
    assert read(base, "/meetings/meetings/unknown", ADMIN).status_code == 404
    assert read(base, "/meetings/meetings/A-04", SECRETARY_A).status_code == 200
    assert requests.get(f"{base}/meetings/meetings/A-04", timeout=30).status_code == 401
    with ClusterRpcProxy(config, context_data=as_caller(STAFF_Y)) as rpc:
        assert rpc.meetings.get_meeting("B-04")["cell_id"] == "B"
        with pytest.raises(Exception, match="Forbidden|forbidden"):
            rpc.meetings.get_meeting("A-04")
        with pytest.raises(Exception, match="Forbidden|forbidden"):
            rpc.meetings.flag_overdue_tasks()  # operations: OPERATE


def test_a_restructure_moves_who_may_read_a_cells_meetings(system):
    config, base = system
    ok(base, "meetings", "record_meeting_held", held("C-06", "C"))
    ok(base, "meetings", "record_meeting_held", held("A-06", "A"))
    assert read(base, "/meetings/meetings/C-06", STAFF_X).status_code == 200
    assert read(base, "/meetings/meetings/C-06", STAFF_Y).status_code == 403

    # A move that takes effect after today changes nothing yet.
    ok(base, "members", "move_unit", {"unit_id": "A", "parent_id": "Y",
                                      "effective_date": "2026-07-01"})
    ok(base, "members", "move_unit", {"unit_id": "C", "parent_id": "Y",
                                      "effective_date": TODAY.isoformat()})
    wait_until(lambda: replica_caught_up(config), message="the move in meetings' replica")

    refused = read(base, "/meetings/meetings/C-06", STAFF_X)
    assert refused.status_code == 403, refused.text
    assert read(base, "/meetings/meetings/C-06", STAFF_Y).json()["cell_id"] == "C"
    assert read(base, "/meetings/meetings/A-06", STAFF_X).status_code == 200
    assert read(base, "/meetings/meetings/A-06", STAFF_Y).status_code == 403
