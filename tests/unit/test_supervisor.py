"""chibo.supervisor: a command that dies is started again; a clean exit or a stop
signal ends the supervision."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from chibo.supervisor import Policy, Supervisor
from tests.support import wait_until

QUICK = Policy(initial_delay=0.0, max_delay=0.0, stable_seconds=3600, stop_timeout=10)


def script(tmp_path: Path, body: str) -> list[str]:
    path = tmp_path / "child.py"
    path.write_text(body)
    return [sys.executable, str(path), str(tmp_path / "runs")]


def test_a_command_that_dies_is_started_again_until_it_exits_cleanly(tmp_path: Path) -> None:
    # Dies (status 3, then killed by SIGKILL) twice, then exits 0.
    command = script(tmp_path, """
import os, signal, sys
runs = open(sys.argv[1], "a+"); runs.write("x"); runs.flush(); runs.seek(0)
count = len(runs.read())
if count == 1: sys.exit(3)
if count == 2: os.kill(os.getpid(), signal.SIGKILL)
""")
    supervisor = Supervisor(command, "child", QUICK)
    assert supervisor.run() == 0
    assert supervisor.starts == 3
    assert (tmp_path / "runs").read_text() == "xxx"


def test_it_gives_up_after_the_restarts_allowed(tmp_path: Path) -> None:
    command = script(tmp_path, "import sys\nopen(sys.argv[1], 'a').write('x')\nsys.exit(1)\n")
    policy = Policy(initial_delay=0.0, max_delay=0.0, stable_seconds=3600, max_restarts=2)
    assert Supervisor(command, "child", policy).run() == 1
    assert (tmp_path / "runs").read_text() == "xxx"  # the first run and two restarts


def test_a_stop_signal_goes_to_the_command_and_nothing_restarts(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "chibo.supervisor", "--initial-delay", "0", "--",
               *script(tmp_path, "import sys, time\nopen(sys.argv[1], 'a').write('x')\n"
                                 "time.sleep(600)\n")]
    supervisor = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2])
    try:
        wait_until(lambda: (tmp_path / "runs").exists(), message="the command to start")
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(timeout=30) == 0
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
    assert (tmp_path / "runs").read_text() == "x"
