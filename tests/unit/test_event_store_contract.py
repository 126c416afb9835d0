"""The store's contract, run once against SQLite and once against PostgreSQL."""

import json

import marshmallow
import pytest
from marshmallow import fields
from sqlalchemy import select, text, update

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.errors import ConcurrencyError, ValidationFailed
from chibo.eventstore.audit import verify_log
from chibo.eventstore.store import EventStore, Metadata, NewEvent, StreamAppend
from chibo.eventstore.tables import events

catalogue = Catalogue()


@catalogue.event("thing_named", 1)
class ThingNamedV1(marshmallow.Schema):
    name = fields.String(required=True)


@catalogue.event("thing_named", 2, upcast_from_previous=lambda d: {**d, "language": "vi"})
class ThingNamedV2(marshmallow.Schema):
    name = fields.String(required=True)
    language = fields.String(required=True)


@pytest.fixture
def store_factory(any_db_url):
    engine = make_engine(any_db_url)
    create_schema(engine)
    factory = session_factory(engine)
    yield factory
    engine.dispose()


def append(factory, stream, expected, *names, command_id=None):
    with unit_of_work(factory) as session:
        store = EventStore(session, catalogue, metadata=Metadata(actor="tester",
                                                                 command_id=command_id))
        return store.append(stream, expected, [
            NewEvent("thing_named", {"name": n, "language": "vi"}) for n in names])


def test_append_and_read_stream(store_factory):
    append(store_factory, "thing-1", 0, "Chi bộ Bản Máy", "Chi bộ Bản Ngàm")
    append(store_factory, "thing-2", 0, "other")
    with unit_of_work(store_factory) as session:
        stream = EventStore(session, catalogue).read_stream("thing-1")
    assert [e.data["name"] for e in stream] == ["Chi bộ Bản Máy", "Chi bộ Bản Ngàm"]
    assert [e.stream_version for e in stream] == [1, 2]
    assert stream[0].metadata["actor"] == "tester"
    assert {"command_id", "correlation_id", "causation_id"} <= set(stream[0].metadata)


def test_wrong_expected_version_is_a_conflict_and_writes_nothing(store_factory):
    append(store_factory, "thing-1", 0, "a")
    with pytest.raises(ConcurrencyError) as info:
        append(store_factory, "thing-1", 0, "b")
    assert info.value.to_dict()["actual_version"] == 1
    with unit_of_work(store_factory) as session:
        store = EventStore(session, catalogue)
        assert len(store.read_stream("thing-1")) == 1
        assert store.head_position() == 1


def test_conflict_in_one_stream_writes_nothing_for_the_others(store_factory):
    append(store_factory, "thing-1", 0, "a")
    with pytest.raises(ConcurrencyError), unit_of_work(store_factory) as session:
        EventStore(session, catalogue).append_many([
            StreamAppend("thing-2", 0, [NewEvent("thing_named", {"name": "x", "language": "vi"})]),
            StreamAppend("thing-1", 5, [NewEvent("thing_named", {"name": "y", "language": "vi"})]),
        ])
    with unit_of_work(store_factory) as session:
        assert EventStore(session, catalogue).read_all() != []
        assert [e.stream_id for e in EventStore(session, catalogue).read_all()] == ["thing-1"]


def test_retried_command_is_idempotent_by_event_id(store_factory):
    first = append(store_factory, "thing-1", None, "a", command_id="cmd-1")
    again = append(store_factory, "thing-1", None, "a", command_id="cmd-1")
    assert [e.event_id for e in again] == [e.event_id for e in first]
    with unit_of_work(store_factory) as session:
        assert len(EventStore(session, catalogue).read_all()) == 1


def test_invalid_event_data_names_the_field_and_writes_nothing(store_factory):
    with pytest.raises(ValidationFailed) as info, unit_of_work(store_factory) as session:
        EventStore(session, catalogue).append("thing-1", 0, [NewEvent("thing_named", {"nam": 1})])
    assert "name" in info.value.fields
    with unit_of_work(store_factory) as session:
        assert EventStore(session, catalogue).read_all() == []


def test_old_versions_are_upcast_on_read(store_factory):
    # A row written by an older release, at version 1, without "language".
    append(store_factory, "thing-1", 0, "a")
    with unit_of_work(store_factory) as session:
        session.execute(update(events).values(version=1, data=json.dumps({"name": "old"})))
    with unit_of_work(store_factory) as session:
        (event,) = EventStore(session, catalogue).read_stream("thing-1")
    assert (event.version, event.data) == (2, {"name": "old", "language": "vi"})


