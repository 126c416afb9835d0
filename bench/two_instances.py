"""One instance of each service against two, and two with one of each killed mid-run.

Distributed mode (each service its own `nameko run` process on RabbitMQ and PostgreSQL,
as `make distributed` runs them), started three times on fresh databases: one process
per service; two per service (competing consumers on every queue, one relay elected per
log); two per service with the first-started instance of each killed with SIGKILL
halfway through the load (at half the time the two-instance run's load took), and with
it its buffered events, the RPC requests it had taken and its relay leadership. Each
run sends the same commands, `chibo simulate --preset small --months 1` (seed 1), over
RPC, each command with its own command id (as the simulator sends them), so a request
redelivered after a kill is answered from the command log rather than run twice; then
supervision closes the month.
Figures per run: the events logged, the seconds from the last command's answer until
reporting has applied every event of every source, events/s from the first command to
that moment, how many events reporting's feeds read back from the logs instead of
receiving them from the bus (counted by the instances alive at the end), and how many
archived events differ from the logs (missing, extra or different, by position and
hash) and read-model rows from a rebuild from the logs: both must be 0.

The second instance of each service starts once the first answers /healthz: the first
start creates the schema, and two starting on one fresh database would race in it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import requests
from sqlalchemy import select

from bench._support import (
    PgDatabases,
    Row,
    bearer,
    operator_token,
    pg_databases,
    progress,
    rabbit_vhost,
    secured_env,
)
from chibo.db import make_engine, session_factory
from chibo.eventstore.store import EventStore
from chibo.eventstore.tables import events as events_table
from chibo.nameko.runtime import rpc_client
from clients.simulator.driver import RpcSender
from clients.simulator.run import reporting_caught_up, simulate
from services.app import CONFIG_DIR
from services.reporting.read_model import archive, snapshot
from services.reporting.rebuild import rebuild
from services.shared.events import SOURCES, catalogue
from tests.support import NOW, free_ports, wait_until

SERVICES = {"members": "MembersService", "meetings": "MeetingsService",
            "supervision": "SupervisionService", "reporting": "ReportingService"}
PRESET, MONTHS, SEED = "small", 1, 1
CATCH_UP_TIMEOUT_SECONDS = 1800


@dataclass
class Cluster:
    """`instances` processes per service on one set of databases and one vhost, with the
    benchmarks' secret; the services' signing keys are made in `log_dir`/secrets."""

    databases: dict[str, str]
    amqp: str
    log_dir: Path
    instances: int
    processes: list[tuple[str, int, subprocess.Popen[bytes], str]] = field(default_factory=list)

    def start(self) -> None:
        env = {**os.environ, "CHIBO_AMQP_URI": self.amqp, "CHIBO_LOG_LEVEL": "WARNING",
               "CHIBO_CLOCK": NOW.isoformat(), **secured_env(self.log_dir / "secrets")}
        for name, url in self.databases.items():
            env[f"CHIBO_{name.upper()}_DATABASE_URL"] = url
        nameko = str(Path(sys.executable).parent / "nameko")
        ports = iter(free_ports(len(SERVICES) * self.instances))
        for instance in range(self.instances):
            started = []
            for name, cls in SERVICES.items():
                url = f"http://127.0.0.1:{next(ports)}"
                log = open(self.log_dir / f"{name}-{instance}.log", "wb")  # noqa: SIM115
                process = subprocess.Popen(
                    [nameko, "run", "--config", str(CONFIG_DIR / "distributed.yaml"),
                     f"services.{name}.entrypoints:{cls}"],
                    env={**env, "CHIBO_WEB_ADDRESS": url.removeprefix("http://")},
                    stdout=log, stderr=subprocess.STDOUT)
                log.close()  # the child has its own copy
                self.processes.append((name, instance, process, url))
                started.append((name, instance, process, url))
            for name, instance, process, url in started:
                wait_until(lambda p=process, u=url: p.poll() is None and _healthy(u),
                           timeout=120, interval=0.2,
                           message=f"{name} #{instance} to answer /healthz "
                           f"(log in {self.log_dir}/{name}-{instance}.log)")

    def kill_first_of_each(self) -> None:
        for _name, instance, process, _url in self.processes:
            if instance == 0:
                process.send_signal(signal.SIGKILL)

    def metric_sum(self, metric: str, consumer: str) -> float:
        """A counter summed over every live reporting process's /metrics."""
        total = 0.0
        pattern = re.compile(rf'^{metric}{{consumer="{consumer}",source="[^"]+"}} (\S+)$',
                             re.MULTILINE)
        for name, _instance, process, url in self.processes:
            if name != "reporting" or process.poll() is not None:
                continue
            text = requests.get(url + "/metrics", headers=bearer(operator_token(NOW)),
                                timeout=10).text
            total += sum(float(value) for value in pattern.findall(text))
        return total

    def stop(self) -> None:
        for _name, _instance, process, _url in self.processes:
            if process.poll() is None:
                process.terminate()
        for _name, _instance, process, _url in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _healthy(url: str) -> bool:
    try:
        return requests.get(url + "/healthz", timeout=1).status_code == 200
    except requests.RequestException:
        return False


