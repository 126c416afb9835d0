"""The `chibo` command: demo | simulate | import members | audit verify | rebuild | init-db."""

from __future__ import annotations

import argparse
import socket
import sys
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from chibo import settings


def main(argv: list[str] | None = None) -> int:
    # nameko still runs on eventlet, which announces its deprecation on import.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    parser = argparse.ArgumentParser(prog="chibo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run every service in one process with sample data")
    demo.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    demo.add_argument("--config", default=None, help="YAML config (default: embedded)")
    demo.add_argument("--months", type=int, default=3, help="months of sample meetings")
    demo.add_argument("--preset", default="small",
                      help="the sample province: small, district, province, or none (start "
                      "empty)")
    demo.add_argument("--seed", type=int, default=1, help="the sample province's seed")

    simulating = commands.add_parser(
        "simulate", help="mô phỏng một tỉnh qua các lệnh công khai (simulate a province "
        "through the public commands)")
    from services.simulation.run import add_arguments as add_simulate_arguments

    add_simulate_arguments(simulating)

    audit = commands.add_parser("audit", help="check the logs for tampering")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser("verify", help="verify each service's hash chain")
    verify.add_argument("--config", default=None, help="YAML config (default: distributed)")
    verify.add_argument("--service", action="append", help="only this service (repeatable)")

    importing = commands.add_parser("import", help="nhập dữ liệu (import data)")
    import_kinds = importing.add_subparsers(dest="import_command", required=True)
    members = import_kinds.add_parser(
        "members", help="nhập danh sách đảng viên từ CSV/XLSX (import a member roster)")
    from services.members.import_cli import add_arguments, run_from_args

    add_arguments(members)

    rebuilding = commands.add_parser(
        "rebuild", help="dựng lại các bảng báo cáo từ kho sự kiện (rebuild reporting's read "
        "models from its archive)")
    from services.reporting.rebuild import add_arguments as add_rebuild_arguments

    add_rebuild_arguments(rebuilding)

    init_db = commands.add_parser("init-db", help="create the databases the config names")
    init_db.add_argument("--config", default=None, help="YAML config (default: distributed)")

    args = parser.parse_args(argv)
    if args.command == "demo":
        return run_demo(args)
    if args.command == "audit":
        return run_audit_verify(args)
    if args.command == "import":
        return run_from_args(args)
    if args.command == "rebuild":
        from services.reporting.rebuild import run_from_args as rebuild_from_args

        return rebuild_from_args(args, _config(args.config, "distributed"))
    if args.command == "simulate":
        import eventlet

        from services.simulation.run import run_from_args as simulate_from_args

        eventlet.monkey_patch()
        return simulate_from_args(args, _config(args.config, "distributed"))
    if args.command == "init-db":
        settings.ensure_databases(_config(args.config, "distributed"))
        print("databases ready")
        return 0
    return 2


def _config(path: str | None, mode: str, **overrides: Any) -> dict[str, Any]:
    from chibo.runtime import app

    return settings.load(path or Path(app().CONFIG_DIR) / f"{mode}.yaml", **overrides)


def run_demo(args: argparse.Namespace) -> int:
    import eventlet

    eventlet.monkey_patch()
    from chibo.runtime import app, start_embedded

    overrides = {"WEB_SERVER_ADDRESS": f"127.0.0.1:{args.port}"} if args.port else {}
    config = _config(args.config, "embedded", **overrides)
    application = app()
    address = config["WEB_SERVER_ADDRESS"]
    if not _port_free(address):
        port = int(address.rsplit(":", 1)[1])
        print(f"chibo: cổng {address} đang bận (port {address} is already in use). "
              f"Dừng chương trình đang dùng nó, hoặc chạy (stop whatever uses it, or run): "
              f"chibo demo --port {port + 1}", file=sys.stderr)
        return 1
    print("chibo: khởi động các dịch vụ (starting services)…", flush=True)
    runner = start_embedded(application.SERVICES, config)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    try:
        if args.preset != "none":
            _load_sample(args, config)
        month = (date.today().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        print(f"""
chibo đang chạy (running). Xem tại (look at):
  {base}/reporting/                              bảng điều khiển (the dashboard)
  {base}/reporting/cell-months?month={month}   sinh hoạt theo chi bộ / tháng (JSON)
  {base}/healthz                                 trạng thái (health)
  {base}/metrics                                 Prometheus metrics
  {base}/members/tree                            cây tổ chức (the organisation tree)
  {base}/members/openapi.json                    mô tả API (the members API, OpenAPI)
  POST {base}/members/commands/<tên lệnh>, {base}/meetings/commands/<tên lệnh>,
       {base}/supervision/visits                 lệnh (commands, JSON)
Dữ liệu (data): {', '.join(config['DATABASES'].values())}
Nhấn Ctrl+C để dừng (press Ctrl+C to stop).""", flush=True)
        runner.wait()
    except KeyboardInterrupt:
        print("\nchibo: đang dừng (stopping)…", flush=True)
    finally:
        runner.stop()
    return 0


def _load_sample(args: argparse.Namespace, config: dict[str, Any]) -> None:
    """Simulate the preset province through the public commands, once: on empty logs."""
    from chibo.runtime import rpc_client
    from services.simulation.driver import RpcSender
    from services.simulation.run import describe, simulate

    with rpc_client(config, timeout=300) as proxy:
        if proxy.members.read_events(after=0, limit=1):
            return
        print(f"chibo: nạp tỉnh mẫu (loading the {args.preset} sample province)…", flush=True)
        outcome = simulate(RpcSender(proxy), args.preset, args.months, args.seed, date.today())
    print(f"  {describe(outcome)}", flush=True)


def _port_free(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
        except OSError:
            return False
    return True


def run_audit_verify(args: argparse.Namespace) -> int:
    from chibo.db import make_engine, session_factory
    from chibo.eventstore.audit import compare_with_copy, verify_log
    from chibo.runtime import app

    config = _config(args.config, "distributed")
    services = args.service or sorted(config["DATABASES"])
    problems = 0
    for service in services:
        url = config["DATABASES"].get(service)
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
                findings = list(verify_log(session))
                copy = getattr(app(), "archived_hashes", None)
                if copy is not None and service != "reporting":
                    findings += compare_with_copy(session, copy(config, service))
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
            print(f"{service}: OK — {count or 0} events, hash chain intact")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
