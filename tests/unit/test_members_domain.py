"""The rules of the organisation tree, membership and cell roles, called directly.

No broker, no database. State is built the way the members service builds it: every
decision's appends go into a small in-memory log that checks expected stream versions
and validates each event against the members catalogue (so it holds the stored, JSON
form of the data); the `Tree` and the `Member`s are then folded from that log.
Commands go through the command schemas, so dates are real `date` objects.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from marshmallow import Schema

from chibo import settings as config_files
from chibo.contracts import load_command
from chibo.errors import ConcurrencyError, DomainRuleViolated, NotFound, ValidationFailed
from chibo.eventstore.store import NewEvent, StreamAppend
from services.app import CONFIG_DIR
from services.members import commands as c
from services.members import domain
from services.shared import settings as shared_settings
from services.shared.events.members import catalogue
from services.shared.membership import Member, add_months, fold, roll
from services.shared.tree import Tree, UnitKind, load_kinds

TODAY = date(2025, 10, 15)
START = "2020-01-01"


# --------------------------------------------------------------------------- the harness


class Log:
    """The members service's event log in miniature."""

    def __init__(self) -> None:
        self.streams: dict[str, list[SimpleNamespace]] = {}
        self.events: list[SimpleNamespace] = []

    def append(self, appends: list[StreamAppend]) -> list[StreamAppend]:
        """All or nothing, like EventStore.append_many."""
        stored, versions = [], {}
        for item in appends:
            current = versions.get(item.stream_id, self.version(item.stream_id))
            if item.expected_version is not None and item.expected_version != current:
                raise ConcurrencyError(f"{item.stream_id} is at {current}, "
                                       f"not {item.expected_version}")
            versions[item.stream_id] = current + len(item.events)
            for new in item.events:
                stored.append(SimpleNamespace(stream_id=item.stream_id, type=new.type,
                                              data=catalogue.validate(new.type, new.data)))
        for event in stored:
            self.streams.setdefault(event.stream_id, []).append(event)
            self.events.append(event)
        return appends

    def version(self, stream_id: str) -> int:
        return len(self.streams.get(stream_id, ()))

    def unit_version(self, unit_id: str) -> int:
        return self.version(domain.unit_stream(unit_id))

    def unit_versions(self) -> dict[str, int]:
        prefix = len(domain.unit_stream(""))
        return {s[prefix:]: len(e) for s, e in self.streams.items() if s.startswith("unit-")}

    def tree(self, kinds: dict[str, UnitKind] | None = None) -> Tree:
        return Tree.from_events((e for e in self.events if e.stream_id.startswith("unit-")),
                                kinds)

    def members(self) -> dict[str, tuple[int, Member]]:
        folded = fold(e for e in self.events if e.stream_id.startswith("member-"))
        return {m: (self.version(domain.member_stream(m)), member)
                for m, member in folded.items()}

    def member_list(self) -> list[Member]:
        return [m for _, m in self.members().values()]

    def member(self, member_id: str) -> tuple[int, Member | None]:
        return self.members().get(member_id, (0, None))

    def roles(self, cell_id: str) -> list[SimpleNamespace]:
        return list(self.streams.get(domain.roles_stream(cell_id), []))


def cmd(schema: type[Schema], **payload: Any) -> dict[str, Any]:
    return load_command(schema(), payload)


def establish(log: Log, unit_id: str, kind: str, parent_id: str | None = None,
              on: str = START, name: str | None = None) -> list[StreamAppend]:
    return log.append(domain.establish_unit(log.tree(), cmd(
        c.EstablishUnit, unit_id=unit_id, name=name or f"Đơn vị {unit_id}", kind=kind,
        parent_id=parent_id, effective_date=on)))


def admit(log: Log, member_id: str, cell_id: str, on: str = START, name: str | None = None,
          **extra: Any) -> list[StreamAppend]:
    _, member = log.member(member_id)
    return log.append(domain.admit_member(log.tree(), member, cmd(
        c.AdmitMember, member_id=member_id, full_name=name or f"Đảng viên {member_id}",
        cell_id=cell_id, admitted_on=on, **extra), TODAY))


def decide(log: Log, rule: Callable[..., list[StreamAppend]], schema: type[Schema], *,
           tree: bool = False, today: bool = False, **payload: Any) -> list[StreamAppend]:
    """Call a member rule as the service does: (tree?, member, version, command, today?)."""
    command = cmd(schema, **payload)
    version, member = log.member(command["member_id"])
    args: list[Any] = [log.tree()] if tree else []
    args += [member, version, command]
    if today:
        args.append(TODAY)
    return rule(*args)


def do(log: Log, rule: Callable[..., list[StreamAppend]], schema: type[Schema],
       **kwargs: Any) -> list[StreamAppend]:
    return log.append(decide(log, rule, schema, **kwargs))


def confirm(log: Log, member_id: str, on: str) -> list[StreamAppend]:
    return do(log, domain.confirm_member, c.ConfirmMember, today=True, member_id=member_id,
              effective_date=on)


def full_member(log: Log, member_id: str, cell_id: str) -> None:
    admit(log, member_id, cell_id, on=START)
    confirm(log, member_id, "2021-01-01")


def only_events(appends: list[StreamAppend]) -> list[NewEvent]:
    """The events of a single-stream decision."""
    assert len(appends) == 1
    return list(appends[0].events)


def by_stream(appends: Iterable[StreamAppend]) -> dict[str, list[tuple[str, dict]]]:
    out: dict[str, list[tuple[str, dict]]] = {}
    for item in appends:
        out.setdefault(item.stream_id, []).extend((e.type, dict(e.data)) for e in item.events)
    return out


def fields_of(excinfo: pytest.ExceptionInfo[ValidationFailed]) -> set[str]:
    return set(excinfo.value.fields)


@pytest.fixture
def log() -> Log:
    """tinh (province) > huyen (committee) > xa (grassroots) > cb-1, cb-2 (cells);
    dv-1 full member of cb-1, dv-2 probationary in cb-1 since 2025-03-02."""
    log = Log()
    establish(log, "tinh", "province", name="Tỉnh ủy Thanh Hóa")
    establish(log, "huyen", "committee", "tinh", name="Huyện ủy Quan Sơn")
    establish(log, "xa", "grassroots", "huyen", name="Đảng ủy xã Na Mèo")
    establish(log, "cb-1", "cell", "xa", name="Chi bộ Bản Máy")
    establish(log, "cb-2", "cell", "xa", name="Chi bộ Bản Ngàm")
    full_member(log, "dv-1", "cb-1")
    admit(log, "dv-2", "cb-1", on="2025-03-02")
    return log


# --------------------------------------------------------------------------- stream names


def test_stream_names_are_prefixed_by_aggregate():
    assert domain.unit_stream("xa-1") == "unit-xa-1"
    assert domain.member_stream("dv-1") == "member-dv-1"
    assert domain.roles_stream("cb-1") == "roles-cb-1"


# --------------------------------------------------------------------------- establish_unit


def test_a_province_is_established_without_parent():
    command = cmd(c.EstablishUnit, unit_id="tinh", name="Tỉnh ủy Thanh Hóa", kind="province",
                  effective_date="2025-07-01")
    appends = domain.establish_unit(Tree(), command)
    assert appends == [StreamAppend("unit-tinh", 0, [NewEvent("unit_established", {
        "unit_id": "tinh", "name": "Tỉnh ủy Thanh Hóa", "kind": "province", "parent_id": None,
        "effective_date": date(2025, 7, 1)})])]


@pytest.mark.parametrize("kind,parent_kind", [
    ("committee", "province"),
    ("committee", "committee"),   # any number of intermediate levels
    ("grassroots", "province"),
    ("grassroots", "committee"),
    ("grassroots_cell", "province"),
    ("grassroots_cell", "committee"),
    ("cell", "grassroots"),
    ("cell", "committee"),
])
def test_a_unit_is_established_under_an_allowed_parent(kind, parent_kind):
    log = Log()
    if parent_kind == "province":
        establish(log, "p-1", "province")
    else:
        establish(log, "tinh", "province")
        establish(log, "p-1", parent_kind, "tinh")
    command = cmd(c.EstablishUnit, unit_id="u-1", name="Đảng ủy xã Mường Lý", kind=kind,
                  parent_id="p-1", effective_date="2025-07-01")
    [event] = only_events(domain.establish_unit(log.tree(), command))
    assert event.type == "unit_established"
    assert event.data == {"unit_id": "u-1", "name": "Đảng ủy xã Mường Lý", "kind": kind,
                          "parent_id": "p-1", "effective_date": date(2025, 7, 1)}


def test_committees_nest_to_any_depth():
    log = Log()
    establish(log, "tinh", "province")
    parent = "tinh"
    for level in range(1, 6):
        establish(log, f"k-{level}", "committee", parent)
        parent = f"k-{level}"
    establish(log, "cb", "cell", parent)
    tree = log.tree()
    assert [v.unit_id for v in tree.path("cb", TODAY)] == [
        "tinh", "k-1", "k-2", "k-3", "k-4", "k-5", "cb"]
    assert tree.cells_covered("k-1", TODAY) == ["cb"]


@pytest.mark.parametrize("kind,parent_kind", [
    ("cell", "cell"),
    ("cell", "grassroots_cell"),
    ("cell", "province"),          # a cell sits under a grassroots org or a committee
    ("committee", "grassroots"),
    ("grassroots", "grassroots"),
    ("committee", "cell"),
    ("grassroots", "cell"),
])
def test_a_unit_under_a_parent_its_kind_does_not_allow_is_refused(log, kind, parent_kind):
    parent = {"cell": "cb-1", "grassroots": "xa", "province": "tinh"}.get(parent_kind)
    if parent is None:
        establish(log, "gc", parent_kind, "huyen")
        parent = "gc"
    command = cmd(c.EstablishUnit, unit_id="u-new", name="Đơn vị con", kind=kind,
                  parent_id=parent, effective_date="2025-07-01")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit(log.tree(), command)
    assert fields_of(excinfo) == {"parent_id"}
    assert parent_kind in excinfo.value.fields["parent_id"][0]


