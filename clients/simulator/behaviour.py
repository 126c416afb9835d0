"""What a simulated province does, month by month, as the commands a real client sends.

Pure: `setup()` and `month()` return *phases*, lists of commands. The commands of one
phase are independent of each other and may be sent concurrently; a phase starts only
when the one before it has been answered (a resolution needs its meeting held first).
The simulation keeps its own picture of the rolls, so every attendance list it sends
names exactly the members the cell has that day, as a secretary's would.
"""

from __future__ import annotations

import calendar
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from clients.simulator.province import Member, Province

IMPORT_BATCH = 2_000  # roster rows per import call (the service takes up to 5,000)
VISITED_PER_QUARTER = 0.75  # share of cells a committee member visits each quarter

EXCUSES = {"exempt": "Miễn sinh hoạt", "away": "Đi làm ăn xa"}
ABSENCE_REASONS = ("Ốm", "Đi công tác", "Việc gia đình", "Đi viện", "Trực cơ quan")
THEMATIC_TOPICS = (
    "Học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh",
    "Nâng cao chất lượng sinh hoạt chi bộ",
    "Chuyển đổi số trong công tác đảng",
    "Xây dựng nông thôn mới, đô thị văn minh",
    "Phòng, chống tham nhũng, lãng phí, tiêu cực",
    "Bảo đảm an ninh trật tự ở cơ sở",
)
TASK_TITLES = (
    "Vận động đảng viên đóng đảng phí đúng hạn",
    "Rà soát hộ nghèo, cận nghèo trên địa bàn",
    "Tổ chức ra quân vệ sinh môi trường",
    "Hoàn thành thu thuế, phí theo kế hoạch",
    "Tuyên truyền phòng, chống ma túy",
    "Chuẩn bị đại hội chi bộ nhiệm kỳ mới",
    "Vận động nhân dân hiến đất làm đường",
)
RATINGS = (("excellent", 0.15), ("good", 0.70), ("complete", 0.13), ("failed", 0.02))


@dataclass(frozen=True)
class Command:
    service: str
    method: str
    payload: dict[str, Any]


Phase = list[Command]


def month_starts(first: date, months: int) -> list[date]:
    """The first day of each of `months` months from `first`'s month."""
    starts, year, month = [], first.year, first.month
    for _ in range(months):
        starts.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return starts


