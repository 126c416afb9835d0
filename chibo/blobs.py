"""A content-addressed file store: bytes kept once under their SHA-256.

A service keeps files too large for its event log here (documents sent before a
meeting, say) and records only their hash in its events; the log then says what
was kept, and the file says what it was. The same content put twice is one file.

Layout: ``<dir>/<first two hex digits>/<the whole hex digest>``. A file is written
to a temporary name in its folder and renamed into place, so a reader never sees
half a file and a crash leaves at most a temporary file behind; files are 0600 and
folders 0700 (as `chibo.private_files`): only the service's own account reads them.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

_HEX = re.compile(r"^[0-9a-f]{64}$")


class BlobNotFound(KeyError):
    """No file of that hash is kept."""


def digest(content: bytes) -> str:
    """The key `put` keeps `content` under: its SHA-256 in lower-case hex."""
    return hashlib.sha256(content).hexdigest()


def is_digest(value: str) -> bool:
    """Whether `value` is a key this store could hold (64 lower-case hex digits)."""
    return isinstance(value, str) and bool(_HEX.match(value))


class BlobStore:
    """Files under `directory`, each named by its content's SHA-256."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def path(self, sha256: str) -> Path:
        """Where the file of `sha256` is (or would be); ValueError for a key that is
        not a digest, so no name can reach outside the store."""
        if not is_digest(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.directory / sha256[:2] / sha256

    def put(self, content: bytes) -> str:
        """Keep `content` and return its SHA-256 hex; a content already kept is left
        as it is (same hash, same bytes)."""
        key = digest(content)
        target = self.path(key)
        if target.is_file():
            return key
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.parent.mkdir(exist_ok=True, mode=0o700)
        # mkstemp opens the file 0600 from the start; the rename is atomic on one file
        # system, and two writers of the same content rename the same bytes.
        descriptor, temporary = tempfile.mkstemp(prefix=".put-", dir=target.parent)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(content)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return key

    def exists(self, sha256: str) -> bool:
        return is_digest(sha256) and self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        """The kept file, open for reading; BlobNotFound when there is none."""
        try:
            return self.path(sha256).open("rb")
        except (FileNotFoundError, ValueError):
            raise BlobNotFound(sha256) from None

    def read(self, sha256: str) -> bytes:
        """The kept bytes; BlobNotFound when there are none."""
        with self.open(sha256) as file:
            return file.read()


#: The largest file kept unless the config says otherwise: 5 MiB, so that its base64
#: form (4/3 as long) still fits a JSON command within the default HTTP body limit
#: (WEB_MAX_BODY_BYTES, 8 MiB).
DEFAULT_MAX_BYTES = 5 * 1024 * 1024


class BlobSettings:
    """A store and the largest file it takes, read from a section of the service
    config (``{dir: ..., max_bytes: ...}``)."""

    def __init__(self, store: BlobStore, max_bytes: int) -> None:
        self.store = store
        self.max_bytes = max_bytes

    @classmethod
    def from_config(cls, config: Mapping[str, Any], section: str) -> BlobSettings:
        """Checked when the service starts: a missing folder setting or a size that is
        not a positive whole number stops it with an error naming the setting."""
        values = config.get(section) or {}
        directory = str(values.get("dir") or "").strip()
        if not directory:
            raise ValueError(f"{section}.dir: the folder files are kept in is not set")
        raw = values.get("max_bytes")
        try:
            max_bytes = DEFAULT_MAX_BYTES if raw in (None, "") else int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{section}.max_bytes: expected a whole number of bytes, "
                             f"got {raw!r}") from None
        if max_bytes <= 0:
            raise ValueError(f"{section}.max_bytes: must be above 0, got {max_bytes}")
        return cls(BlobStore(directory), max_bytes)