def test_establishing_a_unit_twice_is_refused(log):
    command = cmd(c.EstablishUnit, unit_id="tinh", name="Tỉnh ủy", kind="province",
                  effective_date="2025-07-01")
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.establish_unit(log.tree(), command)
    assert "tinh" in excinfo.value.message
    assert excinfo.value.details == {"unit_id": "tinh"}


def test_establishing_twice_is_refused_before_any_other_rule(log):
    # The command is also invalid on its own (a cell without parent); the existing
    # unit is what the caller needs to hear about.
    command = cmd(c.EstablishUnit, unit_id="cb-1", name="Chi bộ", kind="cell",
                  effective_date="2025-07-01")
    with pytest.raises(DomainRuleViolated):
        domain.establish_unit(log.tree(), command)


def test_a_province_with_a_parent_is_refused(log):
    command = cmd(c.EstablishUnit, unit_id="tinh-2", name="Tỉnh ủy", kind="province",
                  parent_id="tinh", effective_date="2025-07-01")
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit(log.tree(), command)
    assert fields_of(excinfo) == {"parent_id"}
    assert "province" in excinfo.value.fields["parent_id"][0]


@pytest.mark.parametrize("kind", ["committee", "grassroots", "grassroots_cell", "cell"])
@pytest.mark.parametrize("parent_id", [None, ""])
def test_a_non_province_without_parent_is_refused(kind, parent_id):
    payload = {"unit_id": "u-1", "name": "Đơn vị", "kind": kind,
               "effective_date": "2025-07-01"}
    if parent_id is not None:
        payload["parent_id"] = parent_id
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit(Tree(), cmd(c.EstablishUnit, **payload))
    assert fields_of(excinfo) == {"parent_id"}
    if parent_id is None:
        assert kind in excinfo.value.fields["parent_id"][0]


def test_a_missing_parent_is_not_found_and_names_the_field(log):
    command = cmd(c.EstablishUnit, unit_id="cb-9", name="Chi bộ", kind="cell",
                  parent_id="nowhere", effective_date="2025-07-01")
    with pytest.raises(NotFound) as excinfo:
        domain.establish_unit(log.tree(), command)
    assert excinfo.value.details == {"field": "parent_id"}
    assert "nowhere" in excinfo.value.message
    assert excinfo.value.http_status == 404


def test_a_parent_not_yet_established_on_the_date_is_refused():
    log = Log()
    establish(log, "tinh", "province", on="2025-07-01")
    command = cmd(c.EstablishUnit, unit_id="xa", name="Đảng ủy xã", kind="grassroots",
                  parent_id="tinh", effective_date="2025-06-30")
    with pytest.raises(DomainRuleViolated) as excinfo:
        domain.establish_unit(log.tree(), command)
    assert excinfo.value.details == {"field": "parent_id"}
    # on the day the parent was established it is fine
    command["effective_date"] = date(2025, 7, 1)
    assert only_events(domain.establish_unit(log.tree(), command))[0].type == "unit_established"


def test_a_dissolved_parent_is_refused(log):
    establish(log, "huyen-2", "committee", "tinh")
    log.append(domain.dissolve_unit(log.tree(), log.unit_version("huyen-2"), cmd(
        c.DissolveUnit, unit_id="huyen-2", reason="Giải thể",
        effective_date="2025-07-01"), []))
    command = cmd(c.EstablishUnit, unit_id="xa-9", name="Đảng ủy xã", kind="grassroots",
                  parent_id="huyen-2", effective_date="2025-07-01")
    with pytest.raises(DomainRuleViolated):
        domain.establish_unit(log.tree(), command)
    command["effective_date"] = date(2025, 6, 30)
    assert only_events(domain.establish_unit(log.tree(), command))[0].type == "unit_established"


def test_an_unknown_kind_is_refused_and_the_configured_kinds_listed():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, unit_id="u-1", name="Thôn", kind="village",
            effective_date="2025-07-01")
    assert fields_of(excinfo) == {"kind"}
    message = excinfo.value.fields["kind"][0]
    for kind in ("province", "committee", "grassroots", "grassroots_cell", "cell"):
        assert kind in message
    # the rule itself knows only the tree's kinds, whatever the schema let through
    command = {"unit_id": "u-1", "name": "Thôn", "kind": "village", "parent_id": None,
               "effective_date": date(2025, 7, 1)}
    with pytest.raises(ValidationFailed) as excinfo:
        domain.establish_unit(Tree(), command)
    assert fields_of(excinfo) == {"kind"}
    assert "grassroots_cell" in excinfo.value.fields["kind"][0]


def test_kinds_come_from_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "kinds.yaml"
    config.write_text(
        "region:\n  label_vi: Vùng\n  label_en: Region\n  under: []\n"
        "village:\n  label_vi: Chi bộ thôn\n  label_en: Village cell\n"
        "  under: [region]\n  meets: true\n", encoding="utf-8")
    kinds = load_kinds(config)
    assert set(kinds) == {"region", "village"}
    assert kinds["village"] == UnitKind("village", "Chi bộ thôn", "Village cell",
                                        ("region",), True)
    assert kinds["region"].meets is False and kinds["region"].under == ()
    # CHIBO_UNIT_KINDS reaches the services as their UNIT_KINDS setting, through the
    # config file.
    monkeypatch.setenv("CHIBO_UNIT_KINDS", str(config))
    assert shared_settings.from_config(config_files.load(CONFIG_DIR / "embedded.yaml")
                                       ).kinds == kinds

    # The command schema checks kinds against the configuration loaded at start-up
    # (KINDS); the rules check them against the tree's. Commands are given loaded here.
    def unit(unit_id: str, kind: str, parent_id: str | None = None) -> dict[str, Any]:
        return {"unit_id": unit_id, "name": f"Đơn vị {unit_id}", "kind": kind,
                "parent_id": parent_id, "effective_date": date(2020, 1, 1)}

    tree = Tree(kinds)
    for command in (unit("r", "region"), unit("v", "village", "r")):
        [event] = only_events(domain.establish_unit(tree, command))
        tree.apply(event.type, event.data)
    assert tree.cells_covered("r", TODAY) == ["v"]
    with pytest.raises(ValidationFailed) as excinfo:  # a village does not sit under a village
        domain.establish_unit(tree, unit("v2", "village", "v"))
    assert fields_of(excinfo) == {"parent_id"}
    with pytest.raises(ValidationFailed) as excinfo:  # the default kinds are unknown here
        domain.establish_unit(tree, unit("p", "province"))
    assert "region" in excinfo.value.fields["kind"][0]


def test_the_default_configuration_describes_the_party_tree():
    kinds = load_kinds()
    assert {k for k, v in kinds.items() if v.meets} == {"cell", "grassroots_cell"}
    assert kinds["province"].under == ()
    assert "committee" in kinds["committee"].under
    assert kinds["cell"].label_vi == "Chi bộ"


# --------------------------------------------------------------------------- rename_unit


def rename(log: Log, unit_id: str, name: str, on: str) -> list[StreamAppend]:
    return domain.rename_unit(log.tree(), log.unit_version(unit_id), cmd(
        c.RenameUnit, unit_id=unit_id, name=name, effective_date=on))


def test_a_unit_is_renamed_from_its_effective_date(log):
    appends = rename(log, "xa", "Đảng ủy xã Mường Lý", "2025-07-01")
    assert appends == [StreamAppend("unit-xa", 1, [NewEvent("unit_renamed", {
        "unit_id": "xa", "name": "Đảng ủy xã Mường Lý", "effective_date": date(2025, 7, 1)})])]
    log.append(appends)
    tree = log.tree()
    assert tree.version("xa", date(2025, 6, 30)).name == "Đảng ủy xã Na Mèo"
    assert tree.version("xa", date(2025, 7, 1)).name == "Đảng ủy xã Mường Lý"
    assert [v.name for v in tree.path("cb-1", TODAY)][2] == "Đảng ủy xã Mường Lý"


