"""Roster import, server side: the events that make the rolls match one row.

Rows go through the ImportRow schema as the service loads them; the member's
current state is folded from the events a previous plan produced, in stored form.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.eventstore.store import StreamAppend
from services.members import domain, roster
from services.members.commands import ImportRow
from services.shared.events.members import catalogue
from services.shared.membership import Member, fold
from services.shared.tree import Tree

TODAY = date(2025, 10, 15)


def unit(unit_id: str, kind: str, parent_id: str | None = None) -> dict[str, Any]:
    return {"unit_id": unit_id, "name": f"Đơn vị {unit_id}", "kind": kind,
            "parent_id": parent_id, "effective_date": "2024-01-01"}


@pytest.fixture
def tree() -> Tree:
    tree = Tree()
    for data in (unit("tinh", "province"), unit("xa", "grassroots", "tinh"),
                 unit("cb-1", "cell", "xa"), unit("cb-2", "cell", "xa")):
        tree.apply("unit_established", data)
    return tree


def row(**changes: Any) -> dict[str, Any]:
    payload = {"line": 2, "member_code": "TH-001", "full_name": "Lò Văn Sơn",
               "cell_code": "cb-1", "admitted_on": "2015-05-19", "status": "probationary",
               **changes}
    return load_command(ImportRow(), payload)


class Rolls:
    """One member's stream, as the members service keeps it."""

    def __init__(self) -> None:
        self.events: list[SimpleNamespace] = []

    def apply(self, appends: list[StreamAppend]) -> None:
        for item in appends:
            assert item.expected_version == len(self.events)
            for new in item.events:
                self.events.append(SimpleNamespace(
                    type=new.type, data=catalogue.validate(new.type, new.data)))

    def current(self, member_id: str = "TH-001") -> tuple[int, Member]:
        return len(self.events), fold(self.events)[member_id]


def plan(tree: Tree, rolls: Rolls | None, line: dict[str, Any]
         ) -> tuple[str, list[StreamAppend]]:
    current = rolls.current() if rolls is not None and rolls.events else None
    return roster.plan_row(tree, current, line, TODAY)


def types(appends: list[StreamAppend]) -> list[str]:
    return [e.type for item in appends for e in item.events]


def event(appends: list[StreamAppend], event_type: str) -> dict[str, Any]:
    [found] = [dict(e.data) for item in appends for e in item.events if e.type == event_type]
    return found


def imported(tree: Tree, **changes: Any) -> Rolls:
    rolls = Rolls()
    outcome, appends = plan(tree, None, row(**changes))
    assert outcome == "admitted"
    rolls.apply(appends)
    return rolls


# --------------------------------------------------------------------------- new rows


def test_a_new_row_admits_the_member(tree):
    outcome, appends = plan(tree, None, row())
    assert outcome == "admitted"
    assert [a.stream_id for a in appends] == ["member-TH-001"]
    assert appends[0].expected_version == 0
    assert types(appends) == ["member_admitted"]
    assert event(appends, "member_admitted") == {
        "member_id": "TH-001", "full_name": "Lò Văn Sơn", "cell_id": "cb-1",
        "admitted_on": date(2015, 5, 19), "member_code": "TH-001", "gender": None}


def test_a_new_row_may_predate_the_cells_record(tree):
    # admitted in 2015 elsewhere; the cell is on record here only from 2024
    _, member = imported(tree, admitted_on="2015-05-19").current()
    assert member.admitted_on == date(2015, 5, 19)
    assert member.cell_on(TODAY) == "cb-1"


def test_a_birth_date_goes_into_the_personal_data_event(tree):
    _, appends = plan(tree, None, row(birth_date="1985-02-03", gender="male"))
    assert types(appends) == ["member_admitted", "member_personal_data_recorded"]
    assert "birth_date" not in event(appends, "member_admitted")
    assert event(appends, "member_admitted")["gender"] == "male"
    assert event(appends, "member_personal_data_recorded") == {
        "member_id": "TH-001", "birth_date": date(1985, 2, 3), "identity_number": None}


def test_a_new_full_member_is_admitted_and_confirmed(tree):
    _, appends = plan(tree, None, row(status="full", full_member_on="2016-05-19",
                                      birth_date="1985-02-03"))
    assert types(appends) == ["member_admitted", "member_personal_data_recorded",
                              "member_confirmed"]
    assert event(appends, "member_confirmed") == {"member_id": "TH-001",
                                                  "effective_date": date(2016, 5, 19)}
    rolls = Rolls()
    rolls.apply(appends)
    _, member = rolls.current()
    assert member.is_full(TODAY) and not member.is_full(date(2016, 5, 18))


