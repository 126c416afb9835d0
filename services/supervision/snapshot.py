"""What the escalation rules decide from: plain facts, loaded before a close.

A `Snapshot` holds values only — the organisation tree and the meetings, absences,
open tasks and visits as they stood at a close's watermarks — and answers the rules'
questions about them in memory. The loader (`replica.py`) fills one with what a close
needs (`Needs`); each part records what it covers, and a question about a month,
quarter or stretch of days it was not loaded for raises `NotLoaded` instead of
answering "nothing happened", which would be a silent wrong decision.

Pure: no database, no framework.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

from services.shared.tree import Tree


class NotLoaded(LookupError):
    """A rule asked a snapshot about facts it was not loaded with."""


# The facts themselves are named tuples, not dataclasses: a close loads tens of
# thousands of them, and a tuple is made several times faster.


class Meeting(NamedTuple):
    """A held meeting. A make-up meeting (`makes_up`: "YYYY-MM") counts for the month
    it makes up and not for the one it was held in."""

    meeting_id: str
    cell_id: str
    kind: str
    held_on: date
    event_id: str
    level: str | None = None
    makes_up: str | None = None

    @property
    def month(self) -> str:
        """The month the meeting counts for."""
        return self.makes_up or month_of(self.held_on)

    @property
    def made_up(self) -> bool:
        return self.makes_up is not None


class Absence(NamedTuple):
    """A member absent without reason, or with dues unpaid, at a meeting."""

    meeting_id: str
    member_id: str
    full_name: str
    cell_id: str
    held_on: date
    event_id: str


class Task(NamedTuple):
    """A task still open (neither completed nor cancelled)."""

    task_id: str
    cell_id: str
    title: str
    due_on: date
    event_id: str


class Visit(NamedTuple):
    cell_id: str
    visited_on: date


@dataclass(frozen=True)
class AbsenceCover:
    """Absences held: every one dated `first` to `last` of every member absent at
    least once from `focus` to `last` (every member when `focus` is None)."""

    first: date
    last: date
    focus: date | None = None

    def covers(self, first: date, last: date, focus: date | None) -> bool:
        # Members absent in a narrower tail are among those absent in the wider one.
        return (self.first <= first and last <= self.last
                and (self.focus is None or (focus is not None and focus >= self.focus)))


EVERY_ABSENCE = AbsenceCover(date.min, date.max)


@dataclass(frozen=True)
class Needs:
    """What one close asks of the facts: meetings dated in, or making up, `months`;
    visits of `quarters`; and absences as `absences` says (None: none)."""

    months: frozenset[str] = frozenset()
    quarters: frozenset[str] = frozenset()
    absences: AbsenceCover | None = None


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month + 2) // 3}"


def months_in(first: date, last: date) -> list[str]:
    """Every month from the one `first` falls in to the one `last` falls in."""
    out, day = [], first.replace(day=1)
    while day <= last:
        out.append(month_of(day))
        day = (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return out


#: The kinds of meeting that hold a month's regular meeting.
REGULAR_KINDS = ("regular", "combined")


def counting_for(meetings: Iterable[Meeting], first_month: str, last_month: str
                 ) -> list[Meeting]:
    """Regular (and combined) meetings that count for the months `first_month` to
    `last_month`: those dated in them that make up no other month, and the make-ups
    of them, wherever dated (of any kind, as a make-up is recorded). Ordered by day
    and id, so decisions never depend on the order facts were loaded in."""
    return sorted((m for m in meetings if first_month <= m.month <= last_month
                   and (m.made_up or m.kind in REGULAR_KINDS)),
                  key=lambda m: (m.held_on, m.meeting_id))


@dataclass(frozen=True)
class Snapshot:
    """The facts a close decides on. `meeting_months` and `visit_quarters` say what the
    meetings and visits cover (None: everything); `absence_cover` likewise (None:
    no absences loaded). `open_tasks` are every task open at the watermark."""

    tree: Tree
    meetings: tuple[Meeting, ...] = ()
    absences: tuple[Absence, ...] = ()
    open_tasks: tuple[Task, ...] = ()
    visits: tuple[Visit, ...] = ()
    meeting_months: frozenset[str] | None = None
    visit_quarters: frozenset[str] | None = None
    absence_cover: AbsenceCover | None = EVERY_ABSENCE
    _dated: dict[str, list[Meeting]] = field(init=False, repr=False, compare=False)
    _counted: dict[str, list[Meeting]] = field(init=False, repr=False, compare=False)
    _open_ids: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Indexed once: a close asks about the same months for thousands of cells.
        dated: dict[str, list[Meeting]] = defaultdict(list)
        counted: dict[str, list[Meeting]] = defaultdict(list)
        for meeting in self.meetings:
            held_in = month_of(meeting.held_on)
            dated[held_in].append(meeting)
            counted[meeting.makes_up or held_in].append(meeting)
        object.__setattr__(self, "_dated", dated)
        object.__setattr__(self, "_counted", counted)
        object.__setattr__(self, "_open_ids", frozenset(t.task_id for t in self.open_tasks))

    def _need_months(self, months: Iterable[str]) -> None:
        if self.meeting_months is None:
            return
        missing = sorted(set(months) - self.meeting_months)
        if missing:
            raise NotLoaded(f"meetings of {', '.join(missing)} were not loaded")

    def regular_meetings_for(self, first_month: str, last_month: str) -> list[Meeting]:
        """The meetings that count for the months `first_month` to `last_month`."""
        first, last = (date.fromisoformat(f"{m}-01") for m in (first_month, last_month))
        months = months_in(first, last)
        self._need_months(months)
        # Indexed by the month each counts for: only the kind is left to check.
        return sorted((m for month in months for m in self._counted.get(month, ())
                       if m.makes_up is not None or m.kind in REGULAR_KINDS),
                      key=lambda m: (m.held_on, m.meeting_id))

    def meetings_between(self, first: date, last: date) -> list[Meeting]:
        """Meetings of any kind dated `first` to `last`, by day and id."""
        months = months_in(first, last)
        self._need_months(months)
        return sorted((m for month in months for m in self._dated.get(month, ())
                       if first <= m.held_on <= last),
                      key=lambda m: (m.held_on, m.meeting_id))

    def absences_between(self, first: date, last: date,
                         of_members_absent_from: date | None = None) -> list[Absence]:
        """Absences dated `first` to `last`; with `of_members_absent_from`, only of
        members also absent on or after that day. Ordered by day, member, meeting."""
        if self.absence_cover is None or not self.absence_cover.covers(
                first, last, of_members_absent_from):
            raise NotLoaded(f"absences {first} to {last} were not loaded")
        rows = [a for a in self.absences if first <= a.held_on <= last]
        if of_members_absent_from is not None:
            recent = {a.member_id for a in rows if a.held_on >= of_members_absent_from}
            rows = [a for a in rows if a.member_id in recent]
        return sorted(rows, key=lambda a: (a.held_on, a.member_id, a.meeting_id))

    def open_tasks_due_by(self, day: date) -> list[Task]:
        return sorted((t for t in self.open_tasks if t.due_on <= day),
                      key=lambda t: (t.due_on, t.task_id))

    def is_open(self, task_id: str) -> bool:
        return task_id in self._open_ids

    def visited_cells(self, quarter: str) -> set[str]:
        """Cells with a visit recorded in the quarter ("YYYY-Qn")."""
        if self.visit_quarters is not None and quarter not in self.visit_quarters:
            raise NotLoaded(f"visits of {quarter} were not loaded")
        return {v.cell_id for v in self.visits if quarter_of(v.visited_on) == quarter}
