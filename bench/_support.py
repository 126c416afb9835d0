"""What the benchmarks share: scratch PostgreSQL databases, RabbitMQ vhosts, output, and
the credentials of the services they start (the cluster secret, signing keys under the
run's temporary folder) and of the clients they send with (an operator's token)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

PG_ADMIN_URL = os.environ.get("CHIBO_BENCH_PG_URL",
                              "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
AMQP_BASE = os.environ.get("CHIBO_BENCH_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")

Row = tuple[str, float, str]

#: The cluster secret of every service a benchmark starts: they verify their callers'
#: tokens with it, and the benchmarks sign their clients' tokens with it.
AUTH_SECRET = "chibo-bench-signing-secret-0123456789abcdef"
#: How long a benchmark client's token lives: longer than the longest run.
TOKEN_MINUTES = 24 * 60


def secured(config: dict[str, Any], keys_dir: str | Path) -> dict[str, Any]:
    """`config` with the benchmarks' cluster secret and each service's signing key made
    (on first start) and kept in `keys_dir`, a folder under the run's temporary one,
    never the checkout's var/chibo/secrets."""
    config["AUTH"] = {**(config.get("AUTH") or {}), "secret": AUTH_SECRET}
    config["SIGNING"] = {"keys_dir": str(keys_dir), "create_keys": True}
    return config


def secured_env(keys_dir: str | Path) -> dict[str, str]:
    """The same for a `nameko run` process, as the environment variables
    services/config/distributed.yaml reads."""
    return {"CHIBO_AUTH_SECRET": AUTH_SECRET, "CHIBO_SIGNING_KEYS_DIR": str(keys_dir),
            "CHIBO_CREATE_SIGNING_KEYS": "true"}


def operator_token(clock: str | datetime | None = None) -> str:
    """A token for the command-line tools' operator (a provincial administrator: every
    permission, the whole tree), signed with AUTH_SECRET, issued at the services' clock
    (`CHIBO_CLOCK`'s value or a datetime; None: the system clock)."""
    from services.shared.operator import operator_token as signed

    return signed({"AUTH": {"secret": AUTH_SECRET}, "CLOCK": clock}, minutes=TOKEN_MINUTES)


def bearer(token: str) -> dict[str, str]:
    """HTTP headers that send `token`."""
    return {"Authorization": f"Bearer {token}"}


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
