"""The PostgreSQL pool pings a connection before handing it out only when it has been
idle a while (chibo.db.PING_AFTER_IDLE_SECONDS): a ping is a round trip on every
command otherwise. A dead idle connection is replaced, never handed out."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chibo import db


def _backend_pid(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(pg_url: str, pid: int) -> None:
    """Ends the backend and waits (up to 10 s) until it has gone."""
    other = db.make_engine(pg_url, pool_size=1)
    try:
        with other.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
    finally:
        other.dispose()


@pytest.fixture
def pooled_then_killed(pg_url):
    """An engine whose one pooled connection's backend has been ended, and that backend's
    pid: the pool still holds the connection, dead."""
    engine = db.make_engine(pg_url, pool_size=1)
    first = _backend_pid(engine)
    _terminate(pg_url, first)
    try:
        yield engine, first
    finally:
        engine.dispose()


def test_a_connection_idle_long_enough_is_pinged_and_a_dead_one_replaced(pooled_then_killed,
                                                                          monkeypatch):
    engine, first = pooled_then_killed
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    assert _backend_pid(engine) != first


def test_a_connection_handed_back_just_now_is_handed_out_without_a_ping(pooled_then_killed,
                                                                        monkeypatch):
    engine, first = pooled_then_killed
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    # Not pinged, the dead connection reaches the statement, which fails as a
    # disconnect; the pool is invalidated and the next checkout is a new connection.
    with pytest.raises(DBAPIError) as failed:
        _backend_pid(engine)
    assert failed.value.connection_invalidated
    assert _backend_pid(engine) != first
