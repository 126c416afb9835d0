"""The shared web server's limits: body size, header and body deadlines, and the
security headers on every response. Real sockets against a real server."""

import eventlet

eventlet.monkey_patch()  # tests/conftest.py does this too; kept so --noconftest works

import json  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from chibo import settings  # noqa: E402
from chibo.access import PUBLIC  # noqa: E402
from chibo.nameko.access import access  # noqa: E402
from chibo.nameko.web import http, read_json  # noqa: E402
from chibo.nameko.web.limits import WebLimits  # noqa: E402
from chibo.nameko.web.security_headers import CONTENT_SECURITY_POLICY  # noqa: E402

TIMEOUT = 10  # seconds; a deadline for each socket or HTTP call, not a timing assertion
MAX_BODY = 1024


class EchoService:
    name = "echo"

    @http("POST", "/echo")
    @access(PUBLIC)  # the web layer under test, not access
    def echo(self, request):
        return {"received": read_json(request)}

    @http("GET", "/echo/ping")
    @access(PUBLIC)  # the web layer under test, not access
    def ping(self, request):
        return ["pong"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def runner(port) -> Iterator[ServiceRunner]:
    runner = ServiceRunner({
        "AMQP_URI": "memory://",
        "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
        # One worker: a slow client holding it would stall every other request.
        "max_workers": 1,
        "WEB_MAX_BODY_BYTES": MAX_BODY,
        "WEB_HEADER_TIMEOUT_SECONDS": 0.5,
        "WEB_BODY_TIMEOUT_SECONDS": 0.5,
    })
    runner.add_service(EchoService)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def base(port, runner) -> str:
    return f"http://127.0.0.1:{port}"


def connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def status_and_body(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}, head


def test_body_over_the_cap_is_refused_from_its_length_before_it_is_sent(port, runner):
    with connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 50000000\r\n\r\n")
        # Not one byte of the body is sent: the answer cannot have waited for it.
        status, body, head = status_and_body(read_until_closed(sock))
    assert status == 413
    assert body["error"] == "payload_too_large"
    assert body["max_body_bytes"] == MAX_BODY
    assert b"connection: close" in head.lower()


def test_chunked_body_is_read_only_up_to_the_cap(port, runner):
    chunk = b"x" * 600
    with connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2)
        # The terminating chunk is never sent: the cap, not the end of the body, decides.
        status, body, _ = status_and_body(read_until_closed(sock))
    assert status == 413
    assert body["error"] == "payload_too_large"


def test_chunked_body_under_the_cap_reaches_the_entrypoint(port, runner):
    payload = json.dumps({"name": "Chi bộ Bản Máy"}).encode()
    with connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"Content-Type: application/json\r\nConnection: close\r\n\r\n"
                     + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        status, body, _ = status_and_body(read_until_closed(sock))
    assert (status, body) == (200, {"received": {"name": "Chi bộ Bản Máy"}})


def test_body_within_the_cap_is_served(base):
    response = requests.post(f"{base}/echo", json={"n": 1}, timeout=TIMEOUT)
    assert response.json() == {"received": {"n": 1}}


def test_connection_without_complete_headers_is_closed_after_the_timeout(port, runner):
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert read_until_closed(sock) == b""


def test_body_not_arriving_in_time_is_408_and_closed(port, runner):
    with connect(port) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"")
        status, body, head = status_and_body(read_until_closed(sock))
    assert status == 408
    assert body["error"] == "request_timeout"
    assert b"connection: close" in head.lower()


def test_slow_body_does_not_stop_another_clients_request(port, runner):
    with connect(port) as slow:
        slow.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        # The service has one worker; the slow upload must not be holding it.
        response = requests.get(f"http://127.0.0.1:{port}/echo/ping", timeout=TIMEOUT)
        assert response.json() == ["pong"]


@pytest.mark.parametrize("path", ["/echo/ping", "/healthz", "/no/such/route"])
def test_security_headers_on_every_response(base, path):
    headers = requests.get(f"{base}{path}", timeout=TIMEOUT).headers
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("yaml_name", ["embedded.yaml", "distributed.yaml"])
def test_limits_come_from_the_config_files_and_their_environment(yaml_name, monkeypatch):
    from services.app import CONFIG_DIR

    assert WebLimits.from_config(settings.load(CONFIG_DIR / yaml_name)) == WebLimits()
    monkeypatch.setenv("CHIBO_WEB_MAX_BODY_BYTES", "4096")
    monkeypatch.setenv("CHIBO_WEB_HEADER_TIMEOUT_SECONDS", "2.5")
    limits = WebLimits.from_config(settings.load(CONFIG_DIR / yaml_name))
    assert (limits.max_body_bytes, limits.header_timeout_seconds) == (4096, 2.5)


def test_a_later_server_on_the_same_port_uses_its_own_limits(port):
    """The process keeps one server per port; a port number handed out again must not
    bring back an earlier container's limits."""
    def refused_limit() -> int:
        with connect(port) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 50000000\r\n\r\n")
            _, body, _ = status_and_body(read_until_closed(sock))
        return body["max_body_bytes"]

    seen = []
    for limit in (4096, MAX_BODY):
        runner = ServiceRunner({"AMQP_URI": "memory://", "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
                                "WEB_MAX_BODY_BYTES": limit})
        runner.add_service(EchoService)
        runner.start()
        try:
            seen.append(refused_limit())
        finally:
            runner.stop()
    assert seen == [4096, MAX_BODY]
