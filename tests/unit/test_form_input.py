"""The forms' reading of what people type (services/reporting/form_input.py): dates as
DD/MM/YYYY, times, months, whole forms into command bodies, and the services' problems
mapped back to the form's fields in Vietnamese."""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.datastructures import MultiDict

from services.reporting import form_input as fi
from services.reporting.form_input import GENERAL, FormRejected, Problems


@pytest.mark.parametrize("typed, expected", [
    ("05/06/2026", date(2026, 6, 5)), ("5/6/2026", date(2026, 6, 5)),
    (" 05.06.2026 ", date(2026, 6, 5)), ("05-06-2026", date(2026, 6, 5)),
    ("2026-06-05", date(2026, 6, 5)), ("29/02/2024", date(2024, 2, 29)),
])
def test_dates_are_read_day_first(typed, expected):
    problems = Problems()
    assert fi.parse_date(typed, "held_on", problems) == expected
    assert not problems


@pytest.mark.parametrize("typed, said", [
    ("31/02/2026", "Không có ngày 31/02/2026"), ("29/02/2025", "Không có ngày 29/02/2025"),
    ("06/05", "ngày/tháng/năm (DD/MM/YYYY)"), ("hôm qua", "ngày/tháng/năm"),
    ("05/06/26", "DD/MM/YYYY"), ("01/01/1800", "Năm phải từ 1900 đến 2200"),
    ("", "Hãy nhập ngày"),
])
def test_a_wrong_date_says_so_in_vietnamese_under_its_field(typed, said):
    problems = Problems()
    assert fi.parse_date(typed, "held_on", problems) is None
    assert said in " ".join(problems.fields["held_on"])


def test_an_optional_date_may_be_blank_and_dates_are_shown_day_first():
    problems = Problems()
    assert fi.parse_date("  ", "materials_sent_on", problems, required=False) is None
    assert not problems
    assert fi.show_date("2026-06-05") == fi.show_date(date(2026, 6, 5)) == "05/06/2026"
    assert fi.show_date(None) == ""


@pytest.mark.parametrize("typed, expected", [("19:30", "19:30"), ("7:05", "07:05"),
                                             ("19h30", "19:30"), ("", None)])
def test_times(typed, expected):
    problems = Problems()
    assert fi.parse_time(typed, "started_at", problems) == expected
    assert not problems


@pytest.mark.parametrize("typed", ["24:00", "19:60", "7 giờ", "1930"])
def test_a_wrong_time(typed):
    problems = Problems()
    assert fi.parse_time(typed, "started_at", problems) is None
    assert problems.fields["started_at"] == [fi.MSG_TIME_FORMAT]


def test_months():
    problems = Problems()
    assert fi.parse_month("04/2026", "makes_up_month", problems) == "2026-04"
    assert fi.parse_month("4/2026", "makes_up_month", problems) == "2026-04"
    assert fi.parse_month("", "makes_up_month", problems) is None
    assert not problems
    assert fi.parse_month("13/2026", "makes_up_month", problems) is None
    assert problems.fields["makes_up_month"] == [fi.MSG_MONTH_FORMAT]
    assert fi.show_month("2026-04") == "04/2026"


ROLL = {"must_attend": [{"member_id": "a", "full_name": "An", "status": "full"},
                        {"member_id": "b", "full_name": "Bình", "status": "full"},
                        {"member_id": "c", "full_name": "Chi", "status": "probationary"}],
        "excused": [{"member_id": "d", "full_name": "Dũng", "status": "full",
                     "standing": "exempt", "reason": "Tuổi cao"}]}


def test_the_roll_becomes_rows_the_excused_locked_and_eligible_voters_counted():
    lines = fi.roll_lines(ROLL)
    assert [(line.member_id, line.locked) for line in lines] == [
        ("a", False), ("b", False), ("c", False), ("d", True)]
    assert lines[-1].standing == "exempt" and lines[-1].reason == "Tuổi cao"
    assert fi.eligible_voters(ROLL) == 2  # full members due to attend


def _meeting_form(**extra: str) -> MultiDict:
    form = MultiDict({"held_on": "05/06/2026", "started_at": "19:30", "ended_at": "21:30",
                      "status.a": "present", "status.b": "absent_excused", "reason.b": "Ốm",
                      "status.c": "absent_unexcused", "agenda": "Một\n\n Hai ",
                      "dues_collected": "yes", **extra})
    form.add("speakers", "a")
    form.add("speakers", "c")
    return form


