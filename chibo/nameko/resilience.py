"""nameko's messaging entrypoints made to ride out broker outages and database restarts.

Stock nameko 2.14 kills the whole service container when a worker cannot publish its
RPC reply (`Responder.send_response` raising kombu's `OperationalError`) or cannot ack
its message (`QueueConsumer.ack_message` lets `ConnectionResetError` through: it only
catches amqp's own `ConnectionError`). Both run in the worker's thread, and any error
escaping a worker or managed thread makes `ServiceContainer._handle_thread_exited` kill
the container: `nameko run` exits. Here:

* `ResilientQueueConsumer`: an ack or requeue that fails on a dead connection is logged,
  not raised. The message is unacked, so the broker delivers it again once a consumer
  is back; the consumer itself reconnects (kombu's `ConsumerMixin`). It also says
  whether it is connected now, for the readiness check.
* `ResilientRpc` (`rpc`) and its `ResilientRpcConsumer`: a reply that cannot be sent is
  logged and the request is requeued (or, on a dead connection, left for the broker to
  redeliver). A command's second delivery is answered from the command log
  (`chibo.nameko.commands.CommandRpc` gives every RPC command an id), so nothing is done
  twice. A worker that failed on a transient fault (`is_transient`) answers
  `ServiceUnavailable`, a retryable error the caller can map back (`chibo.errors`),
  rather than a raw `OperationalError`. A ChiboError's reply carries its details
  (`chibo.nameko.remote_errors`), which this module's import teaches the proxies too.
* `ResilientEventHandler` (`event_handler`) and `ResilientRpcProxy` (`RpcProxy`): the
  same consumer under event handlers and the reply listener of RPC proxies.
* `FeedEventHandler` (`feed_handler`): an event handler whose body only offers the
  envelope to an ordered feed. Its deliveries are acked in batches (`multiple=True`),
  with a larger prefetch, on a connection of their own (`BatchingQueueConsumer`): the
  source's log is the truth and the feed heals any gap, so an ack says only "delivered",
  and one ack per delivery was a large share of a consumer's time.

A service must take all of its entrypoints from here: two RPC consumers for one queue
(nameko's and this one) would each route only their own methods, so a service mixing
them refuses to start.
"""

from __future__ import annotations

import errno
import functools
import logging
import socket
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import amqp.exceptions  # type: ignore[import-untyped]  # no stubs published
import eventlet
import kombu.exceptions
import nameko.rpc
from eventlet.semaphore import Semaphore
from kombu import Connection
from nameko.constants import (
    AMQP_SSL_CONFIG_KEY,
    AMQP_URI_CONFIG_KEY,
    DEFAULT_SERIALIZER,
    LOGIN_METHOD_CONFIG_KEY,
    SERIALIZER_CONFIG_KEY,
)
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled, RemoteError
from nameko.messaging import QueueConsumer
from nameko.rpc import ReplyListener, Rpc, RpcConsumer, get_rpc_exchange
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from chibo.errors import ChiboError, ServiceUnavailable
from chibo.nameko.remote_errors import DetailedResponder

log = logging.getLogger(__name__)
#: Seconds an RPC request whose reply could not be sent waits before going back to its
#: queue.
REQUEUE_PAUSE_SECONDS = 1.0

#: Feed handlers (`feed_handler`): deliveries in flight per queue, how many settled
#: deliveries one ack covers at most, and how long a settled delivery waits for others
#: before it is acked anyway. Overridden by the config keys of the same names.
FEED_PREFETCH = 500
FEED_ACK_BATCH = 100
FEED_ACK_DELAY_SECONDS = 0.005
#: How often held-back acks look again whether the feed has worked its backlog down.
BACKLOG_RECHECK_SECONDS = 0.05

#: What a publish, ack or requeue raises when the broker connection is refused, cut or
#: closed under it (socket errors are OSErrors).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.OperationalError,
    amqp.exceptions.ConnectionError,
    amqp.exceptions.RecoverableChannelError,
    OSError,
)

#: Socket errors that mean "the other end is not there just now".
_NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED,
                             errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                             errno.ENETUNREACH, errno.ENOTCONN})

#: A database that cannot be reached or went away mid-transaction (restart, shutdown,
#: a connection terminated by the administrator), or a pool with no connection free.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    sa_exc.PendingRollbackError,
    sa_exc.DisconnectionError,
)


def _driver_errors() -> tuple[type[BaseException], ...]:
    try:
        import psycopg2  # type: ignore[import-untyped]  # no stubs published
    except ImportError:  # pragma: no cover - the distributed mode needs it
        return ()
    return (psycopg2.OperationalError, psycopg2.InterfaceError)


_DRIVER_ERRORS = _driver_errors()


