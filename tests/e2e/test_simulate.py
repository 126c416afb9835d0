"""`chibo simulate` end to end: a small province driven through the public commands,
over HTTP in embedded mode and over RPC in distributed mode, reaches the dashboard with
every cell and every month the simulation produced."""

from __future__ import annotations

import pytest

from chibo.nameko.runtime import rpc_client
from clients.simulator.behaviour import Simulation
from clients.simulator.driver import HttpSender, RpcSender
from clients.simulator.presets import Preset
from clients.simulator.province import generate
from clients.simulator.run import first_month, simulate
from tests.support import (
    TODAY,
    bearer,
    distributed,
    embedded_config,
    reporting_caught_up,
    running,
    token,
    wait_until,
)

TINY = Preset("tiny", committees=2, grassroots=4, cells=12, members=150, description="")
MONTHS, SEED = 2, 4


def expected_regular_meetings() -> dict[str, int]:
    """Regular meetings per month as the same seed plans them (YYYY-MM -> count)."""
    today = TODAY
    simulation = Simulation(generate(TINY, first_month(MONTHS, today), SEED), MONTHS, SEED)
    counts: dict[str, int] = {}
    for _, phase in simulation.all_phases():
        for command in phase:
            payload = command.payload
            if command.method == "record_meeting_held" and payload["kind"] == "regular":
                month = payload["held_on"].strftime("%Y-%m")
                counts[month] = counts.get(month, 0) + 1
    return counts


def check_reporting(proxy, reporting_url: str) -> None:
    import requests

    wait_until(lambda: reporting_caught_up(proxy), timeout=60,
               message="reporting to read every source's log")
    for month, held in expected_regular_meetings().items():
        answer = requests.get(f"{reporting_url}/reporting/api/overview?period={month}",
                              headers=bearer(), timeout=30).json()["summary"]
        assert answer["cells"] == TINY.cells, month
        assert answer["months_met"] == held, month  # every meeting sent is counted, once


def test_simulating_over_http_in_embedded_mode(tmp_path) -> None:
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config), rpc_client(config, timeout=120, token=token()) as proxy:
        outcome = simulate(HttpSender(base, 8, token=token()), TINY, MONTHS, SEED, TODAY,
                           window=8, show_progress=False)
        assert outcome.cells == TINY.cells and outcome.closed_days is None
        check_reporting(proxy, base)


@pytest.mark.services
def test_simulating_over_rpc_in_distributed_mode(tmp_path, pg_database_factory,
                                                 amqp_uri) -> None:
    config = {"AMQP_URI": amqp_uri}
    with distributed(pg_database_factory, amqp_uri, tmp_path) as urls, \
            rpc_client(config, timeout=120, token=token()) as proxy:
        outcome = simulate(RpcSender(proxy), TINY, MONTHS, SEED, TODAY,
                           show_progress=False)
        assert outcome.closed_days and outcome.closed_days > 0  # supervision judged them
        check_reporting(proxy, urls["reporting"])
