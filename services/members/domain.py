"""Rules of the organisation tree, membership and cell roles. Pure: the tree,
the members' histories and today's date are inputs; events are the output."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, StreamAppend
from services.shared.membership import Member, Period, add_months
from services.shared.tree import Tree, UnitVersion

MIN_TEMPORARY_MONTHS, MAX_TEMPORARY_MONTHS = 3, 24
COMMITTEE_THRESHOLD = 9  # full members from which a cell elects a committee (chi ủy)


def unit_stream(unit_id: str) -> str:
    return f"unit-{unit_id}"


def member_stream(member_id: str) -> str:
    return f"member-{member_id}"


def roles_stream(cell_id: str) -> str:
    return f"roles-{cell_id}"


def _fmt(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _one(stream: str, version: int, *events: NewEvent) -> list[StreamAppend]:
    return [StreamAppend(stream, version, list(events))]


# -- the tree ---------------------------------------------------------------------

def _require_active(tree: Tree, unit_id: str, day: date, field: str) -> UnitVersion:
    if not tree.exists(unit_id):
        raise NotFound(f"Unit {unit_id} does not exist.", field=field)
    version = tree.active(unit_id, day)
    if version is None:
        raise DomainRuleViolated(f"Unit {unit_id} did not exist on {_fmt(day)} "
                                 "(not yet established, or dissolved).", field=field)
    return version


def _require_meets(tree: Tree, unit_id: str, day: date, field: str) -> UnitVersion:
    version = _require_active(tree, unit_id, day, field)
    if not tree.kinds[version.kind].meets:
        raise ValidationFailed({field: [f"{version.name} is a {version.kind}, not a cell."]})
    return version


def _require_not_backdated(tree: Tree, unit_id: str, day: date) -> None:
    last = tree.last_change(unit_id)
    if day < last:
        raise DomainRuleViolated(
            f"Unit {unit_id} last changed on {_fmt(last)}; a change cannot be dated before it.",
            field="effective_date")


def _check_parent(tree: Tree, kind: str, parent_id: str | None, day: date) -> None:
    allowed = tree.kinds[kind].under
    if not allowed:
        if parent_id:
            raise ValidationFailed({"parent_id": [f"A {kind} is the top of the tree: "
                                                  "it has no parent unit."]})
        return
    if not parent_id:
        raise ValidationFailed({"parent_id": [f"A {kind} needs a parent unit."]})
    parent = _require_active(tree, parent_id, day, "parent_id")
    if parent.kind not in allowed:
        raise ValidationFailed({"parent_id": [
            f"A {kind} cannot sit under a {parent.kind} ({parent.name}); "
            f"allowed: {', '.join(allowed)}."]})


def establish_unit(tree: Tree, command: dict[str, Any]) -> list[StreamAppend]:
    if tree.exists(command["unit_id"]):
        raise DomainRuleViolated(f"Unit {command['unit_id']} already exists.",
                                 unit_id=command["unit_id"])
    if command["kind"] not in tree.kinds:
        raise ValidationFailed({"kind": [f"Unknown kind; configured: {', '.join(tree.kinds)}."]})
    _check_parent(tree, command["kind"], command.get("parent_id"), command["effective_date"])
    return _one(unit_stream(command["unit_id"]), 0, NewEvent("unit_established", {
        "unit_id": command["unit_id"], "name": command["name"], "kind": command["kind"],
        "parent_id": command.get("parent_id"), "effective_date": command["effective_date"]}))


def rename_unit(tree: Tree, version: int, command: dict[str, Any]) -> list[StreamAppend]:
    day = command["effective_date"]
    current = _require_active(tree, command["unit_id"], day, "unit_id")
    _require_not_backdated(tree, command["unit_id"], day)
    if current.name == command["name"]:
        raise DomainRuleViolated(f"Unit {command['unit_id']} is already named so.")
    return _one(unit_stream(command["unit_id"]), version, NewEvent("unit_renamed", {
        "unit_id": command["unit_id"], "name": command["name"], "effective_date": day}))


def move_unit(tree: Tree, version: int, command: dict[str, Any]) -> list[StreamAppend]:
    """Move a unit with its whole subtree under a new parent."""
    day, unit_id, parent_id = command["effective_date"], command["unit_id"], command["parent_id"]
    current = _require_active(tree, unit_id, day, "unit_id")
    _require_not_backdated(tree, unit_id, day)
    if current.parent_id == parent_id:
        raise DomainRuleViolated(f"Unit {unit_id} is already under {parent_id}.")
    # Under the new parent from `day` on: a cycle if, on that day or on any later day
    # the tree changes, the new parent sits below the unit.
    for when in [day, *tree.change_dates(day)]:
        if unit_id in {v.unit_id for v in tree.path(parent_id, when)}:
            raise ValidationFailed({"parent_id": [
                "A unit cannot move under itself or under a unit of its own subtree "
                f"(it would be, on {_fmt(when)})."]})
    _check_parent(tree, current.kind, parent_id, day)
    return _one(unit_stream(unit_id), version, NewEvent("unit_moved", {
        "unit_id": unit_id, "from_parent_id": current.parent_id, "parent_id": parent_id,
        "effective_date": day}))


def dissolve_unit(tree: Tree, version: int, command: dict[str, Any],
                  members: list[Member]) -> list[StreamAppend]:
    day, unit_id = command["effective_date"], command["unit_id"]
    _require_active(tree, unit_id, day, "unit_id")
    _require_not_backdated(tree, unit_id, day)
    if tree.children(unit_id, day):
        raise DomainRuleViolated(f"Unit {unit_id} still has units under it on {_fmt(day)}: "
                                 "move, merge or dissolve them first.")
    _refuse_temporary_guests({m.member_id: (0, m) for m in members}, unit_id, day)
    still = [m.member_id for m in members if m.cell_on(day) == unit_id]
    if still:
        raise DomainRuleViolated(f"Cell {unit_id} still has {len(still)} member(s) on "
                                 f"{_fmt(day)}: transfer them, or merge the cell instead.")
    return _one(unit_stream(unit_id), version, NewEvent("unit_dissolved", {
        "unit_id": unit_id, "reason": command["reason"], "successor_id": None,
        "effective_date": day}))


def merge_units(tree: Tree, versions: dict[str, int], command: dict[str, Any],
                members: dict[str, tuple[int, Member]]) -> list[StreamAppend]:
    """Merge units into a successor: their members and their units pass to it.

    `versions` holds each unit's (and each child's) stream version; `members`
    holds every member of a merged cell with their stream version.
    """
    day, successor_id = command["effective_date"], command["successor_id"]
    merged = list(dict.fromkeys(command["merged_ids"]))
    successor = _require_active(tree, successor_id, day, "successor_id")
    if successor_id in merged:
        raise ValidationFailed({"merged_ids": ["The successor cannot be merged into itself."]})
    appends: list[StreamAppend] = []
    for unit_id in merged:
        unit = _require_active(tree, unit_id, day, "merged_ids")
        _require_not_backdated(tree, unit_id, day)
        if unit.kind != successor.kind:
            raise ValidationFailed({"merged_ids": [
                f"{unit.name} is a {unit.kind}; it can only merge into a unit of the same "
                f"kind ({successor.name} is a {successor.kind})."]})
        if successor_id in {v.unit_id for v in tree.subtree(unit_id, day)}:
            raise ValidationFailed({"successor_id": [
                f"{successor.name} lies inside {unit.name}: a unit cannot merge into "
                "its own subtree."]})
        _refuse_temporary_guests(members, unit_id, day)
        for child in tree.children(unit_id, day):
            _require_not_backdated(tree, child.unit_id, day)
            appends.append(StreamAppend(unit_stream(child.unit_id), versions[child.unit_id], [
                NewEvent("unit_moved", {"unit_id": child.unit_id, "from_parent_id": unit_id,
                                        "parent_id": successor_id, "effective_date": day})]))
        appends.append(StreamAppend(unit_stream(unit_id), versions[unit_id], [
            NewEvent("unit_dissolved", {"unit_id": unit_id, "successor_id": successor_id,
                                        "reason": f"merged into {successor.name}",
                                        "effective_date": day})]))
    for member_id, (version, member) in sorted(members.items()):
        from_cell = member.cell_on(day)
        if from_cell in merged:
            _require_transfer_not_backdated(member, day)
            appends.append(StreamAppend(member_stream(member_id), version, [
                NewEvent("member_transferred", {
                    "member_id": member_id, "from_cell_id": from_cell,
                    "to_cell_id": successor_id, "cause": "merge", "effective_date": day})]))
    appends.append(StreamAppend(unit_stream(successor_id), versions[successor_id], [
        NewEvent("units_merged", {"successor_id": successor_id, "merged_ids": merged,
                                  "effective_date": day})]))
    return appends


def split_unit(tree: Tree, versions: dict[str, int], command: dict[str, Any],
               members: dict[str, tuple[int, Member]]) -> list[StreamAppend]:
    """Split a unit into new ones under the same parent; every member and every unit
    under it is assigned to one of them. The original is dissolved."""
    day, unit_id = command["effective_date"], command["unit_id"]
    source = _require_active(tree, unit_id, day, "unit_id")
    _require_not_backdated(tree, unit_id, day)
    new_ids = [spec["unit_id"] for spec in command["into"]]
    problems: dict[str, list[str]] = {}
    if len(new_ids) < 2 or len(set(new_ids)) != len(new_ids):
        problems["into"] = ["A split needs at least two new units with distinct ids."]
    taken = [u for u in new_ids if tree.exists(u)]
    if taken:
        problems["into"] = [f"Unit id(s) already used: {', '.join(taken)}."]
    assignment = command["assignments"]
    wrong = sorted({target for target in assignment.values() if target not in new_ids})
    if wrong:
        problems.setdefault("assignments", []).append(
            f"Not among the new units: {', '.join(wrong)}.")
    in_cell = {m_id for m_id, (_, m) in members.items() if m.cell_on(day) == unit_id}
    children = {c.unit_id for c in tree.children(unit_id, day)}
    unassigned = sorted((in_cell | children) - set(assignment))
    if unassigned:
        problems.setdefault("assignments", []).append(
            f"Every member and unit of {source.name} must be assigned; "
            f"missing: {', '.join(unassigned)}.")
    strangers = sorted(set(assignment) - in_cell - children)
    if strangers:
        problems.setdefault("assignments", []).append(
            f"Not in {source.name} on {_fmt(day)}: {', '.join(strangers)}.")
    if problems:
        raise ValidationFailed(problems)
    _refuse_temporary_guests(members, unit_id, day)
    for child_id in children:
        _require_not_backdated(tree, child_id, day)
    for member_id in in_cell:
        _require_transfer_not_backdated(members[member_id][1], day)

    appends = [StreamAppend(unit_stream(spec["unit_id"]), 0, [NewEvent("unit_established", {
        "unit_id": spec["unit_id"], "name": spec["name"], "kind": source.kind,
        "parent_id": source.parent_id, "effective_date": day})]) for spec in command["into"]]
    for child_id in sorted(children):
        appends.append(StreamAppend(unit_stream(child_id), versions[child_id], [
            NewEvent("unit_moved", {"unit_id": child_id, "from_parent_id": unit_id,
                                    "parent_id": assignment[child_id], "effective_date": day})]))
    for member_id in sorted(in_cell):
        version, _ = members[member_id]
        appends.append(StreamAppend(member_stream(member_id), version, [
            NewEvent("member_transferred", {
                "member_id": member_id, "from_cell_id": unit_id,
                "to_cell_id": assignment[member_id], "cause": "split", "effective_date": day})]))
    appends.append(StreamAppend(unit_stream(unit_id), versions[unit_id], [
        NewEvent("unit_split", {"unit_id": unit_id, "into_ids": new_ids, "effective_date": day}),
        NewEvent("unit_dissolved", {"unit_id": unit_id, "successor_id": None,
                                    "reason": "split", "effective_date": day})]))
    return appends


def _refuse_temporary_guests(members: dict[str, tuple[int, Member]], unit_id: str,
                             day: date) -> None:
    guests = sorted(m_id for m_id, (_, m) in members.items()
                    if m.on_rolls(day) and m.temporarily_in(day) == unit_id)
    if guests:
        raise DomainRuleViolated(
            f"{len(guests)} member(s) attend {unit_id} on a temporary transfer "
            f"({', '.join(guests)}): end or redirect those transfers first.")


def _require_transfer_not_backdated(member: Member, day: date) -> None:
    if member.cells and day < member.cells[-1][0]:
        raise DomainRuleViolated(
            f"Member {member.member_id} last changed cell on {_fmt(member.cells[-1][0])}; "
            "a transfer cannot be dated before it.", field="effective_date")


# -- members ----------------------------------------------------------------------

def _require_on_rolls(member: Member | None, member_id: str, day: date) -> Member:
    if member is None or not member.admitted:
        raise NotFound(f"Member {member_id} is not on the rolls.", field="member_id")
    if not member.on_rolls(day):
        raise DomainRuleViolated(f"Member {member_id} was not on the rolls on {_fmt(day)}.",
                                 field="member_id")
    return member


def _not_future(day: date, today: date, field: str) -> None:
    if day > today:
        raise ValidationFailed({field: ["Cannot be in the future."]})


def admit_member(tree: Tree, member: Member | None, command: dict[str, Any],
                 today: date, historical: bool = False) -> list[StreamAppend]:
    """Admit into a cell. A `historical` admission (from a roster import) may predate the
    cell's record here: the person was admitted elsewhere; the cell must exist today."""
    if member is not None and member.admitted:
        raise DomainRuleViolated(f"Member {command['member_id']} is already on the rolls.",
                                 member_id=command["member_id"])
    _not_future(command["admitted_on"], today, "admitted_on")
    if not tree.exists(command["cell_id"]):
        raise NotFound(f"Cell {command['cell_id']} does not exist.", field="cell_id")
    in_cell_from = today if historical else command["admitted_on"]
    if tree.active(command["cell_id"], in_cell_from) is None:
        raise ValidationFailed({"admitted_on": [
            f"Cell {command['cell_id']} did not exist on {_fmt(in_cell_from)}."]})
    _require_meets(tree, command["cell_id"], in_cell_from, "cell_id")
    events = [NewEvent("member_admitted", {
        "member_id": command["member_id"], "full_name": command["full_name"],
        "cell_id": command["cell_id"], "admitted_on": command["admitted_on"],
        "member_code": command.get("member_code"), "gender": command.get("gender")})]
    if command.get("birth_date") or command.get("identity_number"):
        events.append(NewEvent("member_personal_data_recorded", {
            "member_id": command["member_id"], "birth_date": command.get("birth_date"),
            "identity_number": command.get("identity_number")}))
    return _one(member_stream(command["member_id"]), 0, *events)


