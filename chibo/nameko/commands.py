"""The nameko edge of the command pipeline (`chibo.commands`).

* `Commands(handlers, index=..., policy=...)`: a dependency provider; its worker object
  runs a command through the pipeline with the worker's `CommandContext` (caller
  metadata and command id, the clock, the transaction, the relay's wake-up, metrics).
* `ServesCommands`: a mixin that writes a service's command entrypoints once, for
  every service: one `@rpc` method per registered command (`members.establish_unit(
  payload)`), `POST /<service>/commands/<name>`, and, given `openapi=`, `GET
  /<service>/openapi.json`. The service gives its handlers their dependencies from
  `command_deps(self)`, a plain object, so handlers never see nameko.
* `ServesOpenApi`: the OpenAPI route alone, for a service without commands.
* `CommandRpc`: an `@rpc` entrypoint that makes every RPC command idempotent: a call
  without a `command_id` in its context data gets one from the AMQP message's
  correlation id, which a redelivered request keeps.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from nameko.extensions import DependencyProvider
from werkzeug.wrappers import Request

from chibo.access import AUTHENTICATED
from chibo.commands import Answer, Handlers, Index, Pipeline, Policy
from chibo.errors import ChiboError
from chibo.eventstore.command_log import MAX_COMMAND_ID_LENGTH
from chibo.nameko.access import RequireAccess, access
from chibo.nameko.providers import CommandContext, EventSourcing
from chibo.nameko.resilience import ResilientRpc
from chibo.nameko.web import http, read_json

REPLAYED_HEADER = "Idempotent-Replayed"
#: Prefix of the command ids derived from RPC requests, so a log reader can tell them
#: from ids callers chose.
RPC_COMMAND_ID_PREFIX = "rpc:"


class Commands(DependencyProvider):
    """A service's commands; needs the service's `EventSourcing`."""

    def __init__(self, handlers: Handlers, index: Index | None = None,
                 policy: Policy | None = None) -> None:
        self.handlers = handlers
        # Secure by default: each command's own access rule, for the verified caller.
        self.pipeline = Pipeline(handlers, index, policy or RequireAccess())

    def setup(self) -> None:
        found = [d for d in self.container.dependencies if isinstance(d, EventSourcing)]
        if not found:
            raise RuntimeError("Commands needs an EventSourcing dependency on the same service")
        self.sourcing: EventSourcing = found[0]

    def get_dependency(self, worker_ctx: Any) -> WorkerCommands:
        return WorkerCommands(self.pipeline, self.sourcing.get_dependency(worker_ctx))


class WorkerCommands:
    """What a worker calls: `handle` for RPC, `respond` for HTTP."""

    def __init__(self, pipeline: Pipeline, context: CommandContext) -> None:
        self.pipeline = pipeline
        self.context = context

    @property
    def replayed(self) -> bool:
        """True once the command id had answered this command before."""
        return self.context.replayed

    def handle(self, name: str, payload: Any, deps: Any) -> Answer:
        return self.pipeline.run(name, payload, deps, self.context)

    def respond(self, name: str, payload: Any, deps: Any
                ) -> tuple[int, dict[str, str], Answer]:
        """The answer over HTTP: the handler's status, and `Idempotent-Replayed: true`
        when the command id had answered it before (as idempotency keys elsewhere do)."""
        status = self.pipeline.handlers.get(name).status
        answer = self.handle(name, payload, deps)
        return status, ({REPLAYED_HEADER: "true"} if self.replayed else {}), answer


def derived_command_id(correlation_id: str) -> str:
    """`rpc:<correlation id>`; a correlation id too long or odd for the command log is
    replaced by its digest, so the caller never sees an error about an id it did not send."""
    candidate = RPC_COMMAND_ID_PREFIX + correlation_id
    if len(candidate) <= MAX_COMMAND_ID_LENGTH and candidate.isprintable():
        return candidate
    digest = hashlib.sha256(correlation_id.encode("utf-8")).hexdigest()
    return (RPC_COMMAND_ID_PREFIX + digest)[:MAX_COMMAND_ID_LENGTH]


class CommandRpc(ResilientRpc):
    """`@rpc` for commands: without a caller's `command_id`, the request's AMQP
    correlation id becomes the command id. nameko's proxies give every call its own
    correlation id and a request redelivered after a crash keeps it, so a request
    handled twice answers the first answer and appends nothing the second time (which
    is also how a reply lost in a broker outage is answered: see chibo.nameko.resilience)."""

    def unpack_message_headers(self, message: Any) -> dict[str, Any]:
        data: dict[str, Any] = super().unpack_message_headers(message)
        correlation_id = message.properties.get("correlation_id")
        if not data.get("command_id") and correlation_id:
            data["command_id"] = derived_command_id(str(correlation_id))
        return data


command_rpc = CommandRpc.decorator


class ServesOpenApi:
    """Mixin: `GET /<service>/openapi.json` answers `openapi()`, given as a class
    keyword: `class ReportingService(ServesOpenApi, openapi=openapi_document)`."""

    name: str

    def __init_subclass__(cls, openapi: Callable[[], dict[str, Any]] | None = None,
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if openapi is not None:
            _add_openapi_route(cls, openapi)


class ServesCommands(ServesOpenApi):
    """Mixin: the command entrypoints of the service's `Commands` provider.

    For each registered command, an `@rpc` method of the command's name (unless the
    class defines one), taking the body; `POST /<service>/commands/<name>` for those
    served over HTTP. Both run the pipeline with `self.command_deps()`.
    """

    def command_deps(self) -> Any:
        """What the handlers receive as `deps`; override to give them more."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = [(attribute, value) for attribute, value in vars(cls).items()
                    if isinstance(value, Commands)]
        if not declared:
            return  # inherited entrypoints serve an inherited provider
        if len(declared) > 1:
            raise TypeError(f"{cls.__name__} declares more than one Commands provider")
        attribute, provider = declared[0]
        for handler in provider.handlers:
            if handler.name not in vars(cls):
                _add(cls, handler.name, _rpc_method(attribute, handler.name, handler.summary))
        if provider.handlers and "command_http" not in vars(cls):
            _add(cls, "command_http", _http_method(attribute, cls.name))


