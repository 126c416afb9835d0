"""`chibo provision`: each service its own RabbitMQ user and PostgreSQL role.

For every service it makes (or keeps):

- a RabbitMQ user `<prefix><service>` with a generated password and permissions on one
  virtual host that cover only the exchanges and queues nameko 2.14 declares for that
  service (see `amqp_permissions`);
- a PostgreSQL role `<prefix><service>` (LOGIN, not a superuser, cannot create roles or
  databases) that owns the database `<prefix><service>` and can connect to no other
  chibo database (CONNECT is revoked from PUBLIC on each);
- its Ed25519 signing key `<secrets>/<service>-signing.key` (0600; the public key
  beside it), with which it signs every row of its log (kept on later runs);
- a file `<secrets>/<service>.env` (mode 0600, in a folder of mode 0700) holding
  `CHIBO_AMQP_URI`, `CHIBO_<SERVICE>_DATABASE_URL`, `CHIBO_AUTH_SECRET_FILE` and
  `CHIBO_SIGNING_KEYS_DIR`, which `deploy/run-distributed.sh` reads before it starts
  the service;

and once for the cluster, `<secrets>/auth-secret` (0600): the signing secret every
service verifies callers' tokens with.

Running it again keeps the passwords the files hold, so the credentials in use keep
working; it puts back whatever is missing (a user, a role, a permission, a database).
It needs `rabbitmqctl` (run where the broker's node is reachable, usually as root) and
a PostgreSQL superuser (or a role with CREATEROLE and CREATEDB) for `--admin-url`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chibo.access.secret import new_secret
from chibo.eventstore.signing import key_paths, load_or_create_signer

# SQLAlchemy is imported where it is used: `chibo` reads its command line (and so this
# module) before `chibo demo` monkey-patches for eventlet.

#: Where the credentials files go unless told otherwise (beside embedded mode's data).
DEFAULT_SECRETS_DIR = Path("var/chibo/secrets")
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
#: nameko's RPC exchange (config `rpc_exchange`, which chibo leaves at its default).
RPC_EXCHANGE = "nameko-rpc"
#: The reply queues of nameko's standalone ClusterRpcProxy, which a feed uses to read a
#: source's log when it heals a gap: `rpc.reply-standalone_rpc_proxy-<uuid>`.
STANDALONE_REPLY = "standalone_rpc_proxy"
#: The cluster's signing secret, in the secrets folder.
AUTH_SECRET_FILE = "auth-secret"
_PASSWORD = re.compile(r"^[A-Za-z0-9_-]{16,}$")


class ProvisionError(RuntimeError):
    """A step of provisioning that failed, with what to do about it."""


@dataclass(frozen=True)
class ServiceAccess:
    """One service: its name and the services whose events it consumes."""

    name: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    """Where to provision: the broker's virtual host and address, the PostgreSQL server
    (through an administrator's URL), the prefix of every user, role and database name,
    and the secrets folder."""

    vhost: str = "/"
    amqp_host: str = "127.0.0.1"
    amqp_port: int = 5672
    admin_url: str = DEFAULT_ADMIN_URL
    prefix: str = "chibo_"
    secrets_dir: Path = DEFAULT_SECRETS_DIR
    rabbitmqctl: Sequence[str] = ("rabbitmqctl",)
    #: host:port the services reach PostgreSQL at; empty: the admin URL's.
    pg_address: str = ""

    def account(self, service: str) -> str:
        """The RabbitMQ user, PostgreSQL role and database name of `service`."""
        return f"{self.prefix}{service}"


@dataclass
class Provisioned:
    """What one service got: its user (also its role and database) and its file."""

    service: str
    account: str
    env_file: Path
    created: list[str] = field(default_factory=list)

    def describe(self) -> str:
        made = ", ".join(self.created) if self.created else "nothing new"
        return f"{self.service}: {self.account} ({made}) → {self.env_file}"


def database_variable(service: str) -> str:
    return f"CHIBO_{service.upper()}_DATABASE_URL"


def amqp_permissions(service: str, sources: Iterable[str]) -> tuple[str, str, str]:
    """RabbitMQ's (configure, write, read) patterns for `service`, as narrow as nameko 2.14
    allows.

    - RPC: it declares the exchange `nameko-rpc`, its request queue `rpc-<service>`
      bound to it, and reply queues `rpc.reply-<service>-<uuid>` (RpcProxy) and
      `rpc.reply-standalone_rpc_proxy-<uuid>` (the feed's ClusterRpcProxy); it publishes
      requests and replies to `nameko-rpc`.
    - Events: it declares and publishes to `<service>.events`; for each source it
      consumes it declares `<source>.events` and the queues
      `evt-<source>-<type>--<service>.<method>`, and binds them to that exchange.

    Binding needs write on the queue and read on the exchange; consuming needs read on
    the queue; publishing needs write on the exchange.
    """
    me = re.escape(service)
    sources = sorted(set(sources))
    queues = [f"rpc-{me}", rf"rpc\.reply-{me}-.+",
              rf"rpc\.reply-{re.escape(STANDALONE_REPLY)}-.+"]
    if sources:
        queues.append(rf"evt-({'|'.join(map(re.escape, sources))})-.+--{me}\..+")
    own_exchanges = [re.escape(RPC_EXCHANGE), rf"{me}\.events"]
    source_exchanges = [rf"{re.escape(source)}\.events" for source in sources]

    def anchored(names: list[str]) -> str:
        return "^(" + "|".join(names) + ")$"

    configure = anchored(own_exchanges + source_exchanges + queues)
    write = anchored(own_exchanges + queues)
    read = anchored([re.escape(RPC_EXCHANGE)] + source_exchanges + queues)
    return configure, write, read


# --- the credentials files ---------------------------------------------------------------

def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a credentials file (comments and blank lines skipped)."""
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip()] = value.strip().strip("'\"")
    return values


def _password_in(url: str | None) -> str | None:
    from sqlalchemy.engine import make_url

    if not url:
        return None
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - an unreadable URL holds no password we can keep
        return None
    if password is None or not _PASSWORD.match(str(password)):
        return None
    return str(password)


def new_password() -> str:
    """32 URL-safe characters (192 bits): fit in a URL without quoting."""
    return secrets.token_urlsafe(24)


def ensure_private_dir(path: Path) -> None:
    """`path` and any missing parents made with mode 0700; `path` itself set to 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def write_private_file(path: Path, content: str) -> None:
    """Replace `path` with `content`, the file never readable by others (0600 from its
    creation, renamed into place)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.replace(temporary, path)


def amqp_uri(target: Target, user: str, password: str) -> str:
    vhost = "" if target.vhost == "/" else quote(target.vhost, safe="")
    return f"amqp://{user}:{password}@{target.amqp_host}:{target.amqp_port}/{vhost}"


def database_url(target: Target, role: str, password: str) -> str:
    from sqlalchemy.engine import URL, make_url

    admin = make_url(target.admin_url)
    host, port = admin.host or "127.0.0.1", admin.port or 5432
    if target.pg_address:
        host, _, given = target.pg_address.rpartition(":")
        port = int(given)
    return URL.create("postgresql", username=role, password=password, host=host,
                      port=port, database=role).render_as_string(hide_password=False)


# --- RabbitMQ ------------------------------------------------------------------------------

def _rabbitmqctl(target: Target, *arguments: str, stdin: str | None = None) -> str:
    command = [*target.rabbitmqctl, "-q", *arguments]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True,
                              check=False, timeout=120)
    except FileNotFoundError:
        raise ProvisionError(
            f"{target.rabbitmqctl[0]} not found: run chibo provision where RabbitMQ's "
            "rabbitmqctl is installed (usually as root on the broker's machine)") from None
    if done.returncode != 0:
        raise ProvisionError(f"{' '.join(command[:4])} … failed ({done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()}")
    return done.stdout


