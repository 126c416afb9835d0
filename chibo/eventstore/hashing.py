"""Canonical JSON and the hash chain over the log."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no spaces, UTF-8 kept as is (NFC is the caller's)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, position: int, event_id: str, stream_id: str,
             stream_version: int, event_type: str, version: int, data: str, meta: str,
             recorded_at: str) -> str:
    """The hash of one row: covers the previous row's hash and every stored field."""
    material = canonical_json([prev_hash, position, event_id, stream_id, stream_version,
                               event_type, version, data, meta, recorded_at])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()
