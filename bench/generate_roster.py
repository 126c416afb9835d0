"""Synthetic member rosters shaped like an export of the national party member database.

Deterministic for a seed: the same arguments always write the same bytes. Dates are
drawn relative to a fixed reference day, never after it, so a file is valid on any later
day. Names are Vietnamese, NFC, with the surname frequencies of the population (and the
Thái / Mường surnames of the mountain communes in the seeds).

    write_csv(path, 250_000)            # Vietnamese headers, DD/MM/YYYY, comma, UTF-8 BOM
    write_xlsx(path, 50_000)            # real Excel date cells
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REFERENCE_DATE = date(2025, 6, 30)

#: Column headers as the national database exports them, in our field order.
VIETNAMESE_HEADERS = ("Mã đảng viên", "Họ và tên", "Ngày sinh", "Giới tính", "Mã chi bộ",
                      "Ngày kết nạp", "Ngày chính thức", "Trạng thái")
ENGLISH_HEADERS = ("member_code", "full_name", "birth_date", "gender", "cell_code",
                   "admitted_on", "full_member_on", "status")

_SURNAMES = (("Nguyễn", 380), ("Trần", 110), ("Lê", 95), ("Phạm", 70), ("Hoàng", 35),
             ("Huỳnh", 20), ("Phan", 45), ("Vũ", 25), ("Võ", 14), ("Đặng", 21), ("Bùi", 20),
             ("Đỗ", 14), ("Hồ", 13), ("Ngô", 13), ("Dương", 10), ("Lý", 5), ("Đinh", 8),
             ("Lò", 6), ("Quàng", 4), ("Hà", 8), ("Lương", 5), ("Vi", 3), ("Sầm", 2),
             ("Cầm", 3), ("Lục", 2), ("Triệu", 3), ("Thái", 3), ("Mai", 4), ("Tạ", 3))
_MIDDLE = {
    "Nam": ("Văn", "Văn", "Văn", "Đức", "Minh", "Hữu", "Quang", "Xuân", "Công", "Thành",
            "Ngọc", "Đình", "Trọng", "Tiến"),
    "Nữ": ("Thị", "Thị", "Thị", "Thị", "Ngọc", "Thu", "Thanh", "Minh", "Hồng", "Kim",
           "Diệu", "Phương", "Mỹ"),
}
_GIVEN = {
    "Nam": ("Hùng", "Dũng", "Hải", "Tuấn", "Đạt", "Cường", "Thắng", "Khánh", "Sơn", "Long",
            "Quân", "Phúc", "Lộc", "Thịnh", "Trung", "Nghĩa", "Việt", "Đức", "Bình", "Toàn",
            "Hưng", "Kiên", "Mạnh", "Tùng", "Nguyên", "Vĩnh", "Quý", "Thuận", "Huy", "Ân"),
    "Nữ": ("Mai", "Lan", "Hương", "Hằng", "Thảo", "Phương", "Ánh", "Quỳnh", "Thủy", "Nguyệt",
           "Yến", "Bích", "Hạnh", "Trang", "Liên", "Nhung", "Duyên", "Huệ", "Loan", "Oanh",
           "Ngân", "Diệp", "Vân", "Thư", "Hoa", "Xuân", "Tuyết", "Ngọc", "Dung", "Hà"),
}
#: (status as the export writes it, weight in 1/1000).
_STATUSES = (("Chính thức", 875), ("Dự bị", 80), ("Miễn sinh hoạt", 30), ("Chuyển đi", 7),
             ("Từ trần", 5), ("Xóa tên", 2), ("Khai trừ", 1))


def generate_rows(rows: int, seed: int = 1, cells: int | None = None,
                  reference: date = REFERENCE_DATE) -> Iterator[dict[str, Any]]:
    """`rows` member records (field name → value; dates as `date`), cells "CB00001"… in order.

    `cells` defaults to one per 20 members, about the average of a province.
    """
    rng = random.Random(seed)
    cells = max(1, cells if cells is not None else rows // 20)
    surnames, surname_weights = zip(*_SURNAMES, strict=True)
    statuses, status_weights = zip(*_STATUSES, strict=True)
    for index in range(rows):
        gender = "Nam" if rng.random() < 0.62 else "Nữ"
        name = " ".join((rng.choices(surnames, surname_weights)[0],
                         rng.choice(_MIDDLE[gender]), rng.choice(_GIVEN[gender])))
        status = rng.choices(statuses, status_weights)[0]
        if status == "Dự bị":
            admitted = reference - timedelta(days=rng.randrange(1, 360))
        elif status == "Miễn sinh hoạt":
            admitted = reference - timedelta(days=rng.randrange(30 * 365, 55 * 365))
        else:
            admitted = reference - timedelta(days=rng.randrange(400, 45 * 365))
        age_at_admission = rng.randrange(18, 46 if status != "Miễn sinh hoạt" else 30)
        born = admitted - timedelta(days=age_at_admission * 366 + rng.randrange(0, 300))
        full_on = None if status == "Dự bị" else _one_year_after(admitted)
        yield {
            "member_code": f"38{index + 1:08d}",
            "full_name": name,
            "birth_date": born,
            "gender": gender,
            "cell_code": f"CB{index * cells // rows + 1:05d}",
            "admitted_on": admitted,
            "full_member_on": full_on,
            "status": status,
        }


def _one_year_after(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return date(day.year + 1, 3, 1)


def write_csv(path: Path | str, rows: int, seed: int = 1, cells: int | None = None, *,
              delimiter: str = ",", headers: tuple[str, ...] = VIETNAMESE_HEADERS,
              bom: bool = True) -> Path:
    """Write a roster CSV (UTF-8, BOM by default as Excel writes it; dates DD/MM/YYYY)."""
    path = Path(path)
    with open(path, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(headers)
        for row in generate_rows(rows, seed, cells):
            writer.writerow([_csv_cell(row[field]) for field in ENGLISH_HEADERS])
    return path


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def write_xlsx(path: Path | str, rows: int, seed: int = 1, cells: int | None = None, *,
               headers: tuple[str, ...] = VIETNAMESE_HEADERS) -> Path:
    """Write a roster workbook (one sheet, dates as real date cells), streaming."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    path = Path(path)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Đảng viên")
    sheet.append(list(headers))
    for row in generate_rows(rows, seed, cells):
        out: list[Any] = []
        for field in ENGLISH_HEADERS:
            value = row[field]
            if isinstance(value, date):
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = "DD/MM/YYYY"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    workbook.save(path)
    return path