def test_a_rename_may_not_be_dated_before_the_units_last_change(log):
    log.append(rename(log, "xa", "Đảng ủy xã Mường Lý", "2025-07-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        rename(log, "xa", "Đảng ủy xã Trung Lý", "2025-06-30")
    assert excinfo.value.details == {"field": "effective_date"}
    # the same day as the last change is not backdating
    assert rename(log, "xa", "Đảng ủy xã Trung Lý", "2025-07-01")[0].expected_version == 2


def test_a_rename_before_the_unit_existed_is_refused(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        rename(log, "xa", "Xã mới", "2019-12-31")
    assert excinfo.value.details == {"field": "unit_id"}


def test_renaming_to_the_same_name_is_refused(log):
    with pytest.raises(DomainRuleViolated):
        rename(log, "xa", "Đảng ủy xã Na Mèo", "2025-07-01")


def test_renaming_an_unknown_unit_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        rename(log, "nowhere", "Tên", "2025-07-01")
    assert excinfo.value.details == {"field": "unit_id"}


# --------------------------------------------------------------------------- move_unit


def move(log: Log, unit_id: str, parent_id: str, on: str) -> list[StreamAppend]:
    return domain.move_unit(log.tree(), log.unit_version(unit_id), cmd(
        c.MoveUnit, unit_id=unit_id, parent_id=parent_id, effective_date=on))


def test_a_unit_moves_with_its_subtree(log):
    establish(log, "huyen-2", "committee", "tinh")
    appends = move(log, "xa", "huyen-2", "2025-07-01")
    assert by_stream(appends) == {"unit-xa": [("unit_moved", {
        "unit_id": "xa", "from_parent_id": "huyen", "parent_id": "huyen-2",
        "effective_date": date(2025, 7, 1)})]}
    log.append(appends)
    tree = log.tree()
    assert [v.unit_id for v in tree.path("cb-1", date(2025, 6, 30))] == [
        "tinh", "huyen", "xa", "cb-1"]
    assert [v.unit_id for v in tree.path("cb-1", date(2025, 7, 1))] == [
        "tinh", "huyen-2", "xa", "cb-1"]
    assert tree.cells_covered("huyen", date(2025, 6, 30)) == ["cb-1", "cb-2"]
    assert tree.cells_covered("huyen", date(2025, 7, 1)) == []
    assert tree.cells_covered("huyen-2", date(2025, 7, 1)) == ["cb-1", "cb-2"]


def test_a_grassroots_org_moves_directly_under_the_province(log):
    log.append(move(log, "xa", "tinh", "2025-07-01"))
    assert [v.unit_id for v in log.tree().path("cb-2", TODAY)] == ["tinh", "xa", "cb-2"]


@pytest.mark.parametrize("target", ["huyen", "xa", "cb-1"])
def test_a_unit_cannot_move_under_itself_or_its_own_subtree(log, target):
    with pytest.raises(ValidationFailed) as excinfo:
        move(log, "huyen", target, "2025-07-01")
    assert fields_of(excinfo) == {"parent_id"}
    assert "subtree" in excinfo.value.fields["parent_id"][0]


def test_a_unit_cannot_move_anywhere_below_itself():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "k-1", "committee", "tinh")
    establish(log, "k-2", "committee", "k-1")
    establish(log, "k-3", "committee", "k-2")
    for target in ("k-1", "k-2", "k-3"):
        with pytest.raises(ValidationFailed) as excinfo:
            move(log, "k-1", target, "2025-07-01")
        assert fields_of(excinfo) == {"parent_id"}
        assert "subtree" in excinfo.value.fields["parent_id"][0]


def test_a_unit_may_move_under_a_former_descendant_once_it_is_no_longer_one():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "k-1", "committee", "tinh")
    establish(log, "k-2", "committee", "k-1")
    log.append(move(log, "k-2", "tinh", "2025-01-01"))
    with pytest.raises(ValidationFailed):
        move(log, "k-1", "k-2", "2024-12-31")
    assert move(log, "k-1", "k-2", "2025-01-01")[0].events[0].data["parent_id"] == "k-2"


def test_a_move_that_makes_a_cycle_on_a_later_date_is_refused():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "a", "committee", "tinh")
    establish(log, "b", "committee", "tinh")
    log.append(move(log, "b", "a", "2025-07-01"))  # from July b sits under a
    # a moved under b from March: from July a is under b under a
    with pytest.raises(ValidationFailed):
        log.append(move(log, "a", "b", "2025-03-01"))
    assert [v.unit_id for v in log.tree().path("b", TODAY)][0] == "tinh"


def test_a_move_follows_the_parent_kind_rules(log):
    with pytest.raises(ValidationFailed) as excinfo:
        move(log, "cb-1", "tinh", "2025-07-01")  # a cell does not sit under a province
    assert fields_of(excinfo) == {"parent_id"}


def test_moving_to_the_current_parent_is_refused(log):
    with pytest.raises(DomainRuleViolated):
        move(log, "xa", "huyen", "2025-07-01")


