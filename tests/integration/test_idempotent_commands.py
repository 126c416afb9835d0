"""A command retried with the same X-Command-Id acts once and answers the same; the id
answers that command and body only: another command or body with it is refused (409
command_id_reused) and writes nothing."""

from __future__ import annotations

import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import ADMIN, as_caller, bearer, embedded_config, running


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("idempotent"))
    with running(config):
        yield config


def test_retried_command_is_applied_once(system):
    url = f"http://{system['WEB_SERVER_ADDRESS']}/members/commands/establish_unit"
    body = {"unit_id": "p-1", "name": "Tỉnh ủy Nghệ An", "kind": "province",
            "effective_date": "2025-07-01"}
    # A forged X-Actor is ignored: the actor is the bearer token's account.
    headers = {"X-Command-Id": "cmd-42", "X-Actor": "chuyen-vien-1", **bearer()}
    first = requests.post(url, json=body, headers=headers, timeout=10)
    again = requests.post(url, json=body, headers=headers, timeout=10)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()

    with ClusterRpcProxy(system, context_data=as_caller()) as proxy:
        log = proxy.members.read_events(after=0, limit=10)
    assert len(log) == 1
    assert log[0]["metadata"]["command_id"] == "cmd-42"
    assert log[0]["metadata"]["actor"] == ADMIN.account_id

    # Without the command id, the same body is a second command, refused by the rules.
    third = requests.post(url, json=body, headers=bearer(), timeout=10)
    assert third.status_code == 409
    assert third.json()["error"] == "rule_violated"


# --------------------------------------------------------------------------- one id, one command


def _members_log(config) -> list[dict]:
    with ClusterRpcProxy(config, context_data=as_caller()) as proxy:
        return proxy.members.read_events(after=0, limit=5000)


def _post(config, path: str, body: dict, command_id: str | None = None) -> requests.Response:
    headers = {"X-Command-Id": command_id, **bearer()} if command_id else bearer()
    return requests.post(f"http://{config['WEB_SERVER_ADDRESS']}{path}", json=body,
                         headers=headers, timeout=10)


def _establish(config, unit_id: str | None, kind: str = "province", parent: str | None = None,
               command_id: str | None = None, name: str = "Tỉnh ủy Hà Tĩnh") -> requests.Response:
    body = {"name": name, "kind": kind, "effective_date": "2025-07-01",
            **({"unit_id": unit_id} if unit_id else {}),
            **({"parent_id": parent} if parent else {})}
    return _post(config, "/members/commands/establish_unit", body, command_id)


def test_an_id_used_by_another_command_is_refused_and_nothing_is_done(system):
    first = _establish(system, "p-reused", command_id="cmd-reused")
    assert first.status_code == 201, first.text
    before = _members_log(system)

    # An admission sent with the establishment's id: refused, no one admitted.
    admit = _post(system, "/members/commands/admit_member",
                  {"member_id": "dv-reused", "full_name": "Lò Văn Máy", "cell_id": "p-reused",
                   "admitted_on": "2025-07-02"}, "cmd-reused")
    assert admit.status_code == 409, admit.text
    body = admit.json()
    assert body["error"] == "command_id_reused"
    assert (body["command_id"], body["command"], body["first_command"]) \
        == ("cmd-reused", "admit_member", "establish_unit")
    assert "cmd-reused" in body["message"]
    # Another unit sent with it: refused, and that unit does not exist.
    other = _establish(system, "p-other", command_id="cmd-reused")
    assert other.status_code == 409 and other.json()["error"] == "command_id_reused"
    assert "different body" in other.json()["message"]

    assert _members_log(system) == before
    base = f"http://{system['WEB_SERVER_ADDRESS']}/members"
    assert requests.get(f"{base}/units/p-other", headers=bearer(), timeout=10).status_code == 404
    assert requests.get(f"{base}/members/dv-reused", headers=bearer(),
                        timeout=10).status_code == 404
    # The id still answers its own command, with the first answer.
    again = _establish(system, "p-reused", command_id="cmd-reused")
    assert (again.status_code, again.json()) == (201, first.json())


