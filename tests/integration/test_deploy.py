"""deploy/: the systemd units, the compose file, the Kubernetes manifests, the RabbitMQ
definitions and the PostgreSQL roles, each checked by its own validator and against what
the services really declare and do.

A missing validator skips its test with the package to install; CHIBO_REQUIRE_SERVICES=1
(CI, which installs them: .ci/run) turns the skip into a failure, as for the servers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import eventlet
import marshmallow
import pytest
import yaml
from kombu import Connection, Exchange, Queue
from marshmallow import fields
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from chibo.contracts import Catalogue
from chibo.db import make_engine, session_factory, unit_of_work
from chibo.eventstore.command_log import claim, record_answer
from chibo.eventstore.store import EventStore, Metadata, NewEvent
from chibo.migrate import migrate
from chibo.nameko.runtime import service_schemas, services_access
from chibo.provision import STANDALONE_REPLY, amqp_permissions
from services.app import SERVICES
from tests.conftest import (
    AMQP_URI,
    PG_ADMIN_URL,
    REQUIRE_SERVICES,
    _need,
    _pg_problem,
    _rabbit_problem,
)
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NAMES = [service.name for service in SERVICES]
CLASSES = {service.name: service for service in SERVICES}
SOURCES = {access.name: access.sources for access in services_access(SERVICES)}
MEMORY_LIMIT_MIB = 500


def tool(command: str, package: str) -> str:
    """The path of `command`, or skip (fail under CHIBO_REQUIRE_SERVICES=1) naming the
    package that brings it."""
    found = shutil.which(command)
    if found:
        return found
    problem = f"{command} not found: install it (apt-get install {package})"
    if REQUIRE_SERVICES:
        pytest.fail(f"{problem} (CHIBO_REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(problem)


def event_handlers(service: type) -> list[tuple[str, str, str]]:
    """(source, event type, method) of each nameko event handler of a service class."""
    from nameko.events import EventHandler
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

    found = []
    for attribute in sorted(dir(service)):
        for extension in getattr(getattr(service, attribute, None), ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(extension, EventHandler):
                found.append((extension.source_service, extension.event_type, attribute))
    return found


def event_queue(service: str, source: str, event_type: str, method: str) -> str:
    # nameko 2.14's name for a service-pool handler's queue (nameko.events.EventHandler).
    return f"evt-{source}-{event_type}--{service}.{method}"


def libpq(url: str) -> str:
    """A SQLAlchemy URL as psql takes it (no driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- systemd ---------------------------------------------------------------------------

def unit_settings(path: Path) -> dict[str, list[str]]:
    """Every `Key=value` of a unit file (keys repeat), continuation lines joined."""
    settings: dict[str, list[str]] = {}
    logical = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    for line in logical.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(" ".join(value.split()))
    return settings


def test_systemd_units_pass_systemd_analyze_verify(tmp_path):
    analyze = tool("systemd-analyze", "systemd")
    # verify checks that each ExecStart binary exists: the units are copied with /opt/chibo
    # pointing at a tree made here, holding stand-ins for the virtualenv's programs.
    units = tmp_path / "units"
    units.mkdir()
    bin_dir = tmp_path / "opt" / "chibo" / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for program in ("chibo", "nameko"):
        (bin_dir / program).write_text("#!/bin/sh\n")
        (bin_dir / program).chmod(0o755)
    for unit in (DEPLOY / "systemd").glob("chibo*"):
        (units / unit.name).write_text(unit.read_text(encoding="utf-8").replace(
            "/opt/chibo", str(tmp_path / "opt" / "chibo")), encoding="utf-8")
    names = (["chibo.target"] + [f"chibo-{name}.service" for name in NAMES]
             + [f"chibo-migrate@{name}.service" for name in NAMES])

    done = subprocess.run([analyze, "verify", *names], cwd=units, capture_output=True,
                          text=True, timeout=120)

    # verify reports a bad setting as a warning and may still exit 0: any output fails.
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), \
        done.stdout + done.stderr

    # The check is not vacuous: a wrong setting is reported.
    broken = units / "chibo-members.service"
    broken.write_text(broken.read_text().replace("Restart=on-failure", "Restart=sometimes"))
    done = subprocess.run([analyze, "verify", broken.name], cwd=units, capture_output=True,
                          text=True, timeout=120)
    assert "Restart" in done.stdout + done.stderr or "restart" in done.stdout + done.stderr


