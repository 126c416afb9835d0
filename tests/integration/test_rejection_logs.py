"""A refused request is one log line (method, path, status, error code and fields),
never a traceback; a real fault still logs its traceback. Over HTTP and over RPC, for
signed-in callers' mistakes and for callers refused at the door (401, 403) alike."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.access import PUBLIC, Grant, Identity
from chibo.nameko.access import access
from chibo.nameko.web import http
from services.app import SERVICES
from tests.support import ADMIN, as_caller, bearer, embedded_config, running, wait_until

TIMEOUT = 30
#: A viewer of reports, nothing more: refused the commands and members' records.
VIEWER = Identity("tk-xem", "Người xem (kiểm thử)", (Grant("viewer"),))


class FaultyService:
    """Stands for a bug: its routes fail with an exception no caller can act on."""

    name = "faulty"

    @http("GET", "/faulty/boom")
    @access(PUBLIC)  # the web layer under test, not access
    def boom(self, request: Any) -> dict[str, Any]:
        raise RuntimeError("a bug, not a caller's mistake")

    @rpc
    def explode(self) -> None:
        raise RuntimeError("a bug over RPC")


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    config = embedded_config(tmp_path_factory.mktemp("rejection-logs"))
    with running(config, [*SERVICES, FaultyService]):
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        wait_until(lambda: requests.get(f"{base}/healthz", timeout=2).ok, timeout=TIMEOUT,
                   message="the web server")
        requests.post(f"{base}/members/commands/establish_unit", timeout=TIMEOUT,
                      headers=bearer(), json={
                          "unit_id": "tinh-log", "name": "Tỉnh ủy Sơn La", "kind": "province",
                          "effective_date": "2025-07-01"}).raise_for_status()
        yield {"config": config, "base": base}


def logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING]


REFUSED = [
    ("POST", "/members/commands/rate_member",
     {"member_id": "dv-1", "year": 2025.5, "level": "good"}, 422,
     "validation_failed fields=year"),
    ("POST", "/members/commands/establish_unit",
     {"unit_id": "tinh-log", "name": "Tỉnh ủy Sơn La", "kind": "province",
      "effective_date": "2025-07-01"}, 409, "rule_violated"),
    ("POST", "/members/commands/no_such_command", {}, 404, "not_found"),
    ("POST", "/meetings/commands/record_meeting_held", b"{not json", 400, "bad_json"),
    ("POST", "/members/commands/rate_member", "member_id=dv-1&year=2025", 415, "not_json"),
    ("GET", "/supervision/cells/cb-1/quality/0", None, 422, "validation_failed fields=year"),
    ("GET", "/members/members/dv-nobody", None, 404, "not_found"),
    ("GET", "/reporting/api/heatmap?year=10000", None, 422, "validation_failed fields=year"),
    ("GET", "/reporting/cells/cb-1?year=0", None, 422, "validation_failed fields=year"),
]
#: Callers refused before anything is read: nobody signed in, or a viewer of reports.
REFUSED_CALLERS = [
    (None, "GET", "/members/members/dv-1", None, 401, "unauthenticated"),
    (None, "POST", "/members/commands/rate_member",
     {"member_id": "dv-1", "year": 2025, "level": "good"}, 401, "unauthenticated"),
    (VIEWER, "GET", "/members/members/dv-1", None, 403, "forbidden"),
    (VIEWER, "POST", "/members/commands/rate_member",
     {"member_id": "dv-1", "year": 2025, "level": "good"}, 403, "forbidden"),
]


def send(base: str, method: str, path: str, body: Any,
         caller: Identity | None) -> requests.Response:
    """`body` as JSON; bytes as they are, said to be JSON; a str as a form."""
    headers = bearer(caller) if caller is not None else {}
    if isinstance(body, bytes):
        sent, headers = {"data": body}, {**headers, "Content-Type": "application/json"}
    elif isinstance(body, str):
        sent, headers = {"data": body}, {
            **headers, "Content-Type": "application/x-www-form-urlencoded"}
    else:
        sent = {"json": body}
    return requests.request(method, base + path, timeout=TIMEOUT, headers=headers, **sent)


def assert_one_line(caplog: pytest.LogCaptureFixture, method: str, path: str, status: int,
                    summary: str) -> None:
    [record] = logged(caplog)
    assert record.exc_info is None and record.exc_text is None
    line = record.getMessage()
    assert line.startswith(f"{method} {path.split('?')[0]} {status} ")
    assert summary in line
    assert "\n" not in line and "Traceback" not in caplog.text


@pytest.mark.parametrize(("method", "path", "body", "status", "summary"), REFUSED,
                         ids=[f"{m} {p} {s}" for m, p, _, s, _ in REFUSED])
def test_a_refused_request_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture, method: str, path: str,
        body: Any, status: int, summary: str) -> None:
    caplog.set_level(logging.WARNING)
    response = send(system["base"], method, path, body, ADMIN)
    assert response.status_code == status, response.text
    assert_one_line(caplog, method, path, status, summary)


@pytest.mark.parametrize(("caller", "method", "path", "body", "status", "summary"),
                         REFUSED_CALLERS,
                         ids=[f"{c.account_id if c else 'anonymous'} {m} {p} {s}"
                              for c, m, p, _, s, _ in REFUSED_CALLERS])
def test_a_refused_caller_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture, caller: Identity | None,
        method: str, path: str, body: Any, status: int, summary: str) -> None:
    caplog.set_level(logging.WARNING)
    response = send(system["base"], method, path, body, caller)
    assert response.status_code == status, response.text
    assert response.json()["error"] == summary
    assert_one_line(caplog, method, path, status, summary)


def test_many_bad_requests_make_as_many_short_lines(system: dict[str, Any],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for year in range(50):
        requests.post(f"{system['base']}/members/commands/rate_member", timeout=TIMEOUT,
                      headers=bearer(), json={"member_id": "dv-1", "year": str(year),
                                              "level": "good"})
    lines = [r.getMessage() for r in logged(caplog)]
    assert len(lines) == 50
    assert all(len(line) < 200 for line in lines)


def test_a_refused_rpc_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT, context_data=as_caller()) as proxy:
        caplog.set_level(logging.WARNING)
        with pytest.raises(RemoteError) as caught:
            proxy.members.rate_member({"member_id": "dv-1", "year": "2024", "level": "good"})
    assert caught.value.exc_type == "ValidationFailed"
    [record] = logged(caplog)
    assert record.exc_info is None
    assert record.getMessage() == "members.rate_member rejected: 422 validation_failed fields=year"


@pytest.mark.parametrize(("caller", "exc_type", "summary"),
                         [(None, "Unauthenticated", "401 unauthenticated"),
                          (VIEWER, "Forbidden", "403 forbidden")])
def test_an_rpc_refused_to_its_caller_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture, caller: Identity | None,
        exc_type: str, summary: str) -> None:
    context = as_caller(caller) if caller is not None else None
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT, context_data=context) as proxy:
        caplog.set_level(logging.WARNING)
        with pytest.raises(RemoteError) as caught:
            proxy.members.rate_member({"member_id": "dv-1", "year": 2024, "level": "good"})
    assert caught.value.exc_type == exc_type
    [record] = logged(caplog)
    assert record.exc_info is None and "\n" not in record.getMessage()
    assert record.getMessage().startswith(f"members.rate_member rejected: {summary}")
    assert "Traceback" not in caplog.text


def test_a_fault_still_logs_its_traceback(system: dict[str, Any],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    response = requests.get(f"{system['base']}/faulty/boom", timeout=TIMEOUT,
                            headers=bearer())
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "internal server error"}
    [record] = [r for r in logged(caplog) if r.exc_info]
    assert record.levelno == logging.ERROR
    assert "a bug, not a caller's mistake" in caplog.text and "Traceback" in caplog.text

    caplog.clear()
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT, context_data=as_caller()) as proxy, \
            pytest.raises(RemoteError):
        proxy.faulty.explode()
    assert [r for r in logged(caplog) if r.exc_info and r.levelno == logging.ERROR]
