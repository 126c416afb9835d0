"""The audit search is bounded: every filter reads one index range in order, a search
past its time limit is stopped with 503 and Retry-After, and a search in progress leaves
the rest of the process answering.

Runs embedded (in-process bus) on SQLite and, when it is there, on PostgreSQL."""

from __future__ import annotations

import eventlet
import pytest
import requests
from eventlet import patcher
from sqlalchemy import insert, select, text

from services.reporting import audit_search, read_model
from tests.integration.test_audit_status import INSPECTOR, TESTED_SERVICES, engine_of
from tests.support import NOW, bearer, embedded_config, running, wait_until

archive = read_model.archive
#: Archived events written straight into reporting's archive, under a source of their own
#: so no feed or source check takes them for its own.
FILLED = 30_000
FILL_SOURCE = "filled"


def filled_rows(count: int) -> list[dict]:
    return [{"source": FILL_SOURCE, "position": n, "event_id": f"filled-{n:08d}",
             "stream_id": f"bulk-{n % 700:04d}", "type": ("member_admitted", "meeting_held",
                                                         "visit_logged")[n % 3],
             "version": 1, "data": "{}", "metadata": "{}",
             "recorded_at": f"{NOW.date().isoformat()}T{n // 3600 % 24:02d}:"
                            f"{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}+00:00",
             "hash": "0" * 64, "actor": ("Lò Thị Xuân", "Hà Văn Thành")[n % 2],
             "correlation_id": None} for n in range(1, count + 1)]


def start(request, tmp_path, **overrides):
    config = embedded_config(tmp_path, **overrides)
    if request.param == "postgresql":
        make = request.getfixturevalue("pg_database_factory")
        config["DATABASES"] = {name: make(name) for name in config["DATABASES"]}
    return config


@pytest.fixture(params=["sqlite", "postgresql"])
def filled(request, tmp_path):
    """The services running over an archive of FILLED events."""
    config = start(request, tmp_path)
    with running(config, TESTED_SERVICES) as runner:
        engine = engine_of(runner, "reporting")
        with engine.begin() as connection:
            connection.execute(insert(archive), filled_rows(FILLED))
        yield config, engine


@pytest.fixture(params=["sqlite", "postgresql"])
def impatient(request, tmp_path):
    """The services with a search time limit no search over FILLED events can meet."""
    config = start(request, tmp_path, AUDIT={"search_timeout_seconds": 0.001})
    with running(config, TESTED_SERVICES) as runner:
        with engine_of(runner, "reporting").begin() as connection:
            connection.execute(insert(archive), filled_rows(FILLED))
        yield config


def events(config, **params) -> requests.Response:
    """The audit search over HTTP, as an inspector of the whole province."""
    return requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/reporting/api/audit/events",
                        params=params, headers=bearer(INSPECTOR), timeout=30)


def test_an_actor_nobody_is_is_answered_with_nothing(filled):
    config, _engine = filled
    for limit in (1, 50):
        response = events(config, actor="causation_id", limit=limit)
        assert response.status_code == 200, response.text
        assert response.json() | {"limit": None} == {
            "results": [], "total": 0, "offset": 0, "limit": None, "next": None,
            "previous": None}
    found = events(config, actor="Lò Thị Xuân", type="meeting_held", limit=2).json()
    assert found["total"] == FILLED // 6 and len(found["results"]) == 2
    assert [r["position"] for r in found["results"]] == [FILLED - 2, FILLED - 8]
    prefixed = events(config, stream="bulk-0069*", limit=1000).json()
    assert {r["stream_id"] for r in prefixed["results"]} == {"bulk-0069"}
    assert prefixed["total"] == len([n for n in range(1, FILLED + 1) if n % 700 == 69])


def test_every_filter_reads_one_index_range_in_order(filled):
    """SQLite's plan for each filter's page: a search of one index, never a scan of the
    archive, never a sort of what it found (the stream prefix alone sorts its matches)."""
    _config, engine = filled
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's plan is fixed by its indexes; PostgreSQL's by its statistics")
    for filters in ({"actor": "causation_id"}, {"type": "visit_logged"},
                    {"stream": "bulk-0001"}, {"source": "members"},
                    {"recorded_from": NOW.date().isoformat()}, {"stream": "bulk-0*"}):
        checked = audit_search._checked_filters(**{
            "source": None, "stream": None, "type": None, "actor": None,
            "recorded_from": None, "recorded_to": None, "limit": 1, "before": None,
            "after": None, "oldest": None, **filters})
        page = (select(archive).where(*audit_search._conditions(checked))
                .order_by(*audit_search._NEWEST_FIRST).limit(1))
        sql = str(page.compile(engine, compile_kwargs={"literal_binds": True}))
        with engine.connect() as connection:
            plan = [row[-1] for row in connection.execute(text("EXPLAIN QUERY PLAN " + sql))]
        assert plan[0].startswith("SEARCH archive USING INDEX"), (filters, plan)
        if "stream" not in filters or not filters["stream"].endswith("*"):
            assert len(plan) == 1, (filters, plan)


def test_a_search_past_its_time_limit_answers_503_with_retry_after(impatient):
    response = events(impatient, stream="bulk*", limit=1000)
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "1"
    body = response.json()
    assert body["error"] == "timed_out" and "narrow the filters" in body["message"]


@pytest.mark.parametrize("filled", ["sqlite"], indirect=True)
def test_the_services_answer_while_a_search_runs(filled, monkeypatch):
    """The search is held (in whatever thread it runs in) until /healthz has answered:
    run on the hub's thread, the hold would keep /healthz from answering until it ends."""
    config, _engine = filled
    real_threading = patcher.original("threading")
    release, started, done = real_threading.Event(), [], []
    search_by_query = audit_search.search_by_query

    def held_search(session, args):
        started.append(True)
        release.wait(timeout=20)
        return search_by_query(session, args)

    monkeypatch.setattr(audit_search, "search_by_query", held_search)
    search = eventlet.spawn(lambda: done.append(events(config, stream="bulk*", limit=1000)))
    wait_until(lambda: started, message="the search to start")
    health = requests.get(f"http://{config['WEB_SERVER_ADDRESS']}/healthz", timeout=30)
    answered_first = not done
    release.set()
    search.wait()
    assert health.status_code == 200
    assert answered_first, "/healthz waited for the search"
    assert done[0].status_code == 200 and done[0].json()["total"] == FILLED
