"""The shared package's YAML files (unit kinds, score sheets): read, then checked.

A file that cannot be read, is not YAML or does not fit its schema raises
`ConfigFileError`, naming the file and every problem found, so a service refuses to
start on it instead of failing later on the first command that needs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml


class ConfigFileError(ValueError):
    """A configuration file that cannot be used, and why."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path = str(path)
        self.problems = problems


def read_yaml(path: str | Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigFileError(path, [exc.strerror or str(exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigFileError(path, [f"not valid YAML ({exc})"]) from None


def problem_list(messages: Any, where: str = "") -> list[str]:
    """marshmallow's nested error messages as flat lines: ``cell.meets: Not a valid
    boolean.``"""
    if isinstance(messages, Mapping):
        return [line for key, inner in messages.items()
                for line in problem_list(inner, f"{where}.{key}" if where else str(key))]
    if isinstance(messages, list | tuple):
        return [f"{where}: {text}" if where else str(text) for text in messages]
    return [f"{where}: {messages}" if where else str(messages)]
