"""Closing a month over 15,000 cells (issue 5), on SQLite (file) and PostgreSQL.

The supervision database is filled directly (bulk inserts, not through the
services): a tree of one province, 30 intermediate committees and 15,000 cells
(1,500 with --quick) as `unit_established` facts; a year of meetings (2025-10 to
2026-09: each cell a regular meeting a month, about 5% of cells missing any given
month, 1% of cells three months in a row, two thematic meetings a year); absences
for 2% of the member-months (20 members a cell, a few members chronically
absent); two tasks a cell, a few left open past due. Supervision's own log holds
one `visit_logged` per visited cell in Q3 (70% of cells), so the quarter rules
see a realistic coverage rather than no visits at all. Every row supervision appends
is signed with a signing key of its own, as the service signs its log.

Each measured close is what `close_periods` does for one day, in one transaction:
append `period_closed`, `closing.decide`, append its decisions with
`EventStore.append_many`, `read_model.index` them, commit. Two days are closed:
2026-09-05 (closes the month 2026-08) and 2026-10-05 (closes 2026-09 and Q3),
each three times on a fresh copy of the filled database (a copied SQLite file; a
PostgreSQL database created from a template); the median is reported, with the
escalations raised. Target (issue 5): a month close under 2 s at 15,000 cells.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.orm import Session, sessionmaker

from bench._support import PG_ADMIN_URL, PgDatabases, Row, pg_databases, progress
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.signing import Signer
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend
from services.shared.events.supervision import catalogue
from services.supervision import closing, read_model, replica
from services.supervision.domain import visit_stream
from services.supervision.rules import Settings, month_bounds

CELLS, QUICK_CELLS = 15_000, 1_500
COMMITTEES = 30
MEMBERS_PER_CELL = 20
MONTHS = [f"{y}-{m:02d}" for y, m in [(2025, 10), (2025, 11), (2025, 12)]
          + [(2026, m) for m in range(1, 10)]]
MISS_RATE = 0.04           # a cell misses a given month at random …
CHRONIC_SHARE = 0.01       # … and this share of cells misses three months in a row
CHRONIC_RUNS = (("2026-06", "2026-07", "2026-08"), ("2026-07", "2026-08", "2026-09"))
ABSENCE_RATE = 0.02        # of member-months: absent unexcused or dues unpaid
CHRONIC_MEMBERS = 0.005    # members absent far more often than the rest …
CHRONIC_ABSENCE = 0.4      # … this often
TASKS_PER_CELL = 2
TASK_LEFT_OPEN = 0.05      # tasks never closed (overdue once 14 days past due)
VISITED_SHARE = 0.7        # cells a committee member visited in Q3
RUNS = 3
CLOSES = (("month", date(2026, 9, 5)), ("month+quarter", date(2026, 10, 5)))

FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
          "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
MIDDLE = ("Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quang", "Xuân", "Thu")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hùng", "Hương",
         "Khánh", "Lan", "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn",
         "Tâm", "Thảo", "Thắng", "Trang", "Tuấn", "Việt", "Yến")
PLACES = ("Thôn", "Bản", "Khu phố", "Tổ dân phố", "Ấp", "Xóm")
#: Supervision's signing key for this run: it signs every row appended to its log.
SIGNER = Signer.generate()


@dataclass
class State:
    """The generated facts, ready to insert, and where each day's watermarks stand."""

    units: list[dict[str, Any]] = field(default_factory=list)
    meetings: list[dict[str, Any]] = field(default_factory=list)
    absences: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    visits: list[dict[str, Any]] = field(default_factory=list)
    log_days: list[date] = field(default_factory=list)  # the meetings log, by position

    def watermarks(self, day: date) -> dict[str, int]:
        """Every fact recorded by the end of `day` (the feed caught up before the close)."""
        return {"members": len(self.units), "meetings": bisect_right(self.log_days, day)}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _day_in(rng: random.Random, month: str) -> date:
    first, last = month_bounds(month)
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def generate(cells: int, seed: int = 5) -> State:
    rng = random.Random(seed)
    state = State()
    established = "2020-01-01"

    def unit(unit_id: str, name: str, kind: str, parent_id: str | None) -> None:
        state.units.append({"position": len(state.units) + 1, "type": "unit_established",
                            "data": {"unit_id": unit_id, "name": name, "kind": kind,
                                     "parent_id": parent_id, "effective_date": established}})

    unit("T", "Tỉnh ủy Lào Cai", "province", None)
    for c in range(COMMITTEES):
        unit(f"X{c:02d}", f"Đảng ủy xã {GIVEN[c % len(GIVEN)]} {c + 1}", "committee", "T")
    cell_ids = [f"CB{n:05d}" for n in range(1, cells + 1)]
    for n, cell_id in enumerate(cell_ids, start=1):
        unit(cell_id, f"Chi bộ {PLACES[n % len(PLACES)]} {n}", "cell", f"X{n % COMMITTEES:02d}")

    chronic = {cell_id: CHRONIC_RUNS[i % 2] for i, cell_id in
               enumerate(rng.sample(cell_ids, max(2, round(cells * CHRONIC_SHARE))))}
    # The meetings log: every meeting held, task assigned and task closed, dated; its
    # positions are given once everything is generated, in date order.
    log: list[tuple[date, dict[str, Any], str]] = []
    regular_of: dict[tuple[str, str], dict[str, Any]] = {}
    quarters = ("2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3")
    for cell_id in cell_ids:
        missed = set(chronic.get(cell_id, ()))
        thematic_quarters = set(rng.sample(quarters, 2))
        for month in MONTHS:
            quarter = f"{month[:4]}-Q{(int(month[5:]) - 1) // 3 + 1}"
            combined = False
            if quarter in thematic_quarters and month[5:] in ("02", "05", "08", "11"):
                combined = rng.random() < 0.2
                if not combined:
                    meeting = {"meeting_id": f"{cell_id}-{month}-t", "cell_id": cell_id,
                               "kind": "thematic", "held_on": _day_in(rng, month),
                               "level": None, "event_id": _uuid(rng)}
                    state.meetings.append(meeting)
                    log.append((meeting["held_on"], meeting, "position"))
            if month in missed or (rng.random() < MISS_RATE and not combined):
                continue
            meeting = {"meeting_id": f"{cell_id}-{month}-r", "cell_id": cell_id,
                       "kind": "combined" if combined else "regular",
                       "held_on": _day_in(rng, month),
                       "level": rng.choice(("good", "good", "fair", "average")),
                       "event_id": _uuid(rng)}
            state.meetings.append(meeting)
            regular_of[cell_id, month] = meeting
            log.append((meeting["held_on"], meeting, "position"))
        for t in range(TASKS_PER_CELL):
            due = date(2026, 1, 1) + timedelta(days=rng.randrange(365))
            task = {"task_id": f"{cell_id}-task-{t}", "cell_id": cell_id,
                    "title": f"Vận động đảng viên đóng đảng phí đầy đủ ({t + 1})", "due_on": due,
                    "event_id": _uuid(rng), "closed_position": None}
            state.tasks.append(task)
            log.append((due - timedelta(days=30), task, "position"))
            if rng.random() >= TASK_LEFT_OPEN:
                log.append((due - timedelta(days=rng.randrange(20)), task, "closed_position"))
    log.sort(key=lambda entry: entry[0])  # stable: same-day events keep their order
    for position, (day, row, column) in enumerate(log, start=1):
        row[column] = position
        state.log_days.append(day)

    other_rate = (ABSENCE_RATE - CHRONIC_MEMBERS * CHRONIC_ABSENCE) / (1 - CHRONIC_MEMBERS)
    for cell_id in cell_ids:
        members = [(f"{cell_id}-m{k:02d}",
                    f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}",
                    CHRONIC_ABSENCE if rng.random() < CHRONIC_MEMBERS else other_rate)
                   for k in range(MEMBERS_PER_CELL)]
        for month in MONTHS:
            meeting = regular_of.get((cell_id, month))
            if meeting is None:
                continue
            for member_id, full_name, rate in members:
                if rng.random() < rate:
                    unexcused = rng.random() < 0.6
                    state.absences.append({
                        "meeting_id": meeting["meeting_id"], "member_id": member_id,
                        "full_name": full_name, "cell_id": cell_id,
                        "held_on": meeting["held_on"], "unexcused": unexcused,
                        "dues_unpaid": not unexcused or rng.random() < 0.3,
                        "event_id": meeting["event_id"], "position": meeting["position"]})

    for n, cell_id in enumerate(rng.sample(cell_ids, round(cells * VISITED_SHARE))):
        meeting = next((regular_of[cell_id, m] for m in ("2026-08", "2026-07", "2026-09")
                        if (cell_id, m) in regular_of), None)
        if meeting is not None:
            state.visits.append({
                "visit_id": f"visit-{n:05d}", "visitor": f"{rng.choice(FAMILY)} Văn Kiểm",
                "cell_id": cell_id, "meeting_id": meeting["meeting_id"],
                "visited_on": meeting["held_on"], "self_level": meeting["level"],
                "confirmed_level": meeting["level"]})
    return state