def is_transient(error: BaseException | None) -> bool:
    """True for a fault of the infrastructure that passes by itself: the database or the
    broker refused, cut or timed out a connection. The caller may send the same command
    again; a programming error or a refusal of the domain is never transient."""
    if error is not None and not isinstance(error, ServiceUnavailable) and (
            isinstance(error, ChiboError | HTTPException)
            or getattr(error, "http_status", None) is not None):
        return False  # already an answer for the caller (a refusal, a 404): keep it
    seen = 0
    while error is not None and seen < 5:
        if isinstance(error, ServiceUnavailable):
            return True
        if isinstance(error, RemoteError) and error.exc_type == ServiceUnavailable.__name__:
            return True  # another service's answer, through a proxy that kept it raw
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.DBAPIError) and isinstance(error.orig, sqlite3.Error):
            # SQLite's OperationalError also says "no such table": only a busy file passes.
            return "locked" in str(error.orig) or "busy" in str(error.orig)
        if isinstance(error, DATABASE_ERRORS + _DRIVER_ERRORS):
            return True
        if isinstance(error, kombu.exceptions.OperationalError | amqp.exceptions.ConnectionError
                      | amqp.exceptions.RecoverableChannelError | ConnectionError
                      | socket.timeout | socket.gaierror):
            return True
        if isinstance(error, OSError) and error.errno in _NETWORK_ERRNOS:
            return True
        # An error raised while handling one of these (`raise X from exc`, or implicitly)
        error = error.__cause__ or error.__context__
        seen += 1
    return False


def unavailable_from(error: BaseException) -> ServiceUnavailable:
    """The caller-facing error for a transient fault, naming which side failed (never a
    host or a connection string)."""
    if isinstance(error, ServiceUnavailable):
        return error
    side = "message broker" if _is_broker(error) else "database"
    return ServiceUnavailable(
        "Dịch vụ tạm thời không sẵn sàng, xin thử lại sau ít giây (service temporarily "
        f"unavailable: its {side} cannot be reached; retry shortly)", cause=side)


def _is_broker(error: BaseException | None) -> bool:
    for _ in range(5):
        if error is None:
            break
        if isinstance(error, DATABASE_ERRORS + _DRIVER_ERRORS):
            return False
        if isinstance(error, kombu.exceptions.OperationalError | amqp.exceptions.AMQPError):
            return True
        error = error.__cause__ or error.__context__
    return False


class ResilientQueueConsumer(QueueConsumer):
    """nameko's consumer, whose acks and requeues never kill the container, and which
    knows whether it is connected."""

    def __init__(self) -> None:
        super().__init__()
        self.connected = False

    def ack_message(self, message: Any) -> None:
        try:
            super().ack_message(message)
        except BROKER_ERRORS as exc:
            # Unacked on a dead connection: the broker gives the message to a consumer
            # again, whose answer comes from the command log.
            log.warning("could not ack message %s (%s: %s); the broker will deliver it "
                        "again", _describe(message), type(exc).__name__, exc)

    def requeue_message(self, message: Any) -> None:
        try:
            super().requeue_message(message)
        except BROKER_ERRORS as exc:
            log.warning("could not requeue message %s (%s: %s); the broker will deliver it "
                        "again", _describe(message), type(exc).__name__, exc)

    def consume(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from super().consume(*args, **kwargs)
        finally:
            self.connected = False  # lost, or stopping: either way not consuming now

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any,
                         **kwargs: Any) -> None:
        self.connected = True
        if self._consumers_ready.ready():
            log.info("%s consuming again after a broker outage", self.container.service_name)
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def on_connection_error(self, exc: Exception, interval: float) -> None:
        self.connected = False
        super().on_connection_error(exc, interval)


@dataclass
class AckWindow:
    """Which deliveries of one channel may be acked with a single `multiple=True` ack.

    A multiple ack covers every unacked delivery up to its tag, so it may name only a
    tag below every delivery still being handled; and the broker refuses (closing the
    channel) a tag that is not outstanding, so the tag it names must be one settled by
    an ack, never one rejected. Tags count up from 1 per channel: on another channel
    (a reconnection) everything known of the old one is forgotten, as the broker has
    put its unacked deliveries back in their queues."""

    channel: Any = None
    in_hand: set[int] = field(default_factory=set)
    settled: list[int] = field(default_factory=list)

    def delivered(self, channel: Any, tag: int) -> None:
        if channel is not self.channel:
            self.forget()
            self.channel = channel
        self.in_hand.add(tag)

    def acked(self, channel: Any, tag: int) -> int:
        """Record a delivery handled; returns how many wait for an ack (0 when the
        delivery belongs to a channel forgotten since)."""
        if channel is not self.channel or tag not in self.in_hand:
            return 0
        self.in_hand.discard(tag)
        self.settled.append(tag)
        return len(self.settled)

    def rejected(self, channel: Any, tag: int) -> None:
        if channel is self.channel:
            self.in_hand.discard(tag)

    def take(self) -> int | None:
        """The tag to ack with `multiple=True` now, if any; it covers every delivery
        settled below the oldest one still in hand."""
        limit = min(self.in_hand) if self.in_hand else None
        ready = [t for t in self.settled if limit is None or t < limit]
        if not ready:
            return None
        self.settled = [t for t in self.settled if limit is not None and t > limit]
        return max(ready)

    def forget(self) -> None:
        self.channel, self.in_hand, self.settled = None, set(), []


