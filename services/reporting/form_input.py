"""What the data-entry forms send, read into the commands' bodies. Pure: no I/O.

People type dates as DD/MM/YYYY (05/06/2026), months as MM/YYYY and times as HH:MM;
the commands take ISO dates (chibo.inputs). A form is read whole before anything is
sent: every field's problem is collected, in Vietnamese, under the form field's own
name, so the page shows each next to its field and nothing is written.

A command refused by its service answers problems keyed by its own fields, possibly
nested (``attendance.3.reason``, ``tasks.1.due_on``, ``scores.conduct``); `form_errors`
maps them back to the form's fields (the third attendance line is a member's row) and
says them in Vietnamese, keeping the service's own words for anything it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from chibo.inputs import EARLIEST, LATEST
from services.reporting.web.i18n import format_date

#: Where a problem that belongs to no one field is shown: above the form.
GENERAL = "_form"

_DAY = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_MONTH = re.compile(r"^\s*(\d{1,2})\s*[/.\-]\s*(\d{4})\s*$")
_TIME = re.compile(r"^\s*(\d{1,2})\s*[:hH.]\s*(\d{2})\s*$")

DATE_EXAMPLE = "05/06/2026"
MSG_DATE_REQUIRED = f"Hãy nhập ngày theo dạng ngày/tháng/năm, ví dụ {DATE_EXAMPLE}."
MSG_DATE_FORMAT = (f"Ngày phải viết theo dạng ngày/tháng/năm (DD/MM/YYYY), ví dụ "
                   f"{DATE_EXAMPLE}.")
MSG_DATE_WINDOW = f"Năm phải từ {EARLIEST.year} đến {LATEST.year}."
MSG_TIME_FORMAT = "Giờ phải viết theo dạng giờ:phút (HH:MM), ví dụ 19:30."
MSG_MONTH_FORMAT = "Tháng phải viết theo dạng tháng/năm (MM/YYYY), ví dụ 05/2026."
MSG_REQUIRED = "Mục này không được để trống."
MSG_COUNT = "Hãy nhập một số nguyên từ 0 trở lên."
MSG_STATUS = "Hãy chọn có mặt, vắng có lý do hoặc vắng không lý do."
MSG_REASON = "Vắng có lý do: hãy ghi lý do."


class FormData(Protocol):
    """What a posted form offers (werkzeug's MultiDict)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[Any]: ...


@dataclass
class Problems:
    """Problems found in a form, by form field name, in Vietnamese."""

    fields: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields)


class FormRejected(Exception):
    """The form cannot be sent as it is: `fields` maps form field names to messages."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = dict(fields)


# -- values ----------------------------------------------------------------------------

def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def parse_date(text: str | None, name: str, problems: Problems,
               required: bool = True) -> date | None:
    """DD/MM/YYYY (also D/M/YYYY, or with dots or dashes) as a date; an ISO date, as a
    browser's own date picker sends it, is taken too. A problem is noted under `name`."""
    text = (text or "").strip()
    if not text:
        if required:
            problems.add(name, MSG_DATE_REQUIRED)
        return None
    found = _DAY.match(text)
    if found:
        day, month, year = (int(part) for part in found.groups())
    elif re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        year, month, day = (int(part) for part in text.split("-"))
    else:
        problems.add(name, MSG_DATE_FORMAT)
        return None
    try:
        value = date(year, month, day)
    except ValueError:
        problems.add(name, f"Không có ngày {day:02d}/{month:02d}/{year}: {MSG_DATE_FORMAT}")
        return None
    if not EARLIEST <= value <= LATEST:
        problems.add(name, MSG_DATE_WINDOW)
        return None
    return value


def show_date(value: Any) -> str:
    """A date (or ISO text) as people type it: DD/MM/YYYY; '' for none (a field's
    value, where the pages show a dash)."""
    return "" if value in (None, "") else format_date(value)


def parse_time(text: str | None, name: str, problems: Problems) -> str | None:
    """HH:MM (also 7:30, 19h30) as the commands' HH:MM; blank is none."""
    text = (text or "").strip()
    if not text:
        return None
    found = _TIME.match(text)
    if not found or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        problems.add(name, MSG_TIME_FORMAT)
        return None
    return f"{int(found.group(1)):02d}:{found.group(2)}"


