"""The command pipeline: one path from a caller's body to appended events and an answer.

Every command of every service goes through `Pipeline.run`:

1. look the handler up by name (unknown: `NotFound`, 404);
2. the service's `Policy` admits the caller or not (`Unauthenticated`, 401; `Forbidden`,
   403 for one whose roles allow the command nowhere);
3. `load_command` checks the body against the handler's schema (`ValidationFailed`, 422),
   then the policy checks the caller against the command (in a service, the handler's
   `access` rule on the unit the command's fields name: 403 outside their scope);
4. the handler's `prepare(command, deps)`, outside any transaction, for work that may
   talk to another service or sync a replica;
5. one transaction: claim the command id in the command log (a replayed id answers
   the first answer and does nothing), `decide(store, command, deps)`, append the
   decided events, let the service index them (`index(session, recorded)`), build the
   answer, keep it in the command log, commit.

A service writes only handlers: a `decide` function (and, where needed, `prepare` and
`refresh`), registered on its `Handlers` with the schema, the answer fields and the
HTTP status. The pipeline knows nothing of nameko: it is given the storage and the
caller's metadata through `Runtime` (in a service, the worker's `CommandContext`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import marshmallow
from sqlalchemy.orm import Session

from chibo.access import Access
from chibo.clock import Clock
from chibo.contracts import Command, command_name, load_command
from chibo.errors import ChiboError, NotFound
from chibo.eventstore import command_log
from chibo.eventstore.store import EventStore, Metadata, RecordedEvent, StreamAppend
from chibo.openapi import Route

Answer = dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """What `decide` returns when the answer says more than the events' ids: `answer`
    is merged last into the command's answer (so it may replace `events` too)."""

    appends: Sequence[StreamAppend] = ()
    answer: Mapping[str, Any] = field(default_factory=dict)


#: decide(store, command, deps): reads what the rule needs from `store` (inside the
#: command's transaction) and returns the appends, or a Decision. Raises a ChiboError to
#: refuse; nothing is then written.
Decide = Callable[[EventStore, Command, Any], Sequence[StreamAppend] | Decision]
#: prepare(command, deps) -> the deps `decide` receives: runs before the transaction, for
#: work that may wait on another service (an RPC, a replica's sync).
Prepare = Callable[[Command, Any], Any]
#: refresh(error, command, deps) -> bool: called when prepare or decide refused with
#: `error`; True (after bringing a replica up to date) runs prepare and decide once more.
Refresh = Callable[[ChiboError, Command, Any], bool]
#: index(session, recorded): the service's own read model, kept in the same transaction.
Index = Callable[[Session, Sequence[RecordedEvent]], None]


@dataclass(frozen=True)
class Handler:
    """One command: how to check it, decide it, and answer it."""

    #: What callers call it: the RPC method and the segment of POST /<service>/commands/<name>.
    name: str
    schema: marshmallow.Schema
    decide: Decide
    prepare: Prepare | None = None
    refresh: Refresh | None = None
    #: Command fields copied into the answer (when the command has them), e.g. generated ids.
    answer: tuple[str, ...] = ()
    #: HTTP status of a successful answer.
    status: int = 201
    #: Served at POST /<service>/commands/<name> (False: only over RPC, or by a route of its own).
    http: bool = True
    #: One line for the API description.
    summary: str = ""
    #: What the caller needs (a permission over the unit a command field names); None:
    #: only the service itself may give it.
    access: Access | None = None


DecideT = TypeVar("DecideT", bound=Callable[..., Any])


class Handlers:
    """A service's commands by name: the registry the pipeline and the entrypoints read."""

    def __init__(self) -> None:
        self._by_name: dict[str, Handler] = {}

    def command(self, schema: marshmallow.Schema, *, answer: tuple[str, ...] = (),
                prepare: Prepare | None = None, refresh: Refresh | None = None,
                status: int = 201, name: str | None = None, http: bool = True,
                summary: str = "", access: Access | None = None
                ) -> Callable[[DecideT], DecideT]:
        """Register the decorated function as the `decide` of the command `schema` checks.

        The command's name is the schema's in snake case (`EstablishUnit` →
        `establish_unit`) unless `name` is given; see `Handler` for the rest.
        """
        def register(decide: DecideT) -> DecideT:
            self.add(Handler(name or command_name(schema), schema, decide, prepare, refresh,
                             tuple(answer), status, http, summary, access))
            return decide
        return register

    def add(self, handler: Handler) -> Handler:
        if handler.name in self._by_name:
            raise ValueError(f"command {handler.name!r} is registered twice")
        self._by_name[handler.name] = handler
        return handler

    def get(self, name: str, *, over_http: bool = False) -> Handler:
        """The handler of `name`; NotFound (404) listing the commands when there is none
        (over HTTP, only the commands served there count)."""
        handler = self._by_name.get(name)
        if handler is None or (over_http and not handler.http):
            known = [h.name for h in self if h.http or not over_http]
            raise NotFound(f"No command {name!r}; commands: {', '.join(known)}.")
        return handler

    def __iter__(self) -> Iterator[Handler]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


