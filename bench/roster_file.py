"""Roster file import, client side: parse + validate throughput and memory.

Generates a roster CSV (250,000 rows; 25,000 with --quick) and XLSX (50,000; 5,000) of
Vietnamese names into a temporary folder, then streams each through `read_rows` and
`validate_rows` as `chibo import members` does (no network). Reported per format: rows/s
(untraced pass), the process's maximum resident set after that pass (everything the
process held so far, interpreter and libraries included: about 60 MiB before any parsing),
and the tracemalloc peak of a second, traced pass (Python allocations while parsing,
which is what must stay flat; for a CSV it is mostly the member codes kept to catch
duplicates, about 110 bytes a row).
"""

from __future__ import annotations

import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

from bench._support import Row, progress
from bench.generate_roster import write_csv, write_xlsx
from clients.roster_import.reading import read_rows
from clients.roster_import.rows import validate_rows

MiB = 1024 * 1024


def _parse(path: Path) -> tuple[int, int]:
    rows = bad = 0
    for result in validate_rows(read_rows(path)):
        rows += 1
        bad += not result.ok
    return rows, bad


def _measure(label: str, path: Path, expected: int) -> list[Row]:
    started = time.perf_counter()
    rows, bad = _parse(path)
    elapsed = time.perf_counter() - started
    if rows != expected or bad:
        raise AssertionError(f"{label}: read {rows} rows, {bad} bad; expected {expected}, 0 bad")
    rate = rows / elapsed
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    progress(f"  {rate:,.0f} rows/s ({elapsed:.1f} s), maxrss {maxrss:.0f} MiB; traced pass "
             f"for memory…")
    tracemalloc.start()
    try:
        _parse(path)
        peak = tracemalloc.get_traced_memory()[1] / MiB
    finally:
        tracemalloc.stop()
    progress(f"  tracemalloc peak {peak:.1f} MiB")
    return [
        (f"roster {label}: parse+validate", rate, "rows/s"),
        (f"roster {label}: process maxrss so far", maxrss, "MiB"),
        (f"roster {label}: tracemalloc peak", peak, "MiB"),
    ]


def run(quick: bool) -> list[Row]:
    csv_rows = 25_000 if quick else 250_000
    xlsx_rows = 5_000 if quick else 50_000
    results: list[Row] = []
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    progress(f"roster_file: maxrss before {baseline:.0f} MiB")
    with tempfile.TemporaryDirectory(prefix="chibo_bench_roster_") as tmp:
        csv_path = Path(tmp) / "roster.csv"
        progress(f"roster_file: writing {csv_rows:,}-row CSV")
        write_csv(csv_path, csv_rows)
        progress(f"roster_file: CSV {csv_path.stat().st_size / MiB:.1f} MiB, parsing")
        results += _measure(f"csv {csv_rows:,} rows", csv_path, csv_rows)

        xlsx_path = Path(tmp) / "roster.xlsx"
        progress(f"roster_file: writing {xlsx_rows:,}-row XLSX")
        write_xlsx(xlsx_path, xlsx_rows)
        progress(f"roster_file: XLSX {xlsx_path.stat().st_size / MiB:.1f} MiB, parsing")
        results += _measure(f"xlsx {xlsx_rows:,} rows", xlsx_path, xlsx_rows)
    return results
