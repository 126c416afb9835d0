"""Engines and units of work for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    event,
    exc,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from chibo.eventstore.store import initialise_head
from chibo.eventstore.tables import kernel_metadata

#: A pooled connection handed back less than this long ago is handed out again without
#: a ping. A ping is a round trip, as costly as a statement on loopback, and a command
#: takes a connection once or twice; a connection idle for longer (the server may have
#: restarted or dropped it meanwhile) is pinged first, and replaced if it is dead.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, pool_size: int = 10) -> Engine:
    """An engine tuned for this kernel's use of the backend.

    PostgreSQL always goes through psycopg2: it cooperates with eventlet's hub,
    while psycopg 3 (SQLAlchemy 2.1's default for postgresql://) blocks it.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")
        # values_plus_batch: an UPDATE run over many rows goes in pages of statements,
        # not one round trip per row (INSERTs are batched as multi-row VALUES anyway).
        engine = create_engine(parsed, pool_size=pool_size, max_overflow=pool_size,
                               executemany_mode="values_plus_batch")
        _ping_when_idle(engine)
        return engine
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, skipped for a connection handed back just now.

    A connection broken while in use is still caught: SQLAlchemy invalidates the pool
    on a disconnect error, and the command is answered as unavailable and retried.
    """
    @event.listens_for(engine, "checkin")
    def _handed_back(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info["handed_back_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _handed_out(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        handed_back = record.info.pop("handed_back_at", None)
        if handed_back is not None and time.monotonic() - handed_back < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            # The pool discards this connection and hands out a fresh one.
            raise exc.DisconnectionError("a pooled connection did not answer a ping") \
                from error


def _sqlite_engine(url: str) -> Engine:
    protect_sqlite_file(make_url(url).database)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite's own
        # transaction handling would defer the write lock).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _switch_to_wal(cursor)
        # FULL: a committed event survives power loss, even in WAL mode.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # SQLite allows one writer; its busy wait sleeps inside C, which under
    # eventlet would block the very hub the lock holder needs to finish. So
    # transactions queue on a lock that (monkey-patched) yields instead.
    writer = threading.Lock()

    @event.listens_for(engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        writer.acquire()
        connection.info["holds_writer_lock"] = True
        # Take the write lock at the start: a deferred transaction that reads and
        # then writes can fail outright when another writer got in between.
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            connection.info.pop("holds_writer_lock", None)
            writer.release()
            raise

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection) -> None:  # type: ignore[no-untyped-def]
        if connection.info.pop("holds_writer_lock", False):
            writer.release()

    return engine


#: The files beside a SQLite database that hold its data too.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def protect_sqlite_file(database: str | None) -> None:
    """A SQLite database file (personal data) readable by its owner alone: a missing file
    is created empty with mode 0600 (in a new folder of mode 0700) before SQLite opens it,
    and an existing one, with its -wal, -shm and -journal files, is set to 0600. SQLite
    gives the files it creates beside a database the database file's mode, so they
    follow. In-memory databases and URI filenames are left alone."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    for candidate in (path, *(Path(f"{path}{suffix}") for suffix in SQLITE_COMPANIONS)):
        try:
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, 0o600)
        except (FileNotFoundError, PermissionError):
            continue  # absent, or another user's file this process only reads


#: How long a connection keeps trying to put a database into WAL mode (the timeout the
#: engine's busy handler already gives every other statement).
WAL_SWITCH_SECONDS = 30.0


def _switch_to_wal(cursor: sqlite3.Cursor) -> None:
    """PRAGMA journal_mode=WAL, retried while another connection holds the file.

    Switching a new database to WAL needs an exclusive lock, and SQLite answers
    "database is locked" at once rather than calling the busy handler while processes
    opening the same fresh file all try it together. Once one succeeds the mode is
    stored in the file and the others' attempts are no-ops."""
    deadline = time.monotonic() + WAL_SWITCH_SECONDS
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(pause)  # green under eventlet's monkey patching
        pause = min(pause * 2, 0.25)


T = TypeVar("T")


class SchemaOutdated(RuntimeError):
    """The database has tables an earlier version made, without columns this one needs."""


#: What to do about a database an earlier version made.
MIGRATE_REMEDY = (
    "Nâng cấp bằng `chibo migrate` (upgrade it with `chibo migrate`; see "
    "docs/operations.md), hoặc với dữ liệu mẫu, xóa thư mục var/chibo/ để bắt đầu lại "
    "(or, for the demo's sample data, delete var/chibo/ to start afresh).")


def create_schema(engine: Engine, *metadatas: MetaData) -> None:
    """Create the kernel's tables and `metadatas` as the code declares them; idempotent.
    For databases no service owns (tests, scratch rebuilds): a service's own database is
    brought to head by its migrations (`chibo.migrate.migrate`). A table that exists
    without a column the code needs stops with SchemaOutdated, naming them, rather than
    failing later on the first query that reads the column."""
    for metadata in (kernel_metadata, *metadatas):
        metadata.create_all(engine)
    check_columns(engine, (kernel_metadata, *metadatas), MIGRATE_REMEDY)
    with Session(engine) as session, session.begin():
        initialise_head(session)


def check_columns(bind: Engine | Connection, metadatas: Sequence[MetaData],
                  remedy: str) -> None:
    """SchemaOutdated naming every table and `table.column` the code declares and the
    database lacks, with `remedy` (what to do about it)."""
    inspector = inspect(bind)
    missing = []
    for metadata in metadatas:
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                missing.append(table.name)
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing += [f"{table.name}.{column.name}" for column in table.columns
                        if column.name not in present]
    if missing:
        where = bind.engine.url.render_as_string(hide_password=True)
        raise SchemaOutdated(
            f"Cơ sở dữ liệu {where} thiếu (lacks) {', '.join(missing)}. "
            f"{remedy}")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that commits when the block ends and rolls back if it raises."""
    with factory() as session, session.begin():
        yield session


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]],
           add: Sequence[str] = (), replace: Sequence[str] = ()) -> None:
    """Insert rows, or where the primary key exists already, add the `add` columns to
    the stored values and overwrite the `replace` columns, in one executemany (batched
    by the driver), on either backend: both speak INSERT ... ON CONFLICT."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    inserts: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
        "postgresql": postgresql.insert, "sqlite": sqlite.insert}
    statement = inserts[dialect](table)
    changes = {**{c: table.c[c] + statement.excluded[c] for c in add},
               **{c: statement.excluded[c] for c in replace}}
    keys = [c.name for c in table.primary_key.columns]
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes)
                    if changes else statement.on_conflict_do_nothing(index_elements=keys),
                    list(rows))


class GrowingTableCache(Generic[T]):
    """A value derived from an append-only table (rows keyed by a growing `position`),
    kept per database and built again only once the table has grown: its newest
    position or its row count moved. For what an access check reads on every request
    (a replica's tree) and changes only when an event is taken in."""

    def __init__(self, position: Column[Any]) -> None:
        self.position = position
        self._lock = threading.Lock()
        self._kept: weakref.WeakKeyDictionary[Any, tuple[Any, T]] = weakref.WeakKeyDictionary()

    def get(self, session: Session, build: Callable[[Session], T]) -> T:
        mark = tuple(session.execute(select(func.coalesce(func.max(self.position), 0),
                                            func.count()).select_from(self.position.table)
                                     ).one())
        key = session.get_bind()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and kept[0] == mark:
                return kept[1]
        value = build(session)
        with self._lock:
            self._kept[key] = (mark, value)
        return value
