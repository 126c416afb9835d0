"""The login page over HTTP: reporting served embedded with a members service that
answers `members.authenticate` to its contract (a stand-in with one account until the
accounts land in the members service), then the session cookie, its flags, the page
it opens and logout."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from nameko.rpc import rpc

from chibo.access import PUBLIC, Grant, Identity, TokenSigner
from chibo.errors import ChiboError
from chibo.nameko.access import access
from services.reporting.entrypoints import ReportingService
from tests.support import AUTH_SECRET, NOW, embedded_config, running
from tests.unit.test_reporting_web import visible_text

TIMEOUT = 30
HOA = Identity("tk-hoa", "Nguyễn Thị Hoa", (Grant("admin"),), method="password")


class LoginFailed(ChiboError):
    http_status = 401
    code = "login_failed"


class SecondFactorRequired(ChiboError):
    http_status = 401
    code = "second_factor_required"


class StandInMembers:
    """members.authenticate as its contract says: hoa / đúng-mật-khẩu, code 123456."""

    name = "members"

    @rpc(expected_exceptions=ChiboError)
    @access(PUBLIC)
    def authenticate(self, login, password, totp=None, purpose="session"):
        if login != "hoa" or password != "đúng-mật-khẩu":
            raise LoginFailed("Sai tên đăng nhập hoặc mật khẩu (login failed).")
        if totp is None:
            raise SecondFactorRequired("Cần mã xác thực (second factor required).")
        if totp != "123456":
            raise LoginFailed("Mã không đúng (login failed).")
        token = TokenSigner(AUTH_SECRET).issue(HOA, NOW, 8 * 3600, csrf="csrf-hoa")
        return {"token": token, "csrf": "csrf-hoa",
                "expires_at": (NOW + timedelta(hours=8)).isoformat(),
                "identity": {"account_id": HOA.account_id, "name": HOA.name,
                             "grants": [g.as_list() for g in HOA.grants]}}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("login"))
    config["AUTH"] = {**config["AUTH"], "session_hours": 2}
    with running(config, [ReportingService, StandInMembers]):
        yield f"http://{config['WEB_SERVER_ADDRESS']}"


def login(base: str, **form) -> requests.Response:
    return requests.post(base + "/login", data={"next": "/reporting/units/x", **form},
                         headers={"Origin": base}, allow_redirects=False, timeout=TIMEOUT)


def test_the_login_page_speaks_vietnamese_first(base):
    page = requests.get(base + "/login", timeout=TIMEOUT)
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Đăng nhập" in text and "Tên đăng nhập" in text and "Mật khẩu" in text
    assert 'name="totp"' not in page.text
    assert "Sign in" in visible_text(requests.get(base + "/login?lang=en", timeout=TIMEOUT).text)


def test_a_wrong_password_shows_the_page_again_with_401(base):
    refused = login(base, login="hoa", password="sai")
    assert refused.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in visible_text(refused.text)
    assert "chibo_session" not in refused.headers.get("Set-Cookie", "")
    assert 'value="hoa"' in refused.text and "sai" not in refused.text


def test_the_code_is_asked_for_then_the_session_cookie_is_set(base):
    asked = login(base, login="hoa", password="đúng-mật-khẩu")
    assert asked.status_code == 401 and 'name="totp"' in asked.text
    assert "mã xác thực 6 số" in visible_text(asked.text)
    done = login(base, login="hoa", password="đúng-mật-khẩu", totp="123456")
    assert done.status_code == 303 and done.headers["Location"] == "/reporting/units/x"
    cookie = done.headers["Set-Cookie"]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("chibo_session=")
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    assert "path=/" in flags and "max-age=7200" in flags


def test_next_is_only_ever_a_local_path(base):
    done = login(base, login="hoa", password="đúng-mật-khẩu", totp="123456",
                 next="https://evil.example/")
    assert done.status_code == 303 and done.headers["Location"] == "/reporting/"


def test_a_login_posted_from_another_site_is_refused(base):
    response = requests.post(base + "/login", data={"login": "hoa", "password": "x"},
                             headers={"Origin": "https://evil.example"},
                             allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 403