@pytest.mark.parametrize("status", ["probationary", "full", "exempt", "moved_out", "deceased",
                                    "struck_off", "expelled"])
def test_the_same_row_again_changes_nothing(tree, status):
    line = row(status=status, full_member_on="2016-05-19" if status != "probationary" else None,
               birth_date="1985-02-03")
    rolls = imported(tree, **{k: v.isoformat() if isinstance(v, date) else v
                              for k, v in line.items() if k != "line"})
    assert plan(tree, rolls, line) == ("unchanged", [])


# --------------------------------------------------------------------------- changed rows


def test_a_changed_name_renames_the_member(tree):
    rolls = imported(tree)
    outcome, appends = plan(tree, rolls, row(full_name="Lò Văn Sơn Hải"))
    assert outcome == "changed"
    assert appends == [StreamAppend("member-TH-001", 1, appends[0].events)]
    assert types(appends) == ["member_renamed"]
    assert event(appends, "member_renamed") == {"member_id": "TH-001",
                                                "full_name": "Lò Văn Sơn Hải",
                                                "effective_date": TODAY}
    rolls.apply(appends)
    assert rolls.current()[1].full_name == "Lò Văn Sơn Hải"
    assert plan(tree, rolls, row(full_name="Lò Văn Sơn Hải")) == ("unchanged", [])


def test_a_changed_cell_transfers_the_member(tree):
    rolls = imported(tree)
    outcome, appends = plan(tree, rolls, row(cell_code="cb-2"))
    assert outcome == "changed"
    assert types(appends) == ["member_transferred"]
    assert event(appends, "member_transferred") == {
        "member_id": "TH-001", "from_cell_id": "cb-1", "to_cell_id": "cb-2",
        "to_organisation": None, "cause": "transfer", "effective_date": TODAY}
    rolls.apply(appends)
    _, member = rolls.current()
    assert member.cell_on(TODAY) == "cb-2"
    assert plan(tree, rolls, row(cell_code="cb-2")) == ("unchanged", [])


def test_a_member_becomes_exempt_and_then_returns(tree):
    rolls = imported(tree, status="full", full_member_on="2016-05-19")
    outcome, appends = plan(tree, rolls, row(status="exempt", full_member_on="2016-05-19"))
    assert outcome == "changed"
    assert types(appends) == ["member_exempted"]
    assert event(appends, "member_exempted") == {
        "member_id": "TH-001", "reason": roster.IMPORT_REASON, "from_date": TODAY}
    rolls.apply(appends)
    assert rolls.current()[1].excuse_on(TODAY)[0] == "exempt"
    assert plan(tree, rolls, row(status="exempt", full_member_on="2016-05-19"))[0] == (
        "unchanged")

    outcome, appends = plan(tree, rolls, row(status="full", full_member_on="2016-05-19"))
    assert outcome == "changed"
    assert types(appends) == ["member_returned"]
    assert event(appends, "member_returned") == {"member_id": "TH-001",
                                                 "effective_date": TODAY}
    rolls.apply(appends)
    assert rolls.current()[1].excuse_on(TODAY) is None


def test_a_later_confirmation_is_recorded(tree):
    rolls = imported(tree)
    _, appends = plan(tree, rolls, row(status="full", full_member_on="2016-05-19"))
    assert types(appends) == ["member_confirmed"]
    assert event(appends, "member_confirmed")["effective_date"] == date(2016, 5, 19)


@pytest.mark.parametrize("status", ["moved_out", "deceased", "struck_off", "expelled"])
def test_a_removed_status_removes_the_member(tree, status):
    rolls = imported(tree)
    outcome, appends = plan(tree, rolls, row(status=status, cell_code="cb-2"))
    assert outcome == "changed"
    assert types(appends) == ["member_removed"]  # no transfer on the way out
    assert event(appends, "member_removed") == {
        "member_id": "TH-001", "kind": roster.REMOVED[status], "reason": roster.IMPORT_REASON,
        "effective_date": TODAY}
    assert roster.REMOVED[status] == status
    rolls.apply(appends)
    _, member = rolls.current()
    assert not member.on_rolls(TODAY)
    # the export cannot bring a removed member back
    assert plan(tree, rolls, row(status="full", full_member_on="2016-05-19")) == (
        "unchanged", [])


