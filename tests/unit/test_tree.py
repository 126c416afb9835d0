"""The organisation tree through time: the 2025 reorganisation as a scenario.

Province P has districts D1 and D2; commune C1 sits under D1, C2 under D2; cells
under the communes. Province Q has a commune CQ with a cell. On 1 July 2025 the
communes move directly under P (their cells follow), the districts are dissolved,
and P merges into Q. The decisions are taken by the members rules and their events
kept in stored (JSON) form, as the service keeps them; the `Tree` is folded from them.
"""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import DomainRuleViolated
from chibo.eventstore.store import StreamAppend
from services.members import commands as c
from services.members import domain
from services.shared.events.members import catalogue
from services.shared.tree import Tree, UnitVersion

BEFORE = date(2025, 6, 30)
REORG = date(2025, 7, 1)
TODAY = date(2025, 10, 15)
MARCH_2024 = date(2024, 3, 15)


class Log:
    def __init__(self) -> None:
        self.events: list[SimpleNamespace] = []

    def append(self, appends: list[StreamAppend]) -> None:
        for item in appends:
            assert item.expected_version == self.version(item.stream_id), item.stream_id
            for new in item.events:
                self.events.append(SimpleNamespace(
                    stream_id=item.stream_id, type=new.type,
                    data=catalogue.validate(new.type, new.data)))

    def version(self, stream_id: str) -> int:
        return sum(1 for e in self.events if e.stream_id == stream_id)

    def versions(self) -> dict[str, int]:
        prefix = len(domain.unit_stream(""))
        return {e.stream_id[prefix:]: self.version(e.stream_id) for e in self.events}

    def tree(self) -> Tree:
        return Tree.from_events(self.events)

    def establish(self, unit_id: str, kind: str, parent_id: str | None = None,
                  on: str = "2020-01-01") -> None:
        self.append(domain.establish_unit(self.tree(), load_command(c.EstablishUnit(), {
            "unit_id": unit_id, "name": NAMES[unit_id], "kind": kind, "parent_id": parent_id,
            "effective_date": on})))

    def move(self, unit_id: str, parent_id: str, on: date = REORG) -> None:
        self.append(domain.move_unit(self.tree(), self.version(domain.unit_stream(unit_id)),
                                     load_command(c.MoveUnit(), {
                                         "unit_id": unit_id, "parent_id": parent_id,
                                         "effective_date": on.isoformat()})))

    def rename(self, unit_id: str, name: str, on: date = REORG) -> None:
        self.append(domain.rename_unit(self.tree(), self.version(domain.unit_stream(unit_id)),
                                       load_command(c.RenameUnit(), {
                                           "unit_id": unit_id, "name": name,
                                           "effective_date": on.isoformat()})))

    def dissolve(self, unit_id: str, on: date = REORG) -> None:
        self.append(domain.dissolve_unit(
            self.tree(), self.version(domain.unit_stream(unit_id)),
            load_command(c.DissolveUnit(), {"unit_id": unit_id,
                                            "reason": "Kết thúc hoạt động cấp huyện",
                                            "effective_date": on.isoformat()}), []))

    def merge(self, merged: list[str], successor: str, on: date = REORG) -> None:
        self.append(domain.merge_units(self.tree(), self.versions(), load_command(
            c.MergeUnits(), {"merged_ids": merged, "successor_id": successor,
                             "effective_date": on.isoformat()}), {}))


NAMES = {
    "P": "Tỉnh ủy Hà Giang", "Q": "Tỉnh ủy Tuyên Quang", "R": "Tỉnh ủy Lào Cai",
    "D1": "Huyện ủy Bắc Mê", "D2": "Huyện ủy Vị Xuyên",
    "C1": "Đảng ủy xã Minh Ngọc", "C2": "Đảng ủy xã Thuận Hòa", "CQ": "Đảng ủy xã Lăng Can",
    "cb-11": "Chi bộ thôn Nà Sáng", "cb-12": "Chi bộ thôn Bản Tính",
    "cb-21": "Chi bộ thôn Nặm Tẩu", "cb-q": "Chi bộ thôn Nà Đén",
    "C3": "Đảng ủy xã Bạch Đích", "cb-31": "Chi bộ thôn Phú Lâm",
}
ALL_CELLS_OF_P = ["cb-11", "cb-12", "cb-21"]


