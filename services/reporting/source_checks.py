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
from chibo.eventstore.signing import FORM_COMMITMENTS, Keyring
from services.reporting.archive import (
    content_hash,
    covers_private_values,
    indexed_actor,
    row_envelope,
)
from services.reporting.read_model import archive
from services.shared.events import catalogue

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
                 now: datetime | None = None, keyring: Keyring | None = None
                 ) -> dict[str, Any]:
    """Check one source's log both ways, record the verdict in `audit_checks`, return it:
    `{source, state: ok|tampered|unknown, events, checked_at, findings}`.

    A source's log is trusted when two independent checks agree. The source recomputes
    its own hash chain (`verify_rpc`), which finds rows edited, deleted or inserted by
    hand; and reporting compares the (position, event id, hash) it archived when each
    event was first published with what the source's log says now (`read_events_rpc`),
    which finds a log rewritten from some row onward with every later hash recomputed.
    Only the latest verdict per source is kept, so a page shows the last check without
    running it again.

    Both are checked on their content too, with the source's public keys (`keyring`):
    every event the source publishes and every archived copy must give its own hash from
    its fields (private fields by their commitments) and carry the source's signature
    over it, and each archived copy must equal the source's event (hash, signature,
    commitments, data and metadata). So a log rewritten with every hash recomputed, and
    the archive's hashes rewritten to match, is found by the signatures; an archived copy
    edited alone is found by its content; a row appended without the key is found unsigned.

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
    log_signatures, copy_signatures = _Signatures(keyring), _Signatures(keyring)
    try:
        findings += _listed(_compare_with_archive(session, source, read_events_rpc, batch,
                                                  log_signatures))
    except Exception as exc:  # noqa: BLE001
        session.rollback()
        unreached.append(f"{source}'s log could not be read to compare it with reporting's "
                         f"archive ({_describe(exc)}); try again when it is running.")
    findings += _listed(_check_archived_content(session, source, batch, copy_signatures))
    if log_signatures.unverifiable or copy_signatures.unverifiable:
        unreached.append(f"không có khóa công khai của {source} để kiểm tra chữ ký (no public "
                         f"key of {source} to check its signatures with): put "
                         f"{source}-signing.pub in SIGNING.keys_dir (see docs/operations.md).")
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
                          batch: int, signatures: _Signatures) -> Iterator[Finding]:
    """Walk reporting's copy and the source's log side by side, in position order. Only
    positions reporting has archived are compared: newer events are not news. Every event
    of the log, archived or not, is checked on its content and signature."""
    log = _logged(read_events_rpc, batch)
    entry = next(log, None)
    gone: _Gone | None = None  # the run of archived positions the log no longer has
    for copy in _archived(session, source, batch):
        position, event_id = copy["position"], copy["event_id"]
        while entry is not None and entry["position"] < position:
            if gone:
                yield gone.finding()
                gone = None
            yield Finding(entry["position"], entry["event_id"], "nhật ký nguồn có dòng này nhưng "
                          "kho lưu của báo cáo thì không: một dòng bị chèn vào nhật ký, hoặc bị "
                          "xóa khỏi kho lưu (the source's log has this row but reporting's "
                          "archive does not: a row was inserted into the log, or removed from "
                          "the archive)")
            yield from _published_event(entry, signatures)
            entry = next(log, None)
        if entry is None or entry["position"] > position:
            if gone and gone.extends_to(position):
                continue
            if gone:
                yield gone.finding()
            gone = _Gone(position, event_id)
            continue
        if gone:
            yield gone.finding()
            gone = None
        if entry["event_id"] != event_id or not _same_hash(entry, copy):
            yield Finding(position, entry["event_id"], "khác bản báo cáo lưu khi được công bố lần "
                          "đầu: nhật ký bị viết lại từ đây, hoặc bản lưu bị sửa (differs from "
                          "the copy reporting archived when it was first published: the log "
                          "was rewritten from here, or the archived copy was altered)")
            return  # after a rewrite every later hash differs too; the first row is the news
        yield from _differences(entry, copy)
        yield from _published_event(entry, signatures)
        entry = next(log, None)
    if gone:
        yield gone.finding()
    while entry is not None:  # not archived yet: checked on its content and signature
        yield from _published_event(entry, signatures)
        entry = next(log, None)


def _same_hash(entry: Mapping[str, Any], copy: Mapping[str, Any]) -> bool:
    """Whether the log's event and the archived copy carry the same hash. A source does
    not publish a hash covering private values (form 1 of a type with private fields),
    which a copy archived before that rule may hold: there, there is nothing to compare."""
    if entry.get("hash") is None and covers_private_values(
            str(entry.get("type")), entry.get("hash_form")):
        return True
    return bool(entry.get("hash") == copy["hash"])


#: What an archived copy must share with the source's event, beyond its hash.
_COMPARED = ("stream_id", "stream_version", "type", "version", "data", "metadata",
             "recorded_at", "prev_hash", "hash_form", "commitments", "key_id", "signature")
#: Those a copy archived before the archive kept them lacks (revision 0006).
_KEPT_SINCE_0006 = ("stream_version", "prev_hash", "hash_form", "commitments", "key_id",
                    "signature")


def _differences(entry: Mapping[str, Any], copy: Mapping[str, Any]) -> Iterator[Finding]:
    """The fields in which the archived copy differs from the source's event (upcast as
    the archive received it; private fields blanked in both, compared by commitment).
    Only the fields the source's envelope carries are compared."""
    event = dict(entry)
    if catalogue.knows(str(event.get("type"))) and "data" in event and "version" in event:
        event["version"], event["data"] = catalogue.upcast(
            str(event["type"]), int(event["version"]), event["data"])
    for name in ("metadata", "commitments"):
        if name in event:
            event[name] = event[name] or {}
    old_copy = copy["hash_form"] is None
    differing = [name for name in _COMPARED
                 if name in event and not (old_copy and name in _KEPT_SINCE_0006)
                 and event[name] != copy.get(name)]
    if differing:
        yield Finding(int(copy["position"]), copy["event_id"],
                      f"bản lưu của báo cáo khác sự kiện của nguồn ở {', '.join(differing)}: "
                      "bản lưu hoặc nhật ký đã bị sửa (reporting's archived copy differs from "
                      f"the source's event in {', '.join(differing)}: the archived copy or the "
                      "log was edited)")


