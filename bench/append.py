"""Event-store append throughput on SQLite (file) and PostgreSQL.

Three shapes of load, each run for a fixed time on a fresh database:
one writer committing one event per transaction; one writer committing 100
events per transaction (append_many over ten streams); four writers (green
threads on separate connections) committing one event per transaction. The
one-event shapes run side by side in pyeventsourcing (bench/_pyeventsourcing.py,
its SQLite and PostgreSQL recorders) on a fresh database of its own. chibo signs every
row's hash (Ed25519) as a service does; pyeventsourcing signs nothing.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import eventlet
import marshmallow
import psycopg2
from marshmallow import fields
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench._support import Row, pg_databases, progress
from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory
from chibo.eventstore.append_sql import COLUMNS
from chibo.eventstore.signing import Signer
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend
from chibo.eventstore.tables import events
from chibo.group_commit import GroupCommit

catalogue = Catalogue()


@catalogue.event("ticked")
class Ticked(marshmallow.Schema):
    n = fields.Integer(required=True)
    label = fields.String(required=True)


#: The signing key of the benchmark's log: every row's hash is signed, as in a service.
SIGNER = Signer.generate()
WRITERS = 4
BATCH_STREAMS = 10
BATCH_PER_STREAM = 10  # 100 events per transaction


def _event(n: int) -> NewEvent:
    return NewEvent("ticked", {"n": n, "label": f"Chi bộ Bản Máy {n}"})


def _one_per_txn(group: GroupCommit, deadline: float, writer: int = 0) -> int:
    """As a service's command does: its own transaction, shared with whichever other
    commands of the process commit at the same moment (chibo.group_commit)."""
    count = 0
    while time.perf_counter() < deadline:
        with group.unit() as session:
            EventStore(session, catalogue, signer=SIGNER).append(
                f"w{writer}-s{count % 25}", None, [_event(count)])
        count += 1
    return count


def _batched(group: GroupCommit, deadline: float) -> int:
    count = 0
    while time.perf_counter() < deadline:
        with group.unit() as session:
            EventStore(session, catalogue, signer=SIGNER).append_many([
                StreamAppend(f"s{s}", None,
                             [_event(count + s * BATCH_PER_STREAM + i)
                              for i in range(BATCH_PER_STREAM)])
                for s in range(BATCH_STREAMS)])
        count += BATCH_STREAMS * BATCH_PER_STREAM
    return count


def _concurrent(group: GroupCommit, deadline: float) -> int:
    threads = [eventlet.spawn(_one_per_txn, group, deadline, w) for w in range(WRITERS)]
    return sum(t.wait() for t in threads)


#: Scenarios run in pyeventsourcing too, with how many writers.
COMPARED = {"1 writer, 1 event/txn": 1, f"{WRITERS} writers, 1 event/txn": WRITERS}

SCENARIOS: list[tuple[str, Callable[[GroupCommit, float], int]]] = [
    ("1 writer, 1 event/txn", _one_per_txn),
    ("1 writer, 100 events/txn", _batched),
    (f"{WRITERS} writers, 1 event/txn", _concurrent),
]


def _measure(url: str, scenario: Callable[[GroupCommit, float], int],
             seconds: float) -> tuple[float, list[tuple[Any, ...]]]:
    """The scenario's events/s, and the rows it wrote (for the raw baseline)."""
    engine = make_engine(url, pool_size=WRITERS + 2)
    try:
        create_schema(engine)
        group = GroupCommit(session_factory(engine))
        # Warm up: open the pool's connections and the catalogue's schema.
        _concurrent(group, time.perf_counter() + 0.2)
        started = time.perf_counter()
        count = scenario(group, started + seconds)
        rate = count / (time.perf_counter() - started)
        with engine.connect() as connection:
            written = [tuple(row) for row in connection.execute(
                select(*[events.c[c] for c in COLUMNS]).order_by(events.c.position))]
        return rate, written
    finally:
        engine.dispose()


def _raw_inserts(url: str, rows: list[tuple[Any, ...]], seconds: float) -> float:
    """The floor of one append: the rows chibo wrote, inserted again one per transaction
    with the bare driver (no lock, no checks, no hashing) into a fresh database of the
    same schema, with the same durability (SQLite WAL with synchronous=FULL)."""
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    parsed = make_url(url)
    columns = ", ".join(COLUMNS)
    if parsed.get_backend_name() == "sqlite":
        connection: Any = sqlite3.connect(parsed.database, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        statement = f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * len(COLUMNS))})"

        def insert(row: tuple[Any, ...]) -> None:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(statement, row)
            connection.execute("COMMIT")
    else:
        connection = psycopg2.connect(host=parsed.host, port=parsed.port,
                                      user=parsed.username, dbname=parsed.database)
        cursor = connection.cursor()
        statement = f"INSERT INTO events ({columns}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"

        def insert(row: tuple[Any, ...]) -> None:
            cursor.execute(statement, row)
            connection.commit()
    try:
        started = time.perf_counter()
        count = 0
        for row in rows:
            insert(row)
            count += 1
            if time.perf_counter() - started > seconds:
                break
        return count / (time.perf_counter() - started)
    finally:
        connection.close()


def _pyeventsourcing(backend: str, writers: int, seconds: float, target: str) -> float:
    """The same workload in pyeventsourcing, in a process of its own (see its module)."""
    answer = subprocess.run(
        [sys.executable, "-m", "bench._pyeventsourcing", backend, str(writers), str(seconds),
         target], check=True, capture_output=True, text=True)
    return float(answer.stdout.split()[-1])


def run(quick: bool) -> list[Row]:
    seconds = 1.5 if quick else 5.0
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chibo_bench_") as tmp, pg_databases() as pg:
        for backend in ("sqlite", "postgresql"):
            for index, (label, scenario) in enumerate(SCENARIOS):
                url = (f"sqlite:///{tmp}/append_{index}.db" if backend == "sqlite"
                       else pg.create(f"append_{index}"))
                progress(f"append: {backend}, {label} ({seconds:.1f} s)")
                rate, written = _measure(url, scenario, seconds)
                progress(f"  {rate:,.0f} events/s")
                rows.append((f"append {backend}: {label}", rate, "events/s"))
                if index == 0:
                    raw = _raw_inserts(f"sqlite:///{tmp}/raw.db" if backend == "sqlite"
                                       else pg.create("append_raw"), written, seconds)
                    progress(f"  raw single-row inserts: {raw:,.0f} rows/s")
                    rows.append((f"append {backend}: raw single-row insert transactions "
                                 "of the same rows", raw, "rows/s"))
                    rows.append((f"append {backend}: 1 writer / raw inserts",
                                 100 * rate / raw, "%"))
                writers = COMPARED.get(label)
                if writers is None:
                    continue  # pyeventsourcing has no batch of many streams to compare
                target = (f"{tmp}/pyes_{index}.db" if backend == "sqlite"
                          else make_url(pg.create(f"pyes_{index}")).database)
                theirs = _pyeventsourcing(backend, writers, seconds, target)
                progress(f"  pyeventsourcing: {theirs:,.0f} events/s")
                rows.append((f"append {backend}: {label}, pyeventsourcing", theirs, "events/s"))
                rows.append((f"append {backend}: {label}, chibo / pyeventsourcing",
                             rate / theirs, "×"))
    return rows
