"""Processes starting at the same moment on one fresh database all migrate it without
error: one creates the schema, the others wait on the database's lock and find it at head.

Four processes (this file, run as a script) each hold a service's engine and wait on
stdin; every round the test makes a fresh database and sends its URL to all of them at
once, which is their starting gun. Ten rounds, the services in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]
PROCESSES = 4
ROUNDS = 10
SERVICES_IN_TURN = ("reporting", "supervision", "meetings", "members")


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_database(request, tmp_path):
    """Makes a new, empty database for a service on each call."""
    if request.param == "postgresql":
        make = request.getfixturevalue("pg_database_factory")
        return lambda round_, service: make(f"r{round_}_{service}")
    return lambda round_, service: f"sqlite:///{tmp_path}/r{round_}_{service}.db"


@pytest.fixture
def migrators():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = [subprocess.Popen([sys.executable, __file__], cwd=ROOT, env=env, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
               for _ in range(PROCESSES)]
    try:
        for process in started:
            assert process.stdout.readline().strip() == "ready"
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.stdin.close()
        for process in started:
            process.wait(timeout=60)


def test_processes_starting_at_once_on_a_fresh_database_all_migrate_it(
        fresh_database, migrators) -> None:
    from chibo.db import make_engine
    from chibo.migrate import current_revision, head_revision, tracks_of
    from chibo.nameko.runtime import service_schemas
    from services.app import SERVICES

    schemas = {name: (metadatas, scripts)
               for name, metadatas, scripts in service_schemas(SERVICES)}
    for round_ in range(ROUNDS):
        service = SERVICES_IN_TURN[round_ % len(SERVICES_IN_TURN)]
        url = fresh_database(round_, service)
        for process in migrators:  # the starting gun: every process is waiting on it
            process.stdin.write(f"{service} {url}\n")
        for process in migrators:
            process.stdin.flush()
        answers = [json.loads(process.stdout.readline()) for process in migrators]
        failures = [answer["error"] for answer in answers if "error" in answer]
        assert failures == [], f"round {round_} ({service}): {failures}"
        # Exactly one process made each track; the others found it at head.
        tracks = tracks_of(service, *schemas[service])
        for index, track in enumerate(tracks):
            steps = [answer["steps"][index] for answer in answers]
            assert sum(step["created"] for step in steps) == 1, steps
            assert {step["after"] for step in steps} == {head_revision(track)}
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                assert [current_revision(connection, t) for t in tracks] == \
                    [head_revision(t) for t in tracks]
                assert connection.exec_driver_sql("SELECT count(*) FROM event_head").scalar() \
                    == 1
        finally:
            engine.dispose()


def serve() -> None:
    """One process that migrates: waits for `service url` lines, answers each in JSON."""
    import traceback
    import warnings

    warnings.filterwarnings("ignore")
    from chibo.db import make_engine
    from chibo.migrate import migrate
    from chibo.nameko.runtime import service_schemas
    from services.app import SERVICES

    schemas = {name: (metadatas, scripts)
               for name, metadatas, scripts in service_schemas(SERVICES)}
    print("ready", flush=True)
    for line in sys.stdin:
        service, url = line.split()
        engine = make_engine(url)
        answer: dict[str, Any]
        try:
            migrated = migrate(engine, service, *schemas[service])
            answer = {"steps": [{"track": s.track, "before": s.before, "after": s.after,
                                 "created": s.created} for s in migrated.steps]}
        except Exception as exc:  # noqa: BLE001 - the test reports whatever a process raised
            traceback.print_exc()
            answer = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0]}"}
        finally:
            engine.dispose()
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    serve()
