"""A member's standing through time, folded from their events. Pure, no I/O.

Shared by the members service (from its log) and by meetings (from its replica
of the same events), so both answer "who must attend cell C on day D" alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.shared.text import name_sort_key

CONFIRMATION_AFTER_MONTHS = 12
#: A member's standing on a day, the one vocabulary every service and page uses: on the
#: rolls (full or probationary, or excused as exempt, working away or attending elsewhere
#: for a time) or off them (one of the removal kinds, or moved out of the province).
STATUSES = ("full", "probationary", "exempt", "working_away", "temporarily_transferred",
            "struck_off", "expelled", "deceased", "moved_out")


def _day(value: Any) -> date:
    """A date an event always carries: a date, or its ISO text (the stored form)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def _optional_day(value: Any) -> date | None:
    return None if value is None else _day(value)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise AssertionError("unreachable")


@dataclass
class Period:
    """From `start` to `until` inclusive; `until` None means open-ended."""

    start: date
    until: date | None
    reason: str
    where: str | None = None  # for temporary transfers: the cell or organisation

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.until is None or day <= self.until)

    def end(self, last_day: date) -> None:
        if self.until is None or self.until > last_day:
            self.until = last_day


@dataclass
class Member:
    member_id: str
    full_name: str = ""
    member_code: str | None = None
    admitted_on: date | None = None
    full_since: date | None = None
    #: (from, cell_id) in date order; a None cell means the member left the province.
    cells: list[tuple[date, str | None]] = field(default_factory=list)
    removed: tuple[date, str, str] | None = None
    exemptions: list[Period] = field(default_factory=list)
    away: list[Period] = field(default_factory=list)
    temporary: list[Period] = field(default_factory=list)
    #: temporary transfers into a cell of this province: (period, cell_id)
    ratings: dict[int, str] = field(default_factory=dict)
    reminded: bool = False

    # -- folding ----------------------------------------------------------------

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        handler = getattr(self, f"_on_{event_type}", None)
        if handler is not None:
            handler(data)

    def _on_member_admitted(self, d: dict[str, Any]) -> None:
        self.full_name, self.member_code = d["full_name"], d.get("member_code")
        self.admitted_on = admitted = _day(d["admitted_on"])
        self.cells = [(admitted, d["cell_id"])]

    def _on_member_renamed(self, d: dict[str, Any]) -> None:
        self.full_name = d["full_name"]

    def _on_member_confirmed(self, d: dict[str, Any]) -> None:
        self.full_since = _day(d["effective_date"])

    def _on_membership_confirmation_due(self, d: dict[str, Any]) -> None:
        self.reminded = True

    def _on_member_transferred(self, d: dict[str, Any]) -> None:
        self.cells.append((_day(d["effective_date"]), d.get("to_cell_id")))

    def _on_member_temporarily_transferred(self, d: dict[str, Any]) -> None:
        self.temporary.append(Period(_day(d["from_date"]), _optional_day(d["until_date"]),
                                     "temporarily_transferred",
                                     d.get("to_cell_id") or d.get("to_organisation")))

    def _on_member_exempted(self, d: dict[str, Any]) -> None:
        self.exemptions.append(Period(_day(d["from_date"]), None, d["reason"]))

    def _on_member_working_away(self, d: dict[str, Any]) -> None:
        self.away.append(Period(_day(d["from_date"]), _optional_day(d.get("until_date")),
                                d["reason"]))

    def _on_member_returned(self, d: dict[str, Any]) -> None:
        last_day = _day(d["effective_date"]) - timedelta(days=1)
        for period in (*self.exemptions, *self.away, *self.temporary):
            if period.covers(last_day + timedelta(days=1)):
                period.end(last_day)

    def _on_member_removed(self, d: dict[str, Any]) -> None:
        self.removed = (_day(d["effective_date"]), d["kind"], d["reason"])

    def _on_member_rated(self, d: dict[str, Any]) -> None:
        self.ratings[int(d["year"])] = d["level"]

    # -- questions --------------------------------------------------------------

    @property
    def admitted(self) -> bool:
        return self.admitted_on is not None

    def on_rolls(self, day: date) -> bool:
        """Admitted by `day` and not removed before it."""
        return (self.admitted_on is not None and self.admitted_on <= day
                and (self.removed is None or day < self.removed[0]))

    def cell_on(self, day: date) -> str | None:
        if not self.on_rolls(day):
            return None
        current = None
        for start, cell_id in self.cells:
            if start <= day:
                current = cell_id
        return current

    def current_cell(self) -> str | None:
        return self.cells[-1][1] if self.cells and self.removed is None else None

    def is_full(self, day: date) -> bool:
        return self.full_since is not None and self.full_since <= day

    def confirmation_due_on(self) -> date | None:
        if self.admitted_on is None:
            return None
        return add_months(self.admitted_on, CONFIRMATION_AFTER_MONTHS)

    def excuse_on(self, day: date) -> tuple[str, str] | None:
        """Why the member is excused from their home cell's meetings on `day`, if so."""
        for period in self.exemptions:
            if period.covers(day):
                return "exempt", period.reason
        for period in self.temporary:
            if period.covers(day):
                return "temporarily_transferred", f"sinh hoạt tạm thời tại {period.where}"
        for period in self.away:
            if period.covers(day):
                return "working_away", period.reason
        return None

    def status_on(self, day: date) -> str:
        """The member's standing on `day` (one of STATUSES). A period of exemption, time
        away or temporary transfer counts only while it covers the day: once its end date
        has passed, or a return was recorded, the member is full or probationary again."""
        if self.removed is not None and self.removed[0] <= day:
            return self.removed[1]
        if self.cells and self.cells[-1][1] is None and self.cells[-1][0] <= day:
            return "moved_out"
        excuse = self.excuse_on(day)
        if excuse is not None:
            return excuse[0]
        return "full" if self.is_full(day) else "probationary"

    def temporarily_in(self, day: date) -> str | None:
        """The cell the member attends temporarily on `day`, if any."""
        for period in self.temporary:
            if period.covers(day):
                return period.where
        return None


def fold(events: Iterable[Any]) -> dict[str, Member]:
    """Members by id from their events (objects with `.type` and `.data`), in log order."""
    members: dict[str, Member] = {}
    for event in events:
        member_id = event.data.get("member_id")
        if member_id is None or not event.type.startswith(("member", "membership")):
            continue
        members.setdefault(member_id, Member(member_id)).apply(event.type, event.data)
    return members


def roll(members: Iterable[Member], cell_id: str, day: date) -> dict[str, list[dict[str, Any]]]:
    """Who must attend cell `cell_id`'s meeting on `day`, and who is excused and why.

    Members temporarily transferred in attend here; those exempt, working away or
    temporarily transferred out are listed as excused and not counted.
    """
    must, excused = [], []
    for member in members:
        status = "full" if member.is_full(day) else "probationary"
        entry = {"member_id": member.member_id, "full_name": member.full_name,
                 "status": status}
        if member.cell_on(day) == cell_id:
            excuse = member.excuse_on(day)
            if excuse is None:
                must.append({**entry, "attends": "home"})
            else:
                excused.append({**entry, "standing": excuse[0], "reason": excuse[1]})
        elif member.on_rolls(day) and member.temporarily_in(day) == cell_id:
            must.append({**entry, "attends": "temporarily"})
    key = lambda e: (name_sort_key(e["full_name"]), e["member_id"])  # noqa: E731
    return {"must_attend": sorted(must, key=key), "excused": sorted(excused, key=key)}