def parse_month(text: str | None, name: str, problems: Problems) -> str | None:
    """MM/YYYY as YYYY-MM; blank is none."""
    text = (text or "").strip()
    if not text:
        return None
    found = _MONTH.match(text) or re.match(r"^\s*(\d{4})-(\d{2})\s*$", text)
    if found and len(found.group(1)) == 4:
        year, month = int(found.group(1)), int(found.group(2))
    elif found:
        month, year = int(found.group(1)), int(found.group(2))
    else:
        problems.add(name, MSG_MONTH_FORMAT)
        return None
    if not 1 <= month <= 12 or not EARLIEST.year <= year <= LATEST.year:
        problems.add(name, MSG_MONTH_FORMAT)
        return None
    return f"{year}-{month:02d}"


def show_month(value: str | None) -> str:
    """YYYY-MM as MM/YYYY."""
    return f"{value[5:7]}/{value[:4]}" if value and len(value) >= 7 else ""


def parse_count(text: str | None, name: str, problems: Problems,
                required: bool = True) -> int | None:
    text = (text or "").strip()
    if not text:
        if required:
            problems.add(name, MSG_COUNT)
        return None
    if not text.isdigit():
        problems.add(name, MSG_COUNT)
        return None
    return int(text)


def _required_text(form: FormData, name: str, problems: Problems) -> str | None:
    value = _text(form, name)
    if not value:
        problems.add(name, MSG_REQUIRED)
        return None
    return value


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _done(problems: Problems, payload: dict[str, Any]) -> dict[str, Any]:
    if problems:
        raise FormRejected(problems.fields)
    return payload


# -- the forms -------------------------------------------------------------------------

def schedule_command(form: FormData, cell_id: str) -> dict[str, Any]:
    problems = Problems()
    planned_on = parse_date(form.get("planned_on"), "planned_on", problems)
    payload = {"cell_id": cell_id, "kind": _text(form, "kind") or "regular",
               "topic": _text(form, "topic") or None, "place": _text(form, "place") or None,
               "planned_on": planned_on.isoformat() if planned_on else None}
    if form.get("meeting_id"):
        payload["meeting_id"] = _text(form, "meeting_id")
    return _done(problems, payload)


def preparation_command(form: FormData, meeting_id: str) -> dict[str, Any]:
    problems = Problems()
    held = parse_date(form.get("preparation_held_on"), "preparation_held_on", problems)
    sent = parse_date(form.get("materials_sent_on"), "materials_sent_on", problems,
                      required=False)
    return _done(problems, {
        "meeting_id": meeting_id, "preparation_held_on": held.isoformat() if held else None,
        "materials_sent_on": sent.isoformat() if sent else None,
        "higher_committee_notified": bool(form.get("higher_committee_notified"))})


@dataclass(frozen=True)
class RollLine:
    """One row of the roll the form shows: a member who must attend (`locked` False) or
    one excused that day (exempt, working away: shown excused and locked)."""

    member_id: str
    full_name: str
    locked: bool = False
    reason: str | None = None
    status: str = "full"
    standing: str | None = None  # why excused: exempt, working away, transferred out


