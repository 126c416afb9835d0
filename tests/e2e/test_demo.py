"""`chibo demo` in its own process: it tells the user where to look and that the sample
is loading before it loads, and says the sample is ready only once the dashboard shows
all of it; the sample's months follow the configured clock, not the calendar."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from tests.support import AUTH_SECRET, NOW, bearer, free_port, wait_until

# A dozen cells, so the sample loads in seconds (the demo's presets take minutes).
TINY = "Preset('tiny', committees=2, grassroots=4, cells=12, members=150, description='')"
READY = "Dữ liệu mẫu đã sẵn sàng — mở"
LOADING = "đang nạp dữ liệu mẫu"


@contextmanager
def demo(folder: Path, *args: str) -> Iterator[tuple[str, Path]]:
    """`chibo demo ARGS` with the tiny preset available, its output in a file; it signs
    identities with the tests' secret, so that the test can sign in."""
    port = free_port()
    env = {**os.environ, "CHIBO_WEB_ADDRESS": f"127.0.0.1:{port}", "CHIBO_CLOCK": NOW.isoformat(),
           "CHIBO_AUTH_SECRET": AUTH_SECRET,
           **{f"CHIBO_{name.upper()}_DATABASE_URL": f"sqlite:///{folder}/{name}.db"
              for name in ("members", "meetings", "supervision", "reporting")}}
    code = ("from clients.simulator.presets import PRESETS, Preset\n"
            f"PRESETS['tiny'] = {TINY}\n"
            "from chibo.cli import main\n"
            f"raise SystemExit(main(['demo', *{list(args)!r}]))\n")
    out = folder / "demo.out"
    with out.open("w") as log:
        process = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, cwd=Path(__file__).parents[2])
        try:
            yield f"http://127.0.0.1:{port}", out
        finally:
            process.terminate()
            process.wait(timeout=30)


def said(out: Path, text: str) -> bool:
    return text in out.read_text()


def test_the_demo_says_it_is_loading_then_that_the_sample_is_ready(tmp_path) -> None:
    with demo(tmp_path, "--preset", "tiny", "--months", "2") as (base, out):
        wait_until(lambda: said(out, READY), timeout=180, message="the ready line")
        text = out.read_text()
        # Where to look, and that the data is on its way, come before the loading itself.
        assert text.index(f"{base}/reporting/") < text.index(LOADING) < text.index(READY)
        assert f"{READY} {base}/reporting/" in text
        # Ready means the dashboard shows the whole sample, at once: every cell, and the
        # meetings of the last two months before the configured clock's month.
        for month in ("2026-04", "2026-05"):
            summary = requests.get(f"{base}/reporting/api/overview?period={month}",
                                   headers=bearer(), timeout=30).json()["summary"]
            assert summary["cells"] == 12 and summary["months_met"] > 0, (month, summary)


def test_the_demo_keeps_an_earlier_runs_data_and_says_it_is_ready(tmp_path) -> None:
    with demo(tmp_path, "--preset", "tiny", "--months", "1") as (_, out):
        wait_until(lambda: said(out, READY), timeout=180, message="the first run's ready line")
    with demo(tmp_path, "--preset", "tiny", "--months", "1") as (_, out):
        wait_until(lambda: said(out, READY), timeout=60, message="the second run's ready line")
        assert LOADING not in out.read_text()


def test_the_demo_without_a_sample_starts_empty(tmp_path) -> None:
    with demo(tmp_path, "--preset", "none") as (base, out):
        wait_until(lambda: said(out, "Ctrl+C"), timeout=60, message="the banner")

        def healthy() -> bool:
            try:
                return requests.get(f"{base}/healthz", timeout=5).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(healthy, timeout=30, message="the demo to answer")
        answer = requests.get(f"{base}/reporting/api/overview", headers=bearer(), timeout=30)
        assert answer.status_code == 404 and answer.json()["error"] == "not_found"
        # How to fill it, instead: printed once the administrator's account is open,
        # which may come after the services answer.
        wait_until(lambda: said(out, f"chibo simulate --url {base}"), timeout=60,
                   message="the hint on how to load a province")
        text = out.read_text()
        assert LOADING not in text and READY not in text


def test_data_no_version_made_stops_the_demo_saying_what_to_do(tmp_path) -> None:
    # One table of supervision's, without the others every version made: no migration
    # knows this schema (databases earlier versions made are upgraded on start instead;
    # tests/integration/test_migrations.py).
    import sqlite3

    with sqlite3.connect(tmp_path / "supervision.db") as old:
        old.execute("CREATE TABLE escalations (escalation_id VARCHAR(100) PRIMARY KEY)")
    with demo(tmp_path, "--preset", "none") as (_, out):
        wait_until(lambda: "var/chibo/" in out.read_text(), timeout=60,
                   message="the demo to refuse the old database")
        text = out.read_text()
    assert "fact_meetings" in text and "docs/operations.md" in text
    assert "Traceback" not in text
