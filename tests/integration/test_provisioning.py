"""`chibo provision` against the real RabbitMQ and PostgreSQL: each service its own
broker user and database role, in a fresh virtual host, with names no other test uses
(users, roles and databases are removed afterwards)."""

import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from kombu import Connection, Exchange, Queue
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from chibo.provision import ServiceAccess, Target, provision, read_env_file
from tests.conftest import PG_ADMIN_URL, _need, _pg_problem
from tests.support import wait_until

SERVICES = [ServiceAccess("members"), ServiceAccess("meetings", ("members",)),
            ServiceAccess("supervision", ("meetings", "members")),
            ServiceAccess("reporting", ("meetings", "members", "supervision"))]
ROOT = Path(__file__).resolve().parents[2]


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (the launcher numbers them in turn)."""
    import random
    import socket

    for _attempt in range(100):
        first = random.randrange(20000, 40000)
        sockets = []
        try:
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no {count} consecutive free ports")


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def target(amqp_uri, tmp_path):
    """A Target in the amqp_uri fixture's fresh virtual host, with unique names."""
    _need(_pg_problem)
    parts = urlsplit(amqp_uri)
    made = Target(vhost=parts.path.lstrip("/"), amqp_host=parts.hostname,
                  amqp_port=parts.port or 5672, admin_url=PG_ADMIN_URL,
                  prefix=f"chibo_t{uuid.uuid4().hex[:8]}_",
                  secrets_dir=tmp_path / "var" / "chibo" / "secrets")
    yield made
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for access in SERVICES:
            name = made.account(access.name)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    admin.dispose()
    for access in SERVICES:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", made.account(access.name)],
                       check=False, capture_output=True)


def credentials(target, service):
    values = read_env_file(target.secrets_dir / f"{service}.env")
    return values["CHIBO_AMQP_URI"], values[f"CHIBO_{service.upper()}_DATABASE_URL"]


