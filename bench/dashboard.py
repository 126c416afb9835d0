"""Reporting at province scale: projection and rebuild speed, then the dashboard's
pages under 20 concurrent clients, on PostgreSQL.

A synthetic archive stands for a year of a province's events (12,000 cells under
30 intermediate committees and 1,400 grassroots organisations; 1,200 cells with
--quick): units, 20 members a cell, a regular meeting a month in about 95% of
cells (full attendance lines), two or three thematic meetings a year, a task per
meeting (most done, some overdue), visits in about 80% of cells a quarter, and
escalations for the missed months. It is projected through `project_run` in runs
of 5,000 events as the live feed would (measured: events/s), then `chibo
rebuild`'s `rebuild_from_archive` runs over it in a child process (measured: events/s,
against a raw PostgreSQL COPY of the same archive rows, and its peak memory; `python -m
bench rebuild` measures this part alone).

Right after the load, the reporting service alone serves that database (on RabbitMQ),
as one process and then as two processes sharing its port, and 20 client threads
(http.client, one kept-alive connection each) request as fast as they get answers,
for 20 s each: the province overview, a committee, a grassroots organisation, a cell —
as pages (HTML) and as JSON, over random units, each client signed in as the
operator (a bearer token). p50 and p95 per kind, and each
reporting process's peak memory. Target: p95 under 100 ms.
"""

from __future__ import annotations

import http.client
import io
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import text

from bench._support import (
    Row,
    bearer,
    operator_token,
    peak_rss_mib,
    percentile,
    pg_databases,
    progress,
    rabbit_vhost,
)
from chibo.db import create_schema, make_engine, session_factory
from services.reporting.projector import project_run
from services.reporting.read_model import metadata
from services.reporting.source_checks import audit_metadata

YEAR = 2025
CLIENTS = 20
SECONDS = 20


def _envelope(source: str, position: int, type_: str, data: dict[str, Any],
              day: date) -> dict[str, Any]:
    return {"source": source, "position": position, "event_id": str(uuid.uuid4()),
            "stream_id": f"{type_.split('_')[0]}-{position}", "type": type_, "version": 1,
            "data": data, "metadata": {"actor": "bench", "command_id": str(uuid.uuid4())},
            "recorded_at": f"{day.isoformat()}T09:00:00+00:00", "hash": "0" * 64}


