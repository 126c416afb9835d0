"""Supervision as a service: a close raises an escalation that reaches the committee's
webhook, signed, once; visits confirm or change scores; coverage and annual quality."""

from __future__ import annotations

import json
import threading
from datetime import datetime

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from chibo.clock import FixedClock
from services.supervision.notify.webhook import verify_signature
from tests.support import (
    ADMIN,
    as_caller,
    authenticated,
    embedded_config,
    free_port,
    running,
    two_cells_of_three,
)

SECRET = "bí-mật-của-xã"


@pytest.fixture(scope="module")
def receiver():
    got: list[dict] = []

    @Request.application
    def app(request: Request) -> Response:
        body = request.get_data()
        ok = verify_signature(SECRET, request.headers["X-Chibo-Timestamp"], body,
                              request.headers.get("X-Chibo-Signature"))
        got.append({"valid": ok, "body": json.loads(body)})
        return Response("ok", status=200 if ok else 401)

    port = free_port()
    server = make_server("127.0.0.1", port, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/hook", got
    server.shutdown()


@pytest.fixture(scope="module")
def system(tmp_path_factory, receiver):
    url, _ = receiver
    folder = tmp_path_factory.mktemp("supervision")
    channels = folder / "channels.yaml"
    channels.write_text(json.dumps({"default": [], "committees": {
        "x": [{"kind": "webhook", "url": url, "secret": SECRET}]}}), encoding="utf-8")
    clock = FixedClock(datetime(2025, 3, 10, 8, 0))
    config = embedded_config(folder, CLOCK=clock, NOTIFICATION_CHANNELS=str(channels),
                             SUPERVISION={"grace_days": 5, "start_date": "2025-03-01"})
    with running(config), ClusterRpcProxy(config, timeout=60,
                                          context_data=as_caller(ADMIN)) as rpc:
        two_cells_of_three(rpc, "Hà Văn Thành")
        rpc.meetings.record_meeting_held({
            "meeting_id": "c1-03", "cell_id": "c1", "held_on": "2025-03-05",
            "attendance": [{"member_id": f"c1-{m}", "status": "present"} for m in range(3)],
            "scores": {"preparation": 15, "attendance": 20, "conduct": 42, "closing": 18}})
        clock.set(datetime(2025, 4, 7, 8, 0))  # March closed on 5 April: c2 missed it
        rpc.supervision.close_periods()
        yield config, rpc, clock


def test_a_missed_month_raises_one_escalation_to_the_commune(system):
    _, rpc, _ = system
    escalations = rpc.supervision.escalations(state="open")
    assert [(e["rule"], e["subject_id"], e["level"], e["target_unit_id"]) for e in escalations] \
        == [("missed_regular_meeting", "c2", 1, "x")]


def test_the_escalation_reaches_the_committee_webhook_once_and_signed(system, receiver):
    _, rpc, _ = system
    _, got = receiver
    rpc.supervision.deliver_notifications()
    rpc.supervision.deliver_notifications()
    assert len(got) == 1 and got[0]["valid"]
    assert got[0]["body"]["escalation"]["subject_id"] == "c2"


def test_a_visit_confirms_or_changes_the_cells_score(system):
    config, rpc, _ = system
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    confirmed = authenticated(ADMIN).post(f"{base}/supervision/commands/log_visit", json={
        "cell_id": "c1", "meeting_id": "c1-03",
        "visited_on": "2025-03-05", "confirm_score": True}, timeout=10)
    assert confirmed.status_code == 201, confirmed.text
    changed = rpc.supervision.log_visit({
        "cell_id": "c1", "meeting_id": "c1-03",
        "visited_on": "2025-03-05",
        "changed_scores": {"preparation": 10, "attendance": 15, "conduct": 30, "closing": 10}})
    log = rpc.supervision.read_events(after=0, limit=1000)
    levels = [(e["data"]["self_level"], e["data"]["confirmed_level"]) for e in log
              if e["type"] == "visit_logged"]
    assert levels == [("good", "good"), ("good", "average")]
    # The visitor is whoever is signed in.
    assert {e["data"]["visitor"] for e in log if e["type"] == "visit_logged"} == {ADMIN.name}
    assert changed["visit_id"]
    refused = authenticated(ADMIN).post(f"{base}/supervision/commands/log_visit", json={
        "cell_id": "c2", "meeting_id": "c2-03",
        "visited_on": "2025-03-05"}, timeout=10)
    assert refused.status_code == 409 and "not held" in refused.json()["message"]


def test_coverage_and_annual_quality(system):
    _, rpc, _ = system
    coverage = rpc.supervision.coverage("2025-Q1")
    commune = next(c for c in coverage["by_committee"] if c["unit_id"] == "x")
    assert (commune["cells"], commune["visited"], commune["share"]) == (2, 1, 0.5)
    quality = rpc.supervision.annual_quality("c1", 2025)
    assert (quality["regular_meetings"], quality["good_year"]) == (1, False)


def test_acknowledging_over_http(system):
    config, rpc, _ = system
    (escalation,) = rpc.supervision.escalations(state="open")
    url = f"http://{config['WEB_SERVER_ADDRESS']}/supervision/commands/acknowledge_escalation"
    body = {"escalation_id": escalation["escalation_id"], "by": "Ban Tổ chức Huyện ủy"}
    assert requests.post(url, json=body, timeout=10).status_code == 401
    assert rpc.supervision.escalations(state="acknowledged") == []
    response = authenticated(ADMIN).post(url, json=body, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["by"] == ADMIN.name
    (after,) = rpc.supervision.escalations(state="acknowledged")
    assert after["acknowledged_by"] == ADMIN.name  # the login's name, not the body's
