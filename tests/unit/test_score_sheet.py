"""Meeting quality score sheets: configuration, versioned by the day they take effect.

The default sheet is DOMAIN.md's 100-point example (preparation 15, attendance 20,
conduct 45, closing 20; Tốt ≥ 90, Khá 70–89, Trung bình 50–69, Kém < 50). A
province's own sheet is a YAML file; a new version applies to meetings held on or
after its effective date and never re-scores the past.
"""

from __future__ import annotations

import textwrap
from datetime import date
from pathlib import Path

import pytest

from chibo.contracts import load_command
from chibo.errors import ValidationFailed
from chibo.eventstore.store import RecordedEvent
from services.meetings import domain
from services.meetings.commands import RecordMeetingHeld
from services.shared.events.meetings import QUALITY_LEVELS, catalogue
from services.shared.score_sheet import SHEETS_FILE, ScoreSheet, load_sheets, sheet_for

CELL = {"unit_id": "cb-1", "name": "Chi bộ Bản Máy", "kind": "cell", "meets": True,
        "active": True}
ROLL = {"must_attend": [{"member_id": "dv-1", "full_name": "Hà Văn Bình", "status": "full",
                         "attends": "home"}], "excused": []}

# Written newest first: the order in the file does not matter.
TWO_VERSIONS = textwrap.dedent("""\
    - version: 2
      effective_from: 2025-07-01
      criteria:
        attendance: {label_vi: Tham dự, max: 20}
        preparation: {label_vi: Chuẩn bị, max: 20}
        conduct: {label_vi: Tiến hành sinh hoạt, max: 30}
        principles: {label_vi: Chấp hành nguyên tắc, max: 15}
        results: {label_vi: Kết quả thực hiện nghị quyết, max: 15}
      levels:
        - {level: poor, label_vi: Kém, min: 0}
        - {level: good, label_vi: Tốt, min: 95}
        - {level: average, label_vi: Trung bình, min: 60}
        - {level: fair, label_vi: Khá, min: 80}
    - version: 1
      effective_from: 2018-01-01
      criteria:
        preparation: {label_vi: Chuẩn bị, max: 15}
        attendance: {label_vi: Tham dự, max: 20}
        conduct: {label_vi: Tiến hành sinh hoạt, max: 45}
        closing: {label_vi: Kết thúc sinh hoạt, max: 20}
      levels:
        - {level: good, label_vi: Tốt, min: 90}
        - {level: fair, label_vi: Khá, min: 70}
        - {level: average, label_vi: Trung bình, min: 50}
        - {level: poor, label_vi: Kém, min: 0}
    """)
V1_POINTS_90 = {"preparation": 15, "attendance": 20, "conduct": 40, "closing": 15}
V2_POINTS_90 = {"attendance": 20, "preparation": 20, "conduct": 25, "principles": 15,
                "results": 10}


@pytest.fixture
def sheets(tmp_path: Path) -> list[ScoreSheet]:
    path = tmp_path / "score_sheet.yaml"
    path.write_text(TWO_VERSIONS, encoding="utf-8")
    return load_sheets(path)


@pytest.fixture
def default() -> ScoreSheet:
    [sheet] = load_sheets(SHEETS_FILE)
    return sheet


def held(held_on: str, scores: dict[str, int], sheets: list[ScoreSheet]) -> dict:
    """A meeting recorded with its self-score on the sheet in force that day."""
    cmd = load_command(RecordMeetingHeld(), {
        "meeting_id": f"m-{held_on}", "cell_id": "cb-1", "held_on": held_on,
        "attendance": [{"member_id": "dv-1", "status": "present"}], "scores": scores})
    [event] = domain.record_held([], cmd, CELL, ROLL, date(2025, 12, 31),
                                 sheet=sheet_for(cmd["held_on"], sheets))
    return catalogue.validate(event.type, event.data)["self_score"]


# --------------------------------------------------------------------------- the default sheet


def test_the_default_sheet_is_the_one_of_domain_md(default):
    assert default.version == 1
    assert {name: spec["max"] for name, spec in default.criteria.items()} == {
        "preparation": 15, "attendance": 20, "conduct": 45, "closing": 20}
    assert sum(spec["max"] for spec in default.criteria.values()) == 100
    assert [(lv["level"], lv["label_vi"], lv["min"]) for lv in default.levels] == [
        ("good", "Tốt", 90), ("fair", "Khá", 70), ("average", "Trung bình", 50),
        ("poor", "Kém", 0)]
    assert tuple(lv["level"] for lv in default.levels) == QUALITY_LEVELS


def test_the_default_sheet_labels_its_criteria_in_vietnamese(default):
    assert {name: spec["label_vi"] for name, spec in default.criteria.items()} == {
        "preparation": "Chuẩn bị", "attendance": "Tham dự", "conduct": "Tiến hành sinh hoạt",
        "closing": "Kết thúc sinh hoạt"}


