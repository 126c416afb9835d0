"""Commands to members, meetings and supervision over HTTP, seen in reporting's
read model: once with every service in one process (embedded), once with each
service its own `nameko run` process on RabbitMQ and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.support import TODAY, distributed, embedded_config, running, wait_until

HELD_ON = TODAY - timedelta(days=3)
MONTH = HELD_ON.strftime("%Y-%m")


def post(url: str, body: dict, actor: str = "cán bộ tổ chức") -> requests.Response:
    return requests.post(url, json=body, headers={"X-Actor": quote(actor)}, timeout=10)


def metric(url: str, name: str, **labels: str) -> float | None:
    """One sample of a service's /metrics, by name and labels."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v
                                           for k, v in labels.items()):
                return sample.value
    return None


def exercise(urls: dict[str, str], own_processes: bool) -> None:
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
    if own_processes:
        # Meetings decides who is excused from its replica of the roster: let it apply
        # every members event so far, the working-away included, before the meeting is
        # recorded. (Each process's counters start with its empty log; in one process
        # with the test session they are shared with earlier tests.)
        logged = metric(members, "chibo_events_appended_total", source="members")
        wait_until(lambda: (metric(meetings, "chibo_feed_watermark", consumer="meetings",
                                   source="members") or 0) >= logged,
                   message="meetings' roster replica to apply the working-away")

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
    recorded = requests.get(f"{meetings}/meetings/meetings/c-1", timeout=10).json()
    assert {a["member_id"]: (a["status"], a["counted"]) for a in recorded["attendance"]} == {
        "m1": ("present", True), "m2": ("present", True), "m3": ("absent_excused", True),
        "m4": ("excused", False)}

    response = post(f"{supervision}/supervision/visits", {
        "visitor": "Đồng chí Lê Văn Hùng", "cell_id": "c", "meeting_id": "c-1",
        "visited_on": HELD_ON.isoformat(), "comments": "Chuẩn bị chu đáo."})
    assert response.status_code == 201, response.text

    def cell_month() -> dict | None:
        cells = requests.get(f"{reporting}/reporting/cell-months", params={"month": MONTH},
                             timeout=10).json()["cells"]
        row = next((c for c in cells if c["cell_id"] == "c"), None)
        return row if row and row["regular_held"] and row["visits"] == 1 else None

    row = wait_until(cell_month, message="reporting to show the meeting and the visit")
    assert row == {"cell_id": "c", "cell_name": "Chi bộ Bản Máy", "month": MONTH,
                   "regular_held": True, "meetings": 1, "attendance_rate": round(2 / 3, 4),
                   "visits": 1, "thematic_meetings": 0, "quality_level": None,
                   "held_late": False}


def test_embedded_mode(tmp_path):
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config):
        exercise({name: base for name in ("members", "meetings", "supervision", "reporting")},
                 own_processes=False)


@pytest.mark.services
def test_distributed_mode(tmp_path, pg_database_factory, amqp_uri):
    with distributed(pg_database_factory, amqp_uri, tmp_path) as urls:
        exercise(urls, own_processes=True)
