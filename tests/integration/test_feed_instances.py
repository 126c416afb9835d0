"""Two instances of one consumer on one PostgreSQL database, applying different sources
at the same moment: the second waits for the first, so a projection that reads and
rewrites a row both sources touch (a summary) loses neither's work."""

from __future__ import annotations

import eventlet
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text, update
from sqlalchemy.orm import Session

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import Envelope, OrderedFeed
from tests.support import wait_until

metadata = MetaData()
summary = Table("summary", metadata, Column("id", Integer, primary_key=True),
                Column("events", Integer, nullable=False))


def _event(source: str) -> Envelope:
    return {"source": source, "position": 1, "type": "ticked", "version": 1, "data": {}}


def _no_log(source: str, after: int, limit: int) -> list[Envelope]:
    return []


def test_runs_of_different_sources_apply_one_at_a_time(pg_url):
    engine = make_engine(pg_url, pool_size=6)
    create_schema(engine, metadata)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        session.execute(insert(summary).values(id=1, events=0))

    def other_instance_waits_or_is_done(other: eventlet.greenthread.GreenThread) -> bool:
        if other.dead:
            return True
        with engine.connect() as connection:
            return bool(connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'")).scalar())

    def project(session: Session, envelope: Envelope) -> None:
        seen = session.execute(select(summary.c.events)).scalar_one()
        if envelope["source"] == "members":
            # Meanwhile the other instance applies a meetings event to the same summary.
            other = eventlet.spawn(second.step)
            wait_until(lambda: other_instance_waits_or_is_done(other),
                       message="the other instance to finish or wait for this one")
        session.execute(update(summary).values(events=seen + 1))

    first = OrderedFeed("reporting", ["members", "meetings"], factory, Catalogue(), project,
                        _no_log)
    second = OrderedFeed("reporting", ["members", "meetings"], factory, Catalogue(), project,
                         _no_log)
    second.offer(_event("meetings"))
    first.offer(_event("members"))
    assert first.step() is True
    wait_until(lambda: second.watermark("meetings") == 1, message="the meetings event")

    with factory() as session:
        assert session.execute(select(summary.c.events)).scalar_one() == 2
    assert first.watermark("members") == 1
    engine.dispose()
