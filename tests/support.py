"""Test harness: start the system in either run mode, wait for conditions."""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chibo import settings
from chibo.access import Grant, Identity, TokenSigner
from chibo.clock import FixedClock
from chibo.eventstore.store import EventStore, Metadata
from chibo.nameko import memory
from chibo.nameko.runtime import start_embedded
from clients.simulator.run import reporting_caught_up  # noqa: F401 - the tests' wait
from services.app import CONFIG_DIR, SERVICES

SERVICE_NAMES = ("members", "meetings", "supervision", "reporting")

#: The cluster secret every test configuration signs and verifies identities with.
AUTH_SECRET = "chibo-tests-signing-secret-0123456789abcdef"
#: A provincial administrator (the whole tree), for tests about something else than access.
ADMIN = Identity("tk-quantri", "Quản trị viên (kiểm thử)", (Grant("admin"),))
#: Test tokens outlive any clock a test moves: expiry has tests of its own.
TEST_TOKEN_SECONDS = 20 * 365 * 24 * 3600

# The instant every test runs at unless it sets its own: the services never read the
# calendar in a test, so the suite gives the same answers on any day of any month.
NOW = datetime(2026, 6, 17, 9, 30, tzinfo=UTC)
TODAY = NOW.date()


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all held open together, so none is handed out twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Db:
    """What a service's `db` dependency offers, over a plain session factory: for
    calling query and page methods directly, without nameko."""

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        with self.factory() as session, session.begin():
            yield session


def two_cells_of_three(rpc: Any, full_name: str) -> None:
    """Province p, commune x, cells c1 and c2 (since 2020), each with three full members
    `c1-0` … `c2-2` named `full_name`: the smallest tree the supervision rules act on."""
    for unit in ({"unit_id": "p", "name": "Tỉnh ủy", "kind": "province"},
                 {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                  "parent_id": "p"},
                 {"unit_id": "c1", "name": "Chi bộ Bản Máy", "kind": "cell", "parent_id": "x"},
                 {"unit_id": "c2", "name": "Chi bộ Bản Ngàm", "kind": "cell", "parent_id": "x"}):
        rpc.members.establish_unit({**unit, "effective_date": "2020-01-01"})
    for cell in ("c1", "c2"):
        for m in range(3):
            rpc.members.admit_member({"member_id": f"{cell}-{m}", "full_name": full_name,
                                      "cell_id": cell, "admitted_on": "2020-06-01"})
            rpc.members.confirm_member({"member_id": f"{cell}-{m}",
                                        "effective_date": "2021-06-01"})


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05,
               message: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; fail with `message` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message} (last: {last!r})")


def embedded_config(tmp_path: Path, port: int | None = None, **overrides: Any) -> dict[str, Any]:
    """Embedded mode: SQLite files under tmp_path, the in-process bus, the clock at NOW."""
    config = settings.load(CONFIG_DIR / "embedded.yaml", **{"CLOCK": NOW.isoformat(), **overrides})
    config["DATABASES"] = {name: f"sqlite:///{tmp_path}/{name}.db" for name in SERVICE_NAMES}
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port or free_port()}"
    config.pop("LOGGING", None)
    config["AUTH"] = {**config.get("AUTH", {}), "secret": AUTH_SECRET}
    config["SIGNING"] = {"keys_dir": str(tmp_path / "secrets"), "create_keys": True}
    config["MATERIALS"] = {**config.get("MATERIALS", {}), "dir": str(tmp_path / "materials")}
    return config


#: Where services configured without a folder of their own keep their signing keys.
SIGNING_KEYS_DIR = tempfile.mkdtemp(prefix="chibo-test-keys-")
#: Where services configured without a folder of their own keep meeting materials.
MATERIALS_DIR = tempfile.mkdtemp(prefix="chibo-test-materials-")


def token(identity: Identity = ADMIN, at: datetime = NOW,
          seconds: int = TEST_TOKEN_SECONDS) -> str:
    """`identity` signed with the tests' secret, issued at `at`."""
    return TokenSigner(AUTH_SECRET).issue(identity, at, seconds)


def bearer(identity: Identity = ADMIN) -> dict[str, str]:
    """HTTP headers that authenticate as `identity` (an API client's bearer token)."""
    return {"Authorization": f"Bearer {token(identity)}"}


def as_caller(identity: Identity = ADMIN) -> dict[str, str]:
    """nameko context data that authenticates an RPC call as `identity`."""
    return {"identity": token(identity)}


def authenticated(identity: Identity = ADMIN) -> Any:
    """A requests.Session that sends `identity`'s bearer token on every request."""
    import requests

    session = requests.Session()
    session.headers.update(bearer(identity))
    return session


def services_config(pg_url_factory: Callable[[str], str], amqp_uri: str,
                    port: int | None = None, **overrides: Any) -> dict[str, Any]:
    """RabbitMQ and PostgreSQL: one database per service, the clock at NOW."""
    config = settings.load(CONFIG_DIR / "distributed.yaml",
                           **{"CLOCK": NOW.isoformat(), **overrides})
    config["AMQP_URI"] = amqp_uri
    config["DATABASES"] = {name: pg_url_factory(name) for name in SERVICE_NAMES}
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port or free_port()}"
    config.pop("LOGGING", None)
    config["AUTH"] = {**config.get("AUTH", {}), "secret": AUTH_SECRET}
    config["SIGNING"] = {"keys_dir": SIGNING_KEYS_DIR, "create_keys": True}
    config["MATERIALS"] = {**config.get("MATERIALS", {}), "dir": MATERIALS_DIR}
    return config


