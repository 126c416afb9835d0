"""Signatures over the log, and commitments in place of private values.

**Signed rows.** Each service signs the hash of every row it appends with its own
Ed25519 key (`cryptography`), kept outside the database in the service's secrets. The
hash chains every earlier row, so one signature vouches for the whole prefix: someone
who can write the database but does not hold the key can neither edit a row and
recompute the chain, nor append a row, without the signatures failing from there.
Public keys are kept beside the private one (`<service>-signing.pub`, and every key
retired by a rotation as `<service>-signing.<key id>.pub`): whoever verifies needs the
public keys only.

**Commitments.** A row of hash form 2 is hashed over its data with each private field
(`Meta.private` in the event's schema) replaced by a commitment:
sha256(salt ‖ canonical value), with a random 128-bit salt kept in the row (never
published). The published envelope carries the commitments, not the values, so its
hash can be checked by anyone and a guess at a private value (a birth date) can be
tested by no one. Rows of form 1 (written before) are hashed over the values; their
hash is never published for an event type that has private fields.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from chibo.eventstore.hashing import canonical_json
from chibo.private_files import create_private

#: Hash forms: 1 hashes private values themselves; 2 their salted commitments.
FORM_VALUES = 1
FORM_COMMITMENTS = 2
SALT_BYTES = 16


def commitment(salt: str, value: Any) -> str:
    """sha256 over the salt (hex) and the value's canonical JSON, hex."""
    return hashlib.sha256(bytes.fromhex(salt) + canonical_json(value).encode("utf-8")
                          ).hexdigest()


def new_salts(data: Mapping[str, Any], private: Sequence[str]) -> dict[str, str]:
    """A fresh salt for each private field the data holds a value for."""
    return {field: secrets.token_hex(SALT_BYTES) for field in private
            if data.get(field) is not None}


def commitments_of(data: Mapping[str, Any], salts: Mapping[str, str]) -> dict[str, str]:
    return {field: commitment(salt, data.get(field)) for field, salt in salts.items()}


def committed_data(data: Mapping[str, Any], commitments: Mapping[str, str]) -> dict[str, Any]:
    """The data as form 2 hashes it: each committed field replaced by its commitment.
    The same whether built from the stored values and salts or from a published
    envelope's blanked data and commitments."""
    return {**data, **{field: {"commitment": digest} for field, digest in commitments.items()}}


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """A service's signing key."""

    private: Ed25519PrivateKey

    @functools.cached_property
    def key_id(self) -> str:
        # Asked for on every append: derived once (the key never changes).
        return key_id(self.private.public_key())

    def sign(self, row_hash: str) -> str:
        return base64.b64encode(self.private.sign(bytes.fromhex(row_hash))).decode("ascii")

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.PEM,
                                                      PublicFormat.SubjectPublicKeyInfo)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())


class Keyring:
    """The public keys a log's signatures are checked with, by key id."""

    def __init__(self, keys: Mapping[str, Ed25519PublicKey] | None = None) -> None:
        self.keys = dict(keys or {})

    def add(self, public: Ed25519PublicKey) -> None:
        self.keys[key_id(public)] = public

    def verify(self, key: str | None, signature: str | None, row_hash: str) -> str | None:
        """None when `signature` is `key`'s over the hash, else what is wrong."""
        if not key or not signature:
            return "unsigned"
        public = self.keys.get(key)
        if public is None:
            return f"signed with an unknown key {key}"
        try:
            public.verify(base64.b64decode(signature), bytes.fromhex(row_hash))
        except (InvalidSignature, ValueError):
            return "bad signature"
        return None

    def __bool__(self) -> bool:
        return bool(self.keys)


# -- the key files ---------------------------------------------------------------------

def key_paths(folder: Path, service: str) -> tuple[Path, Path]:
    return folder / f"{service}-signing.key", folder / f"{service}-signing.pub"


def load_or_create_signer(folder: Path, service: str, create: bool) -> Signer | None:
    """The service's signing key from `folder`; with `create`, made (0600, its public
    key beside it) when there is none. None when there is none and `create` is off."""
    private_path, public_path = key_paths(folder, service)
    if not private_path.exists():
        if not create:
            return None
        signer = Signer.generate()
        pem = signer.private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        if not create_private(private_path, pem):
            return load_or_create_signer(folder, service, create=False)
        public_path.write_bytes(signer.public_pem())
        return signer
    private = load_pem_private_key(private_path.read_bytes(), password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError(f"{private_path} is not an Ed25519 private key")
    signer = Signer(private)
    if not public_path.exists():
        public_path.write_bytes(signer.public_pem())
    return signer


def rotate(folder: Path, service: str) -> Signer:
    """A new signing key for `service`; the old public key is kept (named by its id) so
    rows it signed still verify."""
    private_path, public_path = key_paths(folder, service)
    old = load_or_create_signer(folder, service, create=False)
    if old is not None:
        (folder / f"{service}-signing.{old.key_id}.pub").write_bytes(old.public_pem())
        private_path.unlink()
        public_path.unlink(missing_ok=True)
    new = load_or_create_signer(folder, service, create=True)
    assert new is not None
    return new


def load_keyring(folder: Path, service: str) -> Keyring:
    """Every public key of `service` in `folder`: the current one and those retired."""
    ring = Keyring()
    for path in sorted(folder.glob(f"{service}-signing*.pub")):
        public = load_pem_public_key(path.read_bytes())
        if isinstance(public, Ed25519PublicKey):
            ring.add(public)
    return ring