@contextmanager
def cluster(databases: PgDatabases, amqp: str, log_dir: Path, instances: int
            ) -> Iterator[Cluster]:
    urls = {name: databases.create(name) for name in SERVICES}
    running = Cluster(urls, amqp, log_dir, instances)
    try:
        running.start()
        yield running
    finally:
        running.stop()


def differences_from_logs(databases: dict[str, str]) -> tuple[int, int]:
    """(archived events not equal to the log's, read-model rows not equal to a rebuild)."""
    engines = {name: make_engine(url) for name, url in databases.items()}
    try:
        with session_factory(engines["reporting"])() as session:
            archived = {(r.source, r.position, r.event_id, r.hash) for r in session.execute(
                select(archive.c.source, archive.c.position, archive.c.event_id,
                       archive.c.hash))}
            live = snapshot(session)
        logged = set()
        for source in SOURCES:
            with session_factory(engines[source])() as session:
                logged |= {(source, r.position, r.event_id, r.hash) for r in session.execute(
                    select(events_table.c.position, events_table.c.event_id,
                           events_table.c.hash))}

        def fetch(source: str, after: int, limit: int) -> list[dict[str, Any]]:
            with session_factory(engines[source])() as session:
                # As read_events serves them (and the relay publishes them): redacted.
                return [e.envelope(source, catalogue) for e in
                        EventStore(session, catalogue).read_all(after, limit)]

        rebuilt, _ = rebuild(fetch)
        rows = 0
        for table, expected in rebuilt.items():
            found, wanted = Counter(live.get(table, [])), Counter(expected)
            differing = sum(((found - wanted) + (wanted - found)).values())
            if differing:
                progress(f"   {table}: {differing} rows differ from a rebuild, e.g. live "
                         f"{sorted(found - wanted)[:2]} against rebuilt "
                         f"{sorted(wanted - found)[:2]}")
            rows += differing
        return len(archived ^ logged), rows
    finally:
        for engine in engines.values():
            engine.dispose()


@dataclass
class Outcome:
    label: str
    events: int
    load_seconds: float
    catch_up_seconds: float
    healed_events: float
    healing_reads: float
    archive_differences: int
    read_model_differences: int

    @property
    def events_per_second(self) -> float:
        return self.events / (self.load_seconds + self.catch_up_seconds)

    def rows(self) -> list[Row]:
        return [
            (f"{self.label}: events", self.events, "events"),
            (f"{self.label}: reporting caught up after the load ended",
             self.catch_up_seconds, "s"),
            (f"{self.label}: events end to end", self.events_per_second, "events/s"),
            (f"{self.label}: events reporting read from the logs", self.healed_events,
             "events"),
            (f"{self.label}: archive vs logs, events missing/extra",
             self.archive_differences, "events"),
            (f"{self.label}: read models vs a rebuild, rows differing",
             self.read_model_differences, "rows"),
        ]


def one_run(label: str, instances: int, kill_after: float | None, log_dir: Path
            ) -> Outcome:
    with pg_databases() as databases, rabbit_vhost() as amqp, \
            cluster(databases, amqp, log_dir, instances) as running, \
            rpc_client({"AMQP_URI": amqp}, timeout=600, token=operator_token(NOW)) as proxy:
        progress(f"   {label}: simulate {PRESET}, {MONTHS} month(s), seed {SEED}, over RPC")
        killer = None
        if kill_after is not None:
            killer = threading.Timer(kill_after, running.kill_first_of_each)
            killer.start()
        started = time.perf_counter()
        try:
            simulate(RpcSender(proxy), PRESET, MONTHS, SEED, NOW.date(),
                     show_progress=False)
        finally:
            if killer is not None:
                killer.cancel()
        load_ended = time.perf_counter()
        events = wait_until(lambda: reporting_caught_up(proxy),
                            timeout=CATCH_UP_TIMEOUT_SECONDS, interval=0.1,
                            message=f"reporting to apply every event ({label})")
        caught_up = time.perf_counter()
        healed = running.metric_sum("chibo_feed_healed_total", "reporting")
        reads = running.metric_sum("chibo_feed_heal_reads_total", "reporting")
        archive_diff, rows_diff = differences_from_logs(running.databases)
        outcome = Outcome(label, events, load_ended - started, caught_up - load_ended,
                          healed, reads, archive_diff, rows_diff)
        progress(f"   {label}: {events:,} events; load {outcome.load_seconds:.1f} s; "
                 f"caught up {outcome.catch_up_seconds:.1f} s after; "
                 f"{outcome.events_per_second:,.0f} events/s; reporting read "
                 f"{healed:,.0f} events back from the logs in {reads:,.0f} reads "
                 f"(live instances); archive differs in {archive_diff}, read models in "
                 f"{rows_diff} rows")
        return outcome


def run(quick: bool) -> list[Row]:
    rows: list[Row] = []
    with TemporaryDirectory(prefix="chibo_bench_two_") as logs:
        single = one_run("1 instance each", 1, None, Path(logs))
        rows += single.rows()
        double = one_run("2 instances each", 2, None, Path(logs))
        rows += double.rows()
        killed = one_run("2 instances each, one of each killed mid-run", 2,
                         double.load_seconds / 2, Path(logs))
        rows += killed.rows()
    rows.append(("2 instances each / 1 instance: events end to end",
                 100 * double.events_per_second / single.events_per_second, "%"))
    return rows
