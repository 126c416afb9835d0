"""The printable minutes in a real browser (Debian's chromium driven by Playwright): a
cell's secretary logs in, attaches a document through the meeting page's form, opens
"In biên bản" and the page is saved as an A4 PDF and a screenshot under
docs/screenshots/minutes/. The PDF's text must hold the title and the cell's name.

Every service runs embedded (`chibo demo --preset none`, in its own process) with one
small tree and one recorded meeting, made through the services' own HTTP commands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
import requests

from tests.browser.test_dashboard import PASSWORD, _need_browser, open_account
from tests.support import AUTH_SECRET, NOW, bearer, free_port, token, wait_until

CELL = "Chi bộ bản Khe Choăng"
SECRETARY = ({"account_id": "tk-bi-thu-a", "login": "bithu.khechoang",
              "display_name": "Lô Văn Thịnh (bí thư)"}, "secretary", "A")
UNITS = (
    {"unit_id": "P", "name": "Đảng bộ tỉnh Nghệ An", "kind": "province"},
    {"unit_id": "X", "name": "Đảng ủy xã Sơn Thủy", "kind": "committee", "parent_id": "P"},
    {"unit_id": "A", "name": CELL, "kind": "cell", "parent_id": "X"},
)
MEMBERS = ("Lô Văn Thịnh", "Vi Thị Hoa", "Lương Văn Hải", "Ngân Thị Mai", "Moong Văn Sơn")
HELD_ON = date(NOW.year, NOW.month, 10).isoformat()


def command(base: str, service: str, name: str, body: dict) -> dict:
    sent = requests.post(f"{base}/{service}/commands/{name}", json=body, headers=bearer(),
                         timeout=30)
    assert sent.status_code == 201, sent.text
    return sent.json()


def a_recorded_meeting(base: str) -> None:
    for unit in UNITS:
        command(base, "members", "establish_unit", {**unit, "effective_date": "2022-01-01"})
    ids = [f"A-{n}" for n in range(1, len(MEMBERS) + 1)]
    for member_id, name in zip(ids, MEMBERS, strict=True):
        command(base, "members", "admit_member", {"member_id": member_id, "full_name": name,
                                                  "cell_id": "A", "admitted_on": "2023-01-01"})
        command(base, "members", "confirm_member", {"member_id": member_id,
                                                    "effective_date": "2024-01-01"})
    command(base, "meetings", "record_meeting_held", {
        "meeting_id": "A-06", "cell_id": "A", "held_on": HELD_ON,
        "place": "Nhà văn hóa bản Khe Choăng", "started_at": "19:30", "ended_at": "21:15",
        "chair_id": "A-1", "minutes_taker_id": "A-2", "dues_collected": True,
        "agenda": ["Kiểm điểm việc thực hiện nghị quyết tháng trước",
                   "Triển khai nhiệm vụ tháng 6: làm đường liên bản"],
        "speakers": ["A-3", "A-4"],
        "minutes": "Đồng chí Bí thư báo cáo kết quả tháng 5.\nChi bộ thảo luận, góp ý.",
        "conclusion": "Chi bộ thống nhất huy động ngày công làm đường trước mùa mưa.",
        "attendance": [*({"member_id": m, "status": "present"} for m in ids[:4]),
                       {"member_id": ids[4], "status": "absent_excused", "reason": "Ốm"}]})
    command(base, "meetings", "adopt_resolution", {
        "meeting_id": "A-06", "resolution_id": "A-06-r1",
        "title": "Nghị quyết về làm đường liên bản",
        "vote": {"in_favour": 4, "against": 0, "abstaining": 0},
        "tasks": [{"task_id": "A-06-t1", "title": "Vận động bà con góp ngày công",
                   "assignee_id": "A-3", "due_on": f"{NOW.year}-07-15"}]})


@pytest.fixture(scope="module")
def minutes_system(tmp_path_factory):
    _need_browser()
    folder = tmp_path_factory.mktemp("minutes")
    port = free_port()
    env = {**os.environ, "CHIBO_WEB_ADDRESS": f"127.0.0.1:{port}", "CHIBO_CLOCK": NOW.isoformat(),
           "CHIBO_AUTH_SECRET": AUTH_SECRET, "CHIBO_MATERIALS_DIR": str(folder / "materials"),
           "CHIBO_SIGNING_KEYS_DIR": str(folder / "secrets"),
           **{f"CHIBO_{name.upper()}_DATABASE_URL": f"sqlite:///{folder}/{name}.db"
              for name in ("members", "meetings", "supervision", "reporting")}}
    log = (folder / "demo.log").open("w")
    demo = subprocess.Popen([sys.executable, "-m", "chibo.cli", "demo", "--preset", "none"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def serving() -> bool:
            if demo.poll() is not None:
                raise RuntimeError((folder / "demo.log").read_text()[-3000:])
            try:
                return requests.get(f"{base}/healthz", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        wait_until(serving, timeout=120, message="chibo demo to serve")
        a_recorded_meeting(base)
        wait_until(lambda: requests.get(f"{base}/reporting/api/meetings/A-06", headers=bearer(),
                                        timeout=10).json().get("resolutions"),
                   timeout=60, message="reporting to show the meeting and its resolution")
        open_account(base, *SECRETARY)
        yield base
    finally:
        demo.terminate()
        demo.wait(timeout=30)
        log.close()


def test_the_minutes_print_on_a4(minutes_system):
    env = {**os.environ, "CHIBO_BROWSER_LOGIN": SECRETARY[0]["login"],
           "CHIBO_BROWSER_PASSWORD": PASSWORD, "CHIBO_BROWSER_BEARER": token(),
           "CHIBO_MINUTES_CELL": CELL}
    done = subprocess.run([sys.executable, "-m", "tests.browser.minutes_steps", minutes_system,
                           "A-06"], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
