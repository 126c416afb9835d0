"""Escalation notifications against a real SMTP server and a real HTTP receiver.

Both listen on 127.0.0.1 ports picked for the test: aiosmtpd (its asyncio loop
runs in a thread, which eventlet's patching turns into a green thread) and
werkzeug's development server. Time moves only through the `now` handed to
`deliver_due`, so backoff is exercised without waiting.
"""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from datetime import UTC, datetime, timedelta

import eventlet
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from services.supervision.notify import outbox
from services.supervision.notify.channels import (
    channels_for,
    load_channels_config,
    normalise_config,
)
from services.supervision.notify.webhook import verify_signature, webhook_body, webhook_headers

SECRET = "bí-mật-webhook-🔑"
T0 = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)

ESCALATION = {
    "escalation_id": "esc-2026-10-cb-ban-may-2",
    "rule": "missed_regular_meeting",
    "level": 2,
    "target_unit_id": "dang-uy-xa-trung-ha",
    "target_name": "Đảng ủy xã Trung Hạ",
    "subject_id": "cb-ban-may",
    "subject_name": "Chi bộ bản Máy",
    "period": "2026-10",
    "reason": "Không sinh hoạt thường kỳ tháng 10/2026; đã nhắc ở cấp 1 nhưng chưa khắc phục.",
    "raised_on": "2026-11-01",
}


# -- servers -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailCollector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    collector = MailCollector()
    controller = Controller(collector, hostname="127.0.0.1", port=_free_port())
    controller.start()
    collector.port = controller.port
    yield collector
    controller.stop()


class Receiver:
    """A webhook endpoint: checks the signature, answers 500 `failures` times, then 200."""

    def __init__(self, secret: str, failures: int = 0) -> None:
        self.secret = secret
        self.failures = failures
        self.requests: list[dict] = []
        self.accepted: list[dict] = []
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        body = request.get_data()
        headers = request.headers
        valid = verify_signature(self.secret, headers.get("X-Chibo-Timestamp"), body,
                                        headers.get("X-Chibo-Signature"))
        with self.lock:
            self.requests.append({"id": headers.get("X-Chibo-Notification-Id"), "valid": valid,
                                  "content_type": headers.get("Content-Type")})
            if not valid:
                status = 401
            elif self.failures > 0:
                self.failures -= 1
                status = 500
            else:
                self.accepted.append({"id": headers.get("X-Chibo-Notification-Id"),
                                      "body": json.loads(body.decode("utf-8"))})
                status = 200
        return Response("ok" if status == 200 else "no", status=status)(environ, start_response)


@pytest.fixture
def receiver_factory():
    started = []

    def start(failures: int = 0, secret: str = SECRET) -> tuple[Receiver, str]:
        receiver = Receiver(secret, failures)
        server = make_server("127.0.0.1", 0, receiver)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        started.append((server, thread))
        return receiver, f"http://127.0.0.1:{server.server_port}/hooks/chibo"

    yield start
    for server, thread in started:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/supervision.db")
    create_schema(engine, outbox.metadata)
    yield session_factory(engine)
    engine.dispose()


def _config(*, smtp_port: int = 25, committees: dict | None = None, default: list | None = None,
            max_attempts: int = 8) -> dict:
    return normalise_config({
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "from": "chibo@tinh-uy.example",
                 "timeout_seconds": 10},
        "retry": {"max_attempts": max_attempts, "first_delay_seconds": 30, "factor": 2,
                  "max_delay_seconds": 3600},
        "default": default or [],
        "committees": committees or {},
    })


def _enqueue(factory, channels: list[dict], escalation: dict | None = None, **kwargs) -> int:
    with unit_of_work(factory) as session:
        return outbox.enqueue(session, escalation or ESCALATION, channels, **kwargs)


def _rows(factory) -> list[dict]:
    with factory() as session:
        return [dict(r) for r in session.execute(
            select(outbox.notifications).order_by(outbox.notifications.c.notification_id))
            .mappings()]


# -- cases ---------------------------------------------------------------------------


