"""The escalation rules as one typed catalogue, and how an escalation reads.

Every rule supervision can raise is a member of `Rule`, and a member cannot be
made without its labels in both languages, the kind of period it judges and
whether it climbs: so no part of the system can emit a rule that has no label.
An escalation's log entry carries structured facts (`details`), never prose;
`reason` and `period_label` turn them into a sentence in the reader's language,
with dates as DD/MM/YYYY and months as MM/YYYY, for supervision's e-mails and
reporting's pages and exports alike.

Pure: no database, no framework.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

LANGS = ("vi", "en")
_ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}


class Period(StrEnum):
    """What an escalation's `period` names."""

    MONTH = "month"      # "2026-09"
    QUARTER = "quarter"  # "2026-Q3"
    TASK = "task"        # the task's id; the task's due date says when


class Rule(StrEnum):
    """The escalation rules, each with its labels and settings."""

    label_vi: str
    label_en: str
    period: Period
    #: Whether an unacknowledged escalation of this rule moves up the tree (and, for
    #: the monthly ladder, whether a streak of misses raises it higher). The default;
    #: `SUPERVISION.rules.<rule>.climbs` in the configuration overrides it.
    climbs: bool

    def __new__(cls, code: str, label_vi: str, label_en: str, period: Period,
                climbs: bool) -> Rule:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label_vi, member.label_en = label_vi, label_en
        member.period, member.climbs = period, climbs
        return member

    MISSED_REGULAR_MEETING = ("missed_regular_meeting", "Không sinh hoạt thường kỳ",
                              "Missed the regular meeting", Period.MONTH, True)
    NO_THEMATIC_MEETING = ("no_thematic_meeting", "Không sinh hoạt chuyên đề trong quý",
                           "No thematic meeting in the quarter", Period.QUARTER, True)
    NOT_VISITED = ("not_visited", "Không được cấp trên dự sinh hoạt trong quý",
                   "Not visited in the quarter", Period.QUARTER, True)
    TASK_OVERDUE = ("task_overdue", "Nhiệm vụ quá hạn", "Task overdue", Period.TASK, True)
    # A flag for the cell and the committee directly above it to consider, never an
    # action: it stays where it was raised.
    REMOVAL_CANDIDATE = ("removal_candidate", "Đảng viên thuộc diện xem xét xóa tên",
                         "Member due for removal from the rolls", Period.MONTH, False)

    def label(self, lang: str = "vi") -> str:
        return self.label_en if lang == "en" else self.label_vi


class Resolution(StrEnum):
    """How the system resolves an escalation by itself (people write their own how)."""

    label_vi: str
    label_en: str

    def __new__(cls, code: str, label_vi: str, label_en: str) -> Resolution:
        member = str.__new__(cls, code)
        member._value_ = code
        member.label_vi, member.label_en = label_vi, label_en
        return member

    # The code is older than make-up meetings and stays as logged: it means a regular
    # meeting dated inside the month was recorded after the month was judged.
    MEETING_RECORDED_LATE = ("make_up_meeting",
                             "Đã ghi nhận buổi sinh hoạt trong tháng (ghi muộn)",
                             "The month's meeting was recorded late")
    MADE_UP = ("made_up", "Đã sinh hoạt bù", "Made up by a make-up meeting")
    THEMATIC_MEETING_RECORDED = ("thematic_meeting_recorded",
                                 "Đã ghi nhận buổi sinh hoạt chuyên đề trong quý",
                                 "A thematic meeting of the quarter was recorded")
    VISIT_RECORDED = ("visit_recorded", "Đã ghi nhận cấp trên dự sinh hoạt trong quý",
                      "A visit in the quarter was recorded")
    TASK_CLOSED = ("task_closed", "Nhiệm vụ đã hoàn thành hoặc đã hủy",
                   "The task was completed or cancelled")

    def label(self, lang: str = "vi") -> str:
        return self.label_en if lang == "en" else self.label_vi


# Looked up by code rather than called (`Rule(code)`): each member's constructor takes
# its labels and settings, which is all a type checker sees of a call.
_RULES: dict[str, Rule] = {rule.value: rule for rule in Rule}
_RESOLUTIONS: dict[str, Resolution] = {how.value: how for how in Resolution}


def rule_of(code: Any) -> Rule | None:
    return _RULES.get(str(code))


def resolution_label(how: Any, lang: str = "vi") -> str:
    """A system resolution's label; what a person wrote, as they wrote it."""
    if how is None or how == "":
        return ""
    found = _RESOLUTIONS.get(str(how))
    return found.label(lang) if found else str(how)


# -- formats ------------------------------------------------------------------------

def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def format_day(value: Any) -> str:
    """'2026-02-01' -> '01/02/2026' (both languages: the users' habit)."""
    day = _day(value)
    return day.strftime("%d/%m/%Y") if day else str(value or "")


def format_month(month: str) -> str:
    """'2026-09' -> '09/2026'."""
    found = re.fullmatch(r"(\d{4})-(\d{2})", str(month))
    return f"{found[2]}/{found[1]}" if found else str(month)


