"""Feed handlers (`chibo.nameko.resilience.feed_handler`) ack their deliveries in
batches, against the real RabbitMQ: nothing is lost, a partial batch is acked once
traffic stops, and a consumer killed with a batch unacked has it delivered again to
the next one, whose feed applies each event once."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import amqp.channel
import pytest
from kombu import Connection, Producer
from nameko.containers import ServiceContainer
from nameko.extensions import DependencyProvider
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
from sqlalchemy.orm import Session

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Envelope, OrderedFeed
from chibo.eventstore.relay import event_exchange
from chibo.nameko.resilience import feed_handler
from tests.support import wait_until

SOURCE = "batchsrc"
metadata = MetaData()
applied = Table("applied", metadata, Column("position", Integer, primary_key=True))


@dataclass
class Sink:
    """What the test service's handler saw, and the feed it offers to."""

    feed: OrderedFeed | None = None
    deliveries: list[int] = field(default_factory=list)  # positions, as they came


class Backlog(DependencyProvider):
    """Stands for the service's `Feed`: says whether its buffer is over the high water."""

    full = False

    def backlogged(self) -> bool:
        return self.full

    def get_dependency(self, worker_ctx: Any) -> Backlog:
        return self


def sink_service(sink: Sink) -> type:
    class BatchSink:
        name = "batchsink"
        backlog = Backlog()

        @feed_handler(SOURCE, "#")
        def on_event(self, envelope: Envelope) -> None:
            assert sink.feed is not None
            sink.deliveries.append(envelope["position"])
            sink.feed.offer(envelope)

    return BatchSink


@pytest.fixture
def feed_factory(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/feed.db")
    create_schema(engine, metadata)
    factory = session_factory(engine)

    def project(session: Session, envelope: Envelope) -> None:
        session.execute(insert(applied).values(position=envelope["position"]))

    def make() -> OrderedFeed:
        return OrderedFeed("batchsink", [SOURCE], factory, Catalogue(), project,
                           lambda source, after, limit: [])

    def count() -> tuple[int, int]:
        with factory() as session:
            return session.execute(select(func.count(), func.count(
                applied.c.position.distinct()))).one()

    make.count = count  # type: ignore[attr-defined]
    yield make
    engine.dispose()


def publish(amqp_uri: str, positions: range) -> None:
    with Connection(amqp_uri) as connection:
        producer = Producer(connection.channel(), serializer="json")
        for position in positions:
            producer.publish({"source": SOURCE, "position": position, "type": "ticked",
                              "version": 1, "data": {}}, exchange=event_exchange(SOURCE),
                             routing_key="ticked", delivery_mode=2, retry=False)


def queue_counts(amqp_uri: str) -> tuple[int, int]:
    """(ready, unacknowledged) of the sink's queue, as the broker counts them."""
    vhost = urlsplit(amqp_uri).path.lstrip("/")
    listing = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "-p", vhost, "--no-table-headers", "name",
         "messages_ready", "messages_unacknowledged"],
        check=True, capture_output=True, text=True).stdout
    for line in listing.splitlines():
        name, ready, unacked = line.split()
        if "batchsink" in name:
            return int(ready), int(unacked)
    raise AssertionError(f"no queue of the sink in {listing!r}")


def start(amqp_uri: str, sink: Sink, **settings: Any) -> ServiceContainer:
    container = ServiceContainer(sink_service(sink), {"AMQP_URI": amqp_uri, **settings})
    container.start()
    return container


@pytest.fixture
def ack_calls(monkeypatch):
    """Every basic.ack the client sends: (delivery tag, multiple)."""
    calls: list[tuple[int, bool]] = []
    original = amqp.channel.Channel.basic_ack

    def basic_ack(self: Any, delivery_tag: int, multiple: bool = False, **kwargs: Any) -> Any:
        calls.append((delivery_tag, multiple))
        return original(self, delivery_tag, multiple, **kwargs)

    monkeypatch.setattr(amqp.channel.Channel, "basic_ack", basic_ack)
    return calls


