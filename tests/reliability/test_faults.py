"""Faults on the real RabbitMQ and PostgreSQL. After each, reporting must equal a
rebuild from the services' logs: nothing missing, nothing counted twice."""

from __future__ import annotations

import pytest
from kombu import Connection, Producer

from chibo import metrics
from chibo.db import make_engine, session_factory
from chibo.eventstore.relay import Relay, event_exchange, message_headers
from chibo.eventstore.store import EventStore
from chibo.nameko.providers import Feed
from chibo.nameko.runtime import rpc_caller, rpc_client
from services.reporting.read_model import snapshot
from services.reporting.rebuild import rebuild
from services.shared.events import SOURCES, catalogue
from tests.sample_province import load_sample_province
from tests.support import TODAY, bearer, running, services_config, token, wait_until

pytestmark = pytest.mark.services


@pytest.fixture
def system(pg_database_factory, amqp_uri):
    config = services_config(pg_database_factory, amqp_uri)
    yield config


def log_reader(config):
    """Reads each service's log straight from its database: the ground truth."""
    engines = {s: make_engine(config["DATABASES"][s]) for s in SOURCES}

    def fetch(source, after, limit):
        with session_factory(engines[source])() as session:
            return [e.envelope(source) for e in EventStore(session, catalogue)
                    .read_all(after, limit)]

    def heads():
        with_heads = {}
        for source in SOURCES:
            with session_factory(engines[source])() as session:
                with_heads[source] = EventStore(session, catalogue).head_position()
        return with_heads

    return fetch, heads


def feed_of(runner, service: str) -> Feed:
    container = next(c for c in runner.containers if c.service_name == service)
    return next(d for d in container.dependencies if isinstance(d, Feed))


def drive(config, months: int = 2) -> None:
    with rpc_client(config, token=token()) as proxy:
        load_sample_province(rpc_caller(proxy), TODAY, months=months,
                             progress=lambda _: None)


def drive_more(config, tag: str, members: int = 12) -> None:
    """A new cell with members and a meeting: fresh activity after the sample."""
    today = TODAY
    with rpc_client(config, token=token()) as proxy:
        call = rpc_caller(proxy)
        call("members", "establish_unit", {"unit_id": tag, "name": f"Chi bộ {tag}",
                                           "kind": "cell", "parent_id": "xa-1",
                                           "effective_date": today.replace(day=1)})
        ids = [f"{tag}-{n}" for n in range(members)]
        for member_id in ids:
            call("members", "admit_member", {"member_id": member_id, "full_name": "Vi Văn Sơn",
                                             "cell_id": tag, "admitted_on": today.replace(day=1)})
        call("meetings", "record_meeting_held", {
            "meeting_id": f"{tag}-m", "cell_id": tag, "held_on": today,
            "attendance": [{"member_id": m, "status": "present"} for m in ids]})


def assert_reporting_equals_rebuild(config, runner) -> None:
    fetch, heads = log_reader(config)
    expected_heads = heads()
    reporting = feed_of(runner, "reporting").feed
    wait_until(lambda: all(reporting.watermark(s) == expected_heads[s] for s in SOURCES),
               timeout=60, message=f"reporting to reach every log's head {expected_heads}")
    rebuilt, _ = rebuild(fetch)
    engine = make_engine(config["DATABASES"]["reporting"])
    with session_factory(engine)() as session:
        live = snapshot(session)
    engine.dispose()
    assert len(live["archive"]) == sum(expected_heads.values())
    for table in rebuilt:
        assert live[table] == rebuilt[table], f"{table} differs from a rebuild from the logs"


def test_no_fault_baseline(system):
    with running(system) as runner:
        drive(system)
        assert_reporting_equals_rebuild(system, runner)


def test_relay_killed_between_publish_and_cursor_move(system, monkeypatch):
    crashes = {"left": 3}
    original = Relay.advance_cursor

    def crash_after_publish(self, session, position):
        # The batch was published and confirmed; dying before its position is recorded
        # means it goes out again.
        if crashes["left"] > 0:
            crashes["left"] -= 1
            raise ConnectionError("relay killed after the broker confirmed the batch")
        return original(self, session, position)

    monkeypatch.setattr(Relay, "advance_cursor", crash_after_publish)
    before = metrics.FEED_DUPLICATES.labels("reporting", "members")._value.get()
    with running(system) as runner:
        drive(system)
        assert_reporting_equals_rebuild(system, runner)
    assert crashes["left"] == 0
    assert metrics.FEED_DUPLICATES.labels("reporting", "members")._value.get() > before


