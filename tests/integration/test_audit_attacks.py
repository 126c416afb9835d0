"""Issue 15's attacks, done as someone who can write the databases but holds no signing
key: each is found and located, by the source's own check with its public keys
(`verify_log(..., keyring=...)`) and by reporting's check of its archive
(`source_checks.check_source`).

The services run embedded, record a sample (a member with a birth date among it), and
are stopped; each attack is then made straight on the database files (or PostgreSQL
databases) with SQLAlchemy, and the checks run over them: the source's `verify_log`
and `read_events` are called in process, as the services answer them over RPC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import Engine, delete, insert, select, update

from chibo.access import Grant, Identity
from chibo.db import make_engine, session_factory
from chibo.eventstore.audit import verify_log
from chibo.eventstore.hashing import canonical_json, row_hash
from chibo.eventstore.keys import service_keyring
from chibo.eventstore.signing import FORM_COMMITMENTS, Signer
from chibo.eventstore.store import EventStore, hashed_data
from chibo.eventstore.tables import event_head, events
from chibo.nameko.runtime import rpc_caller
from services.reporting.read_model import archive
from services.reporting.source_checks import check_source
from services.shared.events import SOURCES, catalogue
from tests.integration.test_audit_status import TESTED_SERVICES, archived_everything
from tests.support import NOW, SERVICE_NAMES, TODAY, as_caller, embedded_config, running, wait_until

RECORDER = Identity("ubkt.hoa", "Cán bộ Ủy ban Kiểm tra", (Grant("admin"),))
HELD_ON = TODAY - timedelta(days=3)
START = HELD_ON - timedelta(days=400)
FALSE_ACTOR = "Chánh thanh tra tỉnh"
BIRTH_DATE = "1975-03-04"


@pytest.fixture(params=["sqlite", "postgresql"])
def stopped(request, tmp_path) -> Iterator[dict[str, Any]]:
    """The sample recorded and archived, the services stopped: the configuration."""
    config = embedded_config(tmp_path)
    if request.param == "postgresql":
        make = request.getfixturevalue("pg_database_factory")
        config["DATABASES"] = {name: make(name) for name in SERVICE_NAMES}
    with running(config, TESTED_SERVICES), \
            ClusterRpcProxy(config, timeout=60, context_data=as_caller(RECORDER)) as rpc:
        record_sample(rpc_caller(rpc))
        wait_until(lambda: archived_everything(rpc), timeout=60,
                   message="reporting to archive every source's log")
    engines: dict[str, Engine] = {}
    config["_engines"] = engines
    yield config
    for engine in engines.values():
        engine.dispose()


def record_sample(call) -> None:
    for unit in ({"unit_id": "p", "name": "Tỉnh ủy Thanh Hóa", "kind": "province"},
                 {"unit_id": "x", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                  "parent_id": "p"},
                 {"unit_id": "c", "name": "Chi bộ Bản Máy", "kind": "cell", "parent_id": "x"}):
        call("members", "establish_unit", {**unit, "effective_date": START})
    call("members", "admit_member", {"member_id": "m1", "full_name": "Hà Văn Thành",
                                     "cell_id": "c", "admitted_on": START,
                                     "birth_date": BIRTH_DATE})
    call("members", "admit_member", {"member_id": "m2", "full_name": "Lò Thị Xuân",
                                     "cell_id": "c", "admitted_on": START})
    call("meetings", "record_meeting_held", {
        "meeting_id": "c-1", "cell_id": "c", "kind": "regular", "held_on": HELD_ON,
        "attendance": [{"member_id": "m1", "status": "present"},
                       {"member_id": "m2", "status": "present"}]})
    call("supervision", "log_visit", {"visitor": "Đồng chí Lê Văn Hùng", "cell_id": "c",
                                      "meeting_id": "c-1", "visited_on": HELD_ON})


def engine(config: dict[str, Any], service: str) -> Engine:
    engines = config["_engines"]
    if service not in engines:
        engines[service] = make_engine(config["DATABASES"][service])
    return engines[service]


def source_check(config: dict[str, Any], source: str) -> list[str]:
    """The source's own check with its public keys, as `chibo audit verify` runs it."""
    with session_factory(engine(config, source))() as session:
        return [str(f) for f in verify_log(session,
                                           keyring=service_keyring(config, source))]


def chain_only(config: dict[str, Any], source: str) -> list[str]:
    """The source's check without keys: what a hash chain alone sees."""
    with session_factory(engine(config, source))() as session:
        return [str(f) for f in verify_log(session)]


