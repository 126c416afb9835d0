"""The login page and the browser's session, a mixin for the reporting service.

Served on the dashboard's own origin: `GET /login` shows the form (Vietnamese, with the
English switch of every page), `POST /login` asks the members service to check the
password (`members.authenticate`) and keeps the signed token it answers in the
`chibo_session` cookie (HttpOnly, SameSite=Lax, Secure unless `AUTH.cookie_secure` is
false, for `AUTH.session_hours`), then goes back to the page asked for. `POST /logout`
clears the cookie and asks the browser to clear the site's cache and storage
(`Clear-Site-Data`: the forms' drafts and offline copies). With `OIDC.issuer`
configured, the page offers the organisation's own sign-in (`/login/oidc`, served by
the OpenID Connect mixin).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from nameko.exceptions import RemoteError
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from chibo.access import PUBLIC
from chibo.errors import from_remote
from chibo.nameko.access import access
from chibo.nameko.resilience import RpcProxy
from chibo.nameko.web import http
from chibo.nameko.web.json_http import SESSION_COOKIE, presented_token
from services.reporting.pages import html_errors, same_site_form
from services.reporting.web import render, urls

_log = logging.getLogger(__name__)

DEFAULT_SESSION_HOURS = 8
#: How long to wait for the members service to check a password.
AUTHENTICATE_TIMEOUT_SECONDS = 15.0
#: What logging out clears in the browser: its HTTP cache and the site's storage
#: (localStorage, the Cache API, service workers), not the cookies of other sessions.
CLEAR_SITE_DATA = '"cache", "storage"'
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")

#: members.authenticate's refusal code -> (the page's message, whether to ask for the code).
REFUSALS = {
    "login_failed": ("login.failed", False),
    "account_locked": ("login.locked", False),
    "second_factor_required": ("login.code_required", True),
    "second_factor_failed": ("login.code_wrong", True),
    "too_many_attempts": ("login.too_many", False),
}


def safe_local_next(value: str | None, default: str = urls.home()) -> str:
    """Where to go after logging in: a path on this site only (never an absolute URL,
    a scheme-relative `//host`, or a path with a backslash or control characters)."""
    if not value or not value.startswith("/") or value.startswith("//"):
        return default
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def cookie_settings(config: Mapping[str, Any]) -> tuple[int, bool]:
    """(Max-Age in seconds, Secure) of the session cookie, from `AUTH`."""
    auth = config.get("AUTH") or {}
    hours = auth.get("session_hours")
    seconds = int(float(hours if hours not in (None, "") else DEFAULT_SESSION_HOURS) * 3600)
    secure = auth.get("cookie_secure", True)
    if isinstance(secure, str):
        secure = secure.strip().lower() not in ("false", "0", "no", "off", "")
    return seconds, bool(secure)


def refusal_code(exc: RemoteError) -> tuple[str, int]:
    """members' refusal as (code, HTTP status): the ChiboError it names, or its type
    name in snake case when chibo.errors does not know the type."""
    error = from_remote(exc.exc_type, exc.value)
    code = getattr(error, "code", "") if error is not None else ""
    status = getattr(error, "http_status", 0) if error is not None else 0
    if not code or code in ("bad_request", "forbidden"):
        code = _CAMEL.sub("_", str(exc.exc_type or "")).lower()
    text = str(exc.value or "")
    for known in REFUSALS:
        if known in text or known == code:
            code = known
            break
    if code == "too_many_attempts" or status == 429:
        return "too_many_attempts", 429
    return code, status if 400 <= status < 500 and status != 400 else 401


class LoginPages:
    """Mixin: the login page, the session cookie and logout. Expects the service's
    `caller` (chibo.nameko.access.Caller), `clock` and `config`."""

    caller: Any
    clock: Any
    config: Mapping[str, Any]

    members = RpcProxy("members")

    @http("GET", "/login")
    @html_errors
    @access(PUBLIC)
    def login_page(self, request: Request) -> Response:
        return self._login_form(request, next=safe_local_next(request.args.get("next")))

    @http("POST", "/login")
    @html_errors
    @same_site_form
    @access(PUBLIC)
    def login_form(self, request: Request) -> Response:
        form = request.form
        target = safe_local_next(form.get("next"))
        login = (form.get("login") or "").strip()
        password = form.get("password") or ""
        totp = (form.get("totp") or "").strip() or None
        if not login or not password:
            return self._login_form(request, next=target, login=login,
                                    message="login.failed", status=401,
                                    ask_code=totp is not None)
        try:
            # Reporting asks on the user's behalf: whatever an old cookie carries, the
            # check is the password's.
            with self.caller.acting_as_service():
                answer = self.members.authenticate(login, password, totp=totp,
                                                   purpose="session")
        except RemoteError as exc:
            code, status = refusal_code(exc)
            message, ask_code = REFUSALS.get(code, ("login.failed", False))
            return self._login_form(request, next=target, login=login, message=message,
                                    status=status, ask_code=ask_code or totp is not None)
        except Exception:
            _log.exception("members.authenticate failed")
            return self._login_form(request, next=target, login=login,
                                    message="login.unavailable", status=503)
        max_age, secure = cookie_settings(self.config)
        response = redirect(target, 303)
        response.set_cookie(SESSION_COOKIE, str(answer["token"]), max_age=max_age, path="/",
                            secure=secure, httponly=True, samesite="Lax")
        return response

    @http("POST", "/logout")
    @html_errors
    @same_site_form
    @access(PUBLIC)
    def logout(self, request: Request) -> Response:
        _max_age, secure = cookie_settings(self.config)
        response = redirect(urls.login(), 303)
        response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True,
                               samesite="Lax")
        # The forms' drafts and offline copies (localStorage, the service worker's
        # caches) hold the roll and the session's CSRF token: the next person at a shared
        # computer must not find them. Browsers honour this in a secure context only;
        # static/logout.js clears the same on plain http.
        response.headers["Clear-Site-Data"] = CLEAR_SITE_DATA
        return response

    def _login_form(self, request: Request, *, next: str, login: str = "",
                    message: str | None = None, status: int = 200,
                    ask_code: bool = False) -> Response:
        oidc = bool(((self.config or {}).get("OIDC") or {}).get("issuer"))
        token, via = presented_token(request)
        # A browser still holding a session cookie (expired, say) posts the form with
        # it: the web server then wants that session's CSRF token.
        csrf = self.caller.signer.csrf_of(token) if token and via == "cookie" else None
        return render.render_page("login.html", request, status_code=status, next=next,
                                  login=login, message=message, ask_code=ask_code,
                                  oidc=oidc, csrf=csrf)