def psycopg2(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg2://", 1)


def can_use_broker(uri: str, service: str) -> None:
    """Connects, declares the service's RPC queue and publishes to nameko's exchange."""
    with Connection(uri, connect_timeout=5) as conn:
        conn.ensure_connection(max_retries=1)
        channel = conn.channel()
        exchange = Exchange("nameko-rpc", type="topic", durable=True)
        Queue(f"rpc-{service}", exchange=exchange, routing_key=f"{service}.*",
              durable=True)(channel).declare()
        conn.Producer(channel).publish({"ping": 1}, exchange=exchange,
                                       routing_key="nobody.listens", declare=[exchange])


def can_use_database(url: str) -> None:
    engine = create_engine(psycopg2(url))
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS probe (name text)"))
            conn.execute(text("INSERT INTO probe VALUES ('Trần Thị Bình')"))
        with engine.connect() as conn:
            assert "Trần Thị Bình" in conn.execute(text("SELECT name FROM probe")).scalars().all()
            role = conn.execute(text(
                "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles "
                "WHERE rolname = current_user")).one()
            assert tuple(role) == (False, False, False)
    finally:
        engine.dispose()


def test_each_service_gets_its_own_working_accounts(target):
    done = provision(target, SERVICES)

    assert [result.service for result in done] == [access.name for access in SERVICES]
    assert mode(target.secrets_dir) == 0o700
    signing = target.secrets_dir / "auth-secret"
    assert mode(signing) == 0o600 and len(signing.read_text().strip()) >= 32
    for access in SERVICES:
        assert read_env_file(target.secrets_dir / f"{access.name}.env")[
            "CHIBO_AUTH_SECRET_FILE"] == str(signing.resolve())
        env_file = target.secrets_dir / f"{access.name}.env"
        assert mode(env_file) == 0o600
        uri, url = credentials(target, access.name)
        assert "guest" not in uri and "postgres@" not in url
        assert urlsplit(uri).username == target.account(access.name)
        can_use_broker(uri, access.name)
        can_use_database(url)


def test_a_service_is_confined_to_its_own_database_and_queues(target):
    provision(target, SERVICES)
    members_amqp, members_db = credentials(target, "members")
    _, meetings_db = credentials(target, "meetings")

    # The members role, with its own password, against the meetings database.
    members_role = urlsplit(members_db)
    trespass = psycopg2(meetings_db.replace(
        urlsplit(meetings_db).netloc, members_role.netloc))
    engine = create_engine(trespass)
    with pytest.raises(OperationalError, match="permission denied for database"):
        engine.connect()
    engine.dispose()

    # The members user cannot take over meetings' RPC queue.
    from amqp.exceptions import AccessRefused

    with Connection(members_amqp, connect_timeout=5) as conn:
        with pytest.raises(AccessRefused):
            Queue("rpc-meetings", durable=True)(conn.channel()).declare()
    # ... nor declare meetings' events exchange (members consumes no one's events).
    with Connection(members_amqp, connect_timeout=5) as conn:
        with pytest.raises(AccessRefused):
            Exchange("meetings.events", type="topic", durable=True)(conn.channel()).declare()
    # Its own exchange it may declare and publish to.
    with Connection(members_amqp, connect_timeout=5) as conn:
        channel = conn.channel()
        own = Exchange("members.events", type="topic", durable=True)
        own(channel).declare()
        conn.Producer(channel).publish({"type": "probe"}, exchange=own, routing_key="probe")


def test_running_it_twice_keeps_the_credentials_working(target):
    provision(target, SERVICES)
    first = {access.name: credentials(target, access.name) for access in SERVICES}
    signing = (target.secrets_dir / "auth-secret").read_text()

    again = provision(target, SERVICES)

    assert (target.secrets_dir / "auth-secret").read_text() == signing
    assert all(result.created == [] for result in again)
    for access in SERVICES:
        assert credentials(target, access.name) == first[access.name]
        assert mode(target.secrets_dir / f"{access.name}.env") == 0o600
        uri, url = first[access.name]
        can_use_broker(uri, access.name)
        can_use_database(url)


def test_a_lost_credentials_file_gets_new_working_passwords(target):
    provision(target, SERVICES[:1])
    old_uri, old_url = credentials(target, "members")
    (target.secrets_dir / "members.env").unlink()

    provision(target, SERVICES[:1])

    uri, url = credentials(target, "members")
    assert uri != old_uri and url != old_url
    can_use_broker(uri, "members")
    can_use_database(url)
    with Connection(old_uri, connect_timeout=5) as conn:
        with pytest.raises(Exception):  # noqa: B017,PT011 - refused, however kombu says it
            conn.ensure_connection(max_retries=1)


def test_a_service_started_without_its_settings_names_the_variable(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHIBO_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "chibo"), "init-db", "--service", "members"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "CHIBO_MEMBERS_DATABASE_URL" in done.stderr
    assert "chibo provision" in done.stderr


def test_run_distributed_starts_the_services_with_provisioned_credentials(target, tmp_path):
    import requests

    provision(target, SERVICES)
    base = consecutive_free_ports(4) - 1
    log = open(tmp_path / "run-distributed.log", "w")  # noqa: SIM115 - closed below
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHIBO_")}
    env.update(CHIBO_SECRETS_DIR=str(target.secrets_dir), CHIBO_NO_PROVISION="1",
               CHIBO_PORT_BASE=str(base), CHIBO_CLOCK="2026-06-17T09:30:00",
               BIN=str(Path(sys.executable).parent))
    process = subprocess.Popen(["bash", str(ROOT / "deploy" / "run-distributed.sh")],
                               env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)

    def healthy(port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        for offset in range(1, 5):
            wait_until(lambda port=base + offset: healthy(port), timeout=120,
                       message=f"port {base + offset} to answer /healthz "
                               f"(log in {tmp_path}/run-distributed.log)")
        # Under the narrowed permissions every consumer declared, bound and consumes its
        # queues: the RPC queues and each service's queues of its sources' events.
        listed = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "-p", target.vhost, "name", "consumers",
             "--formatter", "json"], check=True, capture_output=True, text=True).stdout
        consumers = {queue["name"]: queue["consumers"] for queue in json.loads(listed)}
        for access in SERVICES:
            assert consumers.get(f"rpc-{access.name}", 0) >= 1, consumers
            for source in access.sources:
                assert any(name.startswith(f"evt-{source}-") and
                           name.split("--")[1].startswith(f"{access.name}.") and count >= 1
                           for name, count in consumers.items()), (access, consumers)
    finally:
        process.terminate()  # the script's trap stops the four services
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()
