"""Notifications of escalations: an outbox of sends, delivered with retries.

`enqueue` writes one `pending` row per channel of the target committee, in the
same transaction that records the escalation, so every escalation has its
notifications and re-enqueueing adds nothing (the row id is a uuid5 of the
escalation, the channel's place and its target).

`deliver_due` sends what is due. Each row is first *claimed* in a short
transaction (state `sending`, its attempt counted, a lease until
`now + CLAIM_LEASE`; on PostgreSQL the candidate is picked with
`FOR UPDATE SKIP LOCKED`), then sent with no transaction open, then its outcome
recorded only if the claim is still ours. A worker that dies mid-send leaves a
`sending` row whose lease runs out and which is claimed again: a receiver may
then see it twice, which is why both channels carry the notification id
(`Message-ID`, `X-Chibo-Notification-Id`) for it to deduplicate.

States: `pending` (waiting for `next_attempt_at`), `sending` (claimed),
`delivered`, `failed` (max_attempts used up; `last_error` says why).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import requests
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

from chibo import settings
from services.shared import escalation_rules

log = logging.getLogger(__name__)

NOTIFICATIONS = Counter(
    "chibo_notifications_total",
    "Notification sends tried, by channel kind and outcome (delivered, retry, failed).",
    ("kind", "outcome"))

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[1] / "config" / "notification_channels.yaml"
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:chibo:supervision:notifications")
WEBHOOK_TIMEOUT_SECONDS = 10.0
# How long a claimed row stays out of other workers' reach. Far longer than one
# send can take (webhook 10 s, SMTP a few timeouts of `timeout_seconds`).
CLAIM_LEASE = timedelta(minutes=15)
# A row enqueued without `not_before` is due at once.
DUE_AT_ONCE = datetime(1970, 1, 1)
MAX_ERROR_CHARS = 2000

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


# -- configuration -------------------------------------------------------------------


def load_channels_config(path: str | Path | None = None) -> dict[str, Any]:
    """Read notification_channels.yaml (env vars substituted) and check it."""
    return normalise_config(settings.load(path or DEFAULT_CONFIG_PATH))


def normalise_config(raw: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults filled in and channels checked; idempotent. Raises ValueError."""
    raw = raw or {}
    smtp = dict(raw.get("smtp") or {})
    retry = dict(raw.get("retry") or {})
    config = {
        "smtp": {
            "host": str(smtp.get("host") or "127.0.0.1"),
            "port": int(smtp.get("port") or 25),
            "from": str(smtp.get("from") or "chibo@localhost"),
            "username": _optional_str(smtp.get("username")),
            "password": _optional_str(smtp.get("password")),
            "starttls": _flag(smtp.get("starttls")),
            "ssl": _flag(smtp.get("ssl")),
            "timeout_seconds": float(smtp.get("timeout_seconds") or 30),
        },
        "retry": {
            "max_attempts": int(retry.get("max_attempts") or 8),
            "first_delay_seconds": float(retry.get("first_delay_seconds") or 30),
            "factor": float(retry.get("factor") or 2),
            "max_delay_seconds": float(retry.get("max_delay_seconds") or 3600),
        },
        "default": [_channel(c, "default") for c in raw.get("default") or []],
        "committees": {
            str(unit_id): [_channel(c, str(unit_id)) for c in channels or []]
            for unit_id, channels in (raw.get("committees") or {}).items()},
    }
    if config["retry"]["max_attempts"] < 1:
        raise ValueError("retry.max_attempts must be at least 1")
    return config


def channels_for(config: dict[str, Any], unit_id: str) -> list[dict[str, Any]]:
    """The channels of committee `unit_id`, or the default ones if it has none listed."""
    committees = config.get("committees") or {}
    if str(unit_id) in committees:
        return list(committees[str(unit_id)])
    return list(config.get("default") or [])


