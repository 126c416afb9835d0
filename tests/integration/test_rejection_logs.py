"""A refused request is one log line (method, path, status, error code and fields),
never a traceback; a real fault still logs its traceback. Over HTTP and over RPC."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.rpc import rpc
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.nameko.web import http
from services.app import SERVICES
from tests.support import embedded_config, running, wait_until

TIMEOUT = 30


class FaultyService:
    """Stands for a bug: its routes fail with an exception no caller can act on."""

    name = "faulty"

    @http("GET", "/faulty/boom")
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
        requests.post(f"{base}/members/commands/establish_unit", timeout=TIMEOUT, json={
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
    ("GET", "/supervision/cells/cb-1/quality/0", None, 422, "validation_failed fields=year"),
    ("GET", "/members/members/dv-nobody", None, 404, "not_found"),
    ("GET", "/reporting/api/heatmap?year=10000", None, 422, "validation_failed fields=year"),
    ("GET", "/reporting/cells/cb-1?year=0", None, 422, "validation_failed fields=year"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "summary"), REFUSED,
                         ids=[f"{m} {p} {s}" for m, p, _, s, _ in REFUSED])
def test_a_refused_request_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture, method: str, path: str,
        body: Any, status: int, summary: str) -> None:
    caplog.set_level(logging.WARNING)
    sent = {"data": body} if isinstance(body, bytes) else {"json": body}
    response = requests.request(method, system["base"] + path, timeout=TIMEOUT, **sent)
    assert response.status_code == status, response.text
    [record] = logged(caplog)
    assert record.exc_info is None and record.exc_text is None
    line = record.getMessage()
    assert line.startswith(f"{method} {path.split('?')[0]} {status} ")
    assert summary in line
    assert "\n" not in line and "Traceback" not in caplog.text


def test_many_bad_requests_make_as_many_short_lines(system: dict[str, Any],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    for year in range(50):
        requests.post(f"{system['base']}/members/commands/rate_member", timeout=TIMEOUT,
                      json={"member_id": "dv-1", "year": str(year), "level": "good"})
    lines = [r.getMessage() for r in logged(caplog)]
    assert len(lines) == 50
    assert all(len(line) < 200 for line in lines)


def test_a_refused_rpc_is_one_line_without_a_traceback(
        system: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT) as proxy:
        caplog.set_level(logging.WARNING)
        with pytest.raises(RemoteError) as caught:
            proxy.members.rate_member({"member_id": "dv-1", "year": "2024", "level": "good"})
    assert caught.value.exc_type == "ValidationFailed"
    [record] = logged(caplog)
    assert record.exc_info is None
    assert record.getMessage() == "members.rate_member rejected: 422 validation_failed fields=year"


def test_a_fault_still_logs_its_traceback(system: dict[str, Any],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    response = requests.get(f"{system['base']}/faulty/boom", timeout=TIMEOUT)
    assert response.status_code == 500
    assert response.json() == {"error": "internal", "message": "internal server error"}
    [record] = [r for r in logged(caplog) if r.exc_info]
    assert record.levelno == logging.ERROR
    assert "a bug, not a caller's mistake" in caplog.text and "Traceback" in caplog.text

    caplog.clear()
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT) as proxy, \
            pytest.raises(RemoteError):
        proxy.faulty.explode()
    assert [r for r in logged(caplog) if r.exc_info and r.levelno == logging.ERROR]