def rabbit_users(target: Target) -> set[str]:
    listed = _rabbitmqctl(target, "list_users", "--formatter", "json")
    return {entry["user"] for entry in json.loads(listed or "[]")}


def ensure_rabbit_user(target: Target, access: ServiceAccess, password: str,
                       existing: set[str]) -> list[str]:
    """The user with `password` (passed on standard input, never on a command line) and
    its permissions on the virtual host; what was made."""
    user = target.account(access.name)
    made = []
    if user in existing:
        _rabbitmqctl(target, "change_password", user, stdin=password)
    else:
        _rabbitmqctl(target, "add_user", user, stdin=password)
        made.append("RabbitMQ user")
    _rabbitmqctl(target, "set_user_tags", user)  # no management or administrator tags
    configure, write, read = amqp_permissions(access.name, access.sources)
    _rabbitmqctl(target, "set_permissions", "-p", target.vhost, user, configure, write, read)
    return made


# --- PostgreSQL ----------------------------------------------------------------------------

def _ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ProvisionError(f"{name!r} is not a plain lower-case SQL name: choose a prefix "
                             "of letters, digits and underscores")
    return f'"{name}"'


def ensure_database_role(target: Target, service: str, password: str) -> list[str]:
    """The role (LOGIN, `password`, no superuser/createdb/createrole), its database owned
    by it with CONNECT revoked from PUBLIC, and whatever an administrator made inside an
    existing database handed to it; what was made."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = target.account(service)
    role = _ident(name)
    made = []
    admin = create_engine(make_url(target.admin_url).set(drivername="postgresql+psycopg2"),
                          isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"
            if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"),
                            {"n": name}).first():
                conn.exec_driver_sql(f"ALTER ROLE {role} {options} PASSWORD %s", (password,))
            else:
                conn.exec_driver_sql(f"CREATE ROLE {role} {options} PASSWORD %s", (password,))
                made.append("PostgreSQL role")
            if conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"),
                            {"n": name}).first():
                conn.exec_driver_sql(f"ALTER DATABASE {role} OWNER TO {role}")
            else:
                conn.exec_driver_sql(f"CREATE DATABASE {role} OWNER {role}")
                made.append("database")
            conn.exec_driver_sql(f"REVOKE ALL ON DATABASE {role} FROM PUBLIC")
            conn.exec_driver_sql(f"GRANT CONNECT, TEMPORARY ON DATABASE {role} TO {role}")
        _adopt_objects(target, name)
    finally:
        admin.dispose()
    return made


def _adopt_objects(target: Target, name: str) -> None:
    """Tables, sequences and views an administrator made in the service's database (a
    database that predates its role) given to the role, so its service can migrate them."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(target.admin_url).set(drivername="postgresql+psycopg2",
                                                          database=name),
                           isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            owned = conn.execute(text(
                "SELECT c.relname, c.relkind FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
                "AND pg_get_userbyid(c.relowner) <> :role "
                # A sequence owned by a column moves with its table.
                "AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_depend d "
                "WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')))"),
                {"role": name}).all()
            kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
                     "S": "SEQUENCE"}
            for relname, relkind in owned:
                conn.exec_driver_sql(f'ALTER {kinds[relkind]} public."{relname}" '
                                     f"OWNER TO {_ident(name)}")
    finally:
        engine.dispose()


