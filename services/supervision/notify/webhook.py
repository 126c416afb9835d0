"""The webhook of an escalation: its JSON body, its HMAC signature and headers, its POST."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

import requests

from services.supervision.notify.encoding import as_utc, json_default

WEBHOOK_TIMEOUT_SECONDS = 10.0


def webhook_body(notification_id: str, escalation: dict[str, Any]) -> bytes:
    """The same bytes on every attempt: a receiver can compare or hash them."""
    document = {"type": "escalation", "notification_id": notification_id,
                "escalation": escalation}
    return json.dumps(document, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":"), default=json_default).encode("utf-8")


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
    timestamp = str(int(as_utc(now).timestamp()))
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
