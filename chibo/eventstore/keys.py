"""Where a service's signing keys are, from the configuration (`SIGNING`).

`SIGNING.keys_dir` (CHIBO_SIGNING_KEYS_DIR) holds `<service>-signing.key` (0600) and
the public keys; embedded mode sets `SIGNING.create_keys`, so a first start makes them.
In distributed mode `chibo provision` makes them, and a service without its key does
not start: an unsigned log could be rewritten by anyone who can write its database."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chibo.eventstore.signing import Keyring, Signer, load_keyring, load_or_create_signer

DEFAULT_KEYS_DIR = "var/chibo/secrets"


class SigningKeyMissing(RuntimeError):
    """A service has no signing key where the configuration says; the message says how
    to make one."""


def signing_settings(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config.get("SIGNING") or {}


def keys_dir(config: Mapping[str, Any]) -> Path:
    return Path(str(signing_settings(config).get("keys_dir") or DEFAULT_KEYS_DIR))


def service_signer(config: Mapping[str, Any], service: str) -> Signer:
    folder = keys_dir(config)
    signer = load_or_create_signer(folder, service,
                                   create=bool(signing_settings(config).get("create_keys")))
    if signer is None:
        raise SigningKeyMissing(
            f"{service}: không có khóa ký (no signing key) {folder}/{service}-signing.key; "
            "make one with `chibo provision` (or set CHIBO_SIGNING_KEYS_DIR to where it is; "
            "see docs/operations.md, 'Signing keys').")
    return signer


def service_keyring(config: Mapping[str, Any], service: str) -> Keyring:
    return load_keyring(keys_dir(config), service)
