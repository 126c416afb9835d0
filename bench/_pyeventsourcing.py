"""The append workload in pyeventsourcing, for comparison with chibo's event store.

`python -m bench._pyeventsourcing BACKEND WRITERS SECONDS TARGET` prints events/s, where
BACKEND is sqlite (TARGET a file path) or postgresql (TARGET a database name on the local
server). Run in its own process without eventlet: pyeventsourcing's PostgreSQL recorder
uses psycopg 3, which blocks an eventlet hub, so its writers are plain threads here.

Same workload as bench/append.py: each writer appends one event per transaction, in
turn to 25 streams (aggregates) of its own; the event carries a number and a name.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

STREAMS_PER_WRITER = 25


class Stream(Aggregate):
    @event("Ticked")
    def tick(self, n: int, label: str) -> None:
        self.last = n


def _writer(app: Application, deadline: float, counts: list[int], index: int) -> None:
    streams = [Stream() for _ in range(STREAMS_PER_WRITER)]
    for stream in streams:
        app.save(stream)
    count = 0
    while time.perf_counter() < deadline:
        stream = streams[count % STREAMS_PER_WRITER]
        stream.tick(count, f"Chi bộ Bản Máy {count}")
        app.save(stream)
        count += 1
    counts[index] = count


def main() -> None:
    backend, writers, seconds, target = (sys.argv[1], int(sys.argv[2]), float(sys.argv[3]),
                                         sys.argv[4])
    if backend == "sqlite":
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": target}
    else:
        env = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": target,
               "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432",
               "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "",
               "POSTGRES_POOL_SIZE": str(writers + 1)}
    os.environ.update(env)
    app = Application()
    # Warm up: connections opened, tables created.
    _writer(app, time.perf_counter() + 0.2, [0], 0)
    counts = [0] * writers
    started = time.perf_counter()
    threads = [threading.Thread(target=_writer, args=(app, started + seconds, counts, i))
               for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    print(f"{sum(counts) / elapsed:.1f}")


if __name__ == "__main__":
    main()
