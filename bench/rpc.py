"""nameko RPC round trip to a trivial service: sequential calls from one client,
over the in-process bus (chibomem://) and over RabbitMQ (a fresh vhost). Each bus
twice: a bare nameko service, then one that checks its caller as every chibo service
does (`Caller`, `@access(AUTHENTICATED)`: the operator's token travels in the context
data and is verified on every call)."""

from __future__ import annotations

import time
from typing import Any

from nameko.rpc import rpc
from nameko.runners import ServiceRunner
from nameko.standalone.rpc import ClusterRpcProxy

from bench._support import AUTH_SECRET, Row, operator_token, progress, rabbit_vhost
from chibo.access import AUTHENTICATED
from chibo.nameko import memory
from chibo.nameko.access import Caller, access
from chibo.nameko.web.json_http import IDENTITY_KEY
from services.shared.access_roles import ROLES


class BenchEchoService:
    name = "bench_echo"

    @rpc
    def echo(self, value: Any) -> Any:
        return value


class BenchSignedEchoService:
    name = "bench_echo"
    caller = Caller(ROLES)

    @rpc
    @access(AUTHENTICATED)
    def echo(self, value: Any) -> Any:
        return value


def _round_trips(amqp_uri: str, calls: int, service: type) -> tuple[float, float]:
    """(mean ms, calls/s) of `calls` sequential calls, as the operator."""
    config = {"AMQP_URI": amqp_uri, "max_workers": 10, "AUTH": {"secret": AUTH_SECRET}}
    runner = ServiceRunner(config)
    runner.add_service(service)
    runner.start()
    try:
        with ClusterRpcProxy(config, timeout=30,
                             context_data={IDENTITY_KEY: operator_token()}) as proxy:
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


SHAPES = (("", BenchEchoService), (", caller checked", BenchSignedEchoService))


def run(quick: bool) -> list[Row]:
    calls = 100 if quick else 500
    rows: list[Row] = []
    for label, service in SHAPES:
        memory.register()
        memory.reset()
        progress(f"rpc{label}: in-process bus, {calls} sequential calls")
        try:
            mean_ms, rate = _round_trips("chibomem://", calls, service)
        finally:
            memory.reset()
        progress(f"  {mean_ms:.2f} ms mean, {rate:,.0f} calls/s")
        rows += [(f"rpc chibomem{label}: mean round trip", mean_ms, "ms"),
                 (f"rpc chibomem{label}: sequential rate", rate, "calls/s")]

        progress(f"rpc{label}: RabbitMQ, {calls} sequential calls")
        with rabbit_vhost() as amqp_uri:
            mean_ms, rate = _round_trips(amqp_uri, calls, service)
        progress(f"  {mean_ms:.2f} ms mean, {rate:,.0f} calls/s")
        rows += [(f"rpc rabbitmq{label}: mean round trip", mean_ms, "ms"),
                 (f"rpc rabbitmq{label}: sequential rate", rate, "calls/s")]
    return rows
