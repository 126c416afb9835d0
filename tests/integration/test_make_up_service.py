"""A make-up meeting (sinh hoạt bù) through the running services: a cell misses
February, supervision escalates it, the cell makes February up in March over HTTP;
the escalation resolves as made up, the make-up does not count for March, and the
dashboard shows February as held late, in either language."""

from __future__ import annotations

from datetime import datetime

import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.clock import FixedClock
from tests.support import (
    ADMIN,
    as_caller,
    bearer,
    embedded_config,
    reporting_caught_up,
    running,
    two_cells_of_three,
    wait_until,
)
from tests.unit.test_reporting_web import visible_text

TIMEOUT = 30


def attendance(cell: str) -> list[dict]:
    return [{"member_id": f"{cell}-{m}", "status": "present"} for m in range(3)]


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    clock = FixedClock(datetime(2026, 2, 10, 8, 0))
    config = embedded_config(tmp_path_factory.mktemp("make-up"), CLOCK=clock,
                             SUPERVISION={"grace_days": 5, "start_date": "2026-02-01"})
    with running(config), ClusterRpcProxy(config, timeout=60,
                                                 context_data=as_caller(ADMIN)) as rpc:
        two_cells_of_three(rpc, "Lò Văn Hùng")
        rpc.meetings.record_meeting_held({"meeting_id": "c1-02", "cell_id": "c1",
                                          "held_on": "2026-02-06", "attendance": attendance("c1")})
        clock.set(datetime(2026, 3, 7, 8, 0))  # February closed on 5 March: c2 missed it
        rpc.supervision.close_periods()
        clock.set(datetime(2026, 3, 12, 18, 0))
        yield f"http://{config['WEB_SERVER_ADDRESS']}", rpc, clock


def record(base: str, **payload) -> requests.Response:
    return requests.post(f"{base}/meetings/commands/record_meeting_held",
                         headers=bearer(ADMIN), timeout=TIMEOUT,
                         json={"cell_id": "c2", "attendance": attendance("c2"), **payload})


def missed_february(rpc) -> dict:
    [found] = [e for e in rpc.supervision.escalations()
               if (e["rule"], e["subject_id"], e["period"]) == (
                   "missed_regular_meeting", "c2", "2026-02")]
    return found


def test_a_make_up_resolves_the_missed_month_and_shows_as_held_late(system):
    base, rpc, clock = system
    raised = missed_february(rpc)
    assert raised["state"] == "raised"
    assert raised["reason"] == "Chi bộ Bản Ngàm không sinh hoạt thường kỳ tháng 02/2026"

    made_up = record(base, meeting_id="c2-bu-02", held_on="2026-03-12",
                     makes_up_month="2026-02")
    assert made_up.status_code == 201, made_up.text
    meeting = requests.get(f"{base}/meetings/meetings/c2-bu-02", headers=bearer(ADMIN),
                           timeout=TIMEOUT).json()
    assert (meeting["makes_up_month"], meeting["flags"]) == ("2026-02", [])

    again = record(base, meeting_id="c2-bu-02b", held_on="2026-03-12",
                   makes_up_month="2026-02")
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "rule_violated" and "02/2026" in again.json()["message"]

    clock.set(datetime(2026, 3, 13, 8, 0))
    rpc.supervision.close_periods()
    resolved = missed_february(rpc)
    assert (resolved["state"], resolved["resolved_how"]) == ("resolved", "made_up")

    # The make-up counts for February only: March's own meeting is not an extra one.
    own = record(base, meeting_id="c2-03", held_on="2026-03-13")
    assert own.status_code == 201, own.text
    assert requests.get(f"{base}/meetings/meetings/c2-03", headers=bearer(ADMIN),
                        timeout=TIMEOUT).json()["flags"] == []

    wait_until(lambda: reporting_caught_up(rpc), timeout=60,
               message="reporting to read every source's log")
    grid = requests.get(f"{base}/reporting/api/heatmap?unit=x&year=2026",
                        headers=bearer(ADMIN), timeout=TIMEOUT).json()
    states = {row["unit_id"]: row["months"] for row in grid["rows"]}
    assert states["c2"]["2026-02"]["state"] == "held_late"
    assert states["c1"]["2026-02"]["state"] == "held"
    assert states["c2"]["2026-03"]["state"] == "held"
    assert states["c1"]["2026-03"]["state"] == "not_due"  # March is still running

    page = requests.get(f"{base}/reporting/units/x/heatmap?year=2026", headers=bearer(ADMIN),
                        timeout=TIMEOUT).text
    assert 'class="hm held-late level-unscored" data-state="held_late"' in page
    assert "Sinh hoạt bù (muộn)" in visible_text(page)
    english = visible_text(requests.get(f"{base}/reporting/escalations?state=&lang=en",
                                        headers=bearer(ADMIN), timeout=TIMEOUT).text)
    assert "Chi bộ Bản Ngàm: no regular meeting in 02/2026" in english
    assert "Made up by a make-up meeting" in english
    minutes = visible_text(requests.get(f"{base}/reporting/meetings/c2-bu-02",
                                        headers=bearer(ADMIN), timeout=TIMEOUT).text)
    assert "Sinh hoạt bù cho tháng 02/2026" in minutes


@pytest.mark.parametrize("month, problem", [
    ("2026-13", "Expected a month as YYYY-MM"),
    ("2026-03", "Must be a month before the meeting's own (03/2026)"),
    ("2025-11", "At most 3 months back"),
    ("2019-12", "At most 3 months back"),
])
def test_a_make_up_month_that_cannot_be_is_refused_by_field_and_nothing_is_written(
        system, month, problem):
    base, rpc, _ = system
    before = rpc.meetings.verify_log()["events"]
    response = record(base, meeting_id=f"c2-bad-{month}", held_on="2026-03-12",
                      makes_up_month=month)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_failed" and set(body["fields"]) == {"makes_up_month"}
    assert body["fields"]["makes_up_month"][0].startswith(problem)
    assert rpc.meetings.verify_log()["events"] == before


def test_two_make_ups_of_one_month_cannot_both_be_indexed(any_db_url):
    """The backstop behind the rule's check: on PostgreSQL two commands decide side by
    side, so the second make-up of a month to commit fails whole as a conflict."""
    from types import SimpleNamespace

    from chibo.db import create_schema, make_engine, session_factory
    from chibo.errors import ConcurrencyError
    from services.meetings import read_model

    engine = make_engine(any_db_url)
    create_schema(engine, read_model.metadata)

    def held(meeting_id: str) -> SimpleNamespace:
        return SimpleNamespace(type="meeting_held", data={
            "meeting_id": meeting_id, "cell_id": "c2", "kind": "regular",
            "held_on": "2026-03-03", "makes_up_month": "2026-02"})

    with session_factory(engine)() as session, session.begin():
        read_model.index(session, [held("m-first")])
    with session_factory(engine)() as session, session.begin():
        with pytest.raises(ConcurrencyError, match="2026-02"):
            read_model.index(session, [held("m-second")])
    with session_factory(engine)() as session:
        assert read_model.regular_meetings_for(session, "c2", "2026-02") == 1
    engine.dispose()
