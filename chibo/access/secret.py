"""The cluster's signing secret, from the configuration (`AUTH`).

`AUTH.secret` (CHIBO_AUTH_SECRET) wins; otherwise `AUTH.secret_file`. Embedded mode
sets `AUTH.create_secret_file`, so a first start makes the file (0600, random) and
every later start reads it: sessions survive a restart and the demo needs no setup."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chibo.private_files import create_private


class SecretMissing(RuntimeError):
    """No signing secret is configured; the message says how to give one."""


def auth_settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("AUTH") or {}


def load_secret(config: Mapping[str, Any]) -> str:
    auth = auth_settings(config)
    secret = str(auth.get("secret") or "").strip()
    if secret:
        return secret
    path_setting = str(auth.get("secret_file") or "").strip()
    if not path_setting:
        raise SecretMissing(
            "No signing secret: set CHIBO_AUTH_SECRET (AUTH.secret) or CHIBO_AUTH_SECRET_FILE "
            "(AUTH.secret_file) to the file `chibo provision` wrote (see docs/security.md).")
    path = Path(path_setting)
    if not path.exists() and auth.get("create_secret_file"):
        create_secret_file(path)
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SecretMissing(f"AUTH.secret_file {path}: {error.strerror}; create it with "
                            "`chibo provision` or set CHIBO_AUTH_SECRET.") from None
    if not secret:
        raise SecretMissing(f"AUTH.secret_file {path} is empty.")
    return secret


def new_secret() -> str:
    """A fresh signing secret: 48 random bytes, URL-safe text."""
    return secrets.token_urlsafe(48)


def create_secret_file(path: Path) -> None:
    """A secret file at `path` (0600), unless one is there already."""
    create_private(path, (new_secret() + "\n").encode("ascii"))
