"""The event store: append with expected version, read a stream, read the log.

A store works on a SQLAlchemy session owned by the caller's unit of work: it
never commits. On failure nothing it did is kept, because the caller rolls back.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from chibo.clock import Clock, SystemClock
from chibo.contracts import Catalogue
from chibo.errors import ChiboError, ConcurrencyError
from chibo.eventstore.append_sql import AppendStatements
from chibo.eventstore.hashing import canonical_json, row_hash
from chibo.eventstore.signing import (
    FORM_COMMITMENTS,
    FORM_VALUES,
    Signer,
    commitments_of,
    committed_data,
    new_salts,
)
from chibo.eventstore.tables import GENESIS_HASH, event_head, events

ANY_VERSION = None
NO_STREAM = 0

# Deterministic event ids for commands that carry their own id, so a retried
# command is recognised by its event ids.
_EVENT_ID_NAMESPACE = uuid.UUID("6f1d3c52-3a4e-4c1b-9d0e-6c1bb0c7a0de")


@dataclass(frozen=True)
class NewEvent:
    type: str
    data: Mapping[str, Any]
    event_id: str | None = None


@dataclass(frozen=True)
class RecordedEvent:
    position: int
    event_id: str
    stream_id: str
    stream_version: int
    type: str
    version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: str
    hash: str
    prev_hash: str = ""
    #: See chibo.eventstore.signing: 2 hashes the private fields' commitments.
    hash_form: int = FORM_VALUES
    #: Form 2: {field: commitment} of the private fields (published in their place).
    commitments: dict[str, str] = field(default_factory=dict)
    key_id: str | None = None
    signature: str | None = None

    def envelope(self, source: str, catalogue: Catalogue | None = None) -> dict[str, Any]:
        """The form events travel in over the bus and over RPC, between the services;
        with a catalogue, private fields are blanked. A form 2 row carries its
        commitments in their place, so whoever receives it can recompute its hash and
        check its signature. (A form 1 row's hash covers private values, and every
        later hash chains it: what the services publish beyond themselves, the audit
        pages, withholds them; see services/reporting/audit_trace.py.)"""
        data = catalogue.redact(self.type, self.data) if catalogue else self.data
        return {
            "source": source,
            "position": self.position,
            "event_id": self.event_id,
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "type": self.type,
            "version": self.version,
            "data": data,
            "metadata": self.metadata,
            "recorded_at": self.recorded_at,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
            "hash_form": self.hash_form,
            "commitments": self.commitments,
            "key_id": self.key_id,
            "signature": self.signature,
        }


@dataclass
class StreamAppend:
    stream_id: str
    expected_version: int | None
    events: Sequence[NewEvent]


@dataclass
class Metadata:
    """Who asked, and in answer to what. Carried by every event of a command."""

    actor: str = "anonymous"
    command_id: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        command_id = self.command_id or str(uuid.uuid4())
        return {
            **self.extra,
            "actor": self.actor,
            "command_id": command_id,
            "correlation_id": self.correlation_id or command_id,
            "causation_id": self.causation_id or command_id,
        }


class EventIdsPartlyRecorded(ChiboError):
    http_status = 409
    code = "event_ids_partly_recorded"


class EventStore:
    def __init__(self, session: Session, catalogue: Catalogue, clock: Clock | None = None,
                 metadata: Metadata | None = None, signer: Signer | None = None) -> None:
        self.session = session
        self.catalogue = catalogue
        #: Signs every appended row's hash (a service's key); None: rows go unsigned.
        self.signer = signer
        self.clock = clock or SystemClock()
        self.metadata = metadata or Metadata()
        self.appended: list[RecordedEvent] = []

    # -- writing -----------------------------------------------------------------

    def append(self, stream_id: str, expected_version: int | None,
               new_events: Sequence[NewEvent]) -> list[RecordedEvent]:
        """Append to one stream. `expected_version` 0 means the stream must not exist yet;
        None accepts any version. A mismatch raises ConcurrencyError and writes nothing."""
        return self.append_many([StreamAppend(stream_id, expected_version, new_events)])

    def append_many(self, appends: Sequence[StreamAppend]) -> list[RecordedEvent]:
        """Append to several streams under one lock; all or nothing."""
        meta = self.metadata.as_dict()
        command_id = meta["command_id"]
        prepared = []
        for item in appends:
            for index, new in enumerate(item.events):
                data = self.catalogue.validate(new.type, new.data)
                event_id = new.event_id or (
                    str(uuid.uuid5(_EVENT_ID_NAMESPACE, f"{command_id}/{item.stream_id}/{index}"))
                    if self.metadata.command_id else str(uuid.uuid4()))
                prepared.append((item, new, data, event_id))
        if not prepared:
            return []

        ids = [p[3] for p in prepared]
        # Random ids cannot already be recorded; only caller-given or command-derived ones can.
        deterministic = bool(self.metadata.command_id) or any(p[1].event_id for p in prepared)
        statements = AppendStatements(self.session)
        # Read under the head lock, so no other append can slip in between.
        head = statements.lock_and_read(list({a.stream_id: None for a in appends}),
                                        ids if deterministic else [])
        if head.recorded_ids:
            if len(head.recorded_ids) == len(ids):
                return self._by_event_ids(ids)  # the same append, retried: already done
            raise EventIdsPartlyRecorded(
                "Some of these event ids are already recorded and some are not.",
                recorded=[i for i in ids if i in head.recorded_ids])

        stream_versions = dict(head.versions)
        for item in appends:
            current = stream_versions[item.stream_id]
            if item.expected_version is not None and item.expected_version != current:
                raise ConcurrencyError(
                    f"Stream {item.stream_id} is at version {current}, "
                    f"not {item.expected_version}: someone else changed it first. "
                    "Reload and try again.",
                    stream_id=item.stream_id, expected_version=item.expected_version,
                    actual_version=current)
            stream_versions[item.stream_id] = current + len(item.events)
        next_version = dict(head.versions)

        position, prev_hash = head.position, head.hash
        recorded_at = self.clock.now().isoformat(timespec="microseconds")
        meta_text = canonical_json(meta)
        key = self.signer.key_id if self.signer else None
        rows, out = [], []
        for item, new, data, event_id in prepared:
            position += 1
            next_version[item.stream_id] += 1
            stream_version = next_version[item.stream_id]
            version = self.catalogue.latest_version(new.type)
            salts = new_salts(data, self.catalogue.private_fields(new.type))
            commitments = commitments_of(data, salts)
            digest = row_hash(prev_hash, position, event_id, item.stream_id, stream_version,
                              new.type, version,
                              canonical_json(committed_data(data, commitments)),
                              meta_text, recorded_at)
            signature = self.signer.sign(digest) if self.signer else None
            # In append_sql.COLUMNS order.
            rows.append((position, event_id, item.stream_id, stream_version, new.type,
                         version, canonical_json(data), meta_text, command_id, recorded_at,
                         prev_hash, digest, FORM_COMMITMENTS,
                         canonical_json(salts) if salts else None, key, signature))
            out.append(RecordedEvent(position, event_id, item.stream_id, stream_version,
                                     new.type, version, data, meta, recorded_at, digest,
                                     prev_hash, FORM_COMMITMENTS, commitments, key, signature))
            prev_hash = digest
        statements.write(rows, position, prev_hash)
        self.appended.extend(out)
        return out

    # -- reading -----------------------------------------------------------------

    def read_stream(self, stream_id: str) -> list[RecordedEvent]:
        """Every event of a stream, upcast to the latest version of its type."""
        rows = self.session.execute(
            select(events).where(events.c.stream_id == stream_id)
            .order_by(events.c.stream_version)).all()
        return [self._upcast(row_to_event(r)) for r in rows]

    def read_category(self, category: str, stream_ids: list[str] | None = None
                      ) -> list[RecordedEvent]:
        """Events of every stream named `{category}-…` (or just `stream_ids`), in log order,
        upcast. A range on stream_id, so the (stream_id, version) index serves it."""
        query = select(events).order_by(events.c.position)
        if stream_ids is not None:
            if not stream_ids:
                return []
            query = query.where(events.c.stream_id.in_(stream_ids))
        else:
            # "-" is followed by "." in ASCII: [category-, category.) holds every id.
            query = query.where(events.c.stream_id >= f"{category}-",
                                events.c.stream_id < f"{category}.")
        return [self._upcast(row_to_event(r)) for r in self.session.execute(query).all()]

    def read_all(self, after: int = 0, limit: int = 1000) -> list[RecordedEvent]:
        """Events after a global position, in order, as stored (not upcast)."""
        rows = self.session.execute(
            select(events).where(events.c.position > after)
            .order_by(events.c.position).limit(limit)).all()
        return [row_to_event(r) for r in rows]

    def head_position(self) -> int:
        return int(self.session.execute(
            select(event_head.c.position).where(event_head.c.id == 1)).scalar_one())

    def _by_event_ids(self, ids: list[str]) -> list[RecordedEvent]:
        rows = self.session.execute(
            select(events).where(events.c.event_id.in_(ids)).order_by(events.c.position)).all()
        return [self._upcast(row_to_event(r)) for r in rows]

    def _upcast(self, event: RecordedEvent) -> RecordedEvent:
        version, data = self.catalogue.upcast(event.type, event.version, event.data)
        if version == event.version:
            return event
        return dataclasses.replace(event, version=version, data=data)


def row_to_event(row: Any) -> RecordedEvent:
    data = json.loads(row.data)
    salts = json.loads(row.salts) if row.salts else {}
    return RecordedEvent(int(row.position), row.event_id, row.stream_id, int(row.stream_version),
                         row.type, int(row.version), data, json.loads(row.meta),
                         row.recorded_at, row.hash, row.prev_hash, int(row.hash_form),
                         commitments_of(data, salts), row.key_id, row.signature)


def hashed_data(row: Any) -> str:
    """The data text a stored row's hash covers, by the row's hash form."""
    if int(row.hash_form) == FORM_VALUES:
        return str(row.data)
    salts = json.loads(row.salts) if row.salts else {}
    data = json.loads(row.data)
    return canonical_json(committed_data(data, commitments_of(data, salts)))


def initialise_head(session: Session) -> None:
    """Create the head row once; safe to call on every start."""
    if session.execute(select(event_head.c.id).where(event_head.c.id == 1)).first() is None:
        session.execute(insert(event_head).values(id=1, position=0, hash=GENESIS_HASH))
