"""The login page over HTTP, reporting and the members service running embedded: accounts
opened through members' own command, the password (and the 6-digit code of a real TOTP
enrolment) checked by `members.authenticate`, then the session cookie, its flags, the
page it opens, the lock-out and logout."""

from __future__ import annotations

import pyotp
import pytest
import requests
from nameko.standalone.rpc import ClusterRpcProxy

from chibo.access import TokenSigner
from services.members.entrypoints import MembersService
from services.reporting.entrypoints import ReportingService
from tests.support import AUTH_SECRET, NOW, bearer, embedded_config, running
from tests.unit.test_reporting_web import visible_text

TIMEOUT = 30
PASSWORD = "đúng-mật-khẩu-dài-1"
#: Signs in with a password and a 6-digit code.
HOA = {"account_id": "tk-hoa", "login": "hoa", "display_name": "Nguyễn Thị Hoa"}
#: Signs in with a password alone; its account is locked by the lock-out test.
KHOA = {"account_id": "tk-khoa", "login": "khoa", "display_name": "Lò Văn Khóa"}


def open_account(base: str, account: dict[str, str]) -> None:
    """The account opened and made a provincial administrator, as an administrator
    would over members' HTTP API."""
    opened = requests.post(base + "/members/accounts", headers=bearer(),
                           json={**account, "password": PASSWORD}, timeout=TIMEOUT)
    assert opened.status_code == 201, opened.text
    granted = requests.post(base + "/members/commands/grant_role", headers=bearer(), json={
        "account_id": account["account_id"], "role": "admin", "valid_from": "2026-01-01"},
        timeout=TIMEOUT)
    assert granted.status_code == 201, granted.text


def enrol_second_factor(config: dict, login: str) -> pyotp.TOTP:
    """The account's own enrolment of an authenticator app, confirmed with its first
    code; returns the app's generator."""
    with ClusterRpcProxy(config) as anonymous:
        token = anonymous.members.authenticate(login, PASSWORD, None, "session")["token"]
    with ClusterRpcProxy(config, context_data={"identity": token}) as rpc:
        uri = rpc.members.enrol_second_factor()["provisioning_uri"]
        app = pyotp.TOTP(pyotp.parse_uri(uri).secret)
        rpc.members.confirm_second_factor({"code": app.at(NOW)})
    return app


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    config = embedded_config(tmp_path_factory.mktemp("login"))
    config["AUTH"] = {**config["AUTH"], "session_hours": 2}
    with running(config, [ReportingService, MembersService]):
        base = f"http://{config['WEB_SERVER_ADDRESS']}"
        open_account(base, HOA)
        open_account(base, KHOA)
        app = enrol_second_factor(config, HOA["login"])
        yield {"base": base, "code": app.at(NOW)}


@pytest.fixture(scope="module")
def base(system):
    return system["base"]


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
    refused = login(base, login="hoa", password="sai-mat-khau")
    assert refused.status_code == 401
    assert "Tên đăng nhập hoặc mật khẩu không đúng" in visible_text(refused.text)
    assert "chibo_session" not in refused.headers.get("Set-Cookie", "")
    assert 'value="hoa"' in refused.text and "sai-mat-khau" not in refused.text
    unknown = login(base, login="khong-co-ai", password=PASSWORD)
    assert unknown.status_code == 401
    assert visible_text(unknown.text).replace("khong-co-ai", "hoa") == \
        visible_text(refused.text)


def test_the_code_is_asked_for_then_the_session_cookie_is_set(system):
    base, code = system["base"], system["code"]
    asked = login(base, login="hoa", password=PASSWORD)
    assert asked.status_code == 401 and 'name="totp"' in asked.text
    assert "mã xác thực 6 số" in visible_text(asked.text)
    assert "chibo_session" not in asked.headers.get("Set-Cookie", "")
    wrong = login(base, login="hoa", password=PASSWORD,
                  totp="123456" if code != "123456" else "654321")
    assert wrong.status_code == 401 and 'name="totp"' in wrong.text
    assert "chibo_session" not in wrong.headers.get("Set-Cookie", "")

    done = login(base, login="hoa", password=PASSWORD, totp=code)
    assert done.status_code == 303 and done.headers["Location"] == "/reporting/units/x"
    cookie = done.headers["Set-Cookie"]
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith("chibo_session=")
    assert "httponly" in flags and "samesite=lax" in flags and "secure" in flags
    assert "path=/" in flags and "max-age=7200" in flags
    # The cookie holds members' signed token for the account, with its second factor.
    claims = TokenSigner(AUTH_SECRET).verify(done.cookies["chibo_session"], NOW)
    assert claims.identity.account_id == "tk-hoa"
    assert claims.identity.name == "Nguyễn Thị Hoa"
    assert claims.identity.method == "password+totp"
    assert [g.role for g in claims.identity.grants] == ["admin"]


