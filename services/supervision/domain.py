"""Rules of logging a visit. Pure: the meeting as recorded is an input."""

from __future__ import annotations

from typing import Any

from chibo.errors import DomainRuleViolated, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent


def visit_stream(visit_id: str) -> str:
    return f"visit-{visit_id}"


def log_visit(history: list[RecordedEvent], command: dict[str, Any],
              meeting: dict[str, Any] | None) -> list[NewEvent]:
    if history:
        raise DomainRuleViolated(f"Visit {command['visit_id']} is already logged.")
    if meeting is None or meeting.get("status", "held") != "held":
        state = "no record of it" if meeting is None else f"it is {meeting['status']}"
        raise DomainRuleViolated(
            f"Meeting {command['meeting_id']} was not held ({state}), so it cannot have "
            "been visited. Record the meeting first.", field="meeting_id")
    if meeting["cell_id"] != command["cell_id"]:
        raise ValidationFailed({"meeting_id": [
            f"Meeting {command['meeting_id']} belongs to another cell."]})
    if str(command["visited_on"]) != str(meeting["held_on"]):
        raise ValidationFailed({"visited_on": [
            f"The meeting was held on {meeting['held_on']}, not on {command['visited_on']}."]})
    return [NewEvent("visit_logged", {key: command[key] for key in (
        "visit_id", "visitor", "cell_id", "meeting_id", "visited_on", "comments")})]
