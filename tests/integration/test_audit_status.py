"""The audit status with the real services: every source 'ok'; a row edited in a source's
log, or a log rewritten with its hash chain recomputed, makes that source 'tampered'.

Runs embedded (in-process bus) on SQLite and, when it is there, on PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import select, text, update

from chibo.access import Grant, Identity
from chibo.eventstore.hashing import row_hash
from chibo.eventstore.tables import GENESIS_HASH, event_head, events
from chibo.nameko.providers import Database
from chibo.nameko.runtime import rpc_caller
from services.app import SERVICES
from services.reporting import read_model
from services.reporting.audit_entrypoints import AuditEntrypoints
from services.reporting.entrypoints import ReportingService
from services.reporting.source_checks import audit_metadata
from services.shared.events import SOURCES
from tests.support import (
    SERVICE_NAMES,
    TODAY,
    as_caller,
    authenticated,
    embedded_config,
    running,
    wait_until,
)

if issubclass(ReportingService, AuditEntrypoints):
    AuditedReporting = ReportingService
else:  # until the mixin is wired into the service itself
    class AuditedReporting(ReportingService, AuditEntrypoints):
        db = Database(read_model.metadata, audit_metadata)

TESTED_SERVICES = [AuditedReporting if s is ReportingService else s for s in SERVICES]
#: Who records the sample's events: the actor the archive keeps is the account id of the
#: verified caller, its name beside it.
RECORDER = Identity("ubkt.hoa", "Cán bộ Ủy ban Kiểm tra", (Grant("admin"),))
ACTOR = RECORDER.account_id
#: Who reads the audit log over HTTP: an inspector of the whole province.
INSPECTOR = Identity("ubkt.lan", "Thanh tra viên Ủy ban Kiểm tra", (Grant("inspector"),))
HELD_ON = TODAY - timedelta(days=3)
START = HELD_ON - timedelta(days=400)


@pytest.fixture(params=["sqlite", "postgresql"])
def system(request, tmp_path):
    config = embedded_config(tmp_path)
    if request.param == "postgresql":
        make = request.getfixturevalue("pg_database_factory")
        config["DATABASES"] = {name: make(name) for name in SERVICE_NAMES}
    with running(config, TESTED_SERVICES) as runner, \
            ClusterRpcProxy(config, timeout=60, context_data=as_caller(RECORDER)) as rpc:
        record_some_events(rpc_caller(rpc))
        wait_until(lambda: archived_everything(rpc), timeout=60,
                   message="reporting to archive every source's log")
        yield config, runner, rpc


def record_some_events(call) -> None:
    for unit in ({"unit_id": "p", "name": "Tỉnh ủy Thanh Hóa", "kind": "province"},
                 {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                  "parent_id": "p"},
                 {"unit_id": "c", "name": "Chi bộ Bản Máy", "kind": "cell", "parent_id": "x"}):
        call("members", "establish_unit", {**unit, "effective_date": START})
    for member_id, name in (("m1", "Hà Văn Thành"), ("m2", "Lò Thị Xuân")):
        call("members", "admit_member", {"member_id": member_id, "full_name": name,
                                         "cell_id": "c", "admitted_on": START})
    call("meetings", "record_meeting_held", {
        "meeting_id": "c-1", "cell_id": "c", "kind": "regular", "held_on": HELD_ON,
        "attendance": [{"member_id": "m1", "status": "present"},
                       {"member_id": "m2", "status": "present"}]})
    call("supervision", "log_visit", {"visitor": "Đồng chí Lê Văn Hùng", "cell_id": "c",
                                      "meeting_id": "c-1", "visited_on": HELD_ON})


def archived_everything(rpc) -> bool:
    for source in SOURCES:
        logged = getattr(rpc, source).verify_log()["events"]
        archived = rpc.reporting.audit_search(source=source, limit=1000)["results"]
        if logged == 0 or len(archived) != logged:
            return False
    return True


def engine_of(runner, service: str):
    """The service's own engine: on SQLite its writer lock is the one the running
    services queue on, so the test's write cannot deadlock with theirs."""
    container = next(c for c in runner.containers if c.service_name == service)
    return next(d for d in container.dependencies if isinstance(d, Database)).engine


def states(statuses: list[dict]) -> dict[str, str]:
    return {s["source"]: s["state"] for s in statuses}


