"""Command bodies are taken as JSON types mean them: a number where a number is meant,
an integer where an integer is, true/false for a yes-or-no, dates as YYYY-MM-DD within
the years the system reasons about. Nothing is rounded, cast or parsed into shape."""

from __future__ import annotations

from typing import Any

import pytest

from chibo.contracts import load_command
from chibo.errors import ValidationFailed
from services.meetings import commands as meetings
from services.members import commands as members
from services.supervision import commands as supervision

RATE = {"member_id": "dv-1", "year": 2025, "level": "good"}
PREPARE = {"meeting_id": "m-1", "preparation_held_on": "2025-10-01"}
HELD = {"cell_id": "cb-1", "held_on": "2025-10-05", "attendance": []}
RESOLVE = {"meeting_id": "m-1", "title": "Nghị quyết tháng 10",
           "vote": {"in_favour": 5, "against": 0, "abstaining": 0}}
VISIT = {"visitor": "Hà Thị Lan", "cell_id": "cb-1", "meeting_id": "m-1",
         "visited_on": "2025-10-05"}
ROW = {"line": 2, "member_code": "DV1", "full_name": "Lò Văn Máy", "cell_code": "cb-1",
       "admitted_on": "2015-01-01", "status": "probationary"}

BAD = [
    # (schema, a good body, the field, a bad value for it, where the problem is reported)
    (members.RateMember, RATE, "year", 2025.5, ("year",)),
    (members.RateMember, RATE, "year", 2025.0, ("year",)),
    (members.RateMember, RATE, "year", "2024", ("year",)),
    (members.RateMember, RATE, "year", True, ("year",)),
    (members.RateMember, RATE, "year", 10**20, ("year",)),
    (members.ImportRow, ROW, "line", 2.5, ("line",)),
    (members.ImportRow, ROW, "line", "2", ("line",)),
    (members.ImportRow, ROW, "line", 0, ("line",)),
    (members.ConfirmMember, {"member_id": "dv-1", "effective_date": "2025-10-01"},
     "effective_date", "20251001", ("effective_date",)),
    (members.ConfirmMember, {"member_id": "dv-1", "effective_date": "2025-10-01"},
     "effective_date", "2025-W40-3", ("effective_date",)),
    (members.ConfirmMember, {"member_id": "dv-1", "effective_date": "2025-10-01"},
     "effective_date", "0001-01-01", ("effective_date",)),
    (members.ConfirmMember, {"member_id": "dv-1", "effective_date": "2025-10-01"},
     "effective_date", "9999-12-31", ("effective_date",)),
    (members.ConfirmMember, {"member_id": "dv-1", "effective_date": "2025-10-01"},
     "effective_date", 20251001, ("effective_date",)),
    (meetings.RecordPreparation, PREPARE, "higher_committee_notified", 1,
     ("higher_committee_notified",)),
    (meetings.RecordPreparation, PREPARE, "higher_committee_notified", "yes",
     ("higher_committee_notified",)),
    (meetings.RecordPreparation, PREPARE, "higher_committee_notified", "true",
     ("higher_committee_notified",)),
    (meetings.RecordMeetingHeld, HELD, "dues_collected", 0, ("dues_collected",)),
    (meetings.RecordMeetingHeld, HELD, "scores", {"preparation": 12.5}, ("scores",)),
    (meetings.RecordMeetingHeld, HELD, "scores", {"preparation": "12"}, ("scores",)),
    (meetings.RecordMeetingHeld, HELD, "scores", {"preparation": True}, ("scores",)),
    (meetings.RecordMeetingHeld, HELD, "attendance",
     [{"member_id": "dv-1", "status": "present", "dues_paid": "yes"}], ("attendance",)),
    (meetings.AdoptResolution, RESOLVE, "vote",
     {"in_favour": 4.5, "against": 0, "abstaining": 0}, ("vote",)),
    (meetings.AdoptResolution, RESOLVE, "vote",
     {"in_favour": "5", "against": 0, "abstaining": 0}, ("vote",)),
    (meetings.AdoptResolution, RESOLVE, "vote",
     {"in_favour": 10**12, "against": 0, "abstaining": 0}, ("vote",)),
    (meetings.AdoptResolution, RESOLVE, "vote",
     {"in_favour": True, "against": False, "abstaining": 0}, ("vote",)),
    (supervision.LogVisit, VISIT, "confirm_score", "false", ("confirm_score",)),
    (supervision.LogVisit, VISIT, "confirm_score", 1, ("confirm_score",)),
    (supervision.LogVisit, VISIT, "changed_scores", {"conduct": 40.0}, ("changed_scores",)),
    (supervision.AssignFollower, {"follower": "Hà", "cell_ids": ["cb-1"],
                                  "from_date": "2025-01-01"}, "from_date", "2025-1-1",
     ("from_date",)),
]


@pytest.mark.parametrize(("schema", "body", "field", "value", "named"), BAD,
                         ids=[f"{s.__name__}.{f}={v!r}" for s, _, f, v, _ in BAD])
def test_a_value_of_the_wrong_json_type_is_refused_naming_the_field(
        schema: type, body: dict[str, Any], field: str, value: Any, named: tuple[str]) -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_command(schema(), {**body, field: value})
    assert tuple(caught.value.fields) == named


def test_the_good_forms_still_load() -> None:
    assert load_command(members.RateMember(), RATE)["year"] == 2025
    prepared = load_command(meetings.RecordPreparation(),
                            {**PREPARE, "higher_committee_notified": True})
    assert prepared["higher_committee_notified"] is True
    held = load_command(meetings.RecordMeetingHeld(),
                        {**HELD, "dues_collected": False, "scores": {"preparation": 12}})
    assert held["dues_collected"] is False and held["scores"] == {"preparation": 12}
    assert load_command(members.ConfirmMember(), {"member_id": "dv-1",
                                                  "effective_date": "2200-12-31"})
