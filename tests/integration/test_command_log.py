"""The command log on PostgreSQL: a command id is claimed by one transaction; a second
request with the id waits for it and then answers what the first answered, or claims
the id itself if the first rolled back. Waiting is observed in pg_locks, not timed."""

from __future__ import annotations

import eventlet
import pytest
from sqlalchemy import create_engine, text

from chibo.db import create_schema, make_engine, session_factory
from chibo.errors import CommandIdReused
from chibo.eventstore import command_log

AT = "2026-06-17T09:30:00.000000+00:00"


@pytest.fixture
def factory(pg_url):
    engine = make_engine(pg_url)
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def _waiting_on_a_lock(pg_url: str) -> bool:
    watcher = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with watcher.connect() as conn:
            return bool(conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query ILIKE 'INSERT INTO command_log%'")
            ).scalar_one())
    finally:
        watcher.dispose()


def _claim_in_own_transaction(factory, command: str, digest: str) -> object:
    with factory() as session, session.begin():
        earlier = command_log.claim(session, "cmd-1", command, digest, AT)
        if earlier is None:
            command_log.record_answer(session, "cmd-1", {"by": "second"})
        return earlier


def _wait_for(predicate, what: str) -> None:
    for _ in range(2000):
        if predicate():
            return
        eventlet.sleep(0.01)
    raise AssertionError(f"never saw {what}")


def test_a_second_claim_waits_for_the_first_and_gets_its_answer(factory, pg_url):
    first = factory()
    first.begin()
    assert command_log.claim(first, "cmd-1", "EstablishUnit", "d1", AT) is None
    second = eventlet.spawn(_claim_in_own_transaction, factory, "EstablishUnit", "d1")
    _wait_for(lambda: _waiting_on_a_lock(pg_url), "the second claim waiting on the first")
    command_log.record_answer(first, "cmd-1", {"events": ["e-1"], "unit_id": "p-1"})
    first.commit()
    first.close()
    assert second.wait() == {"events": ["e-1"], "unit_id": "p-1"}


def test_a_waiting_claim_of_another_command_is_refused_once_the_first_commits(factory, pg_url):
    first = factory()
    first.begin()
    assert command_log.claim(first, "cmd-1", "EstablishUnit", "d1", AT) is None
    second = eventlet.spawn(_claim_in_own_transaction, factory, "AdmitMember", "d2")
    _wait_for(lambda: _waiting_on_a_lock(pg_url), "the second claim waiting on the first")
    command_log.record_answer(first, "cmd-1", {"events": []})
    first.commit()
    first.close()
    with pytest.raises(CommandIdReused):
        second.wait()


def test_an_id_whose_first_command_rolled_back_is_free_again(factory, pg_url):
    first = factory()
    first.begin()
    assert command_log.claim(first, "cmd-1", "EstablishUnit", "d1", AT) is None
    second = eventlet.spawn(_claim_in_own_transaction, factory, "AdmitMember", "d2")
    _wait_for(lambda: _waiting_on_a_lock(pg_url), "the second claim waiting on the first")
    first.rollback()  # e.g. a rule refused the first command: nothing of it is kept
    first.close()
    assert second.wait() is None  # the second claimed the id and ran
    with factory() as session, session.begin():
        assert command_log.claim(session, "cmd-1", "AdmitMember", "d2", AT) == {"by": "second"}
