"""The audit log inspectors read: reporting's archive of every event, searched and traced,
and a record of whether each source's log still matches what was archived.

Reading: `search` filters the archive newest first with a keyset cursor; `event` shows
one event with the chain of causes that led to it and the events of the same request.

Checking: a source's log is trusted when two independent checks agree. The source
recomputes its own hash chain (`verify_log` RPC), which finds rows edited, deleted or
inserted by hand; and reporting compares the (position, event id, hash) it archived
when each event was first published with what the source's log says now, which finds
a log rewritten from some row onward with every later hash recomputed. `check_source`
runs both and keeps the latest verdict per source in `audit_checks`, so the page shows
the last check without running it again.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from chibo.errors import NotFound, ValidationFailed
from chibo.eventstore.audit import Finding
from services.reporting.projector import archive
from services.shared.events import SOURCES

__all__ = [
    "QUERY_PARAMETERS",
    "audit_checks",
    "audit_metadata",
    "check_source",
    "event",
    "latest_status",
    "search",
    "search_by_query",
]

#: Reporting's own table for the audit; created alongside reporting's other tables.
audit_metadata = MetaData()

#: The latest check of each source's log: one row per source, replaced by each check.
audit_checks = Table(
    "audit_checks", audit_metadata,
    Column("source", String(50), primary_key=True),
    Column("state", String(10), nullable=False),  # ok | tampered | unknown
    Column("events", BigInteger, nullable=True),  # rows in the source's log; None if unreached
    Column("checked_at", String(32), nullable=False),
    Column("findings", Text, nullable=False),  # JSON list of strings
)

MAX_LIMIT = 1000
RELATED_LIMIT = 200
MAX_FINDINGS = 100  # per check; the first ones locate the damage
CHAIN_LIMIT = 100  # causes followed back at most; real chains are a handful long

MAX_ACTOR = 200  # the archive's actor column

#: URL query parameter -> `search` keyword.
QUERY_PARAMETERS = {"source": "source", "stream": "stream", "type": "type", "actor": "actor",
                    "from": "recorded_from", "to": "recorded_to", "limit": "limit",
                    "before": "before", "after": "after", "oldest": "oldest"}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_LIKE_ESCAPE = "/"

Row = Any  # a SQLAlchemy Row of the archive table


# -- searching ----------------------------------------------------------------------

def search(session: Session, *, source: str | None = None, stream: str | None = None,
           type: str | None = None, actor: str | None = None,
           recorded_from: str | None = None, recorded_to: str | None = None,
           limit: int | str = 100, before: str | None = None, after: str | None = None,
           oldest: bool | str | None = None) -> dict[str, Any]:
    """One page of the archived events matching every filter given, newest first.

    `stream` ending in `*` matches by prefix; `recorded_from`/`recorded_to` take a UTC
    day (YYYY-MM-DD, inclusive) or an ISO timestamp (an offset is honoured, none means
    UTC, as `recorded_at` is shown). Every filter is an indexed column (the actor is
    copied out of the metadata when the event is archived), and pages are cut by the
    (recorded_at, source, position) key the archive is indexed by, so a page costs the
    same at the end of a long log as at its start.

    Returns `{"results", "total", "offset", "next", "previous"}`: `total` events match,
    this page starts at the `offset`-th of them (0 for the newest); pass `next` back as
    `before` for the older page after this one, `previous` as `after` for the newer page
    before it (None: there is none); `oldest` asks for the oldest page.
    """
    checked = _checked_filters(source=source, stream=stream, type=type, actor=actor,
                               recorded_from=recorded_from, recorded_to=recorded_to,
                               limit=limit, before=before, after=after, oldest=oldest)
    conditions = _conditions(checked)
    limit = checked["limit"]
    rows = _page(session, conditions, limit, checked["before"], checked["after"],
                 checked["oldest"])
    total = _count(session, conditions)
    offset = _count(session, [*conditions, _newer_than(_key(rows[0]))]) if rows else (
        total if checked["before"] or checked["oldest"] else 0)
    return {"results": [_summary(row) for row in rows], "total": total, "offset": offset,
            "limit": limit,
            "next": _encode_cursor(_key(rows[-1])) if rows and offset + len(rows) < total
            else None,
            "previous": _encode_cursor(_key(rows[0])) if rows and offset > 0 else None}


def search_by_query(session: Session, args: Mapping[str, str]) -> dict[str, Any]:
    """`search` driven by URL query parameters (`from`, `to`, … see QUERY_PARAMETERS).
    Empty parameters count as absent, as a form sends them; errors name the parameter
    the caller used."""
    filters = {QUERY_PARAMETERS[name]: value for name, value in args.items()
               if name in QUERY_PARAMETERS and value != ""}
    try:
        return search(session, **filters)
    except ValidationFailed as exc:
        parameter = {keyword: name for name, keyword in QUERY_PARAMETERS.items()}
        raise ValidationFailed({parameter.get(field, field): problems
                                for field, problems in exc.fields.items()}) from None


def _checked_filters(**given: Any) -> dict[str, Any]:
    """The filters, validated all at once so the caller hears of every problem together."""
    problems: dict[str, list[str]] = {}
    checked: dict[str, Any] = {}
    for name in ("source", "stream", "type", "actor"):
        value = given[name]
        if value is not None and (not isinstance(value, str) or not value.strip()):
            problems[name] = ["Expected non-empty text; leave it out to match everything."]
        checked[name] = value
    if isinstance(checked["actor"], str) and len(checked["actor"]) > MAX_ACTOR:
        problems["actor"] = [f"Expected at most {MAX_ACTOR} characters: an actor is a name."]
    if checked["source"] is not None and "source" not in problems \
            and checked["source"] not in SOURCES:
        problems["source"] = [f"Unknown source {checked['source']!r}: choose one of "
                              f"{', '.join(SOURCES)}."]
    checked["limit"] = _checked_limit(given["limit"], problems)
    checked["from"] = _bound(given["recorded_from"], "recorded_from", False, problems)
    checked["to"] = _bound(given["recorded_to"], "recorded_to", True, problems)
    if checked["from"] and checked["to"] and _empty_range(checked["from"][0], *checked["to"]):
        problems["recorded_to"] = ["Must not be before recorded_from: swap the two or widen "
                                   "the range."]
    for name, sent in (("before", "next"), ("after", "previous")):
        checked[name] = None
        if given[name] is not None:
            try:
                checked[name] = _decode_cursor(given[name])
            except ValueError:
                problems[name] = [f"Not a cursor from this search: pass the `{sent}` value of "
                                  "the page you came from unchanged, or leave it out for the "
                                  "first page."]
    checked["oldest"] = _checked_flag(given["oldest"], "oldest", problems)
    chosen = [name for name in ("before", "after", "oldest") if given[name] not in (None, False)]
    if len(chosen) > 1:
        problems.setdefault(chosen[-1], []).append(
            f"Give only one of before, after and oldest (got {', '.join(chosen)}).")
    if problems:
        raise ValidationFailed(problems)
    return checked


def _checked_flag(value: Any, field: str, problems: dict[str, list[str]]) -> bool:
    if value in (None, False, "0", "false"):
        return False
    if value in (True, "1", "true"):
        return True
    problems[field] = ["Expected 1 (the oldest page) or nothing."]
    return False


def _checked_limit(value: Any, problems: dict[str, list[str]]) -> int:
    try:
        limit = int(value) if not isinstance(value, bool | float) else None
    except (TypeError, ValueError):
        limit = None
    if limit is None or not 1 <= limit <= MAX_LIMIT:
        problems["limit"] = [f"Expected a whole number from 1 to {MAX_LIMIT}, e.g. 100."]
        return 1
    return limit


def _bound(value: str | None, field: str, upper: bool,
           problems: dict[str, list[str]]) -> tuple[str, bool] | None:
    """A time bound as (stored-form text, inclusive). Stored `recorded_at` texts are
    fixed-width UTC (`…T08:30:00.000000+00:00`), so they compare correctly as text."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else ""
    try:
        if _DATE.match(text):
            day = date.fromisoformat(text)
            if upper:  # a whole day inclusive: everything before the next midnight
                return _stored_form(datetime.combine(day + timedelta(days=1),
                                                     datetime.min.time())), False
            return _stored_form(datetime.combine(day, datetime.min.time())), True
        if _TIMESTAMP.match(text):
            return _stored_form(datetime.fromisoformat(text)), True
    except (ValueError, OverflowError):
        pass
    problems[field] = ["Expected a date as YYYY-MM-DD (a UTC day, inclusive) or an ISO "
                       "timestamp such as 2026-10-05T08:30:00+07:00."]
    return None


