"""One HTTP listener per process, shared by every nameko container in it that has the
same bind address, routing each request to the entrypoint that owns its URL; answers
`/healthz` (liveness), `/readyz` (readiness) and `/metrics` itself. Each container
holds it through a lease."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import eventlet
import prometheus_client
from eventlet import greenio
from eventlet.greenpool import GreenPool
from eventlet.wsgi import STATE_CLOSE, STATE_IDLE
from nameko.constants import WEB_SERVER_CONFIG_KEY
from nameko.exceptions import ConfigurationError
from nameko.extensions import Extension, SharedExtension, iter_extensions
from nameko.web.server import BindAddress, WebServer, parse_address
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from chibo.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS
from chibo.nameko import rejections
from chibo.nameko.resilience import is_transient, unavailable_from
from chibo.nameko.web import health
from chibo.nameko.web.json_http import (
    _http_exception_response,
    context_data_from_headers,
    json_response,
)
from chibo.nameko.web.limits import (
    LimitedHttpProtocol,
    LimitedWsgiServer,
    WebLimits,
    buffer_body,
)
from chibo.nameko.web.security_headers import add_security_headers
from chibo.nameko.web.sessions import WebAuth

_log = logging.getLogger(__name__)

#: Used when a container's config has no ``WEB_SERVER_ADDRESS``. Loopback, not nameko's
#: ``0.0.0.0``, so a forgotten setting never exposes a service on every interface.
DEFAULT_WEB_SERVER_ADDRESS = "127.0.0.1:8000"

#: ``service`` label for the routes the server answers itself.
BUILTIN_SERVICE_LABEL = "_builtin"
#: ``service`` label for requests no route matched (404/405), so scanners show up as
#: one series instead of inflating a real service's error rate.
UNMATCHED_SERVICE_LABEL = "_unmatched"

# Any other method is counted as OTHER: the label is client-controlled, and an
# unbounded label set would let a client grow the metrics registry without limit.
_COUNTED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})



# Every ProcessWebServer in the process, by bind address. Instances are kept for the
# life of the process (one per address, so the map stays small): a container may bind
# the server long before it starts, and dropping an idle instance would let a later
# container create a second server for the same port.
_SERVERS: dict[BindAddress, ProcessWebServer] = {}
# A real lock, never held across a yield: bind() may in principle run in any thread.
_SERVERS_LOCK = threading.Lock()


def started_service_names() -> list[str]:
    """Names of the services whose containers currently hold a web server in this process.

    Only containers with at least one :class:`JsonHttpEntrypoint` (or another entrypoint
    declaring a :class:`ProcessWebServerLease`) are known here.
    """
    with _SERVERS_LOCK:
        servers = list(_SERVERS.values())
    return sorted({name for server in servers for name in server.holder_names()})


class _NoSingleContainer:
    """``container`` of the shared server: it serves many, so any use is a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(
            f"ProcessWebServer is shared by several containers; it has no container.{name}"
        )

    def __repr__(self) -> str:
        return "<shared by the process>"


_NO_SINGLE_CONTAINER: Any = _NoSingleContainer()


