"""Helpers the domain services share: ids, dates, Vietnamese text."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date

from marshmallow import fields, validate


def new_id() -> str:
    return str(uuid.uuid4())


def nfc(text: str) -> str:
    """Vietnamese text is compared and stored in NFC, so "ộ" is always one code point."""
    return unicodedata.normalize("NFC", text).strip()


class Name(fields.String):
    """A required human name or title: trimmed, NFC, 1–200 characters."""

    def __init__(self, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(required=True, validate=validate.Length(min=1, max=200), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        return nfc(super()._deserialize(value, attr, data, **kwargs))


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")
