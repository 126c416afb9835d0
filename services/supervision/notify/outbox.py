"""The notifications outbox: a row per escalation and channel, claimed, sent and recorded."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from prometheus_client import Counter
from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from services.supervision.notify.channels import (
    backoff,
    checked_channel,
    normalise_config,
    webhook_secret,
)
from services.supervision.notify.email import build_email, smtp_send
from services.supervision.notify.encoding import as_utc, json_default, utc_naive
from services.supervision.notify.webhook import (
    WEBHOOK_TIMEOUT_SECONDS,
    http_post,
    webhook_body,
    webhook_headers,
)

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "chibo_notifications_total",
    "Notification sends tried, by channel kind and outcome (delivered, retry, failed).",
    ("kind", "outcome"))

NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:chibo:supervision:notifications")
# How long a claimed row stays out of other workers' reach. Far longer than one
# send can take (webhook 10 s, SMTP a few timeouts of `timeout_seconds`).
CLAIM_LEASE = timedelta(minutes=15)
# A row enqueued without `not_before` is due at once.
DUE_AT_ONCE = datetime(1970, 1, 1)
MAX_ERROR_CHARS = 2000

# `pending` waits for `next_attempt_at`; `sending` is claimed by a worker; `failed` has
# used up max_attempts (`last_error` says why).
PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"

metadata = MetaData()

notifications = Table(
    "notifications", metadata,
    Column("notification_id", String(36), primary_key=True),
    Column("escalation_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("target", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    # Times are naive UTC in both backends.
    Column("next_attempt_at", DateTime, nullable=False),
    Column("claim", String(36)),
    Column("last_error", Text),
    Column("delivered_at", DateTime),
    Index("ix_notifications_due", "state", "next_attempt_at"),
)


SendEmail = Callable[[dict[str, Any], EmailMessage], dict[str, Any]]
PostWebhook = Callable[[str, bytes, dict[str, str], float], int]


# -- enqueueing ----------------------------------------------------------------------


def notification_id(escalation_id: str, index: int, target: str) -> str:
    """A uuid5 of the escalation, the channel's place and its target: re-enqueueing adds
    nothing."""
    return str(uuid.uuid5(NAMESPACE, f"{escalation_id}\x1f{index}\x1f{target}"))


def channel_target(channel: dict[str, Any]) -> str:
    """Where a channel sends, as the row's `target` holds it."""
    if channel["kind"] == "email":
        to = channel["to"]
        return ", ".join([to] if isinstance(to, str) else to)
    return str(channel["url"])


def enqueue(session: Session, escalation: dict[str, Any], channels: list[dict[str, Any]],
            *, not_before: datetime | None = None) -> int:
    """One pending notification per channel; returns how many rows were new.

    Call it in the transaction that records the escalation, so every escalation has its
    notifications. Rows that exist already (same escalation, channel place and target)
    are left alone. `not_before` (default: at once) is when the first send is due.
    """
    escalation_id = str(escalation["escalation_id"])
    payload = json.dumps(escalation, ensure_ascii=False, sort_keys=True, default=json_default)
    due = utc_naive(not_before) if not_before is not None else DUE_AT_ONCE
    dialect = session.get_bind().dialect.name
    added = 0
    for index, raw in enumerate(channels):
        channel = checked_channel(raw, str(escalation.get("target_unit_id", "?")))
        target = channel_target(channel)
        values = {
            # The level is part of the key: a re-escalation notifies afresh.
            "notification_id": notification_id(
                f"{escalation_id}\x1f{escalation.get('level', '')}", index, target),
            "escalation_id": escalation_id, "kind": channel["kind"], "target": target,
            "payload": payload, "state": PENDING, "attempts": 0, "next_attempt_at": due,
        }
        if dialect == "postgresql":
            statement = pg_insert(notifications).values(**values).on_conflict_do_nothing()
        elif dialect == "sqlite":
            statement = sqlite_insert(notifications).values(**values).on_conflict_do_nothing()
        else:
            if session.execute(select(notifications.c.notification_id).where(
                    notifications.c.notification_id == values["notification_id"])).first():
                continue
            statement = insert(notifications).values(**values)
        added += session.execute(statement).rowcount or 0
    return added


# -- delivering ----------------------------------------------------------------------


def deliver_due(factory: sessionmaker[Session], now: datetime, channels_config: dict[str, Any],
                send_email: SendEmail | None = None, post_webhook: PostWebhook | None = None,
                *, limit: int | None = None) -> dict[str, int]:
    """Send every notification due at `now`; returns counts of what happened.

    Keys: claimed, delivered, retrying (will be tried again), failed (gave up,
    including rows left `sending` by a lost worker with no attempts left).

    Each row is first *claimed* in a short transaction (state `sending`, its attempt
    counted, a lease until `now + CLAIM_LEASE`; on PostgreSQL the candidate is picked
    with `FOR UPDATE SKIP LOCKED`), then sent with no transaction open, then its outcome
    recorded only if the claim is still ours. A worker that dies mid-send leaves a
    `sending` row whose lease runs out and which is claimed again: a receiver may then
    see it twice, which is why both channels carry the notification id (`Message-ID`,
    `X-Chibo-Notification-Id`) for it to deduplicate.
    """
    config = normalise_config(channels_config)
    send_email = send_email or smtp_send
    post_webhook = post_webhook or http_post
    at = utc_naive(now)
    counts = {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0}
    counts["failed"] += _give_up_exhausted(factory, at, config["retry"]["max_attempts"])
    while limit is None or counts["claimed"] < limit:
        claimed = _claim_next(factory, at, config["retry"]["max_attempts"])
        if claimed is None:
            break
        counts["claimed"] += 1
        row, token = claimed
        error = _send(row, config, as_utc(now), send_email, post_webhook)
        outcome = _record(factory, row, token, at, error, config)
        NOTIFICATIONS.labels(row["kind"], outcome).inc()
        counts[{"delivered": "delivered", "retry": "retrying", "failed": "failed"}[outcome]] += 1
    return counts