def test_email_is_delivered_in_vietnamese_with_a_stable_message_id(factory, smtp_server):
    to = ["ban-to-chuc@xa-trung-ha.example", "bi-thu@xa-trung-ha.example"]
    config = _config(smtp_port=smtp_server.port,
                     committees={"dang-uy-xa-trung-ha": [{"kind": "email", "to": to}]})
    assert _enqueue(factory, channels_for(config, "dang-uy-xa-trung-ha")) == 1

    counts = outbox.deliver_due(factory, T0, config)

    assert counts == {"claimed": 1, "delivered": 1, "retrying": 0, "failed": 0}
    assert len(smtp_server.messages) == 1
    mail_from, rcpt_tos, content = smtp_server.messages[0]
    assert mail_from == "chibo@tinh-uy.example"
    assert rcpt_tos == to
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Subject"] == ("[chibo] Cảnh báo cấp 2: Không sinh hoạt thường kỳ tháng"
                                  " 10/2026 – Chi bộ bản Máy")
    [row] = _rows(factory)
    assert message["Message-ID"] == f"<{row['notification_id']}@chibo.notifications>"
    assert message["X-Chibo-Notification-Id"] == row["notification_id"]
    assert message.get_content_charset() == "utf-8"
    body = message.get_content()
    assert "Lý do: Không sinh hoạt thường kỳ tháng 10/2026; đã nhắc ở cấp 1" in body
    assert "Đối tượng: Chi bộ bản Máy (cb-ban-may)" in body
    assert "Gửi cấp ủy: Đảng ủy xã Trung Hạ (dang-uy-xa-trung-ha)" in body
    assert "Mã cảnh báo: esc-2026-10-cb-ban-may-2" in body
    assert row["state"] == "delivered"
    assert row["attempts"] == 1
    assert row["delivered_at"] == T0.replace(tzinfo=None)
    assert row["target"] == ", ".join(to)


