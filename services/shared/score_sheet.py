"""Quality score sheets as configuration, versioned by effective date. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from chibo.errors import ValidationFailed
from services.shared.config_files import ConfigFileError, problem_list, read_yaml
from services.shared.events.meetings import QUALITY_LEVELS

#: The packaged sheets: what a service uses when its config names no file of its own.
SHEETS_FILE = Path(__file__).resolve().parents[1] / "config" / "score_sheet.yaml"


@dataclass(frozen=True)
class ScoreSheet:
    version: int
    effective_from: date
    criteria: dict[str, dict[str, Any]]
    levels: list[dict[str, Any]]  # highest threshold first

    def score(self, points: dict[str, int]) -> dict[str, Any]:
        """Check points against the sheet; the total and the level it earns."""
        problems: dict[str, list[str]] = {}
        for name in sorted(set(points) - set(self.criteria)):
            problems[f"scores.{name}"] = [f"Not a criterion of sheet v{self.version}; "
                                          f"criteria: {', '.join(self.criteria)}."]
        for name, spec in self.criteria.items():
            value = points.get(name)
            if value is None:
                problems[f"scores.{name}"] = ["Missing."]
            elif not 0 <= value <= spec["max"]:
                problems[f"scores.{name}"] = [f"Must be between 0 and {spec['max']}."]
        if problems:
            raise ValidationFailed(problems)
        total = sum(points.values())
        level = next(lv for lv in self.levels if total >= lv["min"])
        return {"sheet_version": self.version, "points": dict(points), "total": total,
                "level": level["level"]}


class _Criterion(Schema):
    label_vi = fields.String(required=True, validate=validate.Length(min=1))
    label_en = fields.String(validate=validate.Length(min=1))
    max = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))


class _Level(Schema):
    level = fields.String(required=True, validate=validate.OneOf(QUALITY_LEVELS))
    label_vi = fields.String(required=True, validate=validate.Length(min=1))
    label_en = fields.String(validate=validate.Length(min=1))
    min = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))


class _Sheet(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    effective_from = fields.Date(required=True)
    criteria = fields.Dict(keys=fields.String(), values=fields.Nested(_Criterion),
                           required=True, validate=validate.Length(min=1))
    levels = fields.List(fields.Nested(_Level), required=True, validate=validate.Length(min=1))


def load_sheets(path: str | Path = SHEETS_FILE) -> list[ScoreSheet]:
    """The sheet versions a YAML file lists, in effective order, checked: distinct
    versions and dates, levels the events know, and a level for every total (one
    starting at 0). Raises ConfigFileError naming the file and every problem."""
    raw = read_yaml(path)
    if not isinstance(raw, list) or not raw:
        raise ConfigFileError(path, ["expected a list of sheet versions, each with "
                                     "version, effective_from, criteria and levels"])
    problems: list[str] = []
    sheets: list[ScoreSheet] = []
    for index, spec in enumerate(raw):
        try:
            loaded = _Sheet().load(spec if isinstance(spec, dict) else {})
        except ValidationError as exc:
            problems += problem_list(exc.messages, f"[{index}]")
            continue
        where = f"version {loaded['version']}"
        levels = sorted(loaded["levels"], key=lambda lv: -lv["min"])
        if levels[-1]["min"] != 0:
            problems.append(f"{where}: no level starts at 0, so a low total has no level")
        if len({lv["level"] for lv in levels}) < len(levels):
            problems.append(f"{where}: a level is listed twice")
        sheets.append(ScoreSheet(loaded["version"], loaded["effective_from"],
                                 dict(loaded["criteria"]), levels))
    for attribute in ("version", "effective_from"):
        values = [getattr(sheet, attribute) for sheet in sheets]
        problems += [f"two sheets have {attribute} {value}" for value in sorted(set(values))
                     if values.count(value) > 1]
    if problems:
        raise ConfigFileError(path, problems)
    return sorted(sheets, key=lambda s: s.effective_from)


@lru_cache(maxsize=1)
def default_sheets() -> tuple[ScoreSheet, ...]:
    """The packaged sheets, read on first use: for tests and pure callers. A service
    uses the sheets its config names (services.shared.settings)."""
    return tuple(load_sheets(SHEETS_FILE))


def sheet_for(day: date, sheets: Sequence[ScoreSheet] | None = None) -> ScoreSheet:
    """The version in force on `day`, of `sheets` (the packaged ones when None)."""
    applicable = [s for s in (default_sheets() if sheets is None else sheets)
                  if s.effective_from <= day]
    if not applicable:
        raise ValidationFailed({"held_on": ["No score sheet applies this early."]})
    return applicable[-1]
