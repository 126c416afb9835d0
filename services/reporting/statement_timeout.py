"""A time limit on the statements of one transaction, on PostgreSQL and SQLite alike.

PostgreSQL cancels a statement past `statement_timeout`, set for this transaction only;
SQLite has no such setting, so a progress handler on the DBAPI connection interrupts a
statement once the deadline has passed. Either way the caller gets `StatementTimedOut`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from chibo.errors import ChiboError

__all__ = ["StatementTimedOut", "statement_timeout"]

#: PostgreSQL's SQLSTATE for a statement cancelled by `statement_timeout`.
_QUERY_CANCELED = "57014"
#: SQLite virtual machine instructions between two looks at the clock: often enough to
#: stop within a few milliseconds of the deadline, rare enough to cost nothing.
_SQLITE_STEPS = 10_000


class StatementTimedOut(ChiboError):
    """A read ran past its time limit and was stopped. Nothing changed; a narrower
    request (or the same one when the database is less busy) can succeed."""

    http_status = 503
    code = "timed_out"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


@contextmanager
def statement_timeout(session: Session, seconds: float, message: str) -> Iterator[None]:
    """Stop any statement `session` runs in the block after `seconds`, raising
    StatementTimedOut(`message`). Call inside the transaction it is to bound: on
    PostgreSQL the setting ends with the transaction."""
    retry_after = max(1, math.ceil(seconds))
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        session.execute(text("SELECT set_config('statement_timeout', :ms, true)"),
                        {"ms": str(max(1, round(seconds * 1000)))})
        try:
            yield
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) == _QUERY_CANCELED:
                raise StatementTimedOut(message, retry_after) from None
            raise
        return
    raw = connection.connection.driver_connection
    deadline = time.monotonic() + seconds
    raw.set_progress_handler(lambda: time.monotonic() > deadline, _SQLITE_STEPS)
    try:
        yield
    except DBAPIError as exc:
        if "interrupted" in str(exc.orig) and time.monotonic() > deadline:
            raise StatementTimedOut(message, retry_after) from None
        raise
    finally:
        raw.set_progress_handler(None, 0)