def _empty_range(lower: str, upper: str, upper_inclusive: bool) -> bool:
    return lower > upper or (lower == upper and not upper_inclusive)


def _stored_form(moment: datetime) -> str:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


def _conditions(checked: dict[str, Any]) -> list[ColumnElement[bool]]:
    """SQL conditions, each on an indexed column and exact: the stream prefix is compared
    as text (LIKE alone is case-blind on SQLite), the actor is its own column."""
    conditions: list[ColumnElement[bool]] = []
    if checked["source"]:
        conditions.append(archive.c.source == checked["source"])
    if checked["type"]:
        conditions.append(archive.c.type == checked["type"])
    stream = checked["stream"]
    if stream and stream.endswith("*"):
        prefix = stream[:-1]
        if prefix:
            conditions.append(archive.c.stream_id.like(_escape_like(prefix) + "%",
                                                       escape=_LIKE_ESCAPE))
            conditions.append(func.substr(archive.c.stream_id, 1, len(prefix)) == prefix)
    elif stream:
        conditions.append(archive.c.stream_id == stream)
    if checked["actor"]:
        conditions.append(archive.c.actor == checked["actor"])
    if checked["from"]:
        conditions.append(archive.c.recorded_at >= checked["from"][0])
    if checked["to"]:
        bound, inclusive = checked["to"]
        conditions.append(archive.c.recorded_at <= bound if inclusive
                          else archive.c.recorded_at < bound)
    return conditions