def launcher_services() -> list[tuple[str, str]]:
    """(service, class) as deploy/run-distributed.sh starts them, in its order."""
    script = (DEPLOY / "run-distributed.sh").read_text(encoding="utf-8")
    listed = re.search(r"services=\(([^)]*)\)", script, re.S)
    assert listed, "run-distributed.sh names its services in services=(…)"
    return [tuple(spec.split(":")) for spec in listed.group(1).split()]  # type: ignore[misc]


def test_each_unit_runs_the_service_as_make_distributed_does():
    assert [name for name, _ in launcher_services()] == NAMES
    target = unit_settings(DEPLOY / "systemd" / "chibo.target")
    wanted = " ".join(target["Wants"]).split()
    for number, (name, class_name) in enumerate(launcher_services(), start=1):
        unit = unit_settings(DEPLOY / "systemd" / f"chibo-{name}.service")
        assert class_name == CLASSES[name].__name__
        (exec_start,) = unit["ExecStart"]
        assert f"nameko run --config /opt/chibo/services/config/distributed.yaml " \
               f"services.{name}.entrypoints:{class_name}" in exec_start
        assert unit["Restart"] == ["on-failure"]
        assert unit["User"] == [f"chibo-{name}"]
        assert f"/etc/chibo/secrets/{name}.env" in unit["EnvironmentFile"]
        # The port the launcher gives it (CHIBO_PORT_BASE 8000 + its place).
        assert f"CHIBO_WEB_ADDRESS=127.0.0.1:{8000 + number}" in unit["Environment"]
        for setting, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                               ("PrivateTmp", "yes")]:
            assert unit[setting] == [value], setting
        assert unit["ReadWritePaths"] == [f"/var/lib/chibo/{name}"]
        migration = f"chibo-migrate@{name}.service"
        assert migration in unit["Requires"][0].split() and migration in unit["After"][0]
        assert unit["WantedBy"] == ["chibo.target"] and f"chibo-{name}.service" in wanted

    migrate_unit = unit_settings(DEPLOY / "systemd" / "chibo-migrate@.service")
    assert migrate_unit["Type"] == ["oneshot"]
    assert "chibo migrate --config" in migrate_unit["ExecStart"][0]
    assert "--service %i" in migrate_unit["ExecStart"][0]
    assert "grants.psql" in migrate_unit["ExecStartPost"][0]


# --- docker compose ----------------------------------------------------------------------

PASSWORD_VARIABLES = [f"CHIBO_{name.upper()}_{kind}_PASSWORD" for name in NAMES
                      for kind in ("AMQP", "PG", "OWNER_PG")]