def confirm_member(member: Member | None, version: int, command: dict[str, Any],
                   today: date) -> list[StreamAppend]:
    day = command["effective_date"]
    member = _require_on_rolls(member, command["member_id"], day)
    _not_future(day, today, "effective_date")
    if member.full_since is not None:
        raise DomainRuleViolated(f"Member {member.member_id} has been a full member since "
                                 f"{_fmt(member.full_since)}.")
    due = member.confirmation_due_on()
    if due is not None and day < due:
        raise ValidationFailed({"effective_date": [
            f"Probation lasts 12 months: full membership from {_fmt(due)} at the earliest."]})
    return _one(member_stream(member.member_id), version, NewEvent("member_confirmed", {
        "member_id": member.member_id, "effective_date": day}))


def confirmation_reminders(members: dict[str, tuple[int, Member]], today: date
                           ) -> list[StreamAppend]:
    """A reminder for each probationary member whose 12 months are up."""
    out = []
    for member_id, (version, member) in sorted(members.items()):
        due = member.confirmation_due_on()
        if (due is not None and due <= today and member.full_since is None
                and not member.reminded and member.cell_on(today) is not None):
            out.append(StreamAppend(member_stream(member_id), version, [NewEvent(
                "membership_confirmation_due", {"member_id": member_id, "due_on": due,
                                                "cell_id": member.cell_on(today)})]))
    return out


