"""Running services on nameko: every service in one process (embedded), their databases
brought to head before they start, calling them over RPC, and the green threads nameko
runs on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chibo.contracts import wire_form
from chibo.settings import ensure_databases

if TYPE_CHECKING:
    from nameko.runners import ServiceRunner
    from sqlalchemy import MetaData

    from chibo.migrate import Migration

# nameko and kombu are imported where they are used: `chibo` reads its command line
# first, and `chibo demo` then monkey-patches for eventlet (`patch_for_green_threads`),
# which has to happen before they are imported.

log = logging.getLogger(__name__)

def patch_for_green_threads() -> None:
    """Make blocking I/O yield to eventlet's hub, which nameko runs on: first thing in a
    process that runs services or drives them concurrently."""
    import eventlet

    eventlet.monkey_patch()


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
    """Each service's database brought to head before any service starts, so a database
    no migration can upgrade stops start-up with one clear SchemaOutdated, not a
    traceback from inside a service's container."""
    for migrated in migrate_databases(services, config):
        for notice in migrated.notices:
            log.warning(notice)


def migrate_databases(services: Sequence[type], config: dict[str, Any]) -> list[Migration]:
    """Bring every service's database (`DATABASES` in config) to head, one after another;
    what each went from and to."""
    from chibo.db import make_engine
    from chibo.migrate import migrate
    from chibo.nameko.providers import database_url

    done = []
    for name, metadatas, scripts in service_schemas(services):
        engine = make_engine(database_url(config, name))
        try:
            done.append(migrate(engine, name, metadatas, scripts))
        finally:
            engine.dispose()
    return done


def service_schemas(services: Sequence[type]
                    ) -> Iterator[tuple[str, tuple[MetaData, ...], Path | None]]:
    """(name, tables, folder of revisions) of each service that has a database."""
    from chibo.migrate import scripts_for
    from chibo.nameko.providers import Database

    for service in services:
        for dependency in (getattr(service, name) for name in dir(service)):
            if isinstance(dependency, Database):
                # A nameko service class names itself in its `name` attribute.
                yield getattr(service, "name"), dependency.metadatas, scripts_for(service)  # noqa: B009


@contextmanager
def rpc_client(config: dict[str, Any], timeout: float = 30, token: str | None = None
               ) -> Iterator[Any]:
    """A cluster RPC proxy; with `token` (a signed identity, see chibo.access), every
    call carries it, as a service's worker carries its caller's."""
    from nameko.standalone.rpc import ClusterRpcProxy

    from chibo.nameko import memory, remote_errors
    from chibo.nameko.web.json_http import IDENTITY_KEY

    memory.register()
    remote_errors.install()  # a ChiboError's details survive the reply
    context = {IDENTITY_KEY: token} if token else None
    with ClusterRpcProxy(config, timeout=timeout, context_data=context) as proxy:
        yield proxy


class ReconnectingRpc:
    """A cluster RPC proxy that can be made again: after the broker connection is lost a
    standalone proxy never answers again, so a client that outlives an outage calls
    `connect()` for a fresh one (the old one is stopped, quietly)."""

    def __init__(self, config: dict[str, Any], timeout: float = 30,
                 token: str | None = None) -> None:
        from chibo.nameko import memory, remote_errors
        from chibo.nameko.web.json_http import IDENTITY_KEY

        memory.register()
        remote_errors.install()
        self.config = config
        self.timeout = timeout
        self.context = {IDENTITY_KEY: token} if token else None
        self._current: Any = None

    def connect(self) -> Any:
        from nameko.standalone.rpc import ClusterRpcProxy

        self.close()
        current = ClusterRpcProxy(self.config, timeout=self.timeout,
                                  context_data=self.context)
        proxy = current.start()
        self._current = current
        return proxy

    def close(self) -> None:
        current, self._current = self._current, None
        if current is not None:
            try:
                current.stop()
            except Exception:  # noqa: BLE001 - a dead connection cannot be closed cleanly
                log.debug("stopping a lost RPC proxy failed", exc_info=True)

    def __enter__(self) -> ReconnectingRpc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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


def services_access(service_classes: Iterable[type]) -> list[Any]:
    """Each nameko service class's name and the sources of its event handlers."""
    from nameko.events import EventHandler
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    from chibo.provision import ServiceAccess

    found = []
    for cls in service_classes:
        sources: set[str] = set()
        for attribute in dir(cls):
            method = getattr(cls, attribute, None)
            for extension in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
                if isinstance(extension, EventHandler):
                    sources.add(extension.source_service)
        found.append(ServiceAccess(cls.name, tuple(sorted(sources))))  # type: ignore[attr-defined]
    return found


def call_remote(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`method(*args, **kwargs)` on another service's RPC proxy, with a caller-facing
    error it raised (nameko's RemoteError naming a ChiboError) raised again as that
    error, details included (a ValidationFailed's `fields`), so the caller's page or
    answer says the same thing with the same status."""
    from nameko.exceptions import RemoteError

    from chibo.errors import from_remote
    from chibo.nameko import remote_errors

    remote_errors.install()
    try:
        return method(*args, **kwargs)
    except RemoteError as exc:
        raise from_remote(exc.exc_type, exc.value, getattr(exc, "details", None)) or exc from None
