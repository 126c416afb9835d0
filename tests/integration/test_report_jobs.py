"""The period reports' jobs in reporting's database (services/reporting/report_jobs.py):
requests for one report at the same moment make it once; a job left running by a process
that died is marked failed and made again on the next request; only those who asked see
a job; old jobs are pruned. Then two reporting instances on one PostgreSQL database: a
job asked on one is polled and downloaded on the other, and two identical requests, one
to each, make one report."""

from __future__ import annotations

import eventlet
import eventlet.event
import pytest
import requests
from sqlalchemy import func, select

from chibo.clock import FixedClock
from chibo.db import create_schema, make_engine, session_factory
from services.reporting import period_report
from services.reporting.report_jobs import (
    STOPPED,
    Made,
    ReportJobs,
    ReportKey,
    report_job_readers,
    report_jobs,
)
from tests.support import (
    ADMIN,
    NOW,
    bearer,
    free_port,
    reporting_caught_up,
    running,
    services_config,
    two_cells_of_three,
    wait_until,
)


def key(unit: str = "x", lang: str = "vi") -> ReportKey:
    return ReportKey("pdf", unit, "2026-Q2", None, lang, {"signer_name": "Lò Văn Minh"},
                     [["members", 12], "2026-06-17"], f"Báo cáo quý II năm 2026 — {unit}")


@pytest.fixture
def jobs(any_db_url):
    engine = make_engine(any_db_url)
    create_schema(engine, report_jobs.metadata)
    yield ReportJobs(session_factory(engine), FixedClock(NOW), wait_seconds=60)
    engine.dispose()


class Producer:
    """Makes a report when let go, counting how often it is asked to."""

    def __init__(self, body: bytes = b"%PDF-1.7 report") -> None:
        self.body = body
        self.calls = 0
        self.go = eventlet.event.Event()

    def __call__(self, step) -> Made:
        self.calls += 1
        self.go.wait()
        for _ in range(3):
            step()
        return Made(self.body, "application/pdf", "bao-cao.pdf")


def test_requests_at_the_same_moment_make_the_report_once(jobs):
    produce = Producer()
    started = [eventlet.spawn(jobs.start, key(), f"tk-{n}", 3, produce) for n in range(4)]
    waiting = [eventlet.spawn(jobs.make_now, key(), f"tk-{n}", produce) for n in range(4)]
    found = [thread.wait() for thread in started]
    assert len({job.job_id for job in found}) == 1 and {job.state for job in found} == {
        "running"}
    wait_until(lambda: produce.calls == 1, message="the report to be begun")
    produce.go.send()
    made = [thread.wait() for thread in waiting]
    assert {m.body for m in made} == {produce.body} and produce.calls == 1
    job = jobs.get(found[0].job_id, "tk-3")
    # Whichever request claimed it set the number of steps; all of them are done.
    assert (job.state, job.filename) == ("done", "bao-cao.pdf")
    assert job.done_steps == job.total_steps
    assert jobs.file(job.job_id, "tk-0") == made[0]
    with jobs.factory() as session:
        assert session.execute(select(func.count()).select_from(report_jobs)).scalar() == 1
        assert session.execute(select(func.count()).select_from(
            report_job_readers)).scalar() == 4
    # Asked again (the same key), served as made: nothing is made again.
    assert jobs.make_now(key(), "tk-9", produce) == made[0] and produce.calls == 1


def test_a_job_whose_process_died_is_marked_failed_and_made_again(jobs):
    # A claim whose maker is gone: its proof of life let go, its report never written.
    job, maker = jobs._claim(key(), "tk-a", 3)
    maker.release()
    left = jobs.get(job.job_id, "tk-a")
    assert left.state == "failed" and left.status()["stopped"] is True
    with jobs.factory() as session:
        assert session.execute(select(report_jobs.c.error)).scalar() == STOPPED
    produce = Producer()
    produce.go.send()
    again = jobs.start(key(), "tk-a", 3, produce)
    assert again.job_id == job.job_id and again.state == "running"
    wait_until(lambda: jobs.get(job.job_id, "tk-a").state == "done",
               message="the report to be made again")
    assert produce.calls == 1 and jobs.file(job.job_id, "tk-a").body == produce.body


