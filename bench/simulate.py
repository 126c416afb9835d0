"""A simulated district-year driven over HTTP through distributed mode, to the dashboard.

The four services run as their own `nameko run` processes on RabbitMQ and PostgreSQL
(as `make distributed` runs them, each signing its log with its own key).
`chibo simulate`'s engine sends the district preset's commands (tree, roster import, a
year of meetings, resolutions, tasks, visits, ratings, the mid-year merges) to their
HTTP command endpoints, 16 at a time, as the operator (a bearer token); then
supervision closes the months. Timed until reporting has projected every event of every source.
Figures: commands/s, events/s end to end, each service's peak memory (VmHWM), and what
that rate makes of a province-year (an estimate from the cell ratio, not a run).
"""

from __future__ import annotations

import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import eventlet
import requests
from sqlalchemy import select

from bench._support import (
    Row,
    bearer,
    operator_token,
    peak_rss_mib,
    pg_databases,
    progress,
    rabbit_vhost,
)
from bench.two_instances import cluster
from chibo.db import make_engine
from chibo.eventstore.tables import event_head
from chibo.nameko.runtime import rpc_client
from clients.simulator.driver import HttpSender
from clients.simulator.presets import PRESETS, Preset
from clients.simulator.run import simulate
from services.shared.events import SOURCES
from tests.support import NOW, reporting_caught_up, wait_until


def run(quick: bool) -> list[Row]:
    preset, months = PRESETS["district"], 2 if quick else 12
    rows, seconds = simulated(preset, months)
    province = PRESETS["province"]
    estimate = seconds * (province.cells / preset.cells) * (12 / months) / 60
    rows.insert(5, (f"province-year ({province.cells:,} cells) at this rate (estimate)",
                    estimate, "min"))
    return rows


def _log_head(url: str) -> int:
    """The newest position of a service's log, read from its database."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(event_head.c.position)).scalar_one())
    finally:
        engine.dispose()


class _CountingSender(HttpSender):
    """Counts the commands answered, so a run stopped at its time limit says how far it
    got."""

    answered = 0

    def finish(self, command: Any, pending: Any) -> Any:
        answer = super().finish(command, pending)
        self.answered += 1
        return answer


def simulated(preset: Preset, months: int, senders: int = 32,
              time_limit_seconds: float | None = None) -> tuple[list[Row], float]:
    """Drive `preset` for `months` through distributed mode to the dashboard; its figures
    and the wall time in seconds. With `time_limit_seconds`, the commands stop at that
    limit; the figures then cover what was sent and projected by then, and say so."""
    rows: list[Row] = []
    token = operator_token(NOW)  # the services' clock
    with pg_databases() as databases, rabbit_vhost() as amqp, \
            TemporaryDirectory(prefix="chibo_bench_") as logs, \
            cluster(databases, amqp, Path(logs), 1) as running, \
            rpc_client({"AMQP_URI": amqp}, timeout=600, token=token) as proxy:
        urls = {name: url for name, _instance, _process, url in running.processes}
        progress(f"   simulate {preset.name}, {months} months, over HTTP (distributed mode)")
        started = time.perf_counter()
        sender = _CountingSender(urls, senders, token=token)
        sending = eventlet.spawn(simulate, sender, preset, months, seed=1, today=NOW.date())
        try:
            outcome = sending.wait() if time_limit_seconds is None else eventlet.with_timeout(
                time_limit_seconds, sending.wait, timeout_value=None)
        finally:
            sending.kill()
        stopped = outcome is None
        sent_seconds = time.perf_counter() - started
        if stopped:
            progress(f"   stopped at the time limit ({time_limit_seconds / 60:,.0f} min): "
                     f"{sender.answered:,} commands answered")
        else:
            progress(f"   commands sent in {outcome.seconds:,.0f} s; closing the months")
            closed = proxy.supervision.close_periods(since=outcome.first_month.isoformat())
            progress(f"   {closed} days closed")
        if stopped:
            # What reporting has projected by the limit, and what the services have
            # logged that it has not yet: the backlog a longer run would still carry.
            events = sum(proxy.reporting.watermarks().values())
            backlog = sum(_log_head(running.databases[source]) for source in SOURCES) - events
        else:
            events = wait_until(lambda: reporting_caught_up(proxy), timeout=3 * 3600,
                                interval=1.0, message="reporting to project every event")
        seconds = time.perf_counter() - started
        progress(f"   {sender.answered:,} commands, {events:,} events in {seconds:,.0f} s")
        scope = (f"{preset.name}, stopped after {time_limit_seconds / 60:,.0f} min"
                 if stopped else preset.name)
        if not stopped:
            overview = requests.get(f"{urls['reporting']}/reporting/api/overview?period="
                                    f"{outcome.first_month:%Y-%m}", headers=bearer(token),
                                    timeout=60).json()["summary"]
            if overview["cells"] != preset.cells:
                raise RuntimeError(f"the dashboard shows {overview['cells']} cells, "
                                   f"not {preset.cells}")
        rows += [
            (f"simulate {scope} ({preset.cells:,} cells), {months} months: commands "
             "over HTTP", sender.answered / sent_seconds, "commands/s"),
            (f"simulate {scope}: commands answered", sender.answered, "commands"),
            (f"simulate {scope}: events end to end (command → reporting, "
             "RabbitMQ+PostgreSQL)", events / seconds, "events/s"),
            (f"simulate {scope}: events projected", events, "events"),
            (f"simulate {scope}: wall time to the dashboard", seconds / 60, "min"),
        ]
        if stopped:
            rows.append((f"simulate {scope}: events logged, not yet projected", backlog,
                         "events"))
        for name, _instance, process, _url in running.processes:
            rss = peak_rss_mib(process.pid)
            progress(f"   peak RSS of {name}: {rss:,.0f} MiB")
            rows.append((f"peak RSS: {name} service ({scope}, {months} months)", rss, "MiB"))
    return rows, seconds
