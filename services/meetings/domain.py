"""Rules of meetings, resolutions and tasks. Pure: the cell, its roll, today's
date and the score sheet are inputs; events are the output."""

from __future__ import annotations

import hashlib
import unicodedata
from datetime import date, datetime
from typing import Any

from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent, StreamAppend
from services.meetings.commands import RecordMeetingHeld
from services.meetings.materials import TYPE_NAMES, accepted
from services.shared.events.meetings import MAKE_UP_MONTHS_BACK, MINIMUM_MINUTES
from services.shared.score_sheet import ScoreSheet
from services.shared.text import new_id

CORRECTABLE = ("topic", "place", "started_at", "ended_at", "chair_id", "minutes_taker_id",
               "dues_collected", "agenda", "speakers", "minutes", "conclusion")
OPEN_TASK_STATES = ("assigned", "overdue")


def meeting_stream(meeting_id: str) -> str:
    return f"meeting-{meeting_id}"


def task_stream(task_id: str) -> str:
    return f"task-{task_id}"


def _fmt(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _fmt_month(month: str) -> str:
    return f"{month[5:7]}/{month[:4]}"


def _month_index(month: str) -> int:
    return int(month[:4]) * 12 + int(month[5:7]) - 1


def _month_at(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def last_day_of(month: str) -> date:
    """The last day of a month given as "YYYY-MM"."""
    following = _month_at(_month_index(month) + 1)
    return date.fromordinal(date.fromisoformat(f"{following}-01").toordinal() - 1)


# -- state ------------------------------------------------------------------------

def meeting_state(history: list[RecordedEvent]) -> dict[str, Any] | None:
    """The meeting as its events tell it, corrections applied."""
    state: dict[str, Any] | None = None
    for event in history:
        data = event.data
        if event.type == "meeting_scheduled":
            state = {**data, "status": "scheduled", "resolutions": []}
        elif event.type == "meeting_prepared" and state:
            state["preparation"] = dict(data)
        elif event.type == "meeting_postponed" and state:
            state.update(planned_on=data["planned_on"], status="postponed",
                         postponed_reason=data["reason"])
        elif event.type == "meeting_cancelled" and state:
            state.update(status="cancelled", cancelled_reason=data["reason"])
        elif event.type == "meeting_held":
            state = {**(state or {"resolutions": []}), **data, "status": "held",
                     "held_event_id": event.event_id, "corrections": []}
        elif event.type == "meeting_corrected" and state:
            state.update(data["changes"])
            state["corrections"].append({"event_id": event.event_id, "reason": data["reason"],
                                         "changes": data["changes"]})
        elif event.type == "resolution_adopted" and state:
            state["resolutions"].append(dict(data))
        elif event.type == "material_attached" and state:
            # Only meetings with materials carry the key: the record of others is as it was.
            state.setdefault("materials", []).append(
                {k: data[k] for k in ("file_name", "media_type", "size", "sha256")})
    return state


def task_state(history: list[RecordedEvent]) -> dict[str, Any] | None:
    state: dict[str, Any] | None = None
    for event in history:
        data = event.data
        if event.type == "task_assigned":
            state = {**data, "state": "assigned", "progress": []}
        elif state is None:
            continue
        elif event.type == "task_progress_noted":
            state["progress"].append({"note": data["note"], "noted_on": data["noted_on"]})
        elif event.type == "task_completed":
            state.update(state="completed", result=data["result"],
                         completed_on=data["completed_on"])
        elif event.type == "task_overdue":
            state["state"] = "overdue"
        elif event.type == "task_cancelled":
            state.update(state="cancelled", cancelled_reason=data["reason"])
    return state


# -- scheduling -------------------------------------------------------------------

def _require_cell(cell: dict[str, Any] | None, cell_id: str, day: date) -> None:
    if cell is None:
        raise NotFound(f"Cell {cell_id} is not known to meetings. If it was established a "
                       "moment ago, retry shortly.", field="cell_id")
    if not cell["meets"]:
        raise ValidationFailed({"cell_id": [f"{cell['name']} is a {cell['kind']}, not a cell: "
                                            "only cells hold meetings."]})
    if not cell["active"]:
        raise ValidationFailed({"cell_id": [f"{cell['name']} did not exist on {_fmt(day)}."]})


def _require_topic(command: dict[str, Any]) -> None:
    if command["kind"] in ("thematic", "combined") and not command.get("topic"):
        raise ValidationFailed({"topic": ["A thematic meeting needs its topic (chuyên đề)."]})


def schedule(history: list[RecordedEvent], command: dict[str, Any],
             cell: dict[str, Any] | None) -> list[NewEvent]:
    if history:
        raise DomainRuleViolated(f"Meeting {command['meeting_id']} already exists.")
    _require_cell(cell, command["cell_id"], command["planned_on"])
    _require_topic(command)
    return [NewEvent("meeting_scheduled", {k: command.get(k) for k in (
        "meeting_id", "cell_id", "kind", "topic", "planned_on", "place")})]


def _require_pending(state: dict[str, Any] | None, meeting_id: str) -> dict[str, Any]:
    if state is None:
        raise NotFound(f"Meeting {meeting_id} is not scheduled.", field="meeting_id")
    if state["status"] in ("held", "cancelled"):
        raise DomainRuleViolated(f"Meeting {meeting_id} was already {state['status']}.")
    return state


def record_preparation(history: list[RecordedEvent], command: dict[str, Any],
                       today: date) -> list[NewEvent]:
    state = _require_pending(meeting_state(history), command["meeting_id"])
    if command["preparation_held_on"] > today:
        raise ValidationFailed({"preparation_held_on": ["Cannot be in the future."]})
    planned = date.fromisoformat(str(state["planned_on"]))
    if command["preparation_held_on"] > planned:
        raise ValidationFailed({"preparation_held_on": [
            f"The preparation comes before the meeting ({_fmt(planned)})."]})
    sent = command.get("materials_sent_on")
    if sent is not None and sent > planned:
        raise ValidationFailed({"materials_sent_on": [
            f"Materials go out before the meeting ({_fmt(planned)})."]})
    return [NewEvent("meeting_prepared", {k: command.get(k) for k in (
        "meeting_id", "preparation_held_on", "materials_sent_on",
        "higher_committee_notified")})]


def postpone(history: list[RecordedEvent], command: dict[str, Any]) -> list[NewEvent]:
    _require_pending(meeting_state(history), command["meeting_id"])
    return [NewEvent("meeting_postponed", {k: command[k] for k in (
        "meeting_id", "planned_on", "reason")})]


def cancel(history: list[RecordedEvent], command: dict[str, Any]) -> list[NewEvent]:
    _require_pending(meeting_state(history), command["meeting_id"])
    return [NewEvent("meeting_cancelled", {k: command[k] for k in ("meeting_id", "reason")})]


# -- holding ------------------------------------------------------------------------

def _minutes(command: dict[str, Any]) -> int | None:
    if not (command.get("started_at") and command.get("ended_at")):
        return None
    start = datetime.strptime(command["started_at"], "%H:%M")
    end = datetime.strptime(command["ended_at"], "%H:%M")
    if end <= start:
        raise ValidationFailed({"ended_at": ["Must be after started_at."]})
    return int((end - start).total_seconds() // 60)


def _make_up_problems(command: dict[str, Any], made_up_cell: dict[str, Any] | None
                      ) -> list[str]:
    """What is wrong with the month a meeting says it makes up, if anything."""
    month = command["makes_up_month"]
    if command["kind"] != "regular":
        return ["Only a regular meeting makes up a missed month (sinh hoạt bù); "
                f"this one is {command['kind']}."]
    held = _month_index(command["held_on"].strftime("%Y-%m"))
    wanted = _month_index(month)
    if wanted >= held:
        return [f"Must be a month before the meeting's own ({_fmt_month(_month_at(held))}): "
                "a make-up meeting is held after the month it makes up."]
    if held - wanted > MAKE_UP_MONTHS_BACK:
        return [f"At most {MAKE_UP_MONTHS_BACK} months back: a meeting held in "
                f"{_fmt_month(_month_at(held))} may make up "
                f"{_fmt_month(_month_at(held - MAKE_UP_MONTHS_BACK))} to "
                f"{_fmt_month(_month_at(held - 1))}."]
    if made_up_cell is None or not made_up_cell["active"]:
        return [f"The cell did not exist at the end of {_fmt_month(month)}: there was no "
                "meeting to make up."]
    return []


def record_held(history: list[RecordedEvent], command: dict[str, Any],
                cell: dict[str, Any] | None, roll: dict[str, list[dict[str, Any]]],
                today: date, regular_meetings_that_month: int = 0,
                open_tasks: list[str] | None = None,
                sheet: ScoreSheet | None = None,
                made_up_month_meetings: int = 0,
                made_up_month_cell: dict[str, Any] | None = None) -> list[NewEvent]:
    """Record a meeting held, with its minutes.

    Everyone who must attend is listed; members excused that day (exempt, working
    away, temporarily transferred out) are shown but not counted; anyone outside
    the cell is refused. A second regular meeting in a month is recorded as an
    extra meeting and flagged; a meeting shorter than the minimum is flagged.

    A make-up meeting (`makes_up_month`) is a regular meeting for an earlier month,
    at most MAKE_UP_MONTHS_BACK back, that the cell existed in
    (`made_up_month_cell`: the cell on that month's last day) and that has no
    regular meeting yet (`made_up_month_meetings`, make-ups of it included). It
    counts for that month only, never also for its own: so it is never the extra
    meeting of the month it was held in. `regular_meetings_that_month` counts the
    meetings that count for the meeting's own month.
    """
    state = meeting_state(history)
    if state is not None and state["status"] in ("held", "cancelled"):
        raise DomainRuleViolated(f"Meeting {command['meeting_id']} is already "
                                 f"{state['status']}; send a correction instead.",
                                 meeting_id=command["meeting_id"])
    if state is not None and state["cell_id"] != command["cell_id"]:
        raise ValidationFailed({"cell_id": ["The meeting was scheduled for another cell."]})
    _require_cell(cell, command["cell_id"], command["held_on"])
    if command["held_on"] > today:
        raise ValidationFailed({"held_on": ["A meeting dated in the future cannot be held."]})
    _require_topic(command)

    must_attend = {m["member_id"]: m for m in roll["must_attend"]}
    excused = {m["member_id"]: m for m in roll["excused"]}
    problems: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, line in enumerate(command["attendance"]):
        member_id = line["member_id"]
        if member_id in seen:
            problems[f"attendance.{index}.member_id"] = [f"{member_id} is listed twice."]
        elif member_id not in must_attend and member_id not in excused:
            problems[f"attendance.{index}.member_id"] = [
                f"{member_id} is not a member of this cell on {command['held_on']}."]
        if line["status"] == "absent_excused" and not (line.get("reason") or "").strip():
            problems[f"attendance.{index}.reason"] = ["An excused absence needs its reason."]
        seen.add(member_id)
    missing = sorted(set(must_attend) - seen)
    if missing:
        problems["attendance"] = [f"Every member must be listed; missing: {', '.join(missing)}."]
    members = set(must_attend) | set(excused)
    for role in ("chair_id", "minutes_taker_id"):
        if command.get(role) and command[role] not in members:
            problems[role] = ["Not a member of this cell."]
    strangers = [s for s in command.get("speakers", []) if s not in members]
    if strangers:
        problems["speakers"] = [f"Not members of this cell: {', '.join(strangers)}."]
    duration = None
    try:
        duration = _minutes(command)
    except ValidationFailed as exc:
        problems.update(exc.fields)
    self_score = None
    if command.get("scores") is not None and sheet is not None:
        try:
            self_score = sheet.score(command["scores"])
        except ValidationFailed as exc:
            problems.update(exc.fields)
    made_up = command.get("makes_up_month")
    if made_up:
        wrong = _make_up_problems(command, made_up_month_cell)
        if wrong:
            problems["makes_up_month"] = wrong
    if problems:
        raise ValidationFailed(problems)
    if made_up and made_up_month_meetings > 0:
        raise DomainRuleViolated(
            f"{cell['name'] if cell else command['cell_id']} already has a regular meeting "
            f"for {_fmt_month(made_up)}: a month that was held needs no make-up, and a "
            "make-up never counts for two months.", field="makes_up_month")

    attendance = []
    for line in command["attendance"]:
        member = must_attend.get(line["member_id"]) or excused[line["member_id"]]
        attendance.append({**line, "full_name": member["full_name"],
                           "counted": line["member_id"] in must_attend})
    for member_id, member in excused.items():
        if member_id not in seen:
            attendance.append({"member_id": member_id, "full_name": member["full_name"],
                               "status": "excused", "reason": member["reason"],
                               "counted": False})
    counted = [a for a in attendance if a["counted"]]
    flags = []
    if (command["kind"] in ("regular", "combined") and not made_up
            and regular_meetings_that_month > 0):
        flags.append("extra_regular_meeting")
    if duration is not None and duration < MINIMUM_MINUTES[command["kind"]]:
        flags.append("short_meeting")
    sent = ((state or {}).get("preparation") or {}).get("materials_sent_on")
    if sent and date.fromisoformat(str(sent)) >= command["held_on"]:
        flags.append("materials_late")  # they go out at least a day ahead
    return [NewEvent("meeting_held", {
        **{k: command.get(k) for k in ("meeting_id", "cell_id", "kind", "topic", "held_on",
                                       "place", "started_at", "ended_at", "chair_id",
                                       "minutes_taker_id", "dues_collected", "minutes",
                                       "conclusion")},
        "agenda": command.get("agenda") or [], "speakers": command.get("speakers") or [],
        "duration_minutes": duration, "attendance": attendance,
        "members_counted": len(counted),
        "members_present": sum(1 for a in counted if a["status"] == "present"),
        "tasks_reviewed": sorted(open_tasks or []), "self_score": self_score,
        "flags": flags, **({"makes_up_month": made_up} if made_up else {})})]


def correct(history: list[RecordedEvent], command: dict[str, Any],
            roll: dict[str, list[dict[str, Any]]] | None = None) -> list[NewEvent]:
    """A correction of recorded minutes: references what it corrects; nothing is edited.
    Corrected times are checked as when recorded, and the duration and its flag follow."""
    state = meeting_state(history)
    if state is None or state["status"] != "held":
        raise DomainRuleViolated(f"Meeting {command['meeting_id']} has no recorded minutes "
                                 "to correct.")
    changes = command["changes"]
    unknown = sorted(set(changes) - set(CORRECTABLE))
    if unknown or not changes:
        raise ValidationFailed({"changes": [
            f"Correctable: {', '.join(CORRECTABLE)}."
            + (f" Not correctable here: {', '.join(unknown)}." if unknown else "")]})
    problems = RecordMeetingHeld().validate(changes, partial=True)
    if roll is not None:
        members = {m["member_id"] for m in (*roll["must_attend"], *roll["excused"])}
        for role in ("chair_id", "minutes_taker_id"):
            if changes.get(role) and changes[role] not in members:
                problems[role] = ["Not a member of this cell."]
        strangers = [p for p in changes.get("speakers") or [] if p not in members]
        if strangers:
            problems["speakers"] = [f"Not members of this cell: {', '.join(strangers)}."]
    if problems:
        raise ValidationFailed(problems)
    if {"started_at", "ended_at"} & set(changes):
        duration = _minutes({**state, **changes})
        flags = [f for f in state.get("flags", []) if f != "short_meeting"]
        if duration is not None and duration < MINIMUM_MINUTES[state["kind"]]:
            flags.append("short_meeting")
        changes = {**changes, "duration_minutes": duration, "flags": flags}
    return [NewEvent("meeting_corrected", {
        "meeting_id": command["meeting_id"], "corrects_event_id": state["held_event_id"],
        "changes": changes, "reason": command["reason"]})]


# -- resolutions and tasks -----------------------------------------------------------

def adopt_resolution(history: list[RecordedEvent], version: int, command: dict[str, Any],
                     roll: dict[str, list[dict[str, Any]]]) -> list[StreamAppend]:
    """A resolution adopted at a held meeting, valid only with more than half of the
    members eligible to vote (full members due to attend) in favour."""
    state = meeting_state(history)
    if state is None or state["status"] != "held":
        raise DomainRuleViolated(f"Meeting {command['meeting_id']} was not held: a "
                                 "resolution is adopted at a meeting.")
    if any(r["resolution_id"] == command["resolution_id"] for r in state["resolutions"]):
        raise DomainRuleViolated(f"Resolution {command['resolution_id']} was already adopted "
                                 "at this meeting.", field="resolution_id")
    vote = command["vote"]
    eligible = sum(1 for m in roll["must_attend"] if m["status"] == "full")
    if vote["in_favour"] + vote["against"] + vote["abstaining"] > eligible:
        raise ValidationFailed({"vote": [f"More votes than the {eligible} members "
                                         "eligible to vote."]})
    if vote["in_favour"] * 2 <= eligible:
        raise DomainRuleViolated(
            f"Not adopted: {vote['in_favour']} of {eligible} eligible members in favour; "
            "more than half are needed.", field="vote")
    members = {m["member_id"]: m for m in (*roll["must_attend"], *roll["excused"])}
    held_on = date.fromisoformat(str(state["held_on"]))
    problems: dict[str, list[str]] = {}
    tasks = []
    for index, task in enumerate(command["tasks"]):
        assignee = task.get("assignee_id")
        if assignee is not None and assignee not in members:
            problems[f"tasks.{index}.assignee_id"] = ["Not a member of this cell."]
        if task["due_on"] < held_on:
            problems[f"tasks.{index}.due_on"] = ["Due before the meeting that assigned it."]
        tasks.append({**task, "task_id": task.get("task_id") or new_id()})
    if problems:
        raise ValidationFailed(problems)
    resolution_id = command["resolution_id"]
    appends = [StreamAppend(meeting_stream(command["meeting_id"]), version, [NewEvent(
        "resolution_adopted", {
            "meeting_id": command["meeting_id"], "resolution_id": resolution_id,
            "cell_id": state["cell_id"], "title": command["title"],
            "text": command.get("text"),
            "vote": {**vote, "eligible": eligible}, "task_ids": [t["task_id"] for t in tasks]})])]
    for task in tasks:
        assignee = task.get("assignee_id")
        appends.append(StreamAppend(task_stream(task["task_id"]), 0, [NewEvent("task_assigned", {
            "task_id": task["task_id"], "cell_id": state["cell_id"],
            "meeting_id": command["meeting_id"], "resolution_id": resolution_id,
            "title": task["title"], "assignee_id": assignee,
            "assignee_name": members[assignee]["full_name"] if assignee else "Chi ủy",
            "due_on": task["due_on"]})]))
    return appends


def _require_open(state: dict[str, Any] | None, task_id: str) -> dict[str, Any]:
    if state is None:
        raise NotFound(f"Task {task_id} does not exist.", field="task_id")
    if state["state"] not in OPEN_TASK_STATES:
        raise DomainRuleViolated(f"Task {task_id} is already {state['state']}.")
    return state


def note_progress(history: list[RecordedEvent], command: dict[str, Any], today: date
                  ) -> list[NewEvent]:
    _require_open(task_state(history), command["task_id"])
    return [NewEvent("task_progress_noted", {"task_id": command["task_id"],
                                             "note": command["note"], "noted_on": today})]


def complete_task(history: list[RecordedEvent], command: dict[str, Any], today: date
                  ) -> list[NewEvent]:
    _require_open(task_state(history), command["task_id"])
    completed_on = command.get("completed_on") or today
    if completed_on > today:
        raise ValidationFailed({"completed_on": ["Cannot be in the future."]})
    return [NewEvent("task_completed", {"task_id": command["task_id"],
                                        "result": command["result"],
                                        "completed_on": completed_on})]


def cancel_task(history: list[RecordedEvent], command: dict[str, Any], today: date
                ) -> list[NewEvent]:
    _require_open(task_state(history), command["task_id"])
    return [NewEvent("task_cancelled", {"task_id": command["task_id"],
                                        "reason": command["reason"], "cancelled_on": today})]


def overdue(history: list[RecordedEvent], today: date) -> list[NewEvent]:
    """Decided by the clock: open, past its due date, not yet marked."""
    state = task_state(history)
    if state is None or state["state"] != "assigned":
        return []
    due = date.fromisoformat(str(state["due_on"]))
    if due >= today:
        return []
    return [NewEvent("task_overdue", {"task_id": state["task_id"], "due_on": due,
                                      "noticed_on": today})]


# -- materials --------------------------------------------------------------------

def attach_material(history: list[RecordedEvent], command: dict[str, Any], max_bytes: int,
                    sniffed: str | None) -> list[NewEvent]:
    """A document for the meeting: one that exists and is not cancelled, at most
    `max_bytes` long, whose bytes are the kind declared (`sniffed`: what they are, from
    `materials.sniff`). The same document twice is refused; its bytes are not in the
    event, only their hash."""
    meeting_id = command["meeting_id"]
    state = meeting_state(history)
    if state is None:
        raise NotFound(f"Không có buổi sinh hoạt {meeting_id} (meeting {meeting_id} is not "
                       "scheduled or recorded).", field="meeting_id")
    if state["status"] == "cancelled":
        raise ValidationFailed({"meeting_id": [
            f"Buổi sinh hoạt {meeting_id} đã hủy: không đính kèm tài liệu (the meeting was "
            "cancelled; nothing can be attached to it)."]})
    content: bytes = command["content"]
    if len(content) > max_bytes:
        raise ValidationFailed({"content": [
            f"Tệp quá lớn: {len(content):,} byte, tối đa {max_bytes:,} byte (the file is "
            f"{len(content):,} bytes; at most {max_bytes:,})."]})
    declared = command["media_type"]
    if sniffed is None:
        raise ValidationFailed({"content": [
            f"Nội dung tệp không phải {accepted()} (the bytes are none of the accepted "
            "kinds)."]})
    if sniffed != declared:
        raise ValidationFailed({"media_type": [
            f"Khai báo {TYPE_NAMES[declared]} nhưng nội dung là {TYPE_NAMES[sniffed]} "
            f"(declared {declared}, but the bytes are {sniffed})."]})
    sha256 = hashlib.sha256(content).hexdigest()
    if any(m["sha256"] == sha256 for m in state.get("materials", [])):
        raise DomainRuleViolated(f"Tài liệu này đã đính kèm buổi sinh hoạt {meeting_id} "
                                 f"(this document is attached to the meeting already).",
                                 field="content")
    return [NewEvent("material_attached", {
        "meeting_id": meeting_id, "cell_id": state["cell_id"],
        "file_name": unicodedata.normalize("NFC", command["file_name"]),
        "media_type": declared, "size": len(content), "sha256": sha256})]