def fill(engine: Engine, state: State) -> None:
    create_schema(engine, replica.metadata, read_model.metadata)
    factory = session_factory(engine)
    with unit_of_work(factory) as session:
        for table, rows in ((replica.unit_events, [
                {**u, "data": json.dumps(u["data"], ensure_ascii=False)} for u in state.units]),
                (replica.held, state.meetings), (replica.absences, state.absences),
                (replica.tasks, state.tasks)):
            for start in range(0, len(rows), 10_000):
                session.execute(insert(table), rows[start:start + 10_000])
        store = EventStore(session, catalogue, signer=SIGNER)
        recorded = store.append_many([
            StreamAppend(visit_stream(v["visit_id"]), 0, [NewEvent("visit_logged", v)])
            for v in state.visits])
        read_model.index(session, recorded)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


@dataclass
class Outcome:
    seconds: float
    phases: dict[str, float]
    counts: dict[str, int]


def close(factory: sessionmaker[Session], day: date, watermarks: dict[str, int],
          settings: Settings) -> Outcome:
    """One day's close as `close_periods` takes it: one transaction, committed."""
    phases: dict[str, float] = {}
    started = mark = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.perf_counter()
        phases[name] = now - mark
        mark = now

    with unit_of_work(factory) as session:
        store = EventStore(session, catalogue, signer=SIGNER)
        marks = store.append_many(closing.close_events(day, watermarks, settings))
        read_model.index(session, marks)
        lap("period_closed")
        appends = closing.decide(session, day, watermarks, marks[0].position, settings)
        lap("decide")
        recorded = store.append_many(appends)
        lap("append")
        read_model.index(session, recorded)
        lap("index")
    lap("commit")
    counts: dict[str, int] = {}
    for event in recorded:
        counts[event.type] = counts.get(event.type, 0) + 1
    return Outcome(time.perf_counter() - started, phases, counts)


