"""A caller's mistake is one log line; a fault keeps its traceback.

A refused request (bad input, a rule that says no, an unknown id) is routine: the
caller got a clear 4xx and the service is fine. Logging each with a traceback made
thousands of bad requests into megabytes of log that hid the real faults. So:

* the web server writes one line per 4xx answer: method, path, status, and the error
  code with the fields (or a short message) — see `ProcessWebServer.wsgi_app`;
* nameko's container logs every *expected* exception of a worker with its traceback
  ("(expected) error handling worker …"). `QuietRejections` (installed on that logger)
  drops the record for HTTP workers, whose line the web server writes, and turns it
  into one line without traceback for RPC workers.

Exceptions that are not a caller's mistake (no 4xx `http_status` with a `to_dict()`,
or anything unexpected) are left as they are, traceback and all.
"""

from __future__ import annotations

import logging
from typing import Any

from nameko.web.handlers import HttpRequestHandler

#: The logger nameko's ServiceContainer writes worker errors to.
CONTAINER_LOGGER = "nameko.containers"
_EXPECTED = "(expected) error handling worker"
_MESSAGE_LIMIT = 200


def client_error_status(exc: BaseException) -> int | None:
    """The 4xx status of a caller's mistake (an exception with an int `http_status`
    from 400 to 499 and a `to_dict()`), else None."""
    status = getattr(exc, "http_status", None)
    if (isinstance(status, int) and not isinstance(status, bool) and 400 <= status < 500
            and callable(getattr(exc, "to_dict", None))):
        return status
    return None


def summary(exc: BaseException) -> str:
    """The error code and, briefly, what was wrong: the fields named, or the message."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        to_dict = getattr(exc, "to_dict", None)
        body = to_dict() if callable(to_dict) else None
        code = body.get("error") if isinstance(body, dict) else None
        code = code if isinstance(code, str) else type(exc).__name__
    fields = getattr(exc, "fields", None)
    if isinstance(fields, dict) and fields:
        return loggable(f"{code} fields={','.join(sorted(str(name) for name in fields))}")
    message = " ".join(str(getattr(exc, "message", None) or exc).split())
    if len(message) > _MESSAGE_LIMIT:
        message = message[:_MESSAGE_LIMIT - 1] + "…"
    return loggable(f"{code}: {message}" if message else code)


def loggable(text: str) -> str:
    """`text` with control characters escaped, so what a caller sent (a path, a field
    name) cannot start a forged line of its own in the log."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class QuietRejections(logging.Filter):
    """On nameko's container logger: a worker's expected 4xx exception is no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not (isinstance(record.msg, str) and record.msg.startswith(_EXPECTED)):
            return True
        args = record.args if isinstance(record.args, tuple) else ()
        if len(args) < 2 or not isinstance(args[1], BaseException):
            return True
        worker_ctx, exc = args[0], args[1]
        status = client_error_status(exc)
        if status is None:
            return True
        entrypoint = getattr(worker_ctx, "entrypoint", None)
        if isinstance(entrypoint, HttpRequestHandler):
            return False  # the web server writes this request's line
        record.msg = "%s.%s rejected: %s %s"
        record.args = (getattr(worker_ctx, "service_name", "?"),
                       getattr(entrypoint, "method_name", "?"), status, summary(exc))
        record.exc_info = None
        record.exc_text = None
        return True


def install() -> None:
    """Put QuietRejections on nameko's container logger, once per process."""
    logger = logging.getLogger(CONTAINER_LOGGER)
    if not any(isinstance(f, QuietRejections) for f in logger.filters):
        logger.addFilter(QuietRejections())


def describe(response: Any, exc: BaseException) -> Any:
    """Note on a response what it refuses, for the web server's line; returns it."""
    return mark(response, summary(exc))


def mark(response: Any, rejection: str) -> Any:
    """Note `rejection` on a response (its ``rejection`` attribute, which the web server's
    line reads); returns the response."""
    response.rejection = rejection
    return response