def synthetic_province(cells: int, seed: int = 7) -> dict[str, list[dict[str, Any]]]:
    """Every source's events for a province-year, in log order."""
    rng = random.Random(seed)
    logs: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def add(source: str, type_: str, day: date, **data: Any) -> None:
        logs[source].append(_envelope(source, len(logs[source]) + 1, type_, data, day))

    start = date(YEAR - 1, 1, 1)
    add("members", "unit_established", start, unit_id="P", name="Tỉnh ủy Thanh Hóa",
        kind="province", parent_id=None, effective_date=start.isoformat())
    committees = [f"C{c:02d}" for c in range(30)]
    for c in committees:
        add("members", "unit_established", start, unit_id=c, name=f"Đảng ủy xã {c}",
            kind="committee", parent_id="P", effective_date=start.isoformat())
    grassroots = max(1, cells * 1400 // 12000)
    cell_ids: list[str] = []
    for g in range(grassroots):
        parent = committees[g % len(committees)]
        if g % 7 == 0:  # a grassroots cell: it meets itself
            add("members", "unit_established", start, unit_id=f"G{g}", name=f"Chi bộ cơ sở {g}",
                kind="grassroots_cell", parent_id=parent, effective_date=start.isoformat())
            cell_ids.append(f"G{g}")
            continue
        add("members", "unit_established", start, unit_id=f"G{g}", name=f"Đảng bộ {g}",
            kind="grassroots", parent_id=parent, effective_date=start.isoformat())
    under = [f"G{g}" for g in range(grassroots) if g % 7]
    n = 0
    while len(cell_ids) < cells:
        cell = f"G{under[n % len(under)][1:]}-{n}"
        add("members", "unit_established", start, unit_id=cell, name=f"Chi bộ thôn {n}",
            kind="cell", parent_id=under[n % len(under)], effective_date=start.isoformat())
        cell_ids.append(cell)
        n += 1
    roster = {}
    for cell in cell_ids:
        roster[cell] = [f"{cell}-m{i}" for i in range(20)]
        for member in roster[cell]:
            add("members", "member_admitted", start, member_id=member,
                full_name=f"Nguyễn Văn {member[-3:]}", cell_id=cell,
                admitted_on="2020-01-01")
    escalation = 0
    for month in range(1, 13):
        held_on = date(YEAR, month, 10)
        for cell in cell_ids:
            if rng.random() < 0.05:
                escalation += 1
                add("supervision", "escalation_raised", held_on + timedelta(days=25),
                    escalation_id=f"e{escalation}", rule="missed_regular_meeting", level=1,
                    target_unit_id="P", target_name="Tỉnh ủy", subject_id=cell,
                    subject_name=cell, cell_id=cell, period=f"{YEAR}-{month:02d}",
                    reason="Không sinh hoạt", raised_on=(held_on + timedelta(days=25))
                    .isoformat(), closed_period=f"{YEAR}-{month:02d}")
                continue
            kind = "combined" if month % 4 == 0 and rng.random() < 0.8 else "regular"
            meeting = f"{cell}-{month}"
            lines = [{"member_id": m, "full_name": f"Nguyễn Văn {m[-3:]}",
                      "status": "present" if rng.random() < 0.9 else "absent_excused",
                      "reason": None, "counted": True} for m in roster[cell]]
            add("meetings", "meeting_held", held_on, meeting_id=meeting, cell_id=cell,
                kind=kind, held_on=held_on.isoformat(), attendance=lines,
                members_counted=len(lines),
                members_present=sum(a["status"] == "present" for a in lines),
                duration_minutes=rng.choice((95, 110, 125, 140)),
                self_score={"level": rng.choice(("good", "good", "fair", "average"))},
                agenda=["Kiểm điểm nghị quyết tháng trước"], speakers=[], flags=[])
            add("meetings", "task_assigned", held_on, task_id=f"t-{meeting}", cell_id=cell,
                meeting_id=meeting, resolution_id=f"r-{meeting}", title="Vận động thu quỹ",
                assignee_name="Nguyễn Văn A", due_on=(held_on + timedelta(days=30)).isoformat())
            if rng.random() < 0.85:
                add("meetings", "task_completed", held_on + timedelta(days=20),
                    task_id=f"t-{meeting}", result="Đã xong",
                    completed_on=(held_on + timedelta(days=20)).isoformat())
            elif month < 12:
                add("meetings", "task_overdue", held_on + timedelta(days=31),
                    task_id=f"t-{meeting}", due_on=(held_on + timedelta(days=30)).isoformat(),
                    noticed_on=(held_on + timedelta(days=31)).isoformat())
            if month % 3 == 2 and rng.random() < 0.8:
                add("supervision", "visit_logged", held_on, visit_id=f"v-{meeting}",
                    visitor="Lê Thị Hạnh", cell_id=cell, meeting_id=meeting,
                    visited_on=held_on.isoformat(), confirmed_level="good", comments="")
    return logs


def load(url: str, logs: dict[str, list[dict[str, Any]]], batch: int = 5000) -> float:
    engine = make_engine(url)
    create_schema(engine, metadata, audit_metadata)  # every table the service declares
    factory = session_factory(engine)
    started = time.perf_counter()
    for source in ("members", "meetings", "supervision"):
        events = logs[source]
        for i in range(0, len(events), batch):
            with factory() as session, session.begin():
                project_run(session, events[i:i + batch])
        progress(f"   projected {source}: {len(events):,} events")
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def raw_copy_seconds(url: str) -> float:
    """COPY the archive out and into a fresh table: the floor for moving those rows."""
    import psycopg2.extensions

    engine = make_engine(url)
    raw = engine.raw_connection()
    # psycopg2 refuses COPY under eventlet's wait callback; nothing else runs meanwhile,
    # so the hub may block for the copy.
    green = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(None)
    try:
        cursor = raw.cursor()
        cursor.execute("CREATE TEMP TABLE archive_copy (LIKE archive)")
        started = time.perf_counter()
        buffer = io.StringIO()
        cursor.copy_expert("COPY archive TO STDOUT", buffer)
        buffer.seek(0)
        cursor.copy_expert("COPY archive_copy FROM STDIN", buffer)
        seconds = time.perf_counter() - started
        raw.rollback()
    finally:
        psycopg2.extensions.set_wait_callback(green)
        raw.close()
        engine.dispose()
    return seconds


def _targets(url: str) -> dict[str, list[str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        units = conn.execute(text("SELECT unit_id, kind FROM units")).all()
    engine.dispose()
    by_kind: dict[str, list[str]] = defaultdict(list)
    for unit_id, kind in units:
        by_kind[kind].append(unit_id)
    return by_kind


def hammer(base: str, targets: dict[str, list[str]], seconds: float = SECONDS
           ) -> dict[str, list[float]]:
    """CLIENTS threads, each requesting as soon as its last answer came back."""
    period = f"{YEAR}-12"
    host, port = urlsplit(base).hostname, urlsplit(base).port
    kinds = {
        "overview page": lambda r: f"/reporting/?period={period}",
        "committee page": lambda r: f"/reporting/units/{r.choice(targets['committee'])}"
                                    f"?period={period}",
        "grassroots page": lambda r: f"/reporting/units/"
                                     f"{r.choice(targets['grassroots'])}?period={period}",
        "cell page": lambda r: f"/reporting/cells/{r.choice(targets['cell'])}",
        "overview JSON": lambda r: f"/reporting/api/overview?period={period}",
        "cell JSON": lambda r: f"/reporting/api/cells/{r.choice(targets['cell'])}",
    }
    names = list(kinds)
    headers = bearer(operator_token())
    timings: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(number: int) -> None:
        # http.client on one kept-alive connection: the load generator shares this
        # machine's two cores with the server, so it should cost as little as it can.
        rng = random.Random(number)
        connection = http.client.HTTPConnection(host, port, timeout=30)
        while time.monotonic() < deadline:
            name = names[rng.randrange(len(names))]
            started = time.perf_counter()
            connection.request("GET", kinds[name](rng), headers=headers)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                errors.append(f"{name}: {response.status} {body[:200]!r}")
                continue
            timings[name].append(elapsed * 1000)
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    return timings


def serve(url: str, amqp: str, processes: int = 1, pids: list[int] | None = None
          ) -> Iterator[str]:
    """Reporting alone over `url`, on RabbitMQ: `processes` child processes sharing one
    port (the kernel spreads connections over them, SO_REUSEPORT)."""
    import subprocess
    import sys

    from tests.support import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The log goes to a file, never a pipe nobody reads: the feed logs every failed call
    # to the absent sources, and a full pipe would block the whole server on write().
    log = tempfile.TemporaryFile()
    keys = tempfile.TemporaryDirectory(prefix="chibo_bench_keys_")
    children = []
    try:
        for _ in range(processes):
            children.append(subprocess.Popen(
                [sys.executable, "-m", "bench._serve_reporting", url, str(port), amqp,
                 keys.name], stdout=subprocess.DEVNULL, stderr=log))
            _wait_healthy(base, children[-1], log)
        if pids is not None:
            pids.extend(child.pid for child in children)
        yield base
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=30)
        log.close()
        keys.cleanup()


def _wait_healthy(base: str, child: Any, log: Any) -> None:
    for _ in range(300):
        if child.poll() is not None:
            break
        try:
            if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                time.sleep(2)  # the newest process may not have answered yet
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    child.kill()
    log.seek(0)
    raise RuntimeError(log.read().decode(errors="replace")[-2000:])


def _measure_pages(url: str, amqp: str, processes: int = 1
                   ) -> tuple[dict[str, list[float]], list[float]]:
    """Timings per kind of page, and each reporting process's peak memory (MiB)."""
    targets = _targets(url)
    server_pids: list[int] = []
    server = serve(url, amqp, processes, server_pids)
    base = next(server)
    try:
        for path in ("/reporting/", f"/reporting/api/overview?period={YEAR}-12"):
            # a server that has served a page
            requests.get(base + path, headers=bearer(operator_token()), timeout=300)
        hammer(base, targets, seconds=3)  # warm up: templates, connections
        timings = hammer(base, targets)
        return timings, [peak_rss_mib(pid) for pid in server_pids]
    finally:
        next(server, None)


def run(quick: bool) -> list[Row]:
    cells = 1_200 if quick else 12_000
    progress(f"   generating a province-year: {cells:,} cells")
    logs = synthetic_province(cells)
    events = sum(len(v) for v in logs.values())
    progress(f"   {events:,} events")
    rows: list[Row] = []

    def measured(label: str, value: float, unit: str) -> None:
        rows.append((label, value, unit))
        progress(f"   {label}: {value:,.1f} {unit}")  # shown as it comes: the run is long

    with pg_databases() as databases:
        url = databases.create("dashboard")
        load_seconds = load(url, logs)
        measured(f"reporting: project {events:,} events (live path, PostgreSQL)",
                 events / load_seconds, "events/s")
        for processes in (1, 2):
            shape = f"{processes} reporting process{'es' if processes > 1 else ''}"
            with rabbit_vhost() as amqp:
                timings, peaks = _measure_pages(url, amqp, processes)
            total = sum(len(v) for v in timings.values())
            measured(f"dashboard, {shape}: requests/s, {CLIENTS} clients", total / SECONDS,
                     "req/s")
            for name, values in timings.items():
                measured(f"dashboard, {shape}: {name} p50 ({cells:,} cells)",
                         statistics.median(values), "ms")
                measured(f"dashboard, {shape}: {name} p95 ({cells:,} cells)",
                         percentile(values, 0.95), "ms")
            measured(f"peak RSS: reporting service serving {cells:,} cells ({shape})",
                     max(peaks), "MiB")
        from bench.rebuild import figures as rebuild_figures  # it builds on this module

        for label, value, unit in rebuild_figures(url, events):
            measured(label, value, unit)
    return rows
