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


# Vietnamese alphabetical order: a ă â b c d đ e ê g h i k l m n o ô ơ p q r s t u ư v x y.
# Letters with breve, circumflex, horn or stroke are letters of their own; tone marks
# only break ties.
_LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxy"
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def _collation(text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    letters, tones = [], []
    for char in unicodedata.normalize("NFD", text.lower()):
        if char in _TONES:
            tones.append(_TONES[char])
            continue
        if unicodedata.combining(char) and letters:
            composed = unicodedata.normalize("NFC", _LETTERS[letters[-1]] + char
                                             if letters[-1] < len(_LETTERS) else char)
            if composed in _LETTERS:
                letters[-1] = _LETTERS.index(composed)
            continue
        letters.append(_LETTERS.index(char) if char in _LETTERS else 100 + ord(char))
    return tuple(letters), tuple(tones)


def name_sort_key(full_name: str) -> tuple:
    """How Vietnamese lists order people: by given name (the last word), then the
    whole name, in Vietnamese alphabetical order."""
    words = nfc(full_name).split()
    given = words[-1] if words else ""
    return (_collation(given), _collation(full_name))


def text_sort_key(text: str) -> tuple:
    """Vietnamese alphabetical order for names of things (units, places)."""
    return _collation(nfc(text))
