"""Sizes of simulated provinces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    committees: int  # intermediate committees (đảng ủy cấp trên cơ sở) under the province
    grassroots: int  # grassroots organisations (đảng bộ cơ sở), spread over the committees
    cells: int  # cells (chi bộ), spread over the grassroots organisations
    members: int  # members (đảng viên), spread over the cells
    description: str


PRESETS: dict[str, Preset] = {preset.name: preset for preset in (
    Preset("small", 3, 24, 240, 3_000,
           "a few hundred cells: what `make demo` loads"),
    Preset("district", 1, 37, 190, 3_970,
           "one district: 37 grassroots organisations, 190 cells, 3,970 members"),
    Preset("province", 30, 1_400, 12_000, 250_000,
           "a whole province: 30 committees, 1,400 grassroots organisations, 12,000 cells, "
           "250,000 members"),
)}
