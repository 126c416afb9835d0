"""`chibo audit verify` with the services' public keys and a checkpoint held outside:
a rewrite with every hash recomputed, a forged append, an append signed with another
key and a truncated tail are each found and located, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.hashing import canonical_json, row_hash
from chibo.eventstore.signing import Signer, load_or_create_signer
from chibo.eventstore.store import EventStore, Metadata, NewEvent, hashed_data
from chibo.eventstore.tables import event_head, events
from services.shared.events.members import catalogue
from tests.support import NOW

CHIBO = str(Path(sys.executable).parent / "chibo")
EVENTS = 12  # six members, each admitted with their birth date recorded


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request, tmp_path):
    """A members log of EVENTS signed rows, its keys in tmp_path/keys."""
    members = EVENTS // 2
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path}/members.db"
    engine = make_engine(url)
    create_schema(engine)
    signer = load_or_create_signer(tmp_path / "keys", "members", create=True)
    factory = session_factory(engine)
    for n in range(members):
        with unit_of_work(factory) as session:
            EventStore(session, catalogue, metadata=Metadata(actor="tk-1"),
                       signer=signer).append(f"member-{n}", 0, [
                           NewEvent("member_admitted", {
                               "member_id": f"m{n}", "full_name": "Lò Văn Máy",
                               "cell_id": "c", "admitted_on": "2024-03-01"}),
                           NewEvent("member_personal_data_recorded", {
                               "member_id": f"m{n}", "birth_date": "1980-02-29"})])
    yield engine, url, tmp_path
    engine.dispose()


def chibo_audit(url: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Reporting's archive (the independent copy) looked for in an empty database: never
    # in whatever reporting database this machine has.
    env = {**os.environ, "CHIBO_MEMBERS_DATABASE_URL": url,
           "CHIBO_REPORTING_DATABASE_URL": f"sqlite:///{folder}/no-archive.db",
           "CHIBO_SIGNING_KEYS_DIR": str(folder / "keys"), "CHIBO_CLOCK": NOW.isoformat()}
    return subprocess.run([CHIBO, "audit", *args, "--service", "members"], env=env,
                          capture_output=True, text=True, timeout=60)


def recompute_from(engine, position: int) -> None:
    """What an insider with the database but not the key does: rewrite every hash from
    `position` on, and the head, so the chain holds again."""
    with engine.begin() as conn:
        rows = conn.execute(select(events).where(events.c.position >= position)
                            .order_by(events.c.position)).all()
        prev = conn.execute(select(events.c.hash).where(
            events.c.position == position - 1)).scalar()
        for row in rows:
            digest = row_hash(prev, row.position, row.event_id, row.stream_id,
                              row.stream_version, row.type, row.version, hashed_data(row),
                              row.meta, row.recorded_at)
            conn.execute(update(events).where(events.c.position == row.position)
                         .values(prev_hash=prev, hash=digest))
            prev = digest
        conn.execute(update(event_head).values(hash=prev))


def test_a_clean_signed_log_verifies(log):
    engine, url, folder = log
    clean = chibo_audit(url, folder, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"members: OK — {EVENTS} events, hash chain intact, signatures valid" in clean.stdout


def test_a_rewrite_with_every_hash_recomputed_is_found_by_its_signature(log):
    engine, url, folder = log
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET data = replace(data, 'Lò Văn Máy', 'Lò Văn Giả') "
                          "WHERE position = 3"))
    recompute_from(engine, 3)
    found = chibo_audit(url, folder, "verify")
    assert found.returncode == 1
    assert "vị trí (position) 3 " in found.stdout and "the signature fails" in found.stdout
    assert "its content does not match its hash" not in found.stdout  # the chain holds


def test_a_forged_append_unsigned_or_signed_with_another_key_is_found(log):
    engine, url, folder = log
    for n, forged_with in enumerate((None, Signer.generate())):
        with unit_of_work(session_factory(engine)) as session:
            EventStore(session, catalogue, metadata=Metadata(actor="Chánh thanh tra tỉnh"),
                       signer=forged_with).append(f"member-forged-{n}", 0, [NewEvent(
                           "member_admitted", {"member_id": "mx", "full_name": "Giả Mạo",
                                               "cell_id": "c", "admitted_on": "2024-03-01"})])
    found = chibo_audit(url, folder, "verify")
    assert found.returncode == 1
    assert f"vị trí (position) {EVENTS + 1} " in found.stdout and "unsigned" in found.stdout
    assert f"vị trí (position) {EVENTS + 2} " in found.stdout
    assert "unknown key" in found.stdout


def test_a_truncated_tail_is_found_against_a_checkpoint_held_outside(log):
    engine, url, folder = log
    written = chibo_audit(url, folder, "checkpoint", "--out", str(folder / "held"))
    assert written.returncode == 0, written.stdout + written.stderr
    held = folder / "held" / f"members-{EVENTS}.checkpoint"
    assert held.read_text(encoding="utf-8").startswith(f"chibo/members\n{EVENTS}\n")
    assert chibo_audit(url, folder, "verify", "--checkpoint", str(held)).returncode == 0

    with engine.begin() as conn:  # the last two rows deleted, the head moved back to match
        conn.execute(events.delete().where(events.c.position > EVENTS - 2))
        last = conn.execute(select(events.c.hash).where(
            events.c.position == EVENTS - 2)).scalar()
        conn.execute(update(event_head).values(position=EVENTS - 2, hash=last))
    alone = chibo_audit(url, folder, "verify")
    assert alone.returncode == 0  # the chain alone cannot tell: it is a valid shorter log
    found = chibo_audit(url, folder, "verify", "--checkpoint", str(held))
    assert found.returncode == 1
    assert f"the log holds {EVENTS - 2} rows" in found.stdout


def test_an_altered_checkpoint_is_refused(log):
    engine, url, folder = log
    chibo_audit(url, folder, "checkpoint", "--out", str(folder / "held"))
    held = folder / "held" / f"members-{EVENTS}.checkpoint"
    altered = folder / "altered.checkpoint"
    altered.write_text(held.read_text(encoding="utf-8").replace(
        f"\n{EVENTS}\n", f"\n{EVENTS - 1}\n", 1), encoding="utf-8")
    found = chibo_audit(url, folder, "verify", "--checkpoint", str(altered))
    assert found.returncode == 1 and "it was altered" in found.stdout


def test_nothing_private_is_in_what_a_row_hashes(log):
    engine, _, _ = log
    with engine.connect() as conn:
        row = conn.execute(select(events).where(events.c.position == 2)).one()
    assert "1980-02-29" in row.data  # the value stays in the producing service's log
    assert "1980-02-29" not in hashed_data(row) and "commitment" in hashed_data(row)
    assert canonical_json(sorted(__import__("json").loads(row.salts))) == '["birth_date"]'


def test_a_service_writes_its_signed_checkpoint_where_the_config_says(tmp_path):
    from nameko.testing.services import entrypoint_hook

    from chibo.eventstore.checkpoint import check_signature, parse
    from chibo.eventstore.keys import service_keyring
    from services.members.entrypoints import MembersService
    from tests.support import as_caller, embedded_config, running

    config = embedded_config(tmp_path)
    config["SIGNING"]["checkpoint_dir"] = str(tmp_path / "held")
    with running(config, [MembersService]) as runner:
        from chibo.nameko.runtime import rpc_client

        with rpc_client(config, token=as_caller()["identity"]) as rpc:
            rpc.members.establish_unit({"unit_id": "p", "name": "Tỉnh ủy", "kind": "province",
                                        "effective_date": "2020-01-01"})
        container = next(c for c in runner.containers if c.service_name == "members")
        with entrypoint_hook(container, "write_checkpoint") as write:
            written = Path(write())
    note = parse(written.read_text(encoding="utf-8"))
    assert note.service == "members" and note.size >= 1
    check_signature(note, service_keyring(config, "members"))  # raises if it does not verify


def test_after_a_key_rotation_old_and_new_rows_verify(log):
    engine, url, folder = log
    rotated = chibo_audit(url, folder, "rotate-key")
    assert rotated.returncode == 0 and "old key kept" in rotated.stdout
    signer = load_or_create_signer(folder / "keys", "members", create=False)
    with unit_of_work(session_factory(engine)) as session:
        EventStore(session, catalogue, metadata=Metadata(actor="tk-1"), signer=signer).append(
            "member-after", 0, [NewEvent("member_admitted", {
                "member_id": "ma", "full_name": "Hà Thị Lan", "cell_id": "c",
                "admitted_on": "2024-03-01"})])
    clean = chibo_audit(url, folder, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert f"{EVENTS + 1} events, hash chain intact, signatures valid" in clean.stdout
