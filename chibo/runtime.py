"""Running services: every service in one process (embedded), and calling them."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chibo.contracts import wire_form
from chibo.settings import ensure_databases

if TYPE_CHECKING:
    from nameko.runners import ServiceRunner

# nameko and kombu are imported where they are used: `chibo` calls `app()` to read its
# command line, and `chibo demo` then monkey-patches for eventlet, which has to happen
# before they are imported.

APP_MODULE = os.environ.get("CHIBO_APP", "services.app")


def app() -> Any:
    """The application module: its SERVICES list and CONFIG_DIR, and what it adds to the
    `chibo` command (`COMMANDS`, `DEMO`, …; see `chibo.cli`). The kernel imports no
    application module by name: CHIBO_APP says which one this is."""
    return importlib.import_module(APP_MODULE)


def start_embedded(services: Sequence[type], config: dict[str, Any]) -> ServiceRunner:
    from nameko.runners import ServiceRunner

    from chibo.nameko import memory

    memory.register()
    ensure_databases(config)
    prepare_schemas(services, config)
    runner = ServiceRunner(config)
    for service in services:
        runner.add_service(service)
    runner.start()
    return runner


def prepare_schemas(services: Sequence[type], config: dict[str, Any]) -> None:
    """Each service's tables, made (or checked) before any service starts, so a database
    an earlier version made stops start-up with one clear SchemaOutdated, not a
    traceback from inside a service's container."""
    from chibo.db import create_schema, make_engine
    from chibo.nameko.providers import Database, database_url

    for service in services:
        for dependency in (getattr(service, name) for name in dir(service)):
            if isinstance(dependency, Database):
                # A nameko service class names itself in its `name` attribute.
                engine = make_engine(database_url(config, getattr(service, "name")))  # noqa: B009
                try:
                    create_schema(engine, *dependency.metadatas)
                finally:
                    engine.dispose()


@contextmanager
def rpc_client(config: dict[str, Any], timeout: float = 30) -> Iterator[Any]:
    from nameko.standalone.rpc import ClusterRpcProxy

    from chibo.nameko import memory

    memory.register()
    with ClusterRpcProxy(config, timeout=timeout) as proxy:
        yield proxy


def rpc_caller(proxy: Any, patience_seconds: float = 15.0
               ) -> Callable[[str, str, dict[str, Any]], Any]:
    """`call(service, method, payload)` over RPC.

    A NotFound is retried for a while: a replica may not have caught up with a
    unit or member created a moment ago (the services are eventually consistent).
    """
    from nameko.exceptions import RemoteError

    def call(service: str, method: str, payload: dict[str, Any]) -> Any:
        deadline = time.monotonic() + patience_seconds
        while True:
            try:
                return getattr(getattr(proxy, service), method)(wire_form(payload))
            except RemoteError as exc:
                if exc.exc_type != "NotFound" or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    return call
