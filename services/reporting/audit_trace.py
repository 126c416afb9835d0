"""The audit log's view of one archived event: the chain of causes behind it and its companions."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chibo.errors import NotFound
from services.reporting.archive import (
    OLDEST_FIRST,
    Row,
    published_checks,
    row_metadata,
    row_summary,
)
from services.reporting.read_model import archive

__all__ = ["event"]

RELATED_LIMIT = 200
CHAIN_LIMIT = 100  # causes followed back at most; real chains are a handful long


def event(session: Session, event_id: str) -> dict[str, Any]:
    """The archived envelope (with what checks it: `archive.published_checks`), `chain`
    (root cause first, ending with this event) and `related` (the other events of the same
    correlation id, oldest first)."""
    row = _by_event_id(session, event_id) if isinstance(event_id, str) else None
    if row is None:
        raise NotFound(f"No archived event has id {event_id!r}. It may not have reached "
                       "reporting yet, or the id is mistyped.", event_id=event_id)
    meta = row_metadata(row)
    related, truncated = _related(session, meta.get("correlation_id"), row.event_id)
    chain = _chain(session, row)
    return {
        "source": row.source, "position": int(row.position), "event_id": row.event_id,
        "stream_id": row.stream_id, "type": row.type, "version": int(row.version),
        "data": json.loads(row.data), "metadata": meta, "recorded_at": row.recorded_at,
        # The hash, previous hash and signature only where they let no private value be
        # guessed; the commitments of the private fields in their values' place.
        **published_checks(session, row),
        "causation": _causation(meta, chain),
        "chain": chain,
        "related": related, "related_truncated": truncated,
    }


def _causation(meta: dict[str, Any], chain: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What the causation id names: an archived event (its page can be opened), the
    command that started the request (no page: commands are not events), or a cause
    reporting has not archived."""
    cause = meta.get("causation_id")
    if not cause or not isinstance(cause, str):
        return None
    if len(chain) >= 2 and chain[-2].get("event_id") == cause:
        return {"id": cause, "kind": "event"}
    return {"id": cause, "kind": "command" if cause == meta.get("command_id") else "missing"}


def _by_event_id(session: Session, event_id: str) -> Row | None:
    return session.execute(select(archive).where(archive.c.event_id == event_id)).first()


def _chain(session: Session, row: Row) -> list[dict[str, Any]]:
    """Follow causation ids back to the root. Each step is `{"kind": "event", ...}`; the
    root may be `{"kind": "command", "command_id"}` (the request that started it) or
    `{"kind": "missing", "causation_id"}` (a cause reporting has not archived, e.g. not
    delivered yet or an id the caller supplied)."""
    steps = [{"kind": "event", **row_summary(row)}]
    seen = {row.event_id}
    while len(steps) <= CHAIN_LIMIT:
        meta = row_metadata(row)
        cause = meta.get("causation_id")
        if not cause or cause in seen:  # no cause recorded, or a loop in forged metadata
            break
        parent = _by_event_id(session, cause)
        if parent is None:
            kind = "command" if cause == meta.get("command_id") else "missing"
            steps.append({"kind": kind, ("command_id" if kind == "command"
                                         else "causation_id"): cause})
            break
        steps.append({"kind": "event", **row_summary(parent)})
        seen.add(cause)
        row = parent
    steps.reverse()
    return steps


def _related(session: Session, correlation_id: Any, event_id: str
             ) -> tuple[list[dict[str, Any]], bool]:
    """Events sharing the correlation id (an indexed column), oldest first, at most
    RELATED_LIMIT; and whether there were more."""
    if not isinstance(correlation_id, str) or not correlation_id:
        return [], False
    rows = session.execute(select(archive)
                           .where(archive.c.correlation_id == correlation_id,
                                  archive.c.event_id != event_id)
                           .order_by(*OLDEST_FIRST).limit(RELATED_LIMIT + 1)).all()
    return [row_summary(row) for row in rows[:RELATED_LIMIT]], len(rows) > RELATED_LIMIT
