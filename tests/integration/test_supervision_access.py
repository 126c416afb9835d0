"""Who may act on supervision's escalations, on RabbitMQ and PostgreSQL: a supervisor
of district X handles the escalations of X's cells and none of Y's, and what is recorded
as having handled one is the signed-in account, whatever the body says."""

from __future__ import annotations

from datetime import datetime

import pytest
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.access import Grant, Identity
from chibo.clock import FixedClock
from tests.support import ADMIN, as_caller, authenticated, running, services_config

#: A committee member supervising district X (hx) and nothing else.
SUPERVISOR_X = Identity("tk-giamsat-x", "Đồng chí Lò Thị Hoa (Huyện ủy X)",
                        (Grant("supervisor", "hx"),))
FORGED = "Chánh thanh tra (forged)"


@pytest.fixture
def system(pg_database_factory, amqp_uri):
    """Province p; districts hx and hy, each with one cell (cx, cy) of three members.
    Neither cell met in March 2025, so the close on 7 April raises one escalation for
    each, to its district."""
    clock = FixedClock(datetime(2025, 3, 10, 8, 0))
    config = services_config(pg_database_factory, amqp_uri, CLOCK=clock,
                             SUPERVISION={"grace_days": 5, "start_date": "2025-03-01"})
    with running(config), ClusterRpcProxy(config, timeout=60,
                                          context_data=as_caller(ADMIN)) as rpc:
        for unit in ({"unit_id": "p", "name": "Tỉnh ủy", "kind": "province"},
                     {"unit_id": "hx", "name": "Huyện ủy X", "kind": "committee",
                      "parent_id": "p"},
                     {"unit_id": "hy", "name": "Huyện ủy Y", "kind": "committee",
                      "parent_id": "p"},
                     {"unit_id": "cx", "name": "Chi bộ Bản Máy", "kind": "cell",
                      "parent_id": "hx"},
                     {"unit_id": "cy", "name": "Chi bộ Bản Ngàm", "kind": "cell",
                      "parent_id": "hy"}):
            rpc.members.establish_unit({**unit, "effective_date": "2020-01-01"})
        for cell in ("cx", "cy"):
            for m in range(3):
                rpc.members.admit_member({"member_id": f"{cell}-{m}", "full_name": "Hà Văn Thành",
                                          "cell_id": cell, "admitted_on": "2020-06-01"})
        clock.set(datetime(2025, 4, 7, 8, 0))
        rpc.supervision.close_periods()
        escalations = {e["cell_id"]: e for e in rpc.supervision.escalations(state="open")}
        assert set(escalations) == {"cx", "cy"}
        yield config, rpc, escalations


def supervision_log(rpc) -> list[dict]:
    return rpc.supervision.read_events(after=0, limit=5000)


def test_a_supervisor_of_x_cannot_resolve_an_escalation_of_a_cell_in_y(system):
    config, rpc, escalations = system
    base = f"http://{config['WEB_SERVER_ADDRESS']}/supervision/commands"
    before = len(supervision_log(rpc))
    of_y = escalations["cy"]["escalation_id"]
    client = authenticated(SUPERVISOR_X)
    for action, extra in (("resolve_escalation", {"how": "Đã họp bù"}),
                          ("acknowledge_escalation", {})):
        refused = client.post(f"{base}/{action}", json={"escalation_id": of_y, **extra},
                              timeout=10)
        assert refused.status_code == 403, refused.text
    with ClusterRpcProxy(config, timeout=30, context_data=as_caller(SUPERVISOR_X)) as as_x:
        with pytest.raises(RemoteError) as refused_rpc:
            as_x.supervision.resolve_escalation({"escalation_id": of_y, "how": "Đã họp bù"})
    assert refused_rpc.value.exc_type == "Forbidden"
    assert len(supervision_log(rpc)) == before  # nothing written
    (still,) = [e for e in rpc.supervision.escalations() if e["escalation_id"] == of_y]
    assert still["state"] == "raised"


def test_a_supervisor_of_x_resolves_an_escalation_in_x_as_themself(system):
    config, rpc, escalations = system
    base = f"http://{config['WEB_SERVER_ADDRESS']}/supervision/commands"
    of_x = escalations["cx"]["escalation_id"]
    client = authenticated(SUPERVISOR_X)
    acknowledged = client.post(f"{base}/acknowledge_escalation",
                               json={"escalation_id": of_x, "by": FORGED}, timeout=10)
    assert acknowledged.status_code == 201, acknowledged.text
    resolved = client.post(f"{base}/resolve_escalation", json={
        "escalation_id": of_x, "by": FORGED, "how": "Chi bộ đã sinh hoạt bù"}, timeout=10)
    assert resolved.status_code == 201, resolved.text
    assert resolved.json()["by"] == SUPERVISOR_X.name
    events = {e["type"]: e for e in supervision_log(rpc)
              if e["data"].get("escalation_id") == of_x}
    for kind in ("escalation_acknowledged", "escalation_resolved"):
        event = events[kind]
        assert event["data"]["by"] == SUPERVISOR_X.name
        assert event["metadata"]["actor"] == SUPERVISOR_X.account_id
        assert event["metadata"]["actor_name"] == SUPERVISOR_X.name
        assert event["metadata"]["actor_roles"] == [["supervisor", "hx"]]
    (after,) = [e for e in rpc.supervision.escalations() if e["escalation_id"] == of_x]
    assert (after["state"], after["acknowledged_by"]) == ("resolved", SUPERVISOR_X.name)


def test_a_supervisor_of_x_lists_the_escalations_of_x_only(system):
    config, _, escalations = system
    url = f"http://{config['WEB_SERVER_ADDRESS']}/supervision/escalations"
    client = authenticated(SUPERVISOR_X)
    listed = client.get(url, params={"unit": "hx"}, timeout=10)
    assert listed.status_code == 200, listed.text
    assert [e["cell_id"] for e in listed.json()] == ["cx"]
    assert client.get(url, params={"unit": "hy"}, timeout=10).status_code == 403
    assert client.get(url, timeout=10).status_code == 403  # the whole province
    everything = authenticated(ADMIN).get(url, timeout=10).json()
    assert sorted(e["cell_id"] for e in everything) == ["cx", "cy"]
