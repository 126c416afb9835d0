"""Bad commands are refused at the edge, field by field, and write nothing.

The whole system runs once for this module in embedded mode (SQLite, in-process
bus) and is driven over HTTP with `requests` and over RPC with a standalone proxy.
Logs are compared by position: a test checks what came after the head it saw
before its command, so tests do not depend on the order they run in.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.nameko import memory
from tests.support import ADMIN, as_caller, bearer, embedded_config, running, wait_until

LOGGED = ("members", "meetings", "supervision")  # the services that keep an event log
TIMEOUT = 30


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    config = embedded_config(tmp_path_factory.mktemp("bad-commands"))
    with running(config):
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        wait_until(lambda: _healthy(base), timeout=TIMEOUT, message="the web server")
        yield {"config": config, "base": base}


@pytest.fixture(scope="module")
def proxy(system: dict[str, Any]) -> Iterator[Any]:
    memory.register()
    with ClusterRpcProxy(system["config"], timeout=TIMEOUT, context_data=as_caller()) as rpc:
        yield rpc


@pytest.fixture
def base(system: dict[str, Any]) -> str:
    return system["base"]


def _healthy(base: str) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def read_all(proxy: Any, service: str) -> list[dict[str, Any]]:
    envelopes: list[dict[str, Any]] = []
    while True:
        batch = getattr(proxy, service).read_events(after=len(envelopes), limit=500)
        if not batch:
            return envelopes
        envelopes.extend(batch)


def heads(proxy: Any) -> dict[str, int]:
    """The last position of each service's log."""
    return {service: len(read_all(proxy, service)) for service in LOGGED}


def written_since(proxy: Any, before: dict[str, int]) -> dict[str, list[dict[str, Any]]]:
    return {service: getattr(proxy, service).read_events(after=before[service], limit=10)
            for service in LOGGED}


def nothing_written(proxy: Any, before: dict[str, int]) -> None:
    assert written_since(proxy, before) == {service: [] for service in LOGGED}


def post(base: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
         **kwargs: Any) -> requests.Response:
    """As the tests' administrator, unless `headers` says otherwise (None: anonymous)."""
    sent = bearer() if headers is None else headers
    return requests.post(f"{base}{path}", json=body, timeout=TIMEOUT, headers=sent, **kwargs)


def province(unit_id: str) -> dict[str, Any]:
    return {"unit_id": unit_id, "name": "Tỉnh ủy Thanh Hóa", "kind": "province",
            "effective_date": "2025-07-01"}


# --------------------------------------------------------------------------- HTTP


def test_a_unit_without_name_and_with_a_bad_kind_is_422_naming_both(base, proxy):
    before = heads(proxy)
    resp = post(base, "/members/commands/establish_unit",
                {"unit_id": unique("u"), "kind": "village",
                                         "effective_date": "2025-07-01"})
    assert resp.status_code == 422
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {"name", "kind"}
    assert body["fields"]["name"] and body["fields"]["kind"]
    nothing_written(proxy, before)