def backoff(config: dict[str, Any], attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed send (1-based); never under a second."""
    retry = normalise_config(config)["retry"]
    first = float(retry.get("first_delay_seconds", 30))
    factor = float(retry.get("factor", 2))
    cap = float(retry.get("max_delay_seconds", 3600))
    seconds = min(cap, first * factor ** max(0, attempts - 1))
    return timedelta(seconds=max(1.0, seconds))


def _channel(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict) or raw.get("kind") not in ("email", "webhook"):
        raise ValueError(f"notification channel of {where}: kind must be email or webhook, "
                         f"got {raw!r}")
    if raw["kind"] == "email":
        to = raw.get("to")
        addresses = [to] if isinstance(to, str) else list(to or [])
        addresses = [str(a).strip() for a in addresses if str(a).strip()]
        if not addresses:
            raise ValueError(f"email channel of {where} has no `to` addresses")
        return {"kind": "email", "to": addresses}
    url, secret = raw.get("url"), raw.get("secret")
    if not url or not str(url).startswith(("http://", "https://")):
        raise ValueError(f"webhook channel of {where} needs an http(s) url, got {url!r}")
    if secret is None or str(secret) == "":
        raise ValueError(f"webhook channel of {where} ({url}) has no secret")
    return {"kind": "webhook", "url": str(url), "secret": str(secret)}


def _optional_str(value: Any) -> str | None:
    return None if value is None or str(value) == "" else str(value)


def _flag(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


# -- enqueueing ----------------------------------------------------------------------


def notification_id(escalation_id: str, index: int, target: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{escalation_id}\x1f{index}\x1f{target}"))


def channel_target(channel: dict[str, Any]) -> str:
    if channel["kind"] == "email":
        to = channel["to"]
        return ", ".join([to] if isinstance(to, str) else to)
    return str(channel["url"])


def enqueue(session: Session, escalation: dict[str, Any], channels: list[dict[str, Any]],
            *, not_before: datetime | None = None) -> int:
    """One pending notification per channel; returns how many rows were new.

    Call it in the transaction that records the escalation. Rows that exist
    already (same escalation, channel place and target) are left alone.
    `not_before` (default: at once) is when the first send is due.
    """
    escalation_id = str(escalation["escalation_id"])
    payload = json.dumps(escalation, ensure_ascii=False, sort_keys=True, default=_json_default)
    due = _utc_naive(not_before) if not_before is not None else DUE_AT_ONCE
    dialect = session.get_bind().dialect.name
    added = 0
    for index, raw in enumerate(channels):
        channel = _channel(raw, str(escalation.get("target_unit_id", "?")))
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
    """
    config = normalise_config(channels_config)
    send_email = send_email or smtp_send
    post_webhook = post_webhook or http_post
    at = _utc_naive(now)
    counts = {"claimed": 0, "delivered": 0, "retrying": 0, "failed": 0}
    counts["failed"] += _give_up_exhausted(factory, at, config["retry"]["max_attempts"])
    while limit is None or counts["claimed"] < limit:
        claimed = _claim_next(factory, at, config["retry"]["max_attempts"])
        if claimed is None:
            break
        counts["claimed"] += 1
        row, token = claimed
        error = _send(row, config, _as_utc(now), send_email, post_webhook)
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


def webhook_secret(config: dict[str, Any], url: str, unit_id: Any = None) -> str | None:
    """The secret of the configured webhook at `url`: the committee's own first."""
    config = normalise_config(config)
    candidates: list[dict[str, Any]] = []
    if unit_id is not None:
        candidates += channels_for(config, str(unit_id))
    for channels in (config.get("committees") or {}).values():
        candidates += channels
    candidates += config.get("default") or []
    for channel in candidates:
        if channel.get("kind") == "webhook" and channel.get("url") == url:
            return str(channel["secret"])
    return None


# -- email ---------------------------------------------------------------------------


def build_email(notification_id: str, escalation: dict[str, Any], to: list[str],
                from_address: str, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = email_subject(escalation)
    message["From"] = from_address
    message["To"] = ", ".join(to)
    message["Date"] = format_datetime(_as_utc(now))
    message["Message-ID"] = f"<{notification_id}@chibo.notifications>"
    message["X-Chibo-Notification-Id"] = notification_id
    message["X-Chibo-Escalation-Id"] = str(escalation.get("escalation_id", ""))
    message.set_content(email_body(notification_id, escalation), charset="utf-8",
                        cte="quoted-printable")
    return message


def rule_label(escalation: dict[str, Any]) -> str:
    """The rule's Vietnamese label from the catalogue (the code itself only for a rule
    the catalogue does not know, which the event schema never lets through)."""
    if escalation.get("rule_label"):
        return str(escalation["rule_label"])
    rule = escalation_rules.rule_of(escalation.get("rule"))
    return rule.label_vi if rule else str(escalation.get("rule", "")).replace("_", " ")


def period_label(escalation: dict[str, Any]) -> str:
    """"tháng 10/2026", "quý III/2026", or for a task "hạn 01/02/2026"."""
    return escalation_rules.period_label(escalation, "vi", in_sentence=True)


def reason_text(escalation: dict[str, Any]) -> str:
    """Why, in Vietnamese, read from the escalation's facts; a `reason` given without
    them (a payload built by hand) is shown as it is."""
    if escalation.get("details") or not escalation.get("reason"):
        return escalation_rules.reason(escalation, "vi")
    return str(escalation["reason"])


def email_subject(escalation: dict[str, Any]) -> str:
    subject = f"[chibo] Cảnh báo cấp {escalation.get('level', '?')}: {rule_label(escalation)}"
    if period := period_label(escalation):
        subject += f" {period}"
    if escalation.get("subject_name"):
        subject += f" – {escalation['subject_name']}"
    return subject


def email_body(notification_id: str, escalation: dict[str, Any]) -> str:
    def field(key: str) -> str:
        value = escalation.get(key)
        return "" if value is None else str(value)

    raised_on = escalation.get("raised_on")
    lines = [
        f"Cảnh báo cấp {field('level')}: {rule_label(escalation)}",
        "",
        f"Đối tượng: {field('subject_name')} ({field('subject_id')})",
        f"Kỳ: {period_label(escalation)}",
        f"Lý do: {reason_text(escalation)}",
        f"Gửi cấp ủy: {field('target_name')} ({field('target_unit_id')})",
        f"Ngày phát sinh: {escalation_rules.format_day(raised_on) if raised_on else ''}",
        f"Quy tắc: {field('rule')}",
        f"Mã cảnh báo: {field('escalation_id')}",
        f"Mã thông báo: {notification_id}",
    ]
    known = {"level", "rule", "rule_label", "subject_name", "subject_id", "period", "reason",
             "details", "target_name", "target_unit_id", "raised_on", "escalation_id"}
    extra = sorted(k for k in escalation if k not in known)
    if extra:
        lines.append("")
        lines += [f"{k}: {_plain(escalation[k])}" for k in extra]
    lines += ["", "Thư này do hệ thống chibo gửi tự động; xin đừng trả lời thư này."]
    return "\n".join(lines) + "\n"


def smtp_send(smtp: dict[str, Any], message: EmailMessage) -> dict[str, Any]:
    """Send over SMTP as configured; raises on failure, returns refused recipients."""
    host, port = smtp["host"], int(smtp["port"])
    timeout = float(smtp.get("timeout_seconds") or 30)
    client: smtplib.SMTP
    if smtp.get("ssl"):
        client = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                  context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        if smtp.get("starttls") and not smtp.get("ssl"):
            client.starttls(context=ssl.create_default_context())
        if smtp.get("username"):
            client.login(str(smtp["username"]), str(smtp.get("password") or ""))
        return dict(client.send_message(message))


# -- webhook -------------------------------------------------------------------------


def webhook_body(notification_id: str, escalation: dict[str, Any]) -> bytes:
    """The same bytes on every attempt: a receiver can compare or hash them."""
    document = {"type": "escalation", "notification_id": notification_id,
                "escalation": escalation}
    return json.dumps(document, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=_json_default).encode("utf-8")


def sign(secret: str, timestamp: str | int, body: bytes | str) -> str:
    """`sha256=` and the hex HMAC-SHA256 of "{timestamp}.{body}" under `secret`."""
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    digest = hmac.new(str(secret).encode("utf-8"), f"{timestamp}.".encode() + raw,
                      hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, timestamp: str | int, body: bytes | str,
                     header: str | None) -> bool:
    """True when `header` (X-Chibo-Signature) signs this timestamp and body.

    Receivers should also refuse a timestamp far from their own clock (replays)
    and deduplicate on X-Chibo-Notification-Id.
    """
    if not header or timestamp is None or str(timestamp) == "":
        return False
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), header.strip().encode())


def webhook_headers(secret: str, notification_id: str, now: datetime,
                    body: bytes) -> dict[str, str]:
    timestamp = str(int(_as_utc(now).timestamp()))
    return {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": "chibo-notifications/1",
        "X-Chibo-Notification-Id": notification_id,
        "X-Chibo-Timestamp": timestamp,
        "X-Chibo-Signature": sign(secret, timestamp, body),
    }


def http_post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST and return the status; connection errors raise (a failed attempt)."""
    response = requests.post(url, data=body, headers=headers, timeout=timeout,
                             allow_redirects=False)
    response.close()
    return response.status_code


# -- helpers -------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_naive(moment: datetime) -> datetime:
    return _as_utc(moment).replace(tzinfo=None)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return str(value)


def _plain(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=_json_default)
    return str(value)
