"""What `chibo demo` adds to the services it runs: a simulated sample province, and the
addresses its banner lists."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clients.simulator.presets import Preset

#: How long the demo waits for reporting to apply the sample before it stops saying so.
CATCH_UP_SECONDS = 600.0


class SampleProvince:
    """`chibo demo --preset P --months N --seed S`: simulate the preset province (or none)."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from clients.simulator.presets import PRESETS

        parser.add_argument("--months", type=int, default=3, help="months of sample meetings")
        parser.add_argument("--preset", default="small", choices=[*sorted(PRESETS), "none"],
                            help=f"the sample province: {', '.join(sorted(PRESETS))}, or none "
                            "(start empty)")
        parser.add_argument("--seed", type=int, default=1, help="the sample province's seed")

    def where_to_look(self, base: str, today: date) -> str:
        month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        return f"""\
  {base}/reporting/                              bảng điều khiển (the dashboard)
  {base}/reporting/cell-months?month={month}   sinh hoạt theo chi bộ / tháng (JSON)
  {base}/healthz                                 trạng thái (health)
  {base}/metrics                                 Prometheus metrics
  {base}/members/tree                            cây tổ chức (the organisation tree)
  {base}/members/openapi.json                    mô tả API (the members API, OpenAPI)
  POST {base}/members/commands/<tên lệnh>, {base}/meetings/commands/<tên lệnh>,
       {base}/supervision/visits                 lệnh (commands, JSON)"""

    def load(self, args: argparse.Namespace, config: dict[str, Any], today: date,
             base: str) -> None:
        if args.preset != "none":
            load_sample(config, args.preset, args.months, args.seed, today, base)
        else:
            print(f"\nchibo: không nạp dữ liệu mẫu (no sample data). Nạp một tỉnh mô phỏng "
                  f"(simulate one): chibo simulate --url {base} --preset small --months 3; "
                  "hoặc nhập danh sách đảng viên (or import a roster): chibo import members "
                  "--help", flush=True)


def load_sample(config: dict[str, Any], preset: str | Preset, months: int, seed: int, today: date,
                base: str, show_progress: bool = True) -> bool:
    """Simulate the preset province through the public commands, once (on empty logs),
    then wait until the dashboard shows all of it and say so. True once it does.

    The services already serve while this runs, so the user is told first that the
    dashboard fills in as the sample loads, and told again when it is complete."""
    from chibo.nameko.runtime import rpc_client
    from services.shared.operator import operator_token
    from clients.simulator.driver import CommandRefused, RpcSender
    from clients.simulator.run import describe, reporting_caught_up, simulate

    dashboard = f"{base}/reporting/"
    with rpc_client(config, timeout=300, token=operator_token(config)) as proxy:
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