def test_a_retry_answers_the_generated_ids_of_the_first_time(system):
    # No unit_id in the body: the service makes one up. A retry must name the same unit.
    first = _establish(system, None, command_id="cmd-generated")
    again = _establish(system, None, command_id="cmd-generated")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert "Idempotent-Replayed" not in first.headers
    unit = requests.get(f"http://{system['WEB_SERVER_ADDRESS']}/members/units/"
                        f"{first.json()['unit_id']}", headers=bearer(), timeout=10)
    assert unit.status_code == 200
    established = [e for e in _members_log(system) if e["metadata"]["command_id"]
                   == "cmd-generated"]
    assert len(established) == 1


def test_a_command_that_changed_nothing_still_answers_its_first_result(system):
    # A batch whose only row names a cell that does not exist yet: no events.
    rows = {"rows": [{"line": 2, "member_code": "DV-NOOP", "full_name": "Hà Thị Lan",
                      "cell_code": "cb-noop", "admitted_on": "2020-01-01",
                      "status": "probationary"}]}
    first = _post(system, "/members/import-batches", rows, "cmd-noop")
    assert first.status_code == 200, first.text
    assert first.json()["events"] == 0 and [r["line"] for r in first.json()["rejected"]] == [2]
    assert _establish(system, "p-noop").status_code == 201
    assert _establish(system, "x-noop", "committee", "p-noop").status_code == 201
    assert _establish(system, "cb-noop", "cell", "x-noop").status_code == 201
    before = _members_log(system)

    # Now the row could be applied, but this id has answered already: same answer, no act.
    again = _post(system, "/members/import-batches", rows, "cmd-noop")
    assert (again.status_code, again.json()) == (200, first.json())
    assert _members_log(system) == before


def test_a_reused_id_over_rpc_raises_command_id_reused(system):
    with ClusterRpcProxy(system, context_data={**as_caller(), "command_id": "cmd-rpc"}) as proxy:
        first = proxy.members.establish_unit({"unit_id": "p-rpc", "name": "Tỉnh ủy Lào Cai",
                                              "kind": "province",
                                              "effective_date": "2025-07-01"})
        assert proxy.members.establish_unit({"unit_id": "p-rpc", "name": "Tỉnh ủy Lào Cai",
                                             "kind": "province",
                                             "effective_date": "2025-07-01"}) == first
        before = proxy.members.read_events(after=0, limit=5000)
        with pytest.raises(RemoteError) as caught:
            proxy.members.rate_member({"member_id": "dv-1", "year": 2025, "level": "good"})
    assert caught.value.exc_type == "CommandIdReused"
    assert "cmd-rpc" in caught.value.value and "establish_unit" in caught.value.value
    assert _members_log(system) == before


def test_a_command_id_longer_than_the_log_keeps_is_422(system):
    before = _members_log(system)
    response = _establish(system, "p-long", command_id="x" * 65)
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"X-Command-Id"}
    assert _members_log(system) == before


def test_meetings_and_supervision_commands_answer_a_retry_the_same(system):
    for unit_id, kind, parent in (("p-m", "province", None), ("x-m", "committee", "p-m"),
                                  ("cb-m", "cell", "x-m")):
        assert _establish(system, unit_id, kind, parent).status_code == 201
    schedule = {"cell_id": "cb-m", "planned_on": "2025-08-05"}  # the meeting id is made up
    first = _post(system, "/meetings/commands/schedule_meeting", schedule, "cmd-meeting")
    again = _post(system, "/meetings/commands/schedule_meeting", schedule, "cmd-meeting")
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    cancel = _post(system, "/meetings/commands/cancel_meeting",
                   {"meeting_id": first.json()["meeting_id"], "reason": "Lũ"}, "cmd-meeting")
    assert cancel.status_code == 409 and cancel.json()["error"] == "command_id_reused"
    meeting = requests.get(f"http://{system['WEB_SERVER_ADDRESS']}/meetings/meetings/"
                           f"{first.json()['meeting_id']}", headers=bearer(),
                           timeout=10).json()
    assert meeting["status"] == "scheduled"

    follow = {"follower": "Đồng chí Hà Thị Lan", "cell_ids": ["cb-m"],
              "from_date": "2025-07-01"}  # the assignment id is made up
    first = _post(system, "/supervision/commands/assign_follower", follow, "cmd-follow")
    again = _post(system, "/supervision/commands/assign_follower", follow, "cmd-follow")
    assert first.status_code == again.status_code == 201, first.text
    assert again.json() == first.json()
    other = _post(system, "/supervision/commands/assign_follower",
                  {**follow, "from_date": "2025-08-01"}, "cmd-follow")
    assert other.status_code == 409 and other.json()["error"] == "command_id_reused"
