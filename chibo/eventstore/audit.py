"""Tamper checks over a service's log: every edit, deletion or insertion is located."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from chibo.eventstore.hashing import row_hash
from chibo.eventstore.signing import Keyring
from chibo.eventstore.store import hashed_data
from chibo.eventstore.tables import GENESIS_HASH, event_head, events


@dataclass(frozen=True)
class Finding:
    position: int
    event_id: str | None
    problem: str

    def __str__(self) -> str:
        who = f"vị trí (position) {self.position}" + (
            f" (sự kiện/event {self.event_id})" if self.event_id else "")
        return f"{who}: {self.problem}"


def verify_log(session: Session, batch_size: int = 5000,
               keyring: Keyring | None = None) -> Iterator[Finding]:
    """Walk the log in position order, recomputing the chain; yield each problem found.

    With the service's public keys (`keyring`), every signature is checked too, and
    once a row is signed every later row must be: signing is never turned off, so an
    unsigned row after a signed one was added by someone without the key."""
    expected_position = 1
    prev_hash = GENESIS_HASH
    prev_event_id: str | None = None
    after = 0
    signed_from: int | None = None
    while True:
        rows = session.execute(
            select(events).where(events.c.position > after)
            .order_by(events.c.position).limit(batch_size)).all()
        if not rows:
            break
        for row in rows:
            position = int(row.position)
            if position > expected_position:
                missing = (f"{expected_position}" if position == expected_position + 1
                           else f"{expected_position}–{position - 1}")
                yield Finding(expected_position, None,
                              f"mất dòng ở vị trí {missing}: đã bị xóa khỏi nhật ký (row(s) at "
                              f"position {missing} are missing: deleted from the log)")
            elif row.prev_hash != prev_hash:
                yield Finding(position - 1, prev_event_id,
                              "dòng này không còn mã băm mà dòng sau đã ghi: đã bị viết lại "
                              "hoặc thay thế (this row no longer has the hash the next row "
                              "recorded for it: it was rewritten or replaced)")
            computed = row_hash(row.prev_hash, position, row.event_id, row.stream_id,
                                int(row.stream_version), row.type, int(row.version),
                                hashed_data(row), row.meta, row.recorded_at)
            if computed != row.hash:
                yield Finding(position, row.event_id,
                              "nội dung không khớp mã băm: dòng đã bị sửa (its content does "
                              "not match its hash: the row was edited)")
            if keyring:
                problem = keyring.verify(row.key_id, row.signature, row.hash)
                if problem is None:
                    signed_from = signed_from or position
                elif problem != "unsigned" or signed_from is not None:
                    yield Finding(position, row.event_id, _signature_problem(problem))
            expected_position = position + 1
            prev_hash = row.hash
            prev_event_id = row.event_id
        after = int(rows[-1].position)

    head = session.execute(select(event_head).where(event_head.c.id == 1)).first()
    last = expected_position - 1
    if head is None:
        yield Finding(last, None, "mất bản ghi đầu chuỗi (the chain head record is missing)")
    elif int(head.position) > last:
        yield Finding(last + 1, None,
                      f"mất các dòng {last + 1}–{head.position} ở cuối nhật ký: đã bị xóa (rows "
                      f"{last + 1}–{head.position} are missing at the end of the log: deleted)")
    elif int(head.position) < last:
        yield Finding(int(head.position) + 1, None,
                      f"có dòng sau vị trí {head.position} được thêm ngoài kho sự kiện: bị "
                      f"chèn vào (rows after position {head.position} were added outside the "
                      "store: inserted)")
    elif head.hash != prev_hash:
        yield Finding(last, prev_event_id,
                      "dòng cuối không khớp đầu chuỗi: đã bị viết lại (the last row does not "
                      "match the chain head: it was rewritten)")


def _signature_problem(problem: str) -> str:
    if problem == "unsigned":
        return ("dòng không có chữ ký của dịch vụ sau các dòng đã ký: do người không giữ khóa "
                "thêm vào (the row is unsigned after signed rows: added by someone without the "
                "service's key)")
    return (f"chữ ký không hợp lệ ({problem}): dòng bị sửa hoặc giả mạo bởi người không giữ "
            f"khóa (the signature fails ({problem}): the row was edited or forged by someone "
            "without the service's key)")


_ONLY_IN_COPY = ("bản lưu có dòng này nhưng nhật ký thì không: đã bị xóa (the archived copy "
                 "has this row but the log does not: deleted)")


def compare_with_copy(session: Session, copy: Iterator[tuple[int, str, str]],
                      batch_size: int = 5000) -> Iterator[Finding]:
    """Compare the log with an independent copy of (position, event_id, hash), e.g. a
    consumer's archive. Catches what the chain alone cannot: a forger who rewrote the
    log from some row onward, recomputing every later hash and the head."""
    copied = iter(copy)
    pending = next(copied, None)
    after = 0
    while pending is not None:
        rows = session.execute(
            select(events.c.position, events.c.event_id, events.c.hash)
            .where(events.c.position > after).order_by(events.c.position)
            .limit(batch_size)).all()
        if not rows:
            break
        by_position = {int(r.position): r for r in rows}
        last = int(rows[-1].position)
        while pending is not None and pending[0] <= last:
            position, event_id, digest = pending
            row = by_position.get(position)
            if row is None:
                yield Finding(position, event_id, _ONLY_IN_COPY)
            elif row.event_id != event_id or row.hash != digest:
                yield Finding(position, row.event_id,
                              "khác bản lưu khi được công bố lần đầu: nhật ký bị viết lại từ "
                              "đây (differs from the copy archived when it was first "
                              "published: the log was rewritten from here)")
                return  # everything after a rewrite differs too; the first row is the news
            pending = next(copied, None)
        after = last
    while pending is not None:
        yield Finding(pending[0], pending[1], _ONLY_IN_COPY)
        pending = next(copied, None)
