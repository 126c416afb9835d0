"""`chibo rebuild` alone at province scale, on PostgreSQL: the dashboard benchmark's
synthetic province-year (12,000 cells, ~705,000 events; 1,200 cells with --quick) is
written straight into reporting's archive, projected once by a rebuild (so the second
finds full read models to replace, as `chibo rebuild` does), then rebuilt again in a
child process, which is what is measured: events/s, against a raw PostgreSQL COPY of the
same archive rows out and back in, and the child's peak memory (its VmHWM).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from bench._support import Row, peak_rss_mib, pg_databases, progress
from bench.dashboard import raw_copy_seconds, synthetic_province
from chibo.db import create_schema, make_engine, session_factory
from services.reporting.archive import archive_envelopes
from services.reporting.read_model import metadata
from services.reporting.rebuild import rebuild_from_archive
from services.reporting.source_checks import audit_metadata


def archive_only(url: str, logs: dict[str, list[dict[str, Any]]], batch: int = 5000) -> int:
    """Every source's events into the archive, projecting nothing; returns the count."""
    engine = make_engine(url)
    create_schema(engine, metadata, audit_metadata)
    factory = session_factory(engine)
    total = 0
    for events in logs.values():
        for start in range(0, len(events), batch):
            with factory() as session, session.begin():
                archive_envelopes(session, events[start:start + batch])
        total += len(events)
    engine.dispose()
    return total


def rebuild_in_child(url: str) -> dict[str, float]:
    """A rebuild in a fresh process, so its peak memory is its own and not the
    generator's: {"events", "seconds", "peak_rss_mib"}."""
    answer = subprocess.run([sys.executable, "-m", "bench.rebuild", url], check=True,
                            capture_output=True, text=True)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def measure_rebuild(url: str) -> dict[str, float]:
    """Rebuild the models at `url` and say how long it took and how much memory this
    process peaked at: VmHWM, since Linux carries ru_maxrss over an exec, so a child's
    would start at its parent's peak (the generator's, holding the whole province)."""
    engine = make_engine(url)
    started = time.perf_counter()
    events = rebuild_from_archive(session_factory(engine))
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"events": events, "seconds": seconds, "peak_rss_mib": peak_rss_mib(os.getpid()),
            "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def figures(url: str, events: int) -> list[Row]:
    """The rebuild figures of the archive at `url` (read models already projected)."""
    measured = rebuild_in_child(url)
    copy_seconds = raw_copy_seconds(url)
    return [
        ("reporting: chibo rebuild from the archive", measured["events"] / measured["seconds"],
         "events/s"),
        ("reporting: raw COPY of the archive rows (out and in)", events / copy_seconds,
         "events/s"),
        ("reporting: rebuild / raw COPY", 100 * copy_seconds / measured["seconds"], "%"),
        ("reporting: rebuild peak RSS", measured["peak_rss_mib"], "MiB"),
    ]


def run(quick: bool) -> list[Row]:
    cells = 1_200 if quick else 12_000
    progress(f"   generating a province-year: {cells:,} cells")
    logs = synthetic_province(cells)
    with pg_databases() as databases:
        url = databases.create("rebuild")
        events = archive_only(url, logs)
        del logs
        progress(f"   archived {events:,} events; first rebuild (fills the models)")
        first = rebuild_in_child(url)
        progress(f"   first rebuild: {first['events'] / first['seconds']:,.0f} events/s")
        rows = figures(url, events)
    for label, value, unit in rows:
        progress(f"   {label}: {value:,.1f} {unit}")
    return rows


if __name__ == "__main__":
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()  # as in the services and the benchmarks' own process
    print(json.dumps(measure_rebuild(sys.argv[1])))
