"""The escalation rules as one typed catalogue, and supervision's rules over facts held
in an in-memory SQLite database (the same tables the service keeps): make-up meetings
resolve a missed month as made up and never count for two months; removal-candidate
flags do not climb; reasons and periods read from facts in either language."""

from __future__ import annotations

import re
import uuid
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from chibo.db import create_schema, make_engine, session_factory
from services.shared import escalation_rules
from services.shared.escalation_rules import Period, Resolution, Rule
from services.shared.events.supervision import RULES, catalogue
from services.supervision import closing, read_model, replica, rules
from services.supervision.entrypoints import settings_from
from services.supervision.notify.email import email_body, email_subject
from services.supervision.rules import Settings, climbing_from

# -- the catalogue -----------------------------------------------------------------------


@pytest.mark.parametrize("rule", list(Rule))
def test_every_rule_has_both_labels_a_period_and_a_climbing_default(rule):
    assert rule.label_vi.strip() and rule.label_en.strip()
    assert rule.label("vi") == rule.label_vi and rule.label("en") == rule.label_en
    assert rule.label_vi != rule.label_en
    assert isinstance(rule.period, Period) and isinstance(rule.climbs, bool)


def test_the_event_schema_accepts_exactly_the_catalogues_rules():
    assert set(RULES) == {rule.value for rule in Rule}
    assert len({rule.label_vi for rule in Rule}) == len(Rule)


@pytest.mark.parametrize("rule", list(Rule))
def test_the_email_subject_names_every_rule_in_vietnamese(rule):
    escalation = {"rule": rule.value, "level": 1, "subject_name": "Chi bộ bản Máy",
                  "period": "2026-09" if rule.period is Period.MONTH else (
                      "2026-Q3" if rule.period is Period.QUARTER else "t-1"),
                  "details": {"due_on": "2026-09-20"}}
    subject = email_subject(escalation)
    assert rule.label_vi in subject
    assert rule.value not in subject and rule.value.replace("_", " ") not in subject


def test_an_overdue_task_mail_names_the_rule_and_the_due_date_not_the_task_id():
    escalation = {"escalation_id": "e-1", "rule": "task_overdue", "level": 1,
                  "subject_id": "task-40", "subject_name": "Làm đường liên thôn",
                  "period": "task-40", "raised_on": "2025-02-15",
                  "details": {"due_on": "2025-02-01", "days_overdue": 14}}
    assert email_subject(escalation) == (
        "[chibo] Cảnh báo cấp 1: Nhiệm vụ quá hạn hạn 01/02/2025 – Làm đường liên thôn")
    body = email_body("n-1", escalation)
    assert "Kỳ: hạn 01/02/2025\n" in body
    assert "Lý do: Nhiệm vụ “Làm đường liên thôn” quá hạn 14 ngày (hạn 01/02/2025)" in body
    assert "Ngày phát sinh: 15/02/2025" in body


def test_resolutions_of_the_system_have_labels():
    for resolution in Resolution:
        assert resolution.label_vi and resolution.label_en
    assert escalation_rules.resolution_label("made_up", "vi") == "Đã sinh hoạt bù"
    assert escalation_rules.resolution_label("Đã họp bù ngày 3/4", "en") == "Đã họp bù ngày 3/4"


# -- reasons and periods from facts ------------------------------------------------------

ISO = re.compile(r"\d{4}-\d{2}")