def _add(cls: type, name: str, function: Callable[..., Any]) -> None:
    function.__name__ = name
    function.__qualname__ = f"{cls.__qualname__}.{name}"
    setattr(cls, name, function)


def _rpc_method(attribute: str, command: str, summary: str) -> Callable[..., Answer]:
    def run(self: Any, payload: dict[str, Any]) -> Answer:
        return getattr(self, attribute).handle(command, payload, self.command_deps())
    run.__doc__ = summary or None
    run.__chibo_command__ = True  # type: ignore[attr-defined]  # the pipeline checks access
    return command_rpc(expected_exceptions=ChiboError)(run)


def _http_method(attribute: str, service: str) -> Callable[..., Any]:
    def command_http(self: Any, request: Request, name: str
                     ) -> tuple[int, dict[str, str], Answer]:
        commands: WorkerCommands = getattr(self, attribute)
        commands.pipeline.handlers.get(name, over_http=True)  # an unknown name: 404 first
        return commands.respond(name, read_json(request), self.command_deps())
    command_http.__chibo_command__ = True  # type: ignore[attr-defined]
    return http("POST", f"/{service}/commands/<name>",
                expected_exceptions=ChiboError)(command_http)


def _add_openapi_route(cls: type[ServesOpenApi], openapi: Callable[[], dict[str, Any]]) -> None:
    @access(AUTHENTICATED)  # documentation, not data: any account may read it
    def openapi_http(self: Any, request: Request) -> dict[str, Any]:
        return openapi()
    _add(cls, "openapi_http", http("GET", f"/{cls.name}/openapi.json")(openapi_http))
