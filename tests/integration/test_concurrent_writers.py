"""Concurrent writers never make a tailing reader skip a position.

Writers run as green threads on separate PostgreSQL connections (psycopg2
yields to eventlet's hub while waiting on the server), so their transactions
really overlap; a reader tails the log the whole time, the way the relay does.
"""

import eventlet
import marshmallow
from marshmallow import fields

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.audit import verify_log
from chibo.eventstore.store import EventStore, NewEvent

catalogue = Catalogue()


@catalogue.event("ticked")
class Ticked(marshmallow.Schema):
    n = fields.Integer(required=True)


WRITERS = 8
APPENDS_PER_WRITER = 60


def test_tailing_reader_sees_every_position_once_in_order(any_db_url):
    engine = make_engine(any_db_url, pool_size=WRITERS + 2)
    create_schema(engine)
    factory = session_factory(engine)
    done = eventlet.event.Event()

    def writer(w: int) -> None:
        for i in range(APPENDS_PER_WRITER):
            with unit_of_work(factory) as session:
                store = EventStore(session, catalogue)
                # Two events per transaction in a stream shared by two writers,
                # so appends also contend on stream versions.
                stream = f"s-{w % (WRITERS // 2)}"
                store.append(stream, None, [NewEvent("ticked", {"n": i}),
                                            NewEvent("ticked", {"n": i})])
                eventlet.sleep(0)  # let the others run while this one holds its transaction

    def reader() -> list[int]:
        seen: list[int] = []
        while True:
            finished = done.ready()
            with unit_of_work(factory) as session:
                batch = EventStore(session, catalogue).read_all(seen[-1] if seen else 0, 50)
            seen.extend(e.position for e in batch)
            if finished and not batch:
                return seen
            eventlet.sleep(0)

    reading = eventlet.spawn(reader)
    writers = [eventlet.spawn(writer, w) for w in range(WRITERS)]
    for gt in writers:
        gt.wait()
    done.send(True)
    seen = reading.wait()

    total = WRITERS * APPENDS_PER_WRITER * 2
    assert seen == list(range(1, total + 1))
    with unit_of_work(factory) as session:
        assert list(verify_log(session)) == []
        versions = [e.stream_version for e in EventStore(session, catalogue).read_stream("s-0")]
    assert versions == list(range(1, 2 * APPENDS_PER_WRITER * 2 + 1))
    engine.dispose()
