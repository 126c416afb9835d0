"""The organisation tree through time. Pure: built from unit events, no I/O.

Each unit has a timeline of versions, each valid from its effective date until
the next one. The past is never rewritten: a restructuring (a merge, a split,
a subtree moved, the 2025 abolition of districts) adds versions dated when it
takes effect, so the tree as of any earlier date is still there to ask for.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from services.shared.config_files import ConfigFileError, problem_list, read_yaml
from services.shared.text import text_sort_key

#: The packaged kinds: what a service uses when its config names no file of its own.
KINDS_FILE = Path(__file__).resolve().parents[1] / "config" / "unit_kinds.yaml"


@dataclass(frozen=True)
class UnitKind:
    name: str
    label_vi: str
    label_en: str
    under: tuple[str, ...]
    meets: bool


#: The kinds a tree is built with: name -> kind.
UnitKinds = Mapping[str, UnitKind]


class _KindSpec(Schema):
    label_vi = fields.String(required=True, validate=validate.Length(min=1))
    label_en = fields.String(required=True, validate=validate.Length(min=1))
    under = fields.List(fields.String(), load_default=list, allow_none=True)
    meets = fields.Boolean(load_default=False)


def load_kinds(path: str | Path = KINDS_FILE) -> dict[str, UnitKind]:
    """The kinds a YAML file describes, checked: each names kinds it knows to sit
    under, one at least is the top of the tree and one at least is a cell (`meets`).
    Raises ConfigFileError naming the file and every problem."""
    raw = read_yaml(path)
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigFileError(path, ["expected a mapping of kind names to their "
                                     "label_vi, label_en, under and meets"])
    problems: list[str] = []
    kinds: dict[str, UnitKind] = {}
    for name, spec in raw.items():
        try:
            loaded = _KindSpec().load(spec if isinstance(spec, Mapping) else {})
        except ValidationError as exc:
            problems += problem_list(exc.messages, str(name))
            continue
        kinds[str(name)] = UnitKind(str(name), loaded["label_vi"], loaded["label_en"],
                                    tuple(loaded["under"] or ()), loaded["meets"])
    for kind in kinds.values():
        problems += [f"{kind.name}.under: no kind {parent!r}" for parent in kind.under
                     if parent not in raw]
    if not problems:
        if not any(not kind.under for kind in kinds.values()):
            problems.append("no kind is the top of the tree (every kind has `under`)")
        if not any(kind.meets for kind in kinds.values()):
            problems.append("no kind is a cell (`meets: true`): no unit could hold meetings")
    if problems:
        raise ConfigFileError(path, problems)
    return kinds


@lru_cache(maxsize=1)
def default_kinds() -> UnitKinds:
    """The packaged kinds, read on first use: for tests and pure callers. A service
    uses the kinds its config names (services.shared.settings)."""
    return MappingProxyType(load_kinds(KINDS_FILE))



@dataclass(frozen=True)
class UnitVersion:
    unit_id: str
    valid_from: date
    name: str
    kind: str
    parent_id: str | None
    dissolved: bool = False
    successor_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"unit_id": self.unit_id, "name": self.name, "kind": self.kind,
                "parent_id": self.parent_id, "valid_from": self.valid_from.isoformat(),
                "dissolved": self.dissolved, "successor_id": self.successor_id}


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


class Tree:
    """Built with the kinds its units are of (the packaged ones when none are given)."""

    def __init__(self, kinds: UnitKinds | None = None) -> None:
        self.kinds: UnitKinds = default_kinds() if kinds is None else kinds
        self._versions: dict[str, list[UnitVersion]] = {}
        self._starts: dict[str, list[date]] = {}  # valid_from of each version, for bisect

    @classmethod
    def from_events(cls, events: Iterable[Any], kinds: UnitKinds | None = None) -> Tree:
        tree = cls(kinds)
        for event in events:
            tree.apply(event.type, event.data)
        return tree

    def apply(self, event_type: str, data: dict[str, Any]) -> None:
        if event_type == "unit_established":
            self._versions[data["unit_id"]] = [UnitVersion(
                data["unit_id"], _day(data["effective_date"]), data["name"], data["kind"],
                data.get("parent_id"))]
            self._starts[data["unit_id"]] = [_day(data["effective_date"])]
        elif event_type == "unit_renamed":
            self._change(data, name=data["name"])
        elif event_type == "unit_moved":
            self._change(data, parent_id=data["parent_id"])
        elif event_type == "unit_dissolved":
            self._change(data, dissolved=True, successor_id=data.get("successor_id"))

    def _change(self, data: dict[str, Any], **changes: Any) -> None:
        timeline = self._versions[data["unit_id"]]
        when = _day(data["effective_date"])
        latest = replace(timeline[-1], valid_from=when, **changes)
        if timeline[-1].valid_from == when:
            timeline[-1] = latest  # two changes on one day: the later one completes it
        else:
            timeline.append(latest)
            self._starts[data["unit_id"]].append(when)

    # -- questions ------------------------------------------------------------------

    def exists(self, unit_id: str) -> bool:
        return unit_id in self._versions

    def version(self, unit_id: str, day: date) -> UnitVersion | None:
        """The unit as it was on `day`; None before it was established."""
        timeline = self._versions.get(unit_id)
        if not timeline:
            return None
        index = bisect_right(self._starts[unit_id], day) - 1
        return timeline[index] if index >= 0 else None

    def active(self, unit_id: str, day: date) -> UnitVersion | None:
        found = self.version(unit_id, day)
        return found if found and not found.dissolved else None

    def latest(self, unit_id: str) -> UnitVersion | None:
        timeline = self._versions.get(unit_id)
        return timeline[-1] if timeline else None

    def last_change(self, unit_id: str) -> date:
        return self._versions[unit_id][-1].valid_from

    def change_dates(self, after: date) -> list[date]:
        """Every date after `after` on which some unit changes: where the tree's shape may."""
        return sorted({v.valid_from for timeline in self._versions.values()
                       for v in timeline if v.valid_from > after})

    def history(self, unit_id: str) -> list[UnitVersion]:
        return list(self._versions.get(unit_id, []))

    def as_of(self, day: date) -> dict[str, UnitVersion]:
        """Every unit that existed on `day`, as it was then."""
        out = {}
        for unit_id in self._versions:
            found = self.active(unit_id, day)
            if found:
                out[unit_id] = found
        return out

    def children(self, unit_id: str, day: date) -> list[UnitVersion]:
        return sorted((v for v in self.as_of(day).values() if v.parent_id == unit_id),
                      key=lambda v: (text_sort_key(v.name), v.unit_id))

    def path(self, unit_id: str, day: date) -> list[UnitVersion]:
        """From the top of the tree down to the unit, as on `day`."""
        out: list[UnitVersion] = []
        current = self.active(unit_id, day)
        while current is not None:
            out.append(current)
            if len(out) > len(self._versions):
                raise RuntimeError(f"the tree has a cycle through {unit_id}")
            current = self.active(current.parent_id, day) if current.parent_id else None
        return list(reversed(out))

    def subtree(self, unit_id: str, day: date) -> list[UnitVersion]:
        """The unit and everything under it on `day`."""
        snapshot = self.as_of(day)
        below: dict[str | None, list[UnitVersion]] = {}
        for version in snapshot.values():
            below.setdefault(version.parent_id, []).append(version)
        out, stack = [], [snapshot[unit_id]] if unit_id in snapshot else []
        while stack:
            version = stack.pop()
            out.append(version)
            stack.extend(below.get(version.unit_id, []))
        return out

    def cells_covered(self, unit_id: str, day: date) -> list[str]:
        """The cells (units whose kind meets) in the unit's subtree on `day`."""
        return sorted(v.unit_id for v in self.subtree(unit_id, day)
                      if self.kinds[v.kind].meets)

    def successor(self, unit_id: str) -> str:
        """Where a unit's history belongs in today's tree: itself, or what it merged into."""
        seen = set()
        while (latest := self.latest(unit_id)) and latest.successor_id and unit_id not in seen:
            seen.add(unit_id)
            unit_id = latest.successor_id
        return unit_id