def transfer_member(tree: Tree, member: Member | None, version: int, command: dict[str, Any],
                    today: date) -> list[StreamAppend]:
    day = command["effective_date"]
    member = _require_on_rolls(member, command["member_id"], day)
    _not_future(day, today, "effective_date")
    home = member.cell_on(day)
    if home is None:
        raise DomainRuleViolated(f"Member {member.member_id} has no cell here on {_fmt(day)}.")
    _require_transfer_not_backdated(member, day)
    to_cell, to_org = command.get("to_cell_id"), command.get("to_organisation")
    if bool(to_cell) == bool(to_org):
        raise ValidationFailed({"to_cell_id": [
            "Give either a cell of this province or, for a move out of it, to_organisation."]})
    if to_cell:
        if to_cell == home:
            raise ValidationFailed({"to_cell_id": ["The member is already in that cell."]})
        _require_meets(tree, to_cell, day, "to_cell_id")
    return _one(member_stream(member.member_id), version, NewEvent("member_transferred", {
        "member_id": member.member_id, "from_cell_id": home, "to_cell_id": to_cell,
        "to_organisation": to_org, "cause": "transfer", "effective_date": day}))


def transfer_temporarily(tree: Tree, member: Member | None, version: int,
                         command: dict[str, Any]) -> list[StreamAppend]:
    start, until = command["from_date"], command["until_date"]
    member = _require_on_rolls(member, command["member_id"], start)
    home = member.cell_on(start)
    shortest = add_months(start, MIN_TEMPORARY_MONTHS) - timedelta(days=1)
    longest = add_months(start, MAX_TEMPORARY_MONTHS) - timedelta(days=1)
    if not shortest <= until <= longest:
        raise ValidationFailed({"until_date": [
            "A temporary transfer lasts from 3 months to 2 years: end it between "
            f"{_fmt(shortest)} and {_fmt(longest)}."]})
    to_cell, to_org = command.get("to_cell_id"), command.get("to_organisation")
    if bool(to_cell) == bool(to_org):
        raise ValidationFailed({"to_cell_id": [
            "Give either a cell of this province or, outside it, to_organisation."]})
    if to_cell:
        if to_cell == home:
            raise ValidationFailed({"to_cell_id": ["That is the member's own cell."]})
        _require_meets(tree, to_cell, start, "to_cell_id")
    if any(_overlaps(p, start, until) for p in member.temporary):
        raise DomainRuleViolated("The member is already temporarily transferred then.")
    return _one(member_stream(member.member_id), version, NewEvent(
        "member_temporarily_transferred", {
            "member_id": member.member_id, "from_cell_id": home, "to_cell_id": to_cell,
            "to_organisation": to_org, "from_date": start, "until_date": until}))