def before_reorganisation() -> Log:
    log = Log()
    log.establish("P", "province")
    log.establish("Q", "province")
    log.establish("D1", "committee", "P")
    log.establish("D2", "committee", "P")
    log.establish("C1", "grassroots", "D1")
    log.establish("C2", "grassroots", "D2")
    log.establish("CQ", "grassroots", "Q")
    log.establish("cb-11", "cell", "C1")
    log.establish("cb-12", "cell", "C1", on="2024-06-01")  # a cell younger than March 2024
    log.establish("cb-21", "cell", "C2")
    log.establish("cb-q", "cell", "CQ")
    return log


def reorganise(log: Log) -> Log:
    log.move("C1", "P")
    log.move("C2", "P")
    log.dissolve("D1")
    log.dissolve("D2")
    log.merge(["P"], "Q")
    return log


@pytest.fixture(scope="module")
def tree() -> Tree:
    return reorganise(before_reorganisation()).tree()


def ids(versions: list[UnitVersion] | dict[str, UnitVersion]) -> list[str]:
    if isinstance(versions, dict):
        return sorted(versions)
    return [v.unit_id for v in versions]


# --------------------------------------------------------------------------- as of a date


def test_the_tree_before_the_reorganisation(tree):
    assert ids(tree.as_of(BEFORE)) == sorted(
        ["P", "Q", "D1", "D2", "C1", "C2", "CQ", "cb-11", "cb-12", "cb-21", "cb-q"])
    snapshot = tree.as_of(BEFORE)
    assert snapshot["C1"].parent_id == "D1" and snapshot["C2"].parent_id == "D2"
    assert snapshot["D1"].parent_id == "P"


@pytest.mark.parametrize("day", [REORG, TODAY])
def test_the_tree_after_the_reorganisation(tree, day):
    snapshot = tree.as_of(day)
    assert ids(snapshot) == sorted(["Q", "C1", "C2", "CQ", "cb-11", "cb-12", "cb-21", "cb-q"])
    assert {u: snapshot[u].parent_id for u in ("C1", "C2", "CQ")} == {
        "C1": "Q", "C2": "Q", "CQ": "Q"}
    # cells did not move themselves: they followed their commune
    assert snapshot["cb-11"].parent_id == "C1" and snapshot["cb-21"].parent_id == "C2"


def test_the_tree_in_march_2024_as_it_was_then(tree):
    assert ids(tree.as_of(MARCH_2024)) == sorted(
        ["P", "Q", "D1", "D2", "C1", "C2", "CQ", "cb-11", "cb-21", "cb-q"])  # no cb-12 yet
    assert tree.as_of(date(2019, 12, 31)) == {}


def test_the_reorganisation_does_not_rewrite_the_past():
    log = before_reorganisation()
    earlier = log.tree()
    snapshots = {day: earlier.as_of(day) for day in (MARCH_2024, BEFORE)}
    recorded = [(e.stream_id, e.type, dict(e.data)) for e in log.events]
    reorganise(log)
    later = log.tree()
    assert {day: later.as_of(day) for day in snapshots} == snapshots
    assert [(e.stream_id, e.type, dict(e.data)) for e in log.events[:len(recorded)]] == recorded
    assert later.as_of(REORG) != earlier.as_of(REORG)


# --------------------------------------------------------------------------- paths


@pytest.mark.parametrize("day,expected", [
    (MARCH_2024, ["P", "D1", "C1", "cb-11"]),
    (BEFORE, ["P", "D1", "C1", "cb-11"]),
    (REORG, ["Q", "C1", "cb-11"]),
    (TODAY, ["Q", "C1", "cb-11"]),
])
def test_a_cells_path_on_a_date(tree, day, expected):
    assert ids(tree.path("cb-11", day)) == expected


def test_paths_carry_the_names_of_the_day(tree):
    assert [v.name for v in tree.path("cb-21", BEFORE)] == [
        "Tỉnh ủy Hà Giang", "Huyện ủy Vị Xuyên", "Đảng ủy xã Thuận Hòa", "Chi bộ thôn Nặm Tẩu"]
    assert [v.name for v in tree.path("cb-21", TODAY)] == [
        "Tỉnh ủy Tuyên Quang", "Đảng ủy xã Thuận Hòa", "Chi bộ thôn Nặm Tẩu"]


def test_a_path_of_a_unit_that_did_not_exist_is_empty(tree):
    assert tree.path("cb-12", MARCH_2024) == []
    assert ids(tree.path("cb-12", BEFORE)) == ["P", "D1", "C1", "cb-12"]
    assert ids(tree.path("D1", BEFORE)) == ["P", "D1"]
    assert tree.path("D1", REORG) == []
    assert tree.path("P", TODAY) == []
    assert tree.path("nowhere", TODAY) == []


