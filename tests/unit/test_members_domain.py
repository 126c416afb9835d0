"""The rules of the organisation tree and of membership, called directly.

No broker, no database: histories are hand-built `RecordedEvent`s holding data in
its stored (JSON) form, and commands go through the command schemas exactly as
the service loads them, so dates are real `date` objects.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, RecordedEvent
from services.members import domain
from services.members.commands import AdmitMember, EstablishUnit

TODAY = date(2025, 10, 15)


def recorded(event_type: str, data: dict[str, Any], stream_id: str, version: int = 1,
             position: int = 1) -> RecordedEvent:
    return RecordedEvent(position=position, event_id=f"evt-{position}", stream_id=stream_id,
                         stream_version=version, type=event_type, version=1, data=data,
                         metadata={"actor": "test"}, recorded_at="2025-01-01T00:00:00+00:00",
                         hash="0" * 64)


def unit_history(unit_id: str, kind: str, name: str = "Đơn vị", parent_id: str | None = None,
                 effective_date: str = "2024-01-01") -> list[RecordedEvent]:
    return [recorded("unit_established", {
        "unit_id": unit_id, "name": name, "kind": kind, "parent_id": parent_id,
        "effective_date": effective_date}, domain.unit_stream(unit_id))]


def unit(unit_id: str, kind: str, **kwargs: Any) -> dict[str, Any]:
    """A unit's state as the service folds it from its stream."""
    state = domain.unit_state(unit_history(unit_id, kind, **kwargs))
    assert state is not None
    return state


def establish(**payload: Any) -> dict[str, Any]:
    return load_command(EstablishUnit(), payload)


def admit(**payload: Any) -> dict[str, Any]:
    return load_command(AdmitMember(), payload)


def invalid_fields(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return set(excinfo.value.fields)


# --------------------------------------------------------------------------- streams, state


def test_stream_names_are_prefixed_by_aggregate():
    assert domain.unit_stream("xa-1") == "unit-xa-1"
    assert domain.member_stream("dv-1") == "member-dv-1"


def test_unit_state_of_an_empty_stream_is_none():
    assert domain.unit_state([]) is None


def test_unit_state_is_the_established_data_and_ignores_other_events():
    history = unit_history("cb-1", "cell", name="Chi bộ Bản Máy", parent_id="xa-1")
    history.append(recorded("something_else", {"kind": "province"}, "unit-cb-1", version=2,
                            position=2))
    assert domain.unit_state(history) == {
        "unit_id": "cb-1", "name": "Chi bộ Bản Máy", "kind": "cell", "parent_id": "xa-1",
        "effective_date": "2024-01-01"}


def test_unit_state_is_a_copy_not_the_event_data():
    history = unit_history("tinh", "province")
    state = domain.unit_state(history)
    state["name"] = "changed"
    assert history[0].data["name"] == "Đơn vị"


# --------------------------------------------------------------------------- establish_unit


def test_a_province_is_established_without_parent():
    command = establish(unit_id="tinh", name="Tỉnh ủy Thanh Hóa", kind="province",
                        effective_date="2025-07-01")
    events = domain.establish_unit([], command, None)
    assert events == [NewEvent("unit_established", {
        "unit_id": "tinh", "name": "Tỉnh ủy Thanh Hóa", "kind": "province", "parent_id": None,
        "effective_date": date(2025, 7, 1)})]


@pytest.mark.parametrize("kind,parent_kind", [
    ("committee", "province"),
    ("committee", "committee"),   # any depth: committees under committees
    ("grassroots", "committee"),
    ("cell", "grassroots"),
    ("cell", "committee"),
])
def test_a_unit_is_established_under_a_non_cell_parent(kind, parent_kind):
    parent = unit("p-1", parent_kind)
    command = establish(unit_id="u-1", name="Đảng ủy xã Mường Lý", kind=kind, parent_id="p-1",
                        effective_date="2025-07-01")
    [event] = domain.establish_unit([], command, parent)
    assert event.type == "unit_established"
    assert event.data == {"unit_id": "u-1", "name": "Đảng ủy xã Mường Lý", "kind": kind,
                          "parent_id": "p-1", "effective_date": date(2025, 7, 1)}


def test_establishing_a_unit_twice_is_refused():
    command = establish(unit_id="tinh", name="Tỉnh ủy", kind="province",
                        effective_date="2025-07-01")
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.establish_unit(unit_history("tinh", "province"), command, None)
    assert "tinh" in excinfo.value.message
    assert excinfo.value.details == {"unit_id": "tinh"}


def test_establishing_twice_is_refused_before_any_other_rule():
    # The second command is also invalid on its own (a cell without parent); the
    # existing stream is what the caller needs to hear about.
    command = establish(unit_id="cb-1", name="Chi bộ", kind="cell",
                        effective_date="2025-07-01")
    with pytest.raises(DomainRuleViolated):
        domain.establish_unit(unit_history("cb-1", "cell", parent_id="xa-1"), command, None)


def test_a_province_with_a_parent_is_refused():
    command = establish(unit_id="tinh-2", name="Tỉnh ủy", kind="province", parent_id="tinh",
                        effective_date="2025-07-01")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit([], command, unit("tinh", "province"))
    assert invalid_fields(excinfo) == {"parent_id"}
    assert "province" in excinfo.value.fields["parent_id"][0]


@pytest.mark.parametrize("kind", ["committee", "grassroots", "cell"])
@pytest.mark.parametrize("parent_id", [None, ""])
def test_a_non_province_without_parent_is_refused(kind, parent_id):
    payload = {"unit_id": "u-1", "name": "Đơn vị", "kind": kind,
               "effective_date": "2025-07-01"}
    if parent_id is not None:
        payload["parent_id"] = parent_id
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit([], establish(**payload), None)
    assert invalid_fields(excinfo) == {"parent_id"}
    assert kind in excinfo.value.fields["parent_id"][0]


def test_a_missing_parent_is_not_found_and_names_the_field():
    command = establish(unit_id="cb-1", name="Chi bộ", kind="cell", parent_id="nowhere",
                        effective_date="2025-07-01")
    with pytest.raises(NotFound) as excinfo:
        domain.establish_unit([], command, None)
    assert excinfo.value.details == {"field": "parent_id"}
    assert "nowhere" in excinfo.value.message
    assert excinfo.value.http_status == 404


@pytest.mark.parametrize("kind", ["committee", "grassroots", "cell"])
def test_a_cell_cannot_be_a_parent(kind):
    command = establish(unit_id="u-2", name="Đơn vị con", kind=kind, parent_id="cb-1",
                        effective_date="2025-07-01")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit([], command, unit("cb-1", "cell", parent_id="xa-1"))
    assert invalid_fields(excinfo) == {"parent_id"}


# --------------------------------------------------------------------------- admit_member


def test_a_member_is_admitted_to_a_cell():
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-1",
                    admitted_on="2025-03-02")
    events = domain.admit_member([], command, unit("cb-1", "cell"), TODAY)
    assert events == [NewEvent("member_admitted", {
        "member_id": "dv-1", "full_name": "Lò Văn Sơn", "cell_id": "cb-1",
        "admitted_on": date(2025, 3, 2)})]


