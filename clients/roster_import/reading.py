"""Reading a roster file, CSV or XLSX, row by row: its encoding, its headers, its fingerprint."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from chibo.errors import ChiboError
from clients.roster_import.rows import RawRow, filled, fold, folded_lookup

#: The columns a roster cannot do without.
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

#: Rows searched for the header row: exports often start with a title ("DANH SÁCH ĐẢNG VIÊN").
HEADER_SEARCH_ROWS = 20

_HEADER_LOOKUP = folded_lookup(HEADER_ALIASES)
_HEADER_RANK = {fold(alias): rank for aliases in HEADER_ALIASES.values()
                for rank, alias in enumerate(aliases)}


class RosterFileError(ChiboError):
    """The file as a whole cannot be read: wrong type, not UTF-8, a required column missing."""

    http_status = 400
    code = "roster_file_invalid"


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
            if blank and not any(filled(c) for c in cells):
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


def _find_header(head: list[tuple[int, Sequence[Any]]]) -> int | None:
    first_filled = None
    for index, (_, cells) in enumerate(head):
        if not any(filled(c) for c in cells):
            continue
        if first_filled is None:
            first_filled = index
        known = {_HEADER_LOOKUP.get(fold(str(c))) for c in cells if filled(c)} - {None}
        if len(known) >= 2:
            return index
    return first_filled


def _missing_columns(path: Path, line: int, missing: list[str], headers: Sequence[Any]
                     ) -> RosterFileError:
    found = [str(h).strip() for h in headers if filled(h)]
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
