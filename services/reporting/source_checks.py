"""The audit's checks of each source's log: against its own hash chain and reporting's archive."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from chibo.eventstore.audit import Finding
from services.reporting.read_model import archive

__all__ = ["audit_checks", "audit_metadata", "check_source", "latest_status"]

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

MAX_FINDINGS = 100  # per check; the first ones locate the damage

VerifyRpc = Callable[[], Mapping[str, Any]]
ReadEventsRpc = Callable[[int, int], list[Mapping[str, Any]]]


def check_source(session: Session, source: str, verify_rpc: VerifyRpc,
                 read_events_rpc: ReadEventsRpc, batch: int = 5000, *,
                 now: datetime | None = None) -> dict[str, Any]:
    """Check one source's log both ways, record the verdict in `audit_checks`, return it:
    `{source, state: ok|tampered|unknown, events, checked_at, findings}`.

    A source's log is trusted when two independent checks agree. The source recomputes
    its own hash chain (`verify_rpc`), which finds rows edited, deleted or inserted by
    hand; and reporting compares the (position, event id, hash) it archived when each
    event was first published with what the source's log says now (`read_events_rpc`),
    which finds a log rewritten from some row onward with every later hash recomputed.
    Only the latest verdict per source is kept, so a page shows the last check without
    running it again.

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
