"""Healing gaps in an ordered feed, without a broker: the bus brings only part of a
source's log (the share one of several competing instances receives, or what a dead
peer left behind) and the feed reads the rest from the log, a range at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select
from sqlalchemy.orm import Session, sessionmaker

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Envelope, OrderedFeed

GRACE = 0.5
RECHECK = 0.05
metadata = MetaData()
applied = Table("applied", metadata, Column("position", Integer, primary_key=True))


def make_log(length: int) -> list[Envelope]:
    return [{"source": "members", "position": n, "type": "ticked", "version": 1, "data": {}}
            for n in range(1, length + 1)]


class FakeTime:
    """The feed's time source, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Log:
    """A source's log served as `read_events` would, counting the round trips."""

    events: list[Envelope]
    fetches: list[tuple[int, int]] = field(default_factory=list)

    def fetch(self, source: str, after: int, limit: int) -> list[Envelope]:
        self.fetches.append((after, limit))
        return self.events[after:after + limit]


@pytest.fixture
def factory(tmp_path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path}/feed.db")
    create_schema(engine, metadata)
    yield session_factory(engine)
    engine.dispose()


def recording_feed(factory: sessionmaker[Session], log: Log, clock: FakeTime,
                   order: list[int], batch_size: int = 500) -> OrderedFeed:
    def project(session: Session, envelope: Envelope) -> None:
        session.execute(insert(applied).values(position=envelope["position"]))
        order.append(envelope["position"])

    return OrderedFeed("reporting", ["members"], factory, Catalogue(), project, log.fetch,
                       batch_size=batch_size, gap_grace_seconds=GRACE,
                       recheck_seconds=RECHECK, time_source=clock)


def settle(*feeds: OrderedFeed, clock: FakeTime) -> None:
    """Step the feeds, letting the grace pass whenever none of them can progress."""
    for _ in range(1000):
        if not any([feed.step() for feed in feeds]):
            if not any(feed._pending["members"] for feed in feeds):
                return
            clock.advance(GRACE)
    raise AssertionError("the feeds never settled")


def applied_positions(factory: sessionmaker[Session]) -> list[int]:
    with factory() as session:
        return [row.position for row in session.execute(
            select(applied).order_by(applied.c.position))]


@pytest.mark.parametrize("length", [80, 400])
def test_a_feed_given_every_other_event_heals_the_run_in_one_fetch(factory, length):
    log, clock, order = Log(make_log(length)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order)
    for envelope in log.events[1::2]:  # positions 2, 4, 6, …: the odd ones went elsewhere
        feed.offer(envelope)

    assert feed.step() is False  # the missing events may still be on the bus
    assert log.fetches == []
    clock.advance(GRACE)
    assert feed.step() is True

    assert len(log.fetches) == 1
    assert order == list(range(1, length + 1))  # each once, in position order
    assert applied_positions(factory) == list(range(1, length + 1))
    assert feed.watermark("members") == length
    assert feed._pending["members"] == {}


def test_a_gap_run_longer_than_a_batch_takes_a_fetch_per_batch(factory):
    log, clock, order = Log(make_log(1200)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order, batch_size=500)
    for envelope in log.events[1::2]:
        feed.offer(envelope)

    settle(feed, clock=clock)

    assert log.fetches == [(0, 500), (500, 500), (1000, 200)]
    assert order == list(range(1, 1201))


def test_events_a_dead_peer_held_are_read_back_at_once(factory):
    # The peer took positions 21-60 off the queue, acked them and died before applying.
    log, clock, order = Log(make_log(100)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order)
    for envelope in log.events[:20] + log.events[60:]:
        feed.offer(envelope)

    settle(feed, clock=clock)

    assert log.fetches == [(20, 80)]
    assert order == list(range(1, 101))
    assert feed.watermark("members") == 100


def test_two_instances_sharing_one_database_apply_every_event_once_in_order(factory):
    log, clock, order = Log(make_log(300)), FakeTime(), []
    first = recording_feed(factory, log, clock, order)
    second = recording_feed(factory, log, clock, order)
    # Competing consumers: the queue hands out messages in turn, a few at a time.
    for start in range(0, 300, 10):
        for offset, envelope in enumerate(log.events[start:start + 10]):
            (first if offset % 2 else second).offer(envelope)
        first.step()
        second.step()

    settle(first, second, clock=clock)

    assert order == list(range(1, 301))
    assert applied_positions(factory) == list(range(1, 301))
    assert len(log.fetches) <= 2  # at most one heal each, not one per missing event
    assert first.watermark("members") == second.watermark("members") == 300


def test_a_gap_another_instance_closed_is_not_fetched(factory):
    log, clock, order = Log(make_log(10)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order)
    peer = recording_feed(factory, log, clock, order)
    for envelope in log.events[5:]:
        feed.offer(envelope)
    assert feed.step() is False  # 1-5 missing: the grace starts
    for envelope in log.events[:5]:
        peer.offer(envelope)
    assert peer.step() is True  # the peer applies 1-5 itself
    clock.advance(GRACE)

    settle(feed, clock=clock)

    assert log.fetches == []
    assert order == list(range(1, 11))


def test_a_gap_another_instance_closed_is_seen_well_within_the_grace(factory):
    # Competing consumers: what this instance misses, the other one applies. Its
    # watermark row says so at once; waiting out the grace each time would hold every
    # instance half a second per gap.
    log, clock, order = Log(make_log(10)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order)
    peer = recording_feed(factory, log, clock, order)
    for envelope in log.events[5:]:
        feed.offer(envelope)
    assert feed.step() is False
    for envelope in log.events[:5]:
        peer.offer(envelope)
    assert peer.step() is True
    clock.advance(GRACE / 5)

    assert feed.step() is True
    assert log.fetches == []
    assert order == list(range(1, 11))
    assert feed._pending["members"] == {}


def test_the_watermark_never_passes_an_event_the_log_does_not_have_yet(factory):
    # The bus brought 6-8 but the log read ends at 3 (a replica lagging, say).
    log, clock, order = Log(make_log(3)), FakeTime(), []
    feed = recording_feed(factory, log, clock, order)
    for envelope in make_log(8)[5:]:
        feed.offer(envelope)
    assert feed.step() is False
    clock.advance(GRACE)
    assert feed.step() is True  # heals 1-3, then stops: 4 and 5 are nowhere yet

    assert order == [1, 2, 3]
    assert feed.watermark("members") == 3
    assert sorted(feed._pending["members"]) == [6, 7, 8]
    log.events = make_log(8)
    settle(feed, clock=clock)
    assert order == list(range(1, 9))