def test_several_changes_in_one_row_go_in_one_append(tree):
    rolls = imported(tree, status="exempt")
    outcome, appends = plan(tree, rolls, row(full_name="Lò Thị Sơn", cell_code="cb-2",
                                             status="full", full_member_on="2016-05-19"))
    assert outcome == "changed"
    assert len(appends) == 1 and appends[0].expected_version == len(rolls.events)
    assert types(appends) == ["member_renamed", "member_transferred", "member_confirmed",
                              "member_returned"]
    rolls.apply(appends)


def test_changes_go_to_the_stream_of_the_member_the_code_belongs_to(tree):
    # admitted through the admit command: the member's id is not their code
    rolls = Rolls()
    rolls.apply(domain.admit_member(tree, None, {
        "member_id": "3f1c", "full_name": "Lò Văn Sơn", "cell_id": "cb-1",
        "admitted_on": date(2024, 5, 19), "member_code": "TH-001"}, TODAY))
    current = (len(rolls.events), fold(rolls.events)["3f1c"])
    _, appends = roster.plan_row(tree, current, row(full_name="Lò Văn Sơn Hải"), TODAY)
    assert [a.stream_id for a in appends] == [domain.member_stream("3f1c")]
    assert event(appends, "member_renamed")["member_id"] == "3f1c"


# --------------------------------------------------------------------------- rows refused


def test_a_new_row_for_an_unknown_cell_is_refused(tree):
    with pytest.raises(NotFound) as excinfo:
        plan(tree, None, row(cell_code="cb-x"))
    assert isinstance(excinfo.value, ChiboError)
    assert "cb-x" in excinfo.value.message


def test_a_changed_row_for_an_unknown_cell_is_refused(tree):
    rolls = imported(tree)
    with pytest.raises(ChiboError) as excinfo:
        plan(tree, rolls, row(cell_code="cb-x"))
    assert "cb-x" in excinfo.value.message


@pytest.mark.parametrize("code", ["xa", "tinh"])
def test_a_row_naming_a_unit_that_is_not_a_cell_is_refused(tree, code):
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, None, row(cell_code=code))
    assert set(excinfo.value.fields) == {"cell_id"}


def test_a_row_admitted_in_the_future_is_refused(tree):
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, None, row(admitted_on="2025-10-16"))
    assert set(excinfo.value.fields) == {"admitted_on"}


def test_a_row_for_a_cell_dissolved_by_today_is_refused(tree):
    tree.apply("unit_dissolved", {"unit_id": "cb-2", "reason": "Sáp nhập",
                                  "successor_id": "cb-1", "effective_date": "2025-07-01"})
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, None, row(cell_code="cb-2", admitted_on="2025-01-01"))
    assert set(excinfo.value.fields) == {"admitted_on"}


def test_a_new_full_member_without_the_date_of_becoming_full_is_refused(tree):
    # Admitting them would leave them probationary while the row says full.
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, None, row(status="full"))
    assert set(excinfo.value.fields) == {"full_member_on"}
    reason = roster.reason_of(excinfo.value)
    assert reason.startswith("full_member_on: Đảng viên chính thức phải có ngày chính thức")
    assert "a full member needs full_member_on" in reason


def test_a_probationary_member_listed_as_full_without_the_date_is_refused(tree):
    rolls = imported(tree)
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, rolls, row(status="full"))
    assert set(excinfo.value.fields) == {"full_member_on"}


@pytest.mark.parametrize(("changes", "field"), [
    ({"status": "probationary", "full_member_on": "2016-05-19"}, "full_member_on"),
    ({"status": "full", "full_member_on": "2014-05-19"}, "full_member_on"),
    ({"birth_date": "2000-01-01"}, "birth_date"),
])
def test_rows_the_importer_refuses_are_refused_by_the_service_too(tree, changes, field):
    with pytest.raises(ValidationFailed) as excinfo:
        plan(tree, None, row(**changes))
    assert set(excinfo.value.fields) == {field}


def test_the_row_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(ImportRow(), {"line": 3, "member_code": "", "full_name": "",
                                   "cell_code": "cb-1", "admitted_on": "19/05/2015",
                                   "status": "retired"})
    assert set(excinfo.value.fields) == {"member_code", "full_name", "admitted_on", "status"}