@contextmanager
def running(config: dict[str, Any], services: list[type] | None = None) -> Iterator[Any]:
    """Every service (or those given) in this process, stopped afterwards."""
    if config["AMQP_URI"].startswith("chibomem"):
        memory.reset()
    runner = start_embedded(services or SERVICES, config)
    try:
        yield runner
    finally:
        runner.kill()
        if config["AMQP_URI"].startswith("chibomem"):
            memory.reset()


@contextmanager
def distributed(pg_url_factory: Callable[[str], str], amqp_uri: str,
                log_dir: Path) -> Iterator[dict[str, str]]:
    """Each service as its own `nameko run` process on RabbitMQ and PostgreSQL.

    Yields each service's base URL. Processes are configured only through the
    environment variables that services/config/distributed.yaml names.
    """
    import os
    import subprocess
    import sys

    import requests

    processes, urls = [], {}
    modules = {"members": "MembersService", "meetings": "MeetingsService",
               "supervision": "SupervisionService", "reporting": "ReportingService"}
    env_base = {**os.environ, "CHIBO_AMQP_URI": amqp_uri, "CHIBO_LOG_LEVEL": "INFO",
                "CHIBO_CLOCK": NOW.isoformat(), "CHIBO_AUTH_SECRET": AUTH_SECRET,
                "CHIBO_SIGNING_KEYS_DIR": SIGNING_KEYS_DIR, "CHIBO_CREATE_SIGNING_KEYS": "true",
                "CHIBO_MATERIALS_DIR": MATERIALS_DIR}
    for name in SERVICE_NAMES:
        env_base[f"CHIBO_{name.upper()}_DATABASE_URL"] = pg_url_factory(name)
    ports = iter(free_ports(len(modules)))
    try:
        for name, cls in modules.items():
            port = next(ports)
            urls[name] = f"http://127.0.0.1:{port}"
            log = open(log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
            processes.append((subprocess.Popen(
                [str(Path(sys.executable).parent / "nameko"), "run", "--config",
                 str(CONFIG_DIR / "distributed.yaml"), f"services.{name}.entrypoints:{cls}"],
                env={**env_base, "CHIBO_WEB_ADDRESS": f"127.0.0.1:{port}"},
                stdout=log, stderr=subprocess.STDOUT), log))

        def healthy(url: str) -> bool:
            try:
                return requests.get(url + "/healthz", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        for name, url in urls.items():
            wait_until(lambda url=url: healthy(url), timeout=60,
                       message=f"{name} to answer /healthz (log in {log_dir}/{name}.log)")
        yield urls
    finally:
        for process, _log in processes:
            process.terminate()
        for process, log in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


class SessionRuntime:
    """What a nameko worker's CommandContext gives the command pipeline, over a plain
    session factory: for running a service's handlers in unit tests, with no nameko."""

    def __init__(self, factory: Any, catalogue: Any, command_id: str | None = None,
                 actor: str = "cán bộ Hà") -> None:
        self.metadata = Metadata(actor=actor, command_id=command_id)
        self.clock = FixedClock(NOW)
        self.replayed = False
        self._factory = factory
        self._catalogue = catalogue

    @contextmanager
    def unit_of_work(self) -> Iterator[EventStore]:
        with self._factory() as session, session.begin():
            yield EventStore(session, self._catalogue, self.clock, self.metadata)

    command_transaction = unit_of_work


def tables_after(metadata: Any, apply: Callable[[Any, list[dict[str, Any]]], Any],
                 envelopes: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of `metadata`'s tables, sorted, after `apply(session, envelopes)` on a
    fresh in-memory database: to compare two ways of projecting the same events."""
    from sqlalchemy import select

    from chibo.db import create_schema, make_engine, session_factory

    engine = make_engine("sqlite://")
    create_schema(engine, metadata)
    with session_factory(engine)() as session, session.begin():
        apply(session, envelopes)
        found = {table.name: sorted(tuple(row) for row in session.execute(select(table)))
                 for table in metadata.sorted_tables}
    engine.dispose()
    return found


def assert_runs_cut_anywhere_agree(
        tables: Callable[[Callable[[Any, list[dict[str, Any]]], Any]], Any],
        apply_run: Callable[[Any, list[dict[str, Any]]], Any], events: int) -> None:
    """The tables `apply_run` leaves from a whole run equal those it leaves from the same
    run cut in two at every point; `tables(apply)` gives the tables after `apply`."""
    whole = tables(apply_run)
    for cut in range(1, events):
        def in_two(session: Any, envelopes: list[dict[str, Any]], cut: int = cut) -> None:
            apply_run(session, envelopes[:cut])
            apply_run(session, envelopes[cut:])
        assert tables(in_two) == whole, f"the run cut after {cut} events differs"