class Simulation:
    """A province's commands, deterministic for its seed; `month()` in date order."""

    def __init__(self, province: Province, months: int, seed: int) -> None:
        self.province = province
        self.months = month_starts(province.start, months)
        self.rng = random.Random(seed * 7919 + 1)
        # Last year's review has a generator of its own, so adding it leaves every other
        # draw (meetings, visits, the restructuring) as it was for the seed.
        self.review_rng = random.Random(seed * 7919 + 2)
        self.restructuring_month = self.months[len(self.months) // 2] if months >= 2 else None
        self.completions: dict[tuple[int, int], Phase] = defaultdict(list)
        self.visit_months = self._plan_visits()

    # -- before the first month ---------------------------------------------------------

    def setup(self) -> list[Phase]:
        """The tree top-down (a level per phase), the roster, then who is excused."""
        province = self.province
        founded = date(province.start.year - 2, 1, 1)
        phases: list[Phase] = []
        for kind in ("province", "committee", "grassroots", "cell"):
            phases.append([Command("members", "establish_unit", {
                "unit_id": u.unit_id, "name": u.name, "kind": kind, "parent_id": u.parent_id,
                "effective_date": founded}) for u in province.units if u.kind == kind])
        rows = [self._roster_row(line, m) for line, m in enumerate(
            province.members.values(), start=2)]
        phases.append([Command("members", "import_rows", {"rows": rows[i:i + IMPORT_BATCH]})
                       for i in range(0, len(rows), IMPORT_BATCH)])
        excused_from = province.start - timedelta(days=1)
        excusals = []
        for member in province.members.values():
            if member.excused == "exempt":
                excusals.append(Command("members", "exempt_member", {
                    "member_id": member.member_id, "from_date": excused_from,
                    "reason": "Tuổi cao, sức yếu (miễn sinh hoạt)"}))
            elif member.excused == "away":
                excusals.append(Command("members", "mark_working_away", {
                    "member_id": member.member_id, "from_date": excused_from,
                    "reason": "Đi làm ăn xa (có xác nhận của chi bộ nơi cư trú)"}))
        phases.append(excusals)
        if not any(start.month == 12 for start in self.months):
            # No year-end review falls in the simulated months: the province's records
            # hold last year's, as a real one's would.
            phases.append(self._ratings(province.start.year - 1, self.review_rng))
        return phases

    @staticmethod
    def _roster_row(line: int, member: Member) -> dict[str, Any]:
        return {"line": line, "member_code": member.member_id, "full_name": member.full_name,
                "birth_date": member.birth_date, "gender": member.gender,
                "cell_code": member.cell_id, "admitted_on": member.admitted_on,
                "full_member_on": member.full_member_on,
                "status": "full" if member.full_member_on else "probationary"}

    def _plan_visits(self) -> dict[str, set[tuple[int, int]]]:
        """For each cell, the months in which a committee member visits it."""
        visits: dict[str, set[tuple[int, int]]] = defaultdict(set)
        quarters: dict[tuple[int, int], list[date]] = defaultdict(list)
        for start in self.months:
            quarters[(start.year, (start.month - 1) // 3)].append(start)
        for cell_id in self.province.cells:
            for starts in quarters.values():
                if self.rng.random() < VISITED_PER_QUARTER:
                    chosen = self.rng.choice(starts)
                    visits[cell_id].add((chosen.year, chosen.month))
        return visits

    # -- each month -----------------------------------------------------------------

    def month(self, start: date) -> list[Phase]:
        phases: list[Phase] = []
        if start == self.restructuring_month:
            phases.append(self._restructure(start))
        phases.append(self._confirmations(start))
        held, resolutions, visits = [], [], []
        for cell_id, cell in self.province.cells.items():
            day = start.replace(day=min(cell.meeting_day, calendar.monthrange(
                start.year, start.month)[1]))
            if self.rng.random() < cell.reliability:
                meeting = self._meeting(cell_id, day, "regular")
                held.append(meeting)
                resolution = self._resolution(meeting.payload)
                if resolution is not None:
                    resolutions.append(resolution)
                if (start.year, start.month) in self.visit_months[cell_id]:
                    visits.append(self._visit(meeting.payload))
            if start.month in cell.thematic_months and self.rng.random() < 0.9:
                held.append(self._meeting(cell_id, day + timedelta(days=5), "thematic"))
        phases += [held, resolutions, visits,
                   self.completions.pop((start.year, start.month), [])]
        if start.month == 12:
            phases.append(self._ratings(start.year))
        return [phase for phase in phases if phase]

    def _members_of(self, cell_id: str) -> list[Member]:
        return [self.province.members[m] for m in self.province.cells[cell_id].members]

    def _meeting(self, cell_id: str, day: date, kind: str) -> Command:
        rng = self.rng
        lines, present = [], []
        members = self._members_of(cell_id)
        for member in members:
            if member.excused:  # minutes list them too, with why they are not due
                lines.append({"member_id": member.member_id, "status": "absent_excused",
                              "reason": EXCUSES[member.excused]})
            elif rng.random() < member.diligence:
                lines.append({"member_id": member.member_id, "status": "present"})
                present.append(member.member_id)
            elif rng.random() < 0.7:
                lines.append({"member_id": member.member_id, "status": "absent_excused",
                              "reason": rng.choice(ABSENCE_REASONS)})
            else:
                lines.append({"member_id": member.member_id, "status": "absent_unexcused"})
        minutes = rng.choice((90, 100, 120, 120, 150)) if rng.random() > 0.03 else 60
        start_hour = 19 if rng.random() < 0.7 else 14
        ended = start_hour * 60 + 30 + minutes
        due = sum(1 for m in members if not m.excused)
        share = len(present) / due if due else 0
        good = rng.random() < 0.8
        payload: dict[str, Any] = {
            "meeting_id": f"{cell_id}-{day:%Y%m}-{kind[0]}", "cell_id": cell_id, "kind": kind,
            "held_on": day, "attendance": lines,
            "started_at": f"{start_hour:02d}:30", "ended_at": f"{ended // 60:02d}:{ended % 60:02d}",
            "chair_id": present[0] if present else None,
            "minutes_taker_id": present[1] if len(present) > 1 else None,
            "dues_collected": rng.random() < 0.97,
            "agenda": ["Đánh giá kết quả tháng trước", "Triển khai nhiệm vụ tháng tới"],
            "scores": {"preparation": rng.randint(12, 15) if good else rng.randint(7, 13),
                       "attendance": round(20 * share),
                       "conduct": rng.randint(38, 45) if good else rng.randint(25, 40),
                       "closing": rng.randint(16, 20) if good else rng.randint(10, 17)}}
        if kind == "thematic":
            payload["topic"] = rng.choice(THEMATIC_TOPICS)
        return Command("meetings", "record_meeting_held", payload)

    def _resolution(self, meeting: dict[str, Any]) -> Command | None:
        """The month's resolution and its tasks; their completions are queued for the
        months they happen in. None when too few full members came to adopt one."""
        held_on: date = meeting["held_on"]
        due = {m.member_id for m in self._members_of(meeting["cell_id"]) if not m.excused}
        # Members confirmed this month do not vote yet: the meetings service may not have
        # heard of their confirmation, and a vote must not exceed the eligible members.
        eligible = [m for m in due if self._full_on(m, held_on.replace(day=1))]
        present = {line["member_id"] for line in meeting["attendance"]
                   if line["status"] == "present"}
        in_favour = sum(1 for m in eligible if m in present)
        if in_favour * 2 <= sum(1 for m in due if self._full_on(m, held_on)) or not present:
            return None
        tasks = []
        for n in range(1 + (self.rng.random() < 0.4)):
            task_id = f"{meeting['meeting_id']}-nv{n + 1}"
            due_on = held_on + timedelta(days=self.rng.randint(20, 40))
            tasks.append({"task_id": task_id, "title": self.rng.choice(TASK_TITLES),
                          "assignee_id": self.rng.choice(sorted(present)), "due_on": due_on})
            self._plan_completion(task_id, held_on, due_on)
        return Command("meetings", "adopt_resolution", {
            "meeting_id": meeting["meeting_id"], "resolution_id": f"{meeting['meeting_id']}-nq",
            "title": f"Nghị quyết sinh hoạt tháng {held_on:%m/%Y}",
            "vote": {"in_favour": in_favour, "against": 0, "abstaining": 0}, "tasks": tasks})

    def _full_on(self, member_id: str, day: date) -> bool:
        full_on = self.province.members[member_id].full_member_on
        return full_on is not None and full_on <= day

    def _plan_completion(self, task_id: str, held_on: date, due_on: date) -> None:
        """Most tasks are done in time, some late, some never (they go overdue)."""
        roll = self.rng.random()
        if roll < 0.80:
            done = held_on + timedelta(days=self.rng.randint(3, (due_on - held_on).days))
        elif roll < 0.88:
            done = due_on + timedelta(days=self.rng.randint(1, 20))
        else:
            return
        self.completions[(done.year, done.month)].append(Command("meetings", "complete_task", {
            "task_id": task_id, "result": "Đã hoàn thành", "completed_on": done}))

    def _visit(self, meeting: dict[str, Any]) -> Command:
        confirmed = self.rng.random() < 0.7
        return Command("supervision", "log_visit", {
            "visit_id": f"{meeting['meeting_id']}-gs", "cell_id": meeting["cell_id"],
            "meeting_id": meeting["meeting_id"], "visited_on": meeting["held_on"],
            "visitor": "Đồng chí Ủy viên Ban Thường vụ phụ trách",
            "comments": "Sinh hoạt đúng quy định." if confirmed
            else "Cần chuẩn bị nội dung kỹ hơn.",
            "confirm_score": confirmed,
            "changed_scores": None if confirmed else {
                **meeting["scores"], "conduct": max(0, meeting["scores"]["conduct"] - 8)}})

    def _confirmations(self, start: date) -> Phase:
        """Probationers whose year is up become full members this month."""
        confirmations = []
        for member in self.province.members.values():
            anniversary = member.admitted_on + timedelta(days=365)
            if member.full_member_on is None and (anniversary.year, anniversary.month) == (
                    start.year, start.month):
                member.full_member_on = anniversary
                confirmations.append(Command("members", "confirm_member", {
                    "member_id": member.member_id, "effective_date": anniversary}))
        return confirmations

    def _restructure(self, start: date) -> Phase:
        """Mid-span, as in the 2025 merges: in about a third of the committees two
        communes' grassroots organisations merge; the cells pass to the successor."""
        merges = []
        for committee in [u for u in self.province.units if u.kind == "committee"]:
            orgs = self.province.grassroots_of(committee.unit_id)
            if len(orgs) >= 2 and self.rng.random() < 0.34:
                successor, merged = orgs[0], orgs[-1]
                for unit in self.province.units:
                    if unit.parent_id == merged.unit_id:
                        unit.parent_id = successor.unit_id
                self.province.units.remove(merged)
                merges.append(Command("members", "merge_units", {
                    "merged_ids": [merged.unit_id], "successor_id": successor.unit_id,
                    "effective_date": start}))
        return merges

    def _ratings(self, year: int, rng: random.Random | None = None) -> Phase:
        """The year-end review (đánh giá, xếp loại) of every member not exempted and on
        the rolls at the end of the year."""
        levels, weights = zip(*RATINGS, strict=True)
        year_end = date(year, 12, 31)
        rng = rng or self.rng
        return [Command("members", "rate_member", {
            "member_id": m.member_id, "year": year,
            "level": rng.choices(levels, weights)[0]})
            for m in self.province.members.values()
            if m.excused != "exempt" and m.admitted_on <= year_end]

    def all_phases(self) -> Iterator[tuple[str, Phase]]:
        """Every phase in order, each labelled for the progress display."""
        for phase in self.setup():
            yield "cây tổ chức, danh sách đảng viên (tree, roster)", phase
        for start in self.months:
            for phase in self.month(start):
                yield f"tháng {start:%m/%Y}", phase
