"""The append path's statements, run on the driver's own connection (DB-API).

Every command appends under the one head lock, so the append path's cost bounds the
whole service's write rate. SQLAlchemy Core spends more building and running a small
statement than SQLite or a loopback PostgreSQL spends executing it, so this path speaks
to the driver directly, inside the session's transaction (the caller still commits or
rolls back), in as few round trips as the backend allows:

- PostgreSQL, two before the commit: one that locks the head row and then, in a second
  statement of the same message, reads the head, the streams' versions and any of the
  event ids already recorded (a statement that waited for a lock reads with the snapshot
  it started with, so the reads must be a statement of their own, after the lock);
  and one that inserts the rows and moves the head.
- SQLite: calls into the library, no round trips; `BEGIN IMMEDIATE` (chibo.db) already
  holds the write lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

COLUMNS = ("position", "event_id", "stream_id", "stream_version", "type", "version", "data",
           "meta", "command_id", "recorded_at", "prev_hash", "hash", "hash_form", "salts",
           "key_id", "signature")

#: SQLite's limit on a statement's parameters is far above this; a chunk keeps each
#: statement small whatever the size of one append.
_CHUNK = 500


@dataclass(frozen=True)
class HeadRead:
    position: int
    hash: str
    #: Current version of each stream asked about (0: no such stream).
    versions: dict[str, int]
    #: Which of the event ids asked about are already in the log.
    recorded_ids: set[str]


class AppendStatements:
    """The lock-and-read and the write of one append, on one backend's driver."""

    def __init__(self, session: Session) -> None:
        self.dialect = session.get_bind().dialect.name
        self.connection: Any = session.connection().connection.driver_connection

    def lock_and_read(self, stream_ids: Sequence[str], event_ids: Sequence[str]) -> HeadRead:
        cursor = self.connection.cursor()
        try:
            rows = (self._read_postgresql(cursor, stream_ids, event_ids)
                    if self.dialect == "postgresql"
                    else self._read_sqlite(cursor, stream_ids, event_ids))
        finally:
            cursor.close()
        head: tuple[int, str] | None = None
        versions = dict.fromkeys(stream_ids, 0)
        recorded: set[str] = set()
        for kind, number, text in rows:
            if kind == 0:
                head = (int(number), text)
            elif kind == 1:
                versions[text] = int(number)
            else:
                recorded.add(text)
        if head is None:
            raise RuntimeError("the event store's head row is missing: create the schema "
                               "with chibo.db.create_schema (or chibo migrate) first")
        return HeadRead(head[0], head[1], versions, recorded)

    def write(self, rows: Sequence[tuple[Any, ...]], position: int, last_hash: str) -> None:
        cursor = self.connection.cursor()
        try:
            if self.dialect == "postgresql":
                self._write_postgresql(cursor, rows, position, last_hash)
            else:
                cursor.executemany(_INSERT_SQLITE, rows)
                cursor.execute("UPDATE event_head SET position = ?, hash = ? WHERE id = 1",
                               (position, last_hash))
        finally:
            cursor.close()

    @staticmethod
    def _read_postgresql(cursor: Any, stream_ids: Sequence[str],
                         event_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        cursor.execute(
            "SELECT 1 FROM event_head WHERE id = 1 FOR UPDATE; "
            "SELECT 0, position, hash FROM event_head WHERE id = 1 "
            "UNION ALL SELECT 1, max(stream_version), stream_id FROM events "
            "WHERE stream_id = ANY(%(streams)s) GROUP BY stream_id "
            "UNION ALL SELECT 2, position, event_id FROM events "
            "WHERE event_id = ANY(%(ids)s)",
            {"streams": list(stream_ids), "ids": list(event_ids)})
        return list(cursor.fetchall())

    @staticmethod
    def _read_sqlite(cursor: Any, stream_ids: Sequence[str],
                     event_ids: Sequence[str]) -> list[tuple[Any, ...]]:
        rows = list(cursor.execute("SELECT 0, position, hash FROM event_head WHERE id = 1"))
        for start in range(0, len(stream_ids), _CHUNK):
            chunk = stream_ids[start:start + _CHUNK]
            rows += cursor.execute(
                "SELECT 1, max(stream_version), stream_id FROM events WHERE stream_id IN "
                f"({','.join('?' * len(chunk))}) GROUP BY stream_id", chunk).fetchall()
        for start in range(0, len(event_ids), _CHUNK):
            chunk = event_ids[start:start + _CHUNK]
            rows += cursor.execute(
                "SELECT 2, position, event_id FROM events WHERE event_id IN "
                f"({','.join('?' * len(chunk))})", chunk).fetchall()
        return rows

    @staticmethod
    def _write_postgresql(cursor: Any, rows: Sequence[tuple[Any, ...]], position: int,
                          last_hash: str) -> None:
        # The head's update rides in the same message as the last chunk of rows.
        move_head = cursor.mogrify("UPDATE event_head SET position = %s, hash = %s "
                                   "WHERE id = 1", (position, last_hash))
        for start in range(0, len(rows), _CHUNK):
            values = b",".join(cursor.mogrify(_ROW_POSTGRESQL, row)
                               for row in rows[start:start + _CHUNK])
            statement = _INSERT_POSTGRESQL + values
            if start + _CHUNK >= len(rows):
                statement += b"; " + move_head
            cursor.execute(statement)


_INSERT_SQLITE = (f"INSERT INTO events ({', '.join(COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(COLUMNS))})")
_INSERT_POSTGRESQL = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ".encode()
_ROW_POSTGRESQL = f"({', '.join(['%s'] * len(COLUMNS))})"
