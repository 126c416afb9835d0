"""Roster import, server side: what events make the rolls match one row of an
export of the national member database. Pure. A row equal to what the rolls
already say produces nothing, so importing the same file twice changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from chibo.errors import ChiboError, ValidationFailed
from chibo.eventstore.store import NewEvent, StreamAppend
from services.members import domain
from services.shared.membership import Member
from services.shared.roster_rules import reason, row_problems
from services.shared.tree import Tree

REMOVED = {"moved_out": "moved_out", "deceased": "deceased", "struck_off": "struck_off",
           "expelled": "expelled"}
IMPORT_REASON = "Theo danh sách nhập từ cơ sở dữ liệu đảng viên (roster import)"


def plan_row(tree: Tree, current: tuple[int, Member] | None, row: dict[str, Any],
             today: date) -> tuple[str, list[StreamAppend]]:
    """("admitted" | "changed" | "unchanged", appends) for one validated row.

    Raises a ChiboError when the row cannot be applied; the caller reports it
    with the row's line and goes on with the others (see `reason_of`).
    """
    problems = row_problems(row, today)
    if problems:
        raise ValidationFailed(problems)
    member_id = row["member_code"]
    if current is None:
        appends = domain.admit_member(tree, None, {
            "member_id": member_id, "full_name": row["full_name"], "cell_id": row["cell_code"],
            "admitted_on": row["admitted_on"], "member_code": row["member_code"],
            "gender": row.get("gender"), "birth_date": row.get("birth_date")}, today,
            historical=True)
        member = Member(member_id)
        for event in appends[0].events:
            member.apply(event.type, _json_dates(event.data))
        follow = _status_events(tree, member, row, today)
        appends[0].events.extend(follow)
        return "admitted", appends

    version, member = current
    member_id = member.member_id  # admitted by a command, the id may differ from the code
    events: list[NewEvent] = []
    if member.full_name != row["full_name"]:
        events.append(NewEvent("member_renamed", {"member_id": member_id,
                                                  "full_name": row["full_name"],
                                                  "effective_date": today}))
    home = member.current_cell()
    if row["status"] not in REMOVED and home is not None and home != row["cell_code"]:
        events.extend(domain.transfer_member(tree, member, version, {
            "member_id": member_id, "to_cell_id": row["cell_code"], "effective_date": today},
            today)[0].events)
    events.extend(_status_events(tree, member, row, today))
    if not events:
        return "unchanged", []
    return "changed", [StreamAppend(domain.member_stream(member_id), version, events)]


def _status_events(tree: Tree, member: Member, row: dict[str, Any], today: date
                   ) -> list[NewEvent]:
    member_id, status = member.member_id, row["status"]
    events: list[NewEvent] = []
    if member.removed is not None:
        return events  # already off the rolls: the export cannot bring anyone back
    if row.get("full_member_on") and member.full_since is None:
        events.append(NewEvent("member_confirmed", {"member_id": member_id,
                                                    "effective_date": row["full_member_on"]}))
    exempt_now = (member.excuse_on(today) or ("",))[0] == "exempt"
    if status == "exempt" and not exempt_now:
        events.append(NewEvent("member_exempted", {"member_id": member_id,
                                                   "reason": IMPORT_REASON,
                                                   "from_date": today}))
    elif status in ("full", "probationary") and exempt_now:
        events.append(NewEvent("member_returned", {"member_id": member_id,
                                                   "effective_date": today}))
    elif status in REMOVED:
        events.append(NewEvent("member_removed", {"member_id": member_id,
                                                  "kind": REMOVED[status],
                                                  "reason": IMPORT_REASON,
                                                  "effective_date": today}))
    return events


def reason_of(error: ChiboError) -> str:
    """Why a row was not applied, in one line, as the importer reports its own bad rows."""
    if isinstance(error, ValidationFailed):
        return reason({field: problems if isinstance(problems, list) else [str(problems)]
                       for field, problems in error.fields.items()})
    return error.message


def _json_dates(data: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in data.items()}
