"""The `chibo` command: the kernel's sub-commands (demo, audit verify, migrate and its
older name init-db) and those the application registers.

The application module (`chibo.application.app()`) may name:

- `COMMANDS`: the sub-commands in help order, each a `Command`; the kernel's own
  (`DEMO_COMMAND`, `AUDIT_COMMAND`, `MIGRATE_COMMAND`, `INIT_DB_COMMAND`) go where the
  application lists them, or after its own when it does not;
- `CLI_DESCRIPTION`: the text `chibo --help` opens with;
- `DEMO`: a `DemoHooks`, what `chibo demo` adds to the services it runs (its options, the
  addresses its banner lists, the sample it loads).
"""

from __future__ import annotations

import argparse
import socket
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from chibo import settings
from chibo.provision import PROVISION_COMMAND


class Command(Protocol):
    """One sub-command of `chibo`."""

    @property
    def name(self) -> str: ...

    @property
    def help(self) -> str: ...

    @property
    def config_mode(self) -> str | None:
        """Which default config file `run` gets (`distributed`, `embedded`), read from the
        command's `--config` when given; None: the command reads no config and gets `{}`."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int: ...


class DemoHooks(Protocol):
    """What the application adds to `chibo demo`."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def where_to_look(self, base: str, today: date) -> str:
        """The banner's lines of addresses under `base` (no trailing newline)."""
        ...

    def load(self, args: argparse.Namespace, config: dict[str, Any], today: date,
             base: str) -> None:
        """Once the services serve at `base`: load (or decline to load) the sample."""
        ...


def main(argv: list[str] | None = None) -> int:
    # nameko still runs on eventlet, which announces its deprecation on import.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    from chibo.application import app

    application = app()
    commands = registered_commands(application)
    description = getattr(application, "CLI_DESCRIPTION", None) or (
        "The `chibo` command: " + " | ".join(command.name for command in commands) + ".")
    parser = argparse.ArgumentParser(prog="chibo", description=description)
    subparsers = parser.add_subparsers(dest="command", required=True)
    by_name: dict[str, Command] = {}
    for command in commands:
        command.add_arguments(subparsers.add_parser(command.name, help=command.help))
        by_name[command.name] = command
    args = parser.parse_args(argv)
    command = by_name[args.command]
    config = (_config(getattr(args, "config", None), command.config_mode)
              if command.config_mode else {})
    try:
        return command.run(args, config)
    except settings.MissingSetting as exc:
        print(f"chibo {command.name}: {exc}", file=sys.stderr)
        return 2


def registered_commands(application: Any) -> list[Command]:
    """The application's `COMMANDS`, then whichever of the kernel's it left out."""
    listed: list[Command] = list(getattr(application, "COMMANDS", ()))
    # By name, not identity: run as `python -m chibo.cli`, this module is `__main__` and
    # the application's `chibo.cli` objects come from a second copy of it.
    names = {command.name for command in listed}
    return listed + [command for command in KERNEL_COMMANDS if command.name not in names]


@dataclass(frozen=True)
class _Demo:
    name: str = "demo"
    help: str = "run every service in one process with sample data"
    # The demo reads its config itself, after eventlet's monkey-patching and with --port.
    config_mode: str | None = None

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
        parser.add_argument("--config", default=None, help="YAML config (default: embedded)")
        hooks = _demo_hooks()
        if hooks is not None:
            hooks.add_arguments(parser)

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        return run_demo(args)