def test_admission_today_and_on_the_day_the_cell_was_established_are_allowed():
    cell = unit("cb-1", "cell", effective_date="2025-10-15")
    command = admit(member_id="dv-1", full_name="Hà Thị Lan", cell_id="cb-1",
                    admitted_on=TODAY.isoformat())
    [event] = domain.admit_member([], command, cell, TODAY)
    assert event.data["admitted_on"] == TODAY


def test_admitting_twice_is_refused():
    history = [recorded("member_admitted", {
        "member_id": "dv-1", "full_name": "Lò Văn Sơn", "cell_id": "cb-1",
        "admitted_on": "2025-03-02"}, domain.member_stream("dv-1"))]
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-1",
                    admitted_on="2025-03-02")
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.admit_member(history, command, unit("cb-1", "cell"), TODAY)
    assert excinfo.value.details == {"member_id": "dv-1"}
    assert "dv-1" in excinfo.value.message


def test_admitting_to_an_unknown_cell_is_not_found():
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-x",
                    admitted_on="2025-03-02")
    with pytest.raises(NotFound) as excinfo:
        domain.admit_member([], command, None, TODAY)
    assert excinfo.value.details == {"field": "cell_id"}
    assert "cb-x" in excinfo.value.message


@pytest.mark.parametrize("kind", ["province", "committee", "grassroots"])
def test_admitting_to_a_unit_that_is_not_a_cell_is_refused(kind):
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="xa-1",
                    admitted_on="2025-03-02")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.admit_member([], command, unit("xa-1", kind, name="Đảng ủy xã Na Mèo"), TODAY)
    assert invalid_fields(excinfo) == {"cell_id"}
    message = excinfo.value.fields["cell_id"][0]
    assert "Đảng ủy xã Na Mèo" in message and kind in message


def test_admission_in_the_future_is_refused():
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-1",
                    admitted_on="2025-10-16")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.admit_member([], command, unit("cb-1", "cell"), TODAY)
    assert invalid_fields(excinfo) == {"admitted_on"}
    assert "future" in excinfo.value.fields["admitted_on"][0]


