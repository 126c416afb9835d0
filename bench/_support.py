"""What the benchmarks share: scratch PostgreSQL databases, RabbitMQ vhosts, output."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("CHIBO_BENCH_PG_URL",
                              "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("CHIBO_BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")

Row = tuple[str, float, str]


def progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class PgDatabases:
    """Creates `chibo_bench_*` databases on demand; `drop_all` removes them."""

    def __init__(self) -> None:
        self.prefix = f"chibo_bench_{uuid.uuid4().hex[:8]}"
        self.created: list[str] = []
        self._admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def create(self, suffix: str) -> str:
        name = f"{self.prefix}_{suffix}"
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with self._admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created.clear()
        self._admin.dispose()


@contextmanager
def pg_databases() -> Iterator[PgDatabases]:
    databases = PgDatabases()
    try:
        yield databases
    finally:
        databases.drop_all()


@contextmanager
def rabbit_vhost() -> Iterator[str]:
    """A fresh RabbitMQ virtual host for one run, deleted afterwards; yields its AMQP URI."""
    vhost = f"chibo-bench-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    try:
        subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest",
                        ".*", ".*", ".*"], check=True)
        yield AMQP_BASE.rstrip("/") + "/" + vhost
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM), in MiB; NaN when it cannot be read."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return float("nan")
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(fraction * len(ordered)) - 1))
    return ordered[index]
