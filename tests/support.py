"""Test harness: start the system in either run mode, wait for conditions."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chibo import settings
from chibo.nameko import memory
from chibo.runtime import start_embedded
from services.app import CONFIG_DIR, SERVICES

SERVICE_NAMES = ("members", "meetings", "supervision", "reporting")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """Embedded mode: SQLite files under tmp_path, the in-process bus."""
    config = settings.load(CONFIG_DIR / "embedded.yaml", **overrides)
    config["DATABASES"] = {name: f"sqlite:///{tmp_path}/{name}.db" for name in SERVICE_NAMES}
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port or free_port()}"
    config.pop("LOGGING", None)
    return config


def services_config(pg_url_factory: Callable[[str], str], amqp_uri: str,
                    port: int | None = None, **overrides: Any) -> dict[str, Any]:
    """RabbitMQ and PostgreSQL: one database per service."""
    config = settings.load(CONFIG_DIR / "distributed.yaml", **overrides)
    config["AMQP_URI"] = amqp_uri
    config["DATABASES"] = {name: pg_url_factory(name) for name in SERVICE_NAMES}
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port or free_port()}"
    config.pop("LOGGING", None)
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