@dataclass(frozen=True)
class _AuditVerify:
    name: str = "audit"
    help: str = "check the logs for tampering"
    config_mode: str | None = "distributed"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        audit_commands = parser.add_subparsers(dest="audit_command", required=True)
        verify = audit_commands.add_parser(
            "verify", help="verify each service's hash chain and signatures, and that the "
            "logs still hold what checkpoints committed to")
        verify.add_argument("--config", default=None, help="YAML config (default: distributed)")
        verify.add_argument("--service", action="append", help="only this service (repeatable)")
        verify.add_argument("--checkpoint", action="append", default=[], metavar="FILE",
                            help="a checkpoint file `chibo audit checkpoint` wrote (repeatable)")
        checkpoint = audit_commands.add_parser(
            "checkpoint", help="write each service's signed checkpoint (its log's size and "
            "head hash) to a folder kept outside the databases")
        checkpoint.add_argument("--config", default=None,
                                help="YAML config (default: distributed)")
        checkpoint.add_argument("--service", action="append",
                                help="only this service (repeatable)")
        checkpoint.add_argument("--out", required=True, help="the folder to write them to")
        rotate = audit_commands.add_parser(
            "rotate-key", help="give a service a new signing key (with the service stopped); "
            "the old public key is kept so the rows it signed still verify")
        rotate.add_argument("--config", default=None, help="YAML config (default: distributed)")
        rotate.add_argument("--service", action="append", required=True,
                            help="the service (repeatable)")

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        if args.audit_command == "checkpoint":
            return run_audit_checkpoint(args, config)
        if args.audit_command == "rotate-key":
            return run_audit_rotate_key(args, config)
        return run_audit_verify(args, config)


@dataclass(frozen=True)
class _Migrate:
    name: str = "migrate"
    help: str = ("create the databases the config names and bring each to its newest "
                 "schema, printing its revisions before → after")
    config_mode: str | None = "distributed"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--config", default=None, help="YAML config (default: distributed)")
        parser.add_argument("--service", action="append",
                            help="only this service's database (repeatable)")
        parser.add_argument("--current", action="store_true",
                            help="print each database's revisions and the newest, change nothing")
        parser.add_argument("--new-revision", metavar="MESSAGE", default=None,
                            help="write the next revision of --service (or 'kernel') from what "
                                 "the code declares and its revisions do not make yet")

    def run(self, args: argparse.Namespace, config: dict[str, Any]) -> int:
        return run_migrate(args, config)


DEMO_COMMAND: Command = _Demo()
AUDIT_COMMAND: Command = _AuditVerify()
MIGRATE_COMMAND: Command = _Migrate()
#: The name deploy scripts and older notes use: the same as `migrate`.
INIT_DB_COMMAND: Command = _Migrate(name="init-db", help="the same as migrate")
KERNEL_COMMANDS: Sequence[Command] = (DEMO_COMMAND, AUDIT_COMMAND, MIGRATE_COMMAND,
                                      INIT_DB_COMMAND, PROVISION_COMMAND)


def _demo_hooks() -> DemoHooks | None:
    from chibo.application import app

    return getattr(app(), "DEMO", None)


def _config(path: str | None, mode: str, **overrides: Any) -> dict[str, Any]:
    from chibo.application import app

    return settings.load(path or Path(app().CONFIG_DIR) / f"{mode}.yaml", **overrides)


def run_demo(args: argparse.Namespace) -> int:
    from chibo.nameko.runtime import patch_for_green_threads

    patch_for_green_threads()
    from chibo.application import app
    from chibo.clock import ClockSettingError, clock_from_setting
    from chibo.db import SchemaOutdated
    from chibo.nameko.runtime import start_embedded

    overrides = {"WEB_SERVER_ADDRESS": f"127.0.0.1:{args.port}"} if args.port else {}
    config = _config(args.config, "embedded", **overrides)
    try:
        # "Today" as the services see it: a fixed CHIBO_CLOCK moves the sample's months too.
        today = clock_from_setting(config.get("CLOCK")).now().date()
    except ClockSettingError as exc:
        print(f"chibo demo: {exc}", file=sys.stderr)
        return 2
    application = app()
    address = config["WEB_SERVER_ADDRESS"]
    if not _port_free(address):
        port = int(address.rsplit(":", 1)[1])
        print(f"chibo: cổng {address} đang bận (port {address} is already in use). "
              f"Dừng chương trình đang dùng nó, hoặc chạy (stop whatever uses it, or run): "
              f"chibo demo --port {port + 1}", file=sys.stderr)
        return 1
    print("chibo: khởi động các dịch vụ (starting services)…", flush=True)
    try:
        runner = start_embedded(application.SERVICES, config)
    except SchemaOutdated as exc:
        print(f"chibo: {exc}", file=sys.stderr, flush=True)
        return 2
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    hooks = _demo_hooks()
    try:
        print(demo_banner(base, config, today, hooks), flush=True)
        if hooks is not None:
            hooks.load(args, config, today, base)
        runner.wait()
    except KeyboardInterrupt:
        print("\nchibo: đang dừng (stopping)…", flush=True)
    finally:
        runner.stop()
    return 0


