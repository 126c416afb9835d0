"""Quality score sheets as configuration, versioned by effective date. Pure."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from chibo.errors import ValidationFailed

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


def load_sheets(path: str | Path | None = None) -> list[ScoreSheet]:
    path = path or os.environ.get("CHIBO_SCORE_SHEET") or SHEETS_FILE
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    sheets = [ScoreSheet(int(s["version"]), s["effective_from"], dict(s["criteria"]),
                         sorted(s["levels"], key=lambda lv: -lv["min"])) for s in raw]
    return sorted(sheets, key=lambda s: s.effective_from)


SHEETS = load_sheets()


def sheet_for(day: date, sheets: list[ScoreSheet] | None = None) -> ScoreSheet:
    applicable = [s for s in (SHEETS if sheets is None else sheets) if s.effective_from <= day]
    if not applicable:
        raise ValidationFailed({"held_on": ["No score sheet applies this early."]})
    return applicable[-1]
