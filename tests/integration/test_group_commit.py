"""Group commit (chibo.group_commit) on SQLite and PostgreSQL: units of work that run at
once share one transaction and one commit, and still succeed or fail alone.

Members are green threads that yield inside their block (as a command does while it
waits on the database), so several are in one batch; how many is up to the hub, so the
tests assert what must hold for any batching, and that batching happened at all.
"""

from collections.abc import Callable

import eventlet
import marshmallow
import pytest
from marshmallow import fields
from sqlalchemy import event, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.errors import ConcurrencyError
from chibo.eventstore.audit import verify_log
from chibo.eventstore.store import EventStore, Metadata, NewEvent
from chibo.eventstore.tables import event_head
from chibo.group_commit import GroupCommit, GroupCommitFailed

catalogue = Catalogue()


@catalogue.event("ticked")
class Ticked(marshmallow.Schema):
    n = fields.Integer(required=True)


def _ticked(n: int) -> list[NewEvent]:
    return [NewEvent("ticked", {"n": n})]


@pytest.fixture
def store_factory(any_db_url):
    engine = make_engine(any_db_url, pool_size=12)
    create_schema(engine)
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    yield session_factory(engine), commits
    engine.dispose()


def _log(factory) -> list[tuple[int, str, int]]:
    with unit_of_work(factory) as session:
        return [(e.position, e.stream_id, e.data["n"])
                for e in EventStore(session, catalogue).read_all(0, 10_000)]


def _together(*work):
    """Run each callable in its own green thread at once; their results or errors."""
    threads = [eventlet.spawn(w) for w in work]
    results = []
    for thread in threads:
        try:
            results.append(thread.wait())
        except Exception as error:  # noqa: BLE001 - the test looks at which failed
            results.append(error)
    return results


def test_concurrent_writers_share_commits_and_keep_a_dense_ordered_log(store_factory):
    factory, commits = store_factory
    group = GroupCommit(factory)
    writers, appends = 6, 30
    # A second group on the same database: another process of the same service.
    other = GroupCommit(factory)

    def writer(w: int) -> None:
        for i in range(appends):
            with (group if w % 2 else other).unit() as session:
                store = EventStore(session, catalogue)
                eventlet.sleep(0)  # the others reach the queue meanwhile
                store.append(f"s-{w % 3}", None, _ticked(i))

    before = len(commits)
    _together(*[lambda w=w: writer(w) for w in range(writers)])
    log = _log(factory)
    assert [p for p, _, _ in log] == list(range(1, writers * appends + 1))
    with unit_of_work(factory) as session:
        assert list(verify_log(session)) == []
    # Each stream's versions are dense too (one per append, in order).
    for stream in ("s-0", "s-1", "s-2"):
        with unit_of_work(factory) as session:
            versions = [e.stream_version for e in EventStore(session, catalogue)
                        .read_stream(stream)]
        assert versions == list(range(1, len(versions) + 1))
    assert len(commits) - before < writers * appends  # some units did share a commit


def test_a_conflicting_append_fails_alone_and_its_batch_mates_commit(store_factory):
    factory, _ = store_factory
    group = GroupCommit(factory)

    def append(stream: str, expected: int, n: int):
        with group.unit() as session:
            eventlet.sleep(0)
            return EventStore(session, catalogue).append(stream, expected, _ticked(n))

    first, conflicting, other = _together(lambda: append("s-a", 0, 1),
                                          lambda: append("s-a", 0, 2),
                                          lambda: append("s-b", 0, 3))
    assert isinstance(conflicting, ConcurrencyError)
    assert conflicting.details["actual_version"] == 1
    assert [(p, s, n) for p, s, n in _log(factory)] == [(1, "s-a", 1), (2, "s-b", 3)]
    assert first[0].position == 1 and other[0].position == 2


def _batch(group: GroupCommit, members: int, failing: set[int],
           fail: Callable[[Session, int], None]) -> list:
    """`members` appends at once in `group`, each to a stream of its own; those in
    `failing` then call `fail` before their unit of work ends."""
    def append(n: int) -> None:
        with group.unit() as session:
            EventStore(session, catalogue).append(f"s-{n}", None, _ticked(n))
            eventlet.sleep(0)
            if n in failing:
                fail(session, n)

    return _together(*[lambda n=n: append(n) for n in range(members)])


def _change_mind(_session: Session, n: int) -> None:
    raise ValueError(f"member {n} changed its mind")


def _break_the_head_key(session: Session, _n: int) -> None:
    # The head row exists: a second one breaks its primary key.
    session.execute(insert(event_head).values(id=1, position=0, hash="x"))


def test_a_member_that_raises_is_undone_alone(store_factory):
    factory, _ = store_factory
    group = GroupCommit(factory)
    results = _batch(group, 5, {1, 3}, _change_mind)
    assert [type(r).__name__ for r in results] == [
        "NoneType", "ValueError", "NoneType", "ValueError", "NoneType"]
    assert [(s, n) for _, s, n in _log(factory)] == [("s-0", 0), ("s-2", 2), ("s-4", 4)]
    with unit_of_work(factory) as session:
        assert list(verify_log(session)) == []


def test_a_retried_command_in_the_same_batch_is_recorded_once(store_factory):
    factory, _ = store_factory
    group = GroupCommit(factory)

    def append():
        with group.unit() as session:
            eventlet.sleep(0)
            store = EventStore(session, catalogue, metadata=Metadata(command_id="cmd-1"))
            return [e.event_id for e in store.append("s-x", None, _ticked(7))]

    first, again = _together(append, append)
    assert first == again
    assert _log(factory) == [(1, "s-x", 7)]


def test_a_failed_commit_fails_every_member_and_keeps_nothing(store_factory):
    factory, _ = store_factory
    group = GroupCommit(factory)
    failing = {"left": 1}

    def refuse_once(_session) -> None:
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("the disk is full")

    def append(n: int):
        with group.unit() as session:
            eventlet.sleep(0)
            EventStore(session, catalogue).append(f"s-{n}", None, _ticked(n))

    event.listen(factory, "before_commit", refuse_once)
    try:
        results = _together(*[lambda n=n: append(n) for n in range(3)])
    finally:
        event.remove(factory, "before_commit", refuse_once)
    assert all(isinstance(r, GroupCommitFailed) for r in results), results
    assert _log(factory) == []
    # The group goes on working after a failed commit.
    append(9)
    assert _log(factory) == [(1, "s-9", 9)]


def test_a_unit_opened_inside_another_is_refused_not_deadlocked(store_factory):
    factory, _ = store_factory
    group = GroupCommit(factory)
    with pytest.raises(RuntimeError, match="inside another"):
        with group.unit(), group.unit():
            pass
    with group.unit() as session:  # and the group is usable afterwards
        EventStore(session, catalogue).append("s-1", None, _ticked(1))
    assert _log(factory) == [(1, "s-1", 1)]


def test_a_member_whose_statement_fails_in_the_database_is_undone_alone(store_factory):
    # On PostgreSQL a failed statement aborts the whole transaction until it is rolled
    # back to a savepoint: the batch-mates' work must survive it.
    factory, _ = store_factory
    group = GroupCommit(factory)
    results = _batch(group, 3, {1}, _break_the_head_key)
    assert isinstance(results[1], IntegrityError) and results[0] is None is results[2]
    assert [(s, n) for _, s, n in _log(factory)] == [("s-0", 0), ("s-2", 2)]
    with unit_of_work(factory) as session:
        assert list(verify_log(session)) == []