def reporting_check(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Reporting's check of `source`, as its audit "verify" action runs it, with the
    source's RPC methods answered from the source's database."""
    factory = session_factory(engine(config, source))

    def verify_rpc() -> dict[str, Any]:
        with factory() as session:
            found = [str(f) for f in verify_log(session)]
            count = len(session.execute(select(events.c.position)).all())
        return {"events": count, "findings": found}

    def read_events_rpc(after: int, limit: int) -> list[dict[str, Any]]:
        with factory() as session:
            # As the service answers `read_events`, through JSON as RPC carries it.
            return json.loads(json.dumps(
                [e.envelope(source, catalogue)
                 for e in EventStore(session, catalogue).read_all(after, limit)]))

    with session_factory(engine(config, "reporting"))() as session:
        return check_source(session, source, verify_rpc, read_events_rpc, batch=3, now=NOW,
                            keyring=service_keyring(config, source))


def row_at(config: dict[str, Any], source: str, position: int) -> Any:
    with engine(config, source).connect() as conn:
        return conn.execute(select(events).where(events.c.position == position)).one()


def located(findings: list[str], position: int, event_id: str | None, *words: str) -> bool:
    """Whether some finding names the position, the event and says each of `words`."""
    place = f"vị trí (position) {position}"
    starts = (f"{place} (sự kiện/event {event_id}):",) if event_id else (f"{place}:",
                                                                          f"{place} (")
    return any(f.startswith(starts) and all(w in f for w in words) for f in findings)


def test_untouched_the_checks_pass(stopped):
    for source in SOURCES:
        assert source_check(stopped, source) == []
        result = reporting_check(stopped, source)
        assert (result["state"], result["findings"]) == ("ok", []), result


def test_a_members_row_rewritten_with_the_chain_and_the_archive_recomputed(stopped):
    """Attack 1: the birth date changed, the row's hash (form 2: over the commitment made
    with its stored salt), every later hash and the head recomputed, and reporting's
    archived hashes and commitments rewritten to match."""
    members = engine(stopped, "members")
    with members.begin() as conn:
        target = conn.execute(select(events).where(
            events.c.type == "member_personal_data_recorded")).one()
        assert target.hash_form == FORM_COMMITMENTS and target.salts
        data = json.loads(target.data)
        assert data["birth_date"] == BIRTH_DATE
        forged = canonical_json({**data, "birth_date": "1990-01-01"})
        conn.execute(update(events).where(events.c.position == target.position)
                     .values(data=forged))
        prev = target.prev_hash
        for row in conn.execute(select(events).where(events.c.position >= target.position)
                                .order_by(events.c.position)).all():
            digest = row_hash(prev, row.position, row.event_id, row.stream_id,
                              row.stream_version, row.type, row.version, hashed_data(row),
                              row.meta, row.recorded_at)
            conn.execute(update(events).where(events.c.position == row.position)
                         .values(prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(event_head).where(event_head.c.id == 1).values(hash=prev))
    with session_factory(members)() as session:
        envelopes = {e.position: e.envelope("members", catalogue)
                     for e in EventStore(session, catalogue).read_all(0, 1000)}
    with engine(stopped, "reporting").begin() as conn:
        for position, envelope in envelopes.items():
            conn.execute(update(archive).where(archive.c.source == "members",
                                               archive.c.position == position)
                         .values(hash=envelope["hash"], prev_hash=envelope["prev_hash"],
                                 commitments=json.dumps(envelope["commitments"],
                                                        sort_keys=True)))

    # The chain alone, and the archive's hashes, say nothing any more...
    assert chain_only(stopped, "members") == []
    # ...the signatures locate the first row rewritten.
    found = source_check(stopped, "members")
    assert found and found[0].startswith(
        f"vị trí (position) {target.position} (sự kiện/event {target.event_id}): chữ ký "
        "không hợp lệ (bad signature)")
    result = reporting_check(stopped, "members")
    assert result["state"] == "tampered"
    assert located(result["findings"], target.position, target.event_id,
                   "in the source's log", "the signature fails (bad signature)")
    assert located(result["findings"], target.position, target.event_id,
                   "the archived copy was edited", "the signature fails (bad signature)")
    assert not any(located(result["findings"], p, None) for p in range(1, target.position))


def test_only_the_archive_copy_of_a_supervision_event_edited(stopped):
    """Attack 2: a false actor on the audit page, the source's log untouched."""
    with engine(stopped, "reporting").begin() as conn:
        copy = conn.execute(select(archive).where(archive.c.source == "supervision",
                                                  archive.c.type == "visit_logged")).one()
        meta = {**json.loads(copy.metadata), "actor": FALSE_ACTOR}
        conn.execute(update(archive).where(archive.c.event_id == copy.event_id)
                     .values(metadata=json.dumps(meta, ensure_ascii=False, sort_keys=True),
                             actor=FALSE_ACTOR))

    assert source_check(stopped, "supervision") == []
    result = reporting_check(stopped, "supervision")
    assert result["state"] == "tampered"
    assert located(result["findings"], copy.position, copy.event_id,
                   "the archived copy was edited", "its content does not match its hash")
    assert located(result["findings"], copy.position, copy.event_id,
                   "differs from the source's event in metadata")
    for source in ("members", "meetings"):
        assert reporting_check(stopped, source)["state"] == "ok"


