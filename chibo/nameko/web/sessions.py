"""What the web server itself checks of a caller before any worker runs: a browser
session's CSRF token on every unsafe request, and who may read `/metrics`.

The per-route check (who may call which entrypoint on what) is the worker's
(`chibo.nameko.access`); this covers what no entrypoint sees."""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from chibo.access import Access, authorize
from chibo.access.tokens import InvalidToken
from chibo.errors import ChiboError
from chibo.nameko.web.json_http import json_response, presented_token

#: Where a form sends the session's CSRF token; scripts send the header instead.
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: The permission `/metrics` needs (config AUTH.metrics_permission).
DEFAULT_METRICS_PERMISSION = "operate"


class WebAuth:
    """Holds the first bound container's `Caller` provider (its signer, clock and roles
    are ready once the container is set up, before any request can arrive)."""

    def __init__(self, caller: Any | None, settings: Mapping[str, Any]) -> None:
        self.caller = caller
        self.metrics_access = Access(str(settings.get("metrics_permission")
                                         or DEFAULT_METRICS_PERMISSION))

    @classmethod
    def from_container(cls, container: Any) -> WebAuth:
        from chibo.nameko.access import Caller
        caller = next((d for d in getattr(container, "dependencies", ())
                       if isinstance(d, Caller)), None)
        return cls(caller, container.config.get("AUTH") or {})

    def adopt(self, container: Any) -> None:
        """A later container's Caller, when the first had none."""
        if self.caller is None:
            self.caller = WebAuth.from_container(container).caller

    def csrf_refusal(self, request: Request) -> Response | None:
        """403 for an unsafe request carried by the session cookie without the session's
        CSRF token (form field `csrf_token` or header `X-CSRF-Token`)."""
        if request.method in SAFE_METHODS:
            return None
        token, via = presented_token(request)
        if via != "cookie" or token is None or self.caller is None:
            return None  # bearer tokens are not sent by browsers on their own
        expected = self.caller.signer.csrf_of(token)
        if expected is None:
            return None  # not a valid session: the worker's check answers 401
        sent = request.headers.get(CSRF_HEADER) or _form_field(request, CSRF_FIELD)
        if sent and hmac.compare_digest(str(sent), expected):
            return None
        return json_response({"error": "csrf_failed", "message": (
            "Thiếu mã chống giả mạo (the form's CSRF token is missing or wrong): reload "
            "the page and submit it again.")}, status=403)

    def metrics_refusal(self, request: Request) -> Response | None:
        """401/403 unless the caller's token carries the metrics permission; a
        Prometheus scraper sends a bearer token (see docs/operations.md)."""
        if self.caller is None:
            return json_response({"error": "unauthenticated",
                                  "message": "metrics need a configured Caller"}, status=401)
        token, _ = presented_token(request)
        identity = None
        if token:
            try:
                identity = self.caller.signer.verify(token, self.caller.clock.now()).identity
            except InvalidToken:
                identity = None
        try:
            authorize(identity, self.metrics_access, {}, lambda kind, value: None,
                      self.caller.roles, self.caller.clock.now().date())
        except ChiboError as error:
            return json_response(error.to_dict(), status=error.http_status)
        return None


def _form_field(request: Request, name: str) -> str | None:
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return None
    # The server has buffered the body (limits.buffer_body) and the request was made
    # shallow; the form parsed here stays cached on it for the entrypoint.
    request.shallow = False
    value = request.form.get(name)
    return str(value) if value else None
