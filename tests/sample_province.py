"""A tiny hand-made province for tests that assert exact figures: two communes, twelve
cells, fixed ids (`xa-1-cb-1`, `dv-00001`) and a known pattern of missed months, visits
and undone tasks. Loaded through the public commands like any client. (The demo and
the benchmarks use the seeded simulator in clients/simulator instead.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

_SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hà", "Lò",
             "Vi", "Lương"]
_MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Quang", "Ngọc", "Hữu"]
_GIVEN = ["An", "Bình", "Cường", "Dung", "Hạnh", "Hùng", "Lan", "Long", "Mai", "Nam", "Phúc",
          "Quyết", "Sơn", "Thảo", "Tuấn", "Xuân", "Yến"]
_VILLAGES = ["Bản Máy", "Bản Ngàm", "Bản Chiềng", "Bản Na Hồ", "Khu phố 1", "Khu phố 2",
             "Bản Xa Lý", "Bản Cha Khót", "Bản Mùa Xuân", "Bản Pù Bẩn", "Trường Tiểu học",
             "Trạm Y tế"]


def member_name(n: int) -> str:
    return (f"{_SURNAMES[n % len(_SURNAMES)]} {_MIDDLE[(n // 3) % len(_MIDDLE)]} "
            f"{_GIVEN[(n // 7) % len(_GIVEN)]}")


def load_sample_province(call: Callable[[str, str, dict[str, Any]], Any], today: date,
                         months: int = 3, progress: Callable[[str], None] = print) -> int:
    """Create a small province through the public commands; returns the cell count.

    `call(service, method, payload)` sends one command (RPC or HTTP).
    """
    start = date(today.year - 1, 1, 1)
    call("members", "establish_unit", {"unit_id": "tinh", "name": "Tỉnh ủy Mẫu",
                                       "kind": "province", "effective_date": start})
    cells, member_no = [], 0
    for c in range(2):
        committee = f"xa-{c + 1}"
        call("members", "establish_unit", {
            "unit_id": committee, "name": f"Đảng ủy xã Mẫu {c + 1}", "kind": "committee",
            "parent_id": "tinh", "effective_date": start})
        for v in range(len(_VILLAGES) // 2):
            cell_id = f"{committee}-cb-{v + 1}"
            village = _VILLAGES[(c * 6 + v) % len(_VILLAGES)]
            call("members", "establish_unit", {
                "unit_id": cell_id, "name": f"Chi bộ {village}", "kind": "cell",
                "parent_id": committee, "effective_date": start})
            roster, full = [], set()
            for _ in range(5 + (v * 3) % 7):
                member_no += 1
                member_id = f"dv-{member_no:05d}"
                call("members", "admit_member", {
                    "member_id": member_id, "full_name": member_name(member_no),
                    "cell_id": cell_id, "admitted_on": start})
                if member_no % 9:  # most are full members by now; a few still on probation
                    full.add(member_id)
                    call("members", "confirm_member", {
                        "member_id": member_id,
                        "effective_date": start.replace(year=start.year + 1)})
                roster.append(member_id)
            cells.append((cell_id, roster, full))
    progress(f"  {len(cells)} chi bộ, {member_no} đảng viên")

    held = 0
    for back in range(months, 0, -1):
        month_start = _months_before(today, back)
        for index, (cell_id, roster, full) in enumerate(cells):
            if (index + back) % 7 == 0:
                continue  # a few cells miss a month, as in life
            held_on = month_start.replace(day=min(5 + index, 28))
            attendance = [{"member_id": m, "status": "present"} for m in roster]
            if len(roster) > 6:
                attendance[-1] = {"member_id": roster[-1], "status": "absent_excused",
                                  "reason": "Đi làm ăn xa"}
            meeting_id = f"{cell_id}-{held_on:%Y%m}"
            call("meetings", "record_meeting_held", {
                "meeting_id": meeting_id, "cell_id": cell_id, "kind": "regular",
                "held_on": held_on, "attendance": attendance, "started_at": "19:30",
                "ended_at": "21:00" if index % 5 else "20:30", "chair_id": roster[0],
                "minutes_taker_id": roster[1], "dues_collected": True,
                "scores": {"preparation": 12 + index % 4, "attendance": 15 + index % 6,
                           "conduct": 33 + (index * 7) % 13, "closing": 15 + index % 6}})
            voters = [m for m in roster if m in full and not (len(roster) > 6
                                                              and m == roster[-1])]
            call("meetings", "adopt_resolution", {
                "meeting_id": meeting_id, "title": f"Nghị quyết tháng {held_on:%m/%Y}",
                "vote": {"in_favour": len(voters), "against": 0, "abstaining": 0},
                "tasks": [{"task_id": f"{meeting_id}-nv1",
                           "title": "Vận động đảng viên đóng đảng phí đúng hạn",
                           "assignee_id": roster[index % len(roster)],
                           "due_on": held_on + timedelta(days=25)}]})
            if (index + back) % 4:  # most tasks get done; some are left to go overdue
                call("meetings", "complete_task", {
                    "task_id": f"{meeting_id}-nv1", "result": "Đã hoàn thành",
                    "completed_on": held_on + timedelta(days=20)})
            held += 1
            if index % 3 == 0:
                call("supervision", "log_visit", {
                    "visitor": "Đồng chí Ủy viên Ban Thường vụ", "cell_id": cell_id,
                    "meeting_id": meeting_id, "visited_on": held_on,
                    "comments": "Sinh hoạt đúng quy định."})
    progress(f"  {held} buổi sinh hoạt thường kỳ trong {months} tháng")
    return len(cells)


def _months_before(today: date, count: int) -> date:
    year, month = today.year, today.month - count
    while month <= 0:
        year, month = year - 1, month + 12
    return date(year, month, 1)


@contextmanager
def sample_province_served(folder: Path, close_quarter: bool = True) -> Iterator[str]:
    """The embedded services with the sample province loaded on 10/06/2026 (April and
    May met); with `close_quarter`, moved on to 08/07/2026 and April, May and the second
    quarter closed, so the cells that missed a month, were not visited or left a task
    undone are escalated. Yields the web server's base URL once reporting has every
    event."""
    from chibo.clock import FixedClock
    from chibo.nameko.runtime import rpc_caller, rpc_client
    from tests.support import (
        ADMIN,
        embedded_config,
        reporting_caught_up,
        running,
        token,
        wait_until,
    )

    clock = FixedClock(datetime(2026, 6, 10, 8, 0))
    config = embedded_config(folder, CLOCK=clock)
    with running(config), rpc_client(config, timeout=180, token=token(ADMIN)) as proxy:
        load_sample_province(rpc_caller(proxy), date(2026, 6, 10), months=2,
                             progress=lambda _: None)
        if close_quarter:
            clock.set(datetime(2026, 7, 8, 8, 0))
            assert proxy.supervision.close_periods(since="2026-04-01") > 0
        wait_until(lambda: reporting_caught_up(proxy), timeout=60,
                   message="reporting to read every source's log")
        yield f"http://{config['WEB_SERVER_ADDRESS']}"
