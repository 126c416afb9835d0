"""`CHIBO_UNIT_KINDS` and `CHIBO_SCORE_SHEET` through the real config file and the
running services, as an operator sets them.

The province here relabels the packaged kinds (same names, same cells) and scores
meetings on a two-criterion sheet of its own: meetings and supervision score on that
sheet, reporting labels units with those labels, and a file that cannot be used stops
a service at start, naming the setting and the file.
"""

from __future__ import annotations

import pytest
import requests
import yaml
from nameko.standalone.rpc import ClusterRpcProxy

from services.meetings.entrypoints import MeetingsService
from services.reporting.entrypoints import ReportingService
from services.shared.score_sheet import load_sheets
from services.shared.settings import SettingError, SharedSettings
from services.shared.tree import KINDS_FILE, load_kinds
from services.supervision.entrypoints import SupervisionService
from tests.support import (
    as_caller,
    bearer,
    embedded_config,
    reporting_caught_up,
    running,
    two_cells_of_three,
    wait_until,
)
from tests.unit.test_reporting_web import visible_text
from tests.unit.test_shared_settings import TWO_CRITERIA

TIMEOUT = 30
CELL_LABELS = {"label_vi": "Chi bộ thôn, bản", "label_en": "Village or hamlet cell"}
COMMITTEE_LABELS = {"label_vi": "Đảng ủy xã", "label_en": "Commune committee"}
#: A kind only this province's file names.
RESIDENTIAL_GROUP = {"label_vi": "Chi bộ tổ dân phố", "label_en": "Residential group cell"}
OWN_POINTS = {"preparation": 28, "conduct": 65}  # 93 on the province's sheet: good
PACKAGED_POINTS = {"preparation": 15, "attendance": 20, "conduct": 45, "closing": 20}


def relabelled_kinds() -> str:
    kinds = yaml.safe_load(KINDS_FILE.read_text(encoding="utf-8"))
    kinds["cell"].update(CELL_LABELS)
    kinds["committee"].update(COMMITTEE_LABELS)
    kinds["residential_group"] = {**RESIDENTIAL_GROUP, "under": ["province"], "meets": True}
    return yaml.safe_dump(kinds, allow_unicode=True)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("province-files")
    kinds, sheet = folder / "kinds.yaml", folder / "sheet.yaml"
    kinds.write_text(relabelled_kinds(), encoding="utf-8")
    sheet.write_text(TWO_CRITERIA, encoding="utf-8")
    return kinds, sheet


@pytest.fixture(scope="module")
def system(tmp_path_factory, files):
    kinds, sheet = files
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CHIBO_UNIT_KINDS", str(kinds))
        patch.setenv("CHIBO_SCORE_SHEET", str(sheet))
        config = embedded_config(tmp_path_factory.mktemp("shared-settings"))
    with running(config) as runner, \
            ClusterRpcProxy(config, timeout=60, context_data=as_caller()) as rpc:
        two_cells_of_three(rpc, "Lò Văn Hùng")
        yield f"http://{config['WEB_SERVER_ADDRESS']}", rpc, runner


def attendance(cell: str) -> list[dict]:
    return [{"member_id": f"{cell}-{m}", "status": "present"} for m in range(3)]


def record(base: str, meeting_id: str, scores: dict) -> requests.Response:
    return requests.post(f"{base}/meetings/commands/record_meeting_held", timeout=TIMEOUT,
                         headers=bearer(), json={"meeting_id": meeting_id, "cell_id": "c1",
                               "held_on": "2026-06-05", "attendance": attendance("c1"),
                               "scores": scores})


def test_meetings_supervision_and_reporting_load_the_configured_files(system, files):
    _, _, runner = system
    kinds, sheet = files
    loaded = {container.service_name: dependency.loaded
              for container in runner.containers for dependency in container.dependencies
              if isinstance(getattr(dependency, "loaded", None), SharedSettings)}
    assert sorted(loaded) == ["meetings", "members", "reporting", "supervision"]
    for found in loaded.values():
        assert found.kinds == load_kinds(kinds)
        assert found.sheets == tuple(load_sheets(sheet))


