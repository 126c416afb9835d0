"""A member's standing through time, and the roll of a cell's meeting.

Members are folded from events in their stored form (dates as ISO text), as both
the members service and meetings' replica fold them.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from services.shared.membership import Member, add_months, fold, roll


def ev(event_type: str, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(type=event_type, data=data)


def admitted(member_id: str, cell_id: str = "cb-1", on: str = "2020-01-01",
             name: str | None = None) -> SimpleNamespace:
    return ev("member_admitted", member_id=member_id, full_name=name or f"Đảng viên {member_id}",
              cell_id=cell_id, admitted_on=on, member_code=None, gender=None)


def confirmed(member_id: str, on: str = "2021-01-01") -> SimpleNamespace:
    return ev("member_confirmed", member_id=member_id, effective_date=on)


def members(*events: SimpleNamespace) -> list[Member]:
    return list(fold(events).values())


def who(entries: list[dict[str, Any]]) -> list[str]:
    return [e["member_id"] for e in entries]


def on(day: str) -> date:
    return date.fromisoformat(day)


# --------------------------------------------------------------------------- fold


def test_fold_builds_each_member_from_their_events_only():
    folded = fold([
        admitted("dv-1", name="Hà Văn Bình"),
        ev("unit_established", unit_id="cb-1", name="Chi bộ", kind="cell",
           effective_date="2020-01-01"),
        admitted("dv-2", on="2024-03-02"),
        confirmed("dv-1"),
        ev("cell_role_assigned", cell_id="cb-1", member_id="dv-1", role="secretary",
           term_from="2021-01-01", term_until=None),
        ev("member_renamed", member_id="dv-1", full_name="Hà Văn Bính",
           effective_date="2024-01-01"),
        ev("member_rated", member_id="dv-2", year=2024, level="good"),
        ev("membership_confirmation_due", member_id="dv-2", cell_id="cb-1",
           due_on="2025-03-02"),
    ])
    assert set(folded) == {"dv-1", "dv-2"}
    one, two = folded["dv-1"], folded["dv-2"]
    assert one.full_name == "Hà Văn Bính"
    assert one.admitted_on == date(2020, 1, 1) and one.full_since == date(2021, 1, 1)
    assert one.ratings == {} and not one.reminded
    assert two.full_since is None and two.ratings == {2024: "good"} and two.reminded
    assert two.confirmation_due_on() == date(2025, 3, 2)


def test_a_member_known_only_from_later_events_is_not_admitted():
    [member] = members(ev("member_rated", member_id="dv-1", year=2024, level="good"))
    assert not member.admitted
    assert not member.on_rolls(date(2025, 1, 1))
    assert member.cell_on(date(2025, 1, 1)) is None
    assert member.confirmation_due_on() is None


def test_dates_may_be_date_objects_too():
    member = Member("dv-1")
    member.apply("member_admitted", {"member_id": "dv-1", "full_name": "A", "cell_id": "cb-1",
                                     "admitted_on": date(2024, 3, 2)})
    member.apply("member_confirmed", {"member_id": "dv-1", "effective_date": date(2025, 3, 2)})
    assert member.is_full(date(2025, 3, 2)) and not member.is_full(date(2025, 3, 1))


# --------------------------------------------------------------------------- status on a date


def test_probationary_until_confirmed_then_full():
    group = members(admitted("dv-1", on="2024-03-02"), confirmed("dv-1", on="2025-03-02"))
    assert roll(group, "cb-1", on("2025-03-01"))["must_attend"] == [{
        "member_id": "dv-1", "full_name": "Đảng viên dv-1", "status": "probationary",
        "attends": "home"}]
    assert roll(group, "cb-1", on("2025-03-02"))["must_attend"][0]["status"] == "full"


def test_nobody_is_on_the_roll_before_admission():
    group = members(admitted("dv-1", on="2025-10-01"))
    assert roll(group, "cb-1", on("2025-09-30")) == {"must_attend": [], "excused": []}
    assert who(roll(group, "cb-1", on("2025-10-01"))["must_attend"]) == ["dv-1"]


def test_the_roll_is_in_vietnamese_name_order():
    group = members(admitted("dv-1", name="Lò Thị Xuân"), admitted("dv-2", name="Vi Văn Bình"),
                    admitted("dv-3", name="Nguyễn Văn An"), admitted("dv-4", name="Trần Thị Ánh"))
    assert [e["full_name"] for e in roll(group, "cb-1", on("2025-01-01"))["must_attend"]] == [
        "Nguyễn Văn An", "Trần Thị Ánh", "Vi Văn Bình", "Lò Thị Xuân"]


def test_members_of_other_cells_are_not_on_the_roll():
    group = members(admitted("dv-1"), admitted("dv-2", cell_id="cb-2"))
    assert who(roll(group, "cb-1", on("2025-01-01"))["must_attend"]) == ["dv-1"]
    assert who(roll(group, "cb-2", on("2025-01-01"))["must_attend"]) == ["dv-2"]


# --------------------------------------------------------------------------- excused


def test_an_exempt_member_is_excused_with_the_reason():
    group = members(admitted("dv-1"), confirmed("dv-1"), admitted("dv-2"),
                    ev("member_exempted", member_id="dv-1", reason="Tuổi cao, sức yếu",
                       from_date="2025-05-01"))
    assert who(roll(group, "cb-1", on("2025-04-30"))["must_attend"]) == ["dv-1", "dv-2"]
    after = roll(group, "cb-1", on("2025-05-01"))
    assert who(after["must_attend"]) == ["dv-2"]
    assert after["excused"] == [{"member_id": "dv-1", "full_name": "Đảng viên dv-1",
                                 "status": "full", "standing": "exempt",
                                 "reason": "Tuổi cao, sức yếu"}]


def test_a_member_working_away_is_excused_for_the_period():
    group = members(admitted("dv-1"), ev(
        "member_working_away", member_id="dv-1", reason="Đi làm ăn xa tại Bình Dương",
        from_date="2025-05-01", until_date="2025-08-31"))
    assert who(roll(group, "cb-1", on("2025-04-30"))["must_attend"]) == ["dv-1"]
    for day in ("2025-05-01", "2025-08-31"):
        [entry] = roll(group, "cb-1", on(day))["excused"]
        assert (entry["standing"], entry["reason"]) == ("working_away",
                                                        "Đi làm ăn xa tại Bình Dương")
    assert who(roll(group, "cb-1", on("2025-09-01"))["must_attend"]) == ["dv-1"]


def test_an_open_ended_time_away_lasts_until_the_return():
    group = members(admitted("dv-1"),
                    ev("member_working_away", member_id="dv-1", reason="Xuất khẩu lao động",
                       from_date="2025-01-01", until_date=None),
                    ev("member_returned", member_id="dv-1", effective_date="2025-09-01"))
    assert who(roll(group, "cb-1", on("2025-08-31"))["excused"]) == ["dv-1"]
    assert who(roll(group, "cb-1", on("2025-09-01"))["must_attend"]) == ["dv-1"]


TEMPORARY = ev("member_temporarily_transferred", member_id="dv-1", from_cell_id="cb-1",
               to_cell_id="cb-2", to_organisation=None, from_date="2025-03-01",
               until_date="2025-08-31")


def test_a_member_temporarily_transferred_out_is_excused_at_home():
    group = members(admitted("dv-1"), TEMPORARY)
    [entry] = roll(group, "cb-1", on("2025-03-01"))["excused"]
    assert entry["standing"] == "temporarily_transferred"
    assert entry["reason"] == "sinh hoạt tạm thời tại cb-2"
    assert roll(group, "cb-1", on("2025-03-01"))["must_attend"] == []
    assert who(roll(group, "cb-1", on("2025-02-28"))["must_attend"]) == ["dv-1"]
    assert who(roll(group, "cb-1", on("2025-09-01"))["must_attend"]) == ["dv-1"]


def test_a_member_temporarily_transferred_in_attends_there():
    group = members(admitted("dv-1"), admitted("dv-2", cell_id="cb-2"), TEMPORARY)
    during = roll(group, "cb-2", on("2025-08-31"))
    assert during["excused"] == []
    assert {e["member_id"]: e["attends"] for e in during["must_attend"]} == {
        "dv-1": "temporarily", "dv-2": "home"}
    assert who(roll(group, "cb-2", on("2025-02-28"))["must_attend"]) == ["dv-2"]
    assert who(roll(group, "cb-2", on("2025-09-01"))["must_attend"]) == ["dv-2"]


def test_a_temporary_transfer_outside_the_province_names_the_organisation():
    group = members(admitted("dv-1"), ev(
        "member_temporarily_transferred", member_id="dv-1", from_cell_id="cb-1",
        to_cell_id=None, to_organisation="Đảng bộ Công ty X, Hà Nội",
        from_date="2025-03-01", until_date="2025-08-31"))
    [entry] = roll(group, "cb-1", on("2025-04-01"))["excused"]
    assert entry["reason"] == "sinh hoạt tạm thời tại Đảng bộ Công ty X, Hà Nội"


def test_a_return_ends_a_temporary_transfer_early():
    group = members(admitted("dv-1"), admitted("dv-2", cell_id="cb-2"), TEMPORARY,
                    ev("member_returned", member_id="dv-1", effective_date="2025-06-01"))
    assert who(roll(group, "cb-2", on("2025-05-31"))["must_attend"]) == ["dv-1", "dv-2"]
    assert who(roll(group, "cb-2", on("2025-06-01"))["must_attend"]) == ["dv-2"]
    assert who(roll(group, "cb-1", on("2025-06-01"))["must_attend"]) == ["dv-1"]


def test_a_return_ends_an_exemption_from_that_day():
    group = members(admitted("dv-1"),
                    ev("member_exempted", member_id="dv-1", reason="Ốm dài ngày",
                       from_date="2025-01-01"),
                    ev("member_returned", member_id="dv-1", effective_date="2025-07-01"))
    assert who(roll(group, "cb-1", on("2025-06-30"))["excused"]) == ["dv-1"]
    assert who(roll(group, "cb-1", on("2025-07-01"))["must_attend"]) == ["dv-1"]
    assert roll(group, "cb-1", on("2025-07-01"))["excused"] == []
    [member] = group
    assert member.exemptions[0].until == date(2025, 6, 30)


def test_a_return_leaves_a_later_time_away_alone():
    group = members(admitted("dv-1"),
                    ev("member_exempted", member_id="dv-1", reason="Ốm",
                       from_date="2025-01-01"),
                    ev("member_working_away", member_id="dv-1", reason="Đi làm xa",
                       from_date="2025-09-01", until_date=None),
                    ev("member_returned", member_id="dv-1", effective_date="2025-03-01"))
    assert who(roll(group, "cb-1", on("2025-03-01"))["must_attend"]) == ["dv-1"]
    [entry] = roll(group, "cb-1", on("2025-09-01"))["excused"]
    assert entry["standing"] == "working_away"


def test_exemption_is_named_before_other_excuses():
    group = members(admitted("dv-1"),
                    ev("member_working_away", member_id="dv-1", reason="Đi làm xa",
                       from_date="2025-01-01", until_date=None),
                    ev("member_exempted", member_id="dv-1", reason="Ốm",
                       from_date="2025-02-01"))
    [entry] = roll(group, "cb-1", on("2025-03-01"))["excused"]
    assert (entry["standing"], entry["reason"]) == ("exempt", "Ốm")


# --------------------------------------------------------------------------- transfers, removal


def test_an_official_transfer_moves_the_member_to_the_new_cells_roll_from_the_date():
    group = members(admitted("dv-1"), ev(
        "member_transferred", member_id="dv-1", from_cell_id="cb-1", to_cell_id="cb-2",
        to_organisation=None, cause="transfer", effective_date="2025-07-01"))
    assert who(roll(group, "cb-1", on("2025-06-30"))["must_attend"]) == ["dv-1"]
    assert who(roll(group, "cb-2", on("2025-06-30"))["must_attend"]) == []
    assert who(roll(group, "cb-1", on("2025-07-01"))["must_attend"]) == []
    assert who(roll(group, "cb-2", on("2025-07-01"))["must_attend"]) == ["dv-1"]
    [member] = group
    assert member.current_cell() == "cb-2"


def test_a_member_transferred_out_of_the_province_leaves_every_roll():
    group = members(admitted("dv-1"), ev(
        "member_transferred", member_id="dv-1", from_cell_id="cb-1", to_cell_id=None,
        to_organisation="Đảng bộ tỉnh Nghệ An", cause="transfer",
        effective_date="2025-07-01"))
    assert roll(group, "cb-1", on("2025-07-01")) == {"must_attend": [], "excused": []}
    [member] = group
    assert member.on_rolls(on("2025-07-01"))  # not removed, just no longer here
    assert member.cell_on(on("2025-07-01")) is None
    assert member.current_cell() is None


@pytest.mark.parametrize("kind", ["struck_off", "expelled", "deceased", "moved_out"])
def test_a_removed_member_vanishes_from_the_roll_from_the_removal_date(kind):
    group = members(admitted("dv-1"), admitted("dv-2"),
                    ev("member_exempted", member_id="dv-2", reason="Ốm",
                       from_date="2025-01-01"),
                    ev("member_removed", member_id="dv-1", kind=kind, reason="Lý do",
                       effective_date="2025-07-01"),
                    ev("member_removed", member_id="dv-2", kind=kind, reason="Lý do",
                       effective_date="2025-07-01"))
    before = roll(group, "cb-1", on("2025-06-30"))
    assert (who(before["must_attend"]), who(before["excused"])) == (["dv-1"], ["dv-2"])
    assert roll(group, "cb-1", on("2025-07-01")) == {"must_attend": [], "excused": []}
    dv1 = next(m for m in group if m.member_id == "dv-1")
    assert dv1.removed == (date(2025, 7, 1), kind, "Lý do")
    assert dv1.current_cell() is None


def test_a_removed_member_temporarily_elsewhere_vanishes_there_too():
    group = members(admitted("dv-1"), TEMPORARY,
                    ev("member_removed", member_id="dv-1", kind="deceased", reason="Từ trần",
                       effective_date="2025-05-01"))
    assert who(roll(group, "cb-2", on("2025-04-30"))["must_attend"]) == ["dv-1"]
    assert roll(group, "cb-2", on("2025-05-01"))["must_attend"] == []


# --------------------------------------------------------------------------- add_months


@pytest.mark.parametrize("day,months,expected", [
    (date(2025, 1, 31), 1, date(2025, 2, 28)),
    (date(2024, 1, 31), 1, date(2024, 2, 29)),    # leap year
    (date(2024, 2, 29), 12, date(2025, 2, 28)),
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2025, 3, 31), 1, date(2025, 4, 30)),
    (date(2025, 8, 31), 1, date(2025, 9, 30)),
    (date(2025, 12, 31), 1, date(2026, 1, 31)),
    (date(2025, 11, 30), 3, date(2026, 2, 28)),
    (date(2025, 1, 15), 24, date(2027, 1, 15)),
    (date(2025, 3, 15), -12, date(2024, 3, 15)),
    (date(2025, 3, 31), -1, date(2025, 2, 28)),
    (date(2025, 1, 10), -1, date(2024, 12, 10)),
    (date(2025, 6, 1), 0, date(2025, 6, 1)),
])
def test_add_months(day, months, expected):
    assert add_months(day, months) == expected


def test_confirmation_is_due_twelve_months_after_admission():
    [leap] = members(admitted("dv-1", on="2024-02-29"))
    assert leap.confirmation_due_on() == date(2025, 2, 28)
    [plain] = members(admitted("dv-1", on="2024-10-15"))
    assert plain.confirmation_due_on() == date(2025, 10, 15)
