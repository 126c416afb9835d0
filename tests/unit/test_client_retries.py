"""The clients' retry policy (clients/retrying.py), against fake transports that fail a
few times and then answer: every try carries the same command id, only transient
failures are retried, and the policy gives up with the last failure."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
import requests
from nameko.exceptions import RemoteError

from clients.retrying import RetryPolicy, TransientFailure, is_transient
from clients.simulator.behaviour import Command
from clients.simulator.driver import CommandRefused, HttpSender, RpcSender, command_id
from clients.simulator.run import BadUrls, parse_urls

COMMAND = Command("members", "establish_unit",
                  {"unit_id": "c1", "name": "Chi bộ Bản Máy", "kind": "cell"})


def no_wait(sleeps: list[float] | None = None, attempts: int | None = 10) -> RetryPolicy:
    record = sleeps if sleeps is not None else []
    return RetryPolicy(seconds=3600, attempts=attempts, sleep=record.append)


# -- RPC ------------------------------------------------------------------------------


class FakeReply:
    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def result(self) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class FakeProxy:
    """`proxy.<service>.<method>.call_async(payload)` like a ClusterRpcProxy's; each call
    takes the next outcome: an exception raised when sending ("send", exc), one raised
    by the reply ("reply", exc), or an answer."""

    def __init__(self, outcomes: list[Any], sent: list[str]) -> None:
        self._worker_ctx = SimpleNamespace(data={})
        self.outcomes = outcomes
        self.sent = sent

    def __getattr__(self, service: str) -> Any:
        proxy = self

        class Method:
            def call_async(self, payload: Any) -> FakeReply:
                proxy.sent.append(proxy._worker_ctx.data["command_id"])
                outcome = proxy.outcomes.pop(0)
                if isinstance(outcome, tuple) and outcome[0] == "send":
                    raise outcome[1]
                if isinstance(outcome, tuple):
                    return FakeReply(outcome[1])
                return FakeReply(outcome)

        return SimpleNamespace(establish_unit=Method())


def test_rpc_retries_transient_failures_with_the_same_command_id() -> None:
    sent: list[str] = []
    outcomes = [("reply", RemoteError("ServiceUnavailable", "database unreachable")),
                ("reply", ConnectionRefusedError(111, "broker gone")),
                ("send", ConnectionRefusedError(111, "broker still gone")),
                {"events": ["e1"], "unit_id": "c1"}]
    proxies: list[FakeProxy] = []

    def reconnect() -> FakeProxy:
        proxies.append(FakeProxy(outcomes, sent))
        return proxies[-1]

    sender = RpcSender(FakeProxy(outcomes, sent), reconnect=reconnect, retry=no_wait())
    answer = sender.finish(COMMAND, sender.start(COMMAND))
    assert answer == {"events": ["e1"], "unit_id": "c1"}
    assert sent == [command_id(COMMAND)] * 4
    # A lost connection is made again before the next try; a 503-like answer is not one.
    assert len(proxies) == 2


def test_rpc_does_not_retry_a_refusal() -> None:
    sent: list[str] = []
    outcomes = [("reply", RemoteError("DomainRuleViolated", "the unit exists"))]
    sender = RpcSender(FakeProxy(outcomes, sent), retry=no_wait())
    with pytest.raises(CommandRefused, match="DomainRuleViolated"):
        sender.finish(COMMAND, sender.start(COMMAND))
    assert len(sent) == 1


def test_rpc_gives_up_with_a_clear_refusal() -> None:
    sent: list[str] = []
    outcomes = [("reply", RemoteError("ServiceUnavailable", "down"))] * 5
    sender = RpcSender(FakeProxy(outcomes, sent), retry=no_wait(attempts=3))
    with pytest.raises(CommandRefused, match="still unavailable after retrying"):
        sender.finish(COMMAND, sender.start(COMMAND))
    assert sent == [command_id(COMMAND)] * 4  # the first try, then three under the policy


# -- HTTP -----------------------------------------------------------------------------


class FakeResponse:
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
                 ) -> None:
        self.status_code = status
        self._body = body
        self.headers = {"content-type": "application/json", **(headers or {})}
        self.text = str(body)

    def json(self) -> dict[str, Any]:
        return self._body


class FakeSession:
    def __init__(self, outcomes: list[Any]) -> None:
        self.outcomes = outcomes
        self.command_ids: list[str] = []
        self.headers: dict[str, str] = {}

    def post(self, url: str, json: Any, headers: dict[str, str], timeout: float) -> Any:
        self.command_ids.append(headers["X-Command-Id"])
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def http_sender(session: FakeSession, sleeps: list[float], urls: Any = "http://x") -> HttpSender:
    sender = HttpSender(urls, size=2, retry=no_wait(sleeps))
    sender.http = session  # type: ignore[assignment]
    return sender


def test_http_retries_503_and_lost_connections_with_the_same_command_id() -> None:
    unavailable = FakeResponse(503, {"error": "unavailable"}, {"Retry-After": "3"})
    session = FakeSession([unavailable, requests.ConnectionError("refused"),
                           FakeResponse(502, {"error": "bad_gateway"}),
                           FakeResponse(504, {"error": "gateway_timeout"}),
                           FakeResponse(201, {"events": ["e1"], "unit_id": "c1"})])
    sleeps: list[float] = []
    sender = http_sender(session, sleeps)
    assert sender.finish(COMMAND, sender.start(COMMAND)) == {"events": ["e1"], "unit_id": "c1"}
    assert session.command_ids == [command_id(COMMAND)] * 5
    assert len(sleeps) == 4 and sleeps[0] >= 3  # the server's Retry-After is honoured


def test_http_does_not_retry_a_refusal_or_a_server_bug() -> None:
    for status, code in ((422, "validation_failed"), (500, "internal")):
        session = FakeSession([FakeResponse(status, {"error": code})])
        sender = http_sender(session, [])
        with pytest.raises(CommandRefused, match=str(status)):
            sender.finish(COMMAND, sender.start(COMMAND))
        assert len(session.command_ids) == 1


def test_http_gives_up_after_the_policy_and_names_the_status() -> None:
    session = FakeSession([FakeResponse(503, {"error": "unavailable"})] * 20)
    sender = HttpSender("http://x", size=2, retry=no_wait(attempts=4))
    sender.http = session  # type: ignore[assignment]
    with pytest.raises(CommandRefused, match="HTTP 503"):
        sender.finish(COMMAND, sender.start(COMMAND))
    assert len(session.command_ids) == 4


def test_http_sends_each_service_to_its_own_url() -> None:
    sender = HttpSender({"members": "http://h:8001", "meetings": "http://h:8002/"})
    assert sender.url(COMMAND) == "http://h:8001/members/commands/establish_unit"
    meeting = Command("meetings", "schedule_meeting", {})
    assert sender.url(meeting) == "http://h:8002/meetings/commands/schedule_meeting"
    with pytest.raises(CommandRefused, match="--url supervision="):
        sender.url(Command("supervision", "log_visit", {}))


def test_simulate_urls_one_for_all_or_one_per_service() -> None:
    assert parse_urls(["http://127.0.0.1:8000"]) == "http://127.0.0.1:8000"
    assert parse_urls(["members=http://h:8001", "meetings=http://h:8002",
                       "supervision=http://h:8003"]) == {
        "members": "http://h:8001", "meetings": "http://h:8002", "supervision": "http://h:8003"}
    assert parse_urls(["members=http://h:8001", "http://h:8000"]) == {
        "": "http://h:8000", "members": "http://h:8001"}
    with pytest.raises(BadUrls, match="meetings, supervision"):
        parse_urls(["members=http://h:8001"])
    with pytest.raises(BadUrls, match="reportage"):
        parse_urls(["reportage=http://h:8004"])


# -- the policy -----------------------------------------------------------------------


def test_policy_raises_the_last_failure_and_passes_others_through() -> None:
    calls: list[int] = []

    def failing() -> None:
        calls.append(1)
        raise TransientFailure(f"HTTP 503 (try {len(calls)})")

    with pytest.raises(TransientFailure, match="try 3"):
        no_wait(attempts=3).call(failing)
    assert len(calls) == 3

    def broken() -> None:
        calls.append(1)
        raise ValueError("a bug")

    calls.clear()
    with pytest.raises(ValueError):
        no_wait().call(broken)
    assert len(calls) == 1


def test_what_counts_as_transient() -> None:
    assert is_transient(RemoteError("ServiceUnavailable", "x"))
    assert is_transient(ConnectionRefusedError(111, "refused"))
    assert is_transient(requests.ReadTimeout())
    assert not is_transient(RemoteError("ValidationFailed", "x"))
    assert not is_transient(RemoteError("OperationalError", "a service without the edge"))
    assert not is_transient(KeyError("x"))
