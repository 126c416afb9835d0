"""What makes one roster row consistent in itself: dates not in the future, a full
member's date of becoming full after admission and present exactly when the status
says full, an adult at admission.

Pure. The importer checks rows with it before sending them (clients/roster_import/
rows.py) and the members service again before applying them
(services/members/roster.py), since rows may also be posted by other clients; both
then say the same thing, in Vietnamese with English in brackets.
"""

from __future__ import annotations

from datetime import date
from typing import Any

DATE_FIELDS = ("birth_date", "admitted_on", "full_member_on")
ADULT_AGE = 18


def row_problems(row: dict[str, Any], today: date) -> dict[str, list[str]]:
    """Problems by field for a row whose fields are each valid (dates as `date`);
    fields missing from `row` are skipped, so a row with field errors can be
    checked too. Empty when the row is consistent."""
    problems: dict[str, list[str]] = {}
    for name in DATE_FIELDS:
        day = row.get(name)
        if day is not None and day > today:
            problems.setdefault(name, []).append(
                f"Ngày {day:%d/%m/%Y} ở tương lai (date {day.isoformat()} is in the future).")
    admitted, full_on = row.get("admitted_on"), row.get("full_member_on")
    born, status = row.get("birth_date"), row.get("status")
    if admitted and full_on and full_on < admitted:
        problems.setdefault("full_member_on", []).append(
            f"Ngày chính thức {full_on:%d/%m/%Y} trước ngày kết nạp {admitted:%d/%m/%Y} "
            f"(full_member_on {full_on.isoformat()} is before admitted_on "
            f"{admitted.isoformat()}).")
    if status == "full" and full_on is None and "full_member_on" not in problems:
        # The national database knows the date; a made-up one would misstate the member.
        problems.setdefault("full_member_on", []).append(
            "Đảng viên chính thức phải có ngày chính thức (a full member needs "
            "full_member_on).")
    if status == "probationary" and full_on is not None:
        problems.setdefault("full_member_on", []).append(
            "Đảng viên dự bị không có ngày chính thức (a probationary member has no "
            "full_member_on).")
    if born and admitted and age_on(born, admitted) < ADULT_AGE:
        problems.setdefault("birth_date", []).append(
            f"Chưa đủ {ADULT_AGE} tuổi khi kết nạp ngày {admitted:%d/%m/%Y} (under "
            f"{ADULT_AGE} on admitted_on {admitted.isoformat()}).")
    return problems


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def reason(problems: dict[str, list[str]]) -> str:
    """Problems as one line: `field: message; field: message`."""
    return "; ".join(f"{field}: {' '.join(str(m).rstrip('.') for m in messages)}"
                     for field, messages in problems.items()).replace("\n", " ")
