"""nameko RPC round trip to a trivial service: sequential calls from one client,
over the in-process bus (chibomem://) and over RabbitMQ (a fresh vhost)."""

from __future__ import annotations

import time
from typing import Any

from nameko.rpc import rpc
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from bench._support import Row, progress, rabbit_vhost
from chibo.nameko import memory


class BenchEchoService:
    name = "bench_echo"

    @rpc
    def echo(self, value: Any) -> Any:
        return value


def _round_trips(amqp_uri: str, calls: int) -> tuple[float, float]:
    """(mean ms, calls/s) of `calls` sequential calls."""
    config = {"AMQP_URI": amqp_uri, "max_workers": 10}
    runner = ServiceRunner(config)
    runner.add_service(BenchEchoService)
    runner.start()
    try:
        with ClusterRpcProxy(config, timeout=30) as proxy:
            payload = {"unit_id": "xa-1-cb-1", "name": "Chi bộ Bản Máy"}
            for _ in range(20):  # warm up
                proxy.bench_echo.echo(payload)
            started = time.perf_counter()
            for _ in range(calls):
                proxy.bench_echo.echo(payload)
            elapsed = time.perf_counter() - started
    finally:
        runner.kill()
    return elapsed / calls * 1000, calls / elapsed


def run(quick: bool) -> list[Row]:
    calls = 100 if quick else 500
    rows: list[Row] = []

    memory.register()
    memory.reset()
    progress(f"rpc: in-process bus, {calls} sequential calls")
    try:
        mean_ms, rate = _round_trips("chibomem://", calls)
    finally:
        memory.reset()
    progress(f"  {mean_ms:.2f} ms mean, {rate:,.0f} calls/s")
    rows += [("rpc chibomem: mean round trip", mean_ms, "ms"),
             ("rpc chibomem: sequential rate", rate, "calls/s")]

    progress(f"rpc: RabbitMQ, {calls} sequential calls")
    with rabbit_vhost() as amqp_uri:
        mean_ms, rate = _round_trips(amqp_uri, calls)
    progress(f"  {mean_ms:.2f} ms mean, {rate:,.0f} calls/s")
    rows += [("rpc rabbitmq: mean round trip", mean_ms, "ms"),
             ("rpc rabbitmq: sequential rate", rate, "calls/s")]
    return rows