class BatchingQueueConsumer(ResilientQueueConsumer):
    """The consumer of `feed_handler`s: acks in batches, with a larger prefetch.

    A distinct class, so nameko shares it only among feed handlers: it has its own
    connection and channel, and a multiple ack there can never cover an RPC request or
    an ordinary event still being handled. A batch is acked when it is full or after
    `FEED_ACK_DELAY_SECONDS`, so no delivery stays unacked once traffic stops. A lost
    connection forgets its tags: the broker delivers those messages again and the feed
    drops the duplicates."""

    def __init__(self) -> None:
        super().__init__()
        self.window = AckWindow()
        self._stopping = False
        self._timer: Any = None
        self._flushing = Semaphore(1)

    def _setting(self, key: str, default: float) -> float:
        return float(self.container.config.get(key, default))

    @property
    def prefetch_count(self) -> int:
        return int(self._setting("FEED_PREFETCH", FEED_PREFETCH))

    def handle_message(self, provider: Any, body: Any, message: Any) -> None:
        # In the consumer's thread, in delivery order: the tags are seen as they come.
        if self.batching:
            self.window.delivered(message.channel, message.delivery_tag)
        super().handle_message(provider, body, message)

    @functools.cached_property
    def batching(self) -> bool:
        """Only AMQP brokers honour `multiple`: kombu's virtual transports (the
        in-process bus) ack just the tag named, so there every delivery is acked alone."""
        return bool(Connection(self.amqp_uri).transport.driver_type == "amqp")

    def ack_message(self, message: Any) -> None:
        if not self.batching:
            super().ack_message(message)
            return
        waiting = self.window.acked(message.channel, message.delivery_tag)
        if waiting >= self._setting("FEED_ACK_BATCH", FEED_ACK_BATCH):
            self.flush_acks()
        elif waiting:
            self._schedule_flush()

    def requeue_message(self, message: Any) -> None:
        self.window.rejected(message.channel, message.delivery_tag)
        super().requeue_message(message)
        self._schedule_flush()  # it may have been all that held a batch back

    def _schedule_flush(self, delay: float | None = None) -> None:
        if self._timer is None:
            self._timer = eventlet.spawn_after(
                self._setting("FEED_ACK_DELAY_SECONDS", FEED_ACK_DELAY_SECONDS)
                if delay is None else delay, self._flush_on_timer)

    def _running_backlogged(self) -> bool:
        # Stopping: whatever was handled is acked, backlog or not.
        return not self._stopping and self._backlogged()

    def _flush_on_timer(self) -> None:
        self._timer = None
        self.flush_acks()
        if self.window.settled:
            self._schedule_flush()  # held back by a delivery still in hand

    def _backlogged(self) -> bool:
        """Whether a feed of this service holds more events than it should take now
        (`Feed.backlogged`): its acks then wait, and so does the broker."""
        return any(dependency.backlogged() for dependency in self.container.dependencies
                   if callable(getattr(dependency, "backlogged", None)))

    def flush_acks(self) -> None:
        """Ack every delivery that can be acked now, in one frame; none while a feed is
        backlogged (held back, the acks keep the broker's deliveries to the prefetch)."""
        if self._running_backlogged():
            self._schedule_flush(BACKLOG_RECHECK_SECONDS)
            return
        # Taken and sent under one lock: an ack overtaken by a later one would name a
        # tag the later one already covered, and the broker closes the channel for that.
        with self._flushing:
            channel = self.window.channel
            tag = self.window.take()
            if tag is None:
                return
            if channel is None or not channel.connection:
                self.window.forget()  # the broker has taken them back already
                return
            try:
                channel.basic_ack(tag, multiple=True)
            except BROKER_ERRORS as exc:
                self.window.forget()
                log.warning("could not ack deliveries up to %s (%s: %s); the broker will "
                            "deliver them again", tag, type(exc).__name__, exc)

    def on_consume_ready(self, connection: Any, channel: Any, consumers: Any,
                         **kwargs: Any) -> None:
        self.window.forget()  # a new channel: the old one's tags mean nothing now
        super().on_consume_ready(connection, channel, consumers, **kwargs)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def stop(self) -> None:
        self._stopping = True
        self.flush_acks()
        self._cancel_timer()
        super().stop()

    def kill(self) -> None:
        self._cancel_timer()  # what is unacked goes back to the queue with the connection
        super().kill()


