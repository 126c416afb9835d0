"""Embedded mode: several nameko containers in one process share one HTTP port."""

import eventlet

eventlet.monkey_patch()  # tests/conftest.py does this too; kept so --noconftest works

import json  # noqa: E402
import logging  # noqa: E402
import socket  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import pytest  # noqa: E402
import requests  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402
from nameko.contextdata import ContextDataProvider  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402
from werkzeug.test import EnvironBuilder  # noqa: E402
from werkzeug.wrappers import Request  # noqa: E402

from chibo.access import PUBLIC, Grant, Identity, RoleBook, TokenSigner  # noqa: E402
from chibo.nameko.access import Caller, access  # noqa: E402
from chibo.nameko.providers import ClockProvider  # noqa: E402
from chibo.nameko.web import BadJsonBody, context_data_from_headers, http, read_json  # noqa: E402
from chibo.nameko.web.json_http import NotJson  # noqa: E402

CELL = "Chi bộ Bản Máy"
TIMEOUT = 10  # seconds; a deadline for each HTTP call, not a timing assertion
SECRET = "web-tests-signing-secret-0123456789abcdef"
JSON = {"Content-Type": "application/json"}
#: The beta service's clock (config CLOCK): tokens are issued and checked at this instant.
NOW = datetime(2026, 6, 17, 9, 30, tzinfo=UTC)
#: Who may read /metrics here: the role book of the beta service's Caller.
OPERATOR = Identity("ops-1", "Vận hành", (Grant("ops"),))


class Actor(ContextDataProvider):
    context_key = "actor"


class CorrelationId(ContextDataProvider):
    context_key = "correlation_id"


class Unprocessable(Exception):
    http_status = 422

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is invalid")
        self.field = field

    def to_dict(self) -> dict:
        return {"error": "validation", "message": str(self), "field": self.field}


class AlphaService:
    name = "alpha"

    actor = Actor()
    correlation_id = CorrelationId()

    @http("GET", "/alpha/cell")
    @access(PUBLIC)  # the web layer under test, not access
    def cell(self, request):
        return {"name": CELL, "members": ["Lò Văn Hùng", "Quàng Thị Mai"]}

    @http("POST", "/alpha/echo")
    @access(PUBLIC)  # the web layer under test, not access
    def echo(self, request):
        return 201, {"received": read_json(request)}

    @http("GET", "/alpha/whoami")
    @access(PUBLIC)  # the web layer under test, not access
    def whoami(self, request):
        return {"actor": self.actor, "correlation_id": self.correlation_id}

    @http("GET", "/alpha/cells/<int:cell_id>")
    @access(PUBLIC)  # the web layer under test, not access
    def one_cell(self, request, cell_id):
        return {"id": cell_id}


class BetaService:
    name = "beta"

    clock = ClockProvider()
    caller = Caller(RoleBook({"ops": ["operate"]}))

    @http("GET", "/beta/ping")
    @access(PUBLIC)  # the web layer under test, not access
    def ping(self, request):
        return ["pong"]

    @http("GET", "/beta/invalid")
    @access(PUBLIC)  # the web layer under test, not access
    def invalid(self, request):
        raise Unprocessable("meeting_date")

    @http("GET", "/beta/boom")
    @access(PUBLIC)  # the web layer under test, not access
    def boom(self, request):
        raise KeyError("secret-internal-detail")

    @http("GET", "/beta/not-json")
    @access(PUBLIC)  # the web layer under test, not access
    def not_json(self, request):
        return "plain text is not allowed"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    # SO_REUSEADDR as every server sets it (eventlet.listen does): connections the
    # server closed may sit in TIME_WAIT, which is not "in use" for a new listener.
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
        return True


def config_for(port: int) -> dict:
    return {"AMQP_URI": "memory://", "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}",
            "AUTH": {"secret": SECRET}, "CLOCK": NOW.isoformat()}


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def runner(port) -> Iterator[ServiceRunner]:
    runner = ServiceRunner(config_for(port))
    runner.add_service(AlphaService)
    runner.add_service(BetaService)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@pytest.fixture
