"""The data-entry forms in a real browser (Debian's chromium driven by Playwright, never a
downloaded browser): a cell's secretary records a month's meeting for a 13-member cell on
a phone-sized screen and adopts a resolution with two tasks; a form sent twice records
once; a draft kept while offline is sent once the browser is back online; a wrong date is
told in Vietnamese beside its field; a supervisor logs a visit and their coverage moves;
staff see who acknowledged an escalation. Screenshots of each form at 390 and 1280 px
are saved under docs/screenshots/forms/.

Every service runs embedded (`chibo demo --preset none`, in its own process) with one
small tree made through the services' own HTTP commands. It is started twice on the same
files: once on 17/06/2026 to build the tree, then on 08/07/2026, so that supervision's
start-up close judges May and June and escalates the cell that never met.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime

import pytest
import requests

from tests.browser.test_dashboard import PASSWORD, _need_browser, open_account
from tests.support import AUTH_SECRET, bearer, free_port, token, wait_until

#: The day the forms are filled in (the second start's clock).
TODAY = datetime(2026, 7, 8, 8, 0)
UNITS = (
    {"unit_id": "P", "name": "Đảng bộ tỉnh Thanh Hóa", "kind": "province"},
    {"unit_id": "X", "name": "Đảng ủy xã Quang Trung", "kind": "committee", "parent_id": "P"},
    {"unit_id": "C1", "name": "Chi bộ thôn Đông", "kind": "cell", "parent_id": "X"},
    {"unit_id": "C2", "name": "Chi bộ thôn Tây", "kind": "cell", "parent_id": "X"},
)
NAMES = ("Lê Văn An", "Trần Thị Bình", "Nguyễn Văn Cường", "Phạm Thị Dung", "Hoàng Văn Đức",
         "Vũ Thị Hà", "Đặng Văn Hùng", "Bùi Thị Lan", "Đỗ Văn Minh", "Hồ Thị Nga",
         "Ngô Văn Phúc", "Dương Thị Quyên", "Lý Văn Sơn")
EXEMPT_NAME = "Mai Văn Thọ"
SECRETARY = ({"account_id": "tk-bithu-c1", "login": "bithu.thondong",
              "display_name": "Lê Văn An (bí thư)"}, "secretary", "C1")
SUPERVISOR = ({"account_id": "tk-giamsat-x", "login": "giamsat.quangtrung",
               "display_name": "Nguyễn Thị Giám Sát"}, "supervisor", "X")
DEPUTY = ({"account_id": "tk-phobithu-c1", "login": "phobithu.thondong",
           "display_name": "Trần Thị Bình (phó bí thư)"}, "secretary", "C1")
#: A cell committee member who records too. The login's rate limit counts on the fixed
#: clock (ten sign-ins a "minute" for the whole run): the later steps sign in as these.
CLERK = ({"account_id": "tk-chiuy-c1", "login": "chiuy.thondong",
          "display_name": "Nguyễn Văn Cường (chi ủy viên)"}, "secretary", "C1")
STAFF = ({"account_id": "tk-canbo-x", "login": "canbo.quangtrung",
          "display_name": "Cán bộ xã Quang Trung"}, "staff", "X")


def command(base: str, service: str, name: str, body: dict) -> dict:
    sent = requests.post(f"{base}/{service}/commands/{name}", json=body, headers=bearer(),
                         timeout=30)
    assert sent.status_code == 201, sent.text
    return sent.json()


def a_small_commune(base: str) -> None:
    """Two cells: C1 with thirteen members who must attend and one exempt; C2 with one
    member and no meeting. The supervisor follows both."""
    for unit in UNITS:
        command(base, "members", "establish_unit", {**unit, "effective_date": "2022-01-01"})
    members = [(f"C1-{n:02d}", name, "C1") for n, name in enumerate(NAMES, 1)]
    members += [("C1-14", EXEMPT_NAME, "C1"), ("C2-01", "Tạ Văn Tây", "C2")]
    for member_id, name, cell in members:
        command(base, "members", "admit_member", {"member_id": member_id, "full_name": name,
                                                  "cell_id": cell, "admitted_on": "2023-01-01"})
        command(base, "members", "confirm_member", {"member_id": member_id,
                                                    "effective_date": "2024-01-01"})
    command(base, "members", "exempt_member", {"member_id": "C1-14", "reason": "Tuổi cao",
                                               "from_date": "2025-01-01"})
    command(base, "supervision", "assign_follower", {
        "follower": SUPERVISOR[0]["display_name"], "cell_ids": ["C1", "C2"],
        "from_date": "2026-01-01"})
    for account in (SECRETARY, DEPUTY, CLERK, SUPERVISOR, STAFF):
        open_account(base, *account)


def _start(folder, port: int, clock: datetime, log_name: str) -> tuple[subprocess.Popen, object]:
    env = {**os.environ, "CHIBO_WEB_ADDRESS": f"127.0.0.1:{port}",
           "CHIBO_CLOCK": clock.isoformat(), "CHIBO_AUTH_SECRET": AUTH_SECRET,
           "CHIBO_MATERIALS_DIR": str(folder / "materials"),
           "CHIBO_SIGNING_KEYS_DIR": str(folder / "secrets"),
           "CHIBO_SUPERVISION_START": "2026-05-01",
           **{f"CHIBO_{name.upper()}_DATABASE_URL": f"sqlite:///{folder}/{name}.db"
              for name in ("members", "meetings", "supervision", "reporting")}}
    log = (folder / log_name).open("w")
    demo = subprocess.Popen([sys.executable, "-m", "chibo.cli", "demo", "--preset", "none"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def serving() -> bool:
        if demo.poll() is not None:
            raise RuntimeError((folder / log_name).read_text()[-3000:])
        try:
            return requests.get(f"{base}/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    wait_until(serving, timeout=120, message="chibo demo to serve")
    return demo, log


def _stop(demo: subprocess.Popen, log) -> None:
    demo.terminate()
    demo.wait(timeout=30)
    log.close()


@pytest.fixture(scope="module")
def forms_system(tmp_path_factory):
    _need_browser()
    folder = tmp_path_factory.mktemp("forms")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo, log = _start(folder, port, datetime(2026, 6, 17, 9, 30), "demo-1.log")
    try:
        a_small_commune(base)
        wait_until(lambda: requests.get(f"{base}/reporting/api/cells/C1", headers=bearer(),
                                        timeout=10).status_code == 200,
                   timeout=60, message="reporting to show the cell")
    finally:
        _stop(demo, log)
    demo, log = _start(folder, port, TODAY, "demo-2.log")
    try:
        wait_until(lambda: requests.get(f"{base}/reporting/api/escalations?unit=X",
                                        headers=bearer(), timeout=10).json().get("total", 0),
                   timeout=90, message="supervision to escalate the cell that never met")
        yield base
    finally:
        _stop(demo, log)


@pytest.mark.parametrize("step", [
    "secretary_records_a_month_on_a_phone", "a_form_sent_twice_records_once",
    "a_draft_kept_offline_is_sent_when_back_online", "a_wrong_date_is_told_beside_its_field",
    "a_supervisor_logs_a_visit_and_the_coverage_moves",
    "staff_see_who_acknowledged_and_when", "every_form_fits_a_phone_and_a_desktop",
    "after_logout_the_form_page_is_not_served_offline",
    "a_draft_of_one_account_is_never_restored_or_sent_for_another",
    "a_saved_confirmation_forgets_only_its_own_draft"])
def test_forms_in_the_browser(forms_system, step):
    env = {**os.environ, "CHIBO_BROWSER_PASSWORD": PASSWORD, "CHIBO_BROWSER_BEARER": token(),
           "CHIBO_FORMS_SECRETARY": SECRETARY[0]["login"],
           "CHIBO_FORMS_SUPERVISOR": SUPERVISOR[0]["login"],
           "CHIBO_FORMS_DEPUTY": DEPUTY[0]["login"],
           "CHIBO_FORMS_CLERK": CLERK[0]["login"],
           "CHIBO_FORMS_STAFF": STAFF[0]["login"],
           "CHIBO_FORMS_STAFF_NAME": STAFF[0]["display_name"]}
    done = subprocess.run([sys.executable, "-m", "tests.browser.form_steps", step, forms_system],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