def _overlaps(period: Any, start: date, until: date | None) -> bool:
    """Whether [start, until] (until None: open) meets the period."""
    return ((until is None or period.start <= until)
            and (period.until is None or start <= period.until))


def exempt_member(member: Member | None, version: int, command: dict[str, Any]
                  ) -> list[StreamAppend]:
    day = command["from_date"]
    member = _require_on_rolls(member, command["member_id"], day)
    if any(p.covers(day) for p in member.exemptions):
        raise DomainRuleViolated(f"Member {member.member_id} is already exempt then.")
    return _one(member_stream(member.member_id), version, NewEvent("member_exempted", {
        "member_id": member.member_id, "reason": command["reason"], "from_date": day}))


def mark_working_away(member: Member | None, version: int, command: dict[str, Any]
                      ) -> list[StreamAppend]:
    start, until = command["from_date"], command.get("until_date")
    member = _require_on_rolls(member, command["member_id"], start)
    if until is not None and until < start:
        raise ValidationFailed({"until_date": ["Must not be before from_date."]})
    if any(_overlaps(p, start, until) for p in member.away):
        raise DomainRuleViolated(f"Member {member.member_id} is already away then.")
    return _one(member_stream(member.member_id), version, NewEvent("member_working_away", {
        "member_id": member.member_id, "reason": command["reason"], "from_date": start,
        "until_date": until}))