class ProcessWebServer(WebServer):
    """A nameko web server shared by every container in the process with the same address.

    :meth:`bind` hands all such containers the same instance. Its ``container`` is a
    placeholder that raises on use (the first container to bind may stop, or be garbage
    collected, before the others); per-container bookkeeping goes through
    :class:`ProcessWebServerLease`. The inherited ``start``/``stop``/``kill`` are no-ops
    for the same reason: nameko calls them once per container without saying which.

    The accept loop and the connection handlers are plain greenthreads, not managed
    threads of any container, so one container stopping cannot take the listener down
    with it. Requests still run as workers of the container owning the matched entrypoint,
    because the entrypoint calls its own ``container.spawn_worker``.
    """

    #: On last release: how long in-flight requests may take to finish writing their
    #: response before their connections are killed. Idle keep-alive connections are
    #: closed at once.
    shutdown_grace_seconds: ClassVar[float] = 5.0

    def __init__(self) -> None:
        super().__init__()
        self._address: BindAddress | None = None
        self._url_map: Map | None = None
        self._builtin_map = Map(
            [
                Rule("/healthz", endpoint="healthz", methods=["GET"]),
                Rule("/readyz", endpoint="readyz", methods=["GET"]),
                Rule("/metrics", endpoint="metrics", methods=["GET"]),
            ]
        )
        self._holders: dict[ProcessWebServerLease, str] = {}
        self._pool: GreenPool | None = None
        self._connections: dict[Any, list[Any]] = {}
        self.limits = WebLimits()
        self.auth = WebAuth(None, {})
        self._serv: LimitedWsgiServer | None = None

    # -- binding ------------------------------------------------------------------

    def bind(self, container: Any) -> ProcessWebServer:
        """Return the process-wide instance for the container's bind address.

        Keyed by the parsed address, so "127.0.0.1:8000" from two configs is one server;
        a misconfigured address fails here, at container construction, not at start.
        The limits (``WEB_MAX_BODY_BYTES`` etc.) are read in :meth:`acquire`, from the
        container that opens the socket.
        """
        address_str = container.config.get(WEB_SERVER_CONFIG_KEY, DEFAULT_WEB_SERVER_ADDRESS)
        address = parse_address(address_str)
        with _SERVERS_LOCK:
            server = _SERVERS.get(address)
            if server is None:
                # Extension.bind (not SharedExtension.bind) clones without caching the
                # instance per container: the cache here is the process-wide one.
                server = Extension.bind(self, container)
                # Drop the weak proxy to the first container: once that container is
                # garbage collected, nameko's introspection of the shared instance would
                # hit a dead proxy (ReferenceError) while binding later containers.
                server.container = _NO_SINGLE_CONTAINER
                server._address = address
                server.auth = WebAuth.from_container(container)
                _SERVERS[address] = server
            elif type(server) is type(self):
                server.auth.adopt(container)
            else:
                raise ConfigurationError(
                    f"{address_str} is already served by {type(server).__name__}; "
                    f"a {type(self).__name__} cannot share the port"
                )
        return server

    @property
    def bind_addr(self) -> BindAddress:
        # AttributeError, not RuntimeError: nameko introspects unbound extensions with
        # inspect.getmembers, which only tolerates AttributeError from descriptors.
        if self._address is None:
            raise AttributeError("ProcessWebServer has no address before bind()")
        return self._address

    # -- providers ------------------------------------------------------------------

    def register_provider(self, provider: Any) -> None:
        """Add an entrypoint's route; the URL map is rebuilt on the next request.

        Rebuilding lazily is what lets a container that starts after the socket is
        already listening add its routes. Providers without a lease are refused: nothing
        would ever open (or close) the socket for their container.
        """
        if not any(isinstance(ext, ProcessWebServerLease) for ext in iter_extensions(provider)):
            raise ConfigurationError(
                f"{type(provider).__name__} uses ProcessWebServer but declares no "
                "ProcessWebServerLease; subclass JsonHttpEntrypoint or add "
                "`server_lease = ProcessWebServerLease()`"
            )
        self._providers_registered = True
        self._providers.add(provider)
        self._url_map = None

    def unregister_provider(self, provider: Any) -> None:
        # Not ProviderCollector's version: it fires a one-shot Event when the set empties,
        # which raises the second time round on a server that outlives its containers.
        if provider in self._providers:
            self._providers.discard(provider)
            self._url_map = None

    def wait_for_providers(self) -> None:
        """Never wait: other containers' providers may stay registered for a long time."""

    def get_url_map(self) -> Map:
        """The routes of all registered providers, rebuilt after any (un)registration.

        A method, not a property: nameko's introspection evaluates every property.
        """
        url_map = self._url_map
        if url_map is None:
            url_map = self._url_map = self.make_url_map()
        return url_map

    def make_url_map(self) -> Map:
        url_map = Map()
        seen: dict[tuple[str, str], Any] = {}
        # A provider whose container was killed without unregistering holds a dead weak
        # reference to it (nameko's repr then raises): its routes are gone with it.
        live = [p for p in self._providers if _container_name(p) is not None]
        for provider in sorted(live, key=lambda p: (p.url, p.method, _container_name(p))):
            rule = provider.get_url_rule()
            rule.endpoint = provider
            for method in rule.methods or ():
                other = seen.setdefault((method, rule.rule), provider)
                if other is not provider:
                    _log.warning(
                        "%s %s is declared by both %r and %r; one of them wins",
                        method,
                        rule.rule,
                        other,
                        provider,
                    )
            url_map.add(rule)
        return url_map

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> None:
        """No-op: the socket opens in :meth:`acquire`, called by each container's lease."""

    def stop(self) -> None:
        """No-op: see :meth:`release`. Stock nameko would wait here for *every*
        container's providers, deadlocking a container stopped on its own."""

    def kill(self) -> None:
        """No-op: see :meth:`release`."""

    @property
    def is_listening(self) -> bool:
        return self._sock is not None

    def holder_names(self) -> list[str]:
        return list(self._holders.values())

    def holder_containers(self) -> list[Any]:
        """The containers holding this server now (each lease knows its own)."""
        return [lease.container for lease in list(self._holders)]

    def acquire(self, lease: ProcessWebServerLease, service_name: str) -> None:
        """Record that a container started, opening the socket if it is the first.

        The holder is recorded only after a successful listen, so a container that fails
        to start (port taken) does not keep the count up. The limits are read from the
        container that opens the socket: an idle instance outlives its containers, and a
        later one on the same port (a port number handed out again) brings its own.
        """
        if self._sock is None:
            self.limits = WebLimits.from_config(lease.container.config)
            self._open()
        self._holders[lease] = service_name

    def release(self, lease: ProcessWebServerLease) -> None:
        """Forget a container; close the socket when it was the last. Idempotent, since
        a container killed while stopping releases twice."""
        if self._holders.pop(lease, None) is None:
            return
        if not self._holders and self._sock is not None:
            self._close()

    def _open(self) -> None:
        sock = eventlet.listen(self.bind_addr)
        # work around https://github.com/celery/kombu/issues/838 (as nameko does)
        sock.settimeout(None)
        self._sock = sock
        self._serv = self.get_wsgi_server(sock, self.get_wsgi_app())
        # Bounded: when every slot is taken, accept() waits and new clients queue in
        # the listen backlog; the header and body deadlines free slots held by slow ones.
        self._pool = GreenPool(self.limits.max_connections)
        self._connections = {}
        self._is_accepting = True
        self._gt = eventlet.spawn(self.run)
        _log.info("web server listening on %s:%s", *sock.getsockname()[:2])

    def _close(self) -> None:
        # Detach everything first: the drain below yields, and a container starting
        # meanwhile must see "not listening" and open a fresh socket.
        sock, gt, pool, connections = self._sock, self._gt, self._pool, self._connections
        self._sock = self._gt = self._pool = self._serv = None
        self._connections = {}
        self._is_accepting = False
        if gt is not None:
            gt.kill()
        sock.close()  # frees the port now; draining below uses accepted sockets only
        # Like eventlet.wsgi.server's shutdown: idle keep-alive connections are shut down
        # so their handlers return; busy ones get to finish their response.
        for conn in list(connections.values()):
            previous, conn[2] = conn[2], STATE_CLOSE
            if previous == STATE_IDLE:
                greenio.shutdown_safe(conn[1])
        if pool is not None:
            with eventlet.Timeout(self.shutdown_grace_seconds, False):
                pool.waitall()
            for thread in list(pool.coroutines_running):
                thread.kill()
        for conn in list(connections.values()):
            conn[1].close()
        _log.info("web server on %s:%s closed", *self.bind_addr)

    def run(self) -> None:
        """Accept connections until closed, handling each in this server's own pool."""
        sock, serv, pool, connections = self._sock, self._serv, self._pool, self._connections
        while self._is_accepting and sock is self._sock:
            try:
                client, address = sock.accept()
            except OSError:
                if not self._is_accepting or sock is not self._sock:
                    return
                # e.g. EMFILE: keep the listener alive rather than lose every service.
                _log.exception("accept() failed on %s:%s", *self.bind_addr)
                eventlet.sleep(0.1)
                continue
            # _open() makes the server and the pool before it spawns run()
            assert serv is not None and pool is not None
            client.settimeout(serv.socket_timeout)
            conn = [address, client, STATE_IDLE]
            connections[address] = conn
            pool.spawn(self._handle_connection, serv, connections, conn)

    def _handle_connection(
        self, serv: Any, connections: dict[Any, list[Any]], conn: list[Any]
    ) -> None:
        try:
            serv.process_request(conn)
        except OSError as exc:
            # Same early-disconnect eventlet quirk nameko's WebServer swallows.
            if "raw readinto() returned invalid length" not in str(exc):
                _log.warning("connection from %s failed: %s", conn[0], exc)
        finally:
            connections.pop(conn[0], None)
            conn[2] = STATE_CLOSE
            greenio.shutdown_safe(conn[1])
            conn[1].close()

    def process_request(self, sock: Any, address: Any) -> None:  # pragma: no cover
        raise NotImplementedError("ProcessWebServer handles connections in run()")

    # -- WSGI -------------------------------------------------------------------------

    def get_wsgi_app(self) -> Callable[..., Iterable[bytes]]:
        return self.wsgi_app

    def get_wsgi_server(self, sock: Any, wsgi_app: Any, protocol: Any = LimitedHttpProtocol,
                        debug: bool = False) -> LimitedWsgiServer:
        return LimitedWsgiServer(sock, sock.getsockname(), wsgi_app, protocol=protocol,
                                 debug=debug, log=logging.getLogger("nameko.web.server"),
                                 limits=self.limits)

    def context_data_from_headers(self, request: Request) -> dict[str, str]:
        return context_data_from_headers(request)

    def wsgi_app(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        """Dispatch one request: built-in routes first, then the current URL map."""
        started = time.perf_counter()
        # shallow: nobody may read the body before the entrypoint decides to (as nameko)
        request = _RoutedRequest(environ, shallow=True)
        service = UNMATCHED_SERVICE_LABEL
        try:
            refusal = buffer_body(environ, self.limits)
            if refusal is not None:
                response = refusal
            else:
                response, service = self._dispatch(request, environ)
        except Exception as exc:
            _log.exception("unhandled error serving %s %s", request.method, request.path)
            if is_transient(exc):  # e.g. the session check could not reach its database
                unavailable = unavailable_from(exc)
                response = json_response(unavailable.to_dict(), status=503, headers={
                    "Retry-After": str(unavailable.retry_after)})
            else:
                response = json_response(
                    {"error": "internal", "message": "internal server error"}, status=500
                )
        if 400 <= response.status_code < 500:
            # A caller's mistake: one line, never a traceback (see chibo.nameko.rejections).
            _log.warning("%s %s %d %s", rejections.loggable(request.method),
                         rejections.loggable(request.path), response.status_code,
                         getattr(response, "rejection", None) or "-")
        method = request.method if request.method in _COUNTED_METHODS else "OTHER"
        HTTP_REQUESTS.labels(service=service, method=method, status=str(response.status_code)).inc()
        HTTP_REQUEST_SECONDS.labels(service=service).observe(time.perf_counter() - started)
        return add_security_headers(response)(environ, start_response)

    def _dispatch(self, request: _RoutedRequest, environ: dict[str, Any]
                  ) -> tuple[Response, str]:
        try:
            endpoint, _ = self._builtin_map.bind_to_environ(environ).match()
        except MethodNotAllowed as exc:
            return _http_exception_response(exc), BUILTIN_SERVICE_LABEL
        except NotFound:
            pass
        else:
            if endpoint == "healthz":
                return json_response(health.liveness(started_service_names())), \
                    BUILTIN_SERVICE_LABEL
            if endpoint == "readyz":
                status, body = health.readiness(self.holder_containers())
                headers = {"Retry-After": str(body["retry_after"])} if status != 200 else None
                return json_response(body, status=status, headers=headers), \
                    BUILTIN_SERVICE_LABEL
            refused = self.auth.metrics_refusal(request)
            if refused is not None:
                return refused, BUILTIN_SERVICE_LABEL
            return Response(
                prometheus_client.generate_latest(prometheus_client.REGISTRY),
                content_type=prometheus_client.CONTENT_TYPE_LATEST,
            ), BUILTIN_SERVICE_LABEL

        try:
            provider, values = self.get_url_map().bind_to_environ(environ).match()
        except HTTPException as exc:
            return _http_exception_response(exc), UNMATCHED_SERVICE_LABEL
        request.path_values = values
        service = provider.container.service_name
        refused = self.auth.csrf_refusal(request)
        if refused is not None:
            return refused, service
        return provider.handle_request(request), service


def _container_name(provider: Any) -> str | None:
    try:
        return str(provider.container.service_name)
    except ReferenceError:
        return None


class _RoutedRequest(Request):
    """A request that carries the values its URL rule matched, where nameko's
    ``HttpRequestHandler`` looks for them to call the entrypoint with."""

    path_values: Mapping[str, Any]


class ProcessWebServerLease(SharedExtension):
    """One per container: holds the shared :class:`ProcessWebServer` while it runs.

    A sub-extension's ``stop()`` runs after the container's workers have finished, so
    releasing here (rather than in the entrypoint's ``stop()``) closes the socket only
    when no response is still owed.
    """

    server = ProcessWebServer()

    def start(self) -> None:
        self.server.acquire(self, self.container.service_name)

    def stop(self) -> None:
        self.server.release(self)

    def kill(self) -> None:
        try:
            self.server.release(self)
        except Exception:  # nameko: extensions must not raise during kill
            _log.exception("releasing the web server during kill failed")