def test_the_path_of_a_unit_regroups_old_history_into_todays_tree(tree):
    # "A report for March 2024, regrouped into today's tree": each cell P covered then
    # is found under today's top, and P itself is counted under its successor.
    then = tree.cells_covered("P", MARCH_2024)
    assert then == ["cb-11", "cb-21"]
    assert {tree.path(cell, TODAY)[0].unit_id for cell in then} == {"Q"}
    assert tree.successor("P") == "Q"


# --------------------------------------------------------------------------- children


def test_children_before_and_after(tree):
    assert ids(tree.children("P", BEFORE)) == ["D1", "D2"]
    assert ids(tree.children("D1", BEFORE)) == ["C1"]
    assert ids(tree.children("Q", BEFORE)) == ["CQ"]
    assert tree.children("P", REORG) == []
    assert tree.children("D1", REORG) == []
    # ordered by name: Lăng Can, Minh Ngọc, Thuận Hòa
    assert ids(tree.children("Q", REORG)) == ["CQ", "C1", "C2"]
    assert ids(tree.children("Q", TODAY)) == ["CQ", "C1", "C2"]
    assert ids(tree.children("C1", TODAY)) == ["cb-12", "cb-11"]  # Bản Tính, Nà Sáng


# --------------------------------------------------------------------------- cells covered


@pytest.mark.parametrize("unit_id,day,cells", [
    ("P", MARCH_2024, ["cb-11", "cb-21"]),
    ("P", BEFORE, ALL_CELLS_OF_P),
    ("P", REORG, []),
    ("P", TODAY, []),
    ("Q", BEFORE, ["cb-q"]),
    ("Q", REORG, sorted([*ALL_CELLS_OF_P, "cb-q"])),
    ("Q", TODAY, sorted([*ALL_CELLS_OF_P, "cb-q"])),
    ("D1", BEFORE, ["cb-11", "cb-12"]),
    ("D1", REORG, []),
    ("D2", BEFORE, ["cb-21"]),
    ("C1", BEFORE, ["cb-11", "cb-12"]),
    ("C1", TODAY, ["cb-11", "cb-12"]),
    ("cb-11", TODAY, ["cb-11"]),
])
def test_cells_covered_on_a_date(tree, unit_id, day, cells):
    assert tree.cells_covered(unit_id, day) == cells


def test_the_subtree_of_a_unit(tree):
    assert ids(sorted(tree.subtree("D1", BEFORE), key=lambda v: v.unit_id)) == [
        "C1", "D1", "cb-11", "cb-12"]
    assert tree.subtree("D1", REORG) == []


# --------------------------------------------------------------------------- successors


def test_a_merged_unit_has_its_successor(tree):
    assert tree.successor("P") == "Q"
    assert tree.latest("P").successor_id == "Q"
    assert tree.version("P", BEFORE).successor_id is None


@pytest.mark.parametrize("unit_id", ["Q", "D1", "D2", "C1", "cb-11"])
def test_other_units_are_their_own_successor(tree, unit_id):
    # the districts were dissolved, not merged: their history stays their own
    assert tree.successor(unit_id) == unit_id


def test_successors_follow_a_chain_of_merges():
    log = reorganise(before_reorganisation())
    log.establish("R", "province")
    log.merge(["Q"], "R", on=date(2025, 9, 1))
    tree = log.tree()
    assert tree.successor("P") == "R"
    assert tree.successor("Q") == "R"
    assert ids(tree.path("cb-11", date(2025, 8, 31))) == ["Q", "C1", "cb-11"]
    assert ids(tree.path("cb-11", date(2025, 9, 1))) == ["R", "C1", "cb-11"]
    assert tree.cells_covered("R", TODAY) == sorted([*ALL_CELLS_OF_P, "cb-q"])


# --------------------------------------------------------------------------- versions


def test_the_history_of_a_unit_lists_every_version(tree):
    history = tree.history("P")
    assert [(v.valid_from, v.dissolved, v.successor_id) for v in history] == [
        (date(2020, 1, 1), False, None), (REORG, True, "Q")]
    assert [(v.valid_from, v.dissolved) for v in tree.history("D1")] == [
        (date(2020, 1, 1), False), (REORG, True)]
    assert [(v.valid_from, v.parent_id) for v in tree.history("cb-11")] == [
        (date(2020, 1, 1), "C1")]
    assert tree.history("nowhere") == []


