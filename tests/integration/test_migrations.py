"""Migrations: a database commit c3d112c made and filled upgrades to head with nothing lost
and the services work on it; the revisions alone reach the schema the code declares; a
database today's create_all made is recognised. Each on SQLite and PostgreSQL.

The old databases are tests/fixtures/c3d112c/*.sql, dumped from that commit's own
services (see generate.py there)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import marshmallow
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from marshmallow import fields
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, func, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from chibo.clock import FixedClock
from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.audit import verify_log
from chibo.eventstore.store import EventStore, NewEvent
from chibo.migrate import head_revision, migrate, tracks_of, upgrade
from chibo.nameko.runtime import service_schemas
from services.app import SERVICES
from services.shared.events import catalogue
from tests.support import (
    ADMIN,
    NOW,
    SERVICE_NAMES,
    as_caller,
    embedded_config,
    running,
    wait_until,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "c3d112c"
#: Who and which correlation the fixture's commands were sent with (generate.py).
ACTOR = "Cán bộ Ủy ban Kiểm tra"
CORRELATION = "fixture-c3d112c"
#: Reporting's read models whose shape changed: made anew and filled by a rebuild.
RESHAPED = {"members", "member_years", "cell_periods", "node_periods"}
#: Meetings' roster replica, emptied by its revision 0003 and refilled from members' log
#: (with the tree's events) when the service starts; its feed's watermark goes back to 0.
REFILLED = {"replica_units", "replica_member_events", "replica_member_cells", "feed_watermarks"}
HEADS = {"kernel": "0003", "members": "0003", "meetings": "0004", "supervision": "0002",
         "reporting": "0008"}

checks = Catalogue()
checks.include(catalogue)


@checks.event("migration_checked", 1)
class MigrationChecked(marshmallow.Schema):
    service = fields.String(required=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path) -> tuple[str, dict[str, str]]:
    """The backend's name and an empty database per service."""
    if request.param == "sqlite":
        return "sqlite", {name: f"sqlite:///{tmp_path}/{name}.db" for name in SERVICE_NAMES}
    make = request.getfixturevalue("pg_database_factory")
    return "postgresql", {name: make(name) for name in SERVICE_NAMES}


def load_fixture(url: str, service: str, backend: str) -> None:
    script = (FIXTURES / f"{service}.{backend}.sql").read_text(encoding="utf-8")
    if backend == "sqlite":
        with closing(sqlite3.connect(make_url(url).database)) as db:
            db.executescript(script)
        return
    # Its own connection, closed after: pg_dump's script empties the search_path.
    engine = create_engine(make_url(url).set(drivername="postgresql+psycopg2"),
                           poolclass=NullPool)
    raw = engine.raw_connection()
    try:
        raw.cursor().execute(script)
        raw.commit()
    finally:
        raw.close()
        engine.dispose()


def rows_by_table(engine: Any) -> dict[str, tuple[list[str], Counter]]:
    """Every table's columns, and its rows as those columns' values, counted."""
    with engine.connect() as connection:
        inspector = inspect(connection)
        found = {}
        for name in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(name)]
            found[name] = columns, rows_of(connection, name, columns)
        return found


def rows_of(connection: Any, name: str, columns: list[str]) -> Counter:
    selected = select(*(text(f'"{c}"') for c in columns)).select_from(table(name))
    return Counter(tuple(row) for row in connection.execute(selected))


def schema_differences(engine: Any, service: str, metadatas: Any, scripts: Any) -> list:
    with engine.connect() as connection:
        return [difference for track in tracks_of(service, metadatas, scripts)
                for difference in compare_metadata(
                    MigrationContext.configure(connection, opts={"include_name": track.includes}),
                    list(track.metadatas))]