def apply_all(feed: OrderedFeed, expected: int, count: Any) -> None:
    wait_until(lambda: (feed.step(), count()[0])[1] >= expected, timeout=30,
               message=f"{expected} events applied")


def test_batched_acks_lose_nothing_and_a_partial_batch_is_acked_when_traffic_stops(
        amqp_uri, feed_factory, ack_calls):
    sink = Sink(feed_factory())
    container = start(amqp_uri, sink, FEED_ACK_BATCH=20, FEED_ACK_DELAY_SECONDS=0.05,
                      FEED_PREFETCH=100)
    try:
        publish(amqp_uri, range(1, 236))  # not a whole number of batches
        apply_all(sink.feed, 235, feed_factory.count)
        wait_until(lambda: queue_counts(amqp_uri) == (0, 0), timeout=30,
                   message="the queue empty, every delivery acked")
    finally:
        container.stop()

    assert feed_factory.count() == (235, 235)  # each event applied once
    assert sorted(sink.deliveries) == list(range(1, 236))
    # Acked in batches: far fewer acks than deliveries, each covering all before it.
    assert ack_calls and all(multiple for _, multiple in ack_calls)
    assert len(ack_calls) <= 235 // 20 + 30
    assert max(tag for tag, _ in ack_calls) == 235


def test_a_consumer_killed_mid_batch_has_its_unacked_deliveries_redelivered(
        amqp_uri, feed_factory):
    first = Sink(feed_factory())
    # No timer within the test: only full batches of 10 are acked.
    container = start(amqp_uri, first, FEED_ACK_BATCH=10, FEED_ACK_DELAY_SECONDS=3600)
    try:
        publish(amqp_uri, range(1, 26))
        apply_all(first.feed, 25, feed_factory.count)
        wait_until(lambda: queue_counts(amqp_uri) == (0, 5), timeout=30,
                   message="two batches acked, the last five deliveries not")
    finally:
        container.kill()  # the connection goes; the broker takes the five back

    second = Sink(feed_factory())  # a new process: its feed knows only the database
    container = start(amqp_uri, second, FEED_ACK_BATCH=10, FEED_ACK_DELAY_SECONDS=0.05)
    try:
        wait_until(lambda: len(second.deliveries) >= 5, timeout=30,
                   message="the unacked deliveries again")
        wait_until(lambda: queue_counts(amqp_uri) == (0, 0), timeout=30,
                   message="the queue empty")
        second.feed.step()
    finally:
        container.stop()

    assert sorted(second.deliveries) == list(range(21, 26))
    assert feed_factory.count() == (25, 25)  # the second delivery applied nothing again


def test_a_backlogged_feed_holds_its_acks_so_the_broker_keeps_the_rest_queued(
        amqp_uri, feed_factory):
    sink = Sink(feed_factory())
    container = start(amqp_uri, sink, FEED_ACK_BATCH=5, FEED_ACK_DELAY_SECONDS=0.01,
                      FEED_PREFETCH=20)
    [backlog] = [d for d in container.dependencies if isinstance(d, Backlog)]
    backlog.full = True
    try:
        publish(amqp_uri, range(1, 101))
        wait_until(lambda: queue_counts(amqp_uri) == (80, 20), timeout=30,
                   message="the prefetch delivered and held, the rest still queued")
        assert sorted(sink.deliveries) == list(range(1, 21))  # nothing taken to drop

        backlog.full = False  # the feed has worked its buffer down
        apply_all(sink.feed, 100, feed_factory.count)
        wait_until(lambda: queue_counts(amqp_uri) == (0, 0), timeout=30,
                   message="the queue empty, every delivery acked")
    finally:
        container.stop()
    assert sorted(sink.deliveries) == list(range(1, 101))
    assert feed_factory.count() == (100, 100)
