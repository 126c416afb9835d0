"""The audit page holds each source's checkpoints and checks the newest against the log
now: intact, then the members log's tail deleted (its head moved back to match, which
the chain alone cannot tell) is named against the checkpoint."""

from __future__ import annotations

from nameko.standalone.rpc import ClusterRpcProxy
from nameko.testing.services import entrypoint_hook
from sqlalchemy import delete, select, update

from chibo.eventstore.tables import event_head, events
from chibo.nameko.runtime import rpc_caller
from tests.integration.test_audit_status import (
    INSPECTOR,
    RECORDER,
    TESTED_SERVICES,
    archived_everything,
    engine_of,
    record_some_events,
)
from tests.support import as_caller, authenticated, embedded_config, running, wait_until
from tests.unit.test_reporting_web import visible_text

SOURCES = ("members", "meetings", "supervision")


def test_checkpoints_held_are_checked_against_the_logs(tmp_path):
    config = embedded_config(tmp_path)
    config["SIGNING"]["checkpoint_dir"] = str(tmp_path / "ubkt")
    web = f"http://{config['WEB_SERVER_ADDRESS']}"
    inspector = authenticated(INSPECTOR)
    with running(config, TESTED_SERVICES) as runner, \
            ClusterRpcProxy(config, timeout=60, context_data=as_caller(RECORDER)) as rpc:
        record_some_events(rpc_caller(rpc))
        wait_until(lambda: archived_everything(rpc), timeout=60,
                   message="reporting to archive every source's log")
        assert inspector.get(f"{web}/reporting/api/audit/checkpoints",
                             timeout=30).json()["checked"] == []
        for source in SOURCES:  # what each service does once a day
            container = next(c for c in runner.containers if c.service_name == source)
            with entrypoint_hook(container, "write_checkpoint") as write:
                assert write().endswith(".checkpoint")

        intact = inspector.get(f"{web}/reporting/api/audit/checkpoints", timeout=30).json()
        assert [(c["source"], c["state"]) for c in intact["checked"]] == [
            (source, "ok") for source in sorted(SOURCES)]
        assert len(intact["held"]) == 3
        assert requests_status(web, "/reporting/api/audit/checkpoints") == 401

        engine = engine_of(runner, "members")
        with engine.begin() as conn:  # the last row deleted, the head moved back to match
            last = conn.execute(select(event_head.c.position)).scalar()
            conn.execute(delete(events).where(events.c.position == last))
            kept = conn.execute(select(events.c.hash).where(
                events.c.position == last - 1)).scalar()
            conn.execute(update(event_head).values(position=last - 1, hash=kept))
        assert rpc.members.verify_log()["findings"] == []  # a valid, shorter chain
        found = inspector.get(f"{web}/reporting/api/audit/checkpoints", timeout=30).json()
        members = next(c for c in found["checked"] if c["source"] == "members")
        assert members["state"] == "tampered"
        assert f"the log holds {last - 1} rows" in members["problems"][0]
        page = visible_text(inspector.get(f"{web}/reporting/audit", timeout=30).text)
        assert "Điểm kiểm tra lưu ngoài cơ sở dữ liệu" in page and "Bị can thiệp" in page
        assert "Nhật ký truy cập dữ liệu cá nhân" in page  # a link to the reads, filtered


def requests_status(web: str, path: str) -> int:
    import requests

    return requests.get(web + path, timeout=30).status_code
