"""Slow, oversized and heavy clients against the embedded services' one web server.

All four services run embedded (`chibo demo`'s mode: one process, one port, SQLite, the
in-process bus) in a child process with the packaged limits (8 MiB body cap, 10 s for
the headers, 30 s for a body, 5 s per audit search), reporting's archive filled with
ARCHIVED events. For 20 s (10 s with --quick) a poller, logged in, GETs `/healthz` and
a members query (`/members/tree`) one after the other, each with a 5 s deadline, while
12 clients send a body one byte every 5 s, 12 send their headers one line every 5 s,
one client sends a 50 MB body, and AUDIT_CLIENTS clients, logged in as an inspector,
run the worst audit searches back to back (a filter that matches nothing, on a value
no index narrows: `actor=causation_id`, and the widest page of the commonest type).
Figures: the poller's p50/p99/max latency and its failures (errors, timeouts,
non-200), the audit searches answered and how (200, 503 stopped at the time limit),
whether the 50 MB client was answered 413, how many slow-header connections the
server closed, and the server's resident memory (VmRSS) before and after, and its peak
(VmHWM).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import eventlet
import requests

from bench._support import AUTH_SECRET, Row, peak_rss_mib, percentile, progress, secured

SLOW_BODIES = 12
AUDIT_CLIENTS = 4
ARCHIVED = 200_000
CLOCK = "2026-06-01T08:00:00+00:00"
#: The audit searches that once took all four services down for minutes.
WORST_SEARCHES = ({"actor": "causation_id", "limit": "1"},
                  {"actor": "causation_id", "limit": "200"},
                  {"type": "meeting_held", "limit": "200", "oldest": "true"},
                  {"stream": "bulk-0001", "type": "visit_logged", "limit": "200"})
SLOW_HEADERS = 12
BIG_BODY_BYTES = 50 * 1000 * 1000
DRIP_SECONDS = 5.0
POLL_TIMEOUT = 5.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mib(pid: int) -> float:
    """A process's current resident memory (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _slow_body(port: int, stop: list[bool]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"POST /members/commands/establish_unit HTTP/1.1\r\nHost: b\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
            while not stop[0]:
                sock.sendall(b" ")
                eventlet.sleep(DRIP_SECONDS)
    except OSError:
        pass


def _slow_headers(port: int, stop: list[bool], closed: list[int]) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            sock.setblocking(False)
            while not stop[0]:
                sock.sendall(b"X-Slow: 1\r\n")
                eventlet.sleep(DRIP_SECONDS)
                try:
                    if sock.recv(1) == b"":
                        closed[0] += 1
                        return
                except BlockingIOError:
                    pass
    except OSError:
        closed[0] += 1


