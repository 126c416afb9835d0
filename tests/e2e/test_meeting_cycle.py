"""Members imported from a file, a meeting held for one of their cells with a
resolution and tasks, a task completed: reporting's read model shows the meeting,
its attendance rate and the task states. In both run modes."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    TODAY,
    bearer,
    distributed,
    embedded_config,
    running,
    wait_until,
)

CHIBO = str(Path(sys.executable).parent / "chibo")
HELD_ON = TODAY - timedelta(days=2)
ADMITTED = (TODAY - timedelta(days=800)).strftime("%d/%m/%Y")
FULL = (TODAY - timedelta(days=400)).strftime("%d/%m/%Y")
ROSTER = "\n".join([
    "Mã đảng viên,Họ và tên,Ngày sinh,Giới tính,Mã chi bộ,Ngày kết nạp,Ngày chính thức,"
    "Trạng thái",
    *(f"DV{n},{name},01/01/1970,Nam,CB-MAY,{ADMITTED},{FULL},Chính thức"
      for n, name in enumerate(["Hà Văn Thành", "Lò Văn Pọm", "Vi Văn Sơn", "Lương Văn Quyết",
                                "Cầm Bá Tuấn"])),
    f"DV9,Lò Thị Xuân,01/01/1990,Nữ,CB-MAY,{ADMITTED},,Dự bị",
]) + "\n"


def command(url: str, service: str, name: str, body: dict) -> dict:
    response = requests.post(f"{url}/{service}/commands/{name}", json=body, headers=bearer(ADMIN),
                             timeout=20)
    assert response.status_code == 201, response.text
    return response.json()


def exercise(urls: dict[str, str], tmp_path: Path) -> None:
    members, meetings, reporting = urls["members"], urls["meetings"], urls["reporting"]
    for body in ({"unit_id": "T", "name": "Tỉnh ủy Thanh Hóa", "kind": "province"},
                 {"unit_id": "X", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee",
                  "parent_id": "T"},
                 {"unit_id": "CB-MAY", "name": "Chi bộ Bản Máy", "kind": "cell",
                  "parent_id": "X"}):
        command(members, "members", "establish_unit", {**body, "effective_date": "2020-01-01"})
    roster = tmp_path / "danh-sach.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    imported = subprocess.run([CHIBO, "import", "members", str(roster), "--url", members,
                               "--no-progress"], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONWARNINGS": "ignore",
                                   "CHIBO_CLOCK": NOW.isoformat(),
                                   "CHIBO_AUTH_SECRET": AUTH_SECRET})
    assert imported.returncode == 0, imported.stdout + imported.stderr

    attendance = [{"member_id": f"DV{n}", "status": "present"} for n in range(4)]
    attendance += [{"member_id": "DV4", "status": "absent_unexcused"},
                   {"member_id": "DV9", "status": "present"}]
    command(meetings, "meetings", "record_meeting_held", {
        "meeting_id": "M1", "cell_id": "CB-MAY", "kind": "regular",
        "held_on": HELD_ON.isoformat(), "started_at": "19:30", "ended_at": "21:15",
        "chair_id": "DV0", "minutes_taker_id": "DV9", "dues_collected": True,
        "agenda": ["Kiểm điểm nghị quyết tháng trước", "Nhiệm vụ tháng tới"],
        "speakers": ["DV0", "DV1", "DV9"], "minutes": "Biên bản …",
        "conclusion": "Thống nhất", "attendance": attendance,
        "scores": {"preparation": 14, "attendance": 16, "conduct": 40, "closing": 18}})
    adopted = command(meetings, "meetings", "adopt_resolution", {
        "meeting_id": "M1", "resolution_id": "NQ1", "title": "Nghị quyết tháng",
        "vote": {"in_favour": 4, "against": 0, "abstaining": 0},
        "tasks": [{"task_id": "T1", "title": "Vận động đóng đảng phí", "assignee_id": "DV1",
                   "due_on": (HELD_ON + timedelta(days=20)).isoformat()},
                  {"task_id": "T2", "title": "Sửa đường liên bản", "assignee_id": None,
                   "due_on": (HELD_ON + timedelta(days=40)).isoformat()}]})
    assert adopted["resolution_id"] == "NQ1"
    command(meetings, "meetings", "complete_task", {"task_id": "T1",
                                                    "result": "100% đảng viên đã đóng"})

    def reported() -> tuple | None:
        months = requests.get(f"{reporting}/reporting/cell-months",
                              params={"month": HELD_ON.strftime("%Y-%m")},
                              headers=bearer(ADMIN), timeout=10).json()
        row = next((c for c in months["cells"] if c["cell_id"] == "CB-MAY"), None)
        tasks = requests.get(f"{reporting}/reporting/cells/CB-MAY/tasks",
                             headers=bearer(ADMIN), timeout=10).json()
        states = {t["task_id"]: t["state"] for t in tasks["tasks"]}
        return (row, states) if row and row["regular_held"] and states.get("T1") == "completed" \
            else None

    row, states = wait_until(reported, timeout=60, message="reporting to show the meeting")
    assert (row["meetings"], row["attendance_rate"], row["quality_level"]) == (1, round(5 / 6, 4),
                                                                               "fair")
    assert states == {"T1": "completed", "T2": "assigned"}


def test_embedded_mode(tmp_path):
    config = embedded_config(tmp_path)
    base = f"http://{config['WEB_SERVER_ADDRESS']}"
    with running(config):
        exercise({name: base for name in ("members", "meetings", "reporting")}, tmp_path)


@pytest.mark.services
def test_distributed_mode(tmp_path, pg_database_factory, amqp_uri):
    with distributed(pg_database_factory, amqp_uri, tmp_path) as urls:
        exercise(urls, tmp_path)
