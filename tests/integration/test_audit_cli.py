"""`chibo audit verify` names a row edited by hand in a service's PostgreSQL log."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.store import EventStore, Metadata, NewEvent
from services.shared.events.members import catalogue

pytestmark = pytest.mark.services
CHIBO = str(Path(sys.executable).parent / "chibo")


def audit(url: str) -> subprocess.CompletedProcess[str]:
    # Reporting's archive (the independent copy) is looked for in the same database,
    # where there is none: never in whatever reporting database this machine has.
    env = {**os.environ, "CHIBO_MEMBERS_DATABASE_URL": url, "CHIBO_REPORTING_DATABASE_URL": url}
    return subprocess.run([CHIBO, "audit", "verify", "--service", "members"], env=env,
                          capture_output=True, text=True, timeout=60)


def test_audit_verify_names_an_edited_row(pg_url):
    engine = make_engine(pg_url)
    create_schema(engine)
    factory = session_factory(engine)
    for n in range(5):
        with unit_of_work(factory) as session:
            EventStore(session, catalogue, metadata=Metadata(actor="tester")).append(
                f"member-{n}", 0, [NewEvent("member_admitted", {
                    "member_id": f"m{n}", "full_name": "Lò Văn Máy", "cell_id": "c",
                    "admitted_on": "2024-03-01"})])

    clean = audit(pg_url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "members: OK — 5 events" in clean.stdout

    with engine.begin() as conn:
        event_id = conn.execute(text("SELECT event_id FROM events WHERE position = 3")).scalar()
        conn.execute(text("UPDATE events SET data = replace(data, 'Lò Văn Máy', 'Lò Văn Giả') "
                          "WHERE position = 3"))
    engine.dispose()

    tampered = audit(pg_url)
    assert tampered.returncode == 1
    assert f"vị trí (position) 3 (sự kiện/event {event_id}): nội dung không khớp mã băm" \
        in tampered.stdout and "its content does not match its hash" in tampered.stdout