def test_webhook_is_delivered_signed(factory, receiver_factory):
    receiver, url = receiver_factory()
    config = _config(default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    _enqueue(factory, channels_for(config, "some-committee-not-listed"))

    counts = outbox.deliver_due(factory, T0, config)

    assert counts["delivered"] == 1
    assert [r["valid"] for r in receiver.requests] == [True]
    assert receiver.requests[0]["content_type"].startswith("application/json")
    [accepted] = receiver.accepted
    [row] = _rows(factory)
    assert accepted["id"] == row["notification_id"]
    assert accepted["body"]["notification_id"] == row["notification_id"]
    assert accepted["body"]["escalation"] == ESCALATION
    assert row["state"] == "delivered"

    body = webhook_body(row["notification_id"], ESCALATION)
    headers = webhook_headers(SECRET, row["notification_id"], T0, body)
    assert verify_signature(SECRET, headers["X-Chibo-Timestamp"], body,
                                   headers["X-Chibo-Signature"])
    assert verify_signature(SECRET, headers["X-Chibo-Timestamp"], body.decode(),
                                   headers["X-Chibo-Signature"])
    assert not verify_signature("other", headers["X-Chibo-Timestamp"], body,
                                       headers["X-Chibo-Signature"])
    assert not verify_signature(SECRET, headers["X-Chibo-Timestamp"], body + b" ",
                                       headers["X-Chibo-Signature"])
    assert not verify_signature(SECRET, "1", body, headers["X-Chibo-Signature"])
    assert not verify_signature(SECRET, headers["X-Chibo-Timestamp"], body, None)


def test_receiver_that_fails_three_times_then_recovers_gets_it_exactly_once(
        factory, receiver_factory):
    receiver, url = receiver_factory(failures=3)
    config = _config(default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    _enqueue(factory, config["default"])

    now = T0
    waits = []
    for _ in range(3):
        assert outbox.deliver_due(factory, now, config)["retrying"] == 1
        [row] = _rows(factory)
        assert row["state"] == "pending"
        assert "HTTP 500" in row["last_error"]
        waits.append(row["next_attempt_at"] - now.replace(tzinfo=None))
        # Just before it is due again, nothing is sent.
        assert outbox.deliver_due(factory, now + waits[-1] - timedelta(seconds=1),
                                  config)["claimed"] == 0
        now += waits[-1]
    assert waits == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]

    assert outbox.deliver_due(factory, now, config)["delivered"] == 1
    for later in (now + timedelta(minutes=5), now + timedelta(days=30)):
        assert outbox.deliver_due(factory, later, config)["claimed"] == 0

    assert len(receiver.requests) == 4
    assert all(r["valid"] for r in receiver.requests)
    assert len(receiver.accepted) == 1
    [row] = _rows(factory)
    assert receiver.accepted[0]["id"] == row["notification_id"]
    assert row["state"] == "delivered"
    assert row["attempts"] == 4
    assert row["delivered_at"] == now.replace(tzinfo=None)


def test_attempts_exhausted_mark_failed_with_last_error(factory, receiver_factory):
    receiver, url = receiver_factory(failures=1000)
    closed_port = _free_port()  # nothing listens there: SMTP connections are refused
    config = _config(smtp_port=closed_port, max_attempts=3, default=[
        {"kind": "webhook", "url": url, "secret": SECRET},
        {"kind": "email", "to": ["van-phong@tinh-uy.example"]}])
    _enqueue(factory, config["default"])

    now = T0
    totals = {"delivered": 0, "retrying": 0, "failed": 0}
    for _ in range(10):
        counts = outbox.deliver_due(factory, now, config)
        for key in totals:
            totals[key] += counts[key]
        now += timedelta(hours=2)

    assert totals == {"delivered": 0, "retrying": 4, "failed": 2}
    assert len(receiver.requests) == 3
    assert receiver.accepted == []
    rows = {r["kind"]: r for r in _rows(factory)}
    assert rows["webhook"]["state"] == rows["email"]["state"] == "failed"
    assert rows["webhook"]["attempts"] == rows["email"]["attempts"] == 3
    assert rows["webhook"]["last_error"] == f"HTTP 500 from {url}"
    assert "ConnectionRefusedError" in rows["email"]["last_error"]
    assert rows["webhook"]["delivered_at"] is None


def test_enqueue_twice_keeps_one_row_per_channel(factory):
    channels = [{"kind": "email", "to": ["a@example.invalid", "b@example.invalid"]},
                {"kind": "webhook", "url": "https://hooks.example.invalid/x", "secret": "s"},
                {"kind": "email", "to": ["a@example.invalid", "b@example.invalid"]}]
    assert _enqueue(factory, channels) == 3
    assert _enqueue(factory, channels) == 0
    with unit_of_work(factory) as session:
        assert outbox.enqueue(session, ESCALATION, channels) == 0
        assert outbox.enqueue(session, dict(ESCALATION, escalation_id="esc-other"),
                              channels[:1]) == 1
    rows = _rows(factory)
    assert len(rows) == 4
    assert len({r["notification_id"] for r in rows}) == 4
    mine = [r for r in rows if r["escalation_id"] == ESCALATION["escalation_id"]]
    assert sorted(r["kind"] for r in mine) == ["email", "email", "webhook"]
    assert all(r["state"] == "pending" and r["attempts"] == 0 for r in rows)
    assert {r["target"] for r in mine} == {"a@example.invalid, b@example.invalid",
                                           "https://hooks.example.invalid/x"}


def test_enqueue_shares_the_escalation_transaction(factory):
    class Abort(Exception):
        pass

    with pytest.raises(Abort), unit_of_work(factory) as session:
        outbox.enqueue(session, ESCALATION, [{"kind": "email", "to": ["a@example.invalid"]}])
        raise Abort  # the escalation failed to record: its notifications go with it
    assert _rows(factory) == []


def test_a_row_not_yet_due_is_not_sent(factory, receiver_factory):
    receiver, url = receiver_factory()
    config = _config(default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    _enqueue(factory, config["default"], not_before=T0 + timedelta(hours=1))

    assert outbox.deliver_due(factory, T0, config)["claimed"] == 0
    assert outbox.deliver_due(factory, T0 + timedelta(minutes=59), config)["claimed"] == 0
    assert receiver.requests == []
    [row] = _rows(factory)
    assert row["state"] == "pending" and row["attempts"] == 0

    assert outbox.deliver_due(factory, T0 + timedelta(hours=1), config)["delivered"] == 1
    assert len(receiver.accepted) == 1


def test_a_claim_left_by_a_lost_worker_is_taken_again_after_its_lease(
        factory, receiver_factory):
    receiver, url = receiver_factory()
    config = _config(default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    _enqueue(factory, config["default"])
    # A worker claims the row and dies before sending.
    assert outbox._claim_next(factory, T0.replace(tzinfo=None), 8) is not None

    assert outbox.deliver_due(factory, T0 + timedelta(minutes=1), config)["claimed"] == 0
    assert receiver.requests == []
    later = T0 + outbox.CLAIM_LEASE
    assert outbox.deliver_due(factory, later, config)["delivered"] == 1
    [row] = _rows(factory)
    assert row["state"] == "delivered" and row["attempts"] == 2 and row["claim"] is None
    assert len(receiver.accepted) == 1


def test_a_lost_claim_with_no_attempts_left_is_marked_failed(factory, receiver_factory):
    receiver, url = receiver_factory()
    config = _config(max_attempts=1, default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    _enqueue(factory, config["default"])
    assert outbox._claim_next(factory, T0.replace(tzinfo=None), 1) is not None

    counts = outbox.deliver_due(factory, T0 + outbox.CLAIM_LEASE, config)

    assert counts == {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 1}
    assert receiver.requests == []
    [row] = _rows(factory)
    assert row["state"] == "failed" and row["attempts"] == 1
    assert "gave up after 1 attempts" in row["last_error"]


def test_two_workers_send_each_notification_once(any_db_url, receiver_factory):
    engine = make_engine(any_db_url)
    create_schema(engine, outbox.metadata)
    factory = session_factory(engine)
    receiver, url = receiver_factory()
    config = _config(default=[{"kind": "webhook", "url": url, "secret": SECRET}])
    for n in range(12):
        _enqueue(factory, config["default"], dict(ESCALATION, escalation_id=f"esc-{n}"))

    workers = [eventlet.spawn(outbox.deliver_due, factory, T0, config) for _ in range(2)]
    results = [w.wait() for w in workers]

    assert sum(r["delivered"] for r in results) == 12
    assert sum(r["claimed"] for r in results) == 12
    ids = [a["id"] for a in receiver.accepted]
    assert len(ids) == 12 and len(set(ids)) == 12
    with factory() as session:
        assert session.execute(select(func.count()).select_from(outbox.notifications).where(
            outbox.notifications.c.state == "delivered")).scalar() == 12
    engine.dispose()


def test_configuration_file_names_environment_variables(tmp_path, monkeypatch):
    default = load_channels_config()
    assert default["default"] == [] and default["committees"] == {}
    assert default["retry"] == {"max_attempts": 8, "first_delay_seconds": 30.0, "factor": 2.0,
                                "max_delay_seconds": 3600.0}

    monkeypatch.setenv("TEST_CHIBO_SMTP_PORT", "2525")
    monkeypatch.setenv("TEST_CHIBO_HOOK_SECRET", "0123")
    path = tmp_path / "channels.yaml"
    path.write_text(
        "smtp:\n"
        "  host: ${TEST_CHIBO_SMTP_HOST:mail.example.invalid}\n"
        "  port: ${TEST_CHIBO_SMTP_PORT:25}\n"
        "  from: chibo@example.invalid\n"
        "  starttls: ${TEST_CHIBO_SMTP_STARTTLS:true}\n"
        "retry: {max_attempts: 5}\n"
        "default: [{kind: email, to: [x@example.invalid]}]\n"
        "committees:\n"
        "  tinh-uy:\n"
        "    - {kind: email, to: ban-to-chuc@example.invalid}\n"
        "    - {kind: webhook, url: 'https://h.example.invalid/', "
        "secret: !raw_env_var '${TEST_CHIBO_HOOK_SECRET}'}\n", encoding="utf-8")
    config = load_channels_config(path)
    assert config["smtp"]["host"] == "mail.example.invalid"
    assert config["smtp"]["port"] == 2525
    assert config["smtp"]["starttls"] is True
    assert config["retry"]["max_attempts"] == 5
    assert config["retry"]["first_delay_seconds"] == 30.0
    assert channels_for(config, "tinh-uy") == [
        {"kind": "email", "to": ["ban-to-chuc@example.invalid"]},
        {"kind": "webhook", "url": "https://h.example.invalid/", "secret": "0123"}]
    assert channels_for(config, "xa-khac") == [
        {"kind": "email", "to": ["x@example.invalid"]}]

    with pytest.raises(ValueError, match="no secret"):
        normalise_config({"default": [{"kind": "webhook", "url": "https://x/"}]})
    with pytest.raises(ValueError, match="kind must be"):
        normalise_config({"committees": {"u": [{"kind": "sms", "to": ["1"]}]}})