def rewrite_with_recomputed_chain(engine, position: int, new_data: str) -> str:
    """What a forger with database access does to go unnoticed by the chain alone: edit a
    row, then recompute every later hash and the head. Returns the edited event's id."""
    with engine.begin() as conn:
        rows = conn.execute(select(events).order_by(events.c.position)).all()
        prev = GENESIS_HASH
        for row in rows:
            data = new_data if row.position == position else row.data
            digest = row_hash(prev, row.position, row.event_id, row.stream_id,
                              row.stream_version, row.type, row.version, data, row.meta,
                              row.recorded_at)
            conn.execute(update(events).where(events.c.position == row.position)
                         .values(data=data, prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(event_head).where(event_head.c.id == 1).values(hash=prev))
        return next(r.event_id for r in rows if r.position == position)


def test_every_source_ok_then_each_kind_of_tampering_is_named(system):
    config, runner, rpc = system
    base = f"http://{config['WEB_SERVER_ADDRESS']}/reporting/api/audit"
    inspector = authenticated(INSPECTOR)
    assert requests.get(f"{base}/status", timeout=10).status_code == 401

    # Nothing checked yet: the status says so rather than guessing.
    before = inspector.get(f"{base}/status", timeout=10).json()["sources"]
    assert states(before) == dict.fromkeys(SOURCES, "unknown")

    clean = rpc.reporting.audit_verify()
    assert states(clean) == dict.fromkeys(SOURCES, "ok"), clean
    assert all(s["findings"] == [] and s["events"] > 0 for s in clean)
    assert inspector.get(f"{base}/status", timeout=10).json()["sources"] == clean

    # 1. A row edited by hand in members' log: members itself finds it.
    with engine_of(runner, "members").begin() as conn:
        edited = conn.execute(text("SELECT event_id FROM events WHERE position = 3")).scalar()
        conn.execute(text("UPDATE events SET data = replace(data, 'Bản Máy', 'Bản Giả') "
                          "WHERE position = 3"))
    assert requests.post(f"{base}/verify", timeout=60).status_code == 401
    response = inspector.post(f"{base}/verify", timeout=60)
    assert response.status_code == 200, response.text
    after_edit = {s["source"]: s for s in response.json()["sources"]}
    assert states(after_edit.values()) == {"members": "tampered", "meetings": "ok",
                                           "supervision": "ok"}
    assert f"vị trí (position) 3 (sự kiện/event {edited}): nội dung không khớp mã băm: dòng " \
        "đã bị sửa (its content does not match its hash" in after_edit["members"]["findings"][0]

    # 2. Meetings' log rewritten and its chain recomputed: the chain holds again, but
    # the service's signatures fail from the rewritten row on (whoever rewrote it did not
    # hold the key), and the copy reporting archived does not match.
    rewritten = rewrite_with_recomputed_chain(engine_of(runner, "meetings"), 1,
                                              '{"forged":true}')
    own = rpc.meetings.verify_log()
    assert own["signatures_checked"] and own["findings"]
    assert own["findings"][0].startswith(f"vị trí (position) 1 (sự kiện/event {rewritten}): "
                                         "chữ ký không hợp lệ")
    assert all("signature fails" in finding for finding in own["findings"])
    after_rewrite = {s["source"]: s for s in rpc.reporting.audit_verify()}
    assert after_rewrite["meetings"]["state"] == "tampered"
    # Both checks name the rewritten row: its signature, and the archived copy.
    assert after_rewrite["meetings"]["findings"][0] == own["findings"][0]
    assert (f"vị trí (position) 1 (sự kiện/event {rewritten}): khác bản báo cáo lưu khi được "
            "công bố lần đầu: nhật ký bị viết lại từ đây, hoặc bản lưu bị sửa (differs from the "
            "copy reporting archived when it was first published: the log was rewritten from "
            "here, or the archived copy was altered)") in after_rewrite["meetings"]["findings"]
    assert after_rewrite["members"]["state"] == "tampered"
    assert after_rewrite["supervision"]["state"] == "ok"
    assert states(rpc.reporting.audit_status()) == states(after_rewrite.values())


def test_the_archive_is_searchable_and_events_traced(system):
    config, _runner, rpc = system
    web = f"http://{config['WEB_SERVER_ADDRESS']}"
    base = f"{web}/reporting/api/audit"
    inspector = authenticated(INSPECTOR)

    mine = inspector.get(f"{base}/events", params={"actor": ACTOR, "limit": 3},
                         timeout=10).json()
    assert len(mine["results"]) == 3 and mine["next"]
    assert {r["actor"] for r in mine["results"]} == {ACTOR}
    rest = inspector.get(f"{base}/events", params={"actor": ACTOR, "before": mine["next"],
                                                  "limit": 1000}, timeout=10).json()
    every = rpc.reporting.audit_search(limit=1000)["results"]
    assert [r["event_id"] for r in mine["results"] + rest["results"]] == \
        [r["event_id"] for r in every]

    # The actor is the login that sent the command over HTTP (an X-Actor header is not
    # believed); an account id in Vietnamese is searched as plain text, whatever
    # percent-encoding the query string gives it.
    secretary = Identity("bí.thư.bản.máy", "Bí thư Chi bộ Bản Máy", (Grant("staff", "c"),))
    response = authenticated(secretary).post(f"{web}/members/commands/admit_member", json={
        "member_id": "m3", "full_name": "Vi Văn Sơn", "cell_id": "c",
        "admitted_on": START.isoformat()}, headers={"X-Actor": quote("Người khác")},
        timeout=10)
    assert response.status_code == 201, response.text
    found = wait_until(lambda: inspector.get(f"{base}/events",
                                             params={"actor": secretary.account_id},
                                             timeout=10).json()["results"],
                       message="reporting to archive the new member")
    assert [(r["source"], r["type"], r["stream_id"]) for r in found] == [
        ("members", "member_admitted", found[0]["stream_id"])]
    assert inspector.get(f"{base}/events", params={"actor": "Người khác"},
                         timeout=10).json()["results"] == []
    admitted = inspector.get(f"{base}/events/{found[0]['event_id']}", timeout=10).json()
    assert admitted["metadata"]["actor_name"] == "Bí thư Chi bộ Bản Máy"

    visit = rpc.reporting.audit_search(source="supervision", type="visit_logged")["results"][0]
    shown = inspector.get(f"{base}/events/{visit['event_id']}", timeout=10).json()
    assert shown["data"]["cell_id"] == "c" and shown["metadata"]["actor"] == ACTOR
    assert shown["chain"][0]["kind"] == "command"
    assert shown["chain"][-1]["event_id"] == visit["event_id"]

    missing = inspector.get(f"{base}/events/no-such-event", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    bad = inspector.get(f"{base}/events", params={"from": "hôm qua", "limit": "0"},
                        timeout=10)
    assert bad.status_code == 422 and set(bad.json()["fields"]) == {"from", "limit"}
