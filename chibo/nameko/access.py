"""The nameko edge of access control (`chibo.access`).

* `Caller(roles, locate=...)`: a dependency provider. Its worker object knows who is
  calling, from the signed token in the worker's context data (`identity`): the HTTP
  edge puts the session cookie's or bearer token there, and nameko carries it on with
  every RPC the worker makes, so a service called by another checks the original
  caller. Workers of the service's own timers and event handlers act as the service
  (a token it signs itself). `require(access, values)` is the check.
* `access(rule)`: declares what an `@rpc` or `@http` method needs and checks it first.
  Every entrypoint method of a service must say (`PUBLIC` for the few open ones):
  `undeclared_entrypoints` lists those that do not, and a service with any refuses to
  start.
* `RequireAccess`: the command pipeline's policy: a command's `Handler.access`.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.web.handlers import HttpRequestHandler
from sqlalchemy.orm import Session
from werkzeug.wrappers import Request

from chibo.access import (
    AUTHENTICATED,
    Access,
    Identity,
    RoleBook,
    TokenSigner,
    Unauthenticated,
    authorize,
)
from chibo.access.identity import SERVICE, Claims
from chibo.access.rate import RateLimited, SlidingWindow
from chibo.access.secret import auth_settings, load_secret
from chibo.access.tokens import InvalidToken, service_identity
from chibo.clock import Clock, clock_from_setting
from chibo.commands import Handler, Runtime
from chibo.errors import Forbidden
from chibo.nameko.web.json_http import IDENTITY_KEY

#: Seconds a service's own token lives; it is signed again when half of it is gone.
SERVICE_TOKEN_SECONDS = 3600
#: What a method declaring access is marked with (read by the route test and start-up).
ACCESS_ATTRIBUTE = "__chibo_access__"

#: locate(session, kind, id, today): see `chibo.access.Locate`, with the service's session
#: and today's date by the service's clock (the tree as it stands today).
SessionLocate = Callable[[Session, str, str | None, date], Sequence[str] | None]


class Caller(DependencyProvider):
    """Who calls each worker of the service, and the check of what they may do."""

    def __init__(self, roles: RoleBook, locate: SessionLocate | None = None) -> None:
        self.roles = roles
        self.locate = locate
        self._service_token: tuple[str, int] | None = None
        self._lock = threading.Lock()
        #: Rate limits per account, by kind of heavy request (`rate_limited`).
        self.windows: dict[str, SlidingWindow] = {}

    def setup(self) -> None:
        from chibo.nameko.providers import ClockProvider, Database, _find
        self.signer = TokenSigner(load_secret(self.container.config))
        self.settings = auth_settings(self.container.config)
        clock = _find(self.container, ClockProvider)
        self._clock_provider = clock
        self.database = _find(self.container, Database)
        for entrypoint in self.container.entrypoints:
            if isinstance(entrypoint, Rpc | HttpRequestHandler):
                # A refused caller is the caller's business: one log line, not a traceback.
                expected = entrypoint.expected_exceptions
                expected = expected if isinstance(expected, tuple) else (expected,)
                entrypoint.expected_exceptions = (*expected, Unauthenticated, Forbidden)
        undeclared = undeclared_entrypoints(self.container.service_cls)
        if undeclared:  # secure by default: a route without a rule never serves
            raise RuntimeError(
                f"{self.container.service_name}: entrypoints without an access rule: "
                f"{', '.join(undeclared)}; declare one with chibo.nameko.access.access(...)")

    @property
    def clock(self) -> Clock:
        provider = self._clock_provider
        return provider.clock if provider is not None else clock_from_setting(None)

    def service_token(self) -> str:
        now = int(self.clock.now().timestamp())
        with self._lock:
            if self._service_token is None or self._service_token[1] - now < \
                    SERVICE_TOKEN_SECONDS // 2:
                token = self.signer.issue(service_identity(self.container.service_name),
                                          self.clock.now(), SERVICE_TOKEN_SECONDS)
                self._service_token = (token, now + SERVICE_TOKEN_SECONDS)
            return self._service_token[0]

    def get_dependency(self, worker_ctx: Any) -> WorkerCaller:
        if not isinstance(worker_ctx.entrypoint, Rpc | HttpRequestHandler):
            # A timer or an event: the service acts on its own, whatever the event's
            # publisher carried, and says so to every service it calls.
            worker_ctx.data[IDENTITY_KEY] = self.service_token()
        return WorkerCaller(self, worker_ctx)


class WorkerCaller:
    """The caller of one worker: `identity` (None: anonymous), `require(access, values)`."""

    def __init__(self, provider: Caller, worker_ctx: Any) -> None:
        self._provider = provider
        self._worker_ctx = worker_ctx
        token = worker_ctx.data.get(IDENTITY_KEY)
        self._token = token
        self._claims: Claims | None = None
        self._error: str | None = None
        if token:
            try:
                self._claims = provider.signer.verify(str(token), provider.clock.now())
            except InvalidToken as error:
                self._error = str(error)

    @property
    def identity(self) -> Identity | None:
        return self._claims.identity if self._claims else None

    @property
    def csrf(self) -> str | None:
        """The session's CSRF token, for the forms a page renders."""
        return self._claims.csrf if self._claims else None

    @property
    def signer(self) -> TokenSigner:
        return self._provider.signer

    @contextmanager
    def acting_as_service(self) -> Iterator[None]:
        """RPCs made inside the block carry the service's own identity, not the caller's:
        for what the service does on its own account (signing a visitor in)."""
        data = self._worker_ctx.data
        before = data.get(IDENTITY_KEY)
        data[IDENTITY_KEY] = self._provider.service_token()
        try:
            yield
        finally:
            if before is None:
                data.pop(IDENTITY_KEY, None)
            else:
                data[IDENTITY_KEY] = before

    def allows(self, rule: Access, values: Mapping[str, Any]) -> bool:
        """Whether `require` would let the caller through: what a page offers them."""
        try:
            self.require(rule, values)
        except (Unauthenticated, Forbidden):
            return False
        return True

    def count_heavy(self, kind: str) -> None:
        """Count one heavy request of `kind` for the caller; RateLimited (429) past
        the account's limit a minute. Services acting on their own are not counted."""
        identity = self.identity
        if identity is None or identity.kind == SERVICE:
            return
        window = _window(self._provider, kind)
        wait = window.take(identity.account_id)
        if wait is not None:
            raise RateLimited(
                f"Quá {window.limit} yêu cầu loại này trong một phút (more than "
                f"{window.limit} {kind} requests a minute from this account): try "
                f"again in {wait} s.", wait)

    @property
    def now(self) -> datetime:
        return self._provider.clock.now()

    def require(self, rule: Access, values: Mapping[str, Any]) -> Identity | None:
        if self._error and not rule.public:
            raise Unauthenticated(f"Phiên đăng nhập không hợp lệ ({self._error}).")
        provider = self._provider
        authorize(self.identity, rule, values, self._locate, provider.roles,
                  provider.clock.now().date())
        return self.identity

    def _locate(self, kind: str, value: str | None) -> Sequence[str] | None:
        provider = self._provider
        if provider.locate is None or provider.database is None:
            return None
        with provider.database.factory() as session:
            return provider.locate(session, kind, value, provider.clock.now().date())