def demo_banner(base: str, config: dict[str, Any], today: date,
                hooks: DemoHooks | None) -> str:
    """Where to look (the application's addresses, or the kernel's own), where the data
    lives and how to stop."""
    where = (hooks.where_to_look(base, today) if hooks is not None else
             f"  {base}/healthz    trạng thái (health)\n  {base}/metrics    Prometheus metrics")
    return f"""
chibo đang chạy (running). Xem tại (look at):
{where}
Dữ liệu (data): {', '.join(config['DATABASES'].values())}
Nhấn Ctrl+C để dừng (press Ctrl+C to stop)."""


def _port_free(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def run_migrate(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from sqlalchemy.exc import OperationalError

    from chibo.application import app
    from chibo.db import SchemaOutdated, make_engine
    from chibo.migrate import revisions, tracks_of
    from chibo.nameko.providers import database_url
    from chibo.nameko.runtime import migrate_databases, service_schemas

    services = [service for service in app().SERVICES
                if not args.service or service.name in args.service]
    schemas = list(service_schemas(services))
    if args.new_revision is not None:
        return _new_revision(args, schemas)
    if args.current:
        for name, metadatas, scripts in schemas:
            engine = make_engine(database_url(config, name))
            try:
                found = revisions(engine, tracks_of(name, metadatas, scripts))
            except OperationalError as exc:
                print(f"{name}: unreachable ({str(exc.orig).strip().splitlines()[0]})")
                continue
            finally:
                engine.dispose()
            print(f"{name}: " + ", ".join(
                f"{track} {current or '—'}" + ("" if current == head else f" (newest: {head})")
                for track, current, head in found))
        return 0
    # Only the chosen services' databases: a process provisioned for one service has
    # that service's credentials alone.
    settings.ensure_databases({"DATABASES": {
        name: database_url(config, name) for name, _tables, _scripts in schemas}})
    try:
        done = migrate_databases(services, config)
    except SchemaOutdated as exc:
        print(f"chibo migrate: {exc}", file=sys.stderr)
        return 2
    for migrated in done:
        print(migrated.describe())
        for notice in migrated.notices:
            print(f"  → {notice}")
    return 0


def _new_revision(args: argparse.Namespace, schemas: list[Any]) -> int:
    from chibo.migrate import kernel_track, service_track
    from chibo.migrate.authoring import new_revision

    if args.service == ["kernel"]:
        track = kernel_track()
    elif len(schemas) == 1 and schemas[0][2] is not None:
        name, metadatas, scripts = schemas[0]
        track = service_track(name, scripts, metadatas)
    else:
        print("chibo migrate --new-revision: name one service with migrations (or 'kernel') "
              "with --service", file=sys.stderr)
        return 2
    print(f"wrote {new_revision(track, args.new_revision)}")
    return 0


def run_audit_checkpoint(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from chibo.clock import clock_from_setting
    from chibo.db import make_engine, session_factory
    from chibo.eventstore.checkpoint import make
    from chibo.eventstore.keys import SigningKeyMissing, service_signer

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    now = clock_from_setting(config.get("CLOCK")).now().isoformat(timespec="seconds")
    for service in args.service or sorted(config["DATABASES"]):
        url = settings.required_database(config, service)
        try:
            signer = service_signer({**config, "SIGNING": {
                **(config.get("SIGNING") or {}), "create_keys": False}}, service)
        except SigningKeyMissing as error:
            print(error, file=sys.stderr)
            return 2
        engine = make_engine(str(url))
        try:
            with session_factory(engine)() as session:
                checkpoint = make(session, service, signer, now)
        finally:
            engine.dispose()
        path = out / f"{service}-{checkpoint.size}.checkpoint"
        path.write_text(checkpoint.text(), encoding="utf-8")
        print(f"{service}: {checkpoint.size} events, head {checkpoint.root[:16]}… → {path}")
    return 0


def run_audit_rotate_key(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from chibo.eventstore.keys import keys_dir
    from chibo.eventstore.signing import load_or_create_signer, rotate

    folder = keys_dir(config)
    for service in args.service:
        old = load_or_create_signer(folder, service, create=False)
        new = rotate(folder, service)
        print(f"{service}: khóa mới (new key) {new.key_id}"
              + (f", khóa cũ giữ lại để kiểm tra (old key kept to verify) {old.key_id}"
                 if old else "") + f" in {folder}; write a checkpoint now: "
              "chibo audit checkpoint --out <folder>")
    return 0


def run_audit_verify(args: argparse.Namespace, config: dict[str, Any]) -> int:
    from chibo.application import app
    from chibo.db import make_engine, session_factory
    from chibo.eventstore.audit import compare_with_copy, verify_log
    from chibo.eventstore.checkpoint import BadCheckpoint, check_signature, parse, verify_against
    from chibo.eventstore.keys import keys_dir, service_keyring

    checkpoints: dict[str, list[Any]] = {}
    for name in args.checkpoint:
        try:
            checkpoint = parse(Path(name).read_text(encoding="utf-8"))
        except (OSError, BadCheckpoint) as error:
            print(f"{name}: {error}", file=sys.stderr)
            return 2
        checkpoints.setdefault(checkpoint.service, []).append((name, checkpoint))
    services = args.service or sorted(config["DATABASES"])
    problems = 0
    for service in services:
        keyring = service_keyring(config, service)
        if not keyring:
            print(f"{service}: chữ ký không được kiểm tra: không có khóa công khai trong "
                  f"(signatures not checked: no public keys in) {keys_dir(config)}")
        url = settings.required_database(config, service)
        if url is None:
            print(f"{service}: no database configured (DATABASES.{service})", file=sys.stderr)
            return 2
        engine = make_engine(url)
        try:
            with session_factory(engine)() as session:
                from chibo.eventstore.tables import events

                if not engine.dialect.has_table(session.connection(), events.name):
                    print(f"{service}: no event log in {engine.url.render_as_string()}")
                    continue
                findings = [str(f) for f in verify_log(session, keyring=keyring)]
                archived = getattr(app(), "archived_hashes", None)
                copy = archived(config, service) if archived is not None else None
                if copy is not None:
                    findings += [str(f) for f in compare_with_copy(session, copy)]
                for name, checkpoint in checkpoints.get(service, []):
                    try:
                        check_signature(checkpoint, keyring)
                    except BadCheckpoint as error:
                        findings.append(f"{name}: {error}")
                        continue
                    findings += [f"{name}: {problem}"
                                 for problem in verify_against(session, checkpoint)]
                count = session.execute(events.select().with_only_columns(
                    events.c.position).order_by(events.c.position.desc()).limit(1)).scalar()
        finally:
            engine.dispose()
        if findings:
            problems += len(findings)
            print(f"{service}: TAMPERED — {len(findings)} problem(s):")
            for finding in findings:
                print(f"  {service} {finding}")
        else:
            signed = "signatures valid" if keyring else "signatures not checked"
            held = f", {len(checkpoints[service])} checkpoint(s) held" \
                if checkpoints.get(service) else ""
            print(f"{service}: OK — {count or 0} events, hash chain intact, {signed}{held}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
