"""A province-year, actually run: the province preset driven for 12 months over HTTP
through distributed mode, to the dashboard.

The same run as `simulate`, at full size: 30 committees, 1,400 grassroots organisations,
12,000 cells and 250,000 members, a year of their meetings, resolutions, tasks, visits,
ratings and merges, sent as public commands by `chibo simulate`'s engine to the four
services (`nameko run` processes on RabbitMQ and PostgreSQL); then supervision closes the
months, and the clock stops when reporting has projected every event of every source.
It takes hours on two cores; `--quick` runs two months, and
`CHIBO_BENCH_TIME_LIMIT_MINUTES` stops the commands after that many minutes (the figures
then cover what was sent and projected by then, and their labels say so). Figures:
commands/s, events/s end to end, the wall time, each service's peak memory (VmHWM).
"""

from __future__ import annotations

import os

from bench._support import Row
from bench.simulate import simulated
from clients.simulator.presets import PRESETS


def run(quick: bool) -> list[Row]:
    limit = os.environ.get("CHIBO_BENCH_TIME_LIMIT_MINUTES")
    rows, _seconds = simulated(PRESETS["province"], 2 if quick else 12,
                               time_limit_seconds=float(limit) * 60 if limit else None)
    return rows
