"""Send a simulation's commands to running services, as a real client would.

Two ways in, both public: RPC over the message bus (`RpcSender`) and the HTTP command
endpoints (`HttpSender`). Commands of one phase are kept `window` at a time in flight.
The services are eventually consistent: a command naming a unit, member or meeting that
another service has not heard of yet is answered NotFound, and a concurrent write to the
same stream is answered with a conflict; both are sent again a moment later. Any other
refusal stops the run with the command and the service's answer. A service that is
briefly unavailable (503, the broker or a connection lost) gets the same command again,
with the same id, until it answers (clients.retrying).

Every command carries a command id derived from what it says (`command_id`), over RPC
and over HTTP alike: a command sent again (after a timeout, a retry, or a service
instance dying after it committed) is answered with its first answer, never applied
twice and never refused as "already exists".
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from typing import Any

import eventlet
import requests
from nameko.exceptions import RemoteError

from chibo.contracts import wire_form
from clients.retrying import (
    RetryPolicy,
    TransientFailure,
    is_connection_error,
    is_transient,
    transient_response,
)
from clients.simulator.behaviour import Command, Phase

RETRIED = ("NotFound", "ConcurrencyError")
#: Commands whose HTTP endpoint is not `/<service>/commands/<name>`.
HTTP_PATHS = {("members", "import_rows"): "/members/import-batches"}
PATIENCE_SECONDS = 60.0
#: How long a command is sent again while its service or the broker is unavailable.
RETRY = RetryPolicy(seconds=600.0)


def command_id(command: Command) -> str:
    """64 hex digits (what the command log holds), the same for the same command: the
    service, the command and its payload."""
    said = json.dumps([command.service, command.method, wire_form(command.payload)],
                      sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(said.encode("utf-8")).hexdigest()


class CommandRefused(Exception):
    def __init__(self, command: Command, answer: str) -> None:
        super().__init__(f"{command.service}.{command.method} was refused: {answer}\n"
                         f"payload: {str(wire_form(command.payload))[:500]}")
        self.command = command


class Retry(Exception):
    """The service could not take the command yet; send it again shortly."""


class RpcSender:
    """Commands as RPC calls through a nameko ClusterRpcProxy (sent asynchronously).

    A transient failure (the service's ServiceUnavailable, the broker connection lost)
    sends the same command, with the same command id, again as `retry` says. Given
    `reconnect` (a function returning a new proxy), a lost broker connection is made
    again first: a standalone proxy whose connection died never answers again."""

    def __init__(self, proxy: Any, reconnect: Callable[[], Any] | None = None,
                 retry: RetryPolicy | None = None) -> None:
        self.proxy = proxy
        self.reconnect = reconnect
        self.retry = retry
        #: Which proxy a call went out on: a lost connection is made again once, not
        #: once per call that was in flight on it.
        self.generation = 0
        self._broken = False

    def start(self, command: Command) -> Any:
        try:
            return self.generation, self._send(command)
        except Exception as exc:
            if not is_transient(exc):
                raise
            return self.generation, exc  # finish() sends it again

    def _send(self, command: Command) -> Any:
        if self._broken and self.reconnect is not None:
            self.proxy = self.reconnect()  # may fail while the broker is away: retried
            self._broken = False
        method = getattr(getattr(self.proxy, command.service), command.method)
        # nameko sends the proxy's context data as message headers, read when the call
        # is published, before call_async returns: so each call carries its own id.
        self.proxy._worker_ctx.data["command_id"] = command_id(command)
        try:
            return method.call_async(wire_form(command.payload))
        finally:
            self.proxy._worker_ctx.data.pop("command_id", None)

    def finish(self, command: Command, pending: Any) -> Any:
        generation, reply = pending
        try:
            return self._answer(command, generation, reply)
        except Exception as exc:
            if not is_transient(exc):
                raise
        try:
            return (self.retry or RETRY).call(lambda: self._again(command))
        except Exception as exc:
            if not is_transient(exc):
                raise
            raise CommandRefused(command, f"still unavailable after retrying "
                                          f"({type(exc).__name__}: {exc})") from exc

    def _again(self, command: Command) -> Any:
        generation = self.generation
        try:
            reply = self._send(command)
        except Exception as exc:
            self._lost(generation, exc)
            raise
        return self._answer(command, generation, reply)

    def _answer(self, command: Command, generation: int, reply: Any) -> Any:
        if isinstance(reply, BaseException):
            self._lost(generation, reply)
            raise reply
        try:
            return reply.result()
        except RemoteError as exc:
            if exc.exc_type in RETRIED:
                raise Retry() from exc
            if is_transient(exc):
                raise  # the service could not reach its database or the broker
            raise CommandRefused(command, f"{exc.exc_type}: {exc.value}") from exc
        except Exception as exc:
            self._lost(generation, exc)
            raise

    def _lost(self, generation: int, error: BaseException) -> None:
        """The broker connection of `generation` failed: the next send connects again."""
        if is_connection_error(error) and generation == self.generation:
            self.generation += 1
            self._broken = True

    def call(self, service: str, method: str, **kwargs: Any) -> Any:
        if self._broken and self.reconnect is not None:
            self.proxy = self.reconnect()
            self._broken = False
        return getattr(getattr(self.proxy, service), method)(**kwargs)


class HttpSender:
    """Commands as POSTs to each service's `/<service>/commands/<name>` endpoint.

    `base_urls` is one address serving every service (embedded mode) or one per service
    (distributed mode: `{"members": "http://…:8001", …}`); `token` is the bearer token
    every request carries (who sends the commands). A 502/503/504 or a connection that
    fails is sent again, with the same X-Command-Id, as `retry` says.
    """

    def __init__(self, base_urls: str | dict[str, str], size: int = 32,
                 token: str | None = None, retry: RetryPolicy | None = None) -> None:
        self.base_urls = base_urls
        self.retry = retry
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=size))
        self.pool = eventlet.GreenPool(size)

    def url(self, command: Command) -> str:
        path = HTTP_PATHS.get((command.service, command.method),
                              f"/{command.service}/commands/{command.method}")
        if isinstance(self.base_urls, str):
            base = self.base_urls
        else:
            base = self.base_urls.get(command.service) or self.base_urls.get("", "")
            if not base:
                raise CommandRefused(command, f"no URL for the {command.service} service: "
                                              f"add --url {command.service}=http://…")
        return base.rstrip("/") + path

    def start(self, command: Command) -> Any:
        return self.pool.spawn(self._post, self.url(command), command)

    def _post(self, url: str, command: Command) -> Any:
        body = wire_form(command.payload)
        headers = {"X-Command-Id": command_id(command)}

        def attempt() -> Any:
            response = self.http.post(url, json=body, headers=headers, timeout=120)
            failure = transient_response(response)
            if failure is not None:
                raise failure
            return response

        try:
            return (self.retry or RETRY).call(attempt)
        except TransientFailure as exc:
            return exc.response  # still failing when the policy gave up: finish() says so
        except requests.RequestException as exc:
            raise CommandRefused(command, f"{url} cannot be reached after retrying "
                                          f"({type(exc).__name__})") from exc

    def finish(self, command: Command, pending: Any) -> Any:
        response = pending.wait()
        if response.status_code < 300:
            return response.json()
        body = response.json() if response.headers.get("content-type", "").startswith(
            "application/json") else {"message": response.text[:300]}
        if body.get("error") in ("not_found", "concurrency_conflict"):
            raise Retry()
        raise CommandRefused(command, f"HTTP {response.status_code}: {body}")


def send_phase(sender: Any, phase: Phase, window: int,
               advance: Callable[[int], None] = lambda n: None) -> list[Any]:
    """Send every command of `phase`, at most `window` in flight; answers in order."""
    answers: list[Any] = [None] * len(phase)
    waiting = list(range(len(phase)))
    deadline = time.monotonic() + PATIENCE_SECONDS
    while waiting:
        again: list[int] = []
        for chunk in _chunks(waiting, window):
            in_flight = [(i, sender.start(phase[i])) for i in chunk]
            for i, pending in in_flight:
                try:
                    answers[i] = sender.finish(phase[i], pending)
                    advance(1)
                except Retry:
                    again.append(i)
        if again and time.monotonic() > deadline:
            command = phase[again[0]]
            raise CommandRefused(command, f"still not accepted after {PATIENCE_SECONDS:.0f} s "
                                          "(a unit, member or meeting it names is unknown)")
        if again:
            eventlet.sleep(0.2)  # let the other services' feeds catch up
        waiting = again
    return answers


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
