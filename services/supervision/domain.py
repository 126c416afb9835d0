"""Rules of supervision's commands: visits, follow-up assignments, people's actions on
escalations. Pure: the meeting as recorded, the tree and the day are inputs."""

from __future__ import annotations

from typing import Any

from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent
from services.shared.tree import Tree


def visit_stream(visit_id: str) -> str:
    return f"visit-{visit_id}"


def follow_stream(assignment_id: str) -> str:
    return f"follow-{assignment_id}"


def escalation_stream(escalation_id: str) -> str:
    return f"escalation-{escalation_id}"


def log_visit(history: list[RecordedEvent], command: dict[str, Any],
              meeting: dict[str, Any] | None, sheet: Any = None) -> list[NewEvent]:
    """A visit to a held meeting, confirming the cell's self-score or changing it."""
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
    self_level = (meeting.get("self_score") or {}).get("level")
    if command.get("changed_scores") is not None:
        if sheet is None:
            raise ValidationFailed({"changed_scores": ["No score sheet applies to that date."]})
        confirmed = sheet.score(command["changed_scores"])["level"]
    elif command.get("confirm_score"):
        if self_level is None:
            raise ValidationFailed({"confirm_score": [
                "The cell recorded no self-score to confirm; give changed_scores."]})
        confirmed = self_level
    else:
        confirmed = None
    return [NewEvent("visit_logged", {
        **{key: command[key] for key in ("visit_id", "visitor", "cell_id", "meeting_id",
                                         "visited_on", "comments")},
        "self_level": self_level, "confirmed_level": confirmed,
        "changed_points": command.get("changed_scores")})]


def not_cells(tree: Tree, unit_ids: list[str]) -> list[str]:
    """The ids that name no unit of the tree, or a unit whose kind does not meet."""
    found = []
    for unit_id in unit_ids:
        latest = tree.latest(unit_id)
        if latest is None or not tree.kinds[latest.kind].meets:
            found.append(unit_id)
    return found


def assign_follower(history: list[RecordedEvent], command: dict[str, Any],
                    unknown_cells: list[str]) -> list[NewEvent]:
    if history:
        raise DomainRuleViolated(f"Assignment {command['assignment_id']} already exists.")
    if unknown_cells:
        raise ValidationFailed({"cell_ids": [f"Not cells: {', '.join(unknown_cells)}."]})
    until = command.get("until_date")
    if until is not None and until < command["from_date"]:
        raise ValidationFailed({"until_date": ["Must not be before from_date."]})
    return [NewEvent("follower_assigned", {k: command.get(k) for k in (
        "assignment_id", "follower", "cell_ids", "from_date", "until_date")})]


def acknowledge(history: list[RecordedEvent], command: dict[str, Any], today: Any
                ) -> list[NewEvent]:
    state = _escalation_state(history, command["escalation_id"])
    if state != "raised":
        raise DomainRuleViolated(f"Escalation {command['escalation_id']} is {state}.")
    return [NewEvent("escalation_acknowledged", {"escalation_id": command["escalation_id"],
                                                 "by": command["by"], "on": today})]


def resolve(history: list[RecordedEvent], command: dict[str, Any], today: Any
            ) -> list[NewEvent]:
    state = _escalation_state(history, command["escalation_id"])
    if state == "resolved":
        raise DomainRuleViolated(f"Escalation {command['escalation_id']} is already resolved.")
    return [NewEvent("escalation_resolved", {"escalation_id": command["escalation_id"],
                                             "how": command["how"], "by": command["by"],
                                             "on": today, "evidence": []})]


def _escalation_state(history: list[RecordedEvent], escalation_id: str) -> str:
    state = None
    for event in history:
        if event.type == "escalation_raised":
            state = "raised"
        elif event.type == "escalation_acknowledged":
            state = "acknowledged"
        elif event.type == "escalation_resolved":
            state = "resolved"
    if state is None:
        raise NotFound(f"Escalation {escalation_id} does not exist.", field="escalation_id")
    return state
