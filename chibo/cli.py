"""The `chibo` command: demo | simulate | import members | audit verify | rebuild | init-db."""

from __future__ import annotations

import argparse
import socket
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chibo import settings

if TYPE_CHECKING:
    from services.simulation.presets import Preset


def main(argv: list[str] | None = None) -> int:
    # nameko still runs on eventlet, which announces its deprecation on import.
    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    parser = argparse.ArgumentParser(prog="chibo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run every service in one process with sample data")
    demo.add_argument("--port", type=int, default=None, help="HTTP port (default 8000)")
    demo.add_argument("--config", default=None, help="YAML config (default: embedded)")
    demo.add_argument("--months", type=int, default=3, help="months of sample meetings")
    from services.simulation.presets import PRESETS

    demo.add_argument("--preset", default="small", choices=[*sorted(PRESETS), "none"],
                      help=f"the sample province: {', '.join(sorted(PRESETS))}, or none "
                      "(start empty)")
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
    from chibo.clock import ClockSettingError, clock_from_setting
    from chibo.db import SchemaOutdated
    from chibo.runtime import app, start_embedded

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
    try:
        print(_demo_banner(base, config, today), flush=True)
        if args.preset != "none":
            load_sample(config, args.preset, args.months, args.seed, today, base)
        else:
            print(f"\nchibo: không nạp dữ liệu mẫu (no sample data). Nạp một tỉnh mô phỏng "
                  f"(simulate one): chibo simulate --url {base} --preset small --months 3; "
                  "hoặc nhập danh sách đảng viên (or import a roster): chibo import members "
                  "--help", flush=True)
        runner.wait()
    except KeyboardInterrupt:
        print("\nchibo: đang dừng (stopping)…", flush=True)
    finally:
        runner.stop()
    return 0


def _demo_banner(base: str, config: dict[str, Any], today: date) -> str:
    month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return f"""
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
Nhấn Ctrl+C để dừng (press Ctrl+C to stop)."""


#: How long the demo waits for reporting to apply the sample before it stops saying so.
CATCH_UP_SECONDS = 600.0


def load_sample(config: dict[str, Any], preset: str | Preset, months: int, seed: int, today: date,
                base: str, show_progress: bool = True) -> bool:
    """Simulate the preset province through the public commands, once (on empty logs),
    then wait until the dashboard shows all of it and say so. True once it does.

    The services already serve while this runs, so the user is told first that the
    dashboard fills in as the sample loads, and told again when it is complete."""
    from chibo.runtime import rpc_client
    from services.simulation.driver import CommandRefused, RpcSender
    from services.simulation.run import describe, reporting_caught_up, simulate

    dashboard = f"{base}/reporting/"
    with rpc_client(config, timeout=300) as proxy:
        if proxy.members.read_events(after=0, limit=1):
            print("chibo: dùng dữ liệu của lần chạy trước (using the data of an earlier "
                  "run; delete the data files above to load the sample afresh).", flush=True)
        else:
            name = preset if isinstance(preset, str) else preset.name
            print(f"\nchibo: đang nạp dữ liệu mẫu — tỉnh {name}, {months} tháng (loading the "
                  f"{name} sample province, {months} months). Bảng điều khiển tại {dashboard} "
                  "sẽ đầy dần trong lúc nạp (the dashboard fills in while it loads)…",
                  flush=True)
            try:
                outcome = simulate(RpcSender(proxy), preset, months, seed, today,
                                   show_progress=show_progress)
            except CommandRefused as exc:
                print(f"chibo: nạp dữ liệu mẫu dừng lại (loading the sample stopped): {exc}",
                      file=sys.stderr, flush=True)
                return False
            print(f"  {describe(outcome)}", flush=True)
            print("chibo: bảng điều khiển đang cập nhật nốt (the dashboard is catching up)…",
                  flush=True)
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while not reporting_caught_up(proxy):
            if time.monotonic() > deadline:
                print(f"chibo: bảng điều khiển vẫn đang cập nhật sau {CATCH_UP_SECONDS:.0f} s "
                      f"(the dashboard is still catching up); {dashboard} fills in as it does.",
                      flush=True)
                return False
            time.sleep(0.5)  # green under the demo's monkey-patching
    print(f"\nDữ liệu mẫu đã sẵn sàng — mở {dashboard} (the sample data is ready — open "
          f"{dashboard})", flush=True)
    return True


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
