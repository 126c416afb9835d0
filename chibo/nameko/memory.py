"""In-process message transport for running several nameko services in one process.

Select it with ``AMQP_URI = "chibomem://"`` after calling :func:`register`. Every
connection in the process shares one broker state, so services started by one
``ServiceRunner``, a ``ClusterRpcProxy`` and ``event_dispatcher()`` can all reach each
other with no RabbitMQ running.

kombu's own ``memory://`` transport nearly does this, but nameko needs three things it
does not give:

* nameko's RPC entrypoint reads ``message.properties["content_type"]`` to encode the
  reply the same way as the request; the virtual transports keep content type beside
  the properties instead of in them, so every RPC reply failed with ``KeyError``.
* every hop waited for a once-a-second poll.
* an RPC to a service nobody runs was silently dropped, so the caller hung instead of
  getting nameko's ``UnknownService``.
* the virtual transports count the prefetch over the whole channel, where RabbitMQ
  counts it per consumer (kombu's ``Consumer.qos`` asks for ``global=False``). nameko
  consumes a service's RPC requests and its RPC replies on one channel, with a
  prefetch of ``max_workers``: once every worker was waiting on an RPC reply, the
  requests in hand used the whole prefetch, the replies were never delivered, and
  the service stopped for good.

The state is separate from ``memory://``, so other code in the process that uses
kombu's memory transport cannot see or disturb these queues.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from queue import Empty, Queue
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, memory, virtual
from kombu.utils.scheduling import FairCycle

__all__ = ["ALIAS", "POLLING_INTERVAL", "Channel", "Transport", "register", "reset"]

#: URI scheme under which :func:`register` installs the transport.
ALIAS = "chibomem"

#: Seconds a consumer sleeps after finding all its queues empty. The virtual
#: transports cannot be woken by a put, so this is the delay each message hop may add.
#: kombu's 1 s made every event and RPC leg take up to a second; 1 ms keeps hops fast
#: while each idle consumer still yields to the eventlet hub about 1000 times a second.
POLLING_INTERVAL = 0.001


class PerConsumerQoS(virtual.QoS):
    """The prefetch counted per queue consumed, as RabbitMQ counts it per consumer.

    Each queue of the channel may hold up to ``prefetch_count`` unacked deliveries,
    whatever the others hold; nameko gives each consumer of a channel the same count.
    """

    def __init__(self, channel: Any, prefetch_count: int = 0) -> None:
        super().__init__(channel, prefetch_count)
        self._queue_of: dict[Any, str] = {}
        self._in_hand: Counter[str] = Counter()

    def can_consume(self) -> bool:
        """Whether any queue of the channel may take a delivery now."""
        return any(self.can_consume_from(queue) for queue in self.channel._active_queues)

    def can_consume_from(self, queue: str) -> bool:
        return not self.prefetch_count or self._in_hand[queue] < self.prefetch_count

    def append(self, message: Any, delivery_tag: Any) -> None:
        super().append(message, delivery_tag)
        queue = self.channel.delivering_from
        if queue is not None:
            self._queue_of[delivery_tag] = queue
            self._in_hand[queue] += 1

    def ack(self, delivery_tag: Any) -> None:
        self._settled(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        self._settled(delivery_tag)
        super().reject(delivery_tag, requeue=requeue)

    def restore_unacked(self) -> Any:
        self._queue_of.clear()
        self._in_hand.clear()
        return super().restore_unacked()

    def _settled(self, delivery_tag: Any) -> None:
        queue = self._queue_of.pop(delivery_tag, None)
        if queue is not None:
            self._in_hand[queue] -= 1


class Channel(memory.Channel):
    """Memory channel whose messages look the way nameko expects from RabbitMQ."""

    QoS = PerConsumerQoS

    #: The queue a delivery is being taken from, for the QoS to count it against.
    delivering_from: str | None = None

    # Own class-level dicts rather than memory.Channel's, so this broker is shared by
    # every chibomem connection in the process but isolated from memory:// users.
    queues: dict[str, Queue[Any]] = {}
    events: defaultdict[str, set[Any]] = defaultdict(set)

    def prepare_message(
        self,
        body: Any,
        priority: int | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
        headers: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Build the stored message, also putting the content type into its properties.

        With RabbitMQ these are AMQP basic properties, and nameko's RPC reply path
        looks them up there to choose the reply serializer.
        """
        message: dict[str, Any] = super().prepare_message(
            body, priority, content_type, content_encoding, headers, properties
        )
        message["properties"]["content_type"] = content_type
        message["properties"]["content_encoding"] = content_encoding
        return message

    def basic_publish(
        self, message: dict[str, Any], exchange: str, routing_key: str, **kwargs: Any
    ) -> Any:
        """Publish, refusing unroutable ``mandatory`` messages like RabbitMQ does.

        nameko publishes RPC requests as mandatory and turns a ``NO_ROUTE`` channel
        error into ``UnknownService``; without this the request vanished and the
        caller waited for a reply forever.
        """
        if kwargs.get("mandatory") and exchange and not self._lookup(exchange, routing_key):
            raise ChannelError(
                f"NO_ROUTE - no queue bound to exchange {exchange!r} "
                f"with routing key {routing_key!r}"
            )
        return super().basic_publish(message, exchange, routing_key, **kwargs)

    def _get_and_deliver(self, queue: str, callback: Any) -> None:
        """Deliver from `queue` unless its consumer already holds its prefetch; Empty
        makes the channel's cycle try its next queue."""
        if not self.qos.can_consume_from(queue):
            raise Empty()
        message = self._get(queue)
        self.delivering_from = queue
        try:
            callback(message, queue)
        finally:
            self.delivering_from = None


