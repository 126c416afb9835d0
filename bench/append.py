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

import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import eventlet
import marshmallow
from marshmallow import fields
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench._support import Row, pg_databases, progress
from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.signing import Signer
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend

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


def _one_per_txn(factory: sessionmaker[Session], deadline: float, writer: int = 0) -> int:
    count = 0
    while time.perf_counter() < deadline:
        with unit_of_work(factory) as session:
            EventStore(session, catalogue, signer=SIGNER).append(
                f"w{writer}-s{count % 25}", None, [_event(count)])
        count += 1
    return count


def _batched(factory: sessionmaker[Session], deadline: float) -> int:
    count = 0
    while time.perf_counter() < deadline:
        with unit_of_work(factory) as session:
            EventStore(session, catalogue, signer=SIGNER).append_many([
                StreamAppend(f"s{s}", None,
                             [_event(count + s * BATCH_PER_STREAM + i)
                              for i in range(BATCH_PER_STREAM)])
                for s in range(BATCH_STREAMS)])
        count += BATCH_STREAMS * BATCH_PER_STREAM
    return count


def _concurrent(factory: sessionmaker[Session], deadline: float) -> int:
    threads = [eventlet.spawn(_one_per_txn, factory, deadline, w) for w in range(WRITERS)]
    return sum(t.wait() for t in threads)


#: Scenarios run in pyeventsourcing too, with how many writers.
COMPARED = {"1 writer, 1 event/txn": 1, f"{WRITERS} writers, 1 event/txn": WRITERS}

SCENARIOS: list[tuple[str, Callable[[sessionmaker[Session], float], int]]] = [
    ("1 writer, 1 event/txn", _one_per_txn),
    ("1 writer, 100 events/txn", _batched),
    (f"{WRITERS} writers, 1 event/txn", _concurrent),
]


def _measure(url: str, scenario: Callable[[sessionmaker[Session], float], int],
             seconds: float) -> float:
    engine = make_engine(url, pool_size=WRITERS + 2)
    try:
        create_schema(engine)
        factory = session_factory(engine)
        # Warm up: open the pool's connections and the catalogue's schema.
        _concurrent(factory, time.perf_counter() + 0.2)
        started = time.perf_counter()
        count = scenario(factory, started + seconds)
        return count / (time.perf_counter() - started)
    finally:
        engine.dispose()


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
                rate = _measure(url, scenario, seconds)
                progress(f"  {rate:,.0f} events/s")
                rows.append((f"append {backend}: {label}", rate, "events/s"))
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