def _escape_like(text: str) -> str:
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


_NEWEST_FIRST = (archive.c.recorded_at.desc(), archive.c.source.desc(),
                 archive.c.position.desc())
_OLDEST_FIRST = (archive.c.recorded_at, archive.c.source, archive.c.position)


def _page(session: Session, conditions: list[ColumnElement[bool]], limit: int,
          before: tuple[str, str, int] | None, after: tuple[str, str, int] | None,
          oldest: bool) -> list[Row]:
    """Up to `limit` rows, newest first: the newest, those just older than `before`, those
    just newer than `after`, or the oldest."""
    if after or oldest:
        where = [*conditions, *([_newer_than(after)] if after else [])]
        rows = session.execute(select(archive).where(*where).order_by(*_OLDEST_FIRST)
                               .limit(limit)).all()
        return list(reversed(rows))
    where = [*conditions, *([_older_than(before)] if before else [])]
    return session.execute(select(archive).where(*where).order_by(*_NEWEST_FIRST)
                           .limit(limit)).all()


def _count(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return int(session.execute(select(func.count()).select_from(archive)
                               .where(*conditions)).scalar() or 0)


def _older_than(key: tuple[str, str, int]) -> ColumnElement[bool]:
    """Rows strictly after `key` in newest-first order. Spelt out rather than as a row
    value comparison so every backend and the archive's key index can serve it."""
    recorded_at, source, position = key
    return or_(archive.c.recorded_at < recorded_at,
               and_(archive.c.recorded_at == recorded_at,
                    or_(archive.c.source < source,
                        and_(archive.c.source == source, archive.c.position < position))))


def _newer_than(key: tuple[str, str, int]) -> ColumnElement[bool]:
    """Rows strictly before `key` in newest-first order."""
    recorded_at, source, position = key
    return or_(archive.c.recorded_at > recorded_at,
               and_(archive.c.recorded_at == recorded_at,
                    or_(archive.c.source > source,
                        and_(archive.c.source == source, archive.c.position > position))))


def _key(row: Row) -> tuple[str, str, int]:
    return row.recorded_at, row.source, int(row.position)


def _encode_cursor(key: tuple[str, str, int]) -> str:
    raw = json.dumps(list(key), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: Any) -> tuple[str, str, int]:
    if not isinstance(cursor, str) or not cursor:
        raise ValueError("not a cursor")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        recorded_at, source, position = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError, TypeError,
            ValueError) as exc:
        raise ValueError("not a cursor") from exc
    if not (isinstance(recorded_at, str) and isinstance(source, str)
            and isinstance(position, int) and not isinstance(position, bool)):
        raise ValueError("not a cursor")
    return recorded_at, source, position


def _metadata(row: Row) -> dict[str, Any]:
    try:
        value = json.loads(row.metadata)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _summary(row: Row) -> dict[str, Any]:
    meta = _metadata(row)
    return {"source": row.source, "position": int(row.position), "event_id": row.event_id,
            "stream_id": row.stream_id, "type": row.type, "version": int(row.version),
            "recorded_at": row.recorded_at, "actor": meta.get("actor"),
            "correlation_id": meta.get("correlation_id"),
            "causation_id": meta.get("causation_id")}


# -- one event, its causes and its companions -----------------------------------------