def test_a_report_that_fails_is_made_again_when_asked_again(jobs):
    def failing(step):
        raise RuntimeError("no fonts")

    with pytest.raises(RuntimeError):
        jobs.make_now(key(), "tk-a", failing)
    produce = Producer()
    produce.go.send()
    assert jobs.make_now(key(), "tk-a", produce).body == produce.body


def test_only_those_who_asked_see_a_job_and_old_jobs_are_pruned(jobs):
    jobs.keep = 3
    produce = Producer()
    produce.go.send()
    first = jobs.start(key("u0"), "tk-a", 3, produce)
    wait_until(lambda: jobs.get(first.job_id, "tk-a").state == "done", message="the job")
    assert jobs.get(first.job_id, "tk-b") is None and jobs.file(first.job_id, "tk-b") is None
    for n in range(1, 5):
        jobs.make_now(key(f"u{n}"), "tk-a", produce)
    with jobs.factory() as session:
        kept = session.execute(select(report_jobs.c.unit_id, report_jobs.c.job_id)
                               .order_by(report_jobs.c.id)).all()
        readers = session.execute(select(report_job_readers.c.job_id)).scalars().all()
    assert [unit for unit, _ in kept] == ["u2", "u3", "u4"]
    assert sorted(readers) == sorted(job_id for _, job_id in kept)
    assert jobs.get(first.job_id, "tk-a") is None


# -- two reporting instances on one PostgreSQL database -----------------------------------

def test_two_instances_share_their_jobs_and_make_a_report_once(pg_database_factory, amqp_uri,
                                                               monkeypatch):
    from chibo.nameko.runtime import rpc_client
    from services.reporting.entrypoints import ReportingService
    from tests.support import token

    config = services_config(pg_database_factory, amqp_uri)
    other = {**config, "WEB_SERVER_ADDRESS": f"127.0.0.1:{free_port()}"}
    with running(config), rpc_client(config, timeout=60, token=token(ADMIN)) as proxy:
        two_cells_of_three(proxy, "Lò Văn Minh")
        wait_until(lambda: reporting_caught_up(proxy), timeout=60,
                   message="reporting to read every source's log")
        with running(other, [ReportingService]):
            one, two = (f"http://{c['WEB_SERVER_ADDRESS']}" for c in (config, other))

            def get(base: str, path: str, **kwargs) -> requests.Response:
                return requests.get(base + path, timeout=60, headers=bearer(ADMIN), **kwargs)

            # Asked on one instance, polled and downloaded on the other.
            path = "/reporting/reports/period.pdf?unit=x&period=2026-Q2&background=1"
            sent = get(one, path, allow_redirects=False)
            assert sent.status_code == 303, sent.text[:300]
            job = sent.headers["Location"]
            assert get(two, path, allow_redirects=False).headers["Location"] == job
            wait_until(lambda: get(two, job + "?format=json").json()["state"] == "done",
                       timeout=60, message="the report to be made")
            assert 'data-testid="report-job-file"' in get(two, job).text
            made = get(two, job + "/file")
            assert made.status_code == 200 and made.content.startswith(b"%PDF")
            assert get(one, job + "/file").content == made.content

            # Two identical requests at once, one to each instance: one report made.
            assembled, claims, go = [], [], eventlet.event.Event()
            real_assemble, real_claim = period_report.assemble, ReportJobs._claim

            def assemble(*args, **kwargs):
                assembled.append(1)
                go.wait()  # until the other request has found the report being made
                return real_assemble(*args, **kwargs)

            def claim(self, *args, **kwargs):
                claims.append(1)
                return real_claim(self, *args, **kwargs)

            monkeypatch.setattr(period_report, "assemble", assemble)
            monkeypatch.setattr(ReportJobs, "_claim", claim)
            path = "/reporting/reports/period.xlsx?unit=x&period=2026-Q2&signer=Lò Văn Minh"
            first = eventlet.spawn(get, one, path)
            wait_until(lambda: assembled, message="the first request to make the report")
            second = eventlet.spawn(get, two, path)
            wait_until(lambda: len(claims) >= 2, message="the second request to ask")
            go.send()
            answers = [first.wait(), second.wait()]
            assert [a.status_code for a in answers] == [200, 200]
            assert answers[0].content == answers[1].content and answers[0].content[:2] == b"PK"
            assert len(assembled) == 1