class Transport(memory.Transport):
    """kombu transport for ``chibomem://``: kombu's memory transport, tuned for nameko."""

    Channel = Channel

    # One broker per process, shared by every connection, as memory:// does; but not
    # the same object as memory://'s, for the isolation described on Channel.
    global_state = virtual.BrokerState()

    polling_interval = POLLING_INTERVAL

    # Without these, kombu counts every ChannelError as a recoverable connection error:
    # it reconnects, retries, then re-raises it as OperationalError, which nameko does
    # not recognise as NO_ROUTE. Nothing here can be cured by reconnecting anyway.
    recoverable_connection_errors: tuple[type[BaseException], ...] = ()
    recoverable_channel_errors: tuple[type[BaseException], ...] = ()

    driver_name = ALIAS

    #: kombu declares it None on the class; every instance has one from __init__ on.
    cycle: FairCycle

    # kombu's base Transport declares drain_events(connection, **kwargs), but the virtual
    # Transport this extends (kombu's own memory transport included) takes the same
    # (connection, timeout) as here; kombu's callers pass nothing else.
    def drain_events(  # type: ignore[override]
        self, connection: Any, timeout: float | None = None
    ) -> None:
        """Deliver one message, sleeping between polls until one arrives or time is up.

        Same loop as kombu's virtual transport, except for how it sleeps: kombu binds
        ``time.sleep`` when it is imported, so if kombu was imported before
        ``eventlet.monkey_patch()`` its sleep blocks the whole hub and a waiting RPC
        client starves the services it waits for. Looking ``time.sleep`` up on each
        call picks up the green version whenever patching has happened.
        """
        started = time.monotonic()
        polling_interval = self.polling_interval
        if timeout and polling_interval and polling_interval > timeout:
            polling_interval = timeout
        while True:
            try:
                self.cycle.get(self._deliver, timeout=timeout)
            except Empty:
                if timeout is not None and time.monotonic() - started >= timeout:
                    # socket.timeout, the name kombu's callers catch, is this class.
                    raise TimeoutError() from None
                if polling_interval is not None:
                    time.sleep(polling_interval)
            else:
                return


def register() -> None:
    """Make ``chibomem://`` resolvable by kombu, and therefore usable as nameko's AMQP_URI.

    Explicit rather than done at import, so importing this module has no global effect.
    Safe to call any number of times.
    """
    TRANSPORT_ALIASES[ALIAS] = f"{Transport.__module__}:{Transport.__qualname__}"


def reset() -> None:
    """Forget every queue, message, exchange and binding of the chibomem broker.

    Meant for between tests, so one test's queues, leftover messages and bindings
    (reply queues of finished proxies are never deleted) cannot leak into the next.
    Call it only while no container or proxy is connected: a running consumer's
    queues and bindings vanish under it and it silently stops receiving.

    Everything is cleared in place because live connections hold these very objects.
    """
    Channel.queues.clear()
    Channel.events.clear()
    Transport.global_state.clear()
