"""Liveness and readiness of a process's services, for `/healthz` and `/readyz`.

Liveness says the process answers at all: a supervisor restarts it when it does not.
Readiness says it can do its work now, for each service in the process:

* `database`: a fresh connection runs `SELECT 1` within `READY_DATABASE_TIMEOUT_SECONDS`
  (a new connection, not one from the workers' pool: a busy pool is not an outage, and a
  pooled connection can look alive after the server went away);
* `broker`: every consumer of the service is connected to the message broker;
* `feed`: each ordered feed has heard of at most `READY_MAX_FEED_LAG` events it has not
  applied yet, and none of its sources is failing.

Both answers are public, so they name only services and the state of each check: no
host, no address, no count of anything. Being public, readiness is checked at most once
a second, one check at a time, and callers meanwhile get the last answer: a flood of
`/readyz` requests cannot open a database connection each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
from eventlet.greenpool import GreenPool
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from chibo.errors import ServiceUnavailable
from chibo.nameko.resilience import broker_connected

log = logging.getLogger(__name__)

OK = "ok"
DEFAULT_DATABASE_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_FEED_LAG = 10_000

# One probe engine per service database (no pool: each probe opens its own connection).
_PROBES: dict[str, Engine] = {}
#: How long a readiness answer is given again before the checks run anew.
READINESS_REUSE_SECONDS = 1.0


class _LastAnswer:
    """The newest readiness answer per set of services, computed by one caller at a time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: dict[tuple[str, ...], tuple[float, tuple[int, dict[str, Any]]]] = {}

    def get(self, key: tuple[str, ...], compute: Callable[[], tuple[int, dict[str, Any]]],
            now: Callable[[], float] = time.monotonic) -> tuple[int, dict[str, Any]]:
        with self.lock:  # the others wait for this check, then reuse its answer
            kept = self.answers.get(key)
            if kept is not None and now() - kept[0] < READINESS_REUSE_SECONDS:
                return kept[1]
            answer = compute()
            self.answers[key] = (now(), answer)
            return answer


_LAST = _LastAnswer()


def liveness(services: Iterable[str]) -> dict[str, Any]:
    return {"status": "ok", "services": sorted(services)}


def readiness(containers: Iterable[Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): 200 `{"status": "ready", "checks": {service: {check:
    "ok"|problem}}}`, or 503 with `"status": "not_ready"` when any check fails; the
    same answer for up to `READINESS_REUSE_SECONDS`."""
    containers = list(containers)
    key = tuple(sorted(container.service_name for container in containers))
    return _LAST.get(key, lambda: _readiness_now(containers))


def _readiness_now(containers: list[Any]) -> tuple[int, dict[str, Any]]:
    pool = GreenPool(max(1, len(containers)))
    checks = dict(pool.imap(_check_container, containers))
    ready = bool(checks) and all(state == OK for service in checks.values()
                                 for state in service.values())
    body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": checks}
    if not ready:
        body["retry_after"] = ServiceUnavailable.retry_after
    return (200 if ready else 503), body


def _check_container(container: Any) -> tuple[str, dict[str, str]]:
    from chibo.nameko.providers import Database, Feed

    config = container.config
    found: dict[str, str] = {}
    for dependency in container.dependencies:
        if isinstance(dependency, Database) and dependency.engine is not None:
            found["database"] = _database_state(
                container.service_name, dependency.engine,
                float(config.get("READY_DATABASE_TIMEOUT_SECONDS")
                      or DEFAULT_DATABASE_TIMEOUT_SECONDS))
        elif isinstance(dependency, Feed) and dependency.feed is not None:
            found["feed"] = _feed_state(dependency, int(config.get("READY_MAX_FEED_LAG")
                                                        or DEFAULT_MAX_FEED_LAG))
    connected = broker_connected(container)
    if connected is not None:
        found["broker"] = OK if connected else "disconnected"
    return container.service_name, found


def _database_state(service: str, engine: Engine, timeout: float) -> str:
    probe = _PROBES.get(service)
    if probe is None or probe.url != engine.url:
        connect_args = ({"connect_timeout": max(1, int(timeout))}
                        if engine.dialect.name == "postgresql" else {})
        probe = _PROBES[service] = create_engine(engine.url, poolclass=NullPool,
                                                 connect_args=connect_args)
    try:
        with eventlet.Timeout(timeout), probe.connect() as connection:
            connection.execute(text("SELECT 1"))
    except eventlet.Timeout:
        return "timeout"
    except Exception as exc:  # noqa: BLE001 - any failure means "cannot use it now"
        # The reason goes to the log only: its text may name the server.
        log.warning("readiness: %s's database does not answer: %s", service,
                    type(exc).__name__)
        return "unreachable"
    return OK


def _feed_state(provider: Any, max_lag: int) -> str:
    feed = provider.feed
    if feed.failing():
        return "failing"
    if any(lag > max_lag for lag in feed.lag().values()):
        return "behind"
    return OK