def test_members_establishes_units_of_the_kinds_the_file_names(system):
    base, rpc, _ = system
    rpc.members.establish_unit({"unit_id": "gr-own", "name": "Tỉnh ủy", "kind": "province",
                                "parent_id": None, "effective_date": "2020-01-01"})
    answer = requests.post(f"{base}/members/commands/establish_unit", timeout=TIMEOUT,
                           headers=bearer(), json={
        "unit_id": "tdp-1", "name": "Chi bộ tổ dân phố 1", "kind": "residential_group",
        "parent_id": "gr-own", "effective_date": "2020-01-01"})
    assert answer.status_code == 201, answer.text
    refused = requests.post(f"{base}/members/commands/establish_unit", timeout=TIMEOUT,
                            headers=bearer(), json={
        "unit_id": "x-1", "name": "Thôn 1", "kind": "village", "parent_id": "gr-own",
        "effective_date": "2020-01-01"})
    assert refused.status_code == 422
    assert "residential_group" in refused.json()["fields"]["kind"][0]


def test_meetings_and_visits_are_scored_on_the_configured_sheet(system):
    base, rpc, _ = system
    held = record(base, "c1-06", OWN_POINTS)
    assert held.status_code == 201, held.text
    assert rpc.meetings.get_meeting("c1-06")["self_score"] == {
        "sheet_version": 1, "points": OWN_POINTS, "total": 93, "level": "good"}
    refused = record(base, "c1-06b", PACKAGED_POINTS)
    assert refused.status_code == 422
    assert {"scores.attendance", "scores.closing"} <= set(refused.json()["fields"])

    changed = rpc.supervision.log_visit({
        "visitor": "Đồng chí Trần Thị Mai", "cell_id": "c1", "meeting_id": "c1-06",
        "visited_on": "2026-06-05", "changed_scores": {"preparation": 20, "conduct": 55}})
    [visit] = [e["data"] for e in rpc.supervision.read_events(after=0, limit=1000)
               if e["type"] == "visit_logged" and e["data"]["visit_id"] == changed["visit_id"]]
    assert (visit["self_level"], visit["confirmed_level"]) == ("good", "fair")
    refused = requests.post(f"{base}/supervision/commands/log_visit", timeout=TIMEOUT,
                            headers=bearer(), json={
        "visitor": "Đồng chí Trần Thị Mai", "cell_id": "c1", "meeting_id": "c1-06",
        "visited_on": "2026-06-05", "changed_scores": PACKAGED_POINTS})
    assert refused.status_code == 422 and "scores.closing" in refused.json()["fields"]


def test_the_dashboard_names_kinds_as_configured(system):
    base, rpc, _ = system
    wait_until(lambda: reporting_caught_up(rpc), TIMEOUT, message="reporting caught up")
    commune = visible_text(requests.get(f"{base}/reporting/units/x", headers=bearer(),
                                        timeout=TIMEOUT).text)
    assert COMMITTEE_LABELS["label_vi"] in commune
    cell = requests.get(f"{base}/reporting/cells/c1", params={"lang": "en"}, headers=bearer(),
                        timeout=TIMEOUT)
    assert cell.status_code == 200 and CELL_LABELS["label_en"] in visible_text(cell.text)


@pytest.mark.parametrize("service", [MeetingsService, SupervisionService, ReportingService])
@pytest.mark.parametrize(("setting", "variable"), [("UNIT_KINDS", "CHIBO_UNIT_KINDS"),
                                                   ("SCORE_SHEET", "CHIBO_SCORE_SHEET")])
def test_a_file_that_cannot_be_used_stops_the_service_at_start(
        monkeypatch, tmp_path, service, setting, variable):
    broken = tmp_path / "broken.yaml"
    broken.write_text("cell: {label_vi: Chi bộ}\n", encoding="utf-8")
    monkeypatch.setenv(variable, str(broken))
    config = embedded_config(tmp_path)
    with pytest.raises(SettingError, match=f"^{setting} \\({variable}\\): {broken}: "):
        with running(config, [service]):
            pass
