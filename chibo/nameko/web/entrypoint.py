"""The `@http` entrypoint: a worker's return value or exception as a JSON response,
served by the process-wide web server."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from eventlet.event import Event
from nameko.exceptions import ContainerBeingKilled
from nameko.web.handlers import HttpRequestHandler
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from chibo.errors import ServiceUnavailable
from chibo.nameko import rejections
from chibo.nameko.resilience import is_transient, unavailable_from
from chibo.nameko.web.json_http import (
    ClientError,
    _http_exception_response,
    _http_status_of,
    json_response,
)
from chibo.nameko.web.server import ProcessWebServer, ProcessWebServerLease

_log = logging.getLogger(__name__)

# A worker's expected 4xx exception: one line below, not nameko's traceback.
rejections.install()


class JsonHttpEntrypoint(HttpRequestHandler):
    """``@http`` entrypoint answering in JSON, served by the process-wide web server.

    Return a werkzeug ``Response`` (sent as is), a ``dict``/``list`` (200 JSON), or
    ``(status, payload)`` / ``(status, headers, payload)`` (JSON payload). Raise an
    exception with an int ``http_status`` (400-599) and a ``to_dict()`` method to answer
    with that status and body; werkzeug ``HTTPException``s keep their status; a
    transient fault of the database or the broker (`chibo.nameko.resilience.is_transient`)
    is a 503 ``{"error": "unavailable"}`` with ``Retry-After``; anything else is a 500
    ``{"error": "internal"}`` whose details stay in the server log.
    """

    server = ProcessWebServer()
    server_lease = ProcessWebServerLease()

    def __init__(self, method: str, url: str, expected_exceptions: Any = (), **kwargs: Any) -> None:
        if not isinstance(expected_exceptions, tuple):
            expected_exceptions = (expected_exceptions,)
        super().__init__(
            method, url, expected_exceptions=(*expected_exceptions, ClientError), **kwargs
        )

    def setup(self) -> None:
        # Secure by default, with or without a Caller on the service: a route that
        # does not say who may call it never serves (see chibo.nameko.access).
        from chibo.nameko.access import declared_access

        method = getattr(self.container.service_cls, self.method_name)
        if declared_access(method) is None and not getattr(method, "__chibo_command__", False):
            raise RuntimeError(
                f"{self.container.service_name}.{self.method_name} ({self.method} {self.url}) "
                "declares no access rule; add chibo.nameko.access.access(...) below @http")
        super().setup()

    def kill(self) -> None:
        # Stock handlers only unregister on stop(); a killed container's routes would
        # otherwise keep matching and fail with ContainerBeingKilled.
        self.server.unregister_provider(self)
        super().kill()

    def handle_request(self, request: Request) -> Response:
        """As nameko's, but logging what nameko does not: worker exceptions are already
        logged by the container, failures before or after the worker are logged here."""
        request.shallow = False
        try:
            context_data = self.server.context_data_from_headers(request)
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            event = Event()
            self.container.spawn_worker(
                self,
                args,
                kwargs,
                context_data=context_data,
                handle_result=partial(self.handle_result, event),
            )
        except ContainerBeingKilled as exc:
            return self.response_from_exception(exc)
        except Exception as exc:
            _log.exception("could not start a worker for %r", self)
            return self.response_from_exception(exc)
        try:
            result = event.wait()
        except Exception as exc:
            return self.response_from_exception(exc)
        try:
            return self.response_from_result(result)
        except Exception as exc:
            _log.exception("could not turn the result of %r into a response", self)
            return self.response_from_exception(exc)

    def response_from_result(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, dict | list):
            return json_response(result)
        if isinstance(result, tuple) and len(result) in (2, 3):
            if len(result) == 3:
                status, headers, payload = result
            else:
                (status, payload), headers = result, None
            if isinstance(status, int) and not isinstance(status, bool):
                return json_response(payload, status=status, headers=headers)
        raise TypeError(
            "a JSON entrypoint must return a dict, a list, (status, payload), "
            f"(status, headers, payload) or a Response; got {type(result).__name__}"
        )

    def response_from_exception(self, exc: BaseException) -> Response:
        if not isinstance(exc, ServiceUnavailable) and is_transient(exc):
            # Nothing was committed (the transaction failed with its connection): the
            # client may send the same request, with the same X-Command-Id, again.
            exc = unavailable_from(exc)
        status = _http_status_of(exc)
        to_dict = getattr(exc, "to_dict", None)
        if status is not None and callable(to_dict):
            retry_after = getattr(exc, "retry_after", None)
            headers = {"Retry-After": str(retry_after)} if retry_after else None
            try:
                return rejections.describe(json_response(to_dict(), status=status,
                                                         headers=headers), exc)
            except Exception:
                _log.exception("%s.to_dict() failed", type(exc).__name__)
        elif isinstance(exc, HTTPException) and exc.code:
            return _http_exception_response(exc)
        elif isinstance(exc, ContainerBeingKilled):
            return json_response(
                {"error": "unavailable", "message": "service is shutting down",
                 "retry_after": ServiceUnavailable.retry_after}, status=503,
                headers={"Retry-After": str(ServiceUnavailable.retry_after)})
        return json_response({"error": "internal", "message": "internal server error"}, status=500)


http = JsonHttpEntrypoint.decorator
