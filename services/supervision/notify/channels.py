"""Which channels each committee is notified through: the config read, checked and looked up."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from chibo import settings

DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "notification_channels.yaml"


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
        "default": [checked_channel(c, "default") for c in raw.get("default") or []],
        "committees": {
            str(unit_id): [checked_channel(c, str(unit_id)) for c in channels or []]
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


def checked_channel(raw: Any, where: str) -> dict[str, Any]:
    """One channel in its normal form; raises ValueError naming `where` when it is unusable."""
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
