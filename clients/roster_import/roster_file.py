"""Reading a member roster file: CSV or XLSX shaped like an export of the national
party member database. Pure parsing and validation; nothing here touches the network.

`read_rows` streams the file one row at a time (memory stays flat however long the
file is) and maps its headers, Vietnamese or English, onto our field names.
`validate_rows` checks each row and says, per row, either the JSON-ready data or
every problem found, with the line number a person sees in Excel.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from chibo.clock import clock_from_setting
from chibo.errors import ChiboError
from services.shared.roster_rules import DATE_FIELDS, reason, row_problems
from services.shared.text import nfc

# --------------------------------------------------------------------------- fields and headers

#: The fields of a roster row, in the order they are reported.
FIELDS = ("member_code", "full_name", "birth_date", "gender", "cell_code", "admitted_on",
          "full_member_on", "status")
REQUIRED_COLUMNS = ("member_code", "full_name", "cell_code", "admitted_on", "status")

#: Header texts accepted for each field. Compared after `fold` (no diacritics, any case,
#: punctuation and spaces collapsed). When a file has two columns for one field, the one
#: whose alias comes first here wins (a "Mã đảng viên" column over a "Số thẻ đảng viên").
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "member_code": ("Mã đảng viên", "member_code", "Số thẻ đảng viên"),
    "full_name": ("Họ và tên", "Họ tên", "full_name"),
    "birth_date": ("Ngày sinh", "birth_date"),
    "gender": ("Giới tính", "gender"),
    "cell_code": ("Mã chi bộ", "cell_code"),
    "admitted_on": ("Ngày kết nạp", "Ngày vào Đảng", "admitted_on"),
    "full_member_on": ("Ngày chính thức", "Ngày vào Đảng chính thức", "Ngày công nhận chính thức",
                       "full_member_on"),
    "status": ("Trạng thái", "status"),
}

#: How a person names each field (Vietnamese), for messages.
FIELD_LABELS = {field: aliases[0] for field, aliases in HEADER_ALIASES.items()}

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

#: Rows searched for the header row: exports often start with a title ("DANH SÁCH ĐẢNG VIÊN").
HEADER_SEARCH_ROWS = 20
MIN_YEAR = 1900


@lru_cache(maxsize=4096)  # statuses, genders and headers repeat on every row
def fold(text: str) -> str:
    """Text compared without diacritics, case, punctuation or extra spaces: "Mã  Đảng-viên" →
    "ma dang vien". "Xóa" and "Xoá" (old and new tone placement) fold alike."""
    decomposed = unicodedata.normalize("NFD", text)
    bare = "".join(c for c in decomposed if unicodedata.category(c) != "Mn")
    bare = bare.replace("đ", "d").replace("Đ", "D").casefold()
    return " ".join(re.sub(r"[\W_]+", " ", bare).split())


def _lookup(table: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {fold(alias): key for key, aliases in table.items() for alias in aliases}


_HEADER_LOOKUP = _lookup(HEADER_ALIASES)
_HEADER_RANK = {fold(alias): rank for aliases in HEADER_ALIASES.values()
                for rank, alias in enumerate(aliases)}
_STATUS_LOOKUP = _lookup(STATUS_VALUES)
_GENDER_LOOKUP = _lookup(GENDER_VALUES)


class RosterFileError(ChiboError):
    """The file as a whole cannot be read: wrong type, not UTF-8, a required column missing."""

    http_status = 400
    code = "roster_file_invalid"


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


def map_headers(headers: Sequence[Any]) -> dict[str, int]:
    """field → column index for the headers we recognise.

    Raises RosterFileError when one header text appears twice (which column would be meant?).
    """
    chosen: dict[str, tuple[int, int]] = {}  # field -> (alias rank, column)
    seen: dict[str, int] = {}
    for column, header in enumerate(headers):
        if header is None or not str(header).strip():
            continue
        key = fold(str(header))
        field = _HEADER_LOOKUP.get(key)
        if field is None:
            continue
        if key in seen:
            raise RosterFileError(
                f"Cột '{str(header).strip()}' xuất hiện hai lần (column "
                f"'{str(header).strip()}' appears twice: columns {seen[key] + 1} and "
                f"{column + 1})", column=str(header).strip())
        seen[key] = column
        rank = _HEADER_RANK[key]
        if field not in chosen or rank < chosen[field][0]:
            chosen[field] = (rank, column)
    return {field: column for field, (_, column) in chosen.items()}


# --------------------------------------------------------------------------- reading


def read_rows(path: Path) -> Iterator[RawRow]:
    """Stream the data rows of a `.csv` or `.xlsx` roster.

    Blank rows are skipped (their line numbers are kept for the rows after them). The
    header row is the first of the first 20 rows naming at least two known columns, so a
    title above the table is fine. File-level problems (no such file, unsupported type,
    not UTF-8, a required column missing) raise RosterFileError; all but an encoding error
    deep in a CSV do so on the first `next()`, before any row is returned.
    """
    path = Path(path)
    yield from _data_rows(_records(path), path)


def _records(path: Path) -> Iterator[tuple[int, Sequence[Any]]]:
    if not path.is_file():
        raise RosterFileError(f"Không tìm thấy tệp {path} (file not found: {path})",
                              path=str(path))
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_records(path)
    if suffix == ".xlsx":
        return _xlsx_records(path)
    hint = (" Hãy lưu lại thành .xlsx hoặc CSV UTF-8 (save it as .xlsx or CSV UTF-8)."
            if suffix in (".xls", ".ods", ".txt", ".tsv") else "")
    raise RosterFileError(
        f"Không đọc được loại tệp '{suffix or path.name}': chỉ nhận .csv và .xlsx "
        f"(unsupported file type '{suffix or path.name}': use .csv or .xlsx).{hint}",
        path=str(path))


def _data_rows(records: Iterator[tuple[int, Sequence[Any]]], path: Path) -> Iterator[RawRow]:
    try:
        head: list[tuple[int, Sequence[Any]]] = []
        for record in records:
            head.append(record)
            if len(head) >= HEADER_SEARCH_ROWS:
                break
        header_at = _find_header(head)
        if header_at is None:
            raise RosterFileError(f"Tệp {path.name} không có dữ liệu (the file is empty)",
                                  path=str(path))
        header_line, headers = head[header_at]
        columns = map_headers(headers)
        missing = [f for f in REQUIRED_COLUMNS if f not in columns]
        if missing:
            raise _missing_columns(path, header_line, missing, headers)
        pairs = list(columns.items())
        for line, cells in _chain(head[header_at + 1:], records):
            values = {}
            blank = True
            width = len(cells)
            for field, column in pairs:
                value = cells[column] if column < width else None
                if isinstance(value, str):
                    value = value.strip()
                    if not value:
                        value = None
                if value is not None:
                    blank = False
                values[field] = value
            if blank and not any(_filled(c) for c in cells):
                continue
            yield RawRow(line, values)
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()


def _chain(first: Iterable[tuple[int, Sequence[Any]]], rest: Iterator[tuple[int, Sequence[Any]]]
           ) -> Iterator[tuple[int, Sequence[Any]]]:
    yield from first
    yield from rest


def _filled(cell: Any) -> bool:
    return cell is not None and not (isinstance(cell, str) and not cell.strip())


def _find_header(head: list[tuple[int, Sequence[Any]]]) -> int | None:
    first_filled = None
    for index, (_, cells) in enumerate(head):
        if not any(_filled(c) for c in cells):
            continue
        if first_filled is None:
            first_filled = index
        known = {_HEADER_LOOKUP.get(fold(str(c))) for c in cells if _filled(c)} - {None}
        if len(known) >= 2:
            return index
    return first_filled


def _missing_columns(path: Path, line: int, missing: list[str], headers: Sequence[Any]
                     ) -> RosterFileError:
    found = [str(h).strip() for h in headers if _filled(h)]
    found_text = ", ".join(f"'{h}'" for h in found) or "(không có / none)"
    vietnamese = ", ".join(f"'{FIELD_LABELS[f]}'" for f in missing)
    english = "; ".join(
        f"{f} (e.g. " + " / ".join(f"'{a}'" for a in HEADER_ALIASES[f]) + ")" for f in missing)
    return RosterFileError(
        f"Tệp {path.name}: thiếu cột bắt buộc {vietnamese} ở dòng tiêu đề {line}; các cột tìm "
        f"thấy: {found_text} (missing required column(s) {english} in header line {line}; "
        f"headers found: {found_text})",
        path=str(path), missing=missing, headers_found=found)


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    delimiter = _sniff_delimiter(path)
    line = 0
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for line, record in enumerate(csv.reader(handle, delimiter=delimiter), start=1):
                yield line, record
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, line + 1, exc) from None
    except csv.Error as exc:
        raise RosterFileError(f"Tệp {path.name}, dòng {line + 1}: CSV hỏng (broken CSV at line "
                              f"{line + 1}): {exc}", path=str(path), line=line + 1) from None


def _not_utf8(path: Path, line: int, exc: UnicodeDecodeError) -> RosterFileError:
    return RosterFileError(
        f"Tệp {path.name} không phải UTF-8 (gần dòng {line}); trong Excel hãy chọn Lưu thành "
        f"'CSV UTF-8' (file is not UTF-8 near line {line}: {exc.reason}; in Excel use Save As "
        f"'CSV UTF-8 (Comma delimited)')", path=str(path), line=line)


def _sniff_delimiter(path: Path) -> str:
    """',' or ';': whichever splits the first rows into more known headers, then more columns."""
    with open(path, "rb") as handle:
        raw = handle.read(64 * 1024)
    raw = raw.removeprefix(codecs.BOM_UTF8)
    try:
        # Not final: the sample may end inside a character.
        sample = codecs.getincrementaldecoder("utf-8")().decode(raw, final=False)
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, raw[:exc.start].count(b"\n") + 1, exc) from None
    if len(raw) == 64 * 1024 and "\n" in sample:
        sample = sample[:sample.rindex("\n")]  # no half row at the end

    def score(delimiter: str) -> tuple[int, int]:
        best = (0, 0)
        try:
            rows = list(csv.reader(io.StringIO(sample), delimiter=delimiter))[:HEADER_SEARCH_ROWS]
        except csv.Error:
            return best
        for row in rows:
            known = len({_HEADER_LOOKUP.get(fold(c)) for c in row if c.strip()} - {None})
            best = max(best, (known, len(row)))
        return best

    return ";" if score(";") > score(",") else ","


def _xlsx_records(path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise RosterFileError(
            f"Không mở được {path.name} như một tệp Excel .xlsx (cannot open {path.name} as an "
            f".xlsx workbook: {exc})", path=str(path)) from None
    try:
        sheet = workbook.worksheets[0]
        # Some exporters write a wrong <dimension>; read what is really there.
        sheet.reset_dimensions()
        # Read-only sheets yield an empty tuple for each missing row, so counting gives
        # the row number Excel shows.
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    finally:
        workbook.close()


# --------------------------------------------------------------------------- validation

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
        values = {k: v for k, v in raw.values.items() if _filled(v)}
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


def fingerprint(path: Path) -> str:
    """SHA-256 (hex) of the file's bytes, read in chunks.

    For a CSV it also checks, in the same pass, that every byte is UTF-8, so an importer
    can refuse a mis-saved file before it sends anything; raises RosterFileError naming
    the line (physical line, counting from 1) of the first bad byte.
    """
    path = Path(path)
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")() if path.suffix.lower() == ".csv" else None
    newlines = 0
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                if decoder is not None:
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        line = newlines + chunk[:max(0, exc.start)].count(b"\n") + 1
                        raise _not_utf8(path, line, exc) from None
                    newlines += chunk.count(b"\n")
            if decoder is not None:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError as exc:
                    raise _not_utf8(path, newlines + 1, exc) from None
    except FileNotFoundError:
        raise RosterFileError(f"Không tìm thấy tệp {path} (file not found: {path})",
                              path=str(path)) from None
    except (IsADirectoryError, PermissionError) as exc:
        raise RosterFileError(f"Không đọc được {path} (cannot read {path}: {exc.strerror})",
                              path=str(path)) from None
    return digest.hexdigest()
