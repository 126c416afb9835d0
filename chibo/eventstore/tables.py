"""Tables the kernel keeps in every service's database.

`events` is the log and the outbox at once. `event_head` is a single row holding
the last position and hash: every append locks it first, which serialises
appends so positions are dense and commit in order (a reader tailing by
position can never skip a row that commits later), and which anchors the hash
chain's tail so a deleted last row is noticed. `command_log` holds one row per
command id a caller sent: the command, a digest of its body and the answer, written
in the transaction that writes the command's events.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

kernel_metadata = MetaData()

GENESIS_HASH = "0" * 64

events = Table(
    "events",
    kernel_metadata,
    Column("position", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_id", String(200), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    # JSON kept as the exact canonical text that was hashed, not a JSON column,
    # so verification recomputes hashes over the very bytes that are stored.
    Column("data", Text, nullable=False),
    Column("meta", Text, nullable=False),
    Column("command_id", String(64), nullable=True),
    Column("recorded_at", String(32), nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # 1: the hash covers private values; 2: their salted commitments (chibo.eventstore.signing).
    Column("hash_form", Integer, nullable=False, server_default="1"),
    # Form 2: {field: salt} of the private fields, kept here and never published.
    Column("salts", Text, nullable=True),
    # The service's signature over `hash`, and which of its keys made it.
    Column("key_id", String(16), nullable=True),
    Column("signature", String(100), nullable=True),
    UniqueConstraint("stream_id", "stream_version", name="uq_events_stream_version"),
    Index("ix_events_command_id", "command_id"),
    Index("ix_events_type", "type"),
)

event_head = Table(
    "event_head",
    kernel_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

relay_cursor = Table(
    "relay_cursor",
    kernel_metadata,
    Column("name", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

feed_watermarks = Table(
    "feed_watermarks",
    kernel_metadata,
    Column("source", String(100), primary_key=True),
    Column("position", BigInteger, nullable=False),
)

command_log = Table(
    "command_log",
    kernel_metadata,
    # As wide as events.command_id, which carries the same id.
    Column("command_id", String(64), primary_key=True, autoincrement=False),
    Column("command", String(100), nullable=False),
    Column("digest", String(64), nullable=False),
    # The answer as JSON text; empty only inside the transaction that is deciding it.
    Column("answer", Text, nullable=False),
    Column("recorded_at", String(32), nullable=False),
)
