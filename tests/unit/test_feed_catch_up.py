"""Catching up from a source's log while another worker catches up too."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.feed import OrderedFeed

metadata = MetaData()
applied = Table("applied", metadata, Column("position", Integer, primary_key=True))
LOG = [{"source": "members", "position": n, "type": "ticked", "version": 1, "data": {}}
       for n in range(1, 26)]


def _project(session, envelope) -> None:
    session.execute(insert(applied).values(position=envelope["position"]))


def test_a_batch_applied_first_by_another_worker_does_not_end_the_catch_up(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/feed.db")
    create_schema(engine, metadata)
    factory = session_factory(engine)

    def read_log(source: str, after: int, limit: int) -> list[dict]:
        return LOG[after:after + limit]

    other = OrderedFeed("reporting", ["members"], factory, Catalogue(), _project, read_log,
                        batch_size=10)
    raced = []

    def read_log_racing(source: str, after: int, limit: int) -> list[dict]:
        batch = read_log(source, after, limit)
        if not raced:  # another worker applies the same batch between our read and apply
            raced.append(other._apply(source, batch))
        return batch

    feed = OrderedFeed("reporting", ["members"], factory, Catalogue(), _project,
                       read_log_racing, batch_size=10)
    feed.catch_up("members")

    assert raced == [10]
    with factory() as session:
        positions = [row.position for row in session.execute(
            select(applied).order_by(applied.c.position))]
    assert positions == list(range(1, 26))  # the rest of the log, each once
    assert feed.watermark("members") == 25