def append_forged_resolution(config: dict[str, Any], signer: Signer | None) -> tuple[int, str]:
    """Attack 3: an `escalation_resolved` row after the last real one, chained, the head
    moved; signed by `signer` (not the service's key) or unsigned."""
    event_id = "5d1f0c3e-7a52-4f43-9a44-6f0e3c1d2b7a"
    with engine(config, "supervision").begin() as conn:
        head = conn.execute(select(event_head).where(event_head.c.id == 1)).one()
        last = conn.execute(select(events).where(events.c.position == head.position)).one()
        position = int(head.position) + 1
        data = canonical_json({"escalation_id": "esc-c-2026-09", "how": "resolved",
                               "by": FALSE_ACTOR, "on": TODAY.isoformat(), "evidence": []})
        meta = canonical_json({"actor": FALSE_ACTOR, "command_id": event_id,
                               "correlation_id": event_id, "causation_id": event_id})
        recorded_at = last.recorded_at
        digest = row_hash(head.hash, position, event_id, "escalation-esc-c-2026-09", 2,
                          "escalation_resolved", 1, data, meta, recorded_at)
        conn.execute(insert(events).values(
            position=position, event_id=event_id, stream_id="escalation-esc-c-2026-09",
            stream_version=2, type="escalation_resolved", version=1, data=data, meta=meta,
            command_id=event_id, recorded_at=recorded_at, prev_hash=head.hash, hash=digest,
            hash_form=FORM_COMMITMENTS, salts=None,
            key_id=signer.key_id if signer else None,
            signature=signer.sign(digest) if signer else None))
        conn.execute(update(event_head).where(event_head.c.id == 1)
                     .values(position=position, hash=digest))
    return position, event_id


@pytest.mark.parametrize("forger_key", [False, True], ids=["unsigned", "signed-by-another-key"])
def test_a_forged_resolution_appended(stopped, forger_key):
    position, event_id = append_forged_resolution(stopped,
                                                  Signer.generate() if forger_key else None)
    assert chain_only(stopped, "supervision") == []
    problem = "signed with an unknown key" if forger_key else "unsigned after rows signed"
    found = source_check(stopped, "supervision")
    assert len(found) == 1 and found[0].startswith(
        f"vị trí (position) {position} (sự kiện/event {event_id})"), found
    assert ("unknown key" if forger_key else "the row is unsigned after signed rows") \
        in found[0]
    result = reporting_check(stopped, "supervision")
    assert result["state"] == "tampered"
    assert located(result["findings"], position, event_id, "in the source's log", problem)


def test_a_truncated_tail(stopped):
    """The last rows deleted and the head moved back: a consistent, shorter chain."""
    members = engine(stopped, "members")
    with members.begin() as conn:
        last = int(conn.execute(select(event_head.c.position)).scalar_one())
        keep = last - 2
        kept = conn.execute(select(events).where(events.c.position == keep)).one()
        conn.execute(delete(events).where(events.c.position > keep))
        conn.execute(update(event_head).where(event_head.c.id == 1)
                     .values(position=keep, hash=kept.hash))

    assert source_check(stopped, "members") == []  # the log alone cannot tell
    result = reporting_check(stopped, "members")
    assert result["state"] == "tampered"
    assert any(f.startswith(f"vị trí (position) {keep + 1}:") and
               f"rows {keep + 1}–{last} were archived by reporting but the source's log no "
               "longer has them: deleted" in f for f in result["findings"]), result
