"""Checkpoints: a log's size and head hash at a moment, signed by the service, kept
outside the database (by the inspection commission, or any witness).

The format follows the C2SP tlog-checkpoint note (https://c2sp.org/tlog-checkpoint):
an origin line, the log's size, its root hash in base64, extension lines, a blank line,
then signature lines `— <name> <base64(4-byte key hint ‖ Ed25519 signature)>`. The root
is the hash chain's head at that size: each row's hash covers every row before it, so
the checkpoint commits to the whole prefix, and `verify_against` proves the log still
holds exactly that prefix or says where it does not.

    chibo.example/members
    30052
    q1v0…base64…=
    time 2026-12-01T09:30:00+00:00

    — members 3q2+7w…
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from sqlalchemy import select
from sqlalchemy.orm import Session

from chibo.eventstore.signing import Keyring, Signer
from chibo.eventstore.tables import event_head, events

ORIGIN_PREFIX = "chibo/"


class BadCheckpoint(ValueError):
    """The file is not a checkpoint, or its signature does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    service: str
    size: int
    root: str  # hex: the chain's head hash at `size`
    time: str
    key_id: str = ""
    signature: str = ""  # base64 over the note's body

    def body(self) -> str:
        root = base64.b64encode(bytes.fromhex(self.root)).decode("ascii")
        return f"{ORIGIN_PREFIX}{self.service}\n{self.size}\n{root}\ntime {self.time}\n"

    def text(self) -> str:
        hint = hashlib.sha256(self.key_id.encode("ascii")).digest()[:4]
        line = base64.b64encode(hint + base64.b64decode(self.signature)).decode("ascii")
        return f"{self.body()}\n\u2014 {self.service}@{self.key_id} {line}\n"


def make(session: Session, service: str, signer: Signer, now: str) -> Checkpoint:
    """A checkpoint of the log behind `session` as its head stands."""
    head = session.execute(select(event_head).where(event_head.c.id == 1)).one()
    unsigned = Checkpoint(service, int(head.position), head.hash, now)
    signature = base64.b64encode(signer.private.sign(unsigned.body().encode("utf-8")))
    return Checkpoint(service, unsigned.size, unsigned.root, now, signer.key_id,
                      signature.decode("ascii"))


def parse(text: str) -> Checkpoint:
    body, _, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if len(lines) < 4 or not lines[0].startswith(ORIGIN_PREFIX) or not lines[1].isdigit():
        raise BadCheckpoint("not a chibo checkpoint (origin, size, root, time lines)")
    time_line = next((line for line in lines[3:] if line.startswith("time ")), "time ")
    try:
        root = base64.b64decode(lines[2]).hex()
        name, encoded = signatures.strip().split("\n")[0].removeprefix("\u2014 ").split(" ")
        service_and_key = name.split("@")
        raw = base64.b64decode(encoded)
    except (ValueError, IndexError) as error:
        raise BadCheckpoint(f"malformed checkpoint: {error}") from None
    return Checkpoint(lines[0].removeprefix(ORIGIN_PREFIX), int(lines[1]), root,
                      time_line.removeprefix("time "),
                      service_and_key[1] if len(service_and_key) > 1 else "",
                      base64.b64encode(raw[4:]).decode("ascii"))


def check_signature(checkpoint: Checkpoint, keyring: Keyring) -> None:
    public = keyring.keys.get(checkpoint.key_id)
    if public is None:
        raise BadCheckpoint(f"signed with a key this service does not have "
                            f"({checkpoint.key_id or 'none'})")
    try:
        public.verify(base64.b64decode(checkpoint.signature),
                      checkpoint.body().encode("utf-8"))
    except (InvalidSignature, ValueError):
        raise BadCheckpoint("the checkpoint's signature does not verify: it was "
                            "altered") from None


def verify_against(session: Session, checkpoint: Checkpoint) -> list[str]:
    """What is wrong with the log compared with `checkpoint` (empty: it still holds the
    prefix the checkpoint committed to)."""
    if checkpoint.size == 0:
        return []
    row: Any = session.execute(select(events.c.position, events.c.hash, events.c.event_id)
                               .where(events.c.position == checkpoint.size)).first()
    if row is None:
        last = session.execute(select(events.c.position).order_by(
            events.c.position.desc()).limit(1)).scalar() or 0
        return [f"vị trí (position) {last + 1}–{checkpoint.size}: nhật ký chỉ còn {last} dòng, "
                f"điểm kiểm tra ngày {checkpoint.time} có {checkpoint.size} (the log holds "
                f"{last} rows; the checkpoint of {checkpoint.time} committed to "
                f"{checkpoint.size}: the rows after {last} were deleted)"]
    if row.hash != checkpoint.root:
        return [f"vị trí (position) {checkpoint.size} (sự kiện/event {row.event_id}): mã băm "
                f"khác điểm kiểm tra ngày {checkpoint.time} (its hash differs from the "
                "checkpoint's: a row at or before it was rewritten since; the chain and "
                "signature findings name which)"]
    return []
