"""Reporting's archive of every event: rows written as events arrive, read back for the audit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.orm import Session

from chibo.eventstore.hashing import canonical_json, row_hash
from chibo.eventstore.signing import FORM_COMMITMENTS, committed_data
from services.reporting.read_model import archive
from services.shared.events import catalogue

Envelope = dict[str, Any]
Row = Any  # a SQLAlchemy Row of the archive table

#: The order of the archive's key index (`archive_newest`), oldest first.
OLDEST_FIRST = (archive.c.recorded_at, archive.c.source, archive.c.position)


def stored_json(value: Any) -> str:
    """JSON text as reporting's tables store it: sorted keys, text unescaped."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def archive_envelopes(session: Session, envelopes: list[Envelope]) -> None:
    """Archive a run of events as received, one row each."""
    session.execute(insert(archive), [archive_row(e) for e in envelopes])


def archive_row(envelope: Envelope) -> dict[str, Any]:
    """The archive's row for an envelope: the event unchanged, and the metadata the audit
    log searches by copied into indexed columns."""
    e, meta = envelope, envelope["metadata"] or {}
    form = e.get("hash_form")
    return {"source": e["source"], "position": e["position"], "event_id": e["event_id"],
            "stream_id": e["stream_id"], "type": e["type"], "version": e["version"],
            "data": stored_json(e["data"]), "metadata": stored_json(meta),
            "recorded_at": e["recorded_at"], "hash": e["hash"],
            "stream_version": e.get("stream_version"), "prev_hash": e.get("prev_hash"),
            "hash_form": form,
            "commitments": None if form is None else stored_json(e.get("commitments") or {}),
            "key_id": e.get("key_id"), "signature": e.get("signature"),
            "actor": _indexed(meta.get("actor"), archive.c.actor),
            "correlation_id": _indexed(meta.get("correlation_id"), archive.c.correlation_id)}


def indexed_actor(metadata: Mapping[str, Any]) -> str | None:
    """The actor column's value for an event of this metadata."""
    return _indexed(metadata.get("actor"), archive.c.actor)


def _indexed(value: Any, column: Any) -> str | None:
    """A metadata value as its column holds it: text that fits, else nothing (a search
    for it then finds no row, rather than the wrong ones)."""
    return value if isinstance(value, str) and len(value) <= column.type.length else None


def row_metadata(row: Row) -> dict[str, Any]:
    """The event's metadata as archived; {} where it is not a JSON object."""
    try:
        value = json.loads(row.metadata)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def row_summary(row: Row) -> dict[str, Any]:
    """An archived event as one line of a list: its place, type and who and what caused it."""
    meta = row_metadata(row)
    return {"source": row.source, "position": int(row.position), "event_id": row.event_id,
            "stream_id": row.stream_id, "type": row.type, "version": int(row.version),
            "recorded_at": row.recorded_at, "actor": meta.get("actor"),
            "correlation_id": meta.get("correlation_id"),
            "causation_id": meta.get("causation_id")}


# -- checking an event on its content ----------------------------------------------------

def row_commitments(row: Row) -> dict[str, str]:
    """The archived commitments of the event's private fields; {} where none were kept."""
    try:
        value = json.loads(row.commitments) if row.commitments else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def covers_private_values(event_type: str, hash_form: int | None) -> bool:
    """Whether an event's hash covers the values of private fields, and so would let a
    guess at one be tested: hash form 1 (or unknown, archived before the form was kept)
    of a type that has private fields."""
    return hash_form != FORM_COMMITMENTS and bool(catalogue.private_fields(event_type))


def content_hash(event: Mapping[str, Any]) -> str | None:
    """The hash an event's content gives, recomputed as its source computed it (see
    chibo.eventstore.store.EventStore.append): the private fields, blanked in what was
    published, stand in by their commitments. `event` is an envelope or `row_envelope`
    of an archived row. None where it cannot be recomputed from what was published: a
    hash covering private values, or a row archived before its checks were kept."""
    form, stream_version = event.get("hash_form"), event.get("stream_version")
    if form is None or stream_version is None or event.get("prev_hash") is None:
        return None
    if covers_private_values(str(event["type"]), int(form)):
        return None
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    commitments = event.get("commitments") or {} if int(form) == FORM_COMMITMENTS else {}
    return row_hash(str(event["prev_hash"]), int(event["position"]), str(event["event_id"]),
                    str(event["stream_id"]), int(stream_version), str(event["type"]),
                    int(event["version"]), canonical_json(committed_data(data, commitments)),
                    canonical_json(event.get("metadata") or {}), str(event["recorded_at"]))


def row_envelope(row: Row) -> dict[str, Any]:
    """An archived row as the envelope it was archived from."""
    try:
        data = json.loads(row.data)
    except (TypeError, ValueError):
        data = None
    return {"source": row.source, "position": int(row.position), "event_id": row.event_id,
            "stream_id": row.stream_id,
            "stream_version": None if row.stream_version is None else int(row.stream_version),
            "type": row.type, "version": int(row.version), "data": data,
            "metadata": row_metadata(row), "recorded_at": row.recorded_at, "hash": row.hash,
            "prev_hash": row.prev_hash,
            "hash_form": None if row.hash_form is None else int(row.hash_form),
            "commitments": row_commitments(row), "key_id": row.key_id,
            "signature": row.signature}


# -- what may be published -----------------------------------------------------------------

#: Event types with private fields (`Meta.private`), whose form-1 hashes cover them.
PRIVATE_TYPES = tuple(sorted(name for name in catalogue.types()
                             if catalogue.private_fields(name)))

def first_covering_private_values(session: Session, source: str) -> int | None:
    """The first archived position of `source` whose hash covers private values. Every
    later hash chains it: with the other fields published, a guess at its private values
    could be tested against any of them, so none is published (until the source's chain
    is re-anchored)."""
    if not PRIVATE_TYPES:
        return None
    position = session.execute(
        select(func.min(archive.c.position))
        .where(archive.c.source == source, archive.c.type.in_(PRIVATE_TYPES),
               or_(archive.c.hash_form.is_(None), archive.c.hash_form != FORM_COMMITMENTS))
    ).scalar()
    return None if position is None else int(position)


def published_checks(session: Session, row: Row) -> dict[str, Any]:
    """What the audit publishes of an event's checks: its hash, the previous row's hash
    and the signature only where no private value can be guessed with them (see
    `first_covering_private_values`); its hash form and the commitments of its private
    fields (never the salts, which the archive does not have)."""
    tainted_from = first_covering_private_values(session, row.source)
    position = int(row.position)
    shows_hash = tainted_from is None or position < tainted_from
    shows_prev = tainted_from is None or position - 1 < tainted_from
    return {"hash": row.hash if shows_hash else None,
            "prev_hash": row.prev_hash if shows_prev else None,
            "hash_form": None if row.hash_form is None else int(row.hash_form),
            "commitments": row_commitments(row),
            "key_id": row.key_id if shows_hash else None,
            "signature": row.signature if shows_hash else None}