def format_quarter(quarter: str, lang: str = "vi") -> str:
    """'2026-Q3' -> 'quý III/2026' / 'Q3 2026'."""
    found = re.fullmatch(r"(\d{4})-Q([1-4])", str(quarter))
    if not found:
        return str(quarter)
    return f"quý {_ROMAN[int(found[2])]}/{found[1]}" if lang != "en" \
        else f"Q{found[2]} {found[1]}"


# -- an escalation as it reads ---------------------------------------------------------

def period_label(escalation: Mapping[str, Any], lang: str = "vi", *,
                 in_sentence: bool = False) -> str:
    """The period an escalation is about, for people: '09/2026' (in a sentence
    'tháng 09/2026' / '09/2026'), 'Quý III/2026' / 'Q3 2026', or for a task its due
    date ('Hạn 01/02/2026' / 'Due 01/02/2026'); empty when a task's due date is unknown."""
    rule = rule_of(escalation.get("rule"))
    period = str(escalation.get("period") or "")
    kind = rule.period if rule else _guess_period(period)
    if kind is Period.MONTH:
        month = format_month(period)
        return f"tháng {month}" if in_sentence and lang != "en" else month
    if kind is Period.QUARTER:
        text = format_quarter(period, lang)
        return text if in_sentence or lang == "en" else text[:1].upper() + text[1:]
    due = (escalation.get("details") or {}).get("due_on")
    if not due:
        return ""
    word = ("hạn" if in_sentence else "Hạn") if lang != "en" else ("due" if in_sentence
                                                                   else "Due")
    return f"{word} {format_day(due)}"


def _guess_period(period: str) -> Period:
    if re.fullmatch(r"\d{4}-\d{2}", period):
        return Period.MONTH
    if re.fullmatch(r"\d{4}-Q[1-4]", period):
        return Period.QUARTER
    return Period.TASK


def reason(escalation: Mapping[str, Any], lang: str = "vi") -> str:
    """Why the escalation was raised, as a sentence in `lang`, from its structured
    facts (`rule`, `subject_name`, `period`, `details`)."""
    rule = rule_of(escalation.get("rule"))
    details = dict(escalation.get("details") or {})
    subject = str(escalation.get("subject_name") or escalation.get("subject_id") or "")
    when = period_label(escalation, lang, in_sentence=True)
    en = lang == "en"
    if rule is Rule.MISSED_REGULAR_MEETING:
        streak = _int(details.get("months_in_a_row"))
        if en:
            text = f"{subject}: no regular meeting in {when}"
            return text + (f" ({streak} months in a row)" if streak and streak > 1 else "")
        text = f"{subject} không sinh hoạt thường kỳ {when}"
        return text + (f" ({streak} tháng liên tiếp)" if streak and streak > 1 else "")
    if rule is Rule.NO_THEMATIC_MEETING:
        return (f"{subject}: no thematic meeting in {when}" if en
                else f"{subject} không sinh hoạt chuyên đề trong {when}")
    if rule is Rule.NOT_VISITED:
        return (f"No member of a higher committee attended a meeting of {subject} in {when}"
                if en else f"Không có cấp ủy viên cấp trên dự sinh hoạt {subject} trong {when}")
    if rule is Rule.TASK_OVERDUE:
        days = _int(details.get("days_overdue"))
        if en:
            text = f"Task “{subject}” is overdue"
            text += f" by {days} days" if days else ""
            return text + (f" ({when})" if when else "")
        text = f"Nhiệm vụ “{subject}” quá hạn"
        text += f" {days} ngày" if days else ""
        return text + (f" ({when})" if when else "")
    if rule is Rule.REMOVAL_CANDIDATE:
        months, window = _int(details.get("months")), _int(details.get("window_months"))
        if en:
            text = f"{subject} was absent without reason or did not pay dues"
            text += f" in {months} of {window} months" if months and window else ""
            return text + ": for the cell to consider removal from the rolls"
        text = f"{subject} vắng sinh hoạt không lý do hoặc không đóng đảng phí"
        text += f" {months} tháng trong {window} tháng" if months and window else ""
        return text + ": đề nghị chi bộ xem xét xóa tên"
    label = str(escalation.get("rule") or "")
    return f"{label}: {subject} ({when})" if when else f"{label}: {subject}"


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def details_from_legacy(data: Mapping[str, Any]) -> dict[str, Any]:
    """The structured facts of an escalation first logged with a prose `reason`
    (escalation_raised version 1), recovered from what that version carried."""
    rule, text = rule_of(data.get("rule")), str(data.get("reason") or "")
    if rule is Rule.MISSED_REGULAR_MEETING:
        # The ladder's level was the streak of months missed.
        found = re.search(r"\((\d+) tháng liên tiếp\)", text)
        return {"months_in_a_row": int(found[1]) if found else int(data.get("level") or 1)}
    if rule is Rule.TASK_OVERDUE:
        out: dict[str, Any] = {}
        if found := re.search(r"since (\d{4}-\d{2}-\d{2})", text):
            out["due_on"] = found[1]
        if found := re.search(r"quá hạn (\d+) ngày", text):
            out["days_overdue"] = int(found[1])
        return out
    if rule is Rule.REMOVAL_CANDIDATE:
        if found := re.search(r"(\d+) tháng trong (\d+) tháng", text):
            return {"months": int(found[1]), "window_months": int(found[2])}
    return {}