def _measure(backend: str, copy: Callable[[int], str], state: State, label: str,
             day: date, settings: Settings) -> list[Row]:
    outcomes = []
    for attempt in range(RUNS):
        engine = make_engine(copy(attempt))
        try:
            with engine.connect():
                pass  # open the connection outside the timing
            outcome = close(session_factory(engine), day, state.watermarks(day), settings)
        finally:
            engine.dispose()
        outcomes.append(outcome)
        progress(f"  {backend} {label} close of {day}: {outcome.seconds:.2f} s ("
                 + ", ".join(f"{k} {v:.2f}" for k, v in outcome.phases.items()) + "); "
                 + ", ".join(f"{v:,} {k}" for k, v in sorted(outcome.counts.items())))
    cells = len(state.units) - 1 - COMMITTEES
    raised = outcomes[0].counts.get("escalation_raised", 0)
    title = f"month_close {backend}: {label} ({day}, {cells:,} cells)"
    return [(f"{title}, median of {RUNS}", statistics.median(o.seconds for o in outcomes), "s"),
            (f"{title}, escalations raised", float(raised), "escalations")]


def _sqlite(tmp: Path, state: State, settings: Settings) -> list[Row]:
    template = tmp / "month_close.db"
    engine = make_engine(f"sqlite:///{template}")
    started = time.perf_counter()
    try:
        fill(engine, state)
    finally:
        engine.dispose()
    progress(f"  sqlite: filled in {time.perf_counter() - started:.1f} s")

    def copy(label: str) -> Callable[[int], str]:
        def make(attempt: int) -> str:
            target = tmp / f"close_{label}_{attempt}.db"
            for suffix in ("", "-wal"):  # no -wal once the last connection closed
                if Path(f"{template}{suffix}").exists():
                    shutil.copyfile(f"{template}{suffix}", f"{target}{suffix}")
            return f"sqlite:///{target}"
        return make

    rows: list[Row] = []
    for label, day in CLOSES:
        rows += _measure("sqlite", copy(label.replace("+", "_")), state, label, day, settings)
    return rows


def _postgresql(pg: PgDatabases, state: State, settings: Settings) -> list[Row]:
    url = pg.create("month_close_tpl")
    template = url.rsplit("/", 1)[1]
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        fill(engine, state)
    finally:
        engine.dispose()
    progress(f"  postgresql: filled in {time.perf_counter() - started:.1f} s")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def copy(label: str) -> Callable[[int], str]:
        def make(attempt: int) -> str:
            name = f"{pg.prefix}_close_{label}_{attempt}"
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
            pg.created.append(name)  # dropped with the others
            return url.rsplit("/", 1)[0] + "/" + name
        return make

    rows: list[Row] = []
    try:
        for label, day in CLOSES:
            rows += _measure("postgresql", copy(label.replace("+", "_")), state, label, day,
                             settings)
    finally:
        admin.dispose()
    return rows


def run(quick: bool) -> list[Row]:
    cells = QUICK_CELLS if quick else CELLS
    started = time.perf_counter()
    state = generate(cells)
    progress(f"month_close: generated {cells:,} cells, {len(state.meetings):,} meetings, "
             f"{len(state.absences):,} absences, {len(state.tasks):,} tasks, "
             f"{len(state.visits):,} visits in {time.perf_counter() - started:.1f} s")
    settings = Settings()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chibo_bench_") as tmp, pg_databases() as pg:
        rows += _sqlite(Path(tmp), state, settings)
        rows += _postgresql(pg, state, settings)
    return rows
