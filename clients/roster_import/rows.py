"""A roster row's schema: each row as read checked, giving its data or every problem in it."""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from chibo.clock import clock_from_setting
from services.shared.roster_rules import DATE_FIELDS, reason, row_problems
from services.shared.text import nfc

#: The fields of a roster row, in the order they are reported.
FIELDS = ("member_code", "full_name", "birth_date", "gender", "cell_code", "admitted_on",
          "full_member_on", "status")

#: The texts accepted for each status and gender, compared after `fold`.
STATUS_VALUES: dict[str, tuple[str, ...]] = {
    "probationary": ("Dự bị", "probationary"),
    "full": ("Chính thức", "full"),
    "exempt": ("Miễn sinh hoạt", "Miễn công tác và sinh hoạt đảng", "exempt"),
    "moved_out": ("Chuyển đi", "Đã chuyển sinh hoạt", "moved_out"),
    "deceased": ("Từ trần", "Đã mất", "deceased"),
    "struck_off": ("Xóa tên", "struck_off"),
    "expelled": ("Khai trừ", "expelled"),
}
GENDER_VALUES: dict[str, tuple[str, ...]] = {"male": ("Nam", "male"), "female": ("Nữ", "female")}

MIN_YEAR = 1900


@lru_cache(maxsize=4096)  # statuses, genders and headers repeat on every row
def fold(text: str) -> str:
    """Text compared without diacritics, case, punctuation or extra spaces: "Mã  Đảng-viên" →
    "ma dang vien". "Xóa" and "Xoá" (old and new tone placement) fold alike."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    bare = bare.replace("đ", "d").replace("Đ", "D").casefold()
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def folded_lookup(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Each accepted text, folded, mapped to the value it stands for."""
    return {fold(alias): key for key, aliases in table.items() for alias in aliases}


_STATUS_LOOKUP = folded_lookup(STATUS_VALUES)
_GENDER_LOOKUP = folded_lookup(GENDER_VALUES)


@dataclass(frozen=True, slots=True)
class RawRow:
    """One data row as read: its line in the file (header = line 1 when it is the first row)
    and its cells keyed by field name (columns we do not know are left out)."""

    line: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowResult:
    """A validated row (`ok`, with `data`) or a bad one (with `errors` and a one-line `reason`)."""

    line: int
    data: dict[str, Any] | None = None
    errors: dict[str, list[str]] | None = None
    reason: str = ""
    member_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.errors is None


def filled(cell: Any) -> bool:
    """Whether a cell holds anything but blanks."""
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


_REQUIRED = {"required": "Bắt buộc, đang để trống (required, but empty)."}
_DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
_YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_TIME = re.compile(r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")


class _Text(fields.Field):
    """A trimmed string; Excel number cells (a card number typed as a number) become text."""

    default_error_messages = {"invalid": "Phải là chữ (must be text)."}

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, bool) or isinstance(value, (date, datetime)):
            raise self.make_error("invalid")
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return value.strip()


class _Name(_Text):
    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        return nfc(super()._deserialize(value, attr, data, **kwargs))


class _RosterDate(fields.Field):
    """DD/MM/YYYY (also D/M/YYYY, with '.' or '-'), YYYY-MM-DD, or an Excel date cell."""

    default_error_messages = {
        "invalid": "Không phải ngày; dùng DD/MM/YYYY (not a date; use DD/MM/YYYY): {value!r}.",
        "no_such_day": "Ngày không tồn tại (no such date): {value!r}.",
        "too_old": f"Năm phải từ {MIN_YEAR} (year must be {MIN_YEAR} or later): {{value!r}}.",
    }

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(value, datetime):
            day = value.date()
        elif isinstance(value, date):
            day = value
        elif isinstance(value, str):
            day = self._parse(value.strip())
        else:
            raise self.make_error("invalid", value=value)
        if day.year < MIN_YEAR:
            raise self.make_error("too_old", value=str(value))
        return day

    def _parse(self, text: str) -> date:
        for pattern, order in ((_DMY, (3, 2, 1)), (_YMD, (1, 2, 3))):
            match = pattern.match(text)
            if match and _TIME.fullmatch(text, match.end()):
                year, month, day = (int(match.group(i)) for i in order)
                try:
                    return date(year, month, day)
                except ValueError:
                    raise self.make_error("no_such_day", value=text) from None
        raise self.make_error("invalid", value=text)


