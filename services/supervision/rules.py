"""Escalation rules. Pure: facts as they stood at a period close, the escalations
already raised and the configuration in; decisions out. The same inputs always
give the same decisions, so a replay of the logs gives the same escalations."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.supervision.escalation_rules import Rule
from services.supervision.facts import Facts

_ESCALATION_NAMESPACE = uuid.UUID("3b0b8a1c-7d5e-4a8e-9c61-2f3e4a5b6c7d")
TOP_LEVEL = 3


@dataclass(frozen=True)
class Settings:
    grace_days: int = 5             # a month closes this many days after it ends
    overdue_days: int = 14          # a task this long past due is escalated
    reescalate_after_days: int = 7  # unacknowledged this long: one level up
    removal_months: int = 3         # months with an unexcused absence or unpaid dues …
    removal_window: int = 12        # … within this many months
    start_date: date | None = None  # periods that began before supervision started are not judged
    #: The rules whose escalations move up the tree (the catalogue's defaults unless
    #: configured otherwise: see `climbing_from`).
    climbing: frozenset[str] = field(
        default_factory=lambda: frozenset(r.value for r in Rule if r.climbs))

    def climbs(self, rule: str) -> bool:
        return str(rule) in self.climbing


def climbing_from(configured: Mapping[str, Any] | None) -> frozenset[str]:
    """The climbing rules from `SUPERVISION.rules` (``{rule: {climbs: bool}}``) over the
    catalogue's defaults. Raises ValueError naming a rule or value it does not know."""
    climbing = {r.value for r in Rule if r.climbs}
    for name, options in (configured or {}).items():
        if name not in {r.value for r in Rule}:
            raise ValueError(f"SUPERVISION.rules: no rule {name!r}; the rules are "
                             f"{', '.join(r.value for r in Rule)}")
        value = (options or {}).get("climbs") if isinstance(options, Mapping) else None
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"
        if not isinstance(value, bool):
            raise ValueError(f"SUPERVISION.rules.{name}.climbs: expected true or false, "
                             f"got {value!r}")
        (climbing.add if value else climbing.discard)(name)
    return frozenset(climbing)


def escalation_id(rule: str, subject: str, period: str) -> str:
    """One escalation per (rule, subject, period), however often it is decided."""
    return str(uuid.uuid5(_ESCALATION_NAMESPACE, f"{rule}/{subject}/{period}"))


def month_bounds(month: str) -> tuple[date, date]:
    first = date.fromisoformat(f"{month}-01")
    following = (first.replace(year=first.year + 1, month=1) if first.month == 12
                 else first.replace(month=first.month + 1))
    return first, following - timedelta(days=1)


def quarter_bounds(quarter: str) -> tuple[date, date]:
    year, q = int(quarter[:4]), int(quarter[-1])
    first = date(year, 3 * q - 2, 1)
    last = month_bounds(f"{year}-{3 * q:02d}")[1]
    return first, last


def month_of(day: date) -> str:
    return day.strftime("%Y-%m")


def previous_month(month: str) -> str:
    first = month_bounds(month)[0]
    return month_of(first - timedelta(days=1))


def _target(facts: Facts, cell_id: str, day: date, level: int) -> tuple[str, str] | None:
    """The committee `level` steps above the cell (the top of the tree at most)."""
    path = facts.tree().path(cell_id, day)
    above = path[:-1]
    if not above:
        return None
    chosen = above[-level] if level < len(above) and level < TOP_LEVEL else above[0]
    return chosen.unit_id, chosen.name


def _cells(facts: Facts, first: date, last: date) -> list[Any]:
    """Cells that existed for the whole period (a cell set up mid-period is not judged)."""
    tree = facts.tree()
    out = []
    for version in tree.as_of(last).values():
        if tree.kinds[version.kind].meets and tree.active(version.unit_id, first):
            out.append(version)
    return out


def _raise(rule: Rule, level: int, target: tuple[str, str], subject_id: str,
           subject_name: str, period: str, details: dict[str, Any], evidence: list[str],
           raised_on: date, cell_id: str | None = None) -> dict[str, Any]:
    # Facts, not prose: the reason is read from them in the reader's language.
    return {"escalation_id": escalation_id(rule.value, subject_id, period), "rule": rule.value,
            "cell_id": cell_id or subject_id,
            "level": level, "target_unit_id": target[0], "target_name": target[1],
            "subject_id": subject_id, "subject_name": subject_name, "period": period,
            "details": details, "evidence": sorted(evidence), "raised_on": raised_on}


