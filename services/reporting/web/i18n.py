"""Labels in Vietnamese (the default) and English, and the formats users expect.

Staff read dates as DD/MM/YYYY and numbers the Vietnamese way (decimal comma,
"." between thousands: "1.234,5", "92,5%"). Labels live in ``messages.yaml``,
except the names of the tree's node kinds, which a province configures (the
``UNIT_KINDS`` setting, the packaged ``unit_kinds.yaml`` by default) and which a
Translator is given with them (``unit_kind.<name>``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from services.shared.tree import UnitKinds, default_kinds

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
MESSAGES_FILE = Path(__file__).with_name("messages.yaml")
#: Labels of one part of the UI each (``messages-forms.yaml`` …), beside the main file.
PART_MESSAGES = "messages-*.yaml"
MISSING = "—"  # shown for a value that is absent (None), in both languages
#: Vietnam keeps one offset all year; timestamps recorded in UTC are shown in it.
VIETNAM = timezone(timedelta(hours=7))

_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_YEAR = re.compile(r"^\d{4}$")


@lru_cache(maxsize=1)
def _file_messages() -> dict[str, dict[str, str]]:
    """The labels of ``messages.yaml`` and of the rule catalogue, read once."""
    from services.shared.escalation_rules import Rule  # the one catalogue of rules

    loaded: dict[str, dict[str, str]] = {}
    for path in [MESSAGES_FILE, *sorted(MESSAGES_FILE.parent.glob(PART_MESSAGES))]:
        with open(path, encoding="utf-8") as handle:
            part: dict[str, dict[str, str]] = yaml.safe_load(handle) or {}
        repeated = sorted(loaded.keys() & part.keys())
        if repeated:
            raise ValueError(f"{path.name}: labels already defined elsewhere: {repeated}")
        loaded.update(part)
    for rule in Rule:
        loaded.setdefault(f"rule.{rule.value}", {"vi": rule.label_vi, "en": rule.label_en})
    return loaded


def messages(kinds: UnitKinds | None = None) -> dict[str, dict[str, str]]:
    """Every label: key -> {"vi": ..., "en": ...}, the unit kinds' from `kinds` (the
    service's configured kinds; the packaged ones when None)."""
    labels = {f"unit_kind.{name}": {"vi": kind.label_vi, "en": kind.label_en}
              for name, kind in (default_kinds() if kinds is None else kinds).items()}
    return {**labels, **_file_messages()}  # a label written in messages.yaml wins


def normal_lang(value: str | None) -> str | None:
    """The language code if it is one we speak, else None."""
    value = (value or "").strip().lower()[:2]
    return value if value in LANGS else None


def pick_lang(request: Any) -> str:
    """``?lang=`` wins, then the ``lang`` cookie, then Vietnamese."""
    return (normal_lang(request.args.get("lang"))
            or normal_lang(request.cookies.get("lang"))
            or DEFAULT_LANG)


# -- formats ------------------------------------------------------------------------

def _group(digits: str, sep: str) -> str:
    out = []
    while len(digits) > 3:
        out.insert(0, digits[-3:])
        digits = digits[:-3]
    out.insert(0, digits)
    return sep.join(out)


def format_number(value: Any, lang: str = DEFAULT_LANG, digits: int | None = None) -> str:
    """1234.5 -> "1.234,5" (vi) / "1,234.5" (en). Integers get no decimals unless
    `digits` is given; other numbers get one."""
    if value is None or value == "":
        return MISSING
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return str(value)
    if digits is None:
        digits = 0 if isinstance(value, int) or float(value).is_integer() else 1
    text = f"{abs(value):.{digits}f}"
    whole, _, fraction = text.partition(".")
    thousands, decimal = (".", ",") if lang == "vi" else (",", ".")
    sign = "-" if value < 0 and float(text) != 0 else ""
    return sign + _group(whole, thousands) + (decimal + fraction if fraction else "")


