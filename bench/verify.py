"""Verifying a signed log of 1,000,000 events (100,000 with --quick), on SQLite (file)
and PostgreSQL.

The log is built through `EventStore.append_many`, as a service appends: 1,000 events a
transaction, each row's hash chained to the previous one and signed with an Ed25519 key
(`Signer`), over one event type (`member_recorded`: a member's code, name and cell, and
a birth date marked private, so every row hashes a salted commitment in its place).
Then `verify_log` walks the whole log with the signer's public key in its keyring
(what `chibo audit verify` runs): it recomputes every row's hash from its stored
columns and the commitments from the salts, checks the chain and the head, and checks
every signature. The run fails unless it finds nothing.
Figures per backend: the events, the build time, the verification time, events/s
verified, and the process's peak resident memory (VmHWM) while building and while
verifying, each measured from a reset of the peak (`/proc/self/clear_refs`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import marshmallow
from marshmallow import fields

from bench._support import Row, pg_databases, progress
from chibo.clock import FixedClock
from chibo.contracts import Catalogue
from chibo.db import create_schema, make_engine, session_factory, unit_of_work
from chibo.eventstore.audit import verify_log
from chibo.eventstore.signing import Keyring, Signer
from chibo.eventstore.store import EventStore, Metadata, NewEvent, StreamAppend

EVENTS, QUICK_EVENTS = 1_000_000, 100_000
BATCH = 1_000
STREAMS = 100_000  # ten events a stream in the full run, one in the quick run
RECORDED_AT = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)

catalogue = Catalogue()


@catalogue.event("member_recorded")
class MemberRecorded(marshmallow.Schema):
    member_id = fields.String(required=True)
    full_name = fields.String(required=True)
    cell_id = fields.String(required=True)
    birth_date = fields.String(required=True)

    class Meta:
        private = ("birth_date",)


FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô")
GIVEN = ("An", "Bình", "Cường", "Dũng", "Hạnh", "Hương", "Lan", "Minh", "Thảo", "Yến")


def _event(n: int) -> NewEvent:
    return NewEvent("member_recorded", {
        "member_id": f"dv-{n:07d}",
        "full_name": f"{FAMILY[n % 10]} Văn {GIVEN[n // 10 % 10]}",
        "cell_id": f"cb-{n % 12_000:05d}",
        "birth_date": f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}"})


def _reset_peak_rss() -> bool:
    """Reset this process's VmHWM to its current RSS (Linux); False if it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def build(url: str, count: int, signer: Signer,
          report: Callable[[int], None] = lambda done: None) -> None:
    engine = make_engine(url)
    try:
        create_schema(engine)
        factory = session_factory(engine)
        clock = FixedClock(RECORDED_AT)
        metadata = Metadata(actor="Vận hành hệ thống (benchmark)")
        for start in range(0, count, BATCH):
            with unit_of_work(factory) as session:
                EventStore(session, catalogue, clock, metadata, signer).append_many([
                    StreamAppend(f"member-{n % STREAMS:06d}", None, [_event(n)])
                    for n in range(start, min(start + BATCH, count))])
            if (start + BATCH) % 100_000 == 0:
                report(start + BATCH)
    finally:
        engine.dispose()


def verify(url: str, keyring: Keyring) -> int:
    """The problems verify_log finds over the whole log."""
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            return sum(1 for _ in verify_log(session, keyring=keyring))
    finally:
        engine.dispose()


def _measure(backend: str, url: str, count: int) -> list[Row]:
    signer = Signer.generate()
    keyring = Keyring()
    keyring.add(signer.private.public_key())
    resettable = _reset_peak_rss()
    started = time.perf_counter()
    progress(f"verify {backend}: building a signed log of {count:,} events, "
             f"{BATCH:,} a transaction")
    build(url, count, signer, lambda done: progress(
        f"   {done:,} events, {time.perf_counter() - started:,.0f} s"))
    build_seconds = time.perf_counter() - started
    build_peak = _peak_rss_mib()
    _reset_peak_rss()
    progress(f"   built in {build_seconds:,.1f} s ({count / build_seconds:,.0f} events/s); "
             "verifying")
    started = time.perf_counter()
    findings = verify(url, keyring)
    verify_seconds = time.perf_counter() - started
    verify_peak = _peak_rss_mib()
    if findings:
        raise RuntimeError(f"verify_log found {findings} problems in an untouched log")
    progress(f"   verified in {verify_seconds:,.1f} s ({count / verify_seconds:,.0f} "
             f"events/s), nothing found; peak RSS {build_peak:,.0f} MiB building, "
             f"{verify_peak:,.0f} MiB verifying")
    since = "" if resettable else " (process-wide peak)"
    return [
        (f"verify {backend}: events in the signed log", float(count), "events"),
        (f"verify {backend}: build through append_many", build_seconds, "s"),
        (f"verify {backend}: build rate", count / build_seconds, "events/s"),
        (f"verify {backend}: verify_log over the whole log", verify_seconds, "s"),
        (f"verify {backend}: verification rate", count / verify_seconds, "events/s"),
        (f"verify {backend}: problems found", float(findings), "findings"),
        (f"verify {backend}: peak RSS while building{since}", build_peak, "MiB"),
        (f"verify {backend}: peak RSS while verifying{since}", verify_peak, "MiB"),
    ]


def run(quick: bool) -> list[Row]:
    count = QUICK_EVENTS if quick else EVENTS
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="chibo_bench_") as tmp, pg_databases() as pg:
        rows += _measure("sqlite", f"sqlite:///{tmp}/verify.db", count)
        rows += _measure("postgresql", pg.create("verify"), count)
    return rows
