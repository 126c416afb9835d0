"""An ordered feed: a consumer that applies every event of each source exactly once, in order.

The bus is only the fast path. The truth is each source's log, and the feed
keeps a watermark per source: the last position applied with no gap before it.
The watermark and the effect of the events below it are written in one
transaction, so a redelivered event is recognised and skipped. An event that
never arrives (dropped, published before the queue existed, acked by a handler
that failed) leaves a gap, which the feed heals by reading the missing range
from the source's log; when the bus is quiet it asks the log anyway.

A gap is healed as a range: one read covers everything from the watermark up to
the newest buffered event, however many positions are missing in between. With
several instances of a service consuming one queue, each instance receives only
some of a source's events and its buffer holds every other position or so; a
heal per missing position would cost a round trip per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from chibo import metrics
from chibo.contracts import Catalogue
from chibo.eventstore.tables import feed_watermarks

log = logging.getLogger(__name__)

Envelope = dict[str, Any]
#: Applies one event (already upcast) inside the feed's transaction.
Projector = Callable[[Session, Envelope], None]
#: Applies a run of consecutive events at once (for projections that batch their reads
#: and writes); must have the same effect as applying them one by one.
RunProjector = Callable[[Session, list[Envelope]], None]
#: Reads a source's log: (source, after position, limit) -> envelopes in order.
Fetch = Callable[[str, int, int], list[Envelope]]
#: Seconds from an arbitrary origin that never go back (time.monotonic by default).
TimeSource = Callable[[], float]


class OrderedFeed:
    def __init__(self, consumer: str, sources: Sequence[str], factory: sessionmaker[Session],
                 catalogue: Catalogue, project: Projector, fetch: Fetch, batch_size: int = 500,
                 gap_grace_seconds: float = 0.5, recheck_seconds: float = 0.05,
                 max_pending: int = 50_000,
                 project_run: RunProjector | None = None,
                 time_source: TimeSource = time.monotonic) -> None:
        self.consumer = consumer
        self.time_source = time_source
        self.project_run = project_run
        self.sources = list(sources)
        self.factory = factory
        self.catalogue = catalogue
        self.project = project
        self.fetch = fetch
        self.batch_size = batch_size
        self.gap_grace_seconds = gap_grace_seconds
        self.recheck_seconds = recheck_seconds
        self.max_pending = max_pending
        self._pending: dict[str, dict[int, Envelope]] = {s: {} for s in self.sources}
        self._known: dict[str, int] = {}
        self._gap_since: dict[str, float] = {}
        self._rechecked_at: dict[str, float] = {}
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._rows_ready = False

    # -- the fast path ------------------------------------------------------------

    def offer(self, envelope: Envelope) -> None:
        """Take an event from the bus. It is applied later, in order, by `step`."""
        source, position = envelope["source"], int(envelope["position"])
        if source not in self._pending:
            return
        if position <= self._known.get(source, 0) or position in self._pending[source]:
            metrics.FEED_DUPLICATES.labels(self.consumer, source).inc()
            return
        if len(self._pending[source]) >= self.max_pending:
            return  # memory is bounded; the log still has it and the gap will be healed
        self._pending[source][position] = envelope

    def step(self) -> bool:
        """Apply what can be applied; heal gaps older than the grace period.

        Returns True when anything was applied.
        """
        progressed = False
        for source in self.sources:
            if self._retry_at.get(source, 0) > self.time_source():
                continue
            try:
                progressed |= self._step_source(source)
            except Exception:  # noqa: BLE001 - a failing source must not stop the others
                self._failed(source)
        return progressed

    def _step_source(self, source: str) -> bool:
        pending = self._pending[source]
        if not pending:
            return False
        watermark = self._known.get(source)
        if watermark is None:
            watermark = self.watermark(source)
        for position in [p for p in pending if p <= watermark]:
            del pending[position]
        run: list[Envelope] = []
        while (watermark + len(run) + 1) in pending and len(run) < self.batch_size:
            run.append(pending[watermark + len(run) + 1])
        if run:
            self._gap_since.pop(source, None)
            self._apply(source, run)
            for envelope in run:
                pending.pop(int(envelope["position"]), None)
            return True
        if not pending:
            return False
        now = self.time_source()
        if now - self._rechecked_at.get(source, float("-inf")) >= self.recheck_seconds:
            # With competing instances the missing event most likely went to the other
            # one, which has applied it by now: its watermark row says so at once,
            # where waiting out the grace would hold this instance half a second per gap.
            self._rechecked_at[source] = now
            fresh = self.watermark(source)
            if fresh > watermark:
                self._gap_since.pop(source, None)
                self._step_source(source)
                return True
        # The missing event may still be on its way: give the bus a moment first.
        since = self._gap_since.setdefault(source, now)
        if now - since < self.gap_grace_seconds:
            return False
        self._gap_since.pop(source, None)
        # Another instance sharing this database may have applied the missing events
        # meanwhile; a read of the watermark row is far cheaper than a read of the log.
        fresh = self.watermark(source)
        for position in [p for p in pending if p <= fresh]:
            del pending[position]
        if len(pending) == (max(pending) - fresh if pending else 0):
            return fresh > watermark  # nothing missing below the newest buffered event
        # Still a hole somewhere: heal all of it now. Waiting for another grace would
        # let two instances take turns applying one event per grace period.
        return self._heal(source) or fresh > watermark

    def _heal(self, source: str) -> bool:
        """Read the log from the watermark up to the newest buffered event, a batch at
        a time, and apply it; the buffered events it covers are dropped unapplied."""
        pending = self._pending[source]
        newest = max(pending)
        progressed = False
        watermark = self._known[source]
        while watermark < newest:
            healed = self.fetch(source, watermark, min(self.batch_size, newest - watermark))
            metrics.FEED_HEAL_READS.labels(self.consumer, source).inc()
            metrics.FEED_HEALED.labels(self.consumer, source).inc(len(healed))
            progressed |= self._apply(source, healed) > 0
            for position in [p for p in pending if p <= self._known[source]]:
                del pending[position]
            if self._known[source] <= watermark:
                break  # the log has nothing past the watermark yet: stop rather than spin
            watermark = self._known[source]
        return progressed

    # -- the slow path: read the source's log ------------------------------------

    def catch_up(self, source: str) -> int:
        """Apply everything the source's log has after the watermark.

        Several workers may catch up at once (each command that needs fresh facts
        does). A batch another worker applied first applies nothing here, but the
        log may go on past it: carry on from the watermark that worker left."""
        total = 0
        while True:
            after = self.watermark(source)
            batch = self.fetch(source, after, self.batch_size)
            if not batch:
                return total
            applied = self._apply(source, batch)
            metrics.FEED_HEALED.labels(self.consumer, source).inc(applied)
            total += applied
            if applied == 0 and self._known[source] <= after:
                return total  # nothing here could be applied: stop rather than spin

    def catch_up_all(self) -> int:
        total = 0
        for source in self.sources:
            if self._retry_at.get(source, 0) > self.time_source():
                continue
            try:
                total += self.catch_up(source)
            except Exception:  # noqa: BLE001
                self._failed(source)
        return total

    def lag(self) -> dict[str, int]:
        """Per source, how many positions this feed has heard of (buffered from the bus)
        beyond its watermark: events known to exist and not applied yet."""
        return {source: max(0, max(pending) - self._known.get(source, 0)) if pending else 0
                for source, pending in self._pending.items()}

    def buffered(self) -> int:
        """How many events from the bus wait in the buffer, over all sources."""
        return sum(len(pending) for pending in self._pending.values())

    def failing(self) -> list[str]:
        """The sources whose last attempt to apply or read failed (retried with backoff)."""
        return sorted(source for source, count in self._failures.items() if count)

    # -- applying -------------------------------------------------------------------

    def watermark(self, source: str) -> int:
        with self.factory() as session:
            value = session.execute(select(feed_watermarks.c.position)
                                    .where(feed_watermarks.c.source == source)).scalar()
        self._known[source] = int(value or 0)
        return self._known[source]

    def _apply(self, source: str, envelopes: list[Envelope]) -> int:
        """Apply a run in one transaction with the watermark; returns how many were new."""
        if not envelopes:
            return 0
        self._ensure_watermark_rows()  # before the transaction: it needs one of its own
        with self.factory() as session, session.begin():
            watermark = self._lock_watermark(session, source)
            run: list[Envelope] = []
            for envelope in sorted(envelopes, key=lambda e: int(e["position"])):
                position = int(envelope["position"])
                if position <= watermark:
                    continue
                if position != watermark + 1:
                    break  # still a gap: what is after it waits for the healing
                run.append(self._upcast(envelope))
                watermark = position
            if self.project_run is not None:
                if run:
                    self.project_run(session, run)
            else:
                for envelope in run:
                    self.project(session, envelope)
            applied = len(run)
            session.execute(update(feed_watermarks).where(feed_watermarks.c.source == source)
                            .values(position=watermark))
        self._known[source] = watermark
        self._failures.pop(source, None)
        metrics.FEED_APPLIED.labels(self.consumer, source).inc(applied)
        metrics.FEED_WATERMARK.labels(self.consumer, source).set(watermark)
        return applied

    def _lock_watermark(self, session: Session, source: str) -> int:
        """Lock every source's watermark row, in one order, and return `source`'s.

        Locking them all makes a consumer's runs apply one at a time, whichever source
        and whichever instance they come from: a projection that reads what another
        source's events wrote (a summary over members and meetings) then reads it
        committed, and cannot overwrite the work of a run committing alongside it."""
        locked = dict(session.execute(
            select(feed_watermarks.c.source, feed_watermarks.c.position)
            .order_by(feed_watermarks.c.source).with_for_update()).all())
        if source in locked:
            return int(locked[source])
        query = (select(feed_watermarks.c.position).where(feed_watermarks.c.source == source)
                 .with_for_update())
        value = session.execute(query).scalar()
        if value is None:
            try:
                with session.begin_nested():
                    session.execute(insert(feed_watermarks).values(source=source, position=0))
            except IntegrityError:
                pass  # another instance created it first
            value = session.execute(query).scalar_one()  # the row exists now, either way
        return int(value)

    def _ensure_watermark_rows(self) -> None:
        """Every source's row exists before the first run, in a transaction of its own,
        so that the lock on all of them covers a source not applied yet."""
        if self._rows_ready:
            return
        with self.factory() as session, session.begin():
            present = set(session.execute(select(feed_watermarks.c.source)).scalars())
            for source in self.sources:
                if source in present:
                    continue
                try:
                    with session.begin_nested():
                        session.execute(insert(feed_watermarks).values(source=source,
                                                                       position=0))
                except IntegrityError:
                    pass  # another instance created it first
        self._rows_ready = True

    def _upcast(self, envelope: Envelope) -> Envelope:
        if not self.catalogue.knows(envelope["type"]):
            return envelope
        version, data = self.catalogue.upcast(envelope["type"], int(envelope["version"]),
                                              envelope["data"])
        return {**envelope, "version": version, "data": data}

    def _failed(self, source: str) -> None:
        count = self._failures.get(source, 0) + 1
        self._failures[source] = count
        delay = min(30.0, 0.5 * 2 ** (count - 1))
        self._retry_at[source] = self.time_source() + delay
        metrics.FEED_FAILURES.labels(self.consumer, source).inc()
        log.exception("%s could not apply events from %s (attempt %d); retrying in %.1fs",
                      self.consumer, source, count, delay)