def test_a_database_c3d112c_made_upgrades_with_nothing_lost_and_the_services_work_on_it(
        backend, tmp_path) -> None:
    name_of_backend, urls = backend
    schemas = list(service_schemas(SERVICES))
    engines = {name: make_engine(urls[name]) for name, _, _ in schemas}
    try:
        before = {}
        for name, _, _ in schemas:
            load_fixture(urls[name], name, name_of_backend)
            before[name] = rows_by_table(engines[name])
        assert before["supervision"]["escalations"][1] and before["reporting"]["meetings"][1]
        assert "details" not in {c["name"] for c in inspect(engines["supervision"])
                                 .get_columns("escalations")}

        migrations = {name: migrate(engines[name], name, metadatas, scripts)
                      for name, metadatas, scripts in schemas}

        for name, migrated in migrations.items():
            # No version table: recognised as c3d112c's schema, then upgraded to head.
            assert [(s.track, s.recognised, s.after) for s in migrated.steps] == [
                ("kernel", "0001", HEADS["kernel"]), (name, "0001", HEADS[name])]
        assert any("rebuild" in notice for notice in migrations["reporting"].notices)
        for name, metadatas, scripts in schemas:
            assert schema_differences(engines[name], name, metadatas, scripts) == []

        for name, tables in before.items():
            with engines[name].connect() as connection:
                for table_name, (columns, rows) in tables.items():
                    if name == "reporting" and table_name in RESHAPED:
                        continue
                    if name == "meetings" and table_name in REFILLED:
                        continue
                    assert rows_of(connection, table_name, columns) == rows, \
                        f"{name}.{table_name}"
        assert_new_columns_hold_their_defaults(engines)
        assert_event_stores_read_verify_and_append(engines, before)
        assert_reporting_is_asked_to_rebuild(engines["reporting"])
        assert_meetings_replica_is_emptied_for_a_refill(engines["meetings"])
        assert any("members" in notice for notice in migrations["meetings"].notices)
    finally:
        for engine in engines.values():
            engine.dispose()
    assert_the_services_run_on_it(tmp_path, urls)


def assert_new_columns_hold_their_defaults(engines: dict[str, Any]) -> None:
    with engines["supervision"].connect() as connection:
        assert connection.execute(text("SELECT details FROM escalations")).scalars().all() \
            == [None]
    with engines["reporting"].connect() as connection:
        assert set(connection.execute(text("SELECT details FROM escalations")).scalars()) \
            == {None}
        assert set(connection.execute(text("SELECT makes_up_month FROM meetings")).scalars()) \
            == {None}
        archived = connection.execute(
            text("SELECT metadata, actor, correlation_id FROM archive")).all()
    # Copied out of each event's metadata, as the projector copies new ones.
    assert archived and all(
        (row.actor, row.correlation_id) == (json.loads(row.metadata).get("actor"),
                                            json.loads(row.metadata).get("correlation_id"))
        for row in archived)
    assert (ACTOR, CORRELATION) in {(row.actor, row.correlation_id) for row in archived}


def assert_event_stores_read_verify_and_append(engines: dict[str, Any],
                                               before: dict[str, Any]) -> None:
    clock = FixedClock(NOW)
    for name, engine in engines.items():
        logged = sum(before[name]["events"][1].values())
        factory = session_factory(engine)
        with unit_of_work(factory) as session:
            store = EventStore(session, checks, clock)
            assert len(store.read_all(limit=100_000)) == logged
            store.append(f"migration-{name}", 0, [NewEvent("migration_checked",
                                                           {"service": name})])
        with factory() as session:
            assert list(verify_log(session)) == [], name
            assert EventStore(session, checks, clock).head_position() == logged + 1


def assert_reporting_is_asked_to_rebuild(engine: Any) -> None:
    """The reshaped read models are empty, and a request to project the archive again
    waits for the service's start."""
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM members")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM rebuild_requests")).scalar() == 1


def assert_meetings_replica_is_emptied_for_a_refill(engine: Any) -> None:
    with engine.connect() as connection:
        for name in REFILLED - {"feed_watermarks"}:
            assert connection.execute(text(f"SELECT count(*) FROM {name}")).scalar() == 0, name
        assert connection.execute(text(
            "SELECT position FROM feed_watermarks WHERE source = 'members'")).scalar() == 0


