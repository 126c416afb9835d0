"""Rules of the organisation tree and of membership. Pure: no I/O, no clock."""

from __future__ import annotations

from datetime import date
from typing import Any

from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent

#: Node kinds, top to bottom. Only a cell holds members and meets.
UNIT_KINDS = ("province", "committee", "grassroots", "cell")


def unit_stream(unit_id: str) -> str:
    return f"unit-{unit_id}"


def member_stream(member_id: str) -> str:
    return f"member-{member_id}"


def unit_state(history: list[RecordedEvent]) -> dict[str, Any] | None:
    state: dict[str, Any] | None = None
    for event in history:
        if event.type == "unit_established":
            state = dict(event.data)
    return state


def establish_unit(history: list[RecordedEvent], command: dict[str, Any],
                   parent: dict[str, Any] | None) -> list[NewEvent]:
    if history:
        raise DomainRuleViolated(f"Unit {command['unit_id']} already exists.",
                                 unit_id=command["unit_id"])
    if command["kind"] == "province":
        if command.get("parent_id"):
            raise ValidationFailed({"parent_id": ["A province has no parent unit."]})
    elif not command.get("parent_id"):
        raise ValidationFailed({"parent_id": [f"A {command['kind']} needs a parent unit."]})
    elif parent is None:
        raise NotFound(f"Parent unit {command['parent_id']} does not exist: establish it first.",
                       field="parent_id")
    elif parent["kind"] == "cell":
        raise ValidationFailed({"parent_id": ["A cell cannot have units under it."]})
    return [NewEvent("unit_established", {
        "unit_id": command["unit_id"], "name": command["name"], "kind": command["kind"],
        "parent_id": command.get("parent_id"), "effective_date": command["effective_date"]})]


def admit_member(history: list[RecordedEvent], command: dict[str, Any],
                 cell: dict[str, Any] | None, today: date) -> list[NewEvent]:
    if history:
        raise DomainRuleViolated(f"Member {command['member_id']} is already on the rolls.",
                                 member_id=command["member_id"])
    if cell is None:
        raise NotFound(f"Cell {command['cell_id']} does not exist.", field="cell_id")
    if cell["kind"] != "cell":
        raise ValidationFailed({"cell_id": [f"{cell['name']} is a {cell['kind']}, not a cell: "
                                            "members are admitted to cells."]})
    if command["admitted_on"] > today:
        raise ValidationFailed({"admitted_on": ["Admission date cannot be in the future."]})
    if command["admitted_on"] < date.fromisoformat(str(cell["effective_date"])):
        raise ValidationFailed({"admitted_on": ["The cell did not exist yet on that date."]})
    return [NewEvent("member_admitted", {
        "member_id": command["member_id"], "full_name": command["full_name"],
        "cell_id": command["cell_id"], "admitted_on": command["admitted_on"]})]