def event(session: Session, event_id: str) -> dict[str, Any]:
    """The archived envelope, `chain` (root cause first, ending with this event) and
    `related` (the other events of the same correlation id, oldest first)."""
    row = _by_event_id(session, event_id) if isinstance(event_id, str) else None
    if row is None:
        raise NotFound(f"No archived event has id {event_id!r}. It may not have reached "
                       "reporting yet, or the id is mistyped.", event_id=event_id)
    meta = _metadata(row)
    related, truncated = _related(session, meta.get("correlation_id"), row.event_id)
    chain = _chain(session, row)
    return {
        "source": row.source, "position": int(row.position), "event_id": row.event_id,
        "stream_id": row.stream_id, "type": row.type, "version": int(row.version),
        "data": json.loads(row.data), "metadata": meta, "recorded_at": row.recorded_at,
        "hash": row.hash,
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
    steps = [{"kind": "event", **_summary(row)}]
    seen = {row.event_id}
    while len(steps) <= CHAIN_LIMIT:
        meta = _metadata(row)
        cause = meta.get("causation_id")
        if not cause or cause in seen:  # no cause recorded, or a loop in forged metadata
            break
        parent = _by_event_id(session, cause)
        if parent is None:
            kind = "command" if cause == meta.get("command_id") else "missing"
            steps.append({"kind": kind, ("command_id" if kind == "command"
                                         else "causation_id"): cause})
            break
        steps.append({"kind": "event", **_summary(parent)})
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
                           .order_by(*_OLDEST_FIRST).limit(RELATED_LIMIT + 1)).all()
    return [_summary(row) for row in rows[:RELATED_LIMIT]], len(rows) > RELATED_LIMIT


# -- checking a source's log against its own chain and against the archive ------------

VerifyRpc = Callable[[], Mapping[str, Any]]
ReadEventsRpc = Callable[[int, int], list[Mapping[str, Any]]]


def check_source(session: Session, source: str, verify_rpc: VerifyRpc,
                 read_events_rpc: ReadEventsRpc, batch: int = 5000, *,
                 now: datetime | None = None) -> dict[str, Any]:
    """Check one source's log both ways, record the verdict in `audit_checks`, return it:
    `{source, state: ok|tampered|unknown, events, checked_at, findings}`.

    Works in short transactions of its own on `session`, each committed: the check
    makes RPC calls that take long on a long log, and a transaction held open across
    them would hold SQLite's write lock (and so stall reporting) all that time. Pass a
    session with nothing of the caller's pending.
    """
    findings: list[str] = []
    unreached: list[str] = []
    events: int | None = None
    try:
        verdict = verify_rpc()
        events = int(verdict["events"])
        findings += [str(f) for f in verdict["findings"]]
    except Exception as exc:  # noqa: BLE001 - whatever the cause, the chain is unchecked
        unreached.append(f"{source} could not be reached to check its own hash chain "
                         f"({_describe(exc)}); try again when it is running.")
    session.commit()
    try:
        findings += _listed(_compare_with_archive(session, source, read_events_rpc, batch))
    except Exception as exc:  # noqa: BLE001
        session.rollback()
        unreached.append(f"{source}'s log could not be read to compare it with reporting's "
                         f"archive ({_describe(exc)}); try again when it is running.")
    state = "tampered" if findings else "unknown" if unreached else "ok"
    result = {"source": source, "state": state, "events": events,
              "checked_at": (now or datetime.now(UTC)).astimezone(UTC)
              .isoformat(timespec="seconds"),
              "findings": findings + unreached}
    _record(session, result)
    session.commit()
    return result


def _listed(found: Iterator[Finding]) -> list[str]:
    """The first MAX_FINDINGS findings: a mass deletion or insertion should not turn the
    status into a book; the first rows say where to look."""
    out = []
    for finding in found:
        if len(out) == MAX_FINDINGS:
            out.append("… further differences not listed: inspect from the positions above.")
            break
        out.append(str(finding))
    return out