def access(rule: Access) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare what calling the decorated entrypoint method needs, and check it before
    the method runs. Values for the rule's scope come from the method's arguments by
    name (route segments, RPC arguments), then from a werkzeug request's query string.
    Put it below `@rpc` / `@http`."""
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def checked(self: Any, *args: Any, **kwargs: Any) -> Any:
            if not rule.public:
                self.caller.require(rule, call_values(signature, self, args, kwargs))
            return method(self, *args, **kwargs)
        setattr(checked, ACCESS_ATTRIBUTE, rule)
        return checked
    return decorate


#: Heavy requests one account may make per minute, by kind, unless the config's
#: `AUTH.heavy_requests_per_minute` says otherwise.
HEAVY_REQUESTS_PER_MINUTE = 30


def rate_limited(kind: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """At most AUTH.heavy_requests_per_minute calls of `kind` per account and minute
    (per process); more is 429 `rate_limited` with Retry-After. Put it below
    `@access(...)`, so the caller is known when it counts."""
    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def limited(self: Any, *args: Any, **kwargs: Any) -> Any:
            self.caller.count_heavy(kind)
            return method(self, *args, **kwargs)
        return limited
    return decorate


def _window(provider: Caller, kind: str) -> SlidingWindow:
    with provider._lock:
        window = provider.windows.get(kind)
        if window is None:
            limit = int(provider.settings.get("heavy_requests_per_minute")
                        or HEAVY_REQUESTS_PER_MINUTE)
            window = provider.windows[kind] = SlidingWindow(limit)
        return window


def call_values(signature: inspect.Signature, service: Any, args: Sequence[Any],
                kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """What a rule's scope may name: the method's arguments, over a werkzeug request's
    query string, over the top-level fields of its JSON body (the web server has read
    the body already, within its limits)."""
    bound = signature.bind_partial(service, *args, **kwargs)
    values: dict[str, Any] = {}
    for value in bound.arguments.values():
        if isinstance(value, Request):
            body = value.get_json(silent=True) if value.mimetype == "application/json" \
                else None
            if isinstance(body, dict):
                values.update((k, v) for k, v in body.items() if isinstance(v, str))
            values.update(value.args.items())
    values.update((name, value) for name, value in list(bound.arguments.items())[1:]
                  if not isinstance(value, Request))
    return values


class RequireAccess:
    """The pipeline's policy in a service: the handler's `access`, on the command's
    fields. A handler without one is refused to everyone but the service itself."""

    def admit(self, runtime: Runtime, handler: Handler, payload: Any) -> None:
        """The permission, and the scope when the raw body names its target as text;
        the checked command is authorized again once loaded."""
        rule = handler.access
        named = (rule is not None and rule.scope is not None and isinstance(payload, dict)
                 and isinstance(payload.get(rule.scope.field), str))
        self.authorize(runtime, handler, payload if named else None)

    def authorize(self, runtime: Runtime, handler: Handler,
                  command: Mapping[str, Any] | None) -> None:
        """With `command` None (before the body is read), the permission alone."""
        caller: WorkerCaller | None = getattr(runtime, "caller", None)
        if caller is None:
            raise Unauthenticated("Cần đăng nhập (authentication required).")
        rule = handler.access
        if rule is None:
            caller.require(AUTHENTICATED, {})
            identity = caller.identity
            if identity is not None and identity.kind == SERVICE:
                return
            raise Forbidden(f"Lệnh {handler.name} không mở cho người dùng (the command "
                            f"{handler.name!r} declares no access rule).")
        if command is None:
            caller.require(Access(rule.permission, public=rule.public), {})
            return
        caller.require(rule, command)


def declared_access(method: Any) -> Access | None:
    return getattr(method, ACCESS_ATTRIBUTE, None)


def undeclared_entrypoints(service_cls: type) -> list[str]:
    """Names of the class's RPC and HTTP entrypoint methods that declare no access rule.
    Command entrypoints (generated by ServesCommands) are checked by the pipeline."""
    missing = []
    for name, method in inspect.getmembers(service_cls, callable):
        entrypoints = getattr(method, "nameko_entrypoints", ())
        if not any(isinstance(e, Rpc | HttpRequestHandler) for e in entrypoints):
            continue
        if declared_access(method) is None and not getattr(method, "__chibo_command__", False):
            missing.append(name)
    return sorted(missing)