def compose_config(environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = tool("docker-compose", "docker-compose")
    # No daemon is needed: `config` only reads, interpolates and validates the file.
    return subprocess.run([command, "-f", str(DEPLOY / "compose.yaml"), "config"],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", **environment})


def test_compose_file_is_valid_and_gates_each_service_on_readiness():
    done = compose_config({variable: f"placeholder{index}"
                           for index, variable in enumerate(PASSWORD_VARIABLES)})
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {"rabbitmq", "postgres", "migrate", *NAMES}
    for index, name in enumerate(NAMES, start=1):
        service = services[name]
        assert service["command"][-1] == \
            f"services.{name}.entrypoints:{CLASSES[name].__name__}"
        assert "/readyz" in " ".join(service["healthcheck"]["test"])
        assert service["restart"] == "unless-stopped"
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        environment = service["environment"]
        assert environment["CHIBO_AMQP_URI"].startswith(f"amqp://chibo_{name}:")
        assert environment[f"CHIBO_{name.upper()}_DATABASE_URL"].startswith(
            f"postgresql://chibo_{name}:")
        # No service holds another's credentials, nor an owner role's.
        assert not [key for key in environment if key.endswith("_DATABASE_URL")
                    and key != f"CHIBO_{name.upper()}_DATABASE_URL"]
        assert "_owner" not in json.dumps(environment)
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        # docker-compose 1.29 prints ports as text, the compose specification as a mapping.
        (port,) = service["ports"]
        assert (port if isinstance(port, str) else
                f"{port['host_ip']}:{port['published']}:{port['target']}").startswith(
            f"127.0.0.1:{8000 + index}:8000"), port
    for infrastructure in ("rabbitmq", "postgres"):
        assert services[infrastructure]["healthcheck"]["test"]
        assert services[infrastructure]["restart"] == "unless-stopped"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(config["secrets"]) == {"auth-secret", "postgres-password"}


def test_compose_refuses_to_start_without_a_password():
    given = {variable: "placeholder" for variable in PASSWORD_VARIABLES
             if variable != "CHIBO_REPORTING_PG_PASSWORD"}
    done = compose_config(given)
    assert done.returncode != 0
    assert "CHIBO_REPORTING_PG_PASSWORD" in done.stderr


# --- Kubernetes --------------------------------------------------------------------------

def manifests() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        found += [(path.name, doc) for doc in
                  yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def mebibytes(quantity: str) -> float:
    units = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "M": 1e6 / 2**20, "G": 1e9 / 2**20}
    for suffix, factor in units.items():
        if quantity.endswith(suffix):
            return float(quantity[: -len(suffix)]) * factor
    return float(quantity) / 2**20


def test_kubernetes_manifests_validate_against_the_api_schemas():
    try:
        import kubernetes_validate
    except ImportError:
        problem = "kubernetes-validate is not installed: pip install -e '.[dev]'"
        if REQUIRE_SERVICES:
            pytest.fail(problem)
        pytest.skip(problem)
    documents = manifests()
    assert documents
    for _filename, document in documents:
        # strict: an unknown or misspelt field fails too.
        kubernetes_validate.validate(document, kubernetes_validate.latest_version(),
                                     strict=True)
    listed = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    assert sorted(listed["resources"]) == sorted(
        {filename for filename, _ in documents})


def test_each_service_has_probes_limits_a_budget_and_a_service():
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for _filename, document in manifests():
        by_kind.setdefault(document["kind"], {})[document["metadata"]["name"]] = document
    for name in NAMES:
        deployment = by_kind["Deployment"][f"chibo-{name}"]
        pod = deployment["spec"]["template"]
        labels = pod["metadata"]["labels"]
        (container,) = pod["spec"]["containers"]
        assert container["command"][-1] == \
            f"services.{name}.entrypoints:{CLASSES[name].__name__}"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for each in pod["spec"]["containers"] + pod["spec"]["initContainers"]:
            resources = each["resources"]
            assert mebibytes(resources["limits"]["memory"]) < MEMORY_LIMIT_MIB, each["name"]
            assert mebibytes(resources["requests"]["memory"]) <= \
                mebibytes(resources["limits"]["memory"])
            assert each["securityContext"]["allowPrivilegeEscalation"] is False
            assert each["securityContext"]["readOnlyRootFilesystem"] is True
        (migration,) = pod["spec"]["initContainers"]
        assert f"chibo migrate --config /etc/chibo/distributed.yaml --service {name}" in \
            " ".join(migration["command"])
        # The owner role's URL reaches the migration only; the service gets its own role's.
        assert container["envFrom"] == [{"secretRef": {"name": f"chibo-{name}"}}]
        budget = by_kind["PodDisruptionBudget"][f"chibo-{name}"]
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        assert budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
        service = by_kind["Service"][f"chibo-{name}"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"

    config = by_kind["ConfigMap"]["chibo-config"]["data"]["distributed.yaml"]
    assert config == (ROOT / "services" / "config" / "distributed.yaml").read_text(
        encoding="utf-8"), ("the ConfigMap must be services/config/distributed.yaml as "
                            "is: run python deploy/kubernetes/write-configmap.py")
    for secret in by_kind["Secret"].values():
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, \
                f"{secret['metadata']['name']}: {key} is not a placeholder"


# --- RabbitMQ ----------------------------------------------------------------------------

def definitions() -> dict[str, Any]:
    return json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text(encoding="utf-8"))


def declared_names(service: str) -> dict[str, list[str]]:
    """The queues and exchanges nameko declares for `service` (reply queues with a
    sample uuid), from its class."""
    sample = str(uuid.UUID(int=7))
    handlers = event_handlers(CLASSES[service])
    return {
        "queues": [f"rpc-{service}", f"rpc.reply-{service}-{sample}",
                   f"rpc.reply-{STANDALONE_REPLY}-{sample}"]
                  + [event_queue(service, *handler) for handler in handlers],
        "exchanges": ["nameko-rpc", f"{service}.events"]
                     + sorted({f"{source}.events" for source, _, _ in handlers}),
    }


def test_rabbitmq_definitions_give_each_service_exactly_what_it_declares():
    defined = definitions()
    (vhost,) = [entry["name"] for entry in defined["vhosts"]]
    permissions = {entry["user"]: entry for entry in defined["permissions"]}
    assert {user["name"] for user in defined["users"]} == {f"chibo_{name}" for name in NAMES}
    for user in defined["users"]:
        assert user["password_hash"] == "" and user["tags"] == [], "no secret, no tags"
    for name in NAMES:
        granted = permissions[f"chibo_{name}"]
        assert granted["vhost"] == vhost
        # The same patterns `chibo provision` sets, so either may run after the other.
        assert (granted["configure"], granted["write"], granted["read"]) == \
            amqp_permissions(name, SOURCES[name])
        names = declared_names(name)
        for queue in names["queues"]:
            for kind in ("configure", "write", "read"):
                assert re.match(granted[kind], queue), f"{name} cannot {kind} {queue}"
        for exchange in names["exchanges"]:
            assert re.match(granted["configure"], exchange), f"{name} cannot declare {exchange}"
        # Nothing of another service's but the standalone proxies' shared reply queues.
        for other in NAMES:
            if other == name:
                continue
            for queue in declared_names(other)["queues"]:
                if STANDALONE_REPLY not in queue:
                    assert not re.match(granted["read"], queue), f"{name} reads {queue}"
                    assert not re.match(granted["configure"], queue), f"{name} declares {queue}"
            assert not re.match(granted["write"], f"{other}.events"), f"{name} publishes as {other}"

    queues = {queue["name"]: queue for queue in defined["queues"]}
    event_queues = {event_queue(name, *handler) for name in NAMES
                    for handler in event_handlers(CLASSES[name])}
    rpc_queues = {f"rpc-{name}" for name in NAMES}
    (dead_letters,) = set(queues) - event_queues - rpc_queues
    # Pre-declared as nameko declares them (classic, durable, no arguments), so a queue
    # holds events from the start, before its consumer first runs.
    for name in event_queues | rpc_queues:
        assert queues[name]["durable"] and not queues[name]["auto_delete"]
        assert queues[name]["arguments"] == {}, f"{name}: nameko would be refused (406)"
    assert queues[dead_letters]["arguments"] == {"x-queue-type": "quorum"}

    exchanges = {exchange["name"]: exchange for exchange in defined["exchanges"]}
    policies = defined["policies"]

    def policy_for(queue: str) -> dict[str, Any]:
        matching = [p for p in policies if p["apply-to"] in ("queues", "all")
                    and re.search(p["pattern"], queue)]
        assert matching, f"no policy for {queue}"
        return max(matching, key=lambda p: p["priority"])["definition"]

    for name in event_queues:
        rule = policy_for(name)
        assert rule["dead-letter-exchange"] in exchanges
        assert rule["message-ttl"] > 0
        bound = [b for b in defined["bindings"] if b["source"] == rule["dead-letter-exchange"]]
        assert [b["destination"] for b in bound] == [dead_letters]
    for name in NAMES:
        for queue in declared_names(name)["queues"]:
            if queue.startswith("rpc.reply-"):
                assert policy_for(queue)["expires"] > 0


def rabbitmqctl(*arguments: str, stdin: str | None = None) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *arguments], input=stdin, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def loaded_definitions():
    """deploy/rabbitmq/definitions.json imported into the local broker under a throwaway
    virtual host and user names; each user given a password. Removed afterwards."""
    _need(_rabbit_problem)
    tool("rabbitmqctl", "rabbitmq-server")
    tag = uuid.uuid4().hex[:8]
    vhost, prefix = f"chibo-deploy-{tag}", f"chibo_d{tag}_"
    defined = definitions()
    (original,) = [entry["name"] for entry in defined["vhosts"]]
    renamed = json.loads(json.dumps(defined).replace(f'"vhost": "{original}"',
                                                     f'"vhost": "{vhost}"'))
    renamed["vhosts"] = [{"name": vhost}]
    for user in renamed["users"]:
        user["name"] = user["name"].replace("chibo_", prefix, 1)
    for permission in renamed["permissions"]:
        permission["user"] = permission["user"].replace("chibo_", prefix, 1)
    users = [user["name"] for user in renamed["users"]]
    try:
        # rabbitmqctl runs as the broker's user, who cannot read pytest's tmp_path (and
        # 3.10 does not read "-" from standard input): a readable file, holding no secret.
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir="/tmp") as handle:
            handle.write(json.dumps(renamed))
            handle.flush()
            os.chmod(handle.name, 0o644)
            rabbitmqctl("import_definitions", handle.name)
        # The import is asynchronous.
        wait_until(lambda: len(rabbitmqctl("list_queues", "-p", vhost, "name").split())
                   >= len(renamed["queues"]), timeout=60, message="the imported queues")
        passwords = {}
        for user in users:
            passwords[user] = uuid.uuid4().hex
            rabbitmqctl("change_password", user, stdin=passwords[user])
        base = AMQP_URI.split("@", 1)[1].split("/", 1)[0]
        yield {name: f"amqp://{prefix}{name}:{passwords[prefix + name]}@{base}/{vhost}"
               for name in NAMES}, vhost
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True,
                       check=False)
        for user in users:
            subprocess.run(["rabbitmqctl", "-q", "delete_user", user], capture_output=True,
                           check=False)