def _published_event(entry: Mapping[str, Any], signatures: _Signatures) -> Iterator[Finding]:
    """An event as its source publishes it, checked on its own: its content gives its
    hash, and the source's key signed that hash."""
    position, event_id = int(entry["position"]), str(entry["event_id"])
    computed = content_hash(entry)
    if computed is not None and computed != entry.get("hash"):
        yield Finding(position, event_id, "sự kiện nguồn công bố không khớp mã băm của nó: "
                      "dòng đã bị sửa trong nhật ký (the event the source publishes does not "
                      "match its hash: the row was edited in the log)")
    problem = signatures.check(entry)
    if problem:
        yield Finding(position, event_id, f"trong nhật ký nguồn (in the source's log): {problem}")


def _check_archived_content(session: Session, source: str, batch: int,
                            signatures: _Signatures) -> Iterator[Finding]:
    """Every archived copy of `source`'s events, checked on its own: its content gives
    its hash, its source's key signed that hash, and the actor it is searched by is the
    one its metadata names. Finds a copy edited in the archive alone."""
    kept_from: int | None = None  # the first copy archived with its checks
    for copy in _archived(session, source, batch):
        position, event_id = int(copy["position"]), str(copy["event_id"])
        if copy["hash_form"] is None:
            if kept_from is not None:
                yield Finding(position, event_id, _EDITED_COPY.format(
                    what=f"lưu không kèm thông tin kiểm tra sau các dòng {kept_from}… có kèm "
                    f"(archived without its checks after rows from {kept_from} were archived "
                    "with them)"))
            continue
        kept_from = kept_from or position
        computed = content_hash(copy)
        if computed is not None and computed != copy["hash"]:
            yield Finding(position, event_id, _EDITED_COPY.format(
                what="nội dung không khớp mã băm (its content does not match its hash)"))
        if copy["actor_column"] != indexed_actor(copy["metadata"]):
            yield Finding(position, event_id, _EDITED_COPY.format(
                what="người thực hiện dùng để tìm kiếm khác người ghi trong ngữ cảnh (the "
                "actor it is searched by is not the one its metadata names)"))
        problem = signatures.check(copy)
        if problem:
            yield Finding(position, event_id, _EDITED_COPY.format(what=problem))


_EDITED_COPY = ("bản lưu của báo cáo đã bị sửa (the archived copy was edited): {what}")


class _Signatures:
    """The signature checks along one log (or one source's archived copies), in position
    order. A service signs every row from its first signed one on and writes hash form 2
    from its first form-2 row on, so an unsigned row or a form-1 row after those was
    written by someone without the service's key, outside its store."""

    def __init__(self, keyring: Keyring | None) -> None:
        self.keyring = keyring
        self.signed_from: int | None = None
        self.form_2_from: int | None = None
        #: A signed row was seen but there is no public key to check it with.
        self.unverifiable = False

    def check(self, event: Mapping[str, Any]) -> str | None:
        position = int(event["position"])
        if event.get("hash_form") == FORM_COMMITMENTS:
            self.form_2_from = self.form_2_from or position
        elif self.form_2_from is not None:
            return ("dòng dạng mã băm 1 sau các dòng dạng 2 từ vị trí "
                    f"{self.form_2_from}: ghi ngoài kho sự kiện (a hash form 1 row after form 2 "
                    f"rows from position {self.form_2_from}: written outside the event store)")
        if event.get("hash") is None:
            return None  # a hash covering private values is not published: nothing to check
        if not self.keyring:
            self.unverifiable = self.unverifiable or bool(event.get("signature"))
            return None
        problem = self.keyring.verify(event.get("key_id"), event.get("signature"),
                                      str(event["hash"]))
        if problem is None:
            self.signed_from = self.signed_from or position
            return None
        if problem == "unsigned":
            if self.signed_from is None:
                return None  # written before the service signed its rows
            return ("không có chữ ký của dịch vụ sau các dòng đã ký từ vị trí "
                    f"{self.signed_from}: do người không giữ khóa thêm vào (unsigned after rows "
                    f"signed from position {self.signed_from}: added by someone without the "
                    "service's key)")
        return (f"chữ ký không hợp lệ ({problem}): bị sửa hoặc giả mạo bởi người không giữ "
                f"khóa của dịch vụ (the signature fails ({problem}): edited or forged by "
                "someone without the service's key)")


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


def _archived(session: Session, source: str, batch: int) -> Iterator[dict[str, Any]]:
    """The source's archived copies in position order, as envelopes (`actor_column`: the
    actor they are searched by)."""
    after = 0
    while True:
        rows = session.execute(
            select(archive).where(archive.c.source == source, archive.c.position > after)
            .order_by(archive.c.position).limit(batch)).all()
        session.commit()  # end the read before the next RPC (see check_source)
        if not rows:
            return
        for row in rows:
            yield {**row_envelope(row), "actor_column": row.actor}
        after = int(rows[-1].position)


def _logged(read_events_rpc: ReadEventsRpc, batch: int) -> Iterator[Mapping[str, Any]]:
    after = 0
    while True:
        envelopes = read_events_rpc(after, batch)
        if not envelopes:
            return
        yield from envelopes
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
