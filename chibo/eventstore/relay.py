"""The outbox relay: publishes a service's log to the bus in position order.

Each event goes to the topic exchange `{source}.events` with the event type as
routing key, exactly where nameko's EventDispatcher would put it, so consumers
are ordinary `@event_handler`s. The cursor moves only after the broker has
confirmed every message of a batch; a crash in between republishes the batch,
and consumers skip what they already applied.

One round is one transaction: it records the batch the previous round had confirmed
and reads the next one. Between rounds the relay keeps its cursor in memory (it is the
cursor's only writer while it leads); after any failure it forgets it and reads the
database's again, as a restarted process would.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from amqp.method_framing import frame_writer  # type: ignore[import-untyped]  # no stubs
from kombu import Connection, Exchange
from kombu.utils import json
from sqlalchemy import Connection as DbConnection
from sqlalchemy import CursorResult, Engine, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from chibo import metrics
from chibo.contracts import Catalogue
from chibo.eventstore.store import RecordedEvent, row_to_event
from chibo.eventstore.tables import events, relay_cursor

log = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 30.0


class PublishNotConfirmed(RuntimeError):
    pass


class _WriteBuffer:
    """Stands in for py-amqp's transport in its frame writer: keeps the frames (copied:
    the writer reuses one buffer) and sends them on in writes of about `limit` bytes."""

    def __init__(self, transport: Any, limit: int = 256 * 1024) -> None:
        self.transport = transport
        self.limit = limit
        self.chunks: list[bytes] = []
        self.size = 0

    def write(self, data: Any) -> None:
        chunk = bytes(data)
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self.chunks:
            self.transport.write(b"".join(self.chunks))
            self.chunks, self.size = [], 0


def event_exchange(source: str) -> Exchange:
    """The exchange nameko's EventDispatcher uses for `source` (durable topic)."""
    return Exchange(f"{source}.events", type="topic", durable=True, delivery_mode=2)


def message_headers(envelope_meta: dict[str, Any], event_id: str, source: str) -> dict[str, Any]:
    """nameko context headers, so a handler's own appends carry the causation chain."""
    return {
        "nameko.correlation_id": envelope_meta.get("correlation_id"),
        "nameko.causation_id": event_id,
        "nameko.actor": envelope_meta.get("actor"),
        "nameko.call_id_stack": [f"{source}.relay.{event_id}"],
    }