def test_read_all_in_batches_is_dense_and_ordered(store_factory):
    for i in range(25):
        append(store_factory, f"thing-{i % 4}", None, f"n{i}")
    seen, after = [], 0
    while batch := _read(store_factory, after, 7):
        seen.extend(e.position for e in batch)
        after = batch[-1].position
    assert seen == list(range(1, 26))


def _read(factory, after, limit):
    with unit_of_work(factory) as session:
        return EventStore(session, catalogue).read_all(after, limit)


def test_verify_finds_nothing_in_an_untouched_log(store_factory):
    for i in range(10):
        append(store_factory, f"thing-{i % 3}", None, f"n{i}")
    with unit_of_work(store_factory) as session:
        assert list(verify_log(session, batch_size=3)) == []


@pytest.mark.parametrize("tamper, position, words", [
    ("UPDATE events SET data = '{\"name\":\"forged\",\"language\":\"vi\"}' WHERE position = 4",
     4, "edited"),
    ("DELETE FROM events WHERE position = 5", 5, "deleted"),
    ("DELETE FROM events WHERE position = 8", 8, "deleted"),
])
def test_verify_locates_tampering(store_factory, tamper, position, words):
    for i in range(8):
        append(store_factory, f"thing-{i % 3}", None, f"n{i}")
    with unit_of_work(store_factory) as session:
        session.execute(text(tamper))
    with unit_of_work(store_factory) as session:
        findings = list(verify_log(session))
    assert findings, "tampering went unnoticed"
    assert findings[0].position == position
    assert words in findings[0].problem


def test_verify_locates_a_rewritten_row_whose_hash_was_recomputed(store_factory):
    from chibo.eventstore.hashing import row_hash

    for i in range(6):
        append(store_factory, "thing-1", None, f"n{i}")
    with unit_of_work(store_factory) as session:
        row = session.execute(select(events).where(events.c.position == 3)).one()
        data = '{"language":"vi","name":"forged"}'
        forged = row_hash(row.prev_hash, 3, row.event_id, row.stream_id, row.stream_version,
                          row.type, row.version, data, row.meta, row.recorded_at)
        session.execute(update(events).where(events.c.position == 3)
                        .values(data=data, hash=forged))
    with unit_of_work(store_factory) as session:
        findings = list(verify_log(session))
    assert [(f.position, "rewritten" in f.problem) for f in findings] == [(3, True)]


def test_verify_locates_a_row_inserted_after_the_head(store_factory):
    append(store_factory, "thing-1", None, "a", "b")
    with unit_of_work(store_factory) as session:
        row = session.execute(select(events).where(events.c.position == 2)).one()._asdict()
        row.update(position=3, event_id="00000000-0000-0000-0000-000000000003",
                   stream_version=3)
        session.execute(events.insert().values(**row))
    with unit_of_work(store_factory) as session:
        findings = list(verify_log(session))
    assert any(f.position == 3 and "inserted" in f.problem for f in findings)


def test_a_rewritten_tail_passes_the_chain_but_not_the_archived_copy(store_factory):
    from chibo.eventstore.audit import compare_with_copy
    from chibo.eventstore.hashing import row_hash
    from chibo.eventstore.tables import event_head

    for i in range(6):
        append(store_factory, "thing-1", None, f"n{i}")
    with unit_of_work(store_factory) as session:
        archived = [(int(r.position), r.event_id, r.hash) for r in session.execute(
            select(events).order_by(events.c.position)).all()]
        deleted = list(compare_with_copy(session, iter(archived + [(7, "e-7", "h")])))
        # A careful forger: rewrites row 3 and recomputes every later hash and the head.
        rows = session.execute(select(events).where(events.c.position >= 3)
                               .order_by(events.c.position)).all()
        prev = rows[0].prev_hash
        for row in rows:
            data = '{"language":"vi","name":"forged"}' if row.position == 3 else row.data
            digest = row_hash(prev, row.position, row.event_id, row.stream_id,
                              row.stream_version, row.type, row.version, data, row.meta,
                              row.recorded_at)
            session.execute(update(events).where(events.c.position == row.position)
                            .values(data=data, prev_hash=prev, hash=digest))
            prev = digest
        session.execute(update(event_head).values(hash=prev))
    with unit_of_work(store_factory) as session:
        assert list(verify_log(session)) == []
        findings = list(compare_with_copy(session, iter(archived)))
    assert [(f.position, "rewritten" in f.problem) for f in findings] == [(3, True)]
    assert [(f.position, "deleted" in f.problem) for f in deleted] == [(7, True)]
