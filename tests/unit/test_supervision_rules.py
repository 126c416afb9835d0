"""Supervision's escalation rules over plain, hand-made facts (no database): for each
rule, when it raises and when it does not, how it climbs, how the system resolves it
(a make-up meeting as `made_up`), and where periods, grace days and the tree's
history draw the line. The facts a close loads (`needs`) are what the rules read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from services.shared.escalation_rules import Resolution, Rule
from services.shared.tree import Tree
from services.supervision import rules
from services.supervision.closing import periods_closing_on
from services.supervision.rules import Settings, climbing_from, escalation_id
from services.supervision.snapshot import (
    Absence,
    AbsenceCover,
    Meeting,
    NotLoaded,
    Snapshot,
    Task,
    Visit,
    counting_for,
)

SETTINGS = Settings(grace_days=5, overdue_days=14, reescalate_after_days=7,
                    start_date=date(2025, 1, 1))
MARCH_CLOSE = date(2026, 4, 5)  # 31 March plus five days' grace


def unit(unit_id: str, name: str, kind: str, parent: str | None = None,
         on: str = "2020-01-01", change: str = "unit_established") -> SimpleNamespace:
    return SimpleNamespace(type=change, data={
        "unit_id": unit_id, "name": name, "kind": kind, "parent_id": parent,
        "effective_date": on})


def dissolved(unit_id: str, on: str) -> SimpleNamespace:
    return SimpleNamespace(type="unit_dissolved", data={"unit_id": unit_id,
                                                         "effective_date": on})


TREE = [unit("p", "Tỉnh ủy Mẫu", "province"),
        unit("h", "Huyện ủy Mẫu", "committee", "p"),
        unit("x", "Đảng ủy xã Mẫu", "committee", "h"),
        unit("c", "Chi bộ bản Máy", "cell", "x")]


def meeting(held_on: str, kind: str = "regular", cell: str = "c",
            makes_up: str | None = None) -> Meeting:
    mid = f"{cell}-{kind}-{held_on}"
    return Meeting(mid, cell, kind, date.fromisoformat(held_on), f"ev-{mid}",
                   makes_up=makes_up)


def monthly(*months: str, cell: str = "c") -> list[Meeting]:
    """A regular meeting on the 10th of each month."""
    return [meeting(f"{m}-10", cell=cell) for m in months]


def absent(member: str, held_on: str, cell: str = "c") -> Absence:
    return Absence(f"{cell}-regular-{held_on}", member, f"Đảng viên {member}", cell,
                   date.fromisoformat(held_on), f"ev-absent-{member}-{held_on}")


def facts(*, units: list[SimpleNamespace] | None = None, meetings: Iterable[Meeting] = (),
          absences: Iterable[Absence] = (), tasks: Iterable[Task] = (),
          visits: Iterable[Visit] = ()) -> Snapshot:
    return Snapshot(tree=Tree.from_events(TREE if units is None else units),
                    meetings=tuple(meetings), absences=tuple(absences),
                    open_tasks=tuple(tasks), visits=tuple(visits))


def by_rule(decided: list[dict[str, Any]], rule: Rule) -> list[dict[str, Any]]:
    return [d for d in decided if d["rule"] == rule]


def open_escalation(rule: Rule, period: str, *, subject: str = "c", level: int = 1,
                    target: str = "x", since: str = "2026-04-05", state: str = "raised"
                    ) -> dict[str, Any]:
    """An escalation as the book keeps it (`book.unresolved`)."""
    return {"escalation_id": escalation_id(rule.value, subject, period), "rule": rule.value,
            "level": level, "target_unit_id": target, "subject_id": subject,
            "cell_id": "c", "period": period, "state": state,
            "level_since": date.fromisoformat(since)}


# -- missed regular meeting ------------------------------------------------------------


def test_a_month_without_a_regular_meeting_raises_to_the_committee_above():
    [raised] = rules.month_rules(facts(meetings=monthly("2026-01", "2026-02")), "2026-03",
                                 MARCH_CLOSE, SETTINGS)
    assert raised == {
        "escalation_id": escalation_id("missed_regular_meeting", "c", "2026-03"),
        "rule": "missed_regular_meeting", "cell_id": "c", "level": 1,
        "target_unit_id": "x", "target_name": "Đảng ủy xã Mẫu", "subject_id": "c",
        "subject_name": "Chi bộ bản Máy", "period": "2026-03",
        "details": {"months_in_a_row": 1}, "evidence": [], "raised_on": MARCH_CLOSE}


@pytest.mark.parametrize("held", [
    meeting("2026-03-01"), meeting("2026-03-31"), meeting("2026-03-15", kind="combined")])
def test_a_regular_or_combined_meeting_on_any_day_of_the_month_is_enough(held):
    decided = rules.month_rules(facts(meetings=[held]), "2026-03", MARCH_CLOSE, SETTINGS)
    assert by_rule(decided, Rule.MISSED_REGULAR_MEETING) == []


@pytest.mark.parametrize("held", [
    meeting("2026-02-28"), meeting("2026-04-01"), meeting("2026-03-10", kind="thematic"),
    meeting("2026-03-10", cell="other")])
def test_a_meeting_outside_the_month_of_another_kind_or_cell_does_not_count(held):
    decided = rules.month_rules(facts(meetings=[held]), "2026-03", MARCH_CLOSE, SETTINGS)
    assert [d["period"] for d in by_rule(decided, Rule.MISSED_REGULAR_MEETING)] == ["2026-03"]


def test_a_make_up_counts_for_the_month_it_makes_up_and_not_the_one_it_was_held_in():
    known = facts(meetings=[*monthly("2026-01", "2026-02"),
                            meeting("2026-04-02", makes_up="2026-03")])
    assert rules.month_rules(known, "2026-03", MARCH_CLOSE, SETTINGS) == []
    [april] = rules.month_rules(known, "2026-04", date(2026, 5, 5), SETTINGS)
    # March counts as held: April is the first month missed, not the second.
    assert (april["period"], april["level"], april["details"]) == (
        "2026-04", 1, {"months_in_a_row": 1})


def test_missed_months_in_a_row_climb_one_level_each_to_the_top():
    two = rules.month_rules(facts(meetings=monthly("2026-01")), "2026-03", MARCH_CLOSE,
                            SETTINGS)
    assert [(d["level"], d["target_unit_id"], d["details"]) for d in two] == [
        (2, "h", {"months_in_a_row": 2})]
    three = rules.month_rules(facts(meetings=monthly("2025-12")), "2026-03", MARCH_CLOSE,
                              SETTINGS)
    assert [(d["level"], d["target_unit_id"], d["details"]) for d in three] == [
        (3, "p", {"months_in_a_row": 3})]
    # The ladder looks back three months at most: a fourth miss stays at the top.
    four = rules.month_rules(facts(), "2026-03", MARCH_CLOSE, SETTINGS)
    assert [(d["level"], d["target_unit_id"], d["details"]) for d in four] == [
        (3, "p", {"months_in_a_row": 3})]


def test_a_ladder_that_does_not_climb_stays_at_level_one_with_its_streak():
    flat = replace(SETTINGS, climbing=climbing_from({"missed_regular_meeting":
                                                     {"climbs": False}}))
    [raised] = rules.month_rules(facts(), "2026-03", MARCH_CLOSE, flat)
    assert (raised["level"], raised["target_unit_id"], raised["details"]) == (
        1, "x", {"months_in_a_row": 3})


def test_months_before_supervision_started_are_not_part_of_the_streak():
    started = replace(SETTINGS, start_date=date(2026, 2, 1))
    [raised] = rules.month_rules(facts(), "2026-03", MARCH_CLOSE, started)
    assert raised["details"] == {"months_in_a_row": 2}


def test_months_before_the_cell_existed_are_not_part_of_the_streak():
    young = [*TREE[:3], unit("c", "Chi bộ bản Máy", "cell", "x", on="2026-02-01")]
    [raised] = rules.month_rules(facts(units=young), "2026-03", MARCH_CLOSE, SETTINGS)
    assert raised["details"] == {"months_in_a_row": 2}


@pytest.mark.parametrize("change", [
    unit("c2", "Chi bộ mới", "cell", "x", on="2026-03-02"),  # set up during the month
    dissolved("c", "2026-03-20"),                             # dissolved during it
])
def test_a_cell_that_did_not_exist_for_the_whole_month_is_not_judged(change):
    decided = rules.month_rules(facts(units=[*TREE, change], meetings=monthly("2026-03")),
                                "2026-03", MARCH_CLOSE, SETTINGS)
    assert decided == []


def test_the_target_is_the_committee_above_the_cell_at_the_end_of_the_month():
    moved = [*TREE, unit("y", "Đảng ủy phường Mới", "committee", "h"),
             unit("c", "", "", "y", on="2026-03-31", change="unit_moved")]
    [raised] = rules.month_rules(facts(units=moved, meetings=monthly("2026-01", "2026-02")),
                                 "2026-03", MARCH_CLOSE, SETTINGS)
    assert (raised["target_unit_id"], raised["target_name"]) == ("y", "Đảng ủy phường Mới")
    after = [*TREE, unit("y", "Đảng ủy phường Mới", "committee", "h"),
             unit("c", "", "", "y", on="2026-04-01", change="unit_moved")]
    [raised] = rules.month_rules(facts(units=after, meetings=monthly("2026-01", "2026-02")),
                                 "2026-03", MARCH_CLOSE, SETTINGS)
    assert raised["target_unit_id"] == "x"


def test_a_cell_directly_under_the_top_is_escalated_to_the_top():
    flat = [unit("p", "Tỉnh ủy Mẫu", "province"),
            unit("c", "Chi bộ cơ sở", "grassroots_cell", "p")]
    [raised] = rules.month_rules(facts(units=flat), "2026-03", MARCH_CLOSE, SETTINGS)
    assert (raised["level"], raised["target_unit_id"]) == (3, "p")


# -- removal candidate -----------------------------------------------------------------


def test_absent_in_three_months_of_twelve_flags_the_member_for_the_cell_to_consider():
    absences = [absent("m-1", "2025-06-10"), absent("m-1", "2026-01-10"),
                absent("m-1", "2026-01-24"), absent("m-1", "2026-03-10")]
    decided = rules.month_rules(facts(meetings=monthly("2026-03"), absences=absences),
                                "2026-03", MARCH_CLOSE, SETTINGS)
    [flag] = by_rule(decided, Rule.REMOVAL_CANDIDATE)
    assert flag == {
        "escalation_id": escalation_id("removal_candidate", "m-1", "2026-03"),
        "rule": "removal_candidate", "cell_id": "c", "level": 1, "target_unit_id": "x",
        "target_name": "Đảng ủy xã Mẫu", "subject_id": "m-1",
        "subject_name": "Đảng viên m-1", "period": "2026-03",
        "details": {"months": 3, "window_months": 12},
        "evidence": sorted(a.event_id for a in absences), "raised_on": MARCH_CLOSE}


@pytest.mark.parametrize("days", [
    ("2026-01-10", "2026-01-20", "2026-03-10"),  # two months only
    ("2025-03-31", "2026-02-10", "2026-03-10"),  # the first is outside the twelve months
    ("2026-01-10", "2026-02-10", "2026-04-01"),  # not absent in the month that closes
])
def test_fewer_than_three_months_in_the_window_or_none_this_month_flags_no_one(days):
    known = facts(meetings=monthly("2026-03"), absences=[absent("m-1", d) for d in days])
    assert rules.month_rules(known, "2026-03", MARCH_CLOSE, SETTINGS) == []


def test_the_twelve_months_begin_eleven_months_before_the_one_that_closes():
    known = facts(meetings=monthly("2026-03"), absences=[
        absent("m-1", d) for d in ("2025-04-01", "2026-02-10", "2026-03-10")])
    [flag] = rules.month_rules(known, "2026-03", MARCH_CLOSE, SETTINGS)
    assert flag["details"] == {"months": 3, "window_months": 12}


def test_a_member_who_moved_is_flagged_to_the_committee_above_the_latest_cell():
    units = [*TREE, unit("y", "Đảng ủy phường Mới", "committee", "h"),
             unit("c2", "Chi bộ tổ 2", "cell", "y")]
    known = facts(units=units, meetings=monthly("2026-03") + monthly("2026-03", cell="c2"),
                  absences=[absent("m-1", "2026-01-10"), absent("m-1", "2026-02-10"),
                            absent("m-1", "2026-03-10", cell="c2")])
    [flag] = rules.month_rules(known, "2026-03", MARCH_CLOSE, SETTINGS)
    assert (flag["cell_id"], flag["target_unit_id"]) == ("c2", "y")


# -- thematic meetings and visits --------------------------------------------------------


def test_a_quarter_without_a_thematic_meeting_or_a_visit_raises_both():
    decided = rules.quarter_rules(facts(meetings=monthly("2026-01", "2026-02", "2026-03")),
                                  "2026-Q1", MARCH_CLOSE)
    assert [(d["rule"], d["period"], d["level"], d["target_unit_id"], d["details"])
            for d in decided] == [("no_thematic_meeting", "2026-Q1", 1, "x", {}),
                                  ("not_visited", "2026-Q1", 1, "x", {})]


@pytest.mark.parametrize("held", [meeting("2026-01-01", kind="thematic"),
                                  meeting("2026-03-31", kind="combined")])
def test_a_thematic_or_combined_meeting_and_a_visit_inside_the_quarter_raise_nothing(held):
    known = facts(meetings=[held], visits=[Visit("c", date(2026, 3, 31))])
    assert rules.quarter_rules(known, "2026-Q1", MARCH_CLOSE) == []


def test_a_thematic_meeting_or_visit_a_day_outside_the_quarter_does_not_count():
    known = facts(meetings=[meeting("2026-04-01", kind="thematic")],
                  visits=[Visit("c", date(2025, 12, 31)), Visit("c", date(2026, 4, 1))])
    assert {d["rule"] for d in rules.quarter_rules(known, "2026-Q1", MARCH_CLOSE)} == {
        "no_thematic_meeting", "not_visited"}


# -- overdue tasks ------------------------------------------------------------------------


TASK = Task("t-1", "c", "Sửa đường liên thôn", date(2026, 2, 1), "ev-t-1")


def test_a_task_open_fourteen_days_past_due_is_raised_and_not_a_day_sooner():
    assert rules.day_rules(facts(tasks=[TASK]), date(2026, 2, 14), SETTINGS) == []
    [raised] = rules.day_rules(facts(tasks=[TASK]), date(2026, 2, 15), SETTINGS)
    assert raised == {
        "escalation_id": escalation_id("task_overdue", "t-1", "t-1"), "rule": "task_overdue",
        "cell_id": "c", "level": 1, "target_unit_id": "x", "target_name": "Đảng ủy xã Mẫu",
        "subject_id": "t-1", "subject_name": "Sửa đường liên thôn", "period": "t-1",
        "details": {"due_on": "2026-02-01", "days_overdue": 14}, "evidence": ["ev-t-1"],
        "raised_on": date(2026, 2, 15)}


def test_a_closed_task_or_one_of_a_cell_no_longer_in_the_tree_is_not_raised():
    assert rules.day_rules(facts(), date(2026, 3, 1), SETTINGS) == []
    gone = facts(units=[*TREE, dissolved("c", "2026-02-20")], tasks=[TASK])
    assert rules.day_rules(gone, date(2026, 3, 1), SETTINGS) == []


# -- resolution -------------------------------------------------------------------------


MISSED_MARCH = open_escalation(Rule.MISSED_REGULAR_MEETING, "2026-03")


def test_a_make_up_meeting_resolves_the_missed_month_as_made_up():
    made_up = meeting("2026-04-08", makes_up="2026-03")
    [resolved] = rules.resolutions([MISSED_MARCH], facts(meetings=[made_up]),
                                   date(2026, 4, 8))
    assert resolved == {"escalation_id": MISSED_MARCH["escalation_id"], "how": "made_up",
                        "by": None, "on": date(2026, 4, 8), "evidence": [made_up.event_id]}


def test_a_meeting_dated_in_the_month_recorded_late_resolves_it_before_a_make_up():
    late = meeting("2026-03-28")
    both = facts(meetings=[meeting("2026-04-02", makes_up="2026-03"), late])
    [resolved] = rules.resolutions([MISSED_MARCH], both, date(2026, 4, 8))
    assert (resolved["how"], resolved["evidence"]) == (
        Resolution.MEETING_RECORDED_LATE.value, [late.event_id])


def test_nothing_that_counts_for_the_month_leaves_it_open():
    others = facts(meetings=[meeting("2026-04-02"), meeting("2026-03-20", kind="thematic"),
                             meeting("2026-05-02", makes_up="2026-04")])
    assert rules.resolutions([MISSED_MARCH], others, date(2026, 5, 5)) == []


def test_a_thematic_meeting_or_visit_recorded_later_resolves_the_quarter():
    thematic = open_escalation(Rule.NO_THEMATIC_MEETING, "2026-Q1")
    visit = open_escalation(Rule.NOT_VISITED, "2026-Q1")
    nothing = facts(meetings=[meeting("2026-04-02", kind="thematic")],
                    visits=[Visit("c", date(2026, 4, 2))])
    assert rules.resolutions([thematic, visit], nothing, date(2026, 4, 9)) == []
    held = meeting("2026-03-30", kind="thematic")
    found = facts(meetings=[meeting("2026-02-10", kind="combined"), held],
                  visits=[Visit("c", date(2026, 2, 10))])
    assert [(r["escalation_id"], r["how"], r["evidence"])
            for r in rules.resolutions([thematic, visit], found, date(2026, 4, 9))] == [
        (thematic["escalation_id"], "thematic_meeting_recorded", [held.event_id]),
        (visit["escalation_id"], "visit_recorded", [])]


def test_a_task_no_longer_open_resolves_its_escalation():
    overdue = open_escalation(Rule.TASK_OVERDUE, "t-1", subject="t-1")
    assert rules.resolutions([overdue], facts(tasks=[TASK]), date(2026, 3, 1)) == []
    [resolved] = rules.resolutions([overdue], facts(), date(2026, 3, 1))
    assert (resolved["how"], resolved["evidence"]) == ("task_closed", [])


def test_a_removal_flag_is_never_resolved_by_the_system():
    flag = open_escalation(Rule.REMOVAL_CANDIDATE, "2026-03", subject="m-1")
    assert rules.resolutions([flag], facts(), date(2026, 6, 1)) == []


# -- re-escalation ------------------------------------------------------------------------


def test_an_escalation_unacknowledged_for_seven_days_moves_one_level_up():
    assert rules.reescalations([MISSED_MARCH], facts(), date(2026, 4, 11), SETTINGS) == []
    [move] = rules.reescalations([MISSED_MARCH], facts(), date(2026, 4, 12), SETTINGS)
    assert move == {"escalation_id": MISSED_MARCH["escalation_id"], "level": 2,
                    "target_unit_id": "h", "target_name": "Huyện ủy Mẫu",
                    "on": date(2026, 4, 12), "unacknowledged_days": 7}
    top = {**MISSED_MARCH, "level": 2, "target_unit_id": "h"}
    [move] = rules.reescalations([top], facts(), date(2026, 4, 12), SETTINGS)
    assert (move["level"], move["target_unit_id"]) == (3, "p")


@pytest.mark.parametrize("escalation", [
    {**MISSED_MARCH, "state": "acknowledged"},
    {**MISSED_MARCH, "level": 3, "target_unit_id": "p"},                   # at the top
    open_escalation(Rule.REMOVAL_CANDIDATE, "2026-03", subject="m-1"),     # does not climb
    {**MISSED_MARCH, "cell_id": "gone"},                                   # not in the tree
])
def test_acknowledged_top_level_non_climbing_or_orphaned_escalations_stay(escalation):
    assert rules.reescalations([escalation], facts(), date(2026, 6, 1), SETTINGS) == []


def test_a_removal_flag_climbs_when_configured_to():
    climbing = replace(SETTINGS, climbing=climbing_from({"removal_candidate":
                                                         {"climbs": True}}))
    flag = open_escalation(Rule.REMOVAL_CANDIDATE, "2026-03", subject="m-1")
    [move] = rules.reescalations([flag], facts(), date(2026, 4, 12), climbing)
    assert (move["level"], move["target_unit_id"]) == (2, "h")


def test_no_move_when_the_level_above_is_the_committee_it_is_already_with():
    flat = [unit("p", "Tỉnh ủy Mẫu", "province"),
            unit("c", "Chi bộ cơ sở", "grassroots_cell", "p")]
    escalation = {**MISSED_MARCH, "target_unit_id": "p"}
    assert rules.reescalations([escalation], facts(units=flat), date(2026, 6, 1),
                               SETTINGS) == []


# -- when periods close, and what a close loads -------------------------------------------


def test_a_month_closes_when_its_grace_days_end_and_a_quarter_with_its_last_month():
    assert periods_closing_on(date(2026, 4, 4), SETTINGS) == [("day", "2026-04-04")]
    assert periods_closing_on(MARCH_CLOSE, SETTINGS) == [
        ("day", "2026-04-05"), ("month", "2026-03"), ("quarter", "2026-Q1")]
    assert periods_closing_on(date(2026, 3, 5), SETTINGS) == [
        ("day", "2026-03-05"), ("month", "2026-02")]
    no_grace = replace(SETTINGS, grace_days=0)
    assert periods_closing_on(date(2026, 3, 31), no_grace)[1:] == [
        ("month", "2026-03"), ("quarter", "2026-Q1")]
    # A period that began before supervision started is never judged.
    late_start = replace(SETTINGS, start_date=date(2026, 3, 2))
    assert periods_closing_on(MARCH_CLOSE, late_start) == [("day", "2026-04-05")]


def test_a_close_needs_the_ladders_months_the_quarter_and_what_open_escalations_ask():
    opened = [open_escalation(Rule.MISSED_REGULAR_MEETING, "2025-11"),
              open_escalation(Rule.NO_THEMATIC_MEETING, "2025-Q3"),
              open_escalation(Rule.NOT_VISITED, "2025-Q4")]
    needs = rules.needs([("month", "2026-03"), ("quarter", "2026-Q1")], opened, SETTINGS)
    assert needs.months == {"2026-01", "2026-02", "2026-03", "2025-11",
                            "2025-07", "2025-08", "2025-09"}
    assert needs.quarters == {"2026-Q1", "2025-Q4"}
    assert needs.absences == AbsenceCover(date(2025, 4, 1), date(2026, 3, 31),
                                          date(2026, 3, 1))
    assert rules.needs([], [], SETTINGS).absences is None


def test_the_rules_read_only_what_the_close_needs_and_refuse_what_was_not_loaded():
    opened = [MISSED_MARCH, open_escalation(Rule.NOT_VISITED, "2025-Q4")]
    periods = [("month", "2026-03"), ("quarter", "2026-Q1")]
    needs = rules.needs(periods, opened, SETTINGS)
    loaded = replace(facts(meetings=monthly("2026-02")), meeting_months=needs.months,
                     visit_quarters=needs.quarters, absence_cover=needs.absences)
    assert len(rules.month_rules(loaded, "2026-03", MARCH_CLOSE, SETTINGS)) == 1
    assert len(rules.quarter_rules(loaded, "2026-Q1", MARCH_CLOSE)) == 2
    assert rules.resolutions(opened, loaded, MARCH_CLOSE) == []
    with pytest.raises(NotLoaded, match="2026-04"):
        rules.month_rules(loaded, "2026-04", date(2026, 5, 5), SETTINGS)
    with pytest.raises(NotLoaded, match="2025-07"):
        rules.quarter_rules(loaded, "2025-Q3", MARCH_CLOSE)
    with pytest.raises(NotLoaded, match="absences"):
        rules.month_rules(replace(loaded, absence_cover=None), "2026-03", MARCH_CLOSE,
                          SETTINGS)


def test_a_year_counts_the_meetings_of_its_months_make_ups_by_the_month_made_up():
    """What a cell's annual quality counts (`facts.regular_meetings_for`)."""
    held = [meeting("2026-01-05", makes_up="2025-12"), meeting("2026-01-20"),
            meeting("2026-02-10", kind="thematic"), meeting("2026-12-10", kind="combined"),
            meeting("2027-01-04", makes_up="2026-12")]
    assert [m.meeting_id for m in counting_for(held, "2026-01", "2026-12")] == [
        "c-regular-2026-01-20", "c-combined-2026-12-10", "c-regular-2027-01-04"]
