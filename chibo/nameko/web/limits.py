"""What one HTTP client may cost the shared web server: how long it may take to send
its headers and its body, how large the body may be, how many connections are served
at once. Read from the container config; enforced on eventlet's wsgi machinery."""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import eventlet
from eventlet import wsgi
from nameko.web.server import HttpOnlyProtocol
from werkzeug.wrappers import Response

from chibo.nameko import rejections
from chibo.nameko.web.json_http import json_response

#: environ key of a callable that makes eventlet close the connection after this
#: response (eventlet ignores a ``Connection: close`` set by the application).
CLOSE_CONNECTION_KEY = "chibo.web.close_connection"


@dataclass(frozen=True)
class WebLimits:
    """The server's limits; see docs/operations.md for the settings."""

    max_body_bytes: int = 8 * 1024 * 1024
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    max_connections: int = 1000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> WebLimits:
        defaults = cls()
        return cls(
            max_body_bytes=int(config.get("WEB_MAX_BODY_BYTES", defaults.max_body_bytes)),
            header_timeout_seconds=float(
                config.get("WEB_HEADER_TIMEOUT_SECONDS", defaults.header_timeout_seconds)),
            body_timeout_seconds=float(
                config.get("WEB_BODY_TIMEOUT_SECONDS", defaults.body_timeout_seconds)),
            max_connections=int(config.get("WEB_MAX_CONNECTIONS", defaults.max_connections)),
        )


class LimitedWsgiServer(wsgi.Server):
    """eventlet's server carrying the limits :class:`LimitedHttpProtocol` reads."""

    def __init__(self, *args: Any, limits: WebLimits, **kwargs: Any) -> None:
        # socket_timeout bounds every single read and write, so a client that stops
        # reading its response cannot hold a connection's green thread for ever.
        super().__init__(*args, socket_timeout=limits.body_timeout_seconds, **kwargs)
        self.limits = limits


class LimitedHttpProtocol(HttpOnlyProtocol):
    """nameko's protocol with a deadline for the request line and headers together.

    eventlet's ``socket_timeout`` applies to each ``recv``, so a client sending one byte
    every few seconds would never trip it; this deadline covers the whole header block,
    counted from the moment the server starts waiting for the next request (which also
    closes keep-alive connections idle that long).
    """

    server: LimitedWsgiServer

    def handle_one_request(self) -> None:
        # TimeoutError is an OSError, which eventlet's request-line reader re-raises and
        # its process_request turns into a quiet close of the connection.
        self._header_deadline = eventlet.Timeout(
            self.server.limits.header_timeout_seconds,
            TimeoutError("request headers not received in time"),
        )
        try:
            super().handle_one_request()
        finally:
            self._header_deadline.cancel()

    def parse_request(self) -> bool:
        try:
            return bool(super().parse_request())
        finally:
            self._header_deadline.cancel()

    def get_environ(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        environ = super().get_environ(*args, **kwargs)
        environ[CLOSE_CONNECTION_KEY] = self._close_after_response
        return environ

    def _close_after_response(self) -> None:
        # Before the response is written, so eventlet neither keeps the connection alive
        # nor reads ("discards") the rest of a body it was never going to use.
        self.close_connection = 1


class _BodyTimeout(Exception):
    pass


def buffer_body(environ: dict[str, Any], limits: WebLimits) -> Response | None:
    """Read the request body into memory, within the size and time limits.

    The body is read here, in the connection's green thread, before any worker is
    spawned: a slow upload then costs one connection, never one of a service's
    ``max_workers``. On success the environ carries the bytes (``wsgi.input``) and
    None is returned; otherwise the 413/408/400 response to send, with the connection
    marked to close.
    """
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    # eventlet has already refused a Content-Length that is not a whole number >= 0.
    declared = 0 if chunked else int(environ.get("CONTENT_LENGTH") or 0)
    if not chunked and declared == 0:
        return None
    if declared > limits.max_body_bytes:
        return _refuse(environ, _too_large(limits))
    stream = environ["wsgi.input"]
    try:
        with eventlet.Timeout(limits.body_timeout_seconds, _BodyTimeout):
            body = stream.read(limits.max_body_bytes + 1 if chunked else declared)
    except _BodyTimeout:
        return _refuse(environ, rejections.mark(json_response(
            {"error": "request_timeout",
             "message": f"request body not received within "
                        f"{limits.body_timeout_seconds:g} s"}, status=408), "request_timeout"))
    except (OSError, ValueError):  # disconnected, or malformed chunked encoding
        return _refuse(environ, _incomplete())
    if len(body) > limits.max_body_bytes:
        return _refuse(environ, _too_large(limits))
    if len(body) < declared:
        return _refuse(environ, _incomplete())
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return None


def _too_large(limits: WebLimits) -> Response:
    return rejections.mark(json_response(
        {"error": "payload_too_large",
         "message": f"request body exceeds {limits.max_body_bytes} bytes",
         "max_body_bytes": limits.max_body_bytes}, status=413), "payload_too_large")


def _incomplete() -> Response:
    return rejections.mark(json_response(
        {"error": "bad_request", "message": "request body incomplete"}, status=400),
        "bad_request")


def _refuse(environ: dict[str, Any], response: Response) -> Response:
    close: Callable[[], None] | None = environ.get(CLOSE_CONNECTION_KEY)
    if close is not None:
        close()
    return response


__all__ = [
    "CLOSE_CONNECTION_KEY",
    "LimitedHttpProtocol",
    "LimitedWsgiServer",
    "WebLimits",
    "buffer_body",
]
