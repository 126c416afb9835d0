"""Helpers the domain services share: ids, dates, Vietnamese text."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import date

import icu  # type: ignore[import-untyped]  # PyICU publishes no type hints
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


def _vietnamese_collator() -> icu.Collator:
    """ICU's Vietnamese collation (CLDR's tailoring): ă â đ ê ô ơ ư are letters of their own,
    tone marks only break ties, f j w z (in loanwords and place names) take their Latin
    places, and with numeric ordering "Thôn 2" comes before "Thôn 10"."""
    collator = icu.Collator.createInstance(icu.Locale("vi"))
    collator.setAttribute(icu.UCollAttribute.NUMERIC_COLLATION, icu.UCollAttributeValue.ON)
    return collator


# Built once per process: creating a collator loads the tailoring, a sort key is a lookup.
# Sharing it is safe here: getSortKey is a const ICU call made under the GIL, and green
# threads switch only between Python calls.
_COLLATOR = _vietnamese_collator()


def _collation(text: str) -> bytes:
    """ICU's sort key: comparing two keys as bytes is comparing the texts."""
    return _COLLATOR.getSortKey(text)


def name_sort_key(full_name: str) -> tuple[bytes, bytes]:
    """How Vietnamese lists order people: by given name (the last word), then the
    whole name, in Vietnamese alphabetical order."""
    name = nfc(full_name)
    words = name.split()
    given = words[-1] if words else ""
    return (_collation(given), _collation(name))


def text_sort_key(text: str) -> bytes:
    """Vietnamese alphabetical order for names of things (units, places)."""
    return _collation(nfc(text))