def stand_in(service: str) -> type:
    """A nameko service of the same name, with the same event handlers, an RPC method,
    an event dispatcher and an RPC proxy: at start nameko declares what the real one
    declares, under the same names."""
    from nameko.events import EventDispatcher, event_handler
    from nameko.rpc import RpcProxy, rpc

    namespace: dict[str, Any] = {"name": service, "dispatch": EventDispatcher(),
                                 "peer": RpcProxy("members")}
    for source, event_type, method in event_handlers(CLASSES[service]):
        namespace[method] = event_handler(source, event_type)(lambda self, payload: None)
    namespace["ping"] = rpc(lambda self: service)
    return type(f"StandIn{service.title()}", (), namespace)


def test_rabbitmq_definitions_load_and_the_services_declarations_fit_them(loaded_definitions):
    from amqp.exceptions import AccessRefused
    from nameko.containers import ServiceContainer
    from nameko.standalone.rpc import ClusterRpcProxy

    uris, vhost = loaded_definitions
    containers = []
    try:
        # Each service as its own user: nameko declares its exchanges, its RPC queue, its
        # reply queue and its event queues (re-declaring the pre-declared ones) and binds.
        for name in NAMES:
            container = ServiceContainer(stand_in(name), {"AMQP_URI": uris[name]})
            containers.append(container)
            # A refused declaration makes nameko retry for ever: bound the wait, from
            # outside nameko's own green threads.
            starting = eventlet.spawn(container.start)
            with eventlet.Timeout(30, False):
                starting.wait()
            if not starting.dead:
                pytest.fail(f"{name} could not declare or consume its queues as its own "
                            "user within 30 s (see the broker's ACCESS_REFUSED above)")
        # A feed heals gaps through a standalone proxy: supervision calling meetings.
        with ClusterRpcProxy({"AMQP_URI": uris["supervision"]}, timeout=30) as proxy:
            assert proxy.meetings.ping() == "meetings"
    finally:
        for container in containers:
            # A container that failed to start may not stop cleanly: that must not hide why.
            with contextlib.suppress(Exception), eventlet.Timeout(10, False):
                container.stop()
            with contextlib.suppress(Exception):
                container.kill()

    listed = rabbitmqctl("list_queues", "-p", vhost, "name", "type", "policy", "arguments")
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in listed.splitlines()}
    for name in NAMES:
        for source, event_type, method in event_handlers(CLASSES[name]):
            queue = event_queue(name, source, event_type, method)
            assert rows[queue][:2] == ["classic", "chibo-event-queues"], queue
    replies = [queue for queue in rows if queue.startswith("rpc.reply-")]
    assert replies and all(rows[queue][1] == "chibo-rpc-replies" for queue in replies)
    assert rows["chibo.dead-letters"][0] == "quorum"

    # One service cannot take another's RPC queue.
    with Connection(uris["meetings"], connect_timeout=5) as conn:
        with pytest.raises(AccessRefused):
            Queue("rpc-members", exchange=Exchange("nameko-rpc", type="topic", durable=True),
                  routing_key="members.*", durable=True)(conn.channel()).declare()

    # An event a consumer refuses goes to the dead-letter queue, not nowhere.
    events = Exchange("members.events", type="topic", durable=True)
    with Connection(uris["members"], connect_timeout=5) as conn:
        conn.Producer(conn.channel()).publish({"probe": 1}, exchange=events,
                                              routing_key="member_admitted")
    (handler,) = [h for h in event_handlers(CLASSES["meetings"]) if h[0] == "members"]
    with Connection(uris["meetings"], connect_timeout=5) as conn:
        queue = Queue(event_queue("meetings", *handler), channel=conn.channel())
        message = wait_until(lambda: queue.get(no_ack=False), timeout=10, message="the event")
        message.reject(requeue=False)

    def dead_lettered() -> int:
        listed = rabbitmqctl("list_queues", "-p", vhost, "name", "messages")
        counts = dict(line.split("\t") for line in listed.splitlines())
        return int(counts["chibo.dead-letters"])

    assert wait_until(dead_lettered, timeout=30, message="the dead-lettered event") == 1


