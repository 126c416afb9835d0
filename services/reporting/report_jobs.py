"""Reports made once per state of the read models, and the large ones in the background,
kept in reporting's database so that every instance of the service shares them.

A report is a function of the read models, the day and what was asked (format, unit,
period, grouping, language, the signer's fields): kept under that key (the read
models' position is each source's watermark), it is made once and served again until
an event moves a watermark. `report_jobs` holds one row per key: the job making it
(its state and steps, the account that first asked, the clock's times) and, once done,
the file itself. Claiming a key is one INSERT … ON CONFLICT DO NOTHING on the key's
unique hash, so of two requests at the same moment, on one instance or two, one makes
the report and the other waits for it (or, in the background, polls the same job).
`report_job_readers` names the accounts that asked for each job: only they see it.

A job's maker proves it is alive by holding a lock while it works: on PostgreSQL a
transaction-level advisory lock on the attempt's token, on its own connection, taken
before the claim is visible (a process that dies drops its connections and with them
the lock); on SQLite (embedded mode, one process per database) the process's own set
of attempts. A running job whose lock is free was left by a process that died: the
next look at it (its page, a request for the same report) marks it failed with
`STOPPED`, and the next request for the report claims it again and makes it anew. It
is not taken over where it stood: the maker's work died with it, and the report is
quick to begin again from its key.

Only the `KEEP` most recent jobs that are not running are kept, their files with them:
the same bound as the read models' page cache, whatever the clock says.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any

from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from chibo.clock import Clock
from chibo.errors import ServiceUnavailable

_log = logging.getLogger(__name__)

#: How many finished or failed jobs (and their files) are kept, the newest.
KEEP = 64
#: The longest a request waits for the same report being made by another request.
WAIT_SECONDS = 300.0
#: Why a job stopped when the process making it ended before it finished.
STOPPED = "stopped: the process making the report ended before it finished"

metadata = MetaData()

report_jobs = Table(
    "report_jobs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),  # order of claims
    Column("job_id", String(32), nullable=False),  # the id in the job page's address
    Column("key_hash", String(64), nullable=False),  # SHA-256 of the whole key
    Column("format", String(8), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("period", String(16), nullable=False),
    Column("grouping", String(16), nullable=True),
    Column("lang", String(8), nullable=False),
    Column("printed", Text, nullable=False),  # the printed fields, JSON
    Column("position", Text, nullable=False),  # the watermarks and the day, JSON
    Column("owner", String(200), nullable=False),  # the account that first asked
    Column("title", Text, nullable=False),
    Column("state", String(16), nullable=False),  # running, done, failed
    Column("claim", String(32), nullable=False),  # the attempt making it
    Column("total_steps", Integer, nullable=False),
    Column("done_steps", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Column("media_type", String(100), nullable=True),
    Column("file_name", Text, nullable=True),
    Column("body", LargeBinary, nullable=True),
    UniqueConstraint("job_id", name="report_job_id"),
    UniqueConstraint("key_hash", name="one_job_per_report"),
)

report_job_readers = Table(
    "report_job_readers", metadata,
    Column("job_id", String(32), nullable=False),
    Column("account", String(200), nullable=False),
    PrimaryKeyConstraint("job_id", "account"),
)

_STATUS = (report_jobs.c.job_id, report_jobs.c.state, report_jobs.c.title,
           report_jobs.c.done_steps, report_jobs.c.total_steps, report_jobs.c.file_name,
           report_jobs.c.error, report_jobs.c.claim, report_jobs.c.created_at,
           report_jobs.c.finished_at)


@dataclass(frozen=True)
class Made:
    body: bytes
    content_type: str
    filename: str


@dataclass(frozen=True)
class ReportKey:
    """What a report is a function of."""

    format: str
    unit_id: str
    period: str
    grouping: str | None
    lang: str
    printed: Any  # a dataclass or mapping of the printed fields
    position: Any  # the read models' position: watermarks and the day (JSON-able)
    title: str

    def printed_json(self) -> str:
        fields = asdict(self.printed) if is_dataclass(self.printed) else dict(self.printed)
        return json.dumps(fields, ensure_ascii=False, sort_keys=True)

    def position_json(self) -> str:
        return json.dumps(self.position, ensure_ascii=False, sort_keys=True, default=str)

    def digest(self) -> str:
        whole = [self.format, self.unit_id, self.period, self.grouping, self.lang,
                 self.printed_json(), self.position_json(), self.title]
        return hashlib.sha256(json.dumps(whole, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class JobStatus:
    job_id: str
    state: str
    title: str
    done_steps: int
    total_steps: int
    filename: str | None
    error: str | None

    def status(self) -> dict[str, object]:
        return {"job_id": self.job_id, "state": self.state, "title": self.title,
                "done_steps": self.done_steps, "total_steps": self.total_steps,
                "filename": self.filename, "stopped": self.error == STOPPED}


Produce = Callable[[Callable[[], None]], Made]

# The attempts this process is making (SQLite's proof of life; see the module's text).
_MAKING: set[str] = set()
_MAKING_LOCK = threading.Lock()


def _lock_key(claim: str) -> int:
    return int.from_bytes(hashlib.sha256(f"report-job:{claim}".encode()).digest()[:8],
                          "big", signed=True)


class _Maker:
    """One attempt at making a job's report: holds the proof of life until released."""

    def __init__(self, factory: sessionmaker[Session], claim: str) -> None:
        self.claim = claim
        self.job_id = ""
        self._factory = factory
        self._held: Session | None = None

    def hold(self) -> None:
        session = self._factory()
        if session.get_bind().dialect.name == "postgresql":
            session.begin()
            session.execute(select(func.pg_advisory_xact_lock(_lock_key(self.claim))))
            self._held = session  # idle in its transaction until the report is made
        else:
            session.close()
            with _MAKING_LOCK:
                _MAKING.add(self.claim)

    def release(self) -> None:
        with _MAKING_LOCK:
            _MAKING.discard(self.claim)
        if self._held is not None:
            held, self._held = self._held, None
            try:
                held.rollback()  # ends the transaction: the lock goes with it
            finally:
                held.close()