def record_return(member: Member | None, version: int, command: dict[str, Any]
                  ) -> list[StreamAppend]:
    day = command["effective_date"]
    member = _require_on_rolls(member, command["member_id"], day)
    if member.excuse_on(day) is None:
        raise DomainRuleViolated(f"Member {member.member_id} is not exempt, away or "
                                 f"temporarily transferred on {_fmt(day)}.")
    return _one(member_stream(member.member_id), version, NewEvent("member_returned", {
        "member_id": member.member_id, "effective_date": day}))


def remove_member(member: Member | None, version: int, command: dict[str, Any],
                  today: date) -> list[StreamAppend]:
    day = command["effective_date"]
    member = _require_on_rolls(member, command["member_id"], day)
    _not_future(day, today, "effective_date")
    return _one(member_stream(member.member_id), version, NewEvent("member_removed", {
        "member_id": member.member_id, "kind": command["kind"], "reason": command["reason"],
        "effective_date": day}))


def rate_member(member: Member | None, version: int, command: dict[str, Any],
                today: date) -> list[StreamAppend]:
    year = command["year"]
    if year > today.year:
        raise ValidationFailed({"year": ["Cannot rate a year that has not come."]})
    day = min(date(year, 12, 31), today)
    member = _require_on_rolls(member, command["member_id"], day)
    if year in member.ratings:
        raise DomainRuleViolated(f"Member {member.member_id} is already rated for {year}.")
    excuse = member.excuse_on(day)
    if excuse and excuse[0] == "exempt":
        raise DomainRuleViolated("Exempt members are not rated.")
    return _one(member_stream(member.member_id), version, NewEvent("member_rated", {
        "member_id": member.member_id, "year": year, "level": command["level"]}))


