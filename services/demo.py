"""What `chibo demo` adds to the services it runs: a simulated sample province, the
addresses its banner lists, and demo accounts to sign in with (an administrator on
the first start, one account per role once the sample is loaded), written to
`demo-accounts.txt` beside the data (0600)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
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
  {base}/login                                   đăng nhập (sign in; every page below needs it)
  {base}/reporting/                              bảng điều khiển (the dashboard)
  {base}/reporting/cell-months?month={month}   sinh hoạt theo chi bộ / tháng (JSON)
  {base}/healthz                                 trạng thái (health)
  {base}/metrics                                 Prometheus metrics (an admin's bearer token)
  {base}/members/tree                            cây tổ chức (the organisation tree)
  {base}/members/openapi.json                    mô tả API (the members API, OpenAPI)
  POST {base}/members/auth/token                 mã truy cập cho API (a bearer token for the API)
  POST {base}/members/commands/<tên lệnh>, {base}/meetings/commands/<tên lệnh>,
       {base}/supervision/visits                 lệnh (commands, JSON, with the token)"""

    def load(self, args: argparse.Namespace, config: dict[str, Any], today: date,
             base: str) -> None:
        first_start = open_admin(config, base)
        if args.preset != "none":
            if load_sample(config, args.preset, args.months, args.seed, today, base) and \
                    first_start:
                open_sample_accounts(config, base, today)
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
    from clients.simulator.driver import CommandRefused, RpcSender
    from clients.simulator.run import describe, reporting_caught_up, simulate
    from services.shared.operator import operator_token

    dashboard = f"{base}/reporting/"
    with rpc_client(config, timeout=300, token=operator_token(config)) as proxy:
        if proxy.members.tree()["units"]:
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


# -- demo accounts ------------------------------------------------------------------

ACCOUNTS_FILE = "demo-accounts.txt"
ADMIN_LOGIN = "admin"


def accounts_file(config: dict[str, Any]) -> Path:
    """Beside the members database (var/chibo/ in the demo)."""
    url = str((config.get("DATABASES") or {}).get("members") or "")
    if url.startswith("sqlite:///"):
        return Path(url[len("sqlite:///"):]).parent / ACCOUNTS_FILE
    return Path("var/chibo") / ACCOUNTS_FILE


def _write(path: Path, text: str, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a"
                                                           else os.O_TRUNC), 0o600)
    os.chmod(path, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _operator(config: dict[str, Any]) -> Any:
    from chibo.nameko.runtime import rpc_client
    from services.shared.operator import operator_token

    return rpc_client(config, timeout=60, token=operator_token(config))


def open_admin(config: dict[str, Any], base: str) -> bool:
    """On a first start (no `admin` account), open it with a random password and say
    how to sign in; later, say where the file is. True on the first start."""
    from services.members.accounts import random_password

    path = accounts_file(config)
    with _operator(config) as proxy:
        try:
            proxy.members.account(ADMIN_LOGIN)
        except Exception as error:  # nameko's RemoteError, named by the remote type
            if getattr(error, "exc_type", None) != "NotFound":
                raise
        else:
            print(f"\nchibo: tài khoản dùng thử ghi trong {path} (the demo accounts are in "
                  f"{path}); đăng nhập tại (sign in at) {base}/login", flush=True)
            return False
        password = random_password()
        proxy.members.open_account({"account_id": ADMIN_LOGIN, "login": ADMIN_LOGIN,
                                    "display_name": "Quản trị viên (demo administrator)",
                                    "password": password})
        proxy.members.grant_role({"account_id": ADMIN_LOGIN, "role": "admin",
                                  "unit_id": None, "valid_from": "2000-01-01"})
    text = (f"# chibo demo — CHỈ ĐỂ DÙNG THỬ (demo only: never use these on real data)\n"
            f"# Đăng nhập tại (sign in at) {base}/login\n"
            f"{ADMIN_LOGIN}\t{password}\tQuản trị viên cấp tỉnh (provincial administrator)\n")
    _write(path, text, "w")
    print(f"\nchibo: đăng nhập tại {base}/login (sign in at) — tên đăng nhập (login) "
          f"{ADMIN_LOGIN}, mật khẩu (password) {password}\n       (ghi trong {path}; "
          f"written to {path}, 0600)", flush=True)
    return True


def _units(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("children") or ():
        yield from _units(child)


def open_sample_accounts(config: dict[str, Any], base: str, today: date) -> None:
    """One account per role on the sample province (demo only), same password each."""
    from services.members.accounts import random_password

    password = random_password()
    path = accounts_file(config)
    with _operator(config) as proxy:
        tree = proxy.members.tree()
        units = [u for root in tree["roots"] for u in _units(root)]
        root = tree["roots"][0]["unit_id"] if tree["roots"] else None
        below_root = [u for u in units if u["parent_id"] == root and u["kind"] != "cell"]
        district = below_root[0]["unit_id"] if below_root else root
        cells = [u["unit_id"] for u in units if u["kind"] == "cell"]
        secretary_cell, secretary_member = None, None
        for cell in cells[:50]:
            roles = proxy.members.cell_roles(cell)["roles"]
            held = [r for r in roles if r["role"] == "secretary"]
            if held:
                secretary_cell, secretary_member = cell, held[0]["member_id"]
                break
        plan = [("canbo", "Cán bộ Ban Tổ chức (demo staff)", "staff", district, None),
                ("giamsat", "Cấp ủy viên theo dõi (demo supervisor)", "supervisor", district,
                 None),
                ("kiemtra", "Ủy ban Kiểm tra (demo inspector)", "inspector", None, None),
                ("xem", "Người xem (demo viewer)", "viewer", None, None)]
        if secretary_member:
            plan.insert(2, ("bithu", "Bí thư chi bộ (demo cell secretary)", None,
                            secretary_cell, secretary_member))
        lines = []
        for login, name, role, unit_id, member_id in plan:
            proxy.members.open_account({"account_id": login, "login": login,
                                        "display_name": name, "member_id": member_id,
                                        "password": password})
            if role:
                proxy.members.grant_role({"account_id": login, "role": role,
                                          "unit_id": unit_id,
                                          "valid_from": (today - timedelta(days=3650))
                                          .isoformat()})
            where = unit_id or "toàn tỉnh (whole province)"
            what = role or "secretary (từ chức danh chi bộ, from the cell's roles)"
            lines.append(f"{login}\t{password}\t{what} — {where}\n")
    _write(path, "# Tài khoản mẫu theo vai trò, chỉ để dùng thử (sample accounts per role, "
                 "demo only)\n" + "".join(lines), "a")
    print("chibo: tài khoản mẫu (sample accounts, demo only) — mật khẩu chung (password) "
          f"{password}:", flush=True)
    for line in lines:
        print("  " + line.split("\t", 2)[0] + "  " + line.split("\t", 2)[2].rstrip(),
              flush=True)
    print(f"  (ghi trong {path}; written to {path})", flush=True)