def test_event_delivered_twice(system):
    fetch, _ = log_reader(system)
    before = metrics.FEED_DUPLICATES.labels("reporting", "meetings")._value.get()
    with running(system) as runner:
        drive(system, months=1)
        assert_reporting_equals_rebuild(system, runner)
        # The bus hands the same meeting events over again (a redelivery).
        again = fetch("meetings", 0, 20)
        with Connection(system["AMQP_URI"]) as connection:
            producer = Producer(connection.channel(), serializer="json")
            for envelope in again + again:
                producer.publish(envelope, exchange=event_exchange("meetings"),
                                 routing_key=envelope["type"], declare=[event_exchange("meetings")],
                                 headers=message_headers(envelope["metadata"],
                                                         envelope["event_id"], "meetings"))
        drive_more(system, "cb-moi")  # keeps the feed busy while the duplicates arrive
        assert_reporting_equals_rebuild(system, runner)
    skipped = metrics.FEED_DUPLICATES.labels("reporting", "meetings")._value.get() - before
    assert skipped >= len(again) * 2


def test_event_dropped_on_the_bus(system, monkeypatch):
    dropped: list[int] = []
    original = Relay._publish_batch

    def lossy_publish(self, channel, batch):
        # Every 17th meeting event vanishes between the relay and the queues: the broker
        # confirms it, but to an exchange that routes it nowhere.
        for event in batch:
            if self.source == "meetings" and event.position % 17 == 0:
                dropped.append(event.position)
                channel.basic_publish(channel.prepare_message(b"{}"), exchange="",
                                      routing_key="chibo-test-nowhere")
            else:
                original(self, channel, [event])

    monkeypatch.setattr(Relay, "_publish_batch", lossy_publish)
    before = metrics.FEED_HEALED.labels("reporting", "meetings")._value.get()
    with running(system) as runner:
        drive(system)
        assert_reporting_equals_rebuild(system, runner)
    assert dropped, "the fault was never injected"
    assert metrics.FEED_HEALED.labels("reporting", "meetings")._value.get() > before


def test_consumer_handler_raising(system):
    with running(system) as runner:
        feed = feed_of(runner, "reporting").feed
        original = feed.project_run
        failures = {"left": 4}

        def flaky_project(session, envelopes):
            if any(e["type"] == "meeting_held" for e in envelopes) and failures["left"] > 0:
                failures["left"] -= 1
                raise RuntimeError("projection failed (injected)")
            return original(session, envelopes)

        feed.project_run = flaky_project
        drive(system)
        assert_reporting_equals_rebuild(system, runner)
        assert failures["left"] == 0


def test_relay_resumes_after_broker_restart(system):
    import subprocess

    import requests

    url = f"http://{system['WEB_SERVER_ADDRESS']}/members/commands/establish_unit"
    failures_before = metrics.RELAY_FAILURES.labels("members")._value.get()
    with running(system) as runner:
        drive(system, months=1)
        assert_reporting_equals_rebuild(system, runner)
        subprocess.run(["rabbitmqctl", "-q", "stop_app"], check=True, timeout=120)
        try:
            # Commands still land in the log while the broker is down.
            for n in range(5):
                response = requests.post(url, json={
                    "unit_id": f"restart-{n}", "name": f"Chi bộ Thôn {n + 1}", "kind": "cell",
                    "parent_id": "xa-1", "effective_date": TODAY.isoformat()},
                    headers=bearer(), timeout=10)
                assert response.status_code == 201, response.text
            wait_until(lambda: metrics.RELAY_FAILURES.labels("members")._value.get()
                       > failures_before, message="the relay to notice the broker is gone")
        finally:
            subprocess.run(["rabbitmqctl", "-q", "start_app"], check=True, timeout=120)
            subprocess.run(["rabbitmqctl", "-q", "await_startup"], check=True, timeout=120)
        assert_reporting_equals_rebuild(system, runner)
