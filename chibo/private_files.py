"""Files only their owner may read: secrets and keys the software makes for itself."""

from __future__ import annotations

import os
from pathlib import Path


def create_private(path: Path, content: bytes) -> bool:
    """Write `content` to `path` if no file is there yet: mode 0600 from the moment it
    exists, its folder made 0700 if missing. False, leaving the file as it is, when one
    is there already (another service or process made it first)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    return True
