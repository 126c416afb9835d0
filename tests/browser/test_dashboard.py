"""The dashboard in a real browser: Debian's chromium driven by Playwright (never a
downloaded browser), against every service running embedded with a sample province.

The browser logs in through the login page with accounts opened for the test through the
members service's own command (an administrator of the province, and the staff of one
commune). Screenshots of each step are saved under var/screenshots/ for people to look at.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import REQUIRE_SERVICES
from tests.support import AUTH_SECRET, NOW, bearer, free_port, token, wait_until

CHROMIUM = os.environ.get("CHIBO_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "mật-khẩu-trình-duyệt-1"
#: The browser's accounts: (account, the role granted, the unit it is granted over).
BROWSER_ADMIN = ({"account_id": "tk-trinh-duyet", "login": "trinh.duyet",
                  "display_name": "Quản trị viên (trình duyệt)"}, "admin", None)
COMMUNE = "h01-x01"
COMMUNE_STAFF = ({"account_id": "tk-can-bo-xa", "login": "canbo.xa",
                  "display_name": "Cán bộ xã (trình duyệt)"}, "staff", COMMUNE)


def open_account(base: str, account: dict[str, str], role: str, unit_id: str | None) -> None:
    """The account opened with a password and granted `role` over `unit_id`, as a
    provincial administrator does over members' HTTP API."""
    opened = requests.post(f"{base}/members/accounts", headers=bearer(),
                           json={**account, "password": PASSWORD}, timeout=10)
    assert opened.status_code == 201, opened.text
    granted = requests.post(f"{base}/members/commands/grant_role", headers=bearer(), json={
        "account_id": account["account_id"], "role": role, "unit_id": unit_id,
        "valid_from": "2020-01-01"}, timeout=10)
    assert granted.status_code == 201, granted.text


def _need_browser() -> None:
    problem = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "the playwright package is not installed (make test installs it)"
    if problem is None and not Path(CHROMIUM).exists():
        problem = f"no chromium at {CHROMIUM}: apt-get install chromium"
    if problem:
        if REQUIRE_SERVICES:
            pytest.fail(f"browser tests required: {problem}")
        pytest.skip(problem)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory):
    """`chibo demo` in its own process: Playwright's blocking calls would stall the
    services' green threads if they shared this one."""
    _need_browser()
    folder = tmp_path_factory.mktemp("dashboard")
    port = free_port()
    env = {**os.environ, "CHIBO_WEB_ADDRESS": f"127.0.0.1:{port}", "CHIBO_CLOCK": NOW.isoformat(),
           "CHIBO_AUTH_SECRET": AUTH_SECRET,
           **{f"CHIBO_{name.upper()}_DATABASE_URL": f"sqlite:///{folder}/{name}.db"
              for name in ("members", "meetings", "supervision", "reporting")}}
    log = (folder / "demo.log").open("w")
    demo = subprocess.Popen([sys.executable, "-m", "chibo.cli", "demo", "--months", "3"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def caught_up() -> bool:
            if demo.poll() is not None:
                raise RuntimeError((folder / "demo.log").read_text()[-3000:])
            try:
                overview = requests.get(f"{base}/reporting/api/overview", headers=bearer(),
                                        timeout=10).json()
                listed = requests.get(f"{base}/reporting/api/escalations", headers=bearer(),
                                      timeout=10).json()
            except (requests.ConnectionError, ValueError):
                return False
            return overview.get("summary", {}).get("cells") == 240 and listed.get("total", 0) > 0

        wait_until(caught_up, timeout=420, message="chibo demo to show the sample province")
        for account, role, unit_id in (BROWSER_ADMIN, COMMUNE_STAFF):
            open_account(base, account, role, unit_id)
        yield base
    finally:
        demo.terminate()
        demo.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("step", ["overview_drill_down_to_a_cell_and_a_meeting",
                                  "language_switch", "export_a_table_as_csv_and_excel",
                                  "acknowledge_an_escalation", "pages_fit_a_phone",
                                  "audit_page_checks_every_source",
                                  "heatmap_tells_the_month_states_apart",
                                  "a_communes_staff_sees_only_their_commune_until_logging_out"])
def test_in_the_browser(dashboard, step):
    # The browser logs in through the login page; the steps' own API calls send the
    # bearer token of the tests' administrator.
    env = {**os.environ, "CHIBO_BROWSER_LOGIN": BROWSER_ADMIN[0]["login"],
           "CHIBO_BROWSER_NAME": BROWSER_ADMIN[0]["display_name"],
           "CHIBO_BROWSER_ACCOUNT": BROWSER_ADMIN[0]["account_id"],
           "CHIBO_BROWSER_COMMUNE_LOGIN": COMMUNE_STAFF[0]["login"],
           "CHIBO_BROWSER_COMMUNE": COMMUNE, "CHIBO_BROWSER_PASSWORD": PASSWORD,
           "CHIBO_BROWSER_BEARER": token()}
    done = subprocess.run([sys.executable, "-m", "tests.browser.steps", step, dashboard],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
