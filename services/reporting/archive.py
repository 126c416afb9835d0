"""Reporting's archive of every event: rows written as events arrive, read back for the audit."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from services.reporting.read_model import archive

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
    return {"source": e["source"], "position": e["position"], "event_id": e["event_id"],
            "stream_id": e["stream_id"], "type": e["type"], "version": e["version"],
            "data": stored_json(e["data"]), "metadata": stored_json(meta),
            "recorded_at": e["recorded_at"], "hash": e["hash"],
            "actor": _indexed(meta.get("actor"), archive.c.actor),
            "correlation_id": _indexed(meta.get("correlation_id"), archive.c.correlation_id)}


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
