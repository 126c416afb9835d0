"""The province simulator's plan: sizes, determinism, realistic rates, valid commands."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from clients.simulator.behaviour import Simulation
from clients.simulator.driver import command_id
from clients.simulator.presets import PRESETS, Preset
from clients.simulator.province import generate
from clients.simulator.run import first_month
from services.meetings import commands as meeting_commands
from services.members import commands as member_commands
from services.supervision import commands as supervision_commands

START = date(2025, 1, 1)
SCHEMAS = {
    ("members", "establish_unit"): member_commands.EstablishUnit,
    ("members", "import_rows"): member_commands.ImportBatch,
    ("members", "exempt_member"): member_commands.ExemptMember,
    ("members", "mark_working_away"): member_commands.MarkWorkingAway,
    ("members", "confirm_member"): member_commands.ConfirmMember,
    ("members", "merge_units"): member_commands.MergeUnits,
    ("members", "rate_member"): member_commands.RateMember,
    ("meetings", "record_meeting_held"): meeting_commands.RecordMeetingHeld,
    ("meetings", "adopt_resolution"): meeting_commands.AdoptResolution,
    ("meetings", "complete_task"): meeting_commands.CompleteTask,
    ("supervision", "log_visit"): supervision_commands.LogVisit,
}


def _year(preset: Preset, seed: int = 3) -> tuple[Simulation, list[tuple[str, list]]]:
    simulation = Simulation(generate(preset, START, seed), 12, seed)
    return simulation, list(simulation.all_phases())


def test_the_district_preset_has_the_seed_figures() -> None:
    province = generate(PRESETS["district"], START, seed=1)
    kinds = Counter(unit.kind for unit in province.units)
    assert kinds == {"province": 1, "committee": 1, "grassroots": 37, "cell": 190}
    assert len(province.members) == 3_970
    assert all(len(cell.members) >= 3 for cell in province.cells.values())
    siblings = Counter((unit.parent_id, unit.name) for unit in province.units)
    assert max(siblings.values()) == 1  # names tell apart the units under one parent


def test_the_same_seed_gives_the_same_commands_and_another_seed_others() -> None:
    preset = Preset("tiny", 2, 4, 12, 150, "")
    _, first = _year(preset, seed=5)
    _, again = _year(preset, seed=5)
    _, other = _year(preset, seed=6)
    assert first == again
    assert first != other


def test_every_command_passes_its_schema() -> None:
    simulation, phases = _year(Preset("tiny", 2, 4, 12, 150, ""))
    sent = Counter()
    for _, phase in phases:
        for command in phase:
            errors = SCHEMAS[(command.service, command.method)]().validate(
                _as_json(command.payload))
            assert not errors, (command.method, errors)
            sent[command.method] += 1
    assert sent["record_meeting_held"] > 12 * 12 * 0.9
    exempt = sum(1 for m in simulation.province.members.values() if m.excused == "exempt")
    assert sent["rate_member"] == 150 - exempt  # December is in the year; exempt: not rated
    assert sent["merge_units"] >= 1  # the mid-year restructuring


def test_a_year_behaves_like_a_province() -> None:
    simulation, phases = _year(Preset("mid", 4, 20, 200, 3_000, ""), seed=11)
    commands = [c for _, phase in phases for c in phase]
    meetings = [c.payload for c in commands if c.method == "record_meeting_held"]
    regular = Counter((m["cell_id"], m["held_on"].month) for m in meetings
                      if m["kind"] == "regular")
    assert 0.90 <= len(regular) / (200 * 12) <= 0.99  # about 95% of cells meet each month
    held = Counter(cell for cell, _ in regular)
    missed = [12 - held[cell] for cell in simulation.province.cells]
    assert any(count >= 4 for count in missed)  # a few chronically miss

    thematic = Counter(m["cell_id"] for m in meetings if m["kind"] == "thematic")
    assert 1.5 <= sum(thematic.values()) / 200 <= 4  # 2-4 a year, now and then one skipped

    lines = [line for m in meetings for line in m["attendance"]]
    due = [line for line in lines if line.get("reason") not in ("Miễn sinh hoạt",
                                                                 "Đi làm ăn xa")]
    present = sum(1 for line in due if line["status"] == "present")
    assert 0.85 <= present / len(due) <= 0.95  # attendance around 90%
    assert len(due) < len(lines)  # exempt and working-away members are listed as such

    tasks = [t for c in commands if c.method == "adopt_resolution" for t in c.payload["tasks"]]
    done = [c for c in commands if c.method == "complete_task"]
    assert 0.7 <= len(done) / len(tasks) <= 0.9  # most done, some left to go overdue

    visited = {(c.payload["cell_id"], (c.payload["visited_on"].month - 1) // 3)
               for c in commands if c.method == "log_visit"}
    assert 0.6 <= len(visited) / (200 * 4) <= 0.8  # visits each quarter, with gaps

    names = [r["full_name"] for c in commands if c.method == "import_rows"
             for r in c.payload["rows"]]
    assert any(ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ" for n in names
               for ch in n.lower())


def test_resolutions_never_count_more_votes_than_full_members_present() -> None:
    simulation, phases = _year(Preset("tiny", 2, 4, 12, 150, ""), seed=2)
    held = {c.payload["meeting_id"]: c.payload for _, phase in phases for c in phase
            if c.method == "record_meeting_held"}
    for _, phase in phases:
        for command in phase:
            if command.method == "adopt_resolution":
                meeting = held[command.payload["meeting_id"]]
                present = {line["member_id"] for line in meeting["attendance"]
                           if line["status"] == "present"}
                assert command.payload["vote"]["in_favour"] <= len(present)


@pytest.mark.parametrize(("today", "months", "first"), [
    (date(2026, 11, 22), 12, date(2025, 11, 1)),
    (date(2026, 1, 5), 1, date(2025, 12, 1)),
    (date(2026, 3, 1), 3, date(2025, 12, 1)),
])
def test_the_span_ends_with_last_month(today: date, months: int, first: date) -> None:
    assert first_month(months, today) == first


def _as_json(payload: object) -> object:
    from chibo.contracts import wire_form

    return wire_form(payload)


def test_every_command_of_a_year_has_its_own_command_id_and_keeps_it() -> None:
    """A command sent again carries the id it was first sent with (so the service answers
    it with its first answer); two different commands never share one (so none is
    answered with another's answer)."""
    _, phases = _year(Preset("tiny", 2, 4, 12, 150, ""))
    commands = [command for _, phase in phases for command in phase]
    ids = [command_id(command) for command in commands]
    assert len(set(ids)) == len(commands)
    assert all(len(i) == 64 for i in ids)
    _, again = _year(Preset("tiny", 2, 4, 12, 150, ""))
    assert [command_id(c) for _, phase in again for c in phase] == ids
