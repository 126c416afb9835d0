"""The shared package's settings, from a service's config: the organisation's unit kinds
(`UNIT_KINDS`) and the meeting quality score sheets (`SCORE_SHEET`).

Each setting is the path of a YAML file; empty (or absent) means the packaged file
(`services/config/unit_kinds.yaml`, `score_sheet.yaml`). The shipped config files
fill them from `CHIBO_UNIT_KINDS` and `CHIBO_SCORE_SHEET`. A service loads them when
it starts and hands them to the code that needs them (`Tree(kinds)`,
`sheet_for(day, sheets)`); a file that cannot be used stops the start with a
SettingError naming the setting, its variable and the file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from services.shared.config_files import ConfigFileError
from services.shared.score_sheet import ScoreSheet, default_sheets, load_sheets
from services.shared.tree import UnitKinds, default_kinds, load_kinds

UNIT_KINDS = "UNIT_KINDS"
SCORE_SHEET = "SCORE_SHEET"
#: The environment variable each setting is read from in the shipped config files.
VARIABLES = {UNIT_KINDS: "CHIBO_UNIT_KINDS", SCORE_SHEET: "CHIBO_SCORE_SHEET"}

Loaded = TypeVar("Loaded")


class SettingError(ValueError):
    """A setting of the shared package that names no usable file."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting} ({VARIABLES[setting]}): {message}")
        self.setting = setting


@dataclass(frozen=True)
class SharedSettings:
    kinds: UnitKinds
    sheets: tuple[ScoreSheet, ...]


def from_config(config: Mapping[str, Any]) -> SharedSettings:
    """Both settings loaded and checked: what a service reads once at start."""
    return SharedSettings(kinds=unit_kinds(config), sheets=score_sheets(config))


def unit_kinds(config: Mapping[str, Any]) -> UnitKinds:
    path = configured_path(config, UNIT_KINDS)
    if path is None:
        return default_kinds()
    return MappingProxyType(_load(UNIT_KINDS, path, load_kinds))


def score_sheets(config: Mapping[str, Any]) -> tuple[ScoreSheet, ...]:
    path = configured_path(config, SCORE_SHEET)
    if path is None:
        return default_sheets()
    return tuple(_load(SCORE_SHEET, path, load_sheets))


def configured_path(config: Mapping[str, Any], setting: str) -> Path | None:
    """The file a setting names; None when it names none (the packaged file is meant)."""
    value = config.get(setting)
    if isinstance(value, str):
        value = value.strip().strip("'\"")  # quotes a shell or YAML left around it
    if value is None or value == "":
        return None
    if not isinstance(value, str | Path):
        raise SettingError(setting, f"{value!r} is not a file path")
    return Path(value)


def _load(setting: str, path: Path, load: Callable[[Path], Loaded]) -> Loaded:
    try:
        return load(path)
    except ConfigFileError as exc:
        raise SettingError(setting, str(exc)) from None