def _big_body(port: int, answer: list[str]) -> None:
    chunk = b" " * 65536
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"POST /members/commands/establish_unit HTTP/1.1\r\nHost: b\r\n"
                         b"Content-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % BIG_BODY_BYTES)
            try:
                for _ in range(BIG_BODY_BYTES // len(chunk) + 1):
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed without reading it
            answer[0] = sock.recv(65536).split(b"\r\n", 1)[0].decode() or "closed"
    except OSError as exc:
        answer[0] = f"error: {exc}"


def bearer(role: str) -> dict[str, str]:
    from datetime import datetime

    from chibo.access import Grant, Identity, TokenSigner

    identity = Identity(f"bench-{role}", f"Bench {role}", (Grant(role),))
    token = TokenSigner(AUTH_SECRET).issue(identity, datetime.fromisoformat(CLOCK), 3600)
    return {"Authorization": f"Bearer {token}"}


def _audit(base: str, stop: list[bool], answers: dict[int, int], seconds: list[float]) -> None:
    session = requests.Session()
    session.headers.update(bearer("inspector"))
    index = 0
    while not stop[0]:
        started = time.perf_counter()
        try:
            status = session.get(f"{base}/reporting/api/audit/events",
                                 params=WORST_SEARCHES[index % len(WORST_SEARCHES)],
                                 timeout=60).status_code
        except requests.RequestException:
            status = 0
        seconds.append(time.perf_counter() - started)
        answers[status] = answers.get(status, 0) + 1
        index += 1


def _poll(base: str, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failures = 0
    session = requests.Session()
    session.headers.update(bearer("viewer"))
    deadline = time.perf_counter() + seconds
    paths = ("/healthz", "/members/tree?on=2026-01-01")
    index = 0
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        try:
            ok = session.get(base + paths[index % 2], timeout=POLL_TIMEOUT).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append((time.perf_counter() - started) * 1000)
        failures += not ok
        index += 1
        eventlet.sleep(0.05)
    return latencies, failures


def _start_server(tmp: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CHIBO_LOG_LEVEL": "ERROR", "CHIBO_CLOCK": CLOCK,
           "CHIBO_AUTH_SECRET": AUTH_SECRET}
    # Patched before anything imports socket, as the services' own entrypoints do.
    code = ("import warnings; warnings.filterwarnings('ignore', message=r'\\s*Eventlet');"
            "import eventlet; eventlet.monkey_patch();"
            "from bench.slow_clients import serve; serve(*__import__('sys').argv[1:])")
    child = subprocess.Popen([sys.executable, "-c", code, tmp, str(port)], env=env)
    deadline = time.perf_counter() + 120
    while time.perf_counter() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json()[
                    "services"] == ["meetings", "members", "reporting", "supervision"]:
                return child
        except requests.RequestException:
            pass
        if child.poll() is not None:
            raise RuntimeError("the embedded services exited while starting")
        time.sleep(0.2)
    child.kill()
    raise RuntimeError("the embedded services did not answer /healthz")


def run(quick: bool) -> list[Row]:
    seconds = 10.0 if quick else 20.0
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        child = _start_server(tmp, port)
        try:
            base = f"http://127.0.0.1:{port}"
            requests.get(f"{base}/members/tree?on=2026-01-01", headers=bearer("viewer"),
                         timeout=10)  # warm up
            rss_before = rss_mib(child.pid)
            stop, closed, answer = [False], [0], ["none"]
            audit_answers: dict[int, int] = {}
            audit_seconds: list[float] = []
            threads = [eventlet.spawn(_slow_body, port, stop) for _ in range(SLOW_BODIES)]
            threads += [eventlet.spawn(_slow_headers, port, stop, closed)
                        for _ in range(SLOW_HEADERS)]
            threads.append(eventlet.spawn(_big_body, port, answer))
            threads += [eventlet.spawn(_audit, base, stop, audit_answers, audit_seconds)
                        for _ in range(AUDIT_CLIENTS)]
            progress(f"slow_clients: polling for {seconds:g} s under "
                     f"{SLOW_BODIES}+{SLOW_HEADERS} slow clients, a 50 MB body and "
                     f"{AUDIT_CLIENTS} clients running the worst audit searches over "
                     f"{ARCHIVED:,} archived events")
            latencies, failures = _poll(base, seconds)
            stop[0] = True
            rss_after = rss_mib(child.pid)
            peak = peak_rss_mib(child.pid)
            for thread in threads:
                thread.kill()
        finally:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(30)
            except subprocess.TimeoutExpired:
                child.kill()
    progress(f"slow_clients: 50 MB body answered {answer[0]!r}; audit searches answered "
             f"{dict(sorted(audit_answers.items()))}")
    return [
        ("slow_clients: poller requests", float(len(latencies)), "requests"),
        ("slow_clients: poller p50", percentile(latencies, 0.5), "ms"),
        ("slow_clients: poller p99", percentile(latencies, 0.99), "ms"),
        ("slow_clients: poller max", max(latencies), "ms"),
        ("slow_clients: poller failures", float(failures), "requests"),
        ("slow_clients: worst audit searches answered", float(sum(audit_answers.values())),
         "searches"),
        ("slow_clients: of which stopped at the time limit (503)",
         float(audit_answers.get(503, 0)), "searches"),
        ("slow_clients: audit search max", max(audit_seconds, default=0.0) * 1000, "ms"),
        ("slow_clients: 50 MB body answered 413", float(" 413 " in f"{answer[0]} "), "yes=1"),
        ("slow_clients: slow-header connections closed", float(closed[0]),
         f"of {SLOW_HEADERS}"),
        ("slow_clients: server RSS before", rss_before, "MiB"),
        ("slow_clients: server RSS after", rss_after, "MiB"),
        ("slow_clients: server peak RSS", peak, "MiB"),
    ]


def serve(tmp: str, port: str) -> None:
    """The child: every service embedded, on SQLite files in `tmp` (their signing keys
    in `tmp`/secrets), until SIGTERM."""
    from chibo import settings
    from chibo.nameko.runtime import start_embedded
    from services.app import CONFIG_DIR, SERVICES

    config = secured(settings.load(CONFIG_DIR / "embedded.yaml"), f"{tmp}/secrets")
    config.pop("LOGGING", None)
    config["WEB_SERVER_ADDRESS"] = f"127.0.0.1:{port}"
    config["DATABASES"] = {name: f"sqlite:///{tmp}/{name}.db" for name in config["DATABASES"]}
    runner = start_embedded(SERVICES, config)
    fill_archive(config["DATABASES"]["reporting"])
    stopped = eventlet.event.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.send(None))
    stopped.wait()
    runner.stop()



def fill_archive(url: str) -> None:
    """ARCHIVED events straight into reporting's archive, under a source of their own so
    no feed or source check takes them for its own: what the audit search reads."""
    from sqlalchemy import insert

    from chibo.db import make_engine
    from services.reporting.read_model import archive

    types = ("member_admitted", "meeting_held", "visit_logged")
    engine = make_engine(url)
    with engine.begin() as connection:
        for start in range(1, ARCHIVED + 1, 20_000):
            connection.execute(insert(archive), [
                {"source": "filled", "position": n, "event_id": f"filled-{n:08d}",
                 "stream_id": f"bulk-{n % 700:04d}", "type": types[n % 3], "version": 1,
                 "data": "{}", "metadata": "{}",
                 "recorded_at": f"2026-05-{1 + n % 28:02d}T{n // 3600 % 24:02d}:"
                                f"{n // 60 % 60:02d}:{n % 60:02d}.{n % 1_000_000:06d}+00:00",
                 "hash": "0" * 64, "actor": ("Lò Thị Xuân", "Hà Văn Thành")[n % 2],
                 "correlation_id": None}
                for n in range(start, min(start + 20_000, ARCHIVED + 1))])
    engine.dispose()