def test_admission_before_the_cell_existed_is_refused():
    cell = unit("cb-1", "cell", effective_date="2025-07-01")
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-1",
                    admitted_on="2025-06-30")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.admit_member([], command, cell, TODAY)
    assert invalid_fields(excinfo) == {"admitted_on"}
    assert "did not exist" in excinfo.value.fields["admitted_on"][0]


def test_cell_effective_date_may_be_a_date_object():
    # The cell's state may come from a fresh append (dates) as well as from storage (text).
    cell = {"unit_id": "cb-1", "name": "Chi bộ", "kind": "cell", "parent_id": "xa-1",
            "effective_date": date(2025, 7, 1)}
    command = admit(member_id="dv-1", full_name="Lò Văn Sơn", cell_id="cb-1",
                    admitted_on="2025-06-30")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.admit_member([], command, cell, TODAY)
    assert invalid_fields(excinfo) == {"admitted_on"}


# --------------------------------------------------------------------------- command schemas


def test_establish_unit_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(name="", kind="village", effective_date="2025-13-01")
    assert invalid_fields(excinfo) == {"name", "kind", "effective_date"}
    assert "province" in excinfo.value.fields["kind"][0]  # lists the allowed kinds
    assert excinfo.value.code == "validation_failed"
    assert excinfo.value.http_status == 422


def test_establish_unit_schema_requires_name_kind_and_date():
    with pytest.raises(ValidationFailed) as excinfo:
        establish()
    assert invalid_fields(excinfo) == {"name", "kind", "effective_date"}


def test_a_name_of_only_spaces_is_empty():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(name="   ", kind="province", effective_date="2025-07-01")
    assert invalid_fields(excinfo) == {"name"}


def test_a_name_longer_than_200_characters_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(name="Đ" * 201, kind="province", effective_date="2025-07-01")
    assert invalid_fields(excinfo) == {"name"}


def test_empty_unit_id_is_refused_and_a_missing_one_is_generated():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(unit_id="", name="Tỉnh ủy", kind="province", effective_date="2025-07-01")
    assert invalid_fields(excinfo) == {"unit_id"}
    first = establish(name="Tỉnh ủy", kind="province", effective_date="2025-07-01")
    second = establish(name="Tỉnh ủy", kind="province", effective_date="2025-07-01")
    assert first["unit_id"] and second["unit_id"] and first["unit_id"] != second["unit_id"]
    assert first["parent_id"] is None


def test_unknown_fields_are_named():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(name="Tỉnh ủy", kind="province", effective_date="2025-07-01", level=1)
    assert invalid_fields(excinfo) == {"level"}


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(EstablishUnit(), ["tinh"])
    assert invalid_fields(excinfo) == {"_body"}


def test_the_message_summarises_the_fields():
    with pytest.raises(ValidationFailed) as excinfo:
        establish(name="", kind="village", effective_date="2025-07-01")
    assert "kind:" in excinfo.value.message and "name:" in excinfo.value.message
    assert excinfo.value.to_dict()["fields"] == excinfo.value.fields


def test_admit_member_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        admit(full_name="", admitted_on="2 tháng 3 năm 2025")
    assert invalid_fields(excinfo) == {"full_name", "cell_id", "admitted_on"}


def test_names_are_nfc_normalised_and_trimmed():
    decomposed = unicodedata.normalize("NFD", "  Nguyễn Thị Ánh Tuyết ")
    assert decomposed.strip() != "Nguyễn Thị Ánh Tuyết"  # really decomposed
    command = admit(member_id="dv-1", full_name=decomposed, cell_id="cb-1",
                    admitted_on="2025-03-02")
    assert command["full_name"] == "Nguyễn Thị Ánh Tuyết"
    assert unicodedata.is_normalized("NFC", command["full_name"])
    [event] = domain.admit_member([], command, unit("cb-1", "cell"), TODAY)
    assert event.data["full_name"] == "Nguyễn Thị Ánh Tuyết"


def test_unit_names_are_nfc_normalised():
    decomposed = unicodedata.normalize("NFD", "Chi bộ Bản Ngàm")
    command = establish(unit_id="cb-1", name=decomposed, kind="cell", parent_id="xa-1",
                        effective_date="2025-07-01")
    [event] = domain.establish_unit([], command, unit("xa-1", "committee"))
    assert event.data["name"] == "Chi bộ Bản Ngàm"
    assert len(event.data["name"]) == len("Chi bộ Bản Ngàm")
