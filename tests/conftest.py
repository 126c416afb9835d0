"""Shared fixtures. Eventlet is patched first: nameko's runtime needs it everywhere."""

import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import subprocess  # noqa: E402
import uuid  # noqa: E402

import pytest  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from chibo.nameko import memory  # noqa: E402

PG_ADMIN_URL = os.environ.get("CHIBO_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
AMQP_URI = os.environ.get("CHIBO_TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
REQUIRE_SERVICES = os.environ.get("CHIBO_REQUIRE_SERVICES") == "1"

memory.register()


def _reachable_pg() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc.__class__.__name__}"


def _reachable_rabbit() -> str | None:
    from kombu import Connection

    try:
        with Connection(AMQP_URI, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
        return None
    except Exception as exc:  # noqa: BLE001
        return f"RabbitMQ not reachable at {AMQP_URI}: {exc.__class__.__name__}"


_pg_problem = _reachable_pg()
_rabbit_problem = _reachable_rabbit()


def _need(problem: str | None) -> None:
    if problem is None:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{problem} (CHIBO_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(f"{problem}; start it to run this test")


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    _need(_pg_problem)
    name = f"chibo_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def amqp_uri():
    """The real broker, with a fresh virtual host per test so no queue or message
    left by one test reaches another."""
    _need(_rabbit_problem)
    vhost = f"chibo-test-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True)
    yield AMQP_URI.rstrip("/") + "/" + vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path}/store.db"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_url(request, tmp_path):
    """Runs a test once per backend: the store's contract holds on both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def pg_database_factory():
    """Creates fresh PostgreSQL databases by name suffix; drops them all afterwards."""
    _need(_pg_problem)
    created: list[str] = []
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    prefix = f"chibo_test_{uuid.uuid4().hex[:8]}"

    def make(suffix: str) -> str:
        name = f"{prefix}_{suffix}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