def test_two_changes_on_one_day_collapse_into_one_version(tree):
    # C1 moved under P, then (the merge) under Q, both on 01/07/2025: one version
    assert [(v.valid_from, v.parent_id) for v in tree.history("C1")] == [
        (date(2020, 1, 1), "D1"), (REORG, "Q")]


def test_a_rename_and_a_move_on_one_day_make_one_version():
    log = before_reorganisation()
    log.move("C1", "P")
    log.rename("C1", "Đảng ủy xã Minh Ngọc (mới)")
    log.rename("C1", "Đảng ủy xã Bắc Mê")
    history = log.tree().history("C1")
    assert len(history) == 2
    assert (history[1].valid_from, history[1].parent_id, history[1].name) == (
        REORG, "P", "Đảng ủy xã Bắc Mê")
    assert history[0].name == "Đảng ủy xã Minh Ngọc" and history[0].parent_id == "D1"


def test_versions_on_a_date(tree):
    assert tree.version("P", date(2019, 12, 31)) is None
    assert tree.version("P", BEFORE).dissolved is False
    assert tree.version("P", REORG).dissolved is True
    assert tree.active("P", BEFORE) is not None
    assert tree.active("P", REORG) is None
    assert tree.version("nowhere", TODAY) is None
    assert tree.exists("P") and not tree.exists("nowhere")
    assert tree.last_change("C1") == REORG
    assert tree.last_change("cb-11") == date(2020, 1, 1)


def test_a_version_as_a_dict(tree):
    assert tree.version("P", REORG).as_dict() == {
        "unit_id": "P", "name": "Tỉnh ủy Hà Giang", "kind": "province", "parent_id": None,
        "valid_from": "2025-07-01", "dissolved": True, "successor_id": "Q"}


def test_a_unit_established_after_the_reorganisation_is_not_in_the_past():
    log = reorganise(before_reorganisation())
    log.establish("C3", "grassroots", "Q", on="2025-07-01")
    log.establish("cb-31", "cell", "C3", on="2025-08-01")
    tree = log.tree()
    assert "C3" not in tree.as_of(BEFORE)
    assert tree.cells_covered("C3", REORG) == []
    assert tree.cells_covered("C3", TODAY) == ["cb-31"]
    assert tree.cells_covered("Q", TODAY) == sorted([*ALL_CELLS_OF_P, "cb-31", "cb-q"])


# --------------------------------------------------------------------------- the order of steps


def test_a_district_cannot_be_dissolved_before_its_communes_leave():
    log = before_reorganisation()
    with pytest.raises(DomainRuleViolated) as excinfo:
        log.dissolve("D1")
    assert "under it" in excinfo.value.message
    log.move("C1", "P")
    log.dissolve("D1")
    assert log.tree().active("D1", REORG) is None


def test_the_merge_carries_every_remaining_child_of_the_province():
    log = before_reorganisation()
    log.move("C1", "P")
    log.dissolve("D1")
    # D2 was not dissolved: the merge moves it (with C2 and its cell) under Q
    log.merge(["P"], "Q")
    tree = log.tree()
    assert ids(tree.path("cb-21", REORG)) == ["Q", "D2", "C2", "cb-21"]
    assert ids(tree.path("cb-11", REORG)) == ["Q", "C1", "cb-11"]


# --------------------------------------------------------------------------- folding


def stored(event_type: str, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(type=event_type, data=data)


def test_the_tree_folds_stored_and_fresh_dates_alike():
    fresh, kept = Tree(), Tree()
    fresh.apply("unit_established", {"unit_id": "P", "name": "Tỉnh", "kind": "province",
                                      "parent_id": None, "effective_date": date(2020, 1, 1)})
    kept.apply("unit_established", {"unit_id": "P", "name": "Tỉnh", "kind": "province",
                                     "effective_date": "2020-01-01"})
    assert fresh.history("P") == kept.history("P")


def test_events_the_tree_does_not_model_are_ignored():
    tree = Tree.from_events([
        stored("unit_established", unit_id="P", name="Tỉnh", kind="province",
               effective_date="2020-01-01"),
        stored("units_merged", successor_id="P", merged_ids=["X"],
               effective_date="2025-07-01"),
        stored("member_admitted", member_id="dv-1", cell_id="cb", full_name="A",
               admitted_on="2025-01-01"),
    ])
    assert len(tree.history("P")) == 1
    assert ids(tree.as_of(TODAY)) == ["P"]