def format_percent(value: Any, lang: str = DEFAULT_LANG, digits: int = 1) -> str:
    """A share (0..1) as a percentage: 0.925 -> "92,5%" (vi) / "92.5%" (en)."""
    if value is None or value == "":
        return MISSING
    try:
        share = float(value)
    except (TypeError, ValueError):
        return str(value)
    return format_number(share * 100, lang, digits) + "%"


def as_date(value: Any) -> date | None:
    """A date from a date, a datetime or an ISO string; None if it is none of them."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def as_datetime(value: Any) -> datetime | None:
    """A datetime in Vietnam's time (when it carries an offset) from a datetime or ISO text."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.astimezone(VIETNAM) if value.tzinfo else value


def format_date(value: Any, lang: str = DEFAULT_LANG) -> str:
    """'2026-10-05' (or a date) -> '05/10/2026', in both languages: the users' habit."""
    if value is None or value == "":
        return MISSING
    day = as_date(value)
    return day.strftime("%d/%m/%Y") if day else str(value)


def format_datetime(value: Any, lang: str = DEFAULT_LANG) -> str:
    """An instant as '05/10/2026 14:03:07', in Vietnam's time when the offset is known."""
    if value is None or value == "":
        return MISSING
    moment = as_datetime(value)
    return moment.strftime("%d/%m/%Y %H:%M:%S") if moment else str(value)


def format_month(value: Any, lang: str = DEFAULT_LANG) -> str:
    """'2026-10' -> '10/2026'."""
    if value is None or value == "":
        return MISSING
    found = _MONTH.match(str(value))
    return f"{found.group(2)}/{found.group(1)}" if found else str(value)


def format_period(value: Any, lang: str = DEFAULT_LANG) -> str:
    """A reporting period: '2026-Q3' -> 'Quý III/2026' / 'Q3 2026'; '2026' -> 'Năm 2026' /
    '2026'; a month as ``format_month``."""
    if value is None or value == "":
        return MISSING
    text = str(value)
    if found := _QUARTER.match(text):
        year, quarter = found.group(1), int(found.group(2))
        return f"Quý {_ROMAN[quarter]}/{year}" if lang == "vi" else f"Q{quarter} {year}"
    if _YEAR.match(text):
        return f"Năm {text}" if lang == "vi" else text
    return format_month(text, lang)


class _Params(dict):
    """Parameters for a label; one the caller forgot shows as ``{name}`` instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Translator:
    """Labels and formats in one language. Callable: ``t("nav.overview")``.

    A key with no label falls back to the key itself, so a missing label shows up
    on the page (and in the completeness test) instead of breaking it.
    """

    def __init__(self, lang: str = DEFAULT_LANG, kinds: UnitKinds | None = None) -> None:
        self.lang = normal_lang(lang) or DEFAULT_LANG
        self._messages = messages(kinds)

    def t(self, key: str, **params: Any) -> str:
        entry = self._messages.get(key)
        text = entry.get(self.lang) if isinstance(entry, Mapping) else None
        if text is None:
            return key
        return text.format_map(_Params(params)) if params else text

    __call__ = t

    def has(self, key: str) -> bool:
        entry = self._messages.get(key)
        return isinstance(entry, Mapping) and self.lang in entry

    def code(self, prefix: str, value: Any) -> str:
        """A code (a level, a state, a kind) as its label: ``code("level", "good")``."""
        if value is None or value == "":
            return MISSING
        return self.t(f"{prefix}.{value}")

    def number(self, value: Any, digits: int | None = None) -> str:
        return format_number(value, self.lang, digits)

    def percent(self, value: Any, digits: int = 1) -> str:
        return format_percent(value, self.lang, digits)

    def date(self, value: Any) -> str:
        return format_date(value, self.lang)

    def datetime(self, value: Any) -> str:
        return format_datetime(value, self.lang)

    def month(self, value: Any) -> str:
        return format_month(value, self.lang)

    def period(self, value: Any) -> str:
        return format_period(value, self.lang)