def test_the_session_opens_the_dashboard_and_logout_ends_it(system):
    base = system["base"]
    done = login(base, login="hoa", password=PASSWORD, totp=system["code"])
    session = requests.Session()
    # The test's server is plain http: the Secure cookie is handed over by hand.
    session.cookies.set("chibo_session", done.cookies["chibo_session"])
    page = session.get(base + "/reporting/audit", allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, page.text[:300]
    assert "Nguyễn Thị Hoa" in visible_text(page.text)
    anonymous = requests.get(base + "/reporting/audit", allow_redirects=False,
                             timeout=TIMEOUT)
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"].startswith("/login?next=")

    out = requests.post(base + "/logout", headers={"Origin": base}, allow_redirects=False,
                        timeout=TIMEOUT)
    assert out.status_code == 303 and out.headers["Location"].startswith("/login")
    cleared = out.headers["Set-Cookie"]
    assert cleared.startswith("chibo_session=") and "max-age=0" in cleared.lower()


def test_logout_asks_the_browser_to_forget_what_the_forms_kept(system):
    """The forms' drafts and offline copies hold the roll and the session's CSRF token:
    logging out asks the browser to clear the site's cache and storage, with or without
    a session cookie (a cookie already expired still leaves copies behind)."""
    base = system["base"]
    session = login(base, login="hoa", password=PASSWORD, totp=system["code"]).cookies[
        "chibo_session"]
    csrf = TokenSigner(AUTH_SECRET).csrf_of(session)
    for cookies, form in (({"chibo_session": session}, {"csrf_token": csrf}), ({}, {})):
        out = requests.post(base + "/logout", headers={"Origin": base}, cookies=cookies,
                            data=form, allow_redirects=False, timeout=TIMEOUT)
        assert out.status_code == 303, out.text[:300]
        assert out.headers["Clear-Site-Data"] == '"cache", "storage"'


def test_next_is_only_ever_a_local_path(system):
    base, code = system["base"], system["code"]
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        done = login(base, login="hoa", password=PASSWORD, totp=code, next=elsewhere)
        assert done.status_code == 303 and done.headers["Location"] == "/reporting/", elsewhere


def test_a_login_posted_from_another_site_is_refused(base):
    response = requests.post(base + "/login", data={"login": "hoa", "password": PASSWORD},
                             headers={"Origin": "https://evil.example"},
                             allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 403
    assert "chibo_session" not in response.headers.get("Set-Cookie", "")


def test_five_wrong_passwords_lock_the_account_and_the_page_says_so(base):
    for _ in range(4):
        refused = login(base, login="khoa", password="sai-mat-khau")
        assert refused.status_code == 401
        assert "Tên đăng nhập hoặc mật khẩu không đúng" in visible_text(refused.text)
    fifth = login(base, login="khoa", password="sai-mat-khau")
    locked_message = "Tài khoản đang bị khóa tạm thời sau nhiều lần đăng nhập sai"
    assert fifth.status_code == 401 and locked_message in visible_text(fifth.text)
    # Locked: even the right password is refused, with the same message.
    right = login(base, login="khoa", password=PASSWORD)
    assert right.status_code == 401 and locked_message in visible_text(right.text)
    assert "chibo_session" not in right.headers.get("Set-Cookie", "")
    english = requests.post(base + "/login?lang=en",
                            data={"login": "khoa", "password": PASSWORD},
                            headers={"Origin": base}, allow_redirects=False, timeout=TIMEOUT)
    assert "The account is locked for a while" in visible_text(english.text)