def assert_the_services_run_on_it(tmp_path: Path, urls: dict[str, str]) -> None:
    """Every service starts on the upgraded databases, takes a command, and reporting
    archives the event it wrote; reporting projected its archive again as it started,
    with no `chibo rebuild` by hand."""
    config = embedded_config(tmp_path)
    config["DATABASES"] = dict(urls)
    reporting = make_engine(urls["reporting"])

    def archived_units() -> int:
        with reporting.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(table("archive"))
                .where(text("type = 'unit_established'"))).scalar_one()

    def count(table_name: str) -> int:
        with reporting.connect() as connection:
            return connection.execute(text(f"SELECT count(*) FROM {table_name}")).scalar_one()

    meetings = make_engine(urls["meetings"])

    def tree_events_in_meetings() -> int:
        with meetings.connect() as connection:
            return connection.execute(text("SELECT count(*) FROM replica_unit_events")
                                      ).scalar_one()

    try:
        assert archived_units() == 4
        with running(config), ClusterRpcProxy(config, timeout=60,
                                              context_data=as_caller(ADMIN)) as rpc:
            assert count("rebuild_requests") == 0
            assert count("members") == 6 and count("cell_periods") > 0
            wait_until(lambda: tree_events_in_meetings() == 4, timeout=60,
                       message="meetings to refill its replica with the tree's events")
            rpc.members.establish_unit({"unit_id": "c3", "name": "Chi bộ Bản Pọng",
                                        "kind": "cell", "parent_id": "x",
                                        "effective_date": "2025-04-01"})
            wait_until(lambda: archived_units() == 5, timeout=60,
                       message="reporting to archive the new cell")
            escalations = rpc.supervision.escalations()
            assert "c2" in {e["subject_id"] for e in escalations}
    finally:
        reporting.dispose()
        meetings.dispose()


def test_the_revisions_alone_make_the_schema_the_code_declares(backend) -> None:
    """What a new database gets in one step (create_all, stamped head) and what the
    revisions make from nothing are the same schema: no revision is missing."""
    _, urls = backend
    for name, metadatas, scripts in service_schemas(SERVICES):
        engine = make_engine(urls[name])
        try:
            with engine.begin() as connection:
                for track in tracks_of(name, metadatas, scripts):
                    upgrade(connection, track)
            assert schema_differences(engine, name, metadatas, scripts) == [], name
        finally:
            engine.dispose()


def test_a_database_todays_create_all_made_is_recognised_at_head(backend) -> None:
    _, urls = backend
    for name, metadatas, scripts in service_schemas(SERVICES):
        engine = make_engine(urls[name])
        try:
            create_schema(engine, *metadatas)
            migrated = migrate(engine, name, metadatas, scripts)
            tracks = tracks_of(name, metadatas, scripts)
            assert [step.after for step in migrated.steps] == [head_revision(t) for t in tracks]
            assert all(step.recognised for step in migrated.steps), migrated.describe()
            again = migrate(engine, name, metadatas, scripts)
            assert [(s.before, s.after) for s in again.steps] == [
                (head_revision(t), head_revision(t)) for t in tracks]
            assert migrated.notices == again.notices == ()
        finally:
            engine.dispose()


def test_a_database_with_some_of_the_hand_written_changes_upgrades_too(backend) -> None:
    """Before migrations, operators ran SQL from docs/operations.md by hand, and a version
    made the make-up table before it had its one-a-month constraint: such databases are
    at no revision exactly, and upgrade all the same."""
    name_of_backend, urls = backend
    schemas = {name: (metadatas, scripts)
               for name, metadatas, scripts in service_schemas(SERVICES)}
    for name in ("supervision", "meetings"):
        load_fixture(urls[name], name, name_of_backend)
    engines = {name: make_engine(urls[name]) for name in ("supervision", "meetings")}
    try:
        with engines["supervision"].begin() as connection:
            connection.execute(text("ALTER TABLE escalations ADD COLUMN details text"))
        with engines["meetings"].begin() as connection:
            # As commit 1d4fbae's create_all made it.
            connection.execute(text(
                "CREATE TABLE make_up_meetings (meeting_id VARCHAR(100) NOT NULL, "
                "cell_id VARCHAR(100) NOT NULL, month VARCHAR(7) NOT NULL, "
                "PRIMARY KEY (meeting_id))"))
        for name, engine in engines.items():
            migrated = migrate(engine, name, *schemas[name])
            assert [(s.recognised, s.after) for s in migrated.steps][1] == ("0001", HEADS[name])
            assert schema_differences(engine, name, *schemas[name]) == [], name
        with engines["meetings"].connect() as connection:
            uniques = inspect(connection).get_unique_constraints("make_up_meetings")
        assert [u["name"] for u in uniques] == ["one_make_up_a_month"]
    finally:
        for engine in engines.values():
            engine.dispose()
