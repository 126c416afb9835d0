"""Escalation rules. Pure: facts as they stood at a period close (a `Snapshot`,
loaded beforehand), the escalations already raised and the configuration in;
decisions out. The same inputs always give the same decisions, so a replay of the
logs gives the same escalations. `needs` says which facts a close decides on, so
the loader reads those and no more.

No database, no framework: every rule has unit tests over hand-made facts."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.shared.escalation_rules import Resolution, Rule
from services.supervision.snapshot import AbsenceCover, Needs, Snapshot, month_of

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


def settings_from(config: Mapping[str, Any]) -> Settings:
    """The rules' settings from the service config's `SUPERVISION` section."""
    raw = dict(config.get("SUPERVISION") or {})
    start = raw.pop("start_date", None)
    climbing = climbing_from(raw.pop("rules", None))
    numbers = {k: int(v) for k, v in raw.items()
               if k in Settings.__annotations__ and k != "climbing"}
    return Settings(**numbers, climbing=climbing,
                    start_date=date.fromisoformat(str(start)) if start else None)


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


def previous_month(month: str) -> str:
    first = month_bounds(month)[0]
    return month_of(first - timedelta(days=1))


def _target(facts: Snapshot, cell_id: str, day: date, level: int) -> tuple[str, str] | None:
    """The committee `level` steps above the cell (the top of the tree at most)."""
    path = facts.tree.path(cell_id, day)
    above = path[:-1]
    if not above:
        return None
    chosen = above[-level] if level < len(above) and level < TOP_LEVEL else above[0]
    return chosen.unit_id, chosen.name


def _cells(facts: Snapshot, first: date, last: date) -> list[Any]:
    """Cells that existed for the whole period (a cell set up mid-period is not judged)."""
    tree = facts.tree
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


def month_rules(facts: Snapshot, month: str, closed_on: date, settings: Settings
                ) -> list[dict[str, Any]]:
    """At a month's close: cells with no regular meeting for it (the ladder), and
    members who reached the removal threshold (a flag for people to decide, never an
    action). A make-up meeting counts for the month it makes up, not the one it was
    held in."""
    out = []
    months = ladder_months(month)
    last = month_bounds(month)[1]
    regular: dict[str, set[str]] = defaultdict(set)
    for row in facts.regular_meetings_for(months[-1], month):
        regular[row.cell_id].add(row.month)
    tree = facts.tree
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

    window = removal_window(month, settings)
    marked: dict[str, dict[str, Any]] = {}
    this_month = (last.year, last.month)
    for absence in facts.absences_between(window.first, window.last,
                                          of_members_absent_from=window.focus):
        entry = marked.setdefault(absence.member_id, {"months": set(), "evidence": set(),
                                                      "name": absence.full_name,
                                                      "cell": absence.cell_id})
        entry["months"].add((absence.held_on.year, absence.held_on.month))
        entry["evidence"].add(absence.event_id)
        entry["cell"] = absence.cell_id  # the member's latest cell
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


def ladder_months(month: str) -> list[str]:
    """The month and those before it that the ladder looks back on, latest first."""
    months = [month]
    for _ in range(TOP_LEVEL - 1):
        months.append(previous_month(months[-1]))
    return months


def removal_window(month: str, settings: Settings) -> AbsenceCover:
    """The absences the removal rule reads at the month's close: those within the
    window ending with the month, of members absent in the month."""
    first, last = month_bounds(month)
    return AbsenceCover(month_bounds(months_back(month, settings.removal_window - 1))[0],
                        last, first)


def quarter_rules(facts: Snapshot, quarter: str, closed_on: date) -> list[dict[str, Any]]:
    """At a quarter's close: no thematic meeting; no one visited the cell."""
    first, last = quarter_bounds(quarter)
    thematic = {row.cell_id for row in facts.meetings_between(first, last)
                if row.kind in ("thematic", "combined")}
    visited_cells = facts.visited_cells(quarter)
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


def day_rules(facts: Snapshot, day: date, settings: Settings) -> list[dict[str, Any]]:
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


