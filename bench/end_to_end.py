"""Command to reporting: N members admitted over HTTP
(`POST /members/commands/admit_member`) by 8 concurrent callers, timed until
reporting's archive holds all of them; each command's latency is from sending it to
reporting having applied its event.

Three modes:

- "embedded": the in-process bus and SQLite files, every service in this process;
- "services": RabbitMQ on a fresh vhost and a fresh PostgreSQL database per service,
  every service still in this process (so they share its one core and eventlet hub
  with the callers and the watermark poller);
- "distributed": the same broker and databases, each service its own `nameko run`
  process, as `make distributed` and a deployment run them.
"""

from __future__ import annotations

import bisect
import math
import socket
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import eventlet
import requests
from sqlalchemy import select

from bench._support import (
    Row,
    bearer,
    operator_token,
    percentile,
    pg_databases,
    progress,
    rabbit_vhost,
    secured,
)
from bench.two_instances import cluster
from chibo import settings
from chibo.clock import clock_from_setting
from chibo.db import make_engine
from chibo.eventstore.tables import feed_watermarks
from chibo.nameko import memory
from chibo.nameko.runtime import rpc_client, start_embedded
from services.app import CONFIG_DIR, SERVICES
from tests.sample_province import member_name
from tests.support import NOW

CALLERS = 8
CELL_ID = "bench-cb-1"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(yaml_name: str, tmp: str) -> dict[str, Any]:
    config = settings.load(CONFIG_DIR / yaml_name)
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{_free_port()}"
    config.pop("LOGGING", None)
    return secured(config, f"{tmp}/secrets")


def embedded_config(tmp: str) -> dict[str, Any]:
    config = _config("embedded.yaml", tmp)
    config["AMQP_URI"] = "chibomem://"
    config["DATABASES"] = {name: f"sqlite:///{tmp}/{name}.db" for name in config["DATABASES"]}
    return config


def services_config(amqp_uri: str, pg: Any, tmp: str) -> dict[str, Any]:
    config = _config("distributed.yaml", tmp)
    config["AMQP_URI"] = amqp_uri
    config["DATABASES"] = {name: pg.create(name) for name in config["DATABASES"]}
    return config


