"""JSON over HTTP: reading a request's body and context headers, writing JSON
responses and errors."""

from __future__ import annotations

import abc
import json
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request, Response

from chibo.nameko import rejections

JSON_CONTENT_TYPE = "application/json; charset=utf-8"

#: HTTP header -> nameko context data key. Only headers present are copied, so a worker
#: can tell "not sent" (key missing) from "sent empty".
#: No header names the actor: who calls is the verified identity (`identity`, from the
#: session cookie or `Authorization: Bearer`), and an `X-Actor` sent from outside is
#: ignored.
CONTEXT_HEADERS: Mapping[str, str] = {
    "X-Correlation-Id": "correlation_id",
    "X-Command-Id": "command_id",
    "X-Causation-Id": "causation_id",
}

def context_data_from_headers(request: Request) -> dict[str, str]:
    """Nameko context data carried by the request's headers (see :data:`CONTEXT_HEADERS`).

    Context data travels with every RPC and event a worker makes, so copying these
    headers once at the edge is what lets the actor and the correlation/causation chain
    follow a command through every service it touches. Header values are
    percent-decoded: HTTP headers are Latin-1, so a Vietnamese actor name
    travels as percent-encoded UTF-8 (``X-Actor: c%C3%A1n%20b%E1%BB%99``).
    """
    data = {
        key: unquote(_utf8_header(request.headers[header]))
        for header, key in CONTEXT_HEADERS.items()
        if header in request.headers
    }
    token, _ = presented_token(request)
    if token:
        data[IDENTITY_KEY] = token
    return data


#: The browser's session: a signed token (see chibo.access.tokens) in an HttpOnly cookie.
SESSION_COOKIE = "chibo_session"
#: Context data key of the caller's token (chibo.nameko.access reads it).
IDENTITY_KEY = "identity"


def presented_token(request: Request) -> tuple[str | None, str]:
    """The caller's token and how it came: ("...", "bearer") from `Authorization:
    Bearer`, ("...", "cookie") from the session cookie, (None, "") without either. A
    bearer token wins: API clients never carry a browser's cookie by accident."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, ""


def _utf8_header(value: str) -> str:
    """WSGI hands header bytes over as Latin-1; a client that sent raw UTF-8 meant UTF-8."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def json_response(
    payload: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response encoded as UTF-8 with non-ASCII characters kept as they are.

    ``ensure_ascii=False`` keeps Vietnamese names readable in logs and curl output, and
    ``allow_nan=False`` refuses NaN/Infinity, which are not JSON and break strict clients.
    A 204/304 gets no body at all, as HTTP requires.
    """
    if status in (204, 304):
        return Response(status=status, headers=dict(headers or {}))
    body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(
        body, status=status, headers=dict(headers or {}), content_type=JSON_CONTENT_TYPE
    )


def _http_status_of(cls_or_exc: Any) -> int | None:
    status = getattr(cls_or_exc, "http_status", None)
    if isinstance(status, int) and not isinstance(status, bool) and 400 <= status <= 599:
        return status
    return None


class ClientError(abc.ABC):  # noqa: B024 - used only through __subclasshook__
    """Virtual base class of every exception class with a 4xx ``http_status`` and a
    ``to_dict()`` method; never subclass it, ``isinstance`` just works.

    :class:`JsonHttpEntrypoint` adds it to ``expected_exceptions``, so nameko logs a
    caller's mistake as an "(expected)" warning instead of an error, and monitoring
    extensions that read ``expected_exceptions`` do not count it as a service fault.
    """

    @classmethod
    def __subclasshook__(cls, subclass: type) -> bool:
        if cls is not ClientError or not issubclass(subclass, BaseException):
            return NotImplemented
        status = _http_status_of(subclass)
        if status is not None and status < 500 and callable(getattr(subclass, "to_dict", None)):
            return True
        return NotImplemented


class BadJsonBody(ValueError):
    """The request body is not a JSON object; answered as ``400 bad_json``."""

    http_status: ClassVar[int] = 400

    def to_dict(self) -> dict[str, Any]:
        return {"error": "bad_json", "message": str(self)}


class NotJson(ValueError):
    """A command body not sent as application/json; answered as ``415 not_json``."""

    http_status: ClassVar[int] = 415

    def to_dict(self) -> dict[str, Any]:
        return {"error": "not_json", "message": str(self)}


def read_json(request: Request) -> dict[str, Any]:
    """Parse the request body as a JSON object, or raise :class:`BadJsonBody`.

    Entrypoints take a JSON object because every command has named fields; a list or a
    bare value is a client mistake worth a clear 400 rather than an AttributeError (500)
    deep in the handler. The body must say it is JSON (`Content-Type:
    application/json`): a cross-site HTML form can only send form encodings and
    text/plain, so this keeps a logged-in browser from being made to post a command.
    """
    if request.mimetype != "application/json":
        raise NotJson(f"Content-Type must be application/json (got "
                      f"{request.mimetype or 'none'}); send the body as JSON, e.g. "
                      "curl --json '{...}' or -H 'Content-Type: application/json'.")
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadJsonBody("request body is empty; expected a JSON object")
    try:
        # bytes input lets json detect UTF-8/16/32 itself.
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise BadJsonBody(f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadJsonBody(f"expected a JSON object, got {type(value).__name__}")
    return value



def _http_exception_response(exc: HTTPException) -> Response:
    """werkzeug's 404/405 etc. as JSON, keeping headers such as ``Allow``."""
    code = (exc.name or "error").lower().replace(" ", "_")
    response = json_response({"error": code, "message": exc.description},
                             status=exc.code or 500)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return rejections.mark(response, code)


