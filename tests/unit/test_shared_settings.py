"""The unit kinds and the score sheets as settings of the service config.

`UNIT_KINDS` and `SCORE_SHEET` name a YAML file each (empty: the packaged one); both
config files fill them from CHIBO_UNIT_KINDS and CHIBO_SCORE_SHEET. A file that cannot
be used is refused with an error naming the setting, its variable and the file; and
the code that needs kinds or sheets answers from the ones it is given.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from chibo import settings as config_files
from chibo.db import create_schema, make_engine, session_factory
from services.app import CONFIG_DIR
from services.meetings import replica as meetings_replica
from services.reporting import queries
from services.reporting.projector import project_run
from services.reporting.read_model import metadata as reporting_metadata
from services.reporting.read_model import units
from services.reporting.web.i18n import Translator
from services.shared import settings
from services.shared.score_sheet import default_sheets, load_sheets, sheet_for
from services.shared.settings import SettingError
from services.shared.tree import Tree, default_kinds, load_kinds
from services.supervision import read_model as supervision_read_model
from services.supervision import replica as supervision_replica
from tests.unit.test_reporting_projection import Log, unit

ROOT = Path(__file__).resolve().parents[2]

#: A province organised in regions and villages: no kind of the packaged file.
VILLAGES = textwrap.dedent("""\
    region: {label_vi: Đảng ủy vùng, label_en: Regional committee, under: []}
    village: {label_vi: Chi bộ thôn, label_en: Village cell, under: [region], meets: true}
    """)
#: One version, two criteria: no criterion of the packaged sheet.
TWO_CRITERIA = textwrap.dedent("""\
    - version: 1
      effective_from: 2020-01-01
      criteria:
        preparation: {label_vi: Chuẩn bị, max: 30}
        conduct: {label_vi: Tiến hành, max: 70}
      levels:
        - {level: good, label_vi: Tốt, min: 90}
        - {level: fair, label_vi: Khá, min: 70}
        - {level: average, label_vi: Trung bình, min: 50}
        - {level: poor, label_vi: Kém, min: 0}
    """)


def written(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def villages(tmp_path: Path) -> Path:
    return written(tmp_path, "kinds.yaml", VILLAGES)


@pytest.fixture
def two_criteria(tmp_path: Path) -> Path:
    return written(tmp_path, "sheet.yaml", TWO_CRITERIA)


# -- through the config files -------------------------------------------------------------

@pytest.mark.parametrize("config_file", ["embedded.yaml", "distributed.yaml"])
def test_empty_settings_mean_the_packaged_files(monkeypatch, config_file):
    monkeypatch.delenv("CHIBO_UNIT_KINDS", raising=False)
    monkeypatch.delenv("CHIBO_SCORE_SHEET", raising=False)
    config = config_files.load(CONFIG_DIR / config_file)
    assert (config["UNIT_KINDS"], config["SCORE_SHEET"]) == ("", "")
    loaded = settings.from_config(config)
    assert loaded.kinds == default_kinds() and loaded.sheets == default_sheets()
    assert settings.from_config({}) == loaded


@pytest.mark.parametrize("config_file", ["embedded.yaml", "distributed.yaml"])
def test_the_variables_feed_the_settings_through_either_config_file(
        monkeypatch, villages, two_criteria, config_file):
    monkeypatch.setenv("CHIBO_UNIT_KINDS", str(villages))
    monkeypatch.setenv("CHIBO_SCORE_SHEET", str(two_criteria))
    config = config_files.load(CONFIG_DIR / config_file)
    assert (config["UNIT_KINDS"], config["SCORE_SHEET"]) == (str(villages), str(two_criteria))
    loaded = settings.from_config(config)
    assert loaded.kinds == load_kinds(villages)
    assert loaded.sheets == tuple(load_sheets(two_criteria))


def test_a_config_may_name_the_files_itself(villages, two_criteria):
    loaded = settings.from_config({"UNIT_KINDS": villages, "SCORE_SHEET": f"'{two_criteria}'"})
    assert set(loaded.kinds) == {"region", "village"}
    assert set(sheet_for(date(2026, 1, 1), loaded.sheets).criteria) == {"preparation", "conduct"}


def test_importing_the_services_reads_no_file_the_environment_names():
    # The variables are read when a config is loaded, not when a module is imported.
    env = {**os.environ, "CHIBO_UNIT_KINDS": "/nonexistent/kinds.yaml",
           "CHIBO_SCORE_SHEET": "/nonexistent/sheet.yaml"}
    code = ("import services.shared.tree, services.shared.score_sheet, "
            "services.meetings.entrypoints, services.supervision.entrypoints, "
            "services.reporting.entrypoints")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


# -- files that cannot be used --------------------------------------------------------------

@pytest.mark.parametrize(("text", "problem"), [
    (None, "No such file"),
    ("region: [", "not valid YAML"),
    ("- region\n- village\n", "expected a mapping"),
    (VILLAGES.replace(", label_en: Village cell", ""), "village.label_en: Missing data"),
    (VILLAGES.replace("under: [region]", "under: [district]"), "village.under: no kind 'district'"),
    (VILLAGES.replace("meets: true", "meet: true"), "village.meet: Unknown field."),
    (VILLAGES.replace("meets: true", "meets: maybe"), "village.meets: Not a valid boolean."),
    (VILLAGES.replace(", meets: true", ""), "no kind is a cell"),
    (VILLAGES.replace("under: []", "under: [village]"), "no kind is the top of the tree"),
])
def test_a_kinds_file_that_cannot_be_used_is_refused_naming_setting_and_file(
        tmp_path, text, problem):
    path = tmp_path / "kinds.yaml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingError) as refused:
        settings.from_config({"UNIT_KINDS": str(path)})
    message = str(refused.value)
    assert message.startswith(f"UNIT_KINDS (CHIBO_UNIT_KINDS): {path}: "), message
    assert problem in message


@pytest.mark.parametrize(("text", "problem"), [
    ("version: 1\n", "expected a list of sheet versions"),
    (TWO_CRITERIA.replace("level: good", "level: excellent"), "[0].levels.0.level: Must be one of"),
    (TWO_CRITERIA.replace("min: 0", "min: 10"), "version 1: no level starts at 0"),
    (TWO_CRITERIA.replace("level: fair", "level: good"), "version 1: a level is listed twice"),
    (TWO_CRITERIA.replace("max: 70", "max: many"), "[0].criteria.conduct.value.max: Not a valid"),
    (TWO_CRITERIA.replace("effective_from: 2020-01-01", "effective_from: soon"),
     "[0].effective_from: Not a valid date."),
    (TWO_CRITERIA + TWO_CRITERIA.replace("2020-01-01", "2025-01-01"), "two sheets have version 1"),
    (TWO_CRITERIA + TWO_CRITERIA.replace("version: 1", "version: 2"),
     "two sheets have effective_from 2020-01-01"),
])
def test_a_score_sheet_file_that_cannot_be_used_is_refused_naming_setting_and_file(
        tmp_path, text, problem):
    path = written(tmp_path, "sheet.yaml", text)
    with pytest.raises(SettingError) as refused:
        settings.from_config({"SCORE_SHEET": str(path)})
    message = str(refused.value)
    assert message.startswith(f"SCORE_SHEET (CHIBO_SCORE_SHEET): {path}: "), message
    assert problem in message


def test_the_packaged_files_are_valid():
    assert {name for name, kind in load_kinds().items() if kind.meets} == {
        "cell", "grassroots_cell"}
    assert [sheet.version for sheet in load_sheets()] == [1]


# -- the code that needs them answers from the ones it is given -------------------------

def test_a_tree_and_a_sheet_use_what_they_are_given(villages, two_criteria):
    loaded = settings.from_config({"UNIT_KINDS": villages, "SCORE_SHEET": two_criteria})
    tree = Tree.from_events([
        SimpleNamespace(type="unit_established", data={
            "unit_id": u, "name": u, "kind": kind, "parent_id": parent,
            "effective_date": "2020-01-01"})
        for u, kind, parent in (("r", "region", None), ("v", "village", "r"))], loaded.kinds)
    assert tree.cells_covered("r", date(2021, 1, 1)) == ["v"]
    assert Tree().kinds == default_kinds()
    points = {"preparation": 28, "conduct": 65}
    assert sheet_for(date(2026, 1, 1), loaded.sheets).score(points)["level"] == "good"


def envelope(position: int, type_: str, **data) -> dict:
    return {"source": "members", "position": position, "type": type_, "data": data,
            "event_id": f"e{position}"}


def test_meetings_and_supervision_replicas_ask_the_kinds_they_are_given(villages):
    kinds = load_kinds(villages)
    engine = make_engine("sqlite://")
    create_schema(engine, meetings_replica.metadata, supervision_replica.metadata,
                  supervision_read_model.metadata)
    established = [envelope(1, "unit_established", unit_id="r", name="Vùng 1", kind="region",
                            effective_date="2020-01-01"),
                   envelope(2, "unit_established", unit_id="v", name="Thôn 1", kind="village",
                            parent_id="r", effective_date="2020-01-01")]
    with session_factory(engine)() as session, session.begin():
        for event in established:
            meetings_replica.apply_member_event(session, event)
            supervision_replica.apply(session, event)
        day = date(2026, 1, 5)
        assert meetings_replica.cell(session, "v", day, kinds)["meets"] is True
        assert meetings_replica.cell(session, "v", day, default_kinds())["meets"] is False
        tree = supervision_replica.load_tree(session, supervision_replica.EVERYTHING, kinds)
        assert tree.cells_covered("r", day) == ["v"]
        assert supervision_replica.Facts(session, {"members": 2}, kinds).tree.kinds == kinds


def test_reporting_projects_and_reports_with_the_kinds_it_is_given(villages):
    kinds = load_kinds(villages)
    log = Log()
    unit(log, "R", "region", None)
    unit(log, "V", "village", "R")
    engine = make_engine("sqlite://")
    create_schema(engine, reporting_metadata)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        project_run(session, log.events, kinds=kinds)
    with factory() as session, session.begin():
        assert dict(session.execute(select(units.c.unit_id, units.c.is_cell)).all()) == {
            "R": False, "V": True}
        page = queries.overview(session, "R", "2026-02", "then", today=date(2026, 3, 10),
                                kinds=kinds)
    [child] = page["children"]
    assert (child["kind"], child["href"]) == ("village", "/reporting/cells/V")
    assert Translator("vi", kinds).code("unit_kind", "village") == "Chi bộ thôn"
    assert Translator("en", kinds).code("unit_kind", "region") == "Regional committee"
    # The packaged kinds know no village.
    assert Translator("vi").code("unit_kind", "village") == "unit_kind.village"