def month_rules(facts: Facts, month: str, closed_on: date, settings: Settings
                ) -> list[dict[str, Any]]:
    """At a month's close: cells with no regular meeting for it (the ladder), and
    members who reached the removal threshold (a flag for people to decide, never an
    action). A make-up meeting counts for the month it makes up, not the one it was
    held in."""
    out = []
    months = [month]
    for _ in range(TOP_LEVEL - 1):
        months.append(previous_month(months[-1]))
    last = month_bounds(month)[1]
    regular: dict[str, set[str]] = defaultdict(set)
    for row in facts.regular_meetings_for(months[-1], month):
        regular[row.cell_id].add(row.month)
    tree = facts.tree()
    missed = Rule.MISSED_REGULAR_MEETING
    for cell in _cells(facts, *month_bounds(month)):
        if month in regular[cell.unit_id]:
            continue
        streak = 1
        for earlier in months[1:]:
            first, end = month_bounds(earlier)
            if (earlier in regular[cell.unit_id] or not tree.active(cell.unit_id, first)
                    or (settings.start_date and first < settings.start_date)):
                break  # a month before supervision started was never judged
            streak += 1
        # The ladder: a second month in a row goes one level higher, and so on, for
        # a rule that climbs.
        level = streak if settings.climbs(missed) else 1
        target = _target(facts, cell.unit_id, last, level)
        if target is None:
            continue
        out.append(_raise(missed, level, target, cell.unit_id, cell.name, month,
                          {"months_in_a_row": streak}, [], closed_on))

    window_first = month_bounds(months_back(month, settings.removal_window - 1))[0]
    marked: dict[str, dict[str, Any]] = {}
    this_month = (last.year, last.month)
    for row in facts.absences_between(window_first, last,
                                      of_members_absent_from=month_bounds(month)[0]):
        entry = marked.setdefault(row.member_id, {"months": set(), "evidence": set(),
                                                  "name": row.full_name,
                                                  "cell": row.cell_id})
        entry["months"].add((row.held_on.year, row.held_on.month))
        entry["evidence"].add(row.event_id)
        entry["cell"] = row.cell_id
    for member_id, entry in sorted(marked.items()):
        if len(entry["months"]) < settings.removal_months or this_month not in entry["months"]:
            continue
        target = _target(facts, entry["cell"], last, 1)
        if target is None:
            continue
        out.append(_raise(
            Rule.REMOVAL_CANDIDATE, 1, target, member_id, entry["name"], month,
            {"months": len(entry["months"]), "window_months": settings.removal_window},
            sorted(entry["evidence"]), closed_on, cell_id=entry["cell"]))
    return out


def months_back(month: str, count: int) -> str:
    for _ in range(count):
        month = previous_month(month)
    return month


def quarter_rules(facts: Facts, quarter: str, closed_on: date,
                  visited_cells: set[str]) -> list[dict[str, Any]]:
    """At a quarter's close: no thematic meeting; no one visited the cell."""
    first, last = quarter_bounds(quarter)
    thematic = {row.cell_id for row in facts.meetings_between(first, last)
                if row.kind in ("thematic", "combined")}
    out = []
    for cell in _cells(facts, first, last):
        target = _target(facts, cell.unit_id, last, 1)
        if target is None:
            continue
        if cell.unit_id not in thematic:
            out.append(_raise(Rule.NO_THEMATIC_MEETING, 1, target, cell.unit_id, cell.name,
                              quarter, {}, [], closed_on))
        if cell.unit_id not in visited_cells:
            out.append(_raise(Rule.NOT_VISITED, 1, target, cell.unit_id, cell.name, quarter,
                              {}, [], closed_on))
    return out


def day_rules(facts: Facts, day: date, settings: Settings) -> list[dict[str, Any]]:
    """At a day's close: tasks overdue by the configured number of days."""
    out = []
    for task in facts.open_tasks_due_by(day - timedelta(days=settings.overdue_days)):
        target = _target(facts, task.cell_id, day, 1)
        if target is None:
            continue
        out.append(_raise(Rule.TASK_OVERDUE, 1, target, task.task_id, task.title,
                          task.task_id, {"due_on": task.due_on.isoformat(),
                                         "days_overdue": (day - task.due_on).days},
                          [task.event_id], day, cell_id=task.cell_id))
    return out


def reescalations(open_escalations: list[dict[str, Any]], facts: Facts, day: date,
                  settings: Settings) -> list[dict[str, Any]]:
    """Raised, unacknowledged for too long, below the top, of a rule that climbs: one
    level up. A rule that does not climb (a removal-candidate flag) stays with the
    committee it was raised to."""
    out = []
    for esc in open_escalations:
        if (esc["state"] != "raised" or esc["level"] >= TOP_LEVEL
                or not settings.climbs(esc["rule"])):
            continue
        since = date.fromisoformat(str(esc["level_since"]))
        if (day - since).days < settings.reescalate_after_days:
            continue
        cell = esc["cell_id"]
        target = _target(facts, cell, day, esc["level"] + 1) if facts.tree().exists(cell) \
            else None
        if target is None or target[0] == esc["target_unit_id"]:
            continue
        out.append({"escalation_id": esc["escalation_id"], "level": esc["level"] + 1,
                    "target_unit_id": target[0], "target_name": target[1], "on": day,
                    "unacknowledged_days": settings.reescalate_after_days})
    return out