class Relay:
    def __init__(self, source: str, engine: Engine, amqp_uri: str, catalogue: Catalogue,
                 batch_size: int = 500, cursor_name: str = "bus") -> None:
        self.source = source
        self.catalogue = catalogue
        self.engine = engine
        self.factory: sessionmaker[Session] = sessionmaker(engine)
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.cursor_name = cursor_name
        self.exchange = event_exchange(source)
        self._connection: Connection | None = None
        self._channel: Any = None
        # Delivery tags count up from 1 per channel; the broker acks either one
        # tag or, with `multiple`, every tag up to the one it names.
        self._next_tag = 1
        self._acked_upto = 0
        self._acked: set[int] = set()
        self._nacked = False
        self._leadership: DbConnection | None = None
        #: Where the next batch starts, as far as this relay knows; None: ask the database.
        self._cursor: int | None = None
        #: The end of a batch the broker confirmed, not yet recorded in the cursor row.
        self._confirmed: int | None = None

    # -- leadership ---------------------------------------------------------------

    def lead(self) -> bool:
        """True when this process may publish: one relay per service log at a time.

        On PostgreSQL a session advisory lock elects one relay among the service's
        instances; if its process dies, the lock goes with its connection.
        """
        if self.engine.dialect.name != "postgresql":
            return True
        if self._leadership is not None and not self._leadership.closed:
            return True
        connection = self.engine.connect()
        key = zlib.crc32(f"chibo-relay:{self.source}:{self.cursor_name}".encode())
        got = connection.exec_driver_sql("SELECT pg_try_advisory_lock(%s)", (key,)).scalar()
        connection.commit()
        if got:
            self._leadership = connection
            # Another instance may have led meanwhile: start from the database's cursor.
            self._cursor = self._confirmed = None
            return True
        connection.close()
        return False

    # -- one round ----------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish the next batch after the cursor; returns how many were confirmed."""
        with self.factory() as session, session.begin():
            if self._confirmed is not None:
                self.advance_cursor(session, self._confirmed)
            if self._cursor is None:
                self._cursor = self.cursor(session)
            rows = session.execute(
                select(events).where(events.c.position > self._cursor)
                .order_by(events.c.position).limit(self.batch_size)).all()
        self._confirmed = None  # recorded by the commit above
        if not rows:
            return 0
        batch = [row_to_event(r) for r in rows]
        self._publish_confirmed(batch)
        self._cursor = self._confirmed = batch[-1].position
        metrics.RELAY_PUBLISHED.labels(self.source).inc(len(batch))
        metrics.RELAY_POSITION.labels(self.source).set(batch[-1].position)
        return len(batch)

    def cursor(self, session: Session) -> int:
        value = session.execute(select(relay_cursor.c.position)
                                .where(relay_cursor.c.name == self.cursor_name)).scalar()
        return int(value or 0)

    def advance_cursor(self, session: Session, position: int) -> None:
        # An UPDATE without RETURNING: the session answers with the cursor's result.
        moved = cast("CursorResult[Any]", session.execute(
            update(relay_cursor).where(relay_cursor.c.name == self.cursor_name)
            .where(relay_cursor.c.position < position).values(position=position))).rowcount
        if not moved and session.execute(
                select(relay_cursor.c.name)
                .where(relay_cursor.c.name == self.cursor_name)).first() is None:
            session.execute(insert(relay_cursor).values(name=self.cursor_name,
                                                        position=position))

    def record_confirmed(self) -> None:
        """Record the last confirmed batch now (on stopping), not with the next round."""
        if self._confirmed is not None:
            with self.factory() as session, session.begin():
                self.advance_cursor(session, self._confirmed)
            self._confirmed = None

    # -- publishing ---------------------------------------------------------------

    def _publish_confirmed(self, batch: list[RecordedEvent]) -> None:
        channel = self._ensure_channel()
        assert self._connection is not None
        confirms = self._connection.transport.driver_type == "amqp"
        first_tag = self._next_tag
        with self._coalesced_writes(confirms):
            self._publish_batch(channel, batch)
        if not confirms:
            return  # the in-memory bus hands messages over synchronously
        last_tag = first_tag + len(batch) - 1
        self._next_tag = last_tag + 1
        # Many confirms in flight cost almost nothing against none; waiting for
        # each in turn would cap the relay near one commit round trip per event.
        while not self._all_confirmed(first_tag, last_tag):
            self._connection.drain_events(timeout=CONFIRM_TIMEOUT_SECONDS)
        if self._nacked:
            raise PublishNotConfirmed("the broker refused (nacked) a message of the batch")
        self._acked = {t for t in self._acked if t > last_tag}

    def _publish_batch(self, channel: Any, batch: list[RecordedEvent]) -> None:
        for event in batch:
            # Straight to the channel, as kombu's Producer would publish it (JSON, UTF-8,
            # persistent, nameko's headers), without the Producer's per-message
            # preparation and checks.
            body = json.dumps(event.envelope(self.source, self.catalogue)).encode()
            message = channel.prepare_message(
                body, None, "application/json", "utf-8",
                message_headers(event.metadata, event.event_id, self.source),
                {"delivery_mode": 2})
            channel.basic_publish(message, exchange=self.exchange.name, routing_key=event.type)

    @contextmanager
    def _coalesced_writes(self, enabled: bool) -> Iterator[None]:
        """The frames of a batch go to the socket in a few large writes instead of one
        write per message (a third of the relay's time was those system calls). Only
        the relay uses its connection, so nothing else writes in between."""
        if not enabled:
            yield
            return
        assert self._connection is not None
        broker = self._connection.connection  # py-amqp's connection under kombu's
        direct = broker.frame_writer
        buffer = _WriteBuffer(broker.transport)
        broker.frame_writer = frame_writer(broker, buffer)
        try:
            yield
        finally:
            broker.frame_writer = direct
        buffer.flush()  # only when every frame was written: else the batch is redone

    def _all_confirmed(self, first: int, last: int) -> bool:
        return self._nacked or all(t <= self._acked_upto or t in self._acked
                                   for t in range(first, last + 1))

    def _ensure_channel(self) -> Any:
        if self._channel is not None:
            return self._channel
        connection = Connection(self.amqp_uri, connect_timeout=5)
        connection.ensure_connection(max_retries=1)
        channel = connection.channel()
        if connection.transport.driver_type == "amqp":
            channel.confirm_select()
            channel.events["basic_ack"].add(self._on_ack)
            channel.events["basic_nack"].add(self._on_nack)
        self.exchange(channel).declare()
        self._connection = connection
        self._channel = channel
        self._next_tag, self._acked_upto, self._acked, self._nacked = 1, 0, set(), False
        return channel

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._acked_upto = max(self._acked_upto, delivery_tag)
        else:
            self._acked.add(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def reset(self) -> None:
        """Drop the broker connection after a failure; the next round reconnects, and
        starts from the database's cursor (a batch confirmed but not yet recorded goes
        out again, and consumers drop it)."""
        self._cursor = self._confirmed = None
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001 - it is already broken
                log.debug("closing a broken connection failed", exc_info=True)
        self._connection = None
        self._channel = None

    def close(self) -> None:
        try:
            self.record_confirmed()
        except Exception:  # noqa: BLE001 - stopping anyway; the batch goes out again
            log.warning("could not record the relay's cursor on stopping", exc_info=True)
        self.reset()
        if self._leadership is not None:
            self._leadership.close()
            self._leadership = None