@pytest.mark.parametrize("escalation, vi, en", [
    ({"rule": "missed_regular_meeting", "subject_name": "Chi bộ bản Máy", "period": "2026-09",
      "details": {"months_in_a_row": 2}},
     "Chi bộ bản Máy không sinh hoạt thường kỳ tháng 09/2026 (2 tháng liên tiếp)",
     "Chi bộ bản Máy: no regular meeting in 09/2026 (2 months in a row)"),
    ({"rule": "missed_regular_meeting", "subject_name": "Chi bộ bản Máy", "period": "2026-09",
      "details": {"months_in_a_row": 1}},
     "Chi bộ bản Máy không sinh hoạt thường kỳ tháng 09/2026",
     "Chi bộ bản Máy: no regular meeting in 09/2026"),
    ({"rule": "no_thematic_meeting", "subject_name": "Chi bộ bản Ngàm", "period": "2026-Q3",
      "details": {}},
     "Chi bộ bản Ngàm không sinh hoạt chuyên đề trong quý III/2026",
     "Chi bộ bản Ngàm: no thematic meeting in Q3 2026"),
    ({"rule": "not_visited", "subject_name": "Chi bộ bản Ngàm", "period": "2026-Q3",
      "details": {}},
     "Không có cấp ủy viên cấp trên dự sinh hoạt Chi bộ bản Ngàm trong quý III/2026",
     "No member of a higher committee attended a meeting of Chi bộ bản Ngàm in Q3 2026"),
    ({"rule": "task_overdue", "subject_name": "Sửa đường", "period": "t-9",
      "details": {"due_on": "2026-02-01", "days_overdue": 20}},
     "Nhiệm vụ “Sửa đường” quá hạn 20 ngày (hạn 01/02/2026)",
     "Task “Sửa đường” is overdue by 20 days (due 01/02/2026)"),
    ({"rule": "removal_candidate", "subject_name": "Lò Văn Hùng", "period": "2026-03",
      "details": {"months": 3, "window_months": 12}},
     "Lò Văn Hùng vắng sinh hoạt không lý do hoặc không đóng đảng phí 3 tháng trong 12 "
     "tháng: đề nghị chi bộ xem xét xóa tên",
     "Lò Văn Hùng was absent without reason or did not pay dues in 3 of 12 months: for "
     "the cell to consider removal from the rolls"),
])
def test_a_reason_reads_in_the_readers_language_with_dates_as_users_write_them(
        escalation, vi, en):
    assert escalation_rules.reason(escalation, "vi") == vi
    assert escalation_rules.reason(escalation, "en") == en
    for text in (vi, en):
        assert not ISO.search(text)


def test_periods_for_people():
    assert escalation_rules.period_label({"rule": "missed_regular_meeting",
                                          "period": "2026-09"}) == "09/2026"
    assert escalation_rules.period_label({"rule": "not_visited", "period": "2026-Q3"}) \
        == "Quý III/2026"
    assert escalation_rules.period_label({"rule": "not_visited", "period": "2026-Q3"},
                                         "en") == "Q3 2026"
    task = {"rule": "task_overdue", "period": "task-40", "details": {"due_on": "2025-02-01"}}
    assert escalation_rules.period_label(task) == "Hạn 01/02/2025"
    assert escalation_rules.period_label(task, "en") == "Due 01/02/2025"


def test_an_escalation_logged_with_prose_is_read_from_the_facts_it_held():
    """Version 1 of escalation_raised carried a mixed-language reason: the upcaster
    recovers the facts, and nothing of the old prose is shown."""
    v1 = {"escalation_id": "e", "rule": "task_overdue", "level": 1, "target_unit_id": "x",
          "target_name": "Xã", "subject_id": "task-40", "subject_name": "Làm đường",
          "cell_id": "c", "period": "task-40", "evidence": [], "raised_on": "2025-02-15",
          "closed_period": "2025-02-15",
          "reason": "Nhiệm vụ quá hạn 14 ngày: Làm đường — task overdue since 2025-02-01"}
    version, data = catalogue.upcast("escalation_raised", 1, v1)
    assert version == 2 and "reason" not in data
    assert data["details"] == {"due_on": "2025-02-01", "days_overdue": 14}
    assert catalogue.validate("escalation_raised", data)["details"] == data["details"]
    missed = {**v1, "rule": "missed_regular_meeting", "level": 2, "period": "2025-03",
              "reason": "Chi bộ không sinh hoạt thường kỳ tháng 03/2025 (2 tháng liên tiếp)"
                        " — no regular meeting in 2025-03 (2 month(s) in a row)"}
    assert catalogue.upcast("escalation_raised", 1, missed)[1]["details"] == {
        "months_in_a_row": 2}
    moved = {"escalation_id": "e", "level": 2, "target_unit_id": "h", "target_name": "H",
             "on": "2025-04-20", "reason": "Chưa được tiếp nhận sau 7 ngày — unacknowledged"}
    assert catalogue.upcast("escalation_reescalated", 1, moved)[1] == {
        "escalation_id": "e", "level": 2, "target_unit_id": "h", "target_name": "H",
        "on": "2025-04-20", "unacknowledged_days": 7}


# -- climbing ---------------------------------------------------------------------------


def test_climbing_is_configured_per_rule_over_the_catalogues_defaults():
    assert Settings().climbs("missed_regular_meeting")
    assert not Settings().climbs("removal_candidate")
    assert climbing_from({"removal_candidate": {"climbs": True},
                          "task_overdue": {"climbs": "false"}}) == frozenset(
        {"missed_regular_meeting", "no_thematic_meeting", "not_visited", "removal_candidate"})
    with pytest.raises(ValueError, match="no rule 'overdue_tasks'"):
        climbing_from({"overdue_tasks": {"climbs": False}})
    with pytest.raises(ValueError, match="removal_candidate.climbs"):
        climbing_from({"removal_candidate": {"climbs": "sometimes"}})


