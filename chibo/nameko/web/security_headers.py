"""Security headers sent with every response of the shared web server."""

from __future__ import annotations

from collections.abc import Mapping

from werkzeug.wrappers import Response

#: The dashboard loads its scripts, styles and chart library from its own origin only.
#: Inline ``<style>``/``<script>`` are refused; inline ``style`` *attributes* are
#: allowed because the overview's bar segments size themselves with ``flex-grow``.
#: ``img-src data:`` is for the page's empty ``data:,`` favicon.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "style-src-attr 'unsafe-inline'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """Add :data:`SECURITY_HEADERS`, keeping any a route has set itself."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
