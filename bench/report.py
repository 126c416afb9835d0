"""docs/benchmarks.md from one run's figures: the machine, the date, every figure, and
each target with whether this run met it."""

from __future__ import annotations

import fnmatch
import math
import operator
import os
import platform
import re
import sqlite3
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import create_engine, text

from bench._support import PG_ADMIN_URL, Row


@dataclass(frozen=True)
class Target:
    pattern: str  # fnmatch pattern over figure labels; every match must meet the target
    compare: str  # "≥" or "<"
    threshold: float
    what: str

    def met(self, value: float) -> bool:
        check: Callable[[float, float], bool] = {"≥": operator.ge, "<": operator.lt}[
            self.compare]
        return not math.isnan(value) and check(value, self.threshold)


TARGETS = (
    Target("append *: 1 writer, 1 event/txn, chibo / pyeventsourcing", "≥", 1.5,
           "event-store append, 1 writer ≥ 1.5× pyeventsourcing"),
    Target("append *: 1 writer / raw inserts", "≥", 50,
           "event-store append, 1 writer ≥ 50% of raw single-row insert transactions"),
    Target("append *: 4 writers, 1 event/txn, chibo / pyeventsourcing", "≥", 3,
           "event-store append, 4 writers ≥ 3× pyeventsourcing"),
    Target("relay / raw kombu (best)", "≥", 50, "relay ≥ 50% of raw kombu with confirms"),
    Target("simulate *: events end to end *", "≥", 500,
           "end to end (commands over HTTP → reporting) ≥ 500 events/s"),
    Target("e2e distributed: events reaching reporting", "≥", 500,
           "end to end over HTTP, each service its own process (RabbitMQ+PostgreSQL), "
           "≥ 500 events/s"),
    Target("e2e distributed: command->reporting p99", "<", 200,
           "end to end p99 (commands over HTTP, RabbitMQ+PostgreSQL) < 200 ms"),
    Target("reporting: chibo rebuild from the archive", "≥", 100_000,
           "read-model rebuild ≥ 100,000 events/s"),
    Target("reporting: rebuild / raw COPY", "≥", 25, "rebuild ≥ 25% of a raw COPY"),
    Target("reporting: rebuild peak RSS", "<", 1024, "rebuild peak memory < 1 GiB"),
    Target("simulate province: wall time to the dashboard", "<", 45,
           "a province-year (12,000 cells, 12 months) run and projected in < 45 min"),
    Target("month_close *: month (*, median of *", "<", 2, "a month close < 2 s"),
    Target("dashboard*p95 (12,000 cells*", "<", 100,
           "dashboard pages p95 < 100 ms, 20 clients, 12,000 cells"),
    Target("peak RSS: *", "<", 500, "each service < 500 MiB"),
)


def machine() -> str:
    memory = next((int(line.split()[1]) // 1024 ** 2 for line in open("/proc/meminfo")
                   if line.startswith("MemTotal:")), 0)
    parts = [f"{os.cpu_count()} cores", f"{memory} GiB",
             f"{platform.system()} {platform.release()}", f"Python {platform.python_version()}",
             f"SQLite {sqlite3.sqlite_version}"]
    try:
        engine = create_engine(PG_ADMIN_URL)
        with engine.connect() as connection:
            parts.append(connection.execute(text("SHOW server_version")).scalar().split()[0]
                         .join(("PostgreSQL ", "")))
        engine.dispose()
    except Exception:  # noqa: BLE001 - the description does without it
        pass
    try:
        answer = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True,
                                text=True, timeout=30)
        if answer.returncode == 0:
            parts.append(f"RabbitMQ {answer.stdout.strip()}")
    except (OSError, subprocess.TimeoutExpired):
        pass
    return ", ".join(parts) + "; every server on loopback"


def _shown(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


@dataclass(frozen=True)
class Section:
    name: str
    description: str
    figures: list[Row]
    #: DD/MM/YYYY of the run that measured it, when that was an earlier run than this one.
    measured_on: str | None = None


_WRITTEN = re.compile(r"^Written by .* on (\d\d/\d\d/\d{4})")
_KEPT = re.compile(r"^_Measured on (\d\d/\d\d/\d{4}), by an earlier run than the rest\._$")


def earlier_sections(text: str) -> dict[str, Section]:
    """The sections of an earlier benchmarks.md, by benchmark name, each with the date it
    was measured: so a run of some benchmarks rewrites the file without losing the
    figures of the others."""
    written = next((m.group(1) for m in map(_WRITTEN.match, text.splitlines()) if m), None)
    found: dict[str, Section] = {}
    for chunk in re.split(r"(?m)^## ", text)[1:]:
        name, _, body = chunk.partition("\n")
        if name.strip() == "Targets":
            continue
        description, figures, measured_on = [], [], written
        for line in body.splitlines():
            kept = _KEPT.match(line)
            if kept:
                measured_on = kept.group(1)
            elif line.startswith("| ") and not line.startswith(("| figure |", "|---")):
                label, value, unit = (cell.strip() for cell in line.strip("|").split(" | "))
                figures.append((label, math.nan if value == "—" else
                                float(value.replace(",", "")), unit))
            elif not line.startswith("|"):
                description.append(line)
        found[name.strip()] = Section(name.strip(), "\n".join(description).strip(), figures,
                                      measured_on)
    return found


def render(sections: Sequence[Section], command: str, quick: bool) -> str:
    """Markdown for `sections`, each a benchmark's name, description and figures."""
    rows = [(label, value, unit, section.measured_on) for section in sections
            for label, value, unit in section.figures]
    lines = [
        "# Benchmarks", "",
        f"Written by `{command}` on {date.today():%d/%m/%Y}"
        + (" (quick: smaller runs)" if quick else "") + ".", "",
        f"Machine: {machine()}. Figures move ±25% from run to run here; comparisons run "
        "side by side in the same run. What the figures mean, and why some targets are "
        "not met, is in [performance.md](performance.md). A section measured by an "
        "earlier run than the rest says so, with its date.", "",
        "## Targets", "",
        "| target | figure | value | met |", "|---|---|---:|:---:|",
    ]
    for target in TARGETS:
        matched = [row for row in rows if fnmatch.fnmatch(row[0], target.pattern)]
        if not matched:
            lines.append(f"| {target.what} | not measured | | |")
        for label, value, unit, measured_on in matched:
            when = f" (measured {measured_on})" if measured_on else ""
            lines.append(f"| {target.what} | {label}{when} | {_shown(value)} {unit} | "
                         f"{'yes' if target.met(value) else '**no**'} |")
    for section in sections:
        lines += ["", f"## {section.name}", ""]
        if section.measured_on:
            lines += [f"_Measured on {section.measured_on}, by an earlier run than the "
                      "rest._", ""]
        lines += [section.description.strip(), "",
                  "| figure | value | unit |", "|---|---:|---|"]
        lines += [f"| {label} | {_shown(value)} | {unit} |"
                  for label, value, unit in section.figures]
    return "\n".join(lines) + "\n"
