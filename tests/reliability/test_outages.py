"""Broker and database outages, on the real RabbitMQ and PostgreSQL: the services ride
them out. Each outage is made by a TCP proxy between the services and the server
(tests/tcp_proxy.py), so only these services lose it while the shared server runs on.

* the broker goes away while an RPC command's reply and an event's ack are in flight:
  no container dies, the command's reply comes after the broker is back (answered from
  the command log on redelivery), its event is in the log once and reaches reporting;
* the database goes away: commands answer 503 with Retry-After over HTTP and the
  retryable ServiceUnavailable over RPC, `/readyz` says not ready; once it is back the
  same command id is accepted, once;
* `chibo simulate` over HTTP to four `nameko run` processes (one URL each) through a
  database and then a broker outage, and over RPC through a broker outage that its own
  client loses too: each run finishes, and reporting counts every meeting once.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from eventlet.event import Event
from nameko.exceptions import RemoteError
from sqlalchemy import func, select

from chibo.commands import Pipeline
from chibo.db import make_engine, session_factory
from chibo.errors import ServiceUnavailable, from_remote
from chibo.eventstore.tables import events as events_table
from chibo.nameko.providers import Feed
from chibo.nameko.runtime import rpc_client
from services.shared.events import SOURCES
from tests.support import (
    TODAY,
    bearer,
    distributed,
    running,
    services_config,
    token,
    wait_until,
)
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.services

TREE = [{"unit_id": "p", "name": "Tỉnh ủy", "kind": "province"},
        {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee", "parent_id": "p"}]


def through(url: str, proxy: TcpProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    user = parts.netloc.rpartition("@")[0]
    netloc = f"{user}@{proxy.address}" if user else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


def cell(unit_id: str) -> dict:
    return {"unit_id": unit_id, "name": f"Chi bộ {unit_id}", "kind": "cell", "parent_id": "x",
            "effective_date": TODAY.isoformat()}


def alive(runner) -> bool:
    return all(not c._died.ready() and not c._being_killed for c in runner.containers)


def ready(config) -> requests.Response:
    return requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/readyz", timeout=10)


def established(config, unit_id: str) -> int:
    engine = make_engine(config["DATABASES"]["members"])
    try:
        with session_factory(engine)() as session:
            rows = session.execute(select(events_table.c.data)
                                   .where(events_table.c.type == "unit_established")).scalars()
            return sum(1 for data in rows if json.loads(data).get("unit_id") == unit_id)
    finally:
        engine.dispose()


def heads(config) -> dict[str, int]:
    found = {}
    for source in SOURCES:
        engine = make_engine(config["DATABASES"][source])
        with session_factory(engine)() as session:
            found[source] = int(session.execute(select(func.max(events_table.c.position)))
                                .scalar() or 0)
        engine.dispose()
    return found


def reporting_feed(runner) -> Feed:
    container = next(c for c in runner.containers if c.service_name == "reporting")
    return next(d for d in container.dependencies if isinstance(d, Feed))


@pytest.fixture
def broker_proxy():
    proxy = TcpProxy("127.0.0.1", 5672)
    yield proxy
    proxy.close()


@pytest.fixture
def database_proxy():
    proxy = TcpProxy("127.0.0.1", 5432)
    yield proxy
    proxy.close()


def test_broker_outage_with_a_reply_and_an_ack_in_flight(pg_database_factory, amqp_uri,
                                                          broker_proxy, monkeypatch, caplog):
    config = services_config(pg_database_factory, through(amqp_uri, broker_proxy))
    # The test's own client talks to the broker directly: only the services lose it.
    client_config = {**config, "AMQP_URI": amqp_uri}
    caplog.set_level(logging.WARNING, logger="chibo.nameko.resilience")

    answered, release = Event(), Event()
    offered, release_offer = Event(), Event()
    original_run, original_offer = Pipeline.run, Feed.offer

    def run_then_hold(self, name, payload, deps, runtime):
        answer = original_run(self, name, payload, deps, runtime)
        if name == "establish_unit" and payload.get("unit_id") == "held" \
                and not runtime.replayed:
            answered.send(True)
            release.wait()  # committed; the reply goes out only after the broker is cut
        return answer

    def offer_then_hold(self, envelope):
        if (self.container.service_name == "reporting"
                and envelope["data"].get("unit_id") == "held" and not offered.ready()):
            offered.send(True)
            release_offer.wait()  # received; acked only after the broker is cut
        return original_offer(self, envelope)

    monkeypatch.setattr(Pipeline, "run", run_then_hold)
    monkeypatch.setattr(Feed, "offer", offer_then_hold)

    with running(config) as runner, rpc_client(client_config, token=token()) as rpc:
        for unit in TREE:
            rpc.members.establish_unit({**unit, "effective_date": "2020-01-01"})
        wait_until(lambda: ready(config).status_code == 200, message="/readyz to say ready")

        pending = rpc.members.establish_unit.call_async(cell("held"))
        wait_until(answered.ready, message="the command to be decided and committed")
        wait_until(offered.ready, message="reporting to receive the command's event")
        broker_proxy.cut()
        try:
            release.send(True)
            release_offer.send(True)
            wait_until(lambda: not alive(runner) or any(
                "could not send the reply" in r.getMessage() for r in caplog.records),
                timeout=60, message="the reply to fail on the cut connection")
            assert alive(runner), "a container died when its reply could not be sent"
            wait_until(lambda: ready(config).status_code == 503,
                       message="/readyz to say not ready while the broker is away")
            body = ready(config).json()
            assert body["status"] == "not_ready"
            assert body["checks"]["members"]["broker"] == "disconnected"
            assert body["checks"]["members"]["database"] == "ok"
            assert alive(runner), "a container died in the broker outage"
        finally:
            broker_proxy.restore()

        answer = pending.result()  # redelivered and answered from the command log
        assert answer["unit_id"] == "held"
        assert established(config, "held") == 1
        assert alive(runner)

        # Service still works afterwards: a new command, over HTTP and over RPC.
        rpc.members.establish_unit(cell("after-rpc"))
        response = requests.post(
            f"http://{config['WEB_SERVER_ADDRESS']}/members/commands/establish_unit",
            json=cell("after-http"), headers=bearer(), timeout=30)
        assert response.status_code == 201, response.text
        wait_until(lambda: ready(config).status_code == 200, timeout=60,
                   message="/readyz to say ready again")

        expected = heads(config)
        feed = reporting_feed(runner).feed
        wait_until(lambda: all(feed.watermark(s) == expected[s] for s in SOURCES),
                   timeout=60, message=f"reporting to apply every event {expected}")
        assert established(config, "held") == 1
        assert alive(runner)


def test_database_outage_answers_503_then_recovers(pg_database_factory, amqp_uri,
                                                   database_proxy):
    config = services_config(lambda name: through(pg_database_factory(name), database_proxy),
                             amqp_uri)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    url = f"{base}/members/commands/establish_unit"

    with running(config) as runner, rpc_client(config, token=token()) as rpc:
        for unit in TREE:
            rpc.members.establish_unit({**unit, "effective_date": "2020-01-01"})
        wait_until(lambda: ready(config).status_code == 200, message="/readyz to say ready")

        headers = {**bearer(), "X-Command-Id": "cmd-outage-1"}
        with database_proxy.outage():
            response = requests.post(url, json=cell("c-outage"), headers=headers, timeout=30)
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            assert response.json()["error"] == "unavailable"
            assert "127.0.0.1" not in response.text

            with pytest.raises(RemoteError) as raised:
                rpc.members.establish_unit(cell("c-outage-rpc"))
            assert raised.value.exc_type == "ServiceUnavailable"
            assert isinstance(from_remote(raised.value.exc_type, raised.value.value),
                              ServiceUnavailable)

            # Readiness may give its last answer again for up to a second.
            wait_until(lambda: ready(config).status_code == 503, timeout=10,
                       message="/readyz to say not ready while the database is cut")
            not_ready = ready(config)
            assert not_ready.status_code == 503
            assert not_ready.headers["Retry-After"]
            checks = not_ready.json()["checks"]
            assert checks["members"]["database"] in ("unreachable", "timeout")
            assert "127.0.0.1" not in not_ready.text
            # Liveness is not readiness: the process still answers.
            assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
            assert alive(runner)

        wait_until(lambda: ready(config).status_code == 200, timeout=60,
                   message="/readyz to say ready once the database is back")
        again = requests.post(url, json=cell("c-outage"), headers=headers, timeout=30)
        assert again.status_code == 201, again.text
        replay = requests.post(url, json=cell("c-outage"), headers=headers, timeout=30)
        assert replay.status_code == 201
        assert replay.headers.get("Idempotent-Replayed") == "true"
        rpc.members.establish_unit(cell("c-outage-rpc"))
        assert established(config, "c-outage") == 1
        assert established(config, "c-outage-rpc") == 1
        assert alive(runner)


def test_simulator_over_http_finishes_through_outages_of_nameko_run_processes(
        tmp_path, pg_database_factory, amqp_uri, broker_proxy, database_proxy):
    """The four services as `nameko run` processes, each behind the proxies; `chibo
    simulate` sends to each service's own port. The database goes away, then the broker,
    while commands are in flight: the run completes, no process dies, and reporting
    counts every meeting once."""
    import eventlet

    from clients.simulator import driver
    from clients.simulator.driver import HttpSender
    from clients.simulator.run import simulate
    from tests.e2e.test_simulate import MONTHS, SEED, TINY, check_reporting

    answered = {"count": 0}
    outages: list[str] = []

    def outage(proxy: TcpProxy, name: str) -> None:
        proxy.cut()
        wait_until(lambda: proxy.refused >= 3, timeout=60,
                   message=f"the services to try the {name} again while it is away")
        proxy.restore()
        outages.append(name)

    original_finish = HttpSender.finish

    def finish(self, command, pending):
        answer = original_finish(self, command, pending)
        answered["count"] += 1
        if answered["count"] == 60:
            eventlet.spawn(outage, database_proxy, "database")
        elif answered["count"] == 180:
            eventlet.spawn(outage, broker_proxy, "broker")
        return answer

    via_proxy = lambda name: through(pg_database_factory(name), database_proxy)  # noqa: E731
    with distributed(via_proxy, through(amqp_uri, broker_proxy), tmp_path) as urls, \
            rpc_client({"AMQP_URI": amqp_uri}, timeout=120, token=token()) as proxy:
        sender = HttpSender(urls, 8, token=token(), retry=driver.RETRY)
        sender.finish = finish.__get__(sender)  # type: ignore[method-assign]
        outcome = simulate(sender, TINY, MONTHS, SEED, TODAY, window=8, show_progress=False)
        assert outcome.cells == TINY.cells
        assert outages == ["database", "broker"], "both outages happened during the run"
        for name, url in urls.items():
            assert requests.get(f"{url}/healthz", timeout=10).status_code == 200, name
            wait_until(lambda url=url: requests.get(f"{url}/readyz", timeout=10).ok,
                       timeout=60, message=f"{name} to be ready again")
        check_reporting(proxy, urls["reporting"])
        logs = "".join((tmp_path / f"{name}.log").read_text() for name in urls)
        assert "killing <ServiceContainer" not in logs


def test_simulator_over_rpc_finishes_through_a_broker_outage(pg_database_factory, amqp_uri,
                                                               broker_proxy):
    """The services and the simulator's own RPC client both reach the broker through the
    proxy. When it goes, calls in flight fail or lose their replies; the simulator sends
    them again with the same command ids (connecting again when its proxy cannot) and
    finishes, with every meeting counted once."""
    import eventlet

    from chibo.nameko.runtime import ReconnectingRpc
    from clients.simulator.driver import RpcSender
    from clients.simulator.run import simulate
    from tests.e2e.test_simulate import MONTHS, SEED, TINY, check_reporting

    config = services_config(pg_database_factory, through(amqp_uri, broker_proxy))
    answered = {"count": 0}
    outages: list[str] = []

    def outage() -> None:
        broker_proxy.cut()
        wait_until(lambda: broker_proxy.refused >= 3, timeout=60,
                   message="the services and the simulator to try the broker again")
        broker_proxy.restore()
        outages.append("broker")

    original_finish = RpcSender.finish

    def finish(self, command, pending):
        answer = original_finish(self, command, pending)
        answered["count"] += 1
        if answered["count"] == 80:
            eventlet.spawn(outage)
        return answer

    with running(config) as runner, ReconnectingRpc(config, timeout=120,
                                                    token=token()) as rpc:
        sender = RpcSender(rpc.connect(), reconnect=rpc.connect)
        sender.finish = finish.__get__(sender)  # type: ignore[method-assign]
        outcome = simulate(sender, TINY, MONTHS, SEED, TODAY, show_progress=False)
        assert outcome.cells == TINY.cells and outcome.closed_days
        assert outages == ["broker"]
        assert alive(runner)
        with rpc_client({"AMQP_URI": amqp_uri}, timeout=120, token=token()) as direct:
            check_reporting(direct, f"http://{config['WEB_SERVER_ADDRESS']}")