def base(port, runner) -> str:
    return f"http://127.0.0.1:{port}"


def bearer(identity: Identity) -> dict[str, str]:
    return {"Authorization": "Bearer " + TokenSigner(SECRET).issue(identity, NOW, 600)}


def get(url: str, **kwargs) -> requests.Response:
    return requests.get(url, timeout=TIMEOUT, **kwargs)


def test_both_services_answer_on_one_port(base):
    assert get(f"{base}/alpha/cells/7").json() == {"id": 7}
    assert get(f"{base}/beta/ping").json() == ["pong"]


def test_containers_share_one_server_instance(runner):
    servers = {ep.server for container in runner.containers for ep in container.entrypoints}
    assert len(servers) == 1


def test_dict_result_is_utf8_json_and_round_trips_vietnamese(base):
    resp = get(f"{base}/alpha/cell")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert CELL.encode("utf-8") in resp.content  # not \\u escaped
    assert resp.json() == {"name": CELL, "members": ["Lò Văn Hùng", "Quàng Thị Mai"]}


def test_tuple_result_sets_status_and_read_json_round_trips(base):
    body = {"cell": CELL, "present": 12}
    resp = requests.post(
        f"{base}/alpha/echo",
        data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
        headers=JSON, timeout=TIMEOUT,
    )
    assert resp.status_code == 201
    assert resp.json() == {"received": body}


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_json_body_not_sent_as_json_is_415(base, content_type):
    # A cross-site form can send only form encodings and text/plain: none reaches a command.
    headers = {"Content-Type": content_type} if content_type else {}
    resp = requests.post(f"{base}/alpha/echo", data=b'{"a": 1}', headers=headers,
                         timeout=TIMEOUT)
    assert resp.status_code == 415
    assert resp.json()["error"] == "not_json"


@pytest.mark.parametrize("payload", [b"{not json", b"", b"[1, 2]", b"\xff\xfe\xfa"])
def test_bad_json_body_is_400(base, payload):
    resp = requests.post(f"{base}/alpha/echo", data=payload, headers=JSON, timeout=TIMEOUT)
    assert resp.status_code == 400
    assert resp.json()["error"] == "bad_json"


def test_exception_with_http_status_and_to_dict(base):
    resp = get(f"{base}/beta/invalid")
    assert resp.status_code == 422
    assert resp.json() == {
        "error": "validation",
        "message": "meeting_date is invalid",
        "field": "meeting_date",
    }


def test_unexpected_exception_is_500_json_without_details(base):
    resp = get(f"{base}/beta/boom")
    assert resp.status_code == 500
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    assert resp.json() == {"error": "internal", "message": "internal server error"}
    assert "Traceback" not in resp.text
    assert "secret-internal-detail" not in resp.text


def test_unsupported_return_type_is_500(base):
    resp = get(f"{base}/beta/not-json")
    assert resp.status_code == 500
    assert resp.json()["error"] == "internal"


def test_unknown_route_and_wrong_method_are_json(base):
    missing = get(f"{base}/nowhere")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    wrong = requests.delete(f"{base}/beta/ping", timeout=TIMEOUT)
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["Allow"]


def test_unknown_route_and_wrong_method_are_one_log_line_each_naming_the_error(base, caplog):
    caplog.set_level(logging.WARNING, logger="chibo.nameko.web")
    get(f"{base}/nowhere")
    requests.delete(f"{base}/beta/ping", timeout=TIMEOUT)
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("chibo.nameko.web")]
    assert lines == ["GET /nowhere 404 not_found", "DELETE /beta/ping 405 method_not_allowed"]