def reescalations(open_escalations: list[dict[str, Any]], facts: Snapshot, day: date,
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
        target = _target(facts, cell, day, esc["level"] + 1) if facts.tree.exists(cell) \
            else None
        if target is None or target[0] == esc["target_unit_id"]:
            continue
        out.append({"escalation_id": esc["escalation_id"], "level": esc["level"] + 1,
                    "target_unit_id": target[0], "target_name": target[1], "on": day,
                    "unacknowledged_days": settings.reescalate_after_days})
    return out


def quarter_months(quarter: str) -> list[str]:
    first, last = quarter_bounds(quarter)
    return [month_of(first.replace(month=first.month + n)) for n in range(3)]


def needs(periods: list[tuple[str, str]], open_escalations: list[dict[str, Any]],
          settings: Settings) -> Needs:
    """The facts a close decides on: for the months and quarters closing (`periods`,
    as (kind, period)) what their rules read, and for each open escalation what
    could have put it right."""
    months: set[str] = set()
    quarters: set[str] = set()
    absences = None
    for kind, period in periods:
        if kind == "month":
            months.update(ladder_months(period))
            absences = removal_window(period, settings)
        elif kind == "quarter":
            months.update(quarter_months(period))
            quarters.add(period)
    for esc in open_escalations:
        if esc["rule"] == Rule.MISSED_REGULAR_MEETING:
            months.add(esc["period"])
        elif esc["rule"] == Rule.NO_THEMATIC_MEETING:
            months.update(quarter_months(esc["period"]))
        elif esc["rule"] == Rule.NOT_VISITED:
            quarters.add(esc["period"])
    return Needs(frozenset(months), frozenset(quarters), absences)


class _Cleared:
    """What has put escalations right, worked out once per period rather than once
    per escalation: a close may review thousands."""

    def __init__(self, facts: Snapshot) -> None:
        self.facts = facts
        self._meetings: dict[tuple[date, date], dict[tuple[str, str], str]] = {}
        self._regular: dict[str, dict[str, tuple[Resolution, str]]] = {}
        self._visited: dict[str, set[str]] = {}

    def _meeting(self, bounds: tuple[date, date], cell: str, kinds: tuple[str, ...]
                 ) -> str | None:
        if bounds not in self._meetings:
            found: dict[tuple[str, str], str] = {}
            for m in self.facts.meetings_between(*bounds):
                found.setdefault((m.cell_id, m.kind), m.event_id)
            self._meetings[bounds] = found
        return next((self._meetings[bounds][(cell, k)] for k in kinds
                     if (cell, k) in self._meetings[bounds]), None)

    def _regular_meeting(self, month: str, cell: str) -> tuple[Resolution, str] | None:
        """The meeting that now counts for the cell's month, and how: one dated in the
        month (recorded late) before a make-up meeting of it."""
        if month not in self._regular:
            found: dict[str, tuple[Resolution, str]] = {}
            for m in self.facts.regular_meetings_for(month, month):
                how = Resolution.MADE_UP if m.made_up else Resolution.MEETING_RECORDED_LATE
                current = found.get(m.cell_id)
                if current is None or (current[0] is Resolution.MADE_UP
                                       and how is not Resolution.MADE_UP):
                    found[m.cell_id] = (how, m.event_id)
            self._regular[month] = found
        return self._regular[month].get(cell)

    def __call__(self, esc: dict[str, Any]) -> tuple[str, list[str]] | None:
        """Whether what an escalation is about has since been put right, and by what."""
        rule, period, cell = esc["rule"], esc["period"], esc["cell_id"]
        if rule == Rule.MISSED_REGULAR_MEETING:
            held = self._regular_meeting(period, cell)
            return (held[0].value, [held[1]]) if held else None
        if rule == Rule.NO_THEMATIC_MEETING:
            late = self._meeting(quarter_bounds(period), cell, ("thematic", "combined"))
            return (Resolution.THEMATIC_MEETING_RECORDED.value, [late]) if late else None
        if rule == Rule.NOT_VISITED:
            if period not in self._visited:
                self._visited[period] = self.facts.visited_cells(period)
            return (Resolution.VISIT_RECORDED.value, []) if cell in self._visited[period] \
                else None
        if rule == Rule.TASK_OVERDUE:
            return (Resolution.TASK_CLOSED.value, []) \
                if not self.facts.is_open(esc["subject_id"]) else None
        return None


def resolutions(open_escalations: list[dict[str, Any]], facts: Snapshot, day: date
                ) -> list[dict[str, Any]]:
    """Open escalations whose cause has since been put right: each resolved by the
    system (`by` None), with how and the evidence."""
    cleared = _Cleared(facts)
    out = []
    for esc in open_escalations:
        found = cleared(esc)
        if found is not None:
            out.append({"escalation_id": esc["escalation_id"], "how": found[0], "by": None,
                        "on": day, "evidence": found[1]})
    return out
