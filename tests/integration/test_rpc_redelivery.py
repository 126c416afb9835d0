"""An RPC command is idempotent without a command id: a request message handled twice
(as RabbitMQ redelivers one whose worker died before acking it) keeps its correlation
id, so the second delivery answers the first answer and appends nothing. On RabbitMQ
and PostgreSQL, the request published with kombu directly, as nameko's proxy does (the
caller's signed identity in the `nameko.identity` header, as the proxy sends its context
data)."""

from __future__ import annotations

import uuid
from typing import Any

from kombu import Connection, Exchange, Queue
from nameko.standalone.rpc import ClusterRpcProxy

from services.members.entrypoints import MembersService
from tests.support import ADMIN, as_caller, running, services_config

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)
PROVINCE = {"name": "Tỉnh ủy Nghệ An", "kind": "province", "effective_date": "2025-07-01"}


def deliver_twice(amqp_uri: str, method: str, payload: dict[str, Any],
                  correlation_id: str, context: dict[str, str]) -> list[dict[str, Any]]:
    """Publish one RPC request twice (same correlation id, reply queue and context data),
    the second after the first was answered; the two replies."""
    replies: list[dict[str, Any]] = []
    reply_to = f"test-reply-{uuid.uuid4().hex}"
    reply_queue = Queue(reply_to, RPC_EXCHANGE, routing_key=reply_to, exclusive=True,
                        auto_delete=True)

    def on_reply(body: dict[str, Any], message: Any) -> None:
        assert message.properties["correlation_id"] == correlation_id
        replies.append(body)
        message.ack()

    with Connection(amqp_uri) as connection, \
            connection.Consumer(reply_queue, callbacks=[on_reply], accept=["json"]):
        producer = connection.Producer(serializer="json")
        for delivery in (1, 2):
            producer.publish({"args": [payload], "kwargs": {}}, exchange=RPC_EXCHANGE,
                             routing_key=f"members.{method}", reply_to=reply_to,
                             correlation_id=correlation_id, delivery_mode=2,
                             headers={f"nameko.{key}": value
                                      for key, value in context.items()},
                             declare=[RPC_EXCHANGE])
            while len(replies) < delivery:
                connection.drain_events(timeout=30)
    return replies


def test_a_request_delivered_twice_answers_once_and_appends_once(pg_database_factory, amqp_uri):
    config = services_config(pg_database_factory, amqp_uri)
    with running(config, [MembersService]), \
            ClusterRpcProxy(config, timeout=30, context_data=as_caller()) as rpc:
        # Without the identity the request is refused at the door, and appends nothing.
        refused = deliver_twice(amqp_uri, "establish_unit", PROVINCE, "corr-0", {})
        assert [r["error"]["exc_type"] for r in refused] == ["Unauthenticated"] * 2, refused
        assert rpc.members.read_events(after=0, limit=100) == []

        # No unit_id: the service makes one up, so a second run would found a second unit.
        first, second = deliver_twice(amqp_uri, "establish_unit", PROVINCE, "corr-1",
                                      as_caller())
        assert first["error"] is None, first
        assert second == first
        log = rpc.members.read_events(after=0, limit=100)
        assert [e["data"]["unit_id"] for e in log] == [first["result"]["unit_id"]]
        assert log[0]["metadata"]["command_id"] == "rpc:corr-1"
        assert log[0]["metadata"]["actor"] == ADMIN.account_id
        assert log[0]["metadata"]["actor_name"] == ADMIN.name

        # Two calls through a proxy are two requests, hence two commands.
        one = rpc.members.establish_unit({**PROVINCE, "name": "Tỉnh ủy Hà Tĩnh"})
        two = rpc.members.establish_unit({**PROVINCE, "name": "Tỉnh ủy Hà Tĩnh"})
        assert one["unit_id"] != two["unit_id"]
        # A caller's own command id still wins over the derived one.
        with ClusterRpcProxy(config, timeout=30,
                             context_data={**as_caller(), "command_id": "own-1"}) as own:
            mine = own.members.establish_unit({**PROVINCE, "name": "Tỉnh ủy Quảng Bình"})
            assert own.members.establish_unit(
                {**PROVINCE, "name": "Tỉnh ủy Quảng Bình"}) == mine
        log = rpc.members.read_events(after=0, limit=100)
        assert len(log) == 4
        assert log[-1]["metadata"]["command_id"] == "own-1"
