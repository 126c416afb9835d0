"""The command log: idempotency keys that mean one command.

A caller may send a command id (`X-Command-Id`, or `command_id` in RPC context data)
so that a retry after a timeout cannot act twice. The first command with an id claims
it; the id then answers that command, with that body, and nothing else:

* the same id, command and body again: the first answer, word for word, even when
  the command changed nothing (no events to recognise it by);
* the same id with another command or another body: CommandIdReused, nothing done.

The claim is a row inserted at the start of the command's transaction and given the
answer at its end, so the row commits with the events or not at all. A second request
with the same id, arriving while the first is still deciding, waits on that row
(PostgreSQL's unique index; SQLite lets one writer in at a time) and then reads the
committed answer, or claims the id itself if the first was rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import CursorResult, Table, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from chibo.errors import CommandIdReused, ValidationFailed
from chibo.eventstore.tables import command_log

#: The widest command id kept (the events table's command_id column holds as many).
MAX_COMMAND_ID_LENGTH = 64
COMMAND_ID_FIELD = "X-Command-Id"


def check_command_id(command_id: str) -> None:
    """Refuse an id the log cannot keep, before anything is written."""
    if len(command_id) > MAX_COMMAND_ID_LENGTH:
        raise ValidationFailed({COMMAND_ID_FIELD: [
            f"At most {MAX_COMMAND_ID_LENGTH} characters (got {len(command_id)})."]})
    if not command_id.isprintable():
        raise ValidationFailed({COMMAND_ID_FIELD: ["Control characters are not allowed."]})


def claim(session: Session, command_id: str, command: str, digest: str,
          recorded_at: str) -> dict[str, Any] | None:
    """Claim `command_id` for this command: None when it is new (go on and decide),
    the first answer when this very command was answered before. Raises
    CommandIdReused when the id belongs to another command or another body."""
    check_command_id(command_id)
    dialect = session.get_bind().dialect.name
    inserts: dict[str, Callable[[Table], postgresql.Insert | sqlite.Insert]] = {
        "postgresql": postgresql.insert, "sqlite": sqlite.insert}
    statement = inserts[dialect](command_log)
    # An INSERT without RETURNING: the session answers with the cursor's result.
    inserted = cast("CursorResult[Any]", session.execute(
        statement.values(command_id=command_id, command=command, digest=digest, answer="",
                         recorded_at=recorded_at)
        .on_conflict_do_nothing(index_elements=["command_id"])))
    if inserted.rowcount == 1:
        return None
    row = session.execute(select(command_log).where(
        command_log.c.command_id == command_id)).one()
    if row.command != command:
        raise CommandIdReused(
            f"Mã lệnh {command_id} đã dùng cho một lệnh khác ({row.command}) (command id "
            f"{command_id} already answered another command, {row.command}, on "
            f"{row.recorded_at[:10]}). Gửi lệnh mới với mã mới (send a new id).",
            command_id=command_id, command=command, first_command=row.command)
    if row.digest != digest:
        raise CommandIdReused(
            f"Mã lệnh {command_id} đã dùng cho lệnh {command} với dữ liệu khác (command id "
            f"{command_id} already answered {command} with a different body, on "
            f"{row.recorded_at[:10]}). Gửi lại đúng dữ liệu cũ, hoặc dùng mã mới (send the "
            "same body again, or a new id).",
            command_id=command_id, command=command, first_command=row.command)
    return json.loads(row.answer)


def record_answer(session: Session, command_id: str, answer: Any) -> None:
    """Keep the answer of a command that claimed its id, in the same transaction."""
    session.execute(update(command_log).where(command_log.c.command_id == command_id)
                    .values(answer=json.dumps(answer, ensure_ascii=False)))