def _alive(session: Session, claim: str) -> bool:
    """Whether the attempt `claim` is still being made by a live process."""
    if session.get_bind().dialect.name == "postgresql":
        # Taken (and released with this transaction) only if its maker let it go.
        return not session.execute(
            select(func.pg_try_advisory_xact_lock(_lock_key(claim)))).scalar_one()
    with _MAKING_LOCK:
        return claim in _MAKING


class ReportJobs:
    """The reports made and the jobs making them, in the service's database."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, keep: int = KEEP,
                 wait_seconds: float = WAIT_SECONDS) -> None:
        self.factory = factory
        self.clock = clock
        self.keep = keep
        self.wait_seconds = wait_seconds

    # -- asking ------------------------------------------------------------------------

    def make_now(self, key: ReportKey, owner: str, produce: Produce) -> Made:
        """The report for `key`: as made already, made here and now, or, while another
        request (on any instance) is making it, as that one makes it."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            job, maker = self._claim(key, owner, 1)
            if maker is not None:
                return self._run(maker, produce, reraise=True)
            if job.state == "done":
                made = self._file(job.job_id)
                if made is not None:
                    return made
            if time.monotonic() > deadline:
                raise ServiceUnavailable("The same report is still being made: ask again "
                                         "in a moment.")
            time.sleep(0.1)  # another request makes it: wait for its file

    def start(self, key: ReportKey, owner: str, steps: int, produce: Produce) -> JobStatus:
        """The job making the report for `key` in the background: the one running or
        done already when there is one (asked twice, made once), else a new one."""
        job, maker = self._claim(key, owner, steps)
        if maker is not None:
            threading.Thread(target=self._run, args=(maker, produce), daemon=True,
                             name=f"report-{maker.job_id[:8]}").start()
        return job

    def get(self, job_id: str, owner: str) -> JobStatus | None:
        """The job, if `owner` asked for it; a job whose maker died is marked failed."""
        with self.factory() as session, session.begin():
            row = session.execute(
                select(*_STATUS).join(report_job_readers, and_(
                    report_job_readers.c.job_id == report_jobs.c.job_id,
                    report_job_readers.c.account == owner))
                .where(report_jobs.c.job_id == job_id)).first()
            if row is None:
                return None
            if row.state == "running" and not _alive(session, row.claim):
                self._stop(session, row.job_id, row.claim)
                row = session.execute(select(*_STATUS).where(
                    report_jobs.c.job_id == job_id)).one()
            return _status(row)

    def file(self, job_id: str, owner: str) -> Made | None:
        """The job's report once made, if `owner` asked for it."""
        with self.factory() as session:
            asked = session.execute(select(report_job_readers.c.job_id).where(
                report_job_readers.c.job_id == job_id,
                report_job_readers.c.account == owner)).first()
        return self._file(job_id) if asked is not None else None

    # -- claiming --------------------------------------------------------------------

    def _claim(self, key: ReportKey, owner: str, steps: int
               ) -> tuple[JobStatus, _Maker | None]:
        """The key's job, and the attempt to make it when this call claimed it."""
        maker = _Maker(self.factory, uuid.uuid4().hex)
        maker.hold()  # before the claim is visible: no one may see it running unheld
        try:
            with self.factory() as session, session.begin():
                job = self._claim_in(session, key, owner, steps, maker)
                session.execute(_insert(session)(report_job_readers).values(
                    job_id=job.job_id, account=owner).on_conflict_do_nothing())
        except BaseException:
            maker.release()
            raise
        if maker.job_id != job.job_id:
            maker.release()
            return job, None
        try:
            self._prune()
        except Exception:  # noqa: BLE001 - pruning waits for the next claim; the job stands
            _log.warning("pruning old report jobs failed; tried again at the next claim",
                         exc_info=True)
        return job, maker

    def _claim_in(self, session: Session, key: ReportKey, owner: str, steps: int,
                  maker: _Maker) -> JobStatus:
        digest, now = key.digest(), self.clock.now().isoformat()
        claimed = {"owner": owner, "title": key.title, "state": "running",
                   "claim": maker.claim, "total_steps": steps, "done_steps": 0,
                   "error": None, "created_at": now, "finished_at": None,
                   "media_type": None, "file_name": None, "body": None}
        job_id = uuid.uuid4().hex
        inserted = session.execute(_insert(session)(report_jobs).values(
            job_id=job_id, key_hash=digest, format=key.format, unit_id=key.unit_id,
            period=key.period, grouping=key.grouping, lang=key.lang,
            printed=key.printed_json(), position=key.position_json(), **claimed,
        ).on_conflict_do_nothing(index_elements=["key_hash"]))
        if inserted.rowcount == 1:
            maker.job_id = job_id
        else:
            row = session.execute(select(*_STATUS).where(
                report_jobs.c.key_hash == digest)).one()
            if row.state == "running" and not _alive(session, row.claim):
                self._stop(session, row.job_id, row.claim)
                row = session.execute(select(*_STATUS).where(
                    report_jobs.c.key_hash == digest)).one()
            if row.state == "failed":
                # Made again: whoever moves it from failed first makes it (one UPDATE).
                again = session.execute(update(report_jobs).where(
                    report_jobs.c.job_id == row.job_id, report_jobs.c.state == "failed",
                    report_jobs.c.claim == row.claim).values(**claimed))
                if again.rowcount == 1:
                    maker.job_id = row.job_id
            job_id = row.job_id
        return _status(session.execute(select(*_STATUS).where(
            report_jobs.c.job_id == job_id)).one())

    def _stop(self, session: Session, job_id: str, claim: str) -> None:
        _log.warning("the report job %s was left running by a process that ended: "
                     "marked failed, made again when asked again", job_id)
        session.execute(update(report_jobs).where(
            report_jobs.c.job_id == job_id, report_jobs.c.claim == claim,
            report_jobs.c.state == "running").values(
            state="failed", error=STOPPED, finished_at=self.clock.now().isoformat()))

    # -- making ----------------------------------------------------------------------

    def _run(self, maker: _Maker, produce: Produce, reraise: bool = False) -> Made | None:
        mine = and_(report_jobs.c.job_id == maker.job_id, report_jobs.c.claim == maker.claim)

        def step() -> None:
            with self.factory() as session, session.begin():
                session.execute(update(report_jobs).where(
                    mine, report_jobs.c.done_steps < report_jobs.c.total_steps).values(
                    done_steps=report_jobs.c.done_steps + 1))

        try:
            try:
                made = produce(step)
            except Exception as error:
                _log.exception("the report job %s failed", maker.job_id)
                with self.factory() as session, session.begin():
                    session.execute(update(report_jobs).where(mine).values(
                        state="failed", error=f"{type(error).__name__}: {error}"[:2000],
                        finished_at=self.clock.now().isoformat()))
                if reraise:
                    raise
                return None
            with self.factory() as session, session.begin():
                session.execute(update(report_jobs).where(mine).values(
                    state="done", done_steps=report_jobs.c.total_steps, body=made.body,
                    media_type=made.content_type, file_name=made.filename,
                    finished_at=self.clock.now().isoformat()))
            return made
        finally:
            maker.release()  # after the final state is written: never seen running unheld

    def _file(self, job_id: str) -> Made | None:
        with self.factory() as session:
            row = session.execute(select(
                report_jobs.c.body, report_jobs.c.media_type, report_jobs.c.file_name)
                .where(report_jobs.c.job_id == job_id, report_jobs.c.state == "done")).first()
        return None if row is None else Made(bytes(row.body), row.media_type, row.file_name)

    def _prune(self) -> None:
        """Keep the `keep` newest jobs that are not running (and every running one)."""
        with self.factory() as session, session.begin():
            kept = select(report_jobs.c.id).order_by(report_jobs.c.id.desc()).limit(self.keep)
            session.execute(delete(report_jobs).where(
                report_jobs.c.state != "running",
                report_jobs.c.id.not_in(select(kept.subquery().c.id))))
            session.execute(delete(report_job_readers).where(
                report_job_readers.c.job_id.not_in(select(report_jobs.c.job_id))))


def _insert(session: Session) -> Any:
    """INSERT with ON CONFLICT, in the session's dialect (both speak it)."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" \
        else sqlite.insert


def _status(row: Any) -> JobStatus:
    return JobStatus(row.job_id, row.state, row.title, row.done_steps, row.total_steps,
                     row.file_name, row.error)
