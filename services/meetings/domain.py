"""Rules of recording a meeting. Pure: the roster and today's date are inputs."""

from __future__ import annotations

from datetime import date
from typing import Any

from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent


def meeting_stream(meeting_id: str) -> str:
    return f"meeting-{meeting_id}"


def meeting_state(history: list[RecordedEvent]) -> dict[str, Any] | None:
    state = None
    for event in history:
        if event.type == "meeting_held":
            state = dict(event.data)
    return state


def record_held(history: list[RecordedEvent], command: dict[str, Any],
                cell: dict[str, Any] | None, roll: dict[str, list[dict[str, Any]]],
                today: date) -> list[NewEvent]:
    """Record a meeting held. Everyone who must attend is listed; members excused on
    that day (exempt, working away, temporarily transferred out) are shown but not
    counted; anyone outside the cell is refused."""
    if history:
        raise DomainRuleViolated(f"Meeting {command['meeting_id']} is already recorded; "
                                 "send a correction instead.", meeting_id=command["meeting_id"])
    if cell is None:
        raise NotFound(f"Cell {command['cell_id']} is not known to meetings. If it was "
                       "established a moment ago, retry shortly.", field="cell_id")
    if not cell["meets"]:
        raise ValidationFailed({"cell_id": [f"{cell['name']} is a {cell['kind']}, not a cell: "
                                            "only cells hold meetings."]})
    if not cell["active"]:
        raise ValidationFailed({"held_on": [
            f"{cell['name']} did not exist on {command['held_on']:%d/%m/%Y}."]})
    if command["held_on"] > today:
        raise ValidationFailed({"held_on": ["A meeting dated in the future cannot be held."]})

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
    if problems:
        raise ValidationFailed(problems)

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
    return [NewEvent("meeting_held", {
        "meeting_id": command["meeting_id"], "cell_id": command["cell_id"],
        "kind": command["kind"], "held_on": command["held_on"], "attendance": attendance,
        "members_counted": len(counted),
        "members_present": sum(1 for a in counted if a["status"] == "present")})]