class ResilientRpcConsumer(RpcConsumer):
    """RPC requests whose reply cannot be sent are left for another delivery."""

    queue_consumer = ResilientQueueConsumer()

    def setup(self) -> None:
        mixed = [ext for ext in self.container.shared_extensions.values()
                 if isinstance(ext, RpcConsumer) and not isinstance(ext, ResilientRpcConsumer)]
        if mixed:
            raise RuntimeError(
                f"{self.container.service_name} mixes nameko.rpc.rpc with "
                "chibo.nameko.resilience.rpc: two consumers of one RPC queue would each "
                "answer only their own methods; take every @rpc from chibo.nameko.resilience")
        super().setup()

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        # As nameko's RpcConsumer.handle_result, with the reply's failure caught and a
        # ChiboError's details in the reply.
        config = self.container.config
        responder = DetailedResponder(
            config[AMQP_URI_CONFIG_KEY], get_rpc_exchange(config),
            config.get(SERIALIZER_CONFIG_KEY, DEFAULT_SERIALIZER), message,
            ssl=config.get(AMQP_SSL_CONFIG_KEY), login_method=config.get(LOGIN_METHOD_CONFIG_KEY))
        try:
            result, exc_info = responder.send_response(result, exc_info)
        except BROKER_ERRORS as exc:
            log.warning("could not send the reply to %s (%s: %s); the request goes back to "
                        "the queue and its command id answers it again",
                        _describe(message), type(exc).__name__, exc)
            # A pause first: while only the reply side is broken, the request would
            # otherwise come straight back and spin.
            eventlet.sleep(REQUEUE_PAUSE_SECONDS)
            self.queue_consumer.requeue_message(message)
            return result, exc_info
        self.queue_consumer.ack_message(message)
        return result, exc_info


class ResilientRpc(Rpc):
    """`@rpc` on `ResilientRpcConsumer`; a transient fault answers `ServiceUnavailable`."""

    rpc_consumer = ResilientRpcConsumer()

    def handle_message(self, body: Any, message: Any) -> None:
        try:
            super().handle_message(body, message)
        except ContainerBeingKilled:  # pragma: no cover - nameko requeues it already
            self.rpc_consumer.requeue_message(message)

    def handle_result(self, message: Any, worker_ctx: Any, result: Any, exc_info: Any
                      ) -> tuple[Any, Any]:
        if exc_info is not None and is_transient(exc_info[1]):
            # Tell the caller it may try again, with the same command id, instead of
            # handing it a raw OperationalError it cannot tell from a bug.
            try:
                raise unavailable_from(exc_info[1]) from exc_info[1]
            except ServiceUnavailable:
                exc_info = sys.exc_info()
        return super().handle_result(message, worker_ctx, result, exc_info)


rpc = ResilientRpc.decorator


class ResilientEventHandler(EventHandler):
    """`@event_handler` whose ack never kills the container."""

    queue_consumer = ResilientQueueConsumer()


event_handler = ResilientEventHandler.decorator


class FeedEventHandler(ResilientEventHandler):
    """`@event_handler` for a body that only offers the envelope to a feed (`Feed.offer`):
    acked in batches on `BatchingQueueConsumer`. A delivery handled but not acked yet
    when the connection goes comes again, so the body must take a second delivery
    as a no-op, as the feed does."""

    queue_consumer = BatchingQueueConsumer()


feed_handler = FeedEventHandler.decorator


class ResilientReplyListener(ReplyListener):
    """The reply queue of an RPC proxy, on the resilient consumer."""

    queue_consumer = ResilientQueueConsumer()


class ResilientRpcProxy(nameko.rpc.RpcProxy):
    """`RpcProxy` whose reply listener survives a broker outage."""

    rpc_reply_listener = ResilientReplyListener()


#: What services import in place of nameko's.
RpcProxy = ResilientRpcProxy


def broker_connected(container: Any) -> bool | None:
    """Whether every consumer of the container is connected to the broker now; None
    when it has none."""
    consumers = [ext for ext in container.shared_extensions.values()
                 if isinstance(ext, ResilientQueueConsumer)]
    if not consumers:
        return None
    return all(consumer.connected for consumer in consumers)


def _describe(message: Any) -> str:
    try:
        routing_key = message.delivery_info.get("routing_key")
        correlation_id = message.properties.get("correlation_id")
    except Exception:  # noqa: BLE001 - only for the log line
        return "?"
    return f"{routing_key} (correlation id {correlation_id})"