def _due(at: datetime):  # type: ignore[no-untyped-def]
    return (notifications.c.state.in_((PENDING, SENDING)),
            notifications.c.next_attempt_at <= at)


def _claim_next(factory: sessionmaker[Session], at: datetime,
                max_attempts: int) -> tuple[dict[str, Any], str] | None:
    """Claim one due row for this worker, or None when nothing is due."""
    with factory() as session, session.begin():
        for _ in range(10):
            # SKIP LOCKED lets PostgreSQL workers pass over each other's rows;
            # SQLite ignores it (its writers queue) and the rowcount check decides.
            candidate = session.execute(
                select(notifications)
                .where(*_due(at), notifications.c.attempts < max_attempts)
                .order_by(notifications.c.next_attempt_at, notifications.c.notification_id)
                .limit(1).with_for_update(skip_locked=True)).mappings().first()
            if candidate is None:
                return None
            token = str(uuid.uuid4())
            taken = session.execute(
                update(notifications)
                .where(notifications.c.notification_id == candidate["notification_id"],
                       notifications.c.attempts == candidate["attempts"], *_due(at))
                .values(state=SENDING, claim=token, attempts=candidate["attempts"] + 1,
                        next_attempt_at=at + CLAIM_LEASE)).rowcount
            if taken == 1:
                row = dict(candidate)
                row["attempts"] += 1
                return row, token
            # Another worker took it between our read and our write: look again.
    return None


def _give_up_exhausted(factory: sessionmaker[Session], at: datetime, max_attempts: int) -> int:
    """Rows due with no attempts left (a worker lost mid-send, or max_attempts lowered)."""
    with factory() as session, session.begin():
        rows = session.execute(select(notifications.c.notification_id, notifications.c.kind,
                                      notifications.c.last_error)
                               .where(*_due(at), notifications.c.attempts >= max_attempts)
                               ).all()
        given_up = 0
        for row in rows:
            changed = session.execute(
                update(notifications)
                .where(notifications.c.notification_id == row.notification_id, *_due(at))
                .values(state=FAILED, claim=None, last_error=row.last_error or (
                    f"gave up after {max_attempts} attempts (the last send's "
                    "outcome was never recorded)"))).rowcount
            if changed:
                given_up += changed
                NOTIFICATIONS.labels(row.kind, "failed").inc()
    return given_up


def _send(row: dict[str, Any], config: dict[str, Any], now: datetime, send_email: SendEmail,
          post_webhook: PostWebhook) -> str | None:
    """Send one notification; None when delivered, else what went wrong."""
    escalation = json.loads(row["payload"])
    try:
        if row["kind"] == "email":
            message = build_email(row["notification_id"], escalation,
                                  _split_addresses(row["target"]), config["smtp"]["from"], now)
            refused = send_email(config["smtp"], message) or {}
            if refused:
                log.warning("notification %s: some recipients refused: %s",
                            row["notification_id"], refused)
            return None
        if row["kind"] == "webhook":
            secret = webhook_secret(config, row["target"], escalation.get("target_unit_id"))
            if secret is None:
                return f"no webhook channel with secret configured for {row['target']}"
            body = webhook_body(row["notification_id"], escalation)
            headers = webhook_headers(secret, row["notification_id"], now, body)
            status = post_webhook(row["target"], body, headers, WEBHOOK_TIMEOUT_SECONDS)
            if 200 <= int(status) < 300:
                return None
            return f"HTTP {status} from {row['target']}"
        return f"unknown notification kind {row['kind']!r}"
    except Exception as exc:  # noqa: BLE001 - any failure to send is a failed attempt
        return f"{exc.__class__.__name__}: {exc}"


def _record(factory: sessionmaker[Session], row: dict[str, Any], token: str, at: datetime,
            error: str | None, config: dict[str, Any]) -> str:
    """Store the outcome of our claim; returns delivered, retry or failed."""
    attempts = row["attempts"]
    if error is None:
        values: dict[str, Any] = {"state": DELIVERED, "delivered_at": at, "claim": None}
        outcome = "delivered"
    elif attempts >= config["retry"]["max_attempts"]:
        values = {"state": FAILED, "claim": None, "last_error": error[:MAX_ERROR_CHARS]}
        outcome = "failed"
    else:
        values = {"state": PENDING, "claim": None, "last_error": error[:MAX_ERROR_CHARS],
                  "next_attempt_at": at + backoff(config, attempts)}
        outcome = "retry"
    if error is not None:
        log.warning("notification %s (%s to %s) attempt %d failed: %s", row["notification_id"],
                    row["kind"], row["target"], attempts, error)
    with factory() as session, session.begin():
        stored = session.execute(
            update(notifications).where(notifications.c.notification_id == row["notification_id"],
                                        notifications.c.claim == token).values(**values)).rowcount
    if stored != 1:
        log.warning("notification %s: claim lapsed before its outcome (%s) was recorded",
                    row["notification_id"], outcome)
    return outcome


def _split_addresses(target: str) -> list[str]:
    return [a.strip() for a in target.split(",") if a.strip()]