def test_a_meeting_form_becomes_the_record_command():
    parsed = fi.meeting_held_command(_meeting_form(), "c1", fi.roll_lines(ROLL),
                                     ["preparation", "conduct"])
    body = parsed.payload
    assert body["held_on"] == "2026-06-05" and body["started_at"] == "19:30"
    assert body["attendance"] == [
        {"member_id": "a", "status": "present", "reason": None},
        {"member_id": "b", "status": "absent_excused", "reason": "Ốm"},
        {"member_id": "c", "status": "absent_unexcused", "reason": None}]
    assert body["agenda"] == ["Một", "Hai"] and body["speakers"] == ["a", "c"]
    assert body["dues_collected"] is True and body["scores"] is None
    # The service's problems on its third line land on that member's row.
    assert parsed.places["attendance.1.reason"] == "reason.b"


def test_a_meeting_form_with_problems_is_refused_whole():
    form = _meeting_form(**{"held_on": "31/02/2026", "ended_at": "25:00", "reason.b": "",
                            "score.preparation": "12", "makes_up_month": "xx"})
    form.pop("status.c")
    with pytest.raises(FormRejected) as refused:
        fi.meeting_held_command(form, "c1", fi.roll_lines(ROLL), ["preparation", "conduct"])
    fields = refused.value.fields
    assert set(fields) == {"held_on", "ended_at", "reason.b", "status.c", "score.conduct",
                           "makes_up_month"}
    assert fields["reason.b"] == [fi.MSG_REASON]


def test_a_resolution_form_leaves_blank_task_rows_out():
    form = MultiDict({"title": "Nghị quyết tháng 6", "in_favour": "10", "against": "0",
                      "abstaining": "1", "task_title.0": "Sửa đường", "task_assignee.0": "a",
                      "task_due.0": "30/06/2026", "task_title.2": "Quỹ", "task_due.2": "1/7/2026"})
    parsed = fi.resolution_command(form, "m1")
    assert parsed.payload["vote"] == {"in_favour": 10, "against": 0, "abstaining": 1}
    assert parsed.payload["tasks"] == [
        {"title": "Sửa đường", "assignee_id": "a", "due_on": "2026-06-30"},
        {"title": "Quỹ", "assignee_id": None, "due_on": "2026-07-01"}]
    assert parsed.places["tasks.1.due_on"] == "task_due.2"  # the second task is row 3
    with pytest.raises(FormRejected) as refused:
        fi.resolution_command(MultiDict({"in_favour": "x", "task_due.1": "30/06/2026"}), "m1")
    assert set(refused.value.fields) == {"title", "in_favour", "against", "abstaining",
                                         "task_title.1"}


def test_a_visit_confirms_or_changes_the_score():
    confirmed = fi.visit_command(MultiDict({"visited_on": "12/06/2026", "meeting_id": "m1",
                                            "score_choice": "confirm"}), "c1", ["a", "b"])
    assert confirmed.payload["confirm_score"] is True
    assert confirmed.payload["changed_scores"] is None
    changed = fi.visit_command(MultiDict({"visited_on": "12/06/2026", "meeting_id": "m1",
                                          "score_choice": "change", "score.a": "5",
                                          "score.b": "7"}), "c1", ["a", "b"])
    assert changed.payload["changed_scores"] == {"a": 5, "b": 7}
    assert changed.payload["confirm_score"] is False


def test_a_correction_sends_only_what_changed_and_needs_a_reason():
    recorded = {"place": "Nhà văn hóa", "started_at": "19:30", "ended_at": "21:00",
                "agenda": ["Một"], "topic": None}
    form = MultiDict({"place": "Hội trường xã", "started_at": "19:30", "ended_at": "21:00",
                      "agenda": "Một", "reason": "Ghi nhầm địa điểm"})
    assert fi.correction_command(form, "m1", recorded) == {
        "meeting_id": "m1", "changes": {"place": "Hội trường xã"},
        "reason": "Ghi nhầm địa điểm"}
    same = MultiDict({"place": "Nhà văn hóa", "started_at": "19:30", "ended_at": "21:00",
                      "agenda": "Một"})
    with pytest.raises(FormRejected) as refused:
        fi.correction_command(same, "m1", recorded)
    assert set(refused.value.fields) == {"reason", GENERAL}


def test_task_progress_and_completion():
    assert fi.task_command(MultiDict({"note": "Đã làm nửa"}), "t1") == (
        "note_task_progress", {"task_id": "t1", "note": "Đã làm nửa"})
    assert fi.task_command(MultiDict({"action": "complete", "result": "Xong",
                                      "completed_on": "20/06/2026"}), "t1") == (
        "complete_task", {"task_id": "t1", "result": "Xong", "completed_on": "2026-06-20"})