def test_a_move_may_not_be_backdated_before_the_units_last_change(log):
    establish(log, "huyen-2", "committee", "tinh")
    log.append(rename(log, "xa", "Đảng ủy xã Mường Lý", "2025-07-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        move(log, "xa", "huyen-2", "2025-06-30")
    assert excinfo.value.details == {"field": "effective_date"}
    assert move(log, "xa", "huyen-2", "2025-07-01")[0].expected_version == 2


def test_moving_under_an_unknown_parent_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        move(log, "xa", "nowhere", "2025-07-01")
    assert excinfo.value.details == {"field": "parent_id"}


# --------------------------------------------------------------------------- dissolve_unit


def dissolve(log: Log, unit_id: str, on: str) -> list[StreamAppend]:
    return domain.dissolve_unit(log.tree(), log.unit_version(unit_id), cmd(
        c.DissolveUnit, unit_id=unit_id, reason="Sắp xếp lại tổ chức", effective_date=on),
        log.member_list())


def test_an_empty_cell_is_dissolved(log):
    appends = dissolve(log, "cb-2", "2025-07-01")
    assert appends == [StreamAppend("unit-cb-2", 1, [NewEvent("unit_dissolved", {
        "unit_id": "cb-2", "reason": "Sắp xếp lại tổ chức", "successor_id": None,
        "effective_date": date(2025, 7, 1)})])]
    log.append(appends)
    tree = log.tree()
    assert tree.active("cb-2", date(2025, 6, 30)) is not None
    assert tree.active("cb-2", date(2025, 7, 1)) is None
    assert tree.version("cb-2", date(2025, 7, 1)).dissolved
    assert tree.cells_covered("xa", date(2025, 6, 30)) == ["cb-1", "cb-2"]
    assert tree.cells_covered("xa", date(2025, 7, 1)) == ["cb-1"]
    assert tree.successor("cb-2") == "cb-2"


def test_a_unit_with_units_under_it_cannot_be_dissolved(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        dissolve(log, "xa", "2025-07-01")
    assert "under it" in excinfo.value.message


def test_a_cell_with_members_cannot_be_dissolved(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        dissolve(log, "cb-1", "2025-07-01")
    assert "2 member" in excinfo.value.message
    # once both are transferred out it can
    for member_id in ("dv-1", "dv-2"):
        do(log, domain.transfer_member, c.TransferMember, tree=True, today=True,
           member_id=member_id, to_cell_id="cb-2", effective_date="2025-07-01")
    assert dissolve(log, "cb-1", "2025-07-01")[0].events[0].type == "unit_dissolved"
    # ... but not dated before they left
    with pytest.raises(DomainRuleViolated):
        dissolve(log, "cb-1", "2025-06-30")


def test_members_removed_before_the_date_do_not_keep_a_cell_alive(log):
    for member_id in ("dv-1", "dv-2"):
        do(log, domain.remove_member, c.RemoveMember, today=True, member_id=member_id,
           kind="deceased", reason="Từ trần", effective_date="2025-05-01")
    assert dissolve(log, "cb-1", "2025-07-01")[0].events[0].type == "unit_dissolved"


def test_a_dissolution_may_not_be_backdated(log):
    log.append(rename(log, "cb-2", "Chi bộ Bản Ngàm mới", "2025-07-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        dissolve(log, "cb-2", "2025-06-30")
    assert excinfo.value.details == {"field": "effective_date"}


def test_a_dissolved_unit_cannot_be_dissolved_again(log):
    log.append(dissolve(log, "cb-2", "2025-07-01"))
    with pytest.raises(DomainRuleViolated):
        dissolve(log, "cb-2", "2025-08-01")


# --------------------------------------------------------------------------- merge_units


def merge(log: Log, merged: list[str], successor: str, on: str) -> list[StreamAppend]:
    return domain.merge_units(log.tree(), log.unit_versions(), cmd(
        c.MergeUnits, merged_ids=merged, successor_id=successor, effective_date=on),
        log.members())


def test_cells_merge_with_their_members(log):
    full_member(log, "dv-3", "cb-2")
    appends = merge(log, ["cb-1"], "cb-2", "2025-07-01")
    assert by_stream(appends) == {
        "unit-cb-1": [("unit_dissolved", {"unit_id": "cb-1", "successor_id": "cb-2",
                                          "reason": "merged into Chi bộ Bản Ngàm",
                                          "effective_date": date(2025, 7, 1)})],
        "member-dv-1": [("member_transferred", {
            "member_id": "dv-1", "from_cell_id": "cb-1", "to_cell_id": "cb-2",
            "cause": "merge", "effective_date": date(2025, 7, 1)})],
        "member-dv-2": [("member_transferred", {
            "member_id": "dv-2", "from_cell_id": "cb-1", "to_cell_id": "cb-2",
            "cause": "merge", "effective_date": date(2025, 7, 1)})],
        "unit-cb-2": [("units_merged", {"successor_id": "cb-2", "merged_ids": ["cb-1"],
                                        "effective_date": date(2025, 7, 1)})],
    }
    log.append(appends)  # expected versions fit the log
    members = {m: member for m, (_, member) in log.members().items()}
    assert members["dv-1"].cell_on(date(2025, 6, 30)) == "cb-1"
    assert members["dv-1"].cell_on(date(2025, 7, 1)) == "cb-2"
    assert members["dv-3"].cell_on(date(2025, 7, 1)) == "cb-2"  # untouched
    tree = log.tree()
    assert tree.successor("cb-1") == "cb-2"
    assert tree.cells_covered("xa", date(2025, 6, 30)) == ["cb-1", "cb-2"]
    assert tree.cells_covered("xa", date(2025, 7, 1)) == ["cb-2"]


def test_committees_merge_and_their_children_move_to_the_successor(log):
    establish(log, "huyen-2", "committee", "tinh", name="Huyện ủy Mường Lát")
    establish(log, "xa-2", "grassroots", "huyen-2")
    establish(log, "cb-3", "cell", "xa-2")
    establish(log, "khoi", "committee", "tinh", name="Đảng ủy Khối")
    appends = merge(log, ["huyen", "huyen-2"], "khoi", "2025-07-01")
    streams = by_stream(appends)
    assert streams["unit-xa"] == [("unit_moved", {
        "unit_id": "xa", "from_parent_id": "huyen", "parent_id": "khoi",
        "effective_date": date(2025, 7, 1)})]
    assert streams["unit-xa-2"][0][1]["from_parent_id"] == "huyen-2"
    assert [t for t, _ in streams["unit-huyen"]] == ["unit_dissolved"]
    assert streams["unit-huyen-2"][0][1]["successor_id"] == "khoi"
    assert streams["unit-khoi"] == [("units_merged", {
        "successor_id": "khoi", "merged_ids": ["huyen", "huyen-2"],
        "effective_date": date(2025, 7, 1)})]
    assert not [s for s in streams if s.startswith("member-")]  # no members in committees
    log.append(appends)
    tree = log.tree()
    before, after = date(2025, 6, 30), date(2025, 7, 1)
    assert tree.cells_covered("huyen", before) == ["cb-1", "cb-2"]
    assert tree.cells_covered("khoi", before) == []
    assert tree.cells_covered("khoi", after) == ["cb-1", "cb-2", "cb-3"]
    assert [v.unit_id for v in tree.path("cb-3", before)] == ["tinh", "huyen-2", "xa-2", "cb-3"]
    assert [v.unit_id for v in tree.path("cb-3", after)] == ["tinh", "khoi", "xa-2", "cb-3"]
    assert tree.successor("huyen") == tree.successor("huyen-2") == "khoi"


def test_a_merged_id_given_twice_counts_once(log):
    appends = merge(log, ["cb-1", "cb-1"], "cb-2", "2025-07-01")
    assert by_stream(appends)["unit-cb-2"][0][1]["merged_ids"] == ["cb-1"]
    log.append(appends)


@pytest.mark.parametrize("merged,successor", [
    (["xa"], "cb-2"),       # grassroots into a cell
    (["cb-1"], "xa"),       # a cell into a grassroots org
    (["huyen"], "tinh"),    # a committee into a province
])
def test_only_units_of_the_same_kind_merge(log, merged, successor):
    with pytest.raises(ValidationFailed) as excinfo:
        merge(log, merged, successor, "2025-07-01")
    assert fields_of(excinfo) == {"merged_ids"}
    assert "same kind" in excinfo.value.fields["merged_ids"][0]


def test_a_unit_cannot_merge_into_itself(log):
    with pytest.raises(ValidationFailed) as excinfo:
        merge(log, ["cb-1", "cb-2"], "cb-2", "2025-07-01")
    assert fields_of(excinfo) == {"merged_ids"}


def test_merging_into_an_unknown_successor_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        merge(log, ["cb-1"], "cb-9", "2025-07-01")
    assert excinfo.value.details == {"field": "successor_id"}


def test_merging_a_unit_that_no_longer_exists_is_refused(log):
    log.append(dissolve(log, "cb-2", "2025-05-01"))
    establish(log, "cb-3", "cell", "xa")
    with pytest.raises(DomainRuleViolated) as excinfo:
        merge(log, ["cb-2"], "cb-3", "2025-07-01")
    assert excinfo.value.details == {"field": "merged_ids"}


def test_a_merge_may_not_be_backdated_before_a_merged_units_last_change(log):
    log.append(rename(log, "cb-1", "Chi bộ Bản Máy mới", "2025-08-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        merge(log, ["cb-1"], "cb-2", "2025-07-01")
    assert excinfo.value.details == {"field": "effective_date"}


def test_a_unit_cannot_merge_into_a_unit_of_its_own_subtree():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "a", "committee", "tinh")
    establish(log, "b", "committee", "a")
    with pytest.raises(ValidationFailed) as excinfo:
        merge(log, ["a"], "b", "2025-07-01")
    assert "successor_id" in excinfo.value.fields


def test_a_merge_may_not_be_backdated_before_a_childs_last_change(log):
    establish(log, "khoi", "committee", "tinh")
    log.append(rename(log, "xa", "Đảng ủy xã Mường Lý", "2025-08-01"))
    with pytest.raises(DomainRuleViolated):
        log.append(merge(log, ["huyen"], "khoi", "2025-07-01"))
    assert log.tree().cells_covered("huyen", date(2025, 7, 15)) == ["cb-1", "cb-2"]


def test_a_merge_is_refused_while_members_attend_the_merged_cell_temporarily(log):
    establish(log, "cb-3", "cell", "xa")
    full_member(log, "dv-9", "cb-3")
    do(log, domain.transfer_temporarily, c.TransferTemporarily, tree=True, member_id="dv-9",
       to_cell_id="cb-1", from_date="2025-05-01", until_date="2026-04-30")
    assert "dv-9" in [m["member_id"] for m in roll(log.member_list(), "cb-1",
                                                   date(2025, 6, 30))["must_attend"]]
    # They would attend a cell that no longer exists; their transfer must be redirected.
    with pytest.raises(DomainRuleViolated, match="dv-9"):
        merge(log, ["cb-1"], "cb-2", "2025-07-01")


# --------------------------------------------------------------------------- split_unit


def split(log: Log, unit_id: str, into: list[tuple[str, str]], assignments: dict[str, str],
          on: str = "2025-07-01") -> list[StreamAppend]:
    return domain.split_unit(log.tree(), log.unit_versions(), cmd(
        c.SplitUnit, unit_id=unit_id,
        into=[{"unit_id": u, "name": n} for u, n in into],
        assignments=assignments, effective_date=on), log.members())


INTO = [("cb-1a", "Chi bộ Bản Máy 1"), ("cb-1b", "Chi bộ Bản Máy 2")]


def test_a_cell_is_split_and_every_member_goes_to_a_new_cell(log):
    appends = split(log, "cb-1", INTO, {"dv-1": "cb-1a", "dv-2": "cb-1b"})
    streams = by_stream(appends)
    assert streams["unit-cb-1a"] == [("unit_established", {
        "unit_id": "cb-1a", "name": "Chi bộ Bản Máy 1", "kind": "cell", "parent_id": "xa",
        "effective_date": date(2025, 7, 1)})]
    assert streams["unit-cb-1b"][0][1]["parent_id"] == "xa"
    assert streams["member-dv-1"] == [("member_transferred", {
        "member_id": "dv-1", "from_cell_id": "cb-1", "to_cell_id": "cb-1a", "cause": "split",
        "effective_date": date(2025, 7, 1)})]
    assert streams["member-dv-2"][0][1]["to_cell_id"] == "cb-1b"
    assert streams["unit-cb-1"] == [
        ("unit_split", {"unit_id": "cb-1", "into_ids": ["cb-1a", "cb-1b"],
                        "effective_date": date(2025, 7, 1)}),
        ("unit_dissolved", {"unit_id": "cb-1", "successor_id": None, "reason": "split",
                            "effective_date": date(2025, 7, 1)})]
    log.append(appends)
    tree = log.tree()
    assert tree.cells_covered("xa", date(2025, 6, 30)) == ["cb-1", "cb-2"]
    assert tree.cells_covered("xa", date(2025, 7, 1)) == ["cb-1a", "cb-1b", "cb-2"]
    members = {m: member for m, (_, member) in log.members().items()}
    assert members["dv-1"].cell_on(date(2025, 6, 30)) == "cb-1"
    assert members["dv-1"].cell_on(date(2025, 7, 1)) == "cb-1a"
    assert members["dv-2"].cell_on(date(2025, 7, 1)) == "cb-1b"


def test_a_committee_is_split_and_its_units_assigned(log):
    establish(log, "xa-2", "grassroots", "huyen")
    appends = split(log, "huyen", [("h-1", "Đảng ủy 1"), ("h-2", "Đảng ủy 2")],
                    {"xa": "h-1", "xa-2": "h-2"})
    streams = by_stream(appends)
    assert streams["unit-h-1"][0][1]["kind"] == "committee"
    assert streams["unit-h-1"][0][1]["parent_id"] == "tinh"
    assert streams["unit-xa"] == [("unit_moved", {
        "unit_id": "xa", "from_parent_id": "huyen", "parent_id": "h-1",
        "effective_date": date(2025, 7, 1)})]
    log.append(appends)
    tree = log.tree()
    assert [v.unit_id for v in tree.path("cb-1", TODAY)] == ["tinh", "h-1", "xa", "cb-1"]
    assert tree.cells_covered("huyen", date(2025, 6, 30)) == ["cb-1", "cb-2"]
    assert tree.active("huyen", date(2025, 7, 1)) is None


def test_every_member_must_be_assigned(log):
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", INTO, {"dv-1": "cb-1a"})
    assert fields_of(excinfo) == {"assignments"}
    assert "dv-2" in excinfo.value.fields["assignments"][0]


def test_every_unit_under_it_must_be_assigned(log):
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "xa", [("x-1", "Xã 1"), ("x-2", "Xã 2")], {"cb-1": "x-1"})
    assert "cb-2" in excinfo.value.fields["assignments"][0]


def test_strangers_cannot_be_assigned(log):
    full_member(log, "dv-3", "cb-2")
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", INTO, {"dv-1": "cb-1a", "dv-2": "cb-1b", "dv-3": "cb-1b"})
    assert fields_of(excinfo) == {"assignments"}
    [message] = excinfo.value.fields["assignments"]
    assert "dv-3" in message and "dv-1" not in message


def test_assignments_go_only_to_the_new_units(log):
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", INTO, {"dv-1": "cb-1a", "dv-2": "cb-2"})
    assert fields_of(excinfo) == {"assignments"}
    assert "cb-2" in excinfo.value.fields["assignments"][0]


def test_every_assignment_problem_is_reported(log):
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", INTO, {"dv-1": "cb-2"})
    text = " ".join(excinfo.value.fields["assignments"])
    assert "dv-2" in text and "cb-2" in text


def test_new_unit_ids_must_be_new_and_distinct(log):
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", [("cb-2", "A"), ("cb-1b", "B")], {"dv-1": "cb-2", "dv-2": "cb-1b"})
    assert "cb-2" in excinfo.value.fields["into"][0]
    with pytest.raises(ValidationFailed) as excinfo:
        split(log, "cb-1", [("cb-1a", "A"), ("cb-1a", "B")], {"dv-1": "cb-1a", "dv-2": "cb-1a"})
    assert fields_of(excinfo) == {"into"}


def test_a_split_needs_two_new_units():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.SplitUnit, unit_id="cb-1", into=[{"unit_id": "a", "name": "A"}],
            assignments={}, effective_date="2025-07-01")
    assert fields_of(excinfo) == {"into"}


def test_a_split_may_not_be_backdated(log):
    log.append(rename(log, "cb-1", "Chi bộ Bản Máy mới", "2025-08-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        split(log, "cb-1", INTO, {"dv-1": "cb-1a", "dv-2": "cb-1b"})
    assert excinfo.value.details == {"field": "effective_date"}


# --------------------------------------------------------------------------- admit_member


def admission(log: Log, **payload: Any) -> list[StreamAppend]:
    payload = {"member_id": "dv-9", "full_name": "Lò Văn Sơn", "cell_id": "cb-2",
               "admitted_on": "2025-03-02", **payload}
    _, member = log.member(payload["member_id"])
    return domain.admit_member(log.tree(), member, cmd(c.AdmitMember, **payload), TODAY)


def test_a_member_is_admitted_to_a_cell(log):
    appends = admission(log)
    assert appends == [StreamAppend("member-dv-9", 0, [NewEvent("member_admitted", {
        "member_id": "dv-9", "full_name": "Lò Văn Sơn", "cell_id": "cb-2",
        "admitted_on": date(2025, 3, 2), "member_code": None, "gender": None})])]
    log.append(appends)
    _, member = log.member("dv-9")
    assert member.cell_on(date(2025, 3, 2)) == "cb-2"
    assert not member.is_full(TODAY)


@pytest.mark.parametrize("personal,expected", [
    ({"birth_date": "1990-05-04"}, {"birth_date": date(1990, 5, 4), "identity_number": None}),
    ({"identity_number": "038090001234"},
     {"birth_date": None, "identity_number": "038090001234"}),
    ({"birth_date": "1990-05-04", "identity_number": "038090001234"},
     {"birth_date": date(1990, 5, 4), "identity_number": "038090001234"}),
])
def test_personal_data_goes_into_its_own_event(log, personal, expected):
    appends = admission(log, member_code="TH-001", gender="female", **personal)
    admitted, recorded = only_events(appends)
    assert admitted.type == "member_admitted"
    assert "birth_date" not in admitted.data and "identity_number" not in admitted.data
    assert admitted.data["member_code"] == "TH-001" and admitted.data["gender"] == "female"
    assert recorded == NewEvent("member_personal_data_recorded",
                                {"member_id": "dv-9", **expected})
    log.append(appends)
    assert set(catalogue.private_fields("member_personal_data_recorded")) == {
        "birth_date", "identity_number"}


def test_no_personal_data_event_without_personal_data(log):
    assert [e.type for e in only_events(admission(log, member_code="TH-001"))] == [
        "member_admitted"]


def test_admission_today_and_on_the_day_the_cell_was_established_are_allowed(log):
    establish(log, "cb-new", "cell", "xa", on=TODAY.isoformat())
    [event] = only_events(admission(log, cell_id="cb-new", admitted_on=TODAY.isoformat()))
    assert event.data["admitted_on"] == TODAY


def test_admitting_twice_is_refused(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        admission(log, member_id="dv-1")
    assert excinfo.value.details == {"member_id": "dv-1"}
    assert "dv-1" in excinfo.value.message


def test_admitting_to_an_unknown_cell_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        admission(log, cell_id="cb-x")
    assert excinfo.value.details == {"field": "cell_id"}
    assert "cb-x" in excinfo.value.message


@pytest.mark.parametrize("unit_id,kind", [("tinh", "province"), ("huyen", "committee"),
                                          ("xa", "grassroots")])
def test_admitting_to_a_unit_that_is_not_a_cell_is_refused(log, unit_id, kind):
    with pytest.raises(ValidationFailed) as excinfo:
        admission(log, cell_id=unit_id)
    assert fields_of(excinfo) == {"cell_id"}
    message = excinfo.value.fields["cell_id"][0]
    name = log.tree().latest(unit_id).name
    assert name in message and kind in message


def test_a_grassroots_cell_admits_members(log):
    establish(log, "cbcs", "grassroots_cell", "huyen")
    assert only_events(admission(log, cell_id="cbcs"))[0].data["cell_id"] == "cbcs"


def test_admission_in_the_future_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        admission(log, admitted_on="2025-10-16")
    assert fields_of(excinfo) == {"admitted_on"}
    assert "future" in excinfo.value.fields["admitted_on"][0]


def test_admission_before_the_cell_existed_is_refused(log):
    establish(log, "cb-new", "cell", "xa", on="2025-07-01")
    with pytest.raises(ValidationFailed) as excinfo:
        admission(log, cell_id="cb-new", admitted_on="2025-06-30")
    assert fields_of(excinfo) == {"admitted_on"}
    assert "did not exist" in excinfo.value.fields["admitted_on"][0]


def test_a_historical_admission_may_predate_the_cells_record(log):
    # From a roster import: admitted elsewhere long ago; the cell must exist today.
    establish(log, "cb-new", "cell", "xa", on="2025-07-01")
    command = cmd(c.AdmitMember, member_id="dv-9", full_name="Lò Văn Sơn", cell_id="cb-new",
                  admitted_on="2010-05-19")
    with pytest.raises(ValidationFailed):
        domain.admit_member(log.tree(), None, command, TODAY)
    appends = domain.admit_member(log.tree(), None, command, TODAY, historical=True)
    assert only_events(appends)[0].data["admitted_on"] == date(2010, 5, 19)
    with pytest.raises(ValidationFailed) as excinfo:  # ... but not to a cell gone by today
        domain.admit_member(log.tree(), None, command, date(2025, 6, 30), historical=True)
    assert fields_of(excinfo) == {"admitted_on"}


def test_admission_to_a_dissolved_cell_is_refused(log):
    log.append(dissolve(log, "cb-2", "2025-07-01"))
    with pytest.raises(ValidationFailed) as excinfo:
        admission(log, admitted_on="2025-07-01")
    assert fields_of(excinfo) == {"admitted_on"}
    assert only_events(admission(log, admitted_on="2025-06-30"))[0].type == "member_admitted"


def test_names_are_nfc_normalised_and_trimmed(log):
    decomposed = unicodedata.normalize("NFD", "  Nguyễn Thị Ánh Tuyết ")
    assert decomposed.strip() != "Nguyễn Thị Ánh Tuyết"  # really decomposed
    [event] = only_events(admission(log, full_name=decomposed))
    assert event.data["full_name"] == "Nguyễn Thị Ánh Tuyết"
    assert unicodedata.is_normalized("NFC", event.data["full_name"])


def test_unit_names_are_nfc_normalised(log):
    decomposed = unicodedata.normalize("NFD", "Chi bộ Bản Ngàm")
    command = cmd(c.EstablishUnit, unit_id="cb-9", name=decomposed, kind="cell",
                  parent_id="xa", effective_date="2025-07-01")
    [event] = only_events(domain.establish_unit(log.tree(), command))
    assert event.data["name"] == "Chi bộ Bản Ngàm"
    assert len(event.data["name"]) == len("Chi bộ Bản Ngàm")


# --------------------------------------------------------------------------- confirm_member


def test_confirmation_before_twelve_months_is_refused():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "xa", "grassroots", "tinh")
    establish(log, "cb", "cell", "xa")
    admit(log, "dv", "cb", on="2024-03-02")
    with pytest.raises(ValidationFailed) as excinfo:
        confirm(log, "dv", "2025-03-01")
    assert fields_of(excinfo) == {"effective_date"}
    assert "02/03/2025" in excinfo.value.fields["effective_date"][0]
    appends = confirm(log, "dv", "2025-03-02")
    assert only_events(appends) == [NewEvent("member_confirmed", {
        "member_id": "dv", "effective_date": date(2025, 3, 2)})]
    _, member = log.member("dv")
    assert not member.is_full(date(2025, 3, 1)) and member.is_full(date(2025, 3, 2))


def test_a_member_admitted_on_29_february_is_due_on_28_february():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "cb", "grassroots_cell", "tinh")
    admit(log, "dv", "cb", on="2024-02-29")
    with pytest.raises(ValidationFailed):
        confirm(log, "dv", "2025-02-27")
    confirm(log, "dv", "2025-02-28")


def test_confirming_twice_is_refused(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        confirm(log, "dv-1", "2022-01-01")
    assert "01/01/2021" in excinfo.value.message


def test_confirmation_in_the_future_is_refused():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "cb", "grassroots_cell", "tinh")
    admit(log, "dv", "cb", on="2024-01-01")
    with pytest.raises(ValidationFailed) as excinfo:
        confirm(log, "dv", "2025-10-16")
    assert fields_of(excinfo) == {"effective_date"}


def test_confirming_an_unknown_member_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        confirm(log, "dv-x", "2025-03-02")
    assert excinfo.value.details == {"field": "member_id"}


def test_confirming_a_removed_member_is_refused():
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "cb", "grassroots_cell", "tinh")
    admit(log, "dv", "cb", on="2024-01-01")
    do(log, domain.remove_member, c.RemoveMember, today=True, member_id="dv",
       kind="struck_off", reason="Bỏ sinh hoạt 3 tháng", effective_date="2024-12-01")
    with pytest.raises(DomainRuleViolated) as excinfo:
        confirm(log, "dv", "2025-01-01")
    assert excinfo.value.details == {"field": "member_id"}


# --------------------------------------------------------------------------- reminders


@pytest.fixture
def probation() -> Log:
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "xa", "grassroots", "tinh")
    establish(log, "cb", "cell", "xa")
    establish(log, "cb-2", "cell", "xa")
    return log


def test_reminders_go_to_probationary_members_whose_twelve_months_are_up(probation):
    log = probation
    admit(log, "due", "cb", on="2024-10-15")          # due today
    admit(log, "overdue", "cb", on="2024-01-10")      # due long ago
    admit(log, "early", "cb", on="2024-10-16")        # due tomorrow
    admit(log, "full", "cb", on="2024-01-01")
    confirm(log, "full", "2025-01-01")
    admit(log, "gone", "cb", on="2024-01-01")
    do(log, domain.remove_member, c.RemoveMember, today=True, member_id="gone",
       kind="moved_out", reason="Chuyển đi", effective_date="2025-10-01")
    admit(log, "moved", "cb", on="2024-01-01")
    do(log, domain.transfer_member, c.TransferMember, tree=True, today=True, member_id="moved",
       to_cell_id="cb-2", effective_date="2025-05-01")
    appends = domain.confirmation_reminders(log.members(), TODAY)
    assert by_stream(appends) == {
        "member-due": [("membership_confirmation_due", {
            "member_id": "due", "due_on": date(2025, 10, 15), "cell_id": "cb"})],
        "member-moved": [("membership_confirmation_due", {
            "member_id": "moved", "due_on": date(2025, 1, 1), "cell_id": "cb-2"})],
        "member-overdue": [("membership_confirmation_due", {
            "member_id": "overdue", "due_on": date(2025, 1, 10), "cell_id": "cb"})],
    }
    log.append(appends)
    # a reminder is issued once
    assert domain.confirmation_reminders(log.members(), TODAY) == []
    assert domain.confirmation_reminders(log.members(), date(2025, 10, 16))[0].stream_id == (
        "member-early")


def test_no_reminder_for_a_member_who_left_the_province(probation):
    log = probation
    admit(log, "due", "cb", on="2024-01-01")
    admit(log, "left", "cb", on="2024-01-01")
    do(log, domain.transfer_member, c.TransferMember, tree=True, today=True, member_id="left",
       to_organisation="Đảng bộ tỉnh Nghệ An", effective_date="2025-05-01")
    appends = domain.confirmation_reminders(log.members(), TODAY)
    assert [a.stream_id for a in appends] == ["member-due"]
    log.append(appends)


# --------------------------------------------------------------------------- transfer_member


def transfer(log: Log, member_id: str = "dv-1", on: str = "2025-07-01",
             **target: Any) -> list[StreamAppend]:
    return decide(log, domain.transfer_member, c.TransferMember, tree=True, today=True,
                  member_id=member_id, effective_date=on, **target)


def test_a_member_is_transferred_within_the_province(log):
    appends = transfer(log, to_cell_id="cb-2")
    assert appends == [StreamAppend("member-dv-1", 2, [NewEvent("member_transferred", {
        "member_id": "dv-1", "from_cell_id": "cb-1", "to_cell_id": "cb-2",
        "to_organisation": None, "cause": "transfer",
        "effective_date": date(2025, 7, 1)})])]
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.cell_on(date(2025, 6, 30)) == "cb-1"
    assert member.cell_on(date(2025, 7, 1)) == "cb-2"


def test_a_member_is_transferred_to_a_cell_in_another_branch_of_the_tree(log):
    establish(log, "huyen-2", "committee", "tinh")
    establish(log, "cb-9", "cell", "huyen-2")
    [event] = only_events(transfer(log, to_cell_id="cb-9"))
    assert event.data["to_cell_id"] == "cb-9"


def test_a_member_is_transferred_out_of_the_province(log):
    appends = transfer(log, to_organisation="Đảng bộ tỉnh Nghệ An")
    [event] = only_events(appends)
    assert event.data["to_cell_id"] is None
    assert event.data["to_organisation"] == "Đảng bộ tỉnh Nghệ An"
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.cell_on(date(2025, 6, 30)) == "cb-1"
    assert member.cell_on(date(2025, 7, 1)) is None
    with pytest.raises(DomainRuleViolated):  # no cell here any more to transfer from
        transfer(log, on="2025-08-01", to_cell_id="cb-2")


@pytest.mark.parametrize("target", [{}, {"to_cell_id": "cb-2",
                                         "to_organisation": "Đảng bộ tỉnh Nghệ An"}])
def test_exactly_one_target_is_given(log, target):
    with pytest.raises(ValidationFailed) as excinfo:
        transfer(log, **target)
    assert fields_of(excinfo) == {"to_cell_id"}


def test_a_transfer_to_the_same_cell_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        transfer(log, to_cell_id="cb-1")
    assert fields_of(excinfo) == {"to_cell_id"}


def test_a_transfer_to_a_unit_that_is_not_a_cell_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        transfer(log, to_cell_id="xa")
    assert fields_of(excinfo) == {"to_cell_id"}


def test_a_transfer_to_an_unknown_cell_is_not_found(log):
    with pytest.raises(NotFound) as excinfo:
        transfer(log, to_cell_id="cb-x")
    assert excinfo.value.details == {"field": "to_cell_id"}


def test_a_transfer_in_the_future_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        transfer(log, on="2025-10-16", to_cell_id="cb-2")
    assert fields_of(excinfo) == {"effective_date"}


def test_a_transfer_before_admission_is_refused(log):
    with pytest.raises(DomainRuleViolated) as excinfo:
        transfer(log, member_id="dv-2", on="2025-03-01", to_cell_id="cb-2")
    assert excinfo.value.details == {"field": "member_id"}


def test_a_transfer_may_not_be_backdated_before_the_last_one(log):
    establish(log, "cb-3", "cell", "xa")
    log.append(transfer(log, on="2025-06-01", to_cell_id="cb-2"))
    with pytest.raises(DomainRuleViolated):
        log.append(transfer(log, on="2025-03-01", to_cell_id="cb-3"))
    _, member = log.member("dv-1")
    assert member.cell_on(date(2025, 7, 1)) == "cb-2"


# --------------------------------------------------------------------------- temporary transfer


def temporary(log: Log, member_id: str = "dv-1", start: str = "2025-01-15",
              until: str = "2025-12-31", **target: Any) -> list[StreamAppend]:
    target = target or {"to_cell_id": "cb-2"}
    return decide(log, domain.transfer_temporarily, c.TransferTemporarily, tree=True,
                  member_id=member_id, from_date=start, until_date=until, **target)


def test_a_member_is_temporarily_transferred(log):
    appends = temporary(log)
    assert appends == [StreamAppend("member-dv-1", 2, [NewEvent(
        "member_temporarily_transferred", {
            "member_id": "dv-1", "from_cell_id": "cb-1", "to_cell_id": "cb-2",
            "to_organisation": None, "from_date": date(2025, 1, 15),
            "until_date": date(2025, 12, 31)})])]
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.cell_on(date(2025, 6, 1)) == "cb-1"  # officially still at home
    assert member.temporarily_in(date(2025, 6, 1)) == "cb-2"


def test_a_member_is_temporarily_transferred_outside_the_province(log):
    [event] = only_events(temporary(log, to_organisation="Đảng bộ Công ty X, Hà Nội"))
    assert event.data["to_cell_id"] is None
    assert event.data["to_organisation"] == "Đảng bộ Công ty X, Hà Nội"


# from 15/01/2025: at least 3 months is until 14/04/2025; at most 2 years.
@pytest.mark.parametrize("until,accepted", [
    ("2025-04-13", False),
    ("2025-04-14", True),
    ("2025-07-01", True),
    ("2027-01-14", True),
    ("2027-01-15", False),
    ("2027-01-16", False),
    ("2025-01-01", False),
])
def test_a_temporary_transfer_lasts_three_months_to_two_years(log, until, accepted):
    if accepted:
        [event] = only_events(temporary(log, until=until))
        assert event.data["until_date"] == date.fromisoformat(until)
    else:
        with pytest.raises(ValidationFailed) as excinfo:
            temporary(log, until=until)
        assert fields_of(excinfo) == {"until_date"}


def test_the_three_month_edge_at_the_end_of_a_month(log):
    # from 30/11/2024, 3 months is through 27/02/2025 (30/11 + 3 months = 28/02, minus a day)
    with pytest.raises(ValidationFailed):
        temporary(log, start="2024-11-30", until="2025-02-26")
    temporary(log, start="2024-11-30", until="2025-02-27")


@pytest.mark.parametrize("target", [{"to_cell_id": "cb-2", "to_organisation": "X"},
                                    {"to_cell_id": None}])
def test_a_temporary_transfer_has_exactly_one_target(log, target):
    with pytest.raises(ValidationFailed) as excinfo:
        temporary(log, **target)
    assert fields_of(excinfo) == {"to_cell_id"}


def test_a_temporary_transfer_to_the_own_cell_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        temporary(log, to_cell_id="cb-1")
    assert fields_of(excinfo) == {"to_cell_id"}


def test_a_temporary_transfer_to_a_non_cell_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        temporary(log, to_cell_id="huyen")
    assert fields_of(excinfo) == {"to_cell_id"}


@pytest.mark.parametrize("start,until", [("2025-06-01", "2025-12-31"),
                                         ("2024-10-01", "2025-02-01")])
def test_overlapping_temporary_transfers_are_refused(log, start, until):
    log.append(temporary(log, start="2025-01-15", until="2025-07-01"))
    with pytest.raises(DomainRuleViolated):
        temporary(log, start=start, until=until)
    # one that starts the day after the first ends is fine
    temporary(log, start="2025-07-02", until="2025-12-31")


def test_a_temporary_transfer_enclosing_another_is_refused(log):
    log.append(temporary(log, start="2025-03-01", until="2025-06-30"))
    with pytest.raises(DomainRuleViolated):
        temporary(log, start="2025-01-01", until="2025-12-31")


def test_a_temporary_transfer_needs_the_member_on_the_rolls(log):
    with pytest.raises(DomainRuleViolated):
        temporary(log, member_id="dv-2", start="2025-01-15")  # admitted 02/03/2025
    with pytest.raises(NotFound):
        temporary(log, member_id="dv-x")


# --------------------------------------------------------------------------- exempt, away, return


def exempt(log: Log, member_id: str = "dv-1", start: str = "2025-05-01") -> list[StreamAppend]:
    return decide(log, domain.exempt_member, c.ExemptMember, member_id=member_id,
                  reason="Tuổi cao, sức yếu", from_date=start)


def away(log: Log, member_id: str = "dv-1", start: str = "2025-05-01",
         until: str | None = "2025-12-31") -> list[StreamAppend]:
    return decide(log, domain.mark_working_away, c.MarkWorkingAway, member_id=member_id,
                  reason="Đi làm ăn xa tại Bình Dương", from_date=start, until_date=until)


def back(log: Log, member_id: str = "dv-1", on: str = "2025-08-01") -> list[StreamAppend]:
    return decide(log, domain.record_return, c.RecordReturn, member_id=member_id,
                  effective_date=on)


def test_a_member_is_exempted(log):
    appends = exempt(log)
    assert appends == [StreamAppend("member-dv-1", 2, [NewEvent("member_exempted", {
        "member_id": "dv-1", "reason": "Tuổi cao, sức yếu",
        "from_date": date(2025, 5, 1)})])]
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.excuse_on(date(2025, 4, 30)) is None
    assert member.excuse_on(date(2025, 5, 1)) == ("exempt", "Tuổi cao, sức yếu")
    assert member.excuse_on(TODAY) == ("exempt", "Tuổi cao, sức yếu")


def test_an_exempt_member_cannot_be_exempted_again(log):
    log.append(exempt(log))
    with pytest.raises(DomainRuleViolated):
        exempt(log, start="2025-06-01")
    exempt(log, start="2025-04-30")  # a date before the exemption is not covered by it


def test_exemption_needs_a_reason():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.ExemptMember, member_id="dv-1", reason="", from_date="2025-05-01")
    assert fields_of(excinfo) == {"reason"}


def test_exempting_someone_not_on_the_rolls_is_refused(log):
    with pytest.raises(NotFound):
        exempt(log, member_id="dv-x")
    with pytest.raises(DomainRuleViolated):
        exempt(log, member_id="dv-2", start="2025-03-01")


def test_a_member_is_marked_working_away_for_a_period(log):
    appends = away(log)
    [event] = only_events(appends)
    assert event == NewEvent("member_working_away", {
        "member_id": "dv-1", "reason": "Đi làm ăn xa tại Bình Dương",
        "from_date": date(2025, 5, 1), "until_date": date(2025, 12, 31)})
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.excuse_on(date(2025, 4, 30)) is None
    assert member.excuse_on(date(2025, 12, 31)) == ("working_away",
                                                     "Đi làm ăn xa tại Bình Dương")
    assert member.excuse_on(date(2026, 1, 1)) is None


def test_working_away_may_be_open_ended(log):
    log.append(away(log, until=None))
    _, member = log.member("dv-1")
    assert member.excuse_on(date(2030, 1, 1))[0] == "working_away"


def test_working_away_cannot_end_before_it_starts(log):
    with pytest.raises(ValidationFailed) as excinfo:
        away(log, start="2025-05-01", until="2025-04-30")
    assert fields_of(excinfo) == {"until_date"}
    away(log, start="2025-05-01", until="2025-05-01")  # one day is a period


def test_a_member_already_away_cannot_be_marked_away_again(log):
    log.append(away(log))
    with pytest.raises(DomainRuleViolated):
        away(log, start="2025-06-01")
    away(log, start="2026-01-01", until=None)


@pytest.mark.parametrize("setup", ["exempt", "away", "temporary"])
def test_a_return_ends_the_excuse_from_that_day(log, setup):
    if setup == "exempt":
        log.append(exempt(log))
    elif setup == "away":
        log.append(away(log, until=None))
    else:
        log.append(temporary(log, start="2025-05-01", until="2026-05-01"))
    appends = back(log, on="2025-08-01")
    assert only_events(appends) == [NewEvent("member_returned", {
        "member_id": "dv-1", "effective_date": date(2025, 8, 1)})]
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.excuse_on(date(2025, 7, 31)) is not None
    assert member.excuse_on(date(2025, 8, 1)) is None
    assert member.excuse_on(TODAY) is None
    assert member.temporarily_in(date(2025, 8, 1)) is None


def test_a_return_when_nothing_excuses_the_member_is_refused(log):
    with pytest.raises(DomainRuleViolated):
        back(log)
    log.append(away(log, start="2025-05-01", until="2025-06-30"))
    with pytest.raises(DomainRuleViolated):
        back(log, on="2025-07-01")  # the period already ended
    back(log, on="2025-06-30")


# --------------------------------------------------------------------------- remove_member


def remove(log: Log, member_id: str = "dv-1", kind: str = "struck_off",
           on: str = "2025-07-01") -> list[StreamAppend]:
    return decide(log, domain.remove_member, c.RemoveMember, today=True, member_id=member_id,
                  kind=kind, reason="Lý do", effective_date=on)


@pytest.mark.parametrize("kind", ["struck_off", "expelled", "deceased", "moved_out"])
def test_a_member_is_removed_in_four_ways(log, kind):
    appends = remove(log, kind=kind)
    assert only_events(appends) == [NewEvent("member_removed", {
        "member_id": "dv-1", "kind": kind, "reason": "Lý do",
        "effective_date": date(2025, 7, 1)})]
    log.append(appends)
    _, member = log.member("dv-1")
    assert member.on_rolls(date(2025, 6, 30)) and member.cell_on(date(2025, 6, 30)) == "cb-1"
    assert not member.on_rolls(date(2025, 7, 1))
    assert member.cell_on(date(2025, 7, 1)) is None
    assert member.removed == (date(2025, 7, 1), kind, "Lý do")


def test_other_removal_kinds_and_empty_reasons_are_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.RemoveMember, member_id="dv-1", kind="resigned", reason="",
            effective_date="2025-07-01")
    assert fields_of(excinfo) == {"kind", "reason"}


def test_a_removal_in_the_future_is_refused(log):
    with pytest.raises(ValidationFailed) as excinfo:
        remove(log, on="2025-10-16")
    assert fields_of(excinfo) == {"effective_date"}


def test_a_member_cannot_be_removed_twice(log):
    log.append(remove(log))
    with pytest.raises(DomainRuleViolated):
        remove(log, kind="deceased", on="2025-08-01")


def test_removing_an_unknown_member_is_not_found(log):
    with pytest.raises(NotFound):
        remove(log, member_id="dv-x")


# --------------------------------------------------------------------------- rate_member


def rate(log: Log, member_id: str = "dv-1", year: int = 2024,
         level: str = "good") -> list[StreamAppend]:
    return decide(log, domain.rate_member, c.RateMember, today=True, member_id=member_id,
                  year=year, level=level)


@pytest.mark.parametrize("level", ["excellent", "good", "complete", "failed"])
def test_a_member_is_rated_at_one_of_four_levels(log, level):
    appends = rate(log, level=level)
    assert only_events(appends) == [NewEvent("member_rated", {
        "member_id": "dv-1", "year": 2024, "level": level})]
    log.append(appends)
    assert log.member("dv-1")[1].ratings == {2024: level}


def test_other_levels_are_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.RateMember, member_id="dv-1", year=2024, level="average")
    assert fields_of(excinfo) == {"level"}


def test_a_year_that_has_not_come_cannot_be_rated(log):
    with pytest.raises(ValidationFailed) as excinfo:
        rate(log, year=2026)
    assert fields_of(excinfo) == {"year"}
    rate(log, year=2025)  # the current year may be rated


def test_a_member_is_rated_once_a_year(log):
    log.append(rate(log))
    with pytest.raises(DomainRuleViolated):
        rate(log, level="excellent")
    rate(log, year=2023)


def test_exempt_members_are_not_rated(log):
    log.append(exempt(log, start="2024-06-01"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        rate(log, year=2024)
    assert "Exempt" in excinfo.value.message
    rate(log, year=2023)  # before the exemption


def test_a_member_not_on_the_rolls_that_year_is_not_rated(log):
    with pytest.raises(DomainRuleViolated):
        rate(log, member_id="dv-2", year=2024)  # admitted 2025


# --------------------------------------------------------------------------- cell roles


def assign(log: Log, member_id: str, role: str = "secretary", cell_id: str = "cb-1",
           start: str = "2025-01-01", until: str | None = None) -> list[StreamAppend]:
    history = log.roles(cell_id)
    _, member = log.member(member_id)
    return domain.assign_role(log.tree(), member, history, len(history), cmd(
        c.AssignRole, cell_id=cell_id, member_id=member_id, role=role, term_from=start,
        term_until=until))


def end(log: Log, member_id: str, role: str = "secretary", cell_id: str = "cb-1",
        on: str = "2025-06-30") -> list[StreamAppend]:
    history = log.roles(cell_id)
    return domain.end_role(history, len(history), cmd(
        c.EndRole, cell_id=cell_id, member_id=member_id, role=role, effective_date=on))


@pytest.fixture
def cell(log: Log) -> Log:
    """cb-1 with full members dv-1, dv-3, dv-4 and probationary dv-2."""
    full_member(log, "dv-3", "cb-1")
    full_member(log, "dv-4", "cb-1")
    return log


@pytest.mark.parametrize("role", ["secretary", "deputy_secretary", "committee_member"])
def test_a_full_member_of_the_cell_is_assigned_a_role(cell, role):
    appends = assign(cell, "dv-1", role=role, until="2027-12-31")
    assert appends == [StreamAppend("roles-cb-1", 0, [NewEvent("cell_role_assigned", {
        "cell_id": "cb-1", "member_id": "dv-1", "role": role,
        "term_from": date(2025, 1, 1), "term_until": date(2027, 12, 31)})])]
    cell.append(appends)
    [held] = domain.active_roles(cell.roles("cb-1"), TODAY)
    assert (held["member_id"], held["role"]) == ("dv-1", role)
    assert domain.active_roles(cell.roles("cb-1"), date(2024, 12, 31)) == []
    assert domain.active_roles(cell.roles("cb-1"), date(2028, 1, 1)) == []
    assert len(domain.active_roles(cell.roles("cb-1"), date(2027, 12, 31))) == 1


def test_a_probationary_member_cannot_hold_a_role(cell):
    with pytest.raises(ValidationFailed) as excinfo:
        assign(cell, "dv-2", start="2025-06-01")
    assert fields_of(excinfo) == {"member_id"}
    assert "full members" in excinfo.value.fields["member_id"][0]


def test_a_member_of_another_cell_cannot_hold_a_role_here(cell):
    full_member(cell, "dv-9", "cb-2")
    with pytest.raises(ValidationFailed) as excinfo:
        assign(cell, "dv-9")
    assert fields_of(excinfo) == {"member_id"}


def test_roles_are_held_in_cells_only(cell):
    with pytest.raises(ValidationFailed) as excinfo:
        assign(cell, "dv-1", cell_id="xa")
    assert fields_of(excinfo) == {"cell_id"}


def test_a_term_must_end_after_it_starts(cell):
    with pytest.raises(ValidationFailed) as excinfo:
        assign(cell, "dv-1", start="2025-01-01", until="2025-01-01")
    assert fields_of(excinfo) == {"term_until"}


def test_one_secretary_at_a_time(cell):
    cell.append(assign(cell, "dv-1"))
    with pytest.raises(DomainRuleViolated) as excinfo:
        assign(cell, "dv-3", start="2025-03-01")
    assert "dv-1" in excinfo.value.message
    # a deputy and committee members may sit beside the secretary
    cell.append(assign(cell, "dv-3", role="deputy_secretary", start="2025-03-01"))
    cell.append(assign(cell, "dv-4", role="committee_member", start="2025-03-01"))
    with pytest.raises(DomainRuleViolated):
        assign(cell, "dv-4", role="deputy_secretary", start="2025-04-01")
    # once the term is ended, a new secretary takes over the next day
    cell.append(end(cell, "dv-1", on="2025-06-30"))
    with pytest.raises(DomainRuleViolated):
        assign(cell, "dv-3", start="2025-06-30")
    cell.append(assign(cell, "dv-3", start="2025-07-01"))
    secretaries = [r["member_id"] for r in domain.active_roles(cell.roles("cb-1"), TODAY)
                   if r["role"] == "secretary"]
    assert secretaries == ["dv-3"]


def test_the_same_role_twice_is_refused(cell):
    cell.append(assign(cell, "dv-1", role="committee_member"))
    with pytest.raises(DomainRuleViolated):
        assign(cell, "dv-1", role="committee_member", start="2025-02-01")


def test_secretary_terms_may_not_overlap(cell):
    cell.append(assign(cell, "dv-1", start="2025-07-01"))
    with pytest.raises(DomainRuleViolated):
        assign(cell, "dv-3", start="2025-01-01")


def test_a_role_is_ended(cell):
    cell.append(assign(cell, "dv-1"))
    appends = end(cell, "dv-1", on="2025-06-30")
    assert appends == [StreamAppend("roles-cb-1", 1, [NewEvent("cell_role_ended", {
        "cell_id": "cb-1", "member_id": "dv-1", "role": "secretary",
        "effective_date": date(2025, 6, 30)})])]
    cell.append(appends)
    history = cell.roles("cb-1")
    assert [r["member_id"] for r in domain.active_roles(history, date(2025, 6, 30))] == ["dv-1"]
    assert domain.active_roles(history, date(2025, 7, 1)) == []


def test_ending_a_role_not_held_is_refused(cell):
    with pytest.raises(DomainRuleViolated):
        end(cell, "dv-1")
    cell.append(assign(cell, "dv-1"))
    with pytest.raises(DomainRuleViolated):
        end(cell, "dv-1", role="deputy_secretary")
    with pytest.raises(DomainRuleViolated):
        end(cell, "dv-1", on="2024-12-31")  # before the term began


def committee_cell(full: int, probationary: int = 0) -> Log:
    log = Log()
    establish(log, "tinh", "province")
    establish(log, "xa", "grassroots", "tinh")
    establish(log, "cb", "cell", "xa")
    for n in range(full):
        full_member(log, f"f-{n}", "cb")
    for n in range(probationary):
        admit(log, f"p-{n}", "cb", on="2025-06-01")
    return log


def flag(log: Log, on: date = TODAY) -> dict[str, Any]:
    return domain.committee_flag(log.member_list(), log.roles("cb"), "cb", on)


def test_a_cell_with_nine_full_members_and_no_committee_is_flagged():
    log = committee_cell(9)
    assert flag(log) == {"cell_id": "cb", "on": "2025-10-15", "full_members": 9,
                         "committee_members": 0, "needs_committee": True}
    # a secretary alone is not a committee
    log.append(assign(log, "f-0", cell_id="cb"))
    assert flag(log)["needs_committee"] is True


def test_a_cell_with_eight_full_members_is_not_flagged():
    log = committee_cell(8, probationary=3)  # probationary members do not count
    assert flag(log)["full_members"] == 8
    assert flag(log)["needs_committee"] is False


def test_a_cell_with_a_committee_is_not_flagged():
    log = committee_cell(10)
    log.append(assign(log, "f-1", role="committee_member", cell_id="cb", start="2025-01-01",
                      until="2025-06-30"))
    assert flag(log, date(2025, 6, 30))["needs_committee"] is False
    assert flag(log, date(2025, 6, 30))["committee_members"] == 1
    assert flag(log, date(2025, 7, 1))["needs_committee"] is True  # the term ran out


def test_the_flag_counts_full_members_on_the_date():
    log = committee_cell(9)
    assert flag(log, date(2020, 12, 31))["full_members"] == 0  # all still probationary
    do(log, domain.remove_member, c.RemoveMember, today=True, member_id="f-0",
       kind="deceased", reason="Từ trần", effective_date="2025-09-01")
    assert flag(log, date(2025, 8, 31))["needs_committee"] is True
    assert flag(log, date(2025, 9, 1))["full_members"] == 8
    assert flag(log, date(2025, 9, 1))["needs_committee"] is False


# --------------------------------------------------------------------------- command schemas


def test_establish_unit_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, name="", kind="village", effective_date="2025-13-01")
    assert fields_of(excinfo) == {"name", "kind", "effective_date"}
    assert "province" in excinfo.value.fields["kind"][0]  # lists the allowed kinds
    assert excinfo.value.code == "validation_failed"
    assert excinfo.value.http_status == 422


def test_establish_unit_schema_requires_name_kind_and_date():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit)
    assert fields_of(excinfo) == {"name", "kind", "effective_date"}


def test_a_name_of_only_spaces_is_empty():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, name="   ", kind="province", effective_date="2025-07-01")
    assert fields_of(excinfo) == {"name"}