def roll_lines(roll: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[RollLine]:
    """The members service's roll (`attendance_roll`) as the form's rows, those who must
    attend first (in the roll's Vietnamese name order), then those excused."""
    must = [RollLine(m["member_id"], m["full_name"], status=m.get("status", "full"))
            for m in roll.get("must_attend", [])]
    excused = [RollLine(m["member_id"], m["full_name"], True, m.get("reason"),
                        m.get("status", "full"), m.get("standing"))
               for m in roll.get("excused", [])]
    return must + excused


def eligible_voters(roll: Mapping[str, Sequence[Mapping[str, Any]]]) -> int:
    """Members who may vote on a resolution: full members due to attend (as the
    meetings service counts them)."""
    return sum(1 for m in roll.get("must_attend", []) if m.get("status") == "full")


@dataclass(frozen=True)
class Parsed:
    """A command's body and where each of its fields sits in the form."""

    payload: dict[str, Any]
    places: dict[str, str]


def meeting_held_command(form: FormData, cell_id: str, lines: Sequence[RollLine],
                         criteria: Iterable[str] = ()) -> Parsed:
    """The record of a meeting held: the roll's rows (`status.<member>`,
    `reason.<member>`), times, people, agenda and speakers (one a line / ticked),
    the self-score (`score.<criterion>`, all or none) and a make-up month."""
    problems = Problems()
    held_on = parse_date(form.get("held_on"), "held_on", problems)
    started = parse_time(form.get("started_at"), "started_at", problems)
    ended = parse_time(form.get("ended_at"), "ended_at", problems)
    makes_up = parse_month(form.get("makes_up_month"), "makes_up_month", problems)
    attendance: list[dict[str, Any]] = []
    places: dict[str, str] = {}
    for line in lines:
        if line.locked:
            continue  # the service records them as excused, with the roll's reason
        status = _text(form, f"status.{line.member_id}")
        reason = _text(form, f"reason.{line.member_id}") or None
        if status not in ("present", "absent_excused", "absent_unexcused"):
            problems.add(f"status.{line.member_id}", MSG_STATUS)
            continue
        if status == "absent_excused" and not reason:
            problems.add(f"reason.{line.member_id}", MSG_REASON)
        index = len(attendance)
        places[f"attendance.{index}.member_id"] = f"status.{line.member_id}"
        places[f"attendance.{index}.status"] = f"status.{line.member_id}"
        places[f"attendance.{index}.reason"] = f"reason.{line.member_id}"
        places[f"attendance.{index}.dues_paid"] = f"status.{line.member_id}"
        attendance.append({"member_id": line.member_id, "status": status,
                           "reason": reason if status != "present" else None})
    scores: dict[str, int] | None = None
    typed = {name: _text(form, f"score.{name}") for name in criteria}
    if any(typed.values()):
        scores = {}
        for name, text in typed.items():
            value = parse_count(text, f"score.{name}", problems)
            if value is not None:
                scores[name] = value
            places[f"scores.{name}"] = f"score.{name}"
    dues = _text(form, "dues_collected")
    payload = {
        "cell_id": cell_id, "kind": _text(form, "kind") or "regular",
        "topic": _text(form, "topic") or None,
        "held_on": held_on.isoformat() if held_on else None,
        "place": _text(form, "place") or None, "started_at": started, "ended_at": ended,
        "chair_id": _text(form, "chair_id") or None,
        "minutes_taker_id": _text(form, "minutes_taker_id") or None,
        "dues_collected": {"yes": True, "no": False}.get(dues),
        "agenda": _lines(str(form.get("agenda") or "")),
        "speakers": [s for s in form.getlist("speakers") if s],
        "minutes": _text(form, "minutes") or None,
        "conclusion": _text(form, "conclusion") or None,
        "attendance": attendance, "scores": scores, "makes_up_month": makes_up}
    if form.get("meeting_id"):
        payload["meeting_id"] = _text(form, "meeting_id")
    _done(problems, payload)
    return Parsed(payload, places)


#: Rows of tasks a resolution form offers (blank rows are left out).
TASK_ROWS = 5


def resolution_command(form: FormData, meeting_id: str) -> Parsed:
    """A resolution with its vote and up to TASK_ROWS tasks (`task_title.N`,
    `task_assignee.N`, `task_due.N`; a row without a title is left out)."""
    problems = Problems()
    title = _required_text(form, "title", problems)
    vote = {key: parse_count(form.get(key), key, problems)
            for key in ("in_favour", "against", "abstaining")}
    tasks: list[dict[str, Any]] = []
    places = {"vote": "in_favour", "vote.in_favour": "in_favour", "vote.against": "against",
              "vote.abstaining": "abstaining"}
    for row in range(TASK_ROWS):
        task_title = _text(form, f"task_title.{row}")
        due_text = _text(form, f"task_due.{row}")
        assignee = _text(form, f"task_assignee.{row}") or None
        if not task_title:
            if due_text or assignee:
                problems.add(f"task_title.{row}", MSG_REQUIRED)
            continue
        due = parse_date(due_text, f"task_due.{row}", problems)
        index = len(tasks)
        places[f"tasks.{index}.title"] = f"task_title.{row}"
        places[f"tasks.{index}.assignee_id"] = f"task_assignee.{row}"
        places[f"tasks.{index}.due_on"] = f"task_due.{row}"
        tasks.append({"title": task_title, "assignee_id": assignee,
                      "due_on": due.isoformat() if due else None})
    payload = {"meeting_id": meeting_id, "title": title,
               "text": _text(form, "text") or None, "vote": vote, "tasks": tasks}
    _done(problems, payload)
    return Parsed(payload, places)


def visit_command(form: FormData, cell_id: str, criteria: Iterable[str] = ()) -> Parsed:
    """A visit to a held meeting: the assessment, and the cell's self-score confirmed
    (`score_choice=confirm`) or changed (`score.<criterion>`, all of them)."""
    problems = Problems()
    visited = parse_date(form.get("visited_on"), "visited_on", problems)
    meeting_id = _required_text(form, "meeting_id", problems)
    confirm = _text(form, "score_choice") != "change"
    changed: dict[str, int] | None = None
    places: dict[str, str] = {"confirm_score": "score_choice",
                              "changed_scores": "score_choice"}
    if not confirm:
        changed = {}
        for name in criteria:
            value = parse_count(form.get(f"score.{name}"), f"score.{name}", problems)
            if value is not None:
                changed[name] = value
            places[f"changed_scores.{name}"] = f"score.{name}"
            places[f"scores.{name}"] = f"score.{name}"
    payload = {"cell_id": cell_id, "meeting_id": meeting_id,
               "visited_on": visited.isoformat() if visited else None,
               "comments": _text(form, "comments"), "confirm_score": confirm,
               "changed_scores": changed}
    _done(problems, payload)
    return Parsed(payload, places)


def task_command(form: FormData, task_id: str) -> tuple[str, dict[str, Any]]:
    """Progress on a task (`action=progress`, a note) or its completion (`action=complete`,
    the result and the day): (command name, body)."""
    problems = Problems()
    if _text(form, "action") == "complete":
        result = _required_text(form, "result", problems)
        on = parse_date(form.get("completed_on"), "completed_on", problems, required=False)
        return "complete_task", _done(problems, {
            "task_id": task_id, "result": result,
            "completed_on": on.isoformat() if on else None})
    note = _required_text(form, "note", problems)
    return "note_task_progress", _done(problems, {"task_id": task_id, "note": note})


#: What a correction form offers to change, as the meetings service can correct it.
CORRECTED_TEXTS = ("topic", "place", "minutes", "conclusion")


def correction_command(form: FormData, meeting_id: str,
                       recorded: Mapping[str, Any]) -> dict[str, Any]:
    """A correction: the fields whose new value differs from what was recorded, and the
    reason. Nothing recorded is edited: the service appends a correction referencing it."""
    problems = Problems()
    reason = _required_text(form, "reason", problems)
    changes: dict[str, Any] = {}
    for name in CORRECTED_TEXTS:
        value = _text(form, name) or None
        if value != (recorded.get(name) or None):
            changes[name] = value
    for name in ("started_at", "ended_at"):
        value = parse_time(form.get(name), name, problems)
        if value != (recorded.get(name) or None):
            changes[name] = value
    agenda = _lines(str(form.get("agenda") or ""))
    if agenda != list(recorded.get("agenda") or []):
        changes["agenda"] = agenda
    if not changes:
        problems.add(GENERAL, "Chưa có gì thay đổi so với biên bản đã ghi.")
    return _done(problems, {"meeting_id": meeting_id, "changes": changes, "reason": reason})


# -- the services' answers -------------------------------------------------------------

def flatten(problems: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Nested problems (marshmallow's {"attendance": {3: {"reason": [...]}}}) as dotted
    keys ("attendance.3.reason")."""
    flat: dict[str, list[str]] = {}
    for key, value in problems.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            for inner, messages in flatten(value, f"{name}.").items():
                flat.setdefault(inner, []).extend(messages)
        elif isinstance(value, list | tuple):
            texts = [m for m in value if isinstance(m, str)]
            for m in value:
                if isinstance(m, Mapping):
                    for inner, messages in flatten(m, f"{name}.").items():
                        flat.setdefault(inner, []).extend(messages)
            if texts:
                flat.setdefault(name, []).extend(texts)
        else:
            flat.setdefault(name, []).append(str(value))
    return flat


#: The services' words (English, from the schemas and the rules) and how the forms say
#: them. A pattern's groups fill the Vietnamese text's {0}, {1}.
_SAID = [
    (r"Missing data for required field\.", MSG_REQUIRED),
    (r"Field may not be null\.", MSG_REQUIRED),
    (r"Expected a date as YYYY-MM-DD\.", MSG_DATE_FORMAT),
    (r"No such day: .*", MSG_DATE_FORMAT),
    (r"Expected a date from .*", MSG_DATE_WINDOW),
    (r"Expected a time as HH:MM\.", MSG_TIME_FORMAT),
    (r"Expected a month as YYYY-MM.*", MSG_MONTH_FORMAT),
    (r"A meeting dated in the future cannot be held\.",
     "Không thể ghi buổi sinh hoạt vào ngày chưa đến."),
    (r"Cannot be in the future\.", "Không được là ngày chưa đến."),
    (r"An excused absence needs its reason\.", MSG_REASON),
    (r"Every member must be listed; missing: (.*)\.",
     "Phải ghi đủ mọi đảng viên phải dự; còn thiếu: {0}."),
    (r"(.*) is listed twice\.", "Đảng viên {0} được ghi hai lần."),
    (r"(.*) is not a member of this cell on (.*)\.",
     "Không phải đảng viên của chi bộ vào ngày {1}."),
    (r"Not a member of this cell\.", "Không phải đảng viên của chi bộ."),
    (r"Not members of this cell: (.*)\.", "Không phải đảng viên của chi bộ: {0}."),
    (r"Must be after started_at\.", "Giờ kết thúc phải sau giờ bắt đầu."),
    (r"A thematic meeting needs its topic.*", "Sinh hoạt chuyên đề cần ghi tên chuyên đề."),
    (r"Must be between 0 and (\d+)\.", "Phải từ 0 đến {0} điểm."),
    (r"Missing\.", "Chưa chấm điểm mục này."),
    (r"Not a criterion of sheet.*", "Không phải tiêu chí của khung chấm điểm."),
    (r"Due before the meeting that assigned it\.",
     "Hạn hoàn thành không được trước ngày họp giao nhiệm vụ."),
    (r"More votes than the (\d+) members eligible to vote\.",
     "Số phiếu nhiều hơn {0} đảng viên có quyền biểu quyết."),
    (r"Not adopted: (\d+) of (\d+) eligible members in favour.*",
     "Chưa được thông qua: {0}/{1} đảng viên có quyền biểu quyết tán thành; cần quá nửa."),
    (r"Length must be between (\d+) and (\d+)\.", "Độ dài phải từ {0} đến {1} ký tự."),
    (r"Longer than maximum length (\d+)\.", "Dài quá {0} ký tự."),
    (r"Must be one of: .*", "Hãy chọn một giá trị trong danh sách."),
    (r"Not a valid integer\.", MSG_COUNT),
    (r"The cell recorded no self-score to confirm.*",
     "Chi bộ chưa tự chấm điểm buổi này: hãy chấm lại từng mục."),
    (r"No score sheet applies.*", "Không có khung chấm điểm áp dụng cho ngày này."),
    (r"The meeting was scheduled for another cell\.",
     "Buổi sinh hoạt này thuộc chi bộ khác."),
]


def vietnamese(message: str) -> str:
    """A service's problem as the form says it; one it does not know keeps the service's
    own words after a Vietnamese lead-in."""
    for pattern, said in _SAID:
        found = re.fullmatch(pattern, message.strip())
        if found:
            return said.format(*found.groups())
    if re.search(r"[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]", message,
                 re.IGNORECASE):
        return message  # the service already said it in Vietnamese
    return f"Không hợp lệ ({message})"


def form_errors(problems: Mapping[str, Any], places: Mapping[str, str] | None = None,
                known: Iterable[str] = ()) -> dict[str, list[str]]:
    """A command's problems (keyed by its fields, maybe nested) by the form field each is
    shown beside, in Vietnamese: through `places` (command path -> form field), else
    the nearest enclosing path `places` names, else the command field itself when the
    form has a field of that name (`known`), else above the form (GENERAL)."""
    places = places or {}
    known = set(known)
    shown: dict[str, list[str]] = {}
    for path, messages in flatten(problems).items():
        name = places.get(path)
        if name is None:
            parts = path.split(".")
            for cut in range(len(parts) - 1, 0, -1):
                name = places.get(".".join(parts[:cut]))
                if name is not None:
                    break
        if name is None:
            name = path if path in known else GENERAL
        for message in messages:
            said = vietnamese(message)
            if said not in shown.get(name, []):
                shown.setdefault(name, []).append(said)
    return shown