# --- PostgreSQL --------------------------------------------------------------------------

catalogue = Catalogue()


@catalogue.event("probed")
class Probed(marshmallow.Schema):
    n = fields.Integer(required=True)


def psql(url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([tool("psql", "postgresql-client"), "-X", "-q", "-v",
                           "ON_ERROR_STOP=1", *arguments, libpq(url)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def roles():
    """deploy/postgres/roles.sql run with a throwaway prefix: (prefix, URL of a role in a
    database). Its databases and roles are dropped afterwards."""
    _need(_pg_problem)
    prefix = f"chibo_t{uuid.uuid4().hex[:8]}_"

    def url(role: str, database: str) -> str:
        return make_url(PG_ADMIN_URL).set(username=role, password=None,
                                          database=database).render_as_string(False)

    try:
        done = psql(PG_ADMIN_URL, "-v", f"prefix={prefix}",
                    "-f", str(DEPLOY / "postgres" / "roles.sql"))
        assert done.returncode == 0, done.stderr
        yield prefix, url
    finally:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in NAMES:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{prefix}{name}" WITH (FORCE)'))
            for name in NAMES:
                for role in (f"{prefix}{name}", f"{prefix}{name}_owner"):
                    conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def refused(engine: Any, statement: str) -> None:
    with pytest.raises(ProgrammingError, match="permission denied|must be owner"):
        with engine.begin() as conn:
            conn.execute(text(statement))


def test_postgres_roles_keep_each_log_append_only(roles):
    prefix, url = roles
    schemas = {name: (metadatas, scripts) for name, metadatas, scripts in
               service_schemas(SERVICES)}
    # The owner role migrates, then gives the service role its privileges.
    for name in NAMES:
        owner = url(f"{prefix}{name}_owner", f"{prefix}{name}")
        engine = make_engine(owner)
        try:
            migrate(engine, name, *schemas[name])
        finally:
            engine.dispose()
        done = psql(owner, "-v", f"prefix={prefix}", "-v", f"service={name}",
                    "-f", str(DEPLOY / "postgres" / "grants.psql"))
        assert done.returncode == 0, done.stderr

    members = make_engine(url(f"{prefix}members", f"{prefix}members"))
    try:
        # What a service does on start: its schema is at head, so nothing changes.
        migration = migrate(members, "members", *schemas["members"])
        assert all(not step.created and step.before == step.after for step in migration.steps)

        # A command: claim its id, append, record the answer; the relay and a feed move.
        factory = session_factory(members)
        with unit_of_work(factory) as session:
            assert claim(session, "cmd-1", "probe", "d" * 64, "2026-01-20T12:00:00") is None
            EventStore(session, catalogue, metadata=Metadata(command_id="cmd-1")).append(
                "probe-1", 0, [NewEvent("probed", {"n": 1})])
            record_answer(session, "cmd-1", {"ok": True})
            session.execute(text("INSERT INTO relay_cursor (name, position) VALUES ('bus', 0)"))
            session.execute(text("UPDATE relay_cursor SET position = 1 WHERE name = 'bus'"))
            session.execute(text("INSERT INTO feed_watermarks (source, position) "
                                 "VALUES ('x', 0)"))
            session.execute(text("UPDATE feed_watermarks SET position = 1 WHERE source = 'x'"))
            session.execute(text("SELECT * FROM feed_watermarks FOR UPDATE"))
            # Derived tables may be rewritten.
            session.execute(text("DELETE FROM members_index"))
        with unit_of_work(factory) as session:
            assert [e.data for e in EventStore(session, catalogue).read_stream("probe-1")] \
                == [{"n": 1}]

        for statement in [
            "UPDATE events SET data = '{}'",
            "DELETE FROM events",
            "TRUNCATE events",
            "DELETE FROM event_head",
            "INSERT INTO event_head (id, position, hash) VALUES (2, 0, 'x')",
            "UPDATE command_log SET digest = 'x'",
            "DELETE FROM command_log",
            "UPDATE alembic_version_kernel SET version_num = '0001'",
            "CREATE TABLE shadow (id int)",
            "ALTER TABLE events ADD COLUMN shadow int",
            "DROP TABLE members_index",
        ]:
            refused(members, statement)
    finally:
        members.dispose()

    reporting = make_engine(url(f"{prefix}reporting", f"{prefix}reporting"))
    try:
        refused(reporting, "UPDATE archive SET data = '{}'")
        refused(reporting, "DELETE FROM archive")
        with reporting.begin() as conn:
            conn.execute(text("DELETE FROM rebuild_requests"))  # its rebuild does this
    finally:
        reporting.dispose()

    # Reporting reads nothing of the others': it cannot even connect to their databases.
    for other in ("members", "meetings", "supervision"):
        trespass = create_engine(url(f"{prefix}reporting", f"{prefix}{other}"))
        with pytest.raises(OperationalError, match="permission denied for database"):
            trespass.connect()
        trespass.dispose()
    # Nor may a service role reach another's database through its owner's name.
    trespass = create_engine(url(f"{prefix}meetings", f"{prefix}members"))
    with pytest.raises(OperationalError, match="permission denied for database"):
        trespass.connect()
    trespass.dispose()

    # Running the script again changes nothing that works.
    done = psql(PG_ADMIN_URL, "-v", f"prefix={prefix}",
                "-f", str(DEPLOY / "postgres" / "roles.sql"))
    assert done.returncode == 0, done.stderr
    members = make_engine(url(f"{prefix}members", f"{prefix}members"))
    try:
        refused(members, "DELETE FROM events")
        with members.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM events")).scalar_one() == 1
    finally:
        members.dispose()


# --- folders the services write ------------------------------------------------------------

#: Each setting whose default is a folder under var/ (relative to the working directory,
#: which every deployment here makes read-only), and the deployments' writable folder for
#: the service that writes it.
WRITTEN_FOLDERS = {"CHIBO_SIGNING_KEYS_DIR": None,  # read only: keys come from secrets
                   "CHIBO_MATERIALS_DIR": "meetings"}


def test_every_folder_the_services_write_is_writable_where_they_run():
    config = (ROOT / "services" / "config" / "distributed.yaml").read_text(encoding="utf-8")
    relative = set(re.findall(r"\$\{(CHIBO_\w+):var/", config))
    assert relative == set(WRITTEN_FOLDERS), (
        "a setting defaults to a folder under var/: give it a writable folder in "
        "deploy/systemd, deploy/compose.yaml and deploy/kubernetes, then list it here")
    for variable, service in WRITTEN_FOLDERS.items():
        if service is None:
            continue
        unit = unit_settings(DEPLOY / "systemd" / f"chibo-{service}.service")
        (folder,) = [value.split("=", 1)[1] for value in unit["Environment"]
                     if value.startswith(f"{variable}=")]
        assert folder.startswith(unit["ReadWritePaths"][0] + "/")

        compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"][service]
        folder = compose["environment"][variable]
        assert any(volume.endswith(f":{folder}") for volume in compose["volumes"])

        (deployment,) = [doc for doc in yaml.safe_load_all(
            (DEPLOY / "kubernetes" / f"{service}.yaml").read_text()) if doc["kind"] == "Deployment"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (folder,) = [e["value"] for e in container["env"] if e["name"] == variable]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
        assert "persistentVolumeClaim" in volumes[mounts[folder]]