@pytest.mark.parametrize("raw", [b"unit_id=x&kind=province", b"{\"name\": ", b"", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_400(base, proxy, raw):
    before = heads(proxy)
    resp = requests.post(f"{base}/members/commands/establish_unit", data=raw, timeout=TIMEOUT,
                         headers={"Content-Type": "application/json", **bearer()})
    assert resp.status_code == 400
    assert resp.json()["error"] == "bad_json"
    nothing_written(proxy, before)


def test_a_bad_attendance_status_is_422_naming_attendance_index_status(base, proxy):
    before = heads(proxy)
    resp = post(base, "/meetings/commands/record_meeting_held", {
        "meeting_id": unique("m"), "cell_id": unique("cb"), "held_on": "2025-10-05",
        "attendance": [{"member_id": "dv-1", "status": "present"},
                       {"member_id": "dv-2", "status": "late"}]})
    assert resp.status_code == 422
    body = resp.json()
    assert body["error"] == "validation_failed"
    assert set(body["fields"]) == {"attendance"}
    assert set(body["fields"]["attendance"]) == {"1"}  # JSON object keys are text
    assert set(body["fields"]["attendance"]["1"]) == {"status"}
    assert "present" in body["fields"]["attendance"]["1"]["status"][0]
    nothing_written(proxy, before)


def test_a_bad_visit_is_422_and_writes_nothing(base, proxy):
    before = heads(proxy)
    # The visitor is the signed-in caller, not a field of the body.
    resp = post(base, "/supervision/visits", {"cell_id": unique("cb"),
                                              "meeting_id": unique("m"),
                                              "visited_on": "2025-02-30"})
    assert resp.status_code == 422
    assert set(resp.json()["fields"]) == {"visited_on"}
    nothing_written(proxy, before)


@pytest.mark.parametrize("year", [2025.5, "2024", True, 2025.0])
def test_a_year_that_is_not_a_json_integer_is_422(base, proxy, year):
    before = heads(proxy)
    resp = post(base, "/members/commands/rate_member",
                {"member_id": unique("dv"), "year": year, "level": "good"})
    assert resp.status_code == 422, resp.text
    assert set(resp.json()["fields"]) == {"year"}
    nothing_written(proxy, before)


def test_an_import_row_for_a_full_member_without_the_date_is_rejected_by_line(base, proxy):
    cell = unique("cb")
    for unit_id, kind, parent in ((f"{cell}-t", "province", None),
                                  (f"{cell}-x", "committee", f"{cell}-t"),
                                  (cell, "cell", f"{cell}-x")):
        assert post(base, "/members/commands/establish_unit", {
            "unit_id": unit_id, "name": "Chi bộ Bản Ngàm", "kind": kind, "parent_id": parent,
            "effective_date": "2024-01-01"}).status_code == 201
    before = heads(proxy)
    code = unique("DV")
    resp = post(base, "/members/import-batches", {"rows": [
        {"line": 7, "member_code": code, "full_name": "Hà Văn Thành", "cell_code": cell,
         "admitted_on": "2010-01-01", "status": "full"}]})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert (body["admitted"], body["events"]) == (0, 0)
    [rejected] = body["rejected"]
    assert (rejected["line"], rejected["member_code"]) == (7, code)
    assert rejected["reason"].startswith("full_member_on: Đảng viên chính thức phải có ngày")
    nothing_written(proxy, before)
    assert requests.get(f"{base}/members/members/{code}", headers=bearer(),
                        timeout=TIMEOUT).status_code == 404


def test_a_rule_violation_writes_nothing(base, proxy):
    # Well-formed, but a cell needs an existing parent: refused by the domain, after
    # the store was opened, so this checks the rollback rather than the schema.
    before = heads(proxy)
    missing = unique("missing")
    resp = post(base, "/members/commands/establish_unit",
                {"unit_id": unique("cb"), "name": "Chi bộ Bản Máy",
                                         "kind": "cell", "parent_id": missing,
                                         "effective_date": "2025-07-01"})
    assert resp.status_code == 404
    assert resp.json()["field"] == "parent_id"
    assert missing in resp.json()["message"]
    nothing_written(proxy, before)


def test_bad_commands_then_one_good_one_writes_exactly_one_event(base, proxy):
    before = heads(proxy)
    unit_id = unique("tinh")
    assert post(base, "/members/commands/establish_unit", {"unit_id": unit_id, "kind": "village"}
                ).status_code == 422
    assert post(base, "/members/commands/establish_unit", {**province(unit_id), "parent_id": "x"}
                ).status_code == 422
    nothing_written(proxy, before)

    resp = post(base, "/members/commands/establish_unit", province(unit_id))
    assert resp.status_code == 201, resp.text
    assert resp.json()["unit_id"] == unit_id
    written = written_since(proxy, before)
    assert written["meetings"] == [] and written["supervision"] == []
    [event] = written["members"]
    assert event["type"] == "unit_established"
    assert event["stream_id"] == f"unit-{unit_id}"
    assert event["position"] == before["members"] + 1
    assert event["event_id"] in resp.json()["events"]
    assert event["data"] == {"unit_id": unit_id, "name": "Tỉnh ủy Thanh Hóa",
                             "kind": "province", "parent_id": None,
                             "effective_date": "2025-07-01"}

    # The same unit again: refused by the rule, still one event.
    again = post(base, "/members/commands/establish_unit", province(unit_id))
    assert again.status_code == 409
    assert again.json()["error"] == "rule_violated"
    assert len(written_since(proxy, before)["members"]) == 1


def test_the_signed_in_account_and_the_correlation_header_reach_the_event_metadata(
        base, proxy):
    before = heads(proxy)
    unit_id = unique("tinh")
    correlation_id = str(uuid.uuid4())
    resp = post(base, "/members/commands/establish_unit", province(unit_id), headers={
        # A forged actor (percent-encoded UTF-8, as headers are Latin-1) is ignored.
        "X-Actor": quote("cán bộ Hà"), **bearer(),
        "X-Correlation-Id": correlation_id})
    assert resp.status_code == 201, resp.text
    [event] = written_since(proxy, before)["members"]
    assert event["data"]["unit_id"] == unit_id
    assert event["metadata"]["correlation_id"] == correlation_id
    assert event["metadata"]["actor"] == ADMIN.account_id
    assert event["metadata"]["actor_name"] == ADMIN.name


def test_without_correlation_headers_ids_are_made_up(base, proxy):
    before = heads(proxy)
    resp = post(base, "/members/commands/establish_unit", province(unique("tinh")))
    assert resp.status_code == 201, resp.text
    [event] = written_since(proxy, before)["members"]
    meta = event["metadata"]
    assert meta["command_id"] and meta["correlation_id"] == meta["command_id"]


def test_an_anonymous_command_is_401_and_writes_nothing(base, proxy):
    before = heads(proxy)
    resp = post(base, "/members/commands/establish_unit", province(unique("tinh")),
                headers={"X-Actor": "quan-tri"})
    assert resp.status_code == 401
    assert resp.json()["error"] == "unauthenticated"
    nothing_written(proxy, before)


# --------------------------------------------------------------------------- RPC


def test_the_same_bad_command_over_rpc_raises_validation_failed(proxy):
    before = heads(proxy)
    with pytest.raises(RemoteError) as excinfo:
        proxy.members.establish_unit({"unit_id": unique("u"), "kind": "village",
                                      "effective_date": "2025-07-01"})
    assert excinfo.value.exc_type == "ValidationFailed"
    assert "name:" in excinfo.value.value
    assert "kind:" in excinfo.value.value
    nothing_written(proxy, before)


def test_a_bad_attendance_over_rpc_names_the_field(proxy):
    before = heads(proxy)
    with pytest.raises(RemoteError) as excinfo:
        proxy.meetings.record_meeting_held({
            "cell_id": unique("cb"), "held_on": "2025-10-05",
            "attendance": [{"member_id": "dv-1", "status": "late"}]})
    assert excinfo.value.exc_type == "ValidationFailed"
    assert "attendance" in excinfo.value.value and "status" in excinfo.value.value
    nothing_written(proxy, before)


def test_a_good_command_over_rpc_writes_one_event(proxy):
    before = heads(proxy)
    unit_id = unique("tinh")
    result = proxy.members.establish_unit(province(unit_id))
    assert result["unit_id"] == unit_id
    [event] = written_since(proxy, before)["members"]
    assert event["event_id"] == result["events"][0]
    assert event["data"]["unit_id"] == unit_id