# -- cell roles -------------------------------------------------------------------

def _terms(history: list[Any]) -> list[dict[str, Any]]:
    """Every role ever assigned with its period (start, last day held or None)."""
    out = []
    for role in _fold_roles(history).values():
        start = date.fromisoformat(str(role["term_from"]))
        ends = [date.fromisoformat(str(v)) for v in (role.get("term_until"),
                                                     role.get("ended_on")) if v]
        out.append({**role, "period": Period(start, min(ends) if ends else None, "")})
    return out


def _fold_roles(history: list[Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    held: dict[tuple[str, str, str], dict[str, Any]] = {}
    for event in history:
        data = event.data
        if event.type == "cell_role_assigned":
            held[(data["member_id"], data["role"], str(data["term_from"]))] = dict(data)
        elif event.type == "cell_role_ended":
            for key, role in held.items():
                if key[:2] == (data["member_id"], data["role"]) and "ended_on" not in role:
                    role["ended_on"] = data["effective_date"]
    return held


def active_roles(history: list[Any], day: date) -> list[dict[str, Any]]:
    """Roles held on `day`, folded from a cell's roles stream."""
    return [{k: v for k, v in term.items() if k != "period"}
            for term in _terms(history) if term["period"].covers(day)]


def assign_role(tree: Tree, member: Member | None, roles_history: list[Any], version: int,
                command: dict[str, Any]) -> list[StreamAppend]:
    start, cell_id, role = command["term_from"], command["cell_id"], command["role"]
    _require_meets(tree, cell_id, start, "cell_id")
    member = _require_on_rolls(member, command["member_id"], start)
    if member.cell_on(start) != cell_id:
        raise ValidationFailed({"member_id": ["Not a member of this cell on that date."]})
    if not member.is_full(start):
        raise ValidationFailed({"member_id": ["Cell leaders are full members."]})
    until = command.get("term_until")
    if until is not None and until <= start:
        raise ValidationFailed({"term_until": ["The term must end after it starts."]})
    current = active_roles(roles_history, start)
    if any(r["member_id"] == member.member_id and r["role"] == role for r in current):
        raise DomainRuleViolated("The member already holds this role.")
    if role in ("secretary", "deputy_secretary"):
        holder = next((r for r in _terms(roles_history) if r["role"] == role
                       and _overlaps(r["period"], start, until)), None)
        if holder is not None:
            raise DomainRuleViolated(f"{holder['member_id']} holds the {role} role during "
                                     "that term: end that term first.")
    return _one(roles_stream(cell_id), version, NewEvent("cell_role_assigned", {
        "cell_id": cell_id, "member_id": member.member_id, "role": role,
        "term_from": start, "term_until": until}))


def end_role(roles_history: list[Any], version: int, command: dict[str, Any]
             ) -> list[StreamAppend]:
    current = active_roles(roles_history, command["effective_date"])
    if not any(r["member_id"] == command["member_id"] and r["role"] == command["role"]
               for r in current):
        raise DomainRuleViolated("The member does not hold that role on that date.")
    return _one(roles_stream(command["cell_id"]), version, NewEvent("cell_role_ended", {
        "cell_id": command["cell_id"], "member_id": command["member_id"],
        "role": command["role"], "effective_date": command["effective_date"]}))


def committee_flag(members: list[Member], roles_history: list[Any], cell_id: str,
                   day: date) -> dict[str, Any]:
    """A cell with 9 or more full members should have a cell committee (chi ủy)."""
    full = [m for m in members if m.cell_on(day) == cell_id and m.is_full(day)]
    committee = [r for r in active_roles(roles_history, day) if r["role"] == "committee_member"]
    return {"cell_id": cell_id, "on": day.isoformat(), "full_members": len(full),
            "committee_members": len(committee),
            "needs_committee": len(full) >= COMMITTEE_THRESHOLD and not committee}