class _Choice(fields.Field):
    """A value looked up without regard to case or diacritics."""

    def __init__(self, lookup: dict[str, str], table: dict[str, tuple[str, ...]],
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lookup = lookup
        self.accepted = ", ".join(aliases[0] for aliases in table.values())
        self.english = ", ".join(table)

    def _deserialize(self, value, attr, data, **kwargs):  # type: ignore[no-untyped-def]
        found = self.lookup.get(fold(value)) if isinstance(value, str) else None
        if found is None:
            raise ValidationError(
                f"Giá trị {value!r} không hợp lệ; dùng một trong: {self.accepted} (invalid value "
                f"{value!r}; use one of: {self.accepted} or {self.english}).")
        return found


class RosterRowSchema(Schema):
    """One roster row. `today` bounds every date; pass a fixed one to get fixed answers."""

    class Meta:
        unknown = EXCLUDE

    member_code = _Text(required=True, error_messages=_REQUIRED,
                        validate=validate.Length(min=1, max=40, error=(
                            "Phải dài 1–40 ký tự (must be 1–40 characters).")))
    full_name = _Name(required=True, error_messages=_REQUIRED,
                      validate=validate.Length(min=1, max=200, error=(
                          "Phải dài 1–200 ký tự (must be 1–200 characters).")))
    birth_date = _RosterDate(load_default=None)
    gender = _Choice(_GENDER_LOOKUP, GENDER_VALUES, load_default=None)
    cell_code = _Text(required=True, error_messages=_REQUIRED,
                      validate=validate.Length(min=1, max=100, error=(
                          "Phải dài 1–100 ký tự (must be 1–100 characters).")))
    admitted_on = _RosterDate(required=True, error_messages=_REQUIRED)
    full_member_on = _RosterDate(load_default=None)
    status = _Choice(_STATUS_LOOKUP, STATUS_VALUES, required=True, error_messages=_REQUIRED)

    def __init__(self, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.today = today or default_today()

    @validates_schema(skip_on_field_errors=False)
    def _rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Rules across fields, applied to whichever fields were valid on their own."""
        problems = row_problems(data, self.today)
        if problems:
            raise ValidationError(problems)


def default_today() -> date:
    """Today by the clock `CHIBO_CLOCK` names, read as the services read it."""
    return clock_from_setting(os.environ.get("CHIBO_CLOCK"), "CHIBO_CLOCK").now().date()


def validate_rows(raw_rows: Iterable[RawRow], today: date | None = None
                  ) -> Iterator[RowResult]:
    """One RowResult per raw row, in order. A member code seen before in the same file makes
    the later row bad, naming the first line that had it.

    Memory grows only with the member codes kept for that check (about 100 bytes a row).
    """
    schema = RosterRowSchema(today=today)
    first_line: dict[str, int] = {}
    for raw in raw_rows:
        values = {k: v for k, v in raw.values.items() if filled(v)}
        try:
            loaded = schema.load(values)
            errors: dict[str, list[str]] = {}
            valid = loaded
        except ValidationError as exc:
            errors = _as_field_errors(exc.messages)
            valid = exc.valid_data if isinstance(exc.valid_data, dict) else {}
        code = valid.get("member_code")
        if code is not None and "member_code" not in errors:
            earlier = first_line.setdefault(code, raw.line)
            if earlier != raw.line:
                errors["member_code"] = [
                    f"Trùng mã {code} với dòng {earlier} (duplicate of line {earlier})."]
        if errors:
            ordered = {f: errors[f] for f in (*FIELDS, *sorted(errors)) if f in errors}
            yield RowResult(raw.line, errors=ordered, reason=reason(ordered),
                            member_code=code or _code_text(raw.values.get("member_code")))
        else:
            data = {f: loaded[f] for f in FIELDS}
            for name in DATE_FIELDS:
                if data[name] is not None:
                    data[name] = data[name].isoformat()
            yield RowResult(raw.line, data=data, member_code=code)


def _as_field_errors(messages: Any) -> dict[str, list[str]]:
    if not isinstance(messages, dict):
        return {"_row": [str(m) for m in _listify(messages)]}
    return {str(k): [str(m) for m in _listify(v)] for k, v in messages.items()}


def _listify(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [m for v in value.values() for m in _listify(v)]
    if isinstance(value, (list, tuple)):
        return [m for v in value for m in _listify(v)]
    return [value]


def _code_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() or None
