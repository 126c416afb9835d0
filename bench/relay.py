"""The outbox relay's publish rate against raw kombu publishing the same messages.

A PostgreSQL log of 20,000 events (5,000 with --quick), every row signed as a
service signs its log (the envelopes carry the signatures), is published by
`Relay.publish_pending` (read a batch after the cursor, publish each as nameko's
EventDispatcher would, wait for the broker's confirms, move the cursor) to a durable
queue on a fresh RabbitMQ vhost. Side by side, raw kombu publishes the same
envelopes to the same exchange and queue, with confirms: once waiting for each confirm
in turn, once with a batch of confirms in flight (what the relay does). The ratio is
against the faster raw run.
"""

from __future__ import annotations

import time
from typing import Any

from kombu import Connection, Queue

from bench._support import Row, pg_databases, progress, rabbit_vhost
from bench.append import catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.relay import Relay, event_exchange, message_headers
from chibo.eventstore.signing import Signer
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend

SOURCE = "benchrelay"
BATCH = 500


def _fill(url: str, count: int) -> None:
    engine = make_engine(url)
    create_schema(engine)
    factory = session_factory(engine)
    signer = Signer.generate()
    for start in range(0, count, BATCH):
        with unit_of_work(factory) as session:
            EventStore(session, catalogue, signer=signer).append_many([StreamAppend(
                f"s{(start + i) % 100}", None,
                [NewEvent("ticked", {"n": start + i, "label": f"Chi bộ Bản Máy {start + i}"})])
                for i in range(BATCH)])
    engine.dispose()


def _declare_queue(amqp: str) -> Queue:
    queue = Queue(f"{SOURCE}-consumer", exchange=event_exchange(SOURCE), routing_key="#",
                  durable=True)
    with Connection(amqp) as connection:
        queue(connection.channel()).declare()
        queue(connection.channel()).purge()
    return queue


def _relay_rate(url: str, amqp: str) -> tuple[float, list[dict[str, Any]]]:
    engine = make_engine(url)
    relay = Relay(SOURCE, engine, amqp, catalogue, batch_size=BATCH)
    started = time.perf_counter()
    published = 0
    while sent := relay.publish_pending():
        published += sent
    seconds = time.perf_counter() - started
    with session_factory(engine)() as session:
        messages = [(e.envelope(SOURCE, catalogue), e) for e in EventStore(
            session, catalogue).read_all(after=0, limit=published)]
    relay.close()
    engine.dispose()
    return published / seconds, [
        {"body": body, "routing_key": e.type,
         "headers": message_headers(e.metadata, e.event_id, SOURCE)} for body, e in messages]


def _raw_rate(amqp: str, messages: list[dict[str, Any]], in_flight: int) -> float:
    """Publish `messages` with confirms, `in_flight` at a time before waiting."""
    acked: set[int] = set()
    with Connection(amqp) as connection:
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(
            lambda tag, multiple: acked.update(range(1, tag + 1)) if multiple else acked.add(tag))
        exchange = event_exchange(SOURCE)(channel)
        producer = connection.Producer(channel, serializer="json")
        started, tag = time.perf_counter(), 0
        for start in range(0, len(messages), in_flight):
            for message in messages[start:start + in_flight]:
                producer.publish(message["body"], exchange=exchange,
                                 routing_key=message["routing_key"], delivery_mode=2,
                                 headers=message["headers"], retry=False)
                tag += 1
            while len(acked) < tag:
                connection.drain_events(timeout=30)
        return len(messages) / (time.perf_counter() - started)


def run(quick: bool) -> list[Row]:
    count = 5_000 if quick else 20_000
    rows: list[Row] = []
    with pg_databases() as databases, rabbit_vhost() as amqp:
        url = databases.create("relay")
        progress(f"   relay: {count:,} events in a PostgreSQL log")
        _fill(url, count)
        queue = _declare_queue(amqp)
        relay, messages = _relay_rate(url, amqp)
        progress(f"   relay: {relay:,.0f} events/s")
        with Connection(amqp) as connection:
            queue(connection.channel()).purge()
        one_by_one = _raw_rate(amqp, messages[:min(count, 3_000)], 1)
        progress(f"   raw kombu, a confirm at a time: {one_by_one:,.0f} messages/s")
        with Connection(amqp) as connection:
            queue(connection.channel()).purge()
        batched = _raw_rate(amqp, messages, BATCH)
        progress(f"   raw kombu, {BATCH} confirms in flight: {batched:,.0f} messages/s")
    best = max(one_by_one, batched)
    rows += [
        ("relay: publish from the PostgreSQL log, confirmed", relay, "events/s"),
        ("raw kombu: publish with a confirm per message", one_by_one, "messages/s"),
        (f"raw kombu: publish with {BATCH} confirms in flight", batched, "messages/s"),
        ("relay / raw kombu (best)", 100 * relay / best, "%"),
    ]
    return rows