def test_the_services_problems_are_mapped_to_the_forms_fields_in_vietnamese():
    places = {"attendance.3.reason": "reason.m4", "attendance.3.member_id": "status.m4",
              "tasks.0.due_on": "task_due.0", "scores.conduct": "score.conduct"}
    shown = fi.form_errors({
        "attendance": {3: {"reason": ["An excused absence needs its reason."]}},
        "tasks.0.due_on": ["Due before the meeting that assigned it."],
        "scores.conduct": ["Must be between 0 and 45."],
        "held_on": ["A meeting dated in the future cannot be held."],
        "chair_id": ["Not a member of this cell."],
        "vote": ["Something new the service says."],
    }, places, known=("held_on", "chair_id"))
    assert shown == {
        "reason.m4": ["Vắng có lý do: hãy ghi lý do."],
        "task_due.0": ["Hạn hoàn thành không được trước ngày họp giao nhiệm vụ."],
        "score.conduct": ["Phải từ 0 đến 45 điểm."],
        "held_on": ["Không thể ghi buổi sinh hoạt vào ngày chưa đến."],
        "chair_id": ["Không phải đảng viên của chi bộ."],
        GENERAL: ["Không hợp lệ (Something new the service says.)"],
    }


def test_nested_paths_fall_back_to_the_nearest_field_the_form_names():
    shown = fi.form_errors({"attendance.2.dues_paid": ["Not a valid boolean."]},
                           {"attendance.2": "status.m3"})
    assert list(shown) == ["status.m3"]
    assert fi.flatten({"vote": {"in_favour": ["Missing data for required field."]}}) == {
        "vote.in_favour": ["Missing data for required field."]}


@pytest.mark.parametrize("english, vietnamese", [
    ("Missing data for required field.", fi.MSG_REQUIRED),
    ("Expected a date as YYYY-MM-DD.", fi.MSG_DATE_FORMAT),
    ("Every member must be listed; missing: c1-04, c1-05.",
     "Phải ghi đủ mọi đảng viên phải dự; còn thiếu: c1-04, c1-05."),
    ("More votes than the 13 members eligible to vote.",
     "Số phiếu nhiều hơn 13 đảng viên có quyền biểu quyết."),
    ("Not adopted: 5 of 13 eligible members in favour; more than half are needed.",
     "Chưa được thông qua: 5/13 đảng viên có quyền biểu quyết tán thành; cần quá nửa."),
    ("Đã có lỗi tiếng Việt.", "Đã có lỗi tiếng Việt."),
])
def test_messages(english, vietnamese):
    assert fi.vietnamese(english) == vietnamese


def test_a_refusal_that_came_over_rpc_is_shown_by_field():
    """The fields of a ValidationFailed as they cross RPC (chibo.nameko.remote_errors:
    JSON, so a list index is text) land beside the form's own fields."""
    import json

    from nameko.exceptions import deserialize

    from chibo.errors import ValidationFailed, from_remote
    from chibo.nameko.remote_errors import serialize_error

    sent = ValidationFailed({
        "attendance": {3: {"reason": ["An excused absence needs its reason."]}},
        "held_on": ["A meeting dated in the future cannot be held."],
        "vote": {"in_favour": ["Missing data for required field."]}})
    raised = deserialize(json.loads(json.dumps(serialize_error(sent))))
    error = from_remote(raised.exc_type, raised.value, raised.details)
    assert isinstance(error, ValidationFailed)
    places = {"attendance.3.reason": "reason.m4", "vote.in_favour": "in_favour"}
    assert fi.form_errors(error.fields, places, known=("held_on",)) == {
        "reason.m4": [fi.MSG_REASON],
        "held_on": ["Không thể ghi buổi sinh hoạt vào ngày chưa đến."],
        "in_favour": [fi.MSG_REQUIRED]}


def test_a_sixty_member_roll_renders_one_row_each_with_labels():
    from services.reporting.entry_forms import FORM_URLS
    from services.reporting.web import render

    roll = {"must_attend": [{"member_id": f"m{n:02d}", "full_name": f"Đảng viên {n:02d}",
                             "status": "full"} for n in range(59)],
            "excused": [{"member_id": "m59", "full_name": "Đảng viên 59", "status": "full",
                         "standing": "working_away", "reason": "Làm ăn xa"}]}
    html = render.render_html(
        "form_meeting.html", "vi", lambda **_: "/", cell={"unit_id": "c1", "name": "Chi bộ 1"},
        roll_day=date(2026, 6, 5), lines=fi.roll_lines(roll), criteria=[], sheet_version=1,
        kinds=("regular",), eligible=59, errors={}, values={}, command_id="form-x",
        form_urls=FORM_URLS, general=GENERAL, show_date=fi.show_date,
        show_month=fi.show_month, saved=None)
    assert html.count('class="roll-row') == 60
    assert html.count('<legend class="roll-name">') == 59  # each choice named by the member
    assert 'data-testid="locked-m59"' in html and "Đi công tác, làm ăn xa: Làm ăn xa" in html
    assert 'name="command_id" value="form-x"' in html
