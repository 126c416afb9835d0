"""Errors every entrypoint knows how to report.

Each carries an HTTP status and a JSON body so the web layer and the RPC layer
say the same thing to the caller, field by field where it applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: Every ChiboError class by name: a remote error arrives as its type's name, text and
#: details, and `from_remote` gives the caller the same kind of error back.
_BY_NAME: dict[str, type[ChiboError]] = {}

#: Every ChiboError class defined so far, and who wants to hear of the next ones (the RPC
#: edge registers each with its deserializer, those of modules imported later too).
_CLASSES: list[type[ChiboError]] = []
_WATCHERS: list[Callable[[type[ChiboError]], None]] = []


class ChiboError(Exception):
    """Base of the errors a caller can act on; never raised for programming faults."""

    http_status = 400
    code = "bad_request"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _BY_NAME.setdefault(cls.__name__, cls)
        _CLASSES.append(cls)
        for watcher in list(_WATCHERS):
            watcher(cls)

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class ValidationFailed(ChiboError):
    """Input did not match its schema. `fields` maps each field to its problems."""

    http_status = 422
    code = "validation_failed"

    def __init__(self, fields: dict[str, Any], message: str | None = None) -> None:
        super().__init__(message or "Dữ liệu không hợp lệ (invalid input): " + _summary(fields),
                         fields=fields)
        self.fields = fields


class ConcurrencyError(ChiboError):
    """The stream moved on since the caller read it; reload and decide again."""

    http_status = 409
    code = "concurrency_conflict"


class DomainRuleViolated(ChiboError):
    """The command is well-formed but a rule of the domain refuses it."""

    http_status = 409
    code = "rule_violated"


class NotFound(ChiboError):
    http_status = 404
    code = "not_found"


class Forbidden(ChiboError):
    """The caller may not give this command: a service's command policy refused it
    (see chibo.commands.Policy). Nothing is done."""

    http_status = 403
    code = "forbidden"


class CommandIdReused(ChiboError):
    """A command id (`X-Command-Id`) already answered a different command, or the same
    command with a different body. Nothing is done: the caller needs a new id."""

    http_status = 409
    code = "command_id_reused"


class ServiceUnavailable(ChiboError):
    """The service could not reach its database or the message broker just now (a
    connection refused or cut, a server restarting). Nothing was decided: the same
    command, with the same command id, may be sent again after `retry_after` seconds."""

    http_status = 503
    code = "unavailable"
    #: Seconds a caller should wait before trying again (HTTP `Retry-After`).
    retry_after = 2

    def __init__(self, message: str | None = None, **details: Any) -> None:
        super().__init__(message or (
            "Dịch vụ tạm thời không sẵn sàng, xin thử lại sau ít giây (service temporarily "
            "unavailable: its database or message broker cannot be reached; retry shortly)"),
            **details)

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


#: Errors a caller may simply send again (the same command id), once it has waited.
RETRYABLE: tuple[type[ChiboError], ...] = (ServiceUnavailable,)


def _summary(fields: dict[str, Any]) -> str:
    parts = []
    for name, problems in sorted(fields.items()):
        text = problems if isinstance(problems, str) else "; ".join(map(str, _flatten(problems)))
        parts.append(f"{name}: {text}")
    return ", ".join(parts)


def _flatten(problems: Any) -> list[Any]:
    if isinstance(problems, dict):
        return [f"{k}: {'; '.join(map(str, _flatten(v)))}" for k, v in problems.items()]
    if isinstance(problems, list):
        out: list[Any] = []
        for p in problems:
            out.extend(_flatten(p))
        return out
    return [problems]


def watch_error_classes(callback: Callable[[type[ChiboError]], None]) -> None:
    """Call `callback` with ChiboError and each of its subclasses: those defined already
    at once, each one defined later as its class statement runs."""
    _WATCHERS.append(callback)
    callback(ChiboError)
    for cls in list(_CLASSES):
        callback(cls)


#: What every ChiboError has of its own: a detail by one of these names stays a detail.
_RESERVED = frozenset({"message", "details", "args", "http_status", "code"})


def from_remote(exc_type: str | None, value: str | None,
                details: dict[str, Any] | None = None) -> ChiboError | None:
    """The caller-facing error another service raised over RPC, from its type name, text
    and details (as `to_dict` says them; none from a service that sent only the text), or
    None when it was not one of these. Each detail is also an attribute, as the class's
    own constructor makes it (a ValidationFailed's `fields`, a RateLimited's
    `retry_after`)."""
    cls = ChiboError if exc_type == "ChiboError" else _BY_NAME.get(exc_type or "")
    if cls is None:
        return None
    details = dict(details) if isinstance(details, dict) else {}
    error = ChiboError(value or "")
    error.details = details
    error.__class__ = cls  # keep the status and code; the constructor's checks were remote
    for name, detail in details.items():
        if (isinstance(name, str) and name.isidentifier() and name not in _RESERVED
                and not callable(getattr(cls, name, None))
                and not isinstance(getattr(cls, name, None), property)):
            setattr(error, name, detail)
    if isinstance(error, ValidationFailed) and not isinstance(details.get("fields"), dict):
        error.fields = {}  # a sender that kept the fields to itself: the text says them
    return error