def test_healthz_lists_both_services(base):
    resp = get(f"{base}/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "services": ["alpha", "beta"]}


def test_metrics_need_the_operate_permission(base):
    assert get(f"{base}/metrics").status_code == 401
    viewer = Identity("v-1", "Người xem", (Grant("viewer"),))
    assert get(f"{base}/metrics", headers=bearer(viewer)).status_code == 403
    forged = TokenSigner(SECRET + "-other-key").issue(OPERATOR, NOW, 600)
    assert get(f"{base}/metrics", headers={"Authorization": f"Bearer {forged}"}
               ).status_code == 401


def test_metrics_exposes_request_counter(base):
    get(f"{base}/beta/ping")
    resp = get(f"{base}/metrics", headers=bearer(OPERATOR))
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert "chibo_http_requests_total" in resp.text
    assert 'chibo_http_requests_total{method="GET",service="beta",status="200"}' in resp.text
    assert "chibo_http_request_seconds_bucket" in resp.text


def test_context_headers_reach_the_worker_but_never_an_actor(base):
    # Who calls is the verified identity alone: an X-Actor from outside names nobody.
    resp = get(
        f"{base}/alpha/whoami", headers={"X-Actor": "bi-thu-01", "X-Correlation-Id": "corr-42"}
    )
    assert resp.json() == {"actor": None, "correlation_id": "corr-42"}
    assert get(f"{base}/alpha/whoami").json() == {"actor": None, "correlation_id": None}


def test_port_is_free_after_runner_stop(port):
    runner = ServiceRunner(config_for(port))
    runner.add_service(AlphaService)
    runner.add_service(BetaService)
    runner.start()
    try:
        with requests.Session() as session:  # leaves an idle keep-alive connection open
            assert (
                session.get(f"http://127.0.0.1:{port}/beta/ping", timeout=TIMEOUT).status_code
                == 200
            )
            assert not port_is_free(port)
            runner.stop()
        assert port_is_free(port)
    finally:
        runner.stop()


def test_port_stays_open_until_the_last_container_stops(base, runner, port):
    runner.service_map["alpha"].stop()
    assert get(f"{base}/beta/ping").json() == ["pong"]
    assert get(f"{base}/alpha/cell").status_code == 404
    assert get(f"{base}/healthz").json()["services"] == ["beta"]
    runner.service_map["beta"].stop()
    assert port_is_free(port)


def test_container_started_later_adds_its_routes(port):
    """Two runners in one process (as the CLI may do) and a late start."""
    first = ServiceRunner(config_for(port))
    first.add_service(BetaService)
    second = ServiceRunner(config_for(port))
    second.add_service(AlphaService)
    first.start()
    try:
        base = f"http://127.0.0.1:{port}"
        assert get(f"{base}/alpha/cell").status_code == 404
        second.start()
        try:
            assert get(f"{base}/alpha/cell").json()["name"] == CELL
            assert get(f"{base}/healthz").json()["services"] == ["alpha", "beta"]
        finally:
            second.stop()
        assert get(f"{base}/beta/ping").json() == ["pong"]
    finally:
        first.stop()
    assert port_is_free(port)


def test_server_reopens_after_every_container_stopped(port):
    for _ in range(2):
        runner = ServiceRunner(config_for(port))
        runner.add_service(BetaService)
        runner.start()
        try:
            assert get(f"http://127.0.0.1:{port}/beta/ping").json() == ["pong"]
        finally:
            runner.stop()
        assert port_is_free(port)


def test_killed_container_releases_the_port(port):
    container = ServiceContainer(BetaService, config_for(port))
    container.start()
    assert get(f"http://127.0.0.1:{port}/beta/ping").json() == ["pong"]
    container.kill()
    assert port_is_free(port)


def test_stop_does_not_cut_an_in_flight_response(port):
    running, release = eventlet.event.Event(), eventlet.event.Event()

    class SlowService:
        name = "slow"

        @http("GET", "/slow")
        @access(PUBLIC)  # the web layer under test, not access
        def slow(self, request):
            running.send()
            release.wait()
            return {"done": CELL}

    runner = ServiceRunner(config_for(port))
    runner.add_service(SlowService)
    runner.start()
    try:
        pending = eventlet.spawn(get, f"http://127.0.0.1:{port}/slow")
        with eventlet.Timeout(TIMEOUT):
            running.wait()
        stopper = eventlet.spawn(runner.stop)
        release.send()
        assert pending.wait().json() == {"done": CELL}
        stopper.wait()
    finally:
        runner.stop()
    assert port_is_free(port)


def test_context_data_from_headers_copies_only_present_headers():
    request = Request(
        EnvironBuilder(
            headers={
                "X-Actor": "bi-thu-01",
                "x-command-id": "cmd-1",
                "X-Causation-Id": "ev-9",
                "X-Other": "ignored",
            }
        ).get_environ()
    )
    assert context_data_from_headers(request) == {
        "command_id": "cmd-1",
        "causation_id": "ev-9",
    }
    carried = Request(EnvironBuilder(headers={"Authorization": "Bearer abc.def.ghi",
                                              "Cookie": "chibo_session=from-cookie"}
                                     ).get_environ())
    assert context_data_from_headers(carried) == {"identity": "abc.def.ghi"}
    browser = Request(EnvironBuilder(headers={"Cookie": "chibo_session=from-cookie"}
                                     ).get_environ())
    assert context_data_from_headers(browser) == {"identity": "from-cookie"}
    empty = Request(EnvironBuilder().get_environ())
    assert context_data_from_headers(empty) == {}


def test_read_json_accepts_only_objects():
    ok = Request(EnvironBuilder(method="POST", data=json.dumps({"a": CELL}),
                                content_type="application/json").get_environ())
    assert read_json(ok) == {"a": CELL}
    plain = Request(EnvironBuilder(method="POST", data=json.dumps({"a": CELL}),
                                   content_type="text/plain").get_environ())
    with pytest.raises(NotJson):
        read_json(plain)
    bad = Request(EnvironBuilder(method="POST", data="42",
                                 content_type="application/json").get_environ())
    with pytest.raises(BadJsonBody) as info:
        read_json(bad)
    assert info.value.http_status == 400
    assert info.value.to_dict()["error"] == "bad_json"


def test_client_errors_are_expected_exceptions(runner):
    entrypoint = next(
        ep for ep in runner.service_map["beta"].entrypoints if ep.method_name == "invalid"
    )
    assert isinstance(Unprocessable("x"), entrypoint.expected_exceptions)
    assert isinstance(BadJsonBody("x"), entrypoint.expected_exceptions)
    assert not isinstance(KeyError("x"), entrypoint.expected_exceptions)


def test_a_provider_of_a_container_gone_is_left_out_of_the_routes():
    """A container killed without unregistering leaves its provider behind with a dead
    weak reference: building the routes must skip it, not fail every request with 500."""
    import gc
    import weakref
    from types import SimpleNamespace

    from chibo.nameko.web.server import _container_name

    class Container:
        service_name = "gone"

    container = Container()
    provider = SimpleNamespace(container=weakref.proxy(container))
    assert _container_name(provider) == "gone"
    del container
    gc.collect()
    assert _container_name(provider) is None


class UnruledService:
    name = "unruled"

    clock = ClockProvider()
    caller = Caller(RoleBook({"ops": ["operate"]}))

    @http("GET", "/unruled/open")
    def open_route(self, request):
        return {"who": "anyone"}


def test_a_service_with_a_route_that_declares_no_access_rule_refuses_to_start(port):
    runner = ServiceRunner(config_for(port))
    runner.add_service(UnruledService)
    with pytest.raises(RuntimeError) as refused:  # by the route or by the Caller, first wins
        runner.start()
    assert "open_route" in str(refused.value) and "access rule" in str(refused.value)
    runner.kill()
