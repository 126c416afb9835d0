"""A small process supervisor: run a command, and run it again when it dies.

    python -m chibo.supervisor --name members -- nameko run --config … services.members…

For distributed mode on a machine without a service manager. Where systemd runs the
services, its `Restart=on-failure` does the same and this is not needed.

* The command exiting with status 0 is a clean stop: the supervisor exits 0 too.
* Exiting otherwise, or killed by a signal nobody here sent, it is started again after
  a delay that doubles from `--initial-delay` up to `--max-delay` seconds while it keeps
  dying, and starts again from the beginning once a run lasted `--stable-seconds`.
* SIGTERM, SIGINT or SIGHUP to the supervisor goes to the command; the supervisor then
  waits for it (`--stop-timeout`, then SIGKILL) and exits with its status, restarting
  nothing.
* `--max-restarts N` gives up after N restarts in a row that did not last (exit 1).
"""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

log = logging.getLogger("chibo.supervisor")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@dataclass
class Policy:
    initial_delay: float = 1.0
    max_delay: float = 30.0
    stable_seconds: float = 60.0
    stop_timeout: float = 30.0
    max_restarts: int | None = None


class Supervisor:
    def __init__(self, command: Sequence[str], name: str, policy: Policy,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.command = list(command)
        self.name = name
        self.policy = policy
        self.clock = clock
        self.stopping = threading.Event()
        self.child: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def stop(self, signum: int) -> None:
        """Pass the signal on and restart nothing after it."""
        self.stopping.set()
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def run(self) -> int:
        delay, failures = self.policy.initial_delay, 0
        while True:
            started = self.clock()
            self.child = subprocess.Popen(self.command)  # noqa: S603 - the operator's command
            self.starts += 1
            log.info("%s started (pid %d)", self.name, self.child.pid)
            status = self._wait(self.child)
            if self.stopping.is_set() or status == 0:
                log.info("%s stopped (status %d)", self.name, status)
                return 0 if status in (0, -signal.SIGTERM, -signal.SIGINT) else status
            if self.clock() - started >= self.policy.stable_seconds:
                delay, failures = self.policy.initial_delay, 0  # it had been running fine
            failures += 1
            if self.policy.max_restarts is not None and failures > self.policy.max_restarts:
                log.error("%s died %d times in a row (last status %d); giving up",
                          self.name, failures, status)
                return 1
            log.warning("%s exited with status %d; starting it again in %.1f s",
                        self.name, status, delay)
            if self.stopping.wait(delay):
                return 0
            delay = min(self.policy.max_delay, max(delay * 2, 0.1))

    def _wait(self, child: subprocess.Popen[bytes]) -> int:
        while True:
            try:
                return child.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                if self.stopping.is_set():
                    try:
                        return child.wait(timeout=self.policy.stop_timeout)
                    except subprocess.TimeoutExpired:
                        log.warning("%s did not stop within %.0f s; killing it", self.name,
                                    self.policy.stop_timeout)
                        child.kill()
                        return child.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chibo.supervisor",
                                     description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--name", default=None, help="what the log calls the command")
    parser.add_argument("--initial-delay", type=float, default=Policy.initial_delay)
    parser.add_argument("--max-delay", type=float, default=Policy.max_delay)
    parser.add_argument("--stable-seconds", type=float, default=Policy.stable_seconds)
    parser.add_argument("--stop-timeout", type=float, default=Policy.stop_timeout)
    parser.add_argument("--max-restarts", type=int, default=None)
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="the command to run, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command to supervise: python -m chibo.supervisor -- CMD ...")
    logging.basicConfig(level=logging.INFO, format="supervisor: %(message)s")
    supervisor = Supervisor(command, args.name or command[0], Policy(
        args.initial_delay, args.max_delay, args.stable_seconds, args.stop_timeout,
        args.max_restarts))

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        supervisor.stop(signum)

    for signum in STOP_SIGNALS:
        signal.signal(signum, on_signal)
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