def test_the_shipped_configuration_keeps_removal_flags_where_they_are_raised():
    from chibo import settings as config_files
    from services.app import CONFIG_DIR

    for name in ("embedded.yaml", "distributed.yaml"):
        loaded = settings_from(config_files.load(CONFIG_DIR / name))
        assert loaded.climbing == frozenset(
            {"missed_regular_meeting", "no_thematic_meeting", "not_visited", "task_overdue"})


# -- rules over facts ---------------------------------------------------------------------


class World:
    """Supervision's facts and book in an in-memory database, fed as its feed feeds them."""

    def __init__(self) -> None:
        self.engine = make_engine("sqlite://")
        create_schema(self.engine, replica.metadata, read_model.metadata)
        self.session = session_factory(self.engine)()
        self.positions = {"members": 0, "meetings": 0}
        self.close_position = 0
        for unit_id, name, kind, parent in (
                ("p", "Tỉnh ủy Mẫu", "province", None),
                ("h", "Huyện ủy Mẫu", "committee", "p"),
                ("x", "Đảng ủy xã Mẫu", "committee", "h"),
                ("c", "Chi bộ bản Máy", "cell", "x")):
            self.add("members", "unit_established", unit_id=unit_id, name=name, kind=kind,
                     parent_id=parent, effective_date="2020-01-01")

    def add(self, source: str, type_: str, **data: Any) -> None:
        self.positions[source] += 1
        replica.apply(self.session, {"source": source, "type": type_, "data": data,
                                   "position": self.positions[source],
                                   "event_id": str(uuid.uuid4())})

    def meeting(self, meeting_id: str, held_on: str, kind: str = "regular",
                makes_up_month: str | None = None, absent: tuple[str, ...] = ()) -> None:
        self.add("meetings", "meeting_held", meeting_id=meeting_id, cell_id="c", kind=kind,
                 held_on=held_on, self_score=None, makes_up_month=makes_up_month,
                 attendance=[{"member_id": m, "full_name": f"Đảng viên {m}",
                              "status": "absent_unexcused"} for m in absent])

    def close(self, day: date, settings: Settings) -> list[SimpleNamespace]:
        """Close `day` as the service does: decide, then index what was decided."""
        self.close_position += 1
        appends = closing.decide(self.session, day, dict(self.positions),
                                 self.close_position, settings)
        decided = [SimpleNamespace(type=e.type, data=e.data, position=self.close_position)
                   for a in appends for e in a.events]
        read_model.index(self.session, decided)
        return decided

    def escalations(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        return {(e["rule"], e["subject_id"], e["period"]): e for e in (
            read_model.escalation_view(r) for r in self.session.execute(
                read_model.escalations.select()))}


SETTINGS = Settings(grace_days=5, reescalate_after_days=7, start_date=date(2026, 1, 1))


@pytest.fixture
def world():
    made = World()
    made.meeting("jan", "2026-01-10")
    made.meeting("feb", "2026-02-10")
    yield made
    made.session.close()
    made.engine.dispose()


def test_a_make_up_meeting_resolves_the_missed_month_as_made_up(world):
    world.close(date(2026, 4, 5), SETTINGS)  # March closes: no meeting
    missed = world.escalations()[("missed_regular_meeting", "c", "2026-03")]
    assert missed["state"] == "raised"
    assert missed["details"] == {"months_in_a_row": 1}
    assert missed["reason"] == "Chi bộ bản Máy không sinh hoạt thường kỳ tháng 03/2026"
    world.meeting("bu-03", "2026-04-08", makes_up_month="2026-03")
    [resolved] = [e for e in world.close(date(2026, 4, 8), SETTINGS)
                  if e.type == "escalation_resolved"]
    assert resolved.data["how"] == "made_up" and resolved.data["by"] is None
    assert world.escalations()[("missed_regular_meeting", "c", "2026-03")]["state"] == \
        "resolved"


def test_a_meeting_dated_in_the_month_and_recorded_late_resolves_it_as_before(world):
    world.close(date(2026, 4, 5), SETTINGS)
    world.meeting("mar", "2026-03-28")
    [resolved] = [e for e in world.close(date(2026, 4, 6), SETTINGS)
                  if e.type == "escalation_resolved"]
    assert resolved.data["how"] == Resolution.MEETING_RECORDED_LATE == "make_up_meeting"


def test_a_make_up_never_counts_for_the_month_it_was_held_in(world):
    world.meeting("bu-03", "2026-04-02", makes_up_month="2026-03")
    world.close(date(2026, 4, 5), SETTINGS)  # March made up before its close: nothing raised
    assert ("missed_regular_meeting", "c", "2026-03") not in world.escalations()
    world.close(date(2026, 5, 5), SETTINGS)  # April: its only meeting was March's make-up
    april = world.escalations()[("missed_regular_meeting", "c", "2026-04")]
    assert april["raised_level"] == 1  # March was held (late): not two months in a row


def test_a_make_up_meeting_breaks_the_ladder(world):
    world.close(date(2026, 4, 5), SETTINGS)
    world.meeting("bu-03", "2026-04-20", makes_up_month="2026-03")
    world.close(date(2026, 5, 5), SETTINGS)
    assert world.escalations()[("missed_regular_meeting", "c", "2026-04")]["raised_level"] == 1


def test_missed_months_in_a_row_climb_unless_the_rule_is_configured_not_to(world):
    world.close(date(2026, 4, 5), SETTINGS)
    world.close(date(2026, 5, 5), SETTINGS)
    april = world.escalations()[("missed_regular_meeting", "c", "2026-04")]
    assert (april["raised_level"], april["target_unit_id"]) == (2, "h")
    assert april["details"] == {"months_in_a_row": 2}
    flat = World()
    flat.meeting("feb", "2026-02-10")
    still = Settings(**{**SETTINGS.__dict__, "climbing": frozenset()})
    flat.close(date(2026, 4, 5), still)
    flat.close(date(2026, 5, 5), still)
    april = flat.escalations()[("missed_regular_meeting", "c", "2026-04")]
    assert (april["raised_level"], april["target_unit_id"]) == (1, "x")


def removal_flag(world: World) -> dict[str, Any]:
    for month, day in (("01", "2026-01-20"), ("02", "2026-02-20"), ("03", "2026-03-10")):
        world.meeting(f"absent-{month}", day, absent=("m-1",))
    world.close(date(2026, 4, 5), SETTINGS)
    return world.escalations()[("removal_candidate", "m-1", "2026-03")]


def test_an_unacknowledged_removal_flag_stays_with_the_committee_above_the_cell(world):
    flag = removal_flag(world)
    assert (flag["level"], flag["target_unit_id"]) == (1, "x")
    assert flag["details"] == {"months": 3, "window_months": 12}
    for day in (date(2026, 4, 20), date(2026, 5, 20), date(2026, 6, 20)):
        moved = [e for e in world.close(day, SETTINGS) if e.type == "escalation_reescalated"
                 and e.data["escalation_id"] == flag["escalation_id"]]
        assert moved == []
    after = world.escalations()[("removal_candidate", "m-1", "2026-03")]
    assert (after["level"], after["target_unit_id"], after["state"]) == (1, "x", "raised")


def test_a_removal_flag_climbs_only_when_configured_to(world):
    flag = removal_flag(world)
    climbing = Settings(**{**SETTINGS.__dict__,
                           "climbing": climbing_from({"removal_candidate": {"climbs": True}})})
    [moved] = [e for e in world.close(date(2026, 4, 20), climbing)
               if e.type == "escalation_reescalated"
               and e.data["escalation_id"] == flag["escalation_id"]]
    assert (moved.data["level"], moved.data["target_unit_id"]) == (2, "h")
    assert moved.data["unacknowledged_days"] == 7


def test_other_rules_still_climb_when_left_unacknowledged(world):
    world.close(date(2026, 4, 5), SETTINGS)  # March, and the first quarter, close
    raised = {e["rule"]: e["escalation_id"] for e in world.escalations().values()}
    assert set(raised) == {"missed_regular_meeting", "no_thematic_meeting", "not_visited"}
    moved = {e.data["escalation_id"]: e.data for e in world.close(date(2026, 4, 20), SETTINGS)
             if e.type == "escalation_reescalated"}
    assert set(moved) == set(raised.values())
    for data in moved.values():
        assert (data["level"], data["target_unit_id"]) == (2, "h")
        assert catalogue.validate("escalation_reescalated", data)


def test_what_the_close_decides_fits_the_event_schema(world):
    world.meeting("bu-03", "2026-04-08", makes_up_month="2026-03")
    for event in world.close(date(2026, 4, 5), SETTINGS):
        catalogue.validate(event.type, event.data)
    decided = rules.month_rules(replica.Facts(world.session, world.positions), "2026-04",
                                date(2026, 5, 5), SETTINGS)
    assert [d["rule"] for d in decided] == ["missed_regular_meeting"]
    assert "reason" not in decided[0]
    catalogue.validate("escalation_raised", {**decided[0], "closed_period": "2026-05-05"})