def test_a_name_longer_than_200_characters_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, name="Đ" * 201, kind="province", effective_date="2025-07-01")
    assert fields_of(excinfo) == {"name"}


def test_empty_unit_id_is_refused_and_a_missing_one_is_generated():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, unit_id="", name="Tỉnh ủy", kind="province",
            effective_date="2025-07-01")
    assert fields_of(excinfo) == {"unit_id"}
    first = cmd(c.EstablishUnit, name="Tỉnh ủy", kind="province", effective_date="2025-07-01")
    second = cmd(c.EstablishUnit, name="Tỉnh ủy", kind="province", effective_date="2025-07-01")
    assert first["unit_id"] and second["unit_id"] and first["unit_id"] != second["unit_id"]
    assert first["parent_id"] is None


def test_unknown_fields_are_named():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, name="Tỉnh ủy", kind="province", effective_date="2025-07-01",
            level=1)
    assert fields_of(excinfo) == {"level"}


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationFailed) as excinfo:
        load_command(c.EstablishUnit(), ["tinh"])
    assert fields_of(excinfo) == {"_body"}


def test_the_message_summarises_the_fields():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.EstablishUnit, name="", kind="village", effective_date="2025-07-01")
    assert "kind:" in excinfo.value.message and "name:" in excinfo.value.message
    assert excinfo.value.to_dict()["fields"] == excinfo.value.fields


def test_admit_member_schema_names_every_bad_field():
    with pytest.raises(ValidationFailed) as excinfo:
        cmd(c.AdmitMember, full_name="", admitted_on="2 tháng 3 năm 2025", gender="x",
            identity_number="12ab")
    assert fields_of(excinfo) == {"full_name", "cell_id", "admitted_on", "gender",
                                  "identity_number"}


def test_every_decision_date_is_a_real_date():
    command = cmd(c.TransferTemporarily, member_id="dv-1", to_cell_id="cb-2",
                  from_date="2025-01-15", until_date="2025-12-31")
    assert command["from_date"] == date(2025, 1, 15)
    assert add_months(command["from_date"], 3) - timedelta(days=1) == date(2025, 4, 14)
