"""Send a simulation's commands to running services, as a real client would.

Two ways in, both public: RPC over the message bus (`RpcSender`) and the HTTP command
endpoints (`HttpSender`). Commands of one phase are kept `window` at a time in flight.
The services are eventually consistent: a command naming a unit, member or meeting that
another service has not heard of yet is answered NotFound, and a concurrent write to the
same stream is answered with a conflict; both are sent again a moment later. Any other
refusal stops the run with the command and the service's answer.

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
from clients.simulator.behaviour import Command, Phase

RETRIED = ("NotFound", "ConcurrencyError")
#: Commands whose HTTP endpoint is not `/<service>/commands/<name>`.
HTTP_PATHS = {("members", "import_rows"): "/members/import-batches"}
PATIENCE_SECONDS = 60.0


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
    """Commands as RPC calls through a nameko ClusterRpcProxy (sent asynchronously)."""

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy

    def start(self, command: Command) -> Any:
        method = getattr(getattr(self.proxy, command.service), command.method)
        # nameko sends the proxy's context data as message headers, read when the call
        # is published, before call_async returns: so each call carries its own id.
        self.proxy._worker_ctx.data["command_id"] = command_id(command)
        try:
            return method.call_async(wire_form(command.payload))
        finally:
            self.proxy._worker_ctx.data.pop("command_id", None)

    def finish(self, command: Command, pending: Any) -> Any:
        try:
            return pending.result()
        except RemoteError as exc:
            if exc.exc_type in RETRIED:
                raise Retry() from exc
            raise CommandRefused(command, f"{exc.exc_type}: {exc.value}") from exc

    def call(self, service: str, method: str, **kwargs: Any) -> Any:
        return getattr(getattr(self.proxy, service), method)(**kwargs)


class HttpSender:
    """Commands as POSTs to each service's `/<service>/commands/<name>` endpoint.

    `base_urls` is one address serving every service (embedded mode) or one per service;
    `token` is the bearer token every request carries (who sends the commands).
    """

    def __init__(self, base_urls: str | dict[str, str], size: int = 32,
                 token: str | None = None) -> None:
        self.base_urls = base_urls
        self.http = requests.Session()
        if token:
            self.http.headers["Authorization"] = f"Bearer {token}"
        self.http.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=size))
        self.pool = eventlet.GreenPool(size)

    def start(self, command: Command) -> Any:
        path = HTTP_PATHS.get((command.service, command.method),
                              f"/{command.service}/commands/{command.method}")
        base = self.base_urls if isinstance(self.base_urls, str) else self.base_urls[
            command.service]
        url = base.rstrip("/") + path
        return self.pool.spawn(self.http.post, url, json=wire_form(command.payload),
                               headers={"X-Command-Id": command_id(command)}, timeout=120)

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