def _describe(exc: BaseException) -> str:
    # nameko's RemoteError already names the remote type; others say what they are.
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _compare_with_archive(session: Session, source: str, read_events_rpc: ReadEventsRpc,
                          batch: int) -> Iterator[Finding]:
    """Walk reporting's copy and the source's log side by side, in position order. Only
    positions reporting has archived are compared: newer events are not news."""
    log = _logged(read_events_rpc, batch)
    entry = next(log, None)
    gone: _Gone | None = None  # the run of archived positions the log no longer has
    for position, event_id, digest in _archived(session, source, batch):
        while entry is not None and entry[0] < position:
            if gone:
                yield gone.finding()
                gone = None
            yield Finding(entry[0], entry[1], "nhật ký nguồn có dòng này nhưng kho lưu của báo "
                          "cáo thì không: một dòng bị chèn vào nhật ký, hoặc bị xóa khỏi kho "
                          "lưu (the source's log has this row but reporting's archive does "
                          "not: a row was inserted into the log, or removed from the archive)")
            entry = next(log, None)
        if entry is None or entry[0] > position:
            if gone and gone.extends_to(position):
                continue
            if gone:
                yield gone.finding()
            gone = _Gone(position, event_id)
            continue
        if gone:
            yield gone.finding()
            gone = None
        if entry[1] != event_id or entry[2] != digest:
            yield Finding(position, entry[1], "khác bản báo cáo lưu khi được công bố lần đầu: "
                          "nhật ký bị viết lại từ đây, hoặc bản lưu bị sửa (differs from the "
                          "copy reporting archived when it was first published: the log was "
                          "rewritten from here, or the archived copy was altered)")
            return  # after a rewrite every later hash differs too; the first row is the news
        entry = next(log, None)
    if gone:
        yield gone.finding()


class _Gone:
    """Consecutive archived positions missing from the log: one finding, not one per row."""

    def __init__(self, position: int, event_id: str) -> None:
        self.first, self.last, self.event_id = position, position, event_id

    def extends_to(self, position: int) -> bool:
        if position != self.last + 1:
            return False
        self.last = position
        return True

    def finding(self) -> Finding:
        if self.first == self.last:
            return Finding(self.first, self.event_id, "báo cáo đã lưu dòng này nhưng nhật ký "
                           "nguồn không còn: đã bị xóa (reporting archived this row but the "
                           "source's log no longer has it: deleted)")
        return Finding(self.first, None, f"báo cáo đã lưu các dòng {self.first}–{self.last} "
                       "nhưng nhật ký nguồn không còn: đã bị xóa (rows "
                       f"{self.first}–{self.last} were archived by reporting but the source's "
                       "log no longer has them: deleted)")


def _archived(session: Session, source: str, batch: int) -> Iterator[tuple[int, str, str]]:
    after = 0
    while True:
        rows = session.execute(
            select(archive.c.position, archive.c.event_id, archive.c.hash)
            .where(archive.c.source == source, archive.c.position > after)
            .order_by(archive.c.position).limit(batch)).all()
        session.commit()  # end the read before the next RPC (see check_source)
        if not rows:
            return
        for row in rows:
            yield int(row.position), row.event_id, row.hash
        after = int(rows[-1].position)


def _logged(read_events_rpc: ReadEventsRpc, batch: int) -> Iterator[tuple[int, str, str]]:
    after = 0
    while True:
        envelopes = read_events_rpc(after, batch)
        if not envelopes:
            return
        for envelope in envelopes:
            yield int(envelope["position"]), envelope["event_id"], envelope["hash"]
        after = int(envelopes[-1]["position"])


def _record(session: Session, result: dict[str, Any]) -> None:
    """Replace the source's row; two checks at once both succeed, the later one wins."""
    values = {"state": result["state"], "events": result["events"],
              "checked_at": result["checked_at"],
              "findings": json.dumps(result["findings"], ensure_ascii=False)}
    where = audit_checks.c.source == result["source"]
    if session.execute(update(audit_checks).where(where).values(**values)).rowcount:
        return
    try:
        with session.begin_nested():
            session.execute(insert(audit_checks).values(source=result["source"], **values))
    except IntegrityError:  # another check inserted it first
        session.execute(update(audit_checks).where(where).values(**values))


def latest_status(session: Session, sources: Iterable[str]) -> list[dict[str, Any]]:
    """The last recorded check of each source, in the order asked; a source never checked
    is 'unknown' with a finding saying so."""
    sources = list(sources)
    rows = {row.source: row for row in session.execute(
        select(audit_checks).where(audit_checks.c.source.in_(sources))).all()}
    out = []
    for source in sources:
        row = rows.get(source)
        if row is None:
            out.append({"source": source, "state": "unknown", "events": None,
                        "checked_at": None,
                        "findings": [f"{source} chưa được kiểm tra: hãy bấm kiểm tra ({source} "
                                     "has not been checked yet: run a check)."]})
        else:
            out.append({"source": source, "state": row.state,
                        "events": None if row.events is None else int(row.events),
                        "checked_at": row.checked_at, "findings": json.loads(row.findings)})
    return out