class Policy(Protocol):
    """Who may give which command: the one place access control goes.

    `authorize` runs after the body is checked and before anything else (no prepare,
    no transaction); raise `chibo.access.Unauthenticated` (401) or
    `chibo.errors.Forbidden` (403) to refuse. A nameko service's `Commands` provider
    uses `chibo.nameko.access.RequireAccess` (the handler's `access` rule, checked
    against the verified caller) unless given another.
    """

    def admit(self, runtime: Runtime, handler: Handler, payload: Any) -> None:
        """Before the body is checked: refuse a caller who may not give the command
        here (the permission, and the target the raw body names, if it names one), so
        a caller refused learns nothing of the command's fields."""

    def authorize(self, runtime: Runtime, handler: Handler, command: Command) -> None: ...


class AllowEveryone:
    """Every caller may give every command: for handlers driven directly in tests."""

    def admit(self, runtime: Runtime, handler: Handler, payload: Any) -> None:
        return None

    def authorize(self, runtime: Runtime, handler: Handler, command: Command) -> None:
        return None


class Runtime(Protocol):
    """What the pipeline needs of the caller's side: who asks (metadata, with the
    command id), the time, and one transaction over the service's event store. A
    nameko worker's `CommandContext` is one; a test can build one over SQLite."""

    metadata: Metadata
    clock: Clock
    #: Set True when the command id had been answered before and the first answer is
    #: returned instead (HTTP says so with `Idempotent-Replayed: true`).
    replayed: bool

    def unit_of_work(self) -> AbstractContextManager[EventStore]: ...

    def command_transaction(self) -> AbstractContextManager[EventStore]:
        """The command's one transaction; a service may let commands that run at the same
        time share it and commit together (chibo.group_commit)."""
        ...


class CommandLog(Protocol):
    """The idempotency keys (`chibo.eventstore.command_log` is the one in use)."""

    def claim(self, session: Session, command_id: str, command: str, digest: str,
              recorded_at: str) -> dict[str, Any] | None: ...

    def record_answer(self, session: Session, command_id: str, answer: Any) -> None: ...


def run_in_transaction(runtime: Runtime, command: Command, work: Callable[[EventStore], Answer],
                       log: CommandLog = command_log) -> Answer:
    """`work` in one transaction with the command log: with a command id, the id is
    claimed first (the first answer comes back, and nothing runs, when this very
    command was answered before; CommandIdReused when the id answered another command
    or body) and the answer is kept with the events, committed together."""
    command_id = runtime.metadata.command_id
    with runtime.command_transaction() as store:
        if command_id:
            earlier = log.claim(store.session, command_id, command.name, command.digest,
                                runtime.clock.now().isoformat(timespec="microseconds"))
            if earlier is not None:
                runtime.replayed = True
                return earlier
        answer = work(store)
        if command_id:
            log.record_answer(store.session, command_id, answer)
    return answer


class Pipeline:
    """Runs a service's commands: see the module's description for the steps."""

    def __init__(self, handlers: Handlers, index: Index | None = None,
                 policy: Policy | None = None, log: CommandLog = command_log) -> None:
        self.handlers = handlers
        self.index = index
        self.policy: Policy = policy or AllowEveryone()
        self.log = log

    def run(self, name: str, payload: Any, deps: Any, runtime: Runtime) -> Answer:
        """Run the command `name` with the caller's `payload`; `deps` is what the service
        gives its handlers (today's date, clients of other services, …)."""
        handler = self.handlers.get(name)
        self.policy.admit(runtime, handler, payload)
        command = load_command(handler.schema, payload)
        self.policy.authorize(runtime, handler, command)
        try:
            return self._decide_and_append(handler, command, deps, runtime)
        except ChiboError as error:
            if handler.refresh is None or not handler.refresh(error, command, deps):
                raise
        return self._decide_and_append(handler, command, deps, runtime)

    def _decide_and_append(self, handler: Handler, command: Command, deps: Any,
                           runtime: Runtime) -> Answer:
        decided_with = handler.prepare(command, deps) if handler.prepare else deps

        def work(store: EventStore) -> Answer:
            outcome = handler.decide(store, command, decided_with)
            decision = outcome if isinstance(outcome, Decision) else Decision(outcome)
            recorded = store.append_many(decision.appends)
            if self.index is not None:
                self.index(store.session, recorded)
            return {"events": [event.event_id for event in recorded],
                    **{key: command[key] for key in handler.answer if key in command},
                    **decision.answer}
        return run_in_transaction(runtime, command, work, self.log)


def command_routes(service: str, handlers: Handlers) -> list[Route]:
    """The OpenAPI routes of the commands served at POST /<service>/commands/<name>."""
    return [Route("POST", f"/{service}/commands/{handler.name}", handler.summary,
                  body=type(handler.schema), status=handler.status)
            for handler in handlers if handler.http]