@pytest.mark.parametrize("points,total,level", [
    ({"preparation": 15, "attendance": 20, "conduct": 45, "closing": 20}, 100, "good"),
    ({"preparation": 15, "attendance": 20, "conduct": 40, "closing": 15}, 90, "good"),
    ({"preparation": 14, "attendance": 20, "conduct": 40, "closing": 15}, 89, "fair"),
    ({"preparation": 10, "attendance": 15, "conduct": 30, "closing": 15}, 70, "fair"),
    ({"preparation": 10, "attendance": 15, "conduct": 30, "closing": 14}, 69, "average"),
    ({"preparation": 5, "attendance": 10, "conduct": 25, "closing": 10}, 50, "average"),
    ({"preparation": 5, "attendance": 10, "conduct": 24, "closing": 10}, 49, "poor"),
    ({"preparation": 0, "attendance": 0, "conduct": 0, "closing": 0}, 0, "poor"),
])
def test_the_default_levels_at_their_thresholds(default, points, total, level):
    assert default.score(points) == {"sheet_version": 1, "points": points, "total": total,
                                     "level": level}


def test_the_default_sheet_applies_to_meetings_from_2018(default):
    assert sheet_for(date(2018, 1, 1), [default]) is default
    assert sheet_for(date(2030, 6, 1), [default]) is default
    with pytest.raises(ValidationFailed) as excinfo:
        sheet_for(date(2017, 12, 31), [default])
    assert set(excinfo.value.fields) == {"held_on"}


def test_points_are_checked_against_the_sheet(default):
    with pytest.raises(ValidationFailed) as excinfo:
        default.score({"preparation": 16, "attendance": -1, "conduct": 45, "extra": 1})
    assert set(excinfo.value.fields) == {"scores.preparation", "scores.attendance",
                                         "scores.closing", "scores.extra"}
    assert "15" in excinfo.value.fields["scores.preparation"][0]
    assert "preparation" in excinfo.value.fields["scores.extra"][0]


# --------------------------------------------------------------------------- versions


def test_versions_are_loaded_in_effective_order_with_levels_highest_first(sheets):
    assert [(s.version, s.effective_from) for s in sheets] == [
        (1, date(2018, 1, 1)), (2, date(2025, 7, 1))]
    assert [lv["min"] for lv in sheets[1].levels] == [95, 80, 60, 0]


@pytest.mark.parametrize("day,version", [
    (date(2018, 1, 1), 1), (date(2025, 6, 30), 1), (date(2025, 7, 1), 2),
    (date(2026, 1, 1), 2)])
def test_sheet_for_picks_the_version_in_force_that_day(sheets, day, version):
    assert sheet_for(day, sheets).version == version


def test_no_sheet_before_the_first_version(sheets):
    with pytest.raises(ValidationFailed) as excinfo:
        sheet_for(date(2017, 12, 31), sheets)
    assert set(excinfo.value.fields) == {"held_on"}


def test_each_version_scores_on_its_own_criteria_and_levels(sheets):
    v1, v2 = sheets
    assert v2.score(V2_POINTS_90) == {"sheet_version": 2, "points": V2_POINTS_90,
                                      "total": 90, "level": "fair"}
    assert v1.score(V1_POINTS_90)["level"] == "good"
    with pytest.raises(ValidationFailed) as excinfo:
        v2.score(V1_POINTS_90)
    # closing is not a v2 criterion, principles and results are missing, and conduct
    # is out of v2's range (at most 30)
    assert set(excinfo.value.fields) == {"scores.closing", "scores.principles",
                                         "scores.results", "scores.conduct"}


def test_a_new_version_does_not_change_the_level_of_an_earlier_meeting(tmp_path, sheets):
    # Recorded while only version 1 existed.
    only_v1 = tmp_path / "v1.yaml"
    only_v1.write_text(TWO_VERSIONS[TWO_VERSIONS.index("- version: 1"):], encoding="utf-8")
    before = held("2025-06-20", V1_POINTS_90, load_sheets(only_v1))
    assert before == {"sheet_version": 1, "points": V1_POINTS_90, "total": 90,
                      "level": "good"}
    # Version 2 takes effect on 01/07/2025: the June meeting is scored as before ...
    assert held("2025-06-20", V1_POINTS_90, sheets) == before
    # ... and only meetings from July on are scored on the new sheet.
    after = held("2025-07-10", V2_POINTS_90, sheets)
    assert (after["sheet_version"], after["total"], after["level"]) == (2, 90, "fair")
    with pytest.raises(ValidationFailed):
        held("2025-07-10", V1_POINTS_90, sheets)


def test_a_meeting_state_keeps_the_level_it_was_recorded_with(sheets):
    cmd = load_command(RecordMeetingHeld(), {
        "meeting_id": "m-1", "cell_id": "cb-1", "held_on": "2025-06-20",
        "attendance": [{"member_id": "dv-1", "status": "present"}], "scores": V1_POINTS_90})
    [event] = domain.record_held([], cmd, CELL, ROLL, date(2025, 12, 31),
                                 sheet=sheet_for(cmd["held_on"], sheets))
    stored = RecordedEvent(1, "evt-1", "meeting-m-1", 1, event.type, 1,
                           catalogue.validate(event.type, event.data), {}, "2025-06-20", "0")
    # reading it back long after version 2 took effect changes nothing
    state = domain.meeting_state([stored])
    assert (state["self_score"]["sheet_version"], state["self_score"]["level"]) == (1, "good")