# --- the whole step --------------------------------------------------------------------

def provision(target: Target, services: Sequence[ServiceAccess]) -> list[Provisioned]:
    """Every service's user, role, database and credentials file; idempotent."""
    ensure_private_dir(target.secrets_dir)
    signing = ensure_signing_secret(target)
    existing = rabbit_users(target)
    done = []
    for access in services:
        env_file = target.secrets_dir / f"{access.name}.env"
        kept = read_env_file(env_file)
        variable = database_variable(access.name)
        amqp_password = _password_in(kept.get("CHIBO_AMQP_URI")) or new_password()
        pg_password = _password_in(kept.get(variable)) or new_password()
        account = target.account(access.name)
        result = Provisioned(access.name, account, env_file)
        result.created += ensure_rabbit_user(target, access, amqp_password, existing)
        result.created += ensure_database_role(target, access.name, pg_password)
        keys_existed = key_paths(target.secrets_dir, access.name)[0].exists()
        load_or_create_signer(target.secrets_dir, access.name, create=True)
        if not keys_existed:
            result.created.append("signing key")
        content = (
            f"# chibo {access.name}: its own RabbitMQ user and PostgreSQL role, made by\n"
            "# `chibo provision`. Secret: keep this file mode 0600, its folder 0700.\n"
            f"CHIBO_AMQP_URI={amqp_uri(target, account, amqp_password)}\n"
            f"{variable}={database_url(target, account, pg_password)}\n"
            f"CHIBO_AUTH_SECRET_FILE={signing}\n"
            f"CHIBO_SIGNING_KEYS_DIR={target.secrets_dir.resolve()}\n")
        if not env_file.exists() or env_file.read_text(encoding="utf-8") != content:
            write_private_file(env_file, content)
            result.created.append("credentials file")
        os.chmod(env_file, 0o600)
        done.append(result)
    return done


