"""Bringing a service's database to head, once, however many processes start at once.

Everything happens in one transaction on one connection, under a lock on the database:
on PostgreSQL a session advisory lock taken before the transaction and released after
it; on SQLite the transaction's own `BEGIN IMMEDIATE` (every engine from
`chibo.db.make_engine` begins that way), which holds the write lock until commit. The
second process to start waits, then finds the database at head and does nothing.

Per track (see `chibo.migrate.tracks`):
- with a version table: upgrade to head;
- no version table and none of the track's tables (a new database): create the tables
  as the code declares them and stamp head. The MetaData is what the code reads and
  writes, so a new database gets exactly it in one step; the revisions are for databases
  that hold data, and the tests prove the two paths reach the same schema;
- no version table but some of the track's tables (made by `create_all` of an earlier
  version): stamp the revision its schema shows (`chibo.migrate.recognise`), then
  upgrade to head.
Afterwards every column the code declares must be there (`SchemaOutdated` names any a
revision forgot), and the log's head row exists.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from chibo.db import check_columns
from chibo.eventstore.store import initialise_head
from chibo.eventstore.tables import kernel_metadata
from chibo.migrate.ops import NOTICES
from chibo.migrate.recognise import recognise
from chibo.migrate.tracks import Track, alembic_config, kernel_track, service_track

#: One lock per database, whatever the service: two services never share a database, and
#: if they did, their kernel tables would be one and the same.
LOCK_KEY = zlib.crc32(b"chibo-migrate")

#: Alembic's `context` and `op` are module-level proxies, one set per process: two
#: migrations interleaving in one process (services starting side by side on eventlet,
#: each waiting on its database) would clobber each other's. Monkey-patched, it is green.
ALEMBIC_IN_USE = threading.Lock()

NOT_MIGRATED_REMEDY = (
    "Một bản nâng cấp (migration) còn thiếu: viết nó bằng `chibo migrate --new-revision` "
    "(the code declares columns that no migration adds: write one with "
    "`chibo migrate --new-revision`, see docs/operations.md).")


@dataclass(frozen=True)
class Step:
    """One track's revision before and after; `recognised` when the database had no
    version table and its schema showed that revision."""

    track: str
    before: str | None
    after: str | None
    recognised: str | None = None
    created: bool = False

    def describe(self) -> str:
        if self.created:
            return f"{self.track} — → {self.after} (new)"
        if self.recognised:
            return (f"{self.track} {self.recognised} → {self.after} "
                    f"(no version table: its schema is {self.recognised}'s)")
        return f"{self.track} {self.before} → {self.after}"


@dataclass(frozen=True)
class Migration:
    service: str
    steps: tuple[Step, ...]
    notices: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.service}: " + ", ".join(step.describe() for step in self.steps)


def migrate(engine: Engine, service: str, metadatas: Sequence[MetaData],
            scripts: Path | None) -> Migration:
    """Bring the database behind `engine` (made by `chibo.db.make_engine`) to head: the
    kernel's tables, and the service's `metadatas` by the revisions in `scripts` (or, with
    no scripts, by create_all)."""
    tracks = tracks_of(service, metadatas, scripts)
    without_history = () if scripts is not None else tuple(metadatas)
    notices: list[str] = []
    with ALEMBIC_IN_USE, engine.connect() as connection, _exclusive(connection), \
            connection.begin():
        steps = tuple(_to_head(connection, track, notices) for track in tracks)
        for metadata in without_history:
            metadata.create_all(connection)
        check_columns(connection, (kernel_metadata, *metadatas), NOT_MIGRATED_REMEDY)
        with Session(bind=connection) as session:
            initialise_head(session)
    return Migration(service, steps, tuple(notices))


def tracks_of(service: str, metadatas: Sequence[MetaData], scripts: Path | None
              ) -> list[Track]:
    """The kernel's track, and the service's when it has revisions."""
    tracks = [kernel_track()]
    if scripts is not None:
        tracks.append(service_track(service, scripts, tuple(metadatas)))
    return tracks


def revisions(engine: Engine, tracks: Sequence[Track]) -> list[tuple[str, str | None, str | None]]:
    """(track, the database's revision, head) for each track, changing nothing."""
    with engine.connect() as connection:
        return [(track.name, current_revision(connection, track), head_revision(track))
                for track in tracks]


@contextmanager
def _exclusive(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "postgresql":
        yield  # SQLite: the transaction's BEGIN IMMEDIATE is the lock
        return
    connection.exec_driver_sql("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    connection.commit()
    try:
        yield
    finally:
        try:
            connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
            connection.commit()
        except DBAPIError:
            # A broken connection: the server drops the lock with the session.
            connection.invalidate()


def _to_head(connection: Connection, track: Track, notices: list[str]) -> Step:
    config = alembic_config(track, connection=connection, **{NOTICES: notices})
    scripts = ScriptDirectory.from_config(config)
    before = current_revision(connection, track)
    recognised = None
    if before is None:
        if not track.table_names & set(inspect(connection).get_table_names()):
            for metadata in track.metadatas:
                metadata.create_all(connection)
            command.stamp(config, "head")
            return Step(track.name, None, scripts.get_current_head(), created=True)
        recognised = recognise(connection, scripts, track.name)
        command.stamp(config, recognised)
    command.upgrade(config, "head")
    return Step(track.name, before, current_revision(connection, track), recognised)


def upgrade(connection: Connection, track: Track, target: str = "head") -> tuple[str, ...]:
    """Run the track's revisions up to `target` on `connection`, nothing else (no lock, no
    recognising): for scratch databases, e.g. one to write a new revision against.
    Returns what the revisions asked to be done afterwards."""
    notices: list[str] = []
    with ALEMBIC_IN_USE:
        command.upgrade(alembic_config(track, connection=connection, **{NOTICES: notices}),
                        target)
    return tuple(notices)


def current_revision(connection: Connection, track: Track) -> str | None:
    context = MigrationContext.configure(connection,
                                         opts={"version_table": track.version_table})
    return context.get_current_revision()


def head_revision(track: Track) -> str | None:
    return ScriptDirectory.from_config(alembic_config(track)).get_current_head()
