"""Tests for the in-process ``chibomem://`` transport: nameko events and RPC, no broker."""

# nameko's services need eventlet's green I/O and sleep; patch before anything imports
# kombu or nameko. Guarded in case a conftest has patched already.
import eventlet

if not eventlet.patcher.is_monkey_patched("socket"):
    eventlet.monkey_patch()

import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from kombu import Connection, Consumer, Exchange, Queue  # noqa: E402
from kombu.exceptions import ChannelError  # noqa: E402
from kombu.transport import TRANSPORT_ALIASES, resolve_transport  # noqa: E402
from nameko.contextdata import ContextDataProvider  # noqa: E402
from nameko.events import EventDispatcher, event_handler  # noqa: E402
from nameko.exceptions import UnknownService  # noqa: E402
from nameko.rpc import RpcProxy, rpc  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from chibo.nameko import memory  # noqa: E402

CONFIG = {"AMQP_URI": "chibomem://"}

# Generous: only reached when something is broken, and slow CI machines must not flake.
DEADLINE_SECONDS = 10.0

# nameko makes a new service instance per worker, so what B's handler saw has to live
# outside the instance for the test to read it.
received_events: list[Any] = []


class CallersIdentity(ContextDataProvider):
    """The `identity` context data a worker was called with: where the services find
    the caller's signed token (chibo.nameko.access)."""

    context_key = "identity"


class ServiceA:
    name = "a"

    dispatch = EventDispatcher()
    identity = CallersIdentity()

    @rpc
    def add(self, x: int, y: int) -> int:
        return x + y

    @rpc
    def who_calls(self) -> Any:
        return self.identity

    @rpc
    def announce(self, payload: Any) -> bool:
        self.dispatch("thing_happened", payload)
        return True


class ServiceB:
    name = "b"

    a = RpcProxy("a")

    @event_handler("a", "thing_happened")
    def on_thing_happened(self, payload: Any) -> None:
        received_events.append(payload)

    @rpc
    def add_via_a(self, x: int, y: int) -> int:
        return self.a.add(x, y)

    @rpc
    def who_calls_a(self) -> Any:
        return self.a.who_calls()