def ensure_signing_secret(target: Target) -> Path:
    """The cluster's signing secret (`AUTH.secret_file`, shared by every service, which
    verify each other's callers with it): `<secrets>/auth-secret`, made once (random,
    0600) and kept afterwards. Its absolute path."""
    path = (target.secrets_dir / AUTH_SECRET_FILE).resolve()
    if not path.exists() or not path.read_text(encoding="utf-8").strip():
        write_private_file(path, new_secret() + "\n")
    os.chmod(path, 0o600)
    return path


def _services_access(service_classes: Iterable[type]) -> list[ServiceAccess]:
    """Each service's name and its event sources, read off the nameko classes by the
    edge (chibo.nameko.runtime)."""
    from chibo.nameko.runtime import services_access

    return services_access(service_classes)


# --- the sub-command -----------------------------------------------------------------------

@dataclass(frozen=True)
class _Provision:
    name: str = "provision"
    help: str = ("tạo người dùng RabbitMQ và vai trò PostgreSQL riêng cho từng dịch vụ "
                 "(each service its own RabbitMQ user and PostgreSQL role)")
    config_mode: str | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--service", action="append",
                            help="only this service (repeatable; default: all)")
        parser.add_argument("--vhost", default=os.environ.get("CHIBO_PROVISION_VHOST", "/"),
                            help="RabbitMQ virtual host (default /)")
        parser.add_argument("--amqp-address", default="127.0.0.1:5672",
                            help="host:port the services reach RabbitMQ at")
        parser.add_argument("--admin-url", default=os.environ.get(
            "CHIBO_PROVISION_PG_URL", DEFAULT_ADMIN_URL),
            help="a PostgreSQL superuser's URL (CHIBO_PROVISION_PG_URL; default "
                 f"{DEFAULT_ADMIN_URL})")
        parser.add_argument("--pg-address", default="",
                            help="host:port the services reach PostgreSQL at "
                                 "(default: the admin URL's)")
        parser.add_argument("--prefix", default="chibo_",
                            help="of each user, role and database name (default chibo_)")
        parser.add_argument("--secrets-dir", type=Path, default=Path(os.environ.get(
            "CHIBO_SECRETS_DIR", DEFAULT_SECRETS_DIR)),
            help="where the <service>.env files go (CHIBO_SECRETS_DIR; default "
                 f"{DEFAULT_SECRETS_DIR})")

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        from chibo.application import app

        host, _, port = args.amqp_address.rpartition(":")
        target = Target(vhost=args.vhost, amqp_host=host or "127.0.0.1",
                        amqp_port=int(port), admin_url=args.admin_url, prefix=args.prefix,
                        secrets_dir=args.secrets_dir, pg_address=args.pg_address)
        services = [access for access in _services_access(app().SERVICES)
                    if not args.service or access.name in args.service]
        try:
            for result in provision(target, services):
                print(result.describe())
        except ProvisionError as exc:
            print(f"chibo provision: {exc}", file=sys.stderr)
            return 1
        print("Trong môi trường thật, xóa người dùng guest của RabbitMQ (in production, "
              "delete RabbitMQ's guest user): rabbitmqctl delete_user guest")
        return 0


PROVISION_COMMAND = _Provision()

