"""The members HTTP API end to end in one process: a restructuring seen through
"as of" queries, the attendance roll, roster rows, personal data kept private."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.db import make_engine, session_factory
from chibo.eventstore.store import EventStore
from services.shared.events.members import catalogue
from tests.support import TODAY, as_caller, bearer, embedded_config, running

START = date(2024, 1, 1)
REORG = date(2025, 7, 1)


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("members-api"))
    with running(config):
        yield config


def command(system, name: str, body: dict) -> dict:
    response = requests.post(f"http://{system['WEB_SERVER_ADDRESS']}/members/commands/{name}",
                             json=body, headers=bearer(), timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def get(system, path: str, **params) -> dict:
    response = requests.get(f"http://{system['WEB_SERVER_ADDRESS']}{path}", params=params,
                            headers=bearer(), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def unit(system, unit_id, name, kind, parent=None, on=START):
    command(system, "establish_unit", {"unit_id": unit_id, "name": name, "kind": kind,
                                       "parent_id": parent, "effective_date": on.isoformat()})


def test_the_2025_reorganisation_as_of_before_and_after(system):
    unit(system, "t", "Tỉnh ủy Thanh Hóa", "province")
    unit(system, "h", "Huyện ủy Quan Sơn", "committee", "t")
    unit(system, "x", "Đảng ủy xã Sơn Thủy", "committee", "h")
    unit(system, "cb", "Chi bộ Bản Máy", "cell", "x")
    unit(system, "x2", "Đảng ủy xã Sơn Điện", "committee", "h")
    unit(system, "cb2", "Chi bộ Bản Ngàm", "cell", "x2")
    for n, cell in enumerate(["cb", "cb", "cb2"]):
        command(system, "admit_member", {"member_id": f"m{n}", "full_name": "Hà Văn Thành",
                                         "cell_id": cell, "admitted_on": START.isoformat()})

    # Districts abolished: the commune moves (with its cells) directly under the province.
    command(system, "move_unit", {"unit_id": "x", "parent_id": "t",
                                  "effective_date": REORG.isoformat()})
    command(system, "merge_units", {"merged_ids": ["x2"], "successor_id": "x",
                                    "effective_date": REORG.isoformat()})
    command(system, "dissolve_unit", {"unit_id": "h", "reason": "Bỏ cấp huyện",
                                      "effective_date": REORG.isoformat()})

    before = get(system, "/members/units/cb2", on="2025-06-30")
    after = get(system, "/members/units/cb2", on="2025-07-01")
    assert [u["unit_id"] for u in before["path_on"]] == ["t", "h", "x2", "cb2"]
    assert [u["unit_id"] for u in after["path_on"]] == ["t", "x", "cb2"]
    assert [u["unit_id"] for u in get(system, "/members/units/cb")["path_on"]] == ["t", "x", "cb"]
    assert get(system, "/members/units/h", on="2025-06-30")["cells_covered_on"] == ["cb", "cb2"]
    assert get(system, "/members/units/x", on="2025-06-30")["cells_covered_on"] == ["cb"]
    assert get(system, "/members/units/x", on="2025-07-01")["cells_covered_on"] == ["cb", "cb2"]
    assert get(system, "/members/units/x2")["successor_today"] == "x"

    tree_then = get(system, "/members/tree", on="2025-06-30")
    tree_now = get(system, "/members/tree")
    assert [c["unit_id"] for c in tree_then["roots"][0]["children"]] == ["h"]
    assert sorted(c["unit_id"] for c in tree_now["roots"][0]["children"]) == ["x"]


def test_roll_names_who_must_attend_and_who_is_excused(system):
    unit(system, "t9", "Tỉnh ủy Nghệ An", "province")
    unit(system, "x9", "Đảng ủy phường 9", "committee", "t9")
    unit(system, "c9", "Chi bộ Khối 9", "cell", "x9")
    for n, name in enumerate(["Lò Thị Xuân", "Vi Văn Sơn", "Lương Văn Quyết"]):
        command(system, "admit_member", {"member_id": f"r{n}", "full_name": name,
                                         "cell_id": "c9", "admitted_on": START.isoformat()})
    away_from = TODAY - timedelta(days=10)
    command(system, "mark_working_away", {"member_id": "r1", "reason": "Đi làm ăn xa",
                                          "from_date": away_from.isoformat()})
    roll = get(system, "/members/cells/c9/roll")
    assert [m["member_id"] for m in roll["must_attend"]] == ["r2", "r0"]  # by name
    assert roll["excused"] == [{"member_id": "r1", "full_name": "Vi Văn Sơn",
                                "status": "probationary", "standing": "working_away",
                                "reason": "Đi làm ăn xa"}]
    earlier = get(system, "/members/cells/c9/roll",
                  on=(away_from - timedelta(days=1)).isoformat())
    assert len(earlier["must_attend"]) == 3 and earlier["excused"] == []


def test_import_batch_is_idempotent_and_keeps_personal_data_private(system):
    unit(system, "t7", "Tỉnh ủy Hà Tĩnh", "province")
    unit(system, "x7", "Đảng ủy xã 7", "committee", "t7")
    unit(system, "c7", "Chi bộ Thôn 7", "cell", "x7")
    rows = [{"line": 2, "member_code": "DV0001", "full_name": "Nguyễn Thị Hạnh",
             "birth_date": "1980-05-06", "gender": "female", "cell_code": "c7",
             "admitted_on": "2010-03-02", "full_member_on": "2011-03-02", "status": "full"},
            {"line": 3, "member_code": "DV0002", "full_name": "Trần Văn Bình",
             "birth_date": None, "gender": "male", "cell_code": "nowhere",
             "admitted_on": "2012-01-01", "full_member_on": None, "status": "probationary"}]
    url = f"http://{system['WEB_SERVER_ADDRESS']}/members/import-batches"
    first = requests.post(url, json={"rows": rows}, headers=bearer(), timeout=10).json()
    assert (first["admitted"], first["unchanged"]) == (1, 0)
    assert [r["line"] for r in first["rejected"]] == [3]
    again = requests.post(url, json={"rows": rows[:1]}, headers=bearer(), timeout=10).json()
    assert (again["admitted"], again["changed"], again["unchanged"], again["events"]) \
        == (0, 0, 1, 0)
    renamed = requests.post(url, json={"rows": [{**rows[0], "full_name": "Nguyễn Thị Hạnh Mai"}]},
                            headers=bearer(), timeout=10).json()
    assert (renamed["changed"], renamed["events"]) == (1, 1)

    with ClusterRpcProxy(system, context_data=as_caller()) as proxy:
        published = proxy.members.read_events(after=0, limit=1000)
    personal = [e for e in published if e["type"] == "member_personal_data_recorded"]
    assert personal and personal[0]["data"]["birth_date"] is None
    engine = make_engine(system["DATABASES"]["members"])
    with session_factory(engine)() as session:
        (kept,) = [e for e in EventStore(session, catalogue).read_stream("member-DV0001")
                   if e.type == "member_personal_data_recorded"]
    engine.dispose()
    assert kept.data["birth_date"] == "1980-05-06"


def test_openapi_describes_every_command(system):
    spec = get(system, "/members/openapi.json")
    assert spec["openapi"].startswith("3.")
    assert "/members/commands/merge_units" in spec["paths"]
    admit = spec["components"]["schemas"]["AdmitMember"]
    assert {"full_name", "cell_id", "admitted_on"} <= set(admit["required"])


def test_a_confirmation_reminder_is_issued_once_when_probation_ends(system):
    unit(system, "t5", "Tỉnh ủy Quảng Trị", "province")
    unit(system, "x5", "Đảng ủy xã 5", "committee", "t5")
    unit(system, "c5", "Chi bộ Thôn 5", "cell", "x5")
    admitted = TODAY - timedelta(days=400)
    command(system, "admit_member", {"member_id": "p1", "full_name": "Hồ Thị Lan",
                                     "cell_id": "c5", "admitted_on": admitted.isoformat()})
    command(system, "admit_member", {"member_id": "p2", "full_name": "Hồ Văn Nam",
                                     "cell_id": "c5",
                                     "admitted_on": (TODAY - timedelta(days=30))
                                     .isoformat()})
    with ClusterRpcProxy(system, context_data=as_caller()) as proxy:
        first = proxy.members.issue_confirmation_reminders()
        second = proxy.members.issue_confirmation_reminders()
        log = proxy.members.read_events(after=0, limit=5000)
    reminders = [e["data"]["member_id"] for e in log
                 if e["type"] == "membership_confirmation_due"]
    assert reminders.count("p1") == 1 and "p2" not in reminders
    assert first >= 1 and second == 0


def test_a_committees_staff_see_the_tree_below_it_and_nothing_beside_it(system):
    from chibo.access import Grant, Identity

    for unit_id, name, kind, parent in (("st", "Tỉnh ủy Sơn La", "province", None),
                                        ("sa", "Đảng ủy xã Chiềng An", "committee", "st"),
                                        ("sa-1", "Chi bộ Bản Mòng", "cell", "sa"),
                                        ("sb", "Đảng ủy xã Chiềng Cơi", "committee", "st")):
        unit(system, unit_id, name, kind, parent)
    staff = Identity("staff-sa", "Cán bộ xã Chiềng An", (Grant("staff", "sa"),))
    base = f"http://{system['WEB_SERVER_ADDRESS']}/members/tree"

    mine = requests.get(base, params={"unit": "sa"}, headers=bearer(staff), timeout=10)
    assert mine.status_code == 200, mine.text
    assert [(r["unit_id"], [c["unit_id"] for c in r["children"]])
            for r in mine.json()["roots"]] == [("sa", ["sa-1"])]
    for elsewhere in ({"unit": "sb"}, {"unit": "st"}, {}):
        refused = requests.get(base, params=elsewhere, headers=bearer(staff), timeout=10)
        assert refused.status_code == 403, (elsewhere, refused.text)
    assert requests.get(base, params={"unit": "sa"}, timeout=10).status_code == 401
