"""Roster import end to end: `chibo import members` (a separate process) sending a
generated roster to a running members service, on SQLite and on PostgreSQL, as the
operator (`--token`, a bearer token signed with the service's secret).

Reports rows/s from the first row read to the last batch applied, and the peak
memory (max RSS) of the importing client and of the service's process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from bench._support import Row, operator_token, pg_databases, progress, secured
from bench.generate_roster import write_csv
from chibo.nameko import memory
from chibo.nameko.runtime import rpc_client, start_embedded
from services.members.entrypoints import MembersService

CHIBO = str(Path(sys.executable).parent / "chibo")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _establish_cells(config: dict, cells: int) -> None:
    with rpc_client(config, timeout=120, token=operator_token()) as proxy:
        proxy.members.establish_unit({"unit_id": "T", "name": "Tỉnh ủy", "kind": "province",
                                      "effective_date": "1950-01-01"})
        committees = max(1, cells // 400)
        for c in range(committees):
            proxy.members.establish_unit({
                "unit_id": f"X{c}", "name": f"Đảng ủy xã {c}", "kind": "committee",
                "parent_id": "T", "effective_date": "1950-01-01"})
        pending = []
        for n in range(1, cells + 1):
            pending.append(proxy.members.establish_unit.call_async({
                "unit_id": f"CB{n:05d}", "name": f"Chi bộ {n}", "kind": "cell",
                "parent_id": f"X{n % committees}", "effective_date": "1950-01-01"}))
            if len(pending) >= 16:
                pending.pop(0).result()
        for reply in pending:
            reply.result()


def _import(path: Path, url: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    child = subprocess.Popen([CHIBO, "import", "members", str(path), "--url", url,
                              "--no-progress", "--token", operator_token()],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
    output = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"import failed:\n{output}")
    return elapsed, usage.ru_maxrss // 1024, output


def _vm_hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(quick: bool) -> list[Row]:
    rows = 25_000 if quick else 250_000
    cells = rows // 20
    out: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        roster = Path(tmp) / "roster.csv"
        progress(f"import: writing a {rows:,}-row roster over {cells:,} cells")
        write_csv(roster, rows, seed=7, cells=cells)
        databases = stack.enter_context(pg_databases())
        for backend in ("sqlite", "postgresql"):
            url = (f"sqlite:///{tmp}/members.db" if backend == "sqlite"
                   else databases.create("members"))
            port = _free_port()
            config = secured({"AMQP_URI": "chibomem://", "DATABASES": {"members": url},
                              "WEB_SERVER_ADDRESS": f"127.0.0.1:{port}", "max_workers": 4},
                             f"{tmp}/secrets")
            memory.register()
            memory.reset()
            runner = start_embedded([MembersService], config)
            try:
                progress(f"import {backend}: establishing {cells:,} cells")
                _establish_cells(config, cells)
                progress(f"import {backend}: importing {rows:,} rows")
                elapsed, client_mib, output = _import(roster, f"http://127.0.0.1:{port}")
            finally:
                runner.kill()
                memory.reset()
            rate = rows / elapsed
            progress(f"  {rate:,.0f} rows/s; client max RSS {client_mib} MiB; "
                     f"service process peak {_vm_hwm_mib():.0f} MiB")
            out += [(f"import {backend}: {rows:,} members", rate, "rows/s"),
                    (f"import {backend}: client peak memory", client_mib, "MiB"),
                    (f"import {backend}: service process peak memory", _vm_hwm_mib(), "MiB")]
    return out
