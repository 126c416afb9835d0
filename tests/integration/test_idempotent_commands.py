"""A command retried with the same X-Command-Id acts once and answers the same."""

from __future__ import annotations

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from tests.support import embedded_config, running


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("idempotent"))
    with running(config):
        yield config


def test_retried_command_is_applied_once(system):
    url = f"http://{system['WEB_SERVER_ADDRESS']}/members/commands/establish_unit"
    body = {"unit_id": "p-1", "name": "Tỉnh ủy Nghệ An", "kind": "province",
            "effective_date": "2025-07-01"}
    headers = {"X-Command-Id": "cmd-42", "X-Actor": "chuyen-vien-1"}
    first = requests.post(url, json=body, headers=headers, timeout=10)
    again = requests.post(url, json=body, headers=headers, timeout=10)
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == again.json()

    with ClusterRpcProxy(system) as proxy:
        log = proxy.members.read_events(after=0, limit=10)
    assert len(log) == 1
    assert log[0]["metadata"]["command_id"] == "cmd-42"
    assert log[0]["metadata"]["actor"] == "chuyen-vien-1"

    # Without the command id, the same body is a second command, refused by the rules.
    third = requests.post(url, json=body, timeout=10)
    assert third.status_code == 409
    assert third.json()["error"] == "rule_violated"
