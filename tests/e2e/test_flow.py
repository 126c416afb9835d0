"""Commands to members, meetings and supervision over HTTP, seen in reporting's
read model and its audit log (every event recorded as the signed-in account, whatever
an X-Actor header claims): once with every service in one process (embedded), once
with each service its own `nameko run` process on RabbitMQ and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import ADMIN, TODAY, bearer, distributed, embedded_config, running, wait_until

HELD_ON = TODAY - timedelta(days=3)
MONTH = HELD_ON.strftime("%Y-%m")
#: Who every command claims to be sent by, in a header the services ignore.
FORGED_ACTOR = "cán bộ tổ chức"


def post(url: str, body: dict) -> requests.Response:
    """A command as the signed-in administrator, with a forged X-Actor beside the token."""
    return requests.post(url, json=body, timeout=10,
                         headers={**bearer(ADMIN), "X-Actor": quote(FORGED_ACTOR)})


def get(url: str, **params: str) -> requests.Response:
    return requests.get(url, params=params, headers=bearer(ADMIN), timeout=10)


def metric(url: str, name: str, **labels: str) -> float | None:
    """One sample of a service's /metrics, by name and labels."""
    text = get(f"{url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return sample.value
    return None


def exercise(urls: dict[str, str]) -> None:
    members, meetings = urls["members"], urls["meetings"]
    supervision, reporting = urls["supervision"], urls["reporting"]
    start = (HELD_ON - timedelta(days=400)).isoformat()

    for body in (
        {"unit_id": "p", "name": "Tỉnh ủy Thanh Hóa", "kind": "province", "effective_date": start},
        {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee", "parent_id": "p",
         "effective_date": start},
        {"unit_id": "c", "name": "Chi bộ Bản Máy", "kind": "cell", "parent_id": "x",
         "effective_date": start},
    ):
        assert post(f"{members}/members/commands/establish_unit", body).status_code == 201
    for member_id, name in (("m1", "Hà Văn Thành"), ("m2", "Lò Thị Xuân"),
                            ("m3", "Lương Văn Quyết"), ("m4", "Vi Văn Sơn")):
        response = post(f"{members}/members/commands/admit_member", {
            "member_id": member_id, "full_name": name, "cell_id": "c", "admitted_on": start})
        assert response.status_code == 201, response.text
    # Working away on the meeting day: shown in the minutes, not counted.
    response = post(f"{members}/members/commands/mark_working_away", {
        "member_id": "m4", "reason": "Đi làm ăn xa tại Bình Dương",
        "from_date": (HELD_ON - timedelta(days=30)).isoformat()})
    assert response.status_code == 201, response.text
    # No wait for meetings' replica of the roster: recording a meeting reads members'
    # log first, so the working-away just recorded decides who is excused.

    meeting = {"meeting_id": "c-1", "cell_id": "c", "kind": "regular",
               "held_on": HELD_ON.isoformat(), "attendance": [
                   {"member_id": "m1", "status": "present"},
                   {"member_id": "m2", "status": "present"},
                   {"member_id": "m3", "status": "absent_excused", "reason": "Đi làm ăn xa"}]}

    def record() -> requests.Response | None:
        # Meetings learns of the cell from members' events; until then it says 404.
        response = post(f"{meetings}/meetings/commands/record_meeting_held", meeting)
        return response if response.status_code != 404 else None

    response = wait_until(record, message="meetings' roster replica to know cell c")
    assert response.status_code == 201, response.text
    recorded = get(f"{meetings}/meetings/meetings/c-1").json()
    assert {a["member_id"]: (a["status"], a["counted"]) for a in recorded["attendance"]} == {
        "m1": ("present", True), "m2": ("present", True), "m3": ("absent_excused", True),
        "m4": ("excused", False)}

    response = post(f"{supervision}/supervision/visits", {
        "visitor": "Đồng chí Lê Văn Hùng", "cell_id": "c", "meeting_id": "c-1",
        "visited_on": HELD_ON.isoformat(), "comments": "Chuẩn bị chu đáo."})
    assert response.status_code == 201, response.text

    def cell_month() -> dict | None:
        cells = get(f"{reporting}/reporting/cell-months", month=MONTH).json()["cells"]
        row = next((c for c in cells if c["cell_id"] == "c"), None)
        return row if row and row["regular_held"] and row["visits"] == 1 else None

    row = wait_until(cell_month, message="reporting to show the meeting and the visit")
    assert row == {"cell_id": "c", "cell_name": "Chi bộ Bản Máy", "month": MONTH,
                   "regular_held": True, "meetings": 1, "attendance_rate": round(2 / 3, 4),
                   "visits": 1, "thematic_meetings": 0, "quality_level": None,
                   "held_late": False}
    assert_recorded_as_the_signed_in_account(reporting)


def assert_recorded_as_the_signed_in_account(reporting: str) -> None:
    """Each service's events name the account that signed the token as their actor, with
    its name beside it; the X-Actor header is ignored, and so is the visitor the body
    named: the visit is the signed-in account's."""
    sent = [("members", "unit_established", 3), ("members", "member_admitted", 4),
            ("members", "member_working_away", 1), ("meetings", "meeting_held", 1),
            ("supervision", "visit_logged", 1)]
    for source, event_type, count in sent:
        found = get(f"{reporting}/reporting/api/audit/events", source=source, type=event_type)
        assert found.status_code == 200, found.text
        results = found.json()["results"]
        assert len(results) == count, (event_type, results)
        for summary in results:
            assert summary["actor"] == ADMIN.account_id, (event_type, summary)
            event = get(f"{reporting}/reporting/api/audit/events/{summary['event_id']}").json()
            assert event["metadata"]["actor"] == ADMIN.account_id
            assert event["metadata"]["actor_name"] == ADMIN.name
            assert FORGED_ACTOR not in str(event["metadata"])
            if event_type == "visit_logged":
                assert event["data"]["visitor"] == ADMIN.name


def test_embedded_mode(tmp_path):
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config):
        exercise({name: base for name in ("members", "meetings", "supervision", "reporting")})


@pytest.mark.services
def test_distributed_mode(tmp_path, pg_database_factory, amqp_uri):
    with distributed(pg_database_factory, amqp_uri, tmp_path) as urls:
        exercise(urls)
