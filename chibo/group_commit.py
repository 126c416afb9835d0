"""Group commit: concurrent units of work of one process share one transaction.

A commit costs a round trip and a flush to disk however little it writes. When several
callers of one process write at once, they take turns inside one open transaction, each
in a savepoint of its own, and the last of them commits for all: one commit, one flush.

Each caller still succeeds or fails alone. A block that raises is rolled back to its
savepoint and its batch-mates go on; a block that completes returns only once the
shared commit has succeeded, and raises `GroupCommitFailed` if it did not (then nothing
of any member was kept). Nothing a member wrote is visible to other connections before
the commit. Members take the event store's head lock in turn inside the one
transaction, so positions stay dense and in commit order, and each member's version
checks and idempotency checks see the members before it.

Only the primitives of `threading` and `time` are used: under eventlet's monkey patching
they are green, so waiting for one's turn yields to the hub.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from chibo import metrics

#: One name for every member's savepoint: a rollback to it undoes the newest one, which is
#: always the member that is running. Savepoints are never released one by one (that
#: would cost a round trip each); the commit ends them all.
_SAVEPOINT = "chibo_group_member"


class GroupCommitFailed(RuntimeError):
    """The shared commit failed: this caller's work, and its batch-mates', was not kept."""


class _Batch:
    def __init__(self, session: Session) -> None:
        self.session = session
        #: Members whose work is in the open transaction.
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None


class GroupCommit:
    """Units of work (`with group.unit() as session:`) that commit together when they
    run at the same time; one alone commits at once, as a plain transaction would."""

    def __init__(self, factory: Callable[[], Session], max_members: int = 32,
                 name: str = "") -> None:
        self._factory = factory
        self.max_members = max_members
        self.name = name
        #: Held by the one caller working in the open transaction.
        self._turn = threading.Lock()
        self._state = threading.Lock()
        self._waiting = 0
        self._holder: int | None = None
        self._open: _Batch | None = None

    @contextmanager
    def unit(self) -> Iterator[Session]:
        if self._holder == threading.get_ident():
            # The turn is not re-entrant: waiting for it here would wait forever.
            raise RuntimeError("a group-commit unit of work was opened inside another")
        with self._state:
            self._waiting += 1
        self._turn.acquire()
        with self._state:
            self._waiting -= 1
        self._holder = threading.get_ident()
        try:
            batch = self._open or self._begin()
            alone = batch.members == 0
            if not alone:
                batch.session.connection().exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
        except BaseException:
            self._abandon()
            raise
        try:
            yield batch.session
        except BaseException:
            if alone:
                self._abandon()
            else:
                self._undo_member(batch)
                self._pass_or_commit(batch)
            raise
        batch.members += 1
        self._pass_or_commit(batch)
        batch.done.wait()
        if batch.error is not None:
            raise GroupCommitFailed(
                f"the shared commit failed ({type(batch.error).__name__}: {batch.error}); "
                "nothing of this unit of work was kept") from batch.error

    def _begin(self) -> _Batch:
        session = self._factory()
        try:
            session.begin()
        except BaseException:
            session.close()
            raise
        self._open = _Batch(session)
        return self._open

    def _undo_member(self, batch: _Batch) -> None:
        try:
            batch.session.connection().exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        except BaseException as error:  # noqa: BLE001 - the transaction is unusable: all fail
            batch.error = error

    def _pass_or_commit(self, batch: _Batch) -> None:
        """Hand the open transaction to the next caller waiting, or commit it."""
        if self._waiting == 0 and batch.error is None:
            time.sleep(0)  # let callers that are ready to run reach the queue first
        if self._waiting > 0 and batch.members < self.max_members and batch.error is None:
            self._release()
            return
        self._open = None
        try:
            if batch.error is None:
                batch.session.commit()
                metrics.GROUP_COMMIT_MEMBERS.labels(self.name).observe(batch.members)
            else:
                batch.session.rollback()
        except BaseException as error:  # noqa: BLE001 - every member is told, below
            batch.error = batch.error or error
        finally:
            batch.session.close()
            batch.done.set()
            self._release()

    def _abandon(self) -> None:
        """The caller alone in a fresh transaction failed: roll it back, whole."""
        batch, self._open = self._open, None
        if batch is not None:
            batch.session.close()  # rolls back
            batch.error = batch.error or RuntimeError("abandoned")
            batch.done.set()
        self._release()

    def _release(self) -> None:
        self._holder = None
        self._turn.release()
