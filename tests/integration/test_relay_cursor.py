"""The relay's cursor: a batch goes out once however the relay stops, and again (for
consumers to drop) only when the relay failed before recording it. Against the real
RabbitMQ (publisher confirms) and both databases."""

import uuid

import marshmallow
import pytest
from kombu import Connection, Queue
from marshmallow import fields

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.relay import Relay, event_exchange
from chibo.eventstore.store import EventStore, NewEvent

catalogue = Catalogue()


@catalogue.event("ticked")
class Ticked(marshmallow.Schema):
    n = fields.Integer(required=True)


@pytest.fixture
def setup(any_db_url, amqp_uri):
    source = f"relaytest{uuid.uuid4().hex[:8]}"
    engine = make_engine(any_db_url)
    create_schema(engine)
    queue = Queue(f"{source}-all", exchange=event_exchange(source), routing_key="#")
    with Connection(amqp_uri) as connection:
        queue(connection.channel()).declare()
    try:
        yield source, engine, amqp_uri, queue
    finally:
        with Connection(amqp_uri) as connection:
            queue(connection.channel()).delete()
            event_exchange(source)(connection.channel()).delete()
        engine.dispose()


def _append(engine, first: int, count: int) -> None:
    with unit_of_work(session_factory(engine)) as session:
        EventStore(session, catalogue).append(
            "s-1", None, [NewEvent("ticked", {"n": first + i}) for i in range(count)])


def _received(amqp_uri: str, queue: Queue) -> list[int]:
    """Every `n` delivered to the queue so far (taken off it)."""
    seen = []
    with Connection(amqp_uri) as connection:
        bound = queue(connection.channel())
        while (message := bound.get(no_ack=True)) is not None:
            seen.append(message.payload["data"]["n"])
    return seen


def test_each_event_goes_out_once_across_rounds_and_a_stop(setup):
    source, engine, amqp_uri, queue = setup
    relay = Relay(source, engine, amqp_uri, catalogue)
    _append(engine, 0, 3)
    assert relay.publish_pending() == 3
    _append(engine, 3, 2)
    assert relay.publish_pending() == 2
    assert relay.publish_pending() == 0
    relay.close()
    # A relay started afterwards (a restart) begins where the stopped one ended.
    again = Relay(source, engine, amqp_uri, catalogue)
    assert again.publish_pending() == 0
    _append(engine, 5, 1)
    assert again.publish_pending() == 1
    again.close()
    assert _received(amqp_uri, queue) == [0, 1, 2, 3, 4, 5]


def test_a_relay_that_failed_before_recording_a_batch_publishes_it_again(setup):
    source, engine, amqp_uri, queue = setup
    relay = Relay(source, engine, amqp_uri, catalogue)
    _append(engine, 0, 3)
    assert relay.publish_pending() == 3
    relay.reset()  # what the relay does after a failure, as a restarted process would
    assert relay.publish_pending() == 3  # confirmed, never recorded: out again
    assert relay.publish_pending() == 0
    relay.close()
    assert _received(amqp_uri, queue) == [0, 1, 2, 0, 1, 2]