def _wait_for_reporting(proxy: Any, position: int, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proxy.reporting.watermarks()["members"] >= position:
            return True
        eventlet.sleep(0.05)
    return False


def _poll_watermarks(reporting_database: str, samples: list[tuple[float, int]],
                     target: list[int], deadline: float) -> None:
    """Record (time, members watermark) until it reaches target[0] (set once known).

    Read from reporting's database, not over RPC: a hundred RPC calls a second (each a
    worker, a token check and three queries in reporting) took a sixth of this
    process, which the services under test share."""
    engine = make_engine(reporting_database, pool_size=1)
    query = select(feed_watermarks.c.position).where(feed_watermarks.c.source == "members")
    try:
        with engine.connect() as connection:
            while time.perf_counter() < deadline:
                mark = int(connection.execute(query).scalar() or 0)
                connection.rollback()  # a fresh snapshot for the next read
                samples.append((time.perf_counter(), mark))
                if target[0] and mark >= target[0]:
                    return
                eventlet.sleep(0.01)
    finally:
        engine.dispose()


def _members_positions(proxy: Any) -> dict[str, int]:
    """event_id -> position for the whole members log."""
    positions: dict[str, int] = {}
    after = 0
    while batch := proxy.members.read_events(after=after, limit=5000):
        positions.update((e["event_id"], e["position"]) for e in batch)
        after = batch[-1]["position"]
    return positions


@dataclass(frozen=True)
class Running:
    """The services under test, however they run."""

    proxy: Any
    base_url: str
    reporting_database: str
    token: str
    today: date


@contextmanager
def in_this_process(config: dict[str, Any]) -> Iterator[Running]:
    clock = config.get("CLOCK")
    token = operator_token(clock)
    runner = start_embedded(SERVICES, config)
    try:
        with rpc_client(config, timeout=60, token=token) as proxy:
            yield Running(proxy, f"http://{config['WEB_SERVER_ADDRESS']}",
                          config["DATABASES"]["reporting"], token,
                          clock_from_setting(clock).now().date())
    finally:
        runner.kill()


@contextmanager
def as_processes() -> Iterator[Running]:
    """Each service a `nameko run` process of its own, on the clock of the tests."""
    token = operator_token(NOW)
    with pg_databases() as databases, rabbit_vhost() as amqp, \
            tempfile.TemporaryDirectory(prefix="chibo_bench_") as logs, \
            cluster(databases, amqp, Path(logs), 1) as running, \
            rpc_client({"AMQP_URI": amqp}, timeout=60, token=token) as proxy:
        urls = {name: url for name, _instance, _process, url in running.processes}
        yield Running(proxy, urls["members"], running.databases["reporting"], token,
                      NOW.date())


def _run_mode(mode: str, services: Running, members: int) -> list[Row]:
    start = date(services.today.year - 1, 1, 1).isoformat()
    admitted_on = date(services.today.year - 1, 6, 1).isoformat()
    proxy, token = services.proxy, services.token
    for unit_id, kind, parent in [("bench-tinh", "province", None),
                                  ("bench-xa", "committee", "bench-tinh"),
                                  (CELL_ID, "cell", "bench-xa")]:
        proxy.members.establish_unit({"unit_id": unit_id, "name": f"Đơn vị {unit_id}",
                                      "kind": kind, "parent_id": parent,
                                      "effective_date": start})
    units = len(_members_positions(proxy))
    if not _wait_for_reporting(proxy, units, 30):
        raise RuntimeError("reporting never caught up with the units")

    progress(f"e2e {mode}: admitting {members} members, {CALLERS} callers")
    samples: list[tuple[float, int]] = []
    target = [0]
    deadline = time.perf_counter() + 300
    poller = eventlet.spawn(_poll_watermarks, services.reporting_database, samples, target,
                            deadline)
    eventlet.sleep(0.1)  # let the poller connect before the clock starts

    sent: dict[str, float] = {}
    event_of: dict[str, str] = {}
    inflight: deque[tuple[str, Any]] = deque()

    http = requests.Session()
    http.headers.update(bearer(token))
    http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=CALLERS))
    admit = f"{services.base_url}/members/commands/admit_member"

    def settle_oldest() -> None:
        member_id, reply = inflight.popleft()
        answer = reply.wait()
        if answer.status_code >= 300:
            raise RuntimeError(f"admit_member refused: {answer.text[:300]}")
        event_of[member_id] = answer.json()["events"][0]

    first_sent = time.perf_counter()
    for n in range(members):
        if len(inflight) >= CALLERS:
            settle_oldest()
        member_id = f"bench-dv-{n:06d}"
        sent[member_id] = time.perf_counter()
        inflight.append((member_id, eventlet.spawn(http.post, admit, json={
            "member_id": member_id, "full_name": member_name(n),
            "cell_id": CELL_ID, "admitted_on": admitted_on}, timeout=60)))
    while inflight:
        settle_oldest()
    all_accepted = time.perf_counter()
    progress(f"  accepted in {all_accepted - first_sent:.1f} s; waiting for reporting")

    positions = _members_positions(proxy)
    target[0] = max(positions.values())
    expected = units + members
    if target[0] != expected:
        raise RuntimeError(f"members log ends at {target[0]}, expected {expected}")
    poller.wait()
    if not samples or samples[-1][1] < target[0]:
        raise RuntimeError(f"reporting did not reach {target[0]} in time "
                           f"(last: {samples[-1] if samples else None})")
    all_visible = samples[-1][0]

    marks = [mark for _, mark in samples]
    latencies = []
    for member_id, sent_at in sent.items():
        index = bisect.bisect_left(marks, positions[event_of[member_id]])
        latencies.append((samples[index][0] - sent_at) * 1000)
    accepted_rate = members / (all_accepted - first_sent)
    visible_rate = members / (all_visible - first_sent)
    progress(f"  {accepted_rate:,.0f} commands/s accepted, {visible_rate:,.0f} events/s "
             f"in reporting, p50 {percentile(latencies, 0.5):.0f} ms, "
             f"p99 {percentile(latencies, 0.99):.0f} ms")
    return [
        (f"e2e {mode}: commands accepted", accepted_rate, "commands/s"),
        (f"e2e {mode}: events reaching reporting", visible_rate, "events/s"),
        (f"e2e {mode}: command->reporting p50", percentile(latencies, 0.5), "ms"),
        (f"e2e {mode}: command->reporting p99", percentile(latencies, 0.99), "ms"),
    ]


def run(quick: bool) -> list[Row]:
    members = 300 if quick else 2000
    rows: list[Row] = []
    for mode in ("embedded", "services", "distributed"):
        try:
            if mode == "embedded":
                memory.register()
                memory.reset()
                try:
                    with tempfile.TemporaryDirectory(prefix="chibo_bench_") as tmp, \
                            in_this_process(embedded_config(tmp)) as services:
                        rows += _run_mode(mode, services, members)
                finally:
                    memory.reset()
            elif mode == "services":
                with rabbit_vhost() as amqp_uri, pg_databases() as pg, \
                        tempfile.TemporaryDirectory(prefix="chibo_bench_") as tmp, \
                        in_this_process(services_config(amqp_uri, pg, tmp)) as services:
                    rows += _run_mode(mode, services, members)
            else:
                with as_processes() as services:
                    rows += _run_mode(mode, services, members)
        except Exception as exc:  # noqa: BLE001 - report the failure, run the other modes
            progress(f"e2e {mode} failed: {exc!r}")
            rows.append((f"e2e {mode}: FAILED ({type(exc).__name__})", math.nan, ""))
    return rows