def wait_until(predicate: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        eventlet.sleep(0.005)


@pytest.fixture(scope="module")
def services() -> Iterator[ServiceRunner]:
    # Module-scoped because a graceful nameko stop takes seconds: each consumer only
    # notices it should stop when its 1 s kombu drain timeout comes round.
    memory.register()
    memory.reset()
    runner = ServiceRunner(CONFIG)
    runner.add_service(ServiceA)
    runner.add_service(ServiceB)
    runner.start()
    yield runner
    runner.stop()
    memory.reset()


@pytest.fixture
def rpc_client(services: ServiceRunner) -> Iterator[Any]:
    # The timeout turns a lost message into a failing test instead of a hung run.
    with ClusterRpcProxy(CONFIG, timeout=DEADLINE_SECONDS) as proxy:
        yield proxy


def test_register_is_idempotent_and_resolves() -> None:
    memory.register()
    memory.register()

    assert TRANSPORT_ALIASES["chibomem"] == "chibo.nameko.memory:Transport"
    assert resolve_transport("chibomem") is memory.Transport


# The transport-level tests below use names of their own and do not call reset(), so
# they cannot disturb the running services whatever order the tests run in.


def test_messages_carry_content_type_in_properties() -> None:
    memory.register()
    queue = Queue("props-check", Exchange("props-check", type="direct"), "k")
    with Connection("chibomem://") as conn:
        with conn.Producer() as producer:
            producer.publish({"x": 1}, exchange=queue.exchange, routing_key="k", declare=[queue])
        with conn.SimpleQueue(queue) as simple_queue:
            message = simple_queue.get(timeout=DEADLINE_SECONDS)
            message.ack()

    assert message.payload == {"x": 1}
    assert message.properties["content_type"] == "application/json"
    assert message.properties["content_encoding"] == "utf-8"


def test_unroutable_mandatory_publish_is_refused() -> None:
    memory.register()
    exchange = Exchange("nowhere", type="topic")
    with Connection("chibomem://") as conn:
        with conn.Producer() as producer:
            with pytest.raises(ChannelError, match="NO_ROUTE"):
                producer.publish({}, exchange=exchange, routing_key="k", mandatory=True)


def test_reset_forgets_queues_and_bindings() -> None:
    memory.register()
    state = memory.Transport.global_state
    # reset() is process-wide; put back whatever the module-scoped services had declared
    # so they keep working whichever order the tests run in.
    saved_queues = dict(memory.Channel.queues)
    saved_exchanges = dict(state.exchanges)
    saved_bindings = dict(state.bindings)
    saved_index = {name: set(keys) for name, keys in state.queue_index.items()}
    try:
        queue = Queue("to-forget", Exchange("to-forget", type="direct"), "k")
        with Connection("chibomem://") as conn:
            with conn.Producer() as producer:
                producer.publish({}, exchange=queue.exchange, routing_key="k", declare=[queue])
        assert "to-forget" in memory.Channel.queues

        memory.reset()

        assert memory.Channel.queues == {}
        assert state.exchanges == {}
        assert state.bindings == {}
        assert not state.queue_index
    finally:
        memory.reset()
        memory.Channel.queues.update(saved_queues)
        state.exchanges.update(saved_exchanges)
        state.bindings.update(saved_bindings)
        state.queue_index.update(saved_index)


def test_standalone_rpc_to_service(rpc_client: Any) -> None:
    assert rpc_client.a.add(2, 3) == 5


def test_rpc_between_services(rpc_client: Any) -> None:
    assert rpc_client.b.add_via_a(4, 5) == 9


def test_context_data_travels_with_every_call(services: ServiceRunner) -> None:
    # The caller's identity rides in the context data: to the service called, and on to
    # the service that one calls for it.
    with ClusterRpcProxy(CONFIG, timeout=DEADLINE_SECONDS,
                         context_data={"identity": "signed-token"}) as proxy:
        assert proxy.a.who_calls() == "signed-token"
        assert proxy.b.who_calls_a() == "signed-token"
    with ClusterRpcProxy(CONFIG, timeout=DEADLINE_SECONDS) as anonymous:
        assert anonymous.b.who_calls_a() is None


def test_event_reaches_other_service(rpc_client: Any) -> None:
    received_events.clear()
    payload = {"meeting": 17, "tags": ["a", "b"]}

    assert rpc_client.a.announce(payload) is True

    wait_until(lambda: len(received_events) > 0)
    assert received_events == [payload]


def test_rpc_to_unknown_service_fails_fast(rpc_client: Any) -> None:
    with pytest.raises(UnknownService):
        rpc_client.nobody.anything()


def test_many_sequential_rpc_round_trips(rpc_client: Any) -> None:
    results = [rpc_client.a.add(i, 1) for i in range(200)]

    assert results == [i + 1 for i in range(200)]


class Forwarder:
    """A service that answers only by asking `a`: each of its workers waits on a reply."""

    name = "forwarder"

    a = RpcProxy("a")

    @rpc
    def add_via_a(self, x: int, y: int) -> int:
        return self.a.add(x, y)


def test_replies_reach_a_service_whose_every_worker_waits_on_one(services: ServiceRunner) -> None:
    # nameko consumes requests and replies on one channel with a prefetch of max_workers.
    # RabbitMQ counts the prefetch per consumer; counted over the channel, the requests
    # in hand would hold it all and the replies they wait for would never come.
    workers = 2
    runner = ServiceRunner({**CONFIG, "max_workers": workers})
    runner.add_service(Forwarder)
    runner.start()
    try:
        with ClusterRpcProxy(CONFIG, timeout=DEADLINE_SECONDS) as proxy:
            calls = [proxy.forwarder.add_via_a.call_async(i, 100) for i in range(3 * workers)]
            assert [call.result() for call in calls] == [i + 100 for i in range(3 * workers)]
    except BaseException:
        runner.kill()  # its workers may be waiting for ever: stop would wait with them
        raise
    runner.stop()


def test_each_queue_of_a_channel_holds_its_own_prefetch() -> None:
    memory.register()
    first = Queue("prefetch-first", Exchange("prefetch-check", type="direct"), "first")
    second = Queue("prefetch-second", Exchange("prefetch-check", type="direct"), "second")
    received: list[tuple[str, Any]] = []
    with Connection("chibomem://") as conn:
        with conn.Producer() as producer:
            for n in range(3):
                producer.publish({"n": n}, exchange=first.exchange, routing_key="first",
                                 declare=[first, second])
                producer.publish({"n": n}, exchange=second.exchange, routing_key="second")
        channel = conn.channel()
        held = []

        def keep(name: str) -> Callable[[Any, Any], None]:
            def on_message(body: Any, message: Any) -> None:
                received.append((name, body["n"]))
                held.append(message)
            return on_message

        consumers = [Consumer(channel, queues=[queue], callbacks=[keep(queue.name)])
                     for queue in (first, second)]
        for consumer in consumers:
            consumer.qos(prefetch_count=1)
            consumer.consume()
        for _ in range(6):
            try:
                conn.drain_events(timeout=0.05)
            except TimeoutError:
                break
        # One unacked delivery per queue, not one for the channel.
        assert sorted(received) == [("prefetch-first", 0), ("prefetch-second", 0)]
        held.pop(0).ack()
        conn.drain_events(timeout=DEADLINE_SECONDS)
        assert len(received) == 3
        for message in held:
            message.ack()
        channel.close()
