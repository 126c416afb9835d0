"""The audit log's search: archived events filtered and paged newest first by a keyset cursor."""

from __future__ import annotations

import base64
import binascii
import json
import operator
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from chibo.errors import ValidationFailed
from services.reporting.archive import OLDEST_FIRST, Row, row_summary
from services.reporting.read_model import archive
from services.shared.events import SOURCES

__all__ = ["QUERY_PARAMETERS", "search", "search_by_query"]

MAX_LIMIT = 1000
MAX_ACTOR = 200  # the archive's actor column

#: URL query parameter -> `search` keyword.
QUERY_PARAMETERS = {"source": "source", "stream": "stream", "type": "type", "actor": "actor",
                    "from": "recorded_from", "to": "recorded_to", "limit": "limit",
                    "before": "before", "after": "after", "oldest": "oldest"}

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


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
    return {"results": [row_summary(row) for row in rows], "total": total, "offset": offset,
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
    """SQL conditions, each on an indexed column and exact: the stream prefix is a range
    of the stream index, the actor is its own column. Every filter but `from`/`to` leads
    an index that continues in the log's order (`read_model.AUDIT_FILTER_INDEXES`)."""
    conditions: list[ColumnElement[bool]] = []
    if checked["source"]:
        conditions.append(archive.c.source == checked["source"])
    if checked["type"]:
        conditions.append(archive.c.type == checked["type"])
    stream = checked["stream"]
    if stream and stream.endswith("*"):
        prefix = stream[:-1]
        if prefix:
            # A range of the stream index (LIKE cannot use it on SQLite, being case-blind
            # there), in code point order whatever the database's collation (under a
            # locale's, texts sharing a prefix need not sort together), with the exact
            # prefix compared as well.
            in_code_points = CodePointOrder(archive.c.stream_id)
            conditions.append(in_code_points >= prefix)
            following = _following(prefix)
            if following is not None:
                conditions.append(in_code_points < following)
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


class CodePointOrder(FunctionElement[str]):
    """A text column compared in code point order: as is on SQLite (BINARY is its
    default), with `COLLATE "C"` on PostgreSQL."""

    type = String()
    inherit_cache = True


@compiles(CodePointOrder)
def _as_is(element: CodePointOrder, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(CodePointOrder, "postgresql")
def _collate_c(element: CodePointOrder, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.clauses, **kw)} COLLATE "C")'


def _following(prefix: str) -> str | None:
    """The first text after every text starting with `prefix` in code point order (None:
    there is none), the upper end of the prefix's range."""
    stem = prefix.rstrip(chr(sys.maxunicode))
    if not stem:
        return None
    successor = ord(stem[-1]) + 1
    if 0xD800 <= successor <= 0xDFFF:  # surrogates are not text: skip over them
        successor = 0xE000
    return stem[:-1] + chr(successor)


_NEWEST_FIRST = tuple(column.desc() for column in OLDEST_FIRST)


def _page(session: Session, conditions: list[ColumnElement[bool]], limit: int,
          before: tuple[str, str, int] | None, after: tuple[str, str, int] | None,
          oldest: bool) -> list[Row]:
    """Up to `limit` rows, newest first: the newest, those just older than `before`, those
    just newer than `after`, or the oldest."""
    if after or oldest:
        where = [*conditions, *([_newer_than(after)] if after else [])]
        rows = session.execute(select(archive).where(*where).order_by(*OLDEST_FIRST)
                               .limit(limit)).all()
        return list(reversed(rows))
    where = [*conditions, *([_older_than(before)] if before else [])]
    return session.execute(select(archive).where(*where).order_by(*_NEWEST_FIRST)
                           .limit(limit)).all()


def _count(session: Session, conditions: list[ColumnElement[bool]]) -> int:
    return int(session.execute(select(func.count()).select_from(archive)
                               .where(*conditions)).scalar() or 0)


def _older_than(key: tuple[str, str, int]) -> ColumnElement[bool]:
    """Rows strictly after `key` in newest-first order."""
    return _beyond(key, operator.lt)


def _newer_than(key: tuple[str, str, int]) -> ColumnElement[bool]:
    """Rows strictly before `key` in newest-first order."""
    return _beyond(key, operator.gt)


def _beyond(key: tuple[str, str, int], compare: Callable[[Any, Any], Any]
            ) -> ColumnElement[bool]:
    """Rows whose (recorded_at, source, position) key `compare`s true against `key`.
    Spelt out rather than as a row value comparison so every backend and the archive's
    key index can serve it."""
    recorded_at, source, position = key
    return or_(compare(archive.c.recorded_at, recorded_at),
               and_(archive.c.recorded_at == recorded_at,
                    or_(compare(archive.c.source, source),
                        and_(archive.c.source == source,
                             compare(archive.c.position, position)))))


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
