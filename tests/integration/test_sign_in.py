"""Signing in through the running services: tokens and their grants, the generic
refusal, lockout and the rate limit on a clock the test moves, the second factor, the
secretary grant derived from cell roles, scopes enforced on commands, and no secret in
any event."""

from __future__ import annotations

import json
from datetime import timedelta

import pyotp
import pytest
import requests
from nameko.exceptions import RemoteError
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import create_engine, text

from chibo.access import Grant, Identity, TokenSigner
from chibo.clock import FixedClock
from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    as_caller,
    bearer,
    embedded_config,
    running,
    two_cells_of_three,
)

PASSWORD = "mật-khẩu-đủ-dài-1"
STAFF_OF_C1 = Identity("tk-c1", "Cán bộ chi bộ c1", (Grant("staff", "c1"),))


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sign-in")
    clock = FixedClock(NOW)
    config = embedded_config(tmp)
    config["CLOCK"] = clock
    with running(config), ClusterRpcProxy(config, context_data=as_caller()) as rpc:
        two_cells_of_three(rpc, "Lò Văn Pọm")
        rpc.members.assign_role({"cell_id": "c1", "member_id": "c1-0", "role": "secretary",
                                 "term_from": "2024-01-01"})
        for login, member in (("bithu.c1", "c1-0"), ("canbo", None), ("khoa.thu", None),
                              ("hai.lop", None), ("gioi.han", None)):
            rpc.members.open_account({"account_id": login, "login": login,
                                      "display_name": f"Tài khoản {login}",
                                      "member_id": member, "password": PASSWORD})
        yield {"config": config, "clock": clock, "rpc": rpc, "tmp": tmp,
               "url": f"http://{config['WEB_SERVER_ADDRESS']}"}
        clock.set(NOW)


def anonymous(system):
    return ClusterRpcProxy(system["config"])


def sign_in(system, login, password=PASSWORD, totp=None):
    with anonymous(system) as rpc:
        return rpc.members.authenticate(login, password, totp, "session")


def refusal(system, login, password, totp=None) -> RemoteError:
    with pytest.raises(RemoteError) as raised:
        sign_in(system, login, password, totp)
    return raised.value


def test_signing_in_gives_a_token_the_services_accept(system):
    answer = sign_in(system, "canbo")
    claims = TokenSigner(AUTH_SECRET).verify(answer["token"], NOW)
    assert claims.identity.account_id == "canbo"
    assert claims.identity.name == "Tài khoản canbo"
    assert claims.csrf == answer["csrf"] and answer["csrf"]
    assert answer["expires_at"] == (NOW + timedelta(hours=8)).isoformat()
    me = requests.get(system["url"] + "/members/auth/me",
                      headers={"Authorization": f"Bearer {answer['token']}"}, timeout=10)
    assert me.status_code == 200 and me.json()["account_id"] == "canbo"
    assert me.json()["grants"] == []


def test_an_api_token_over_http(system):
    response = requests.post(system["url"] + "/members/auth/token",
                             json={"login": "canbo", "password": PASSWORD}, timeout=10)
    assert response.status_code == 201, response.text
    assert response.json()["csrf"] is None
    assert response.json()["expires_at"] == (NOW + timedelta(minutes=60)).isoformat()


def test_a_wrong_password_and_an_unknown_login_get_the_same_answer(system):
    wrong = requests.post(system["url"] + "/members/auth/token",
                          json={"login": "canbo", "password": "sai-mat-khau-123"}, timeout=10)
    unknown = requests.post(system["url"] + "/members/auth/token",
                            json={"login": "khong-co-ai", "password": "sai-mat-khau-123"},
                            timeout=10)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"] == "login_failed"
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.json()["message"]


def test_lockout_after_repeated_failures_and_unlock_after_the_lockout(system):
    clock = system["clock"]
    for _ in range(4):
        assert refusal(system, "khoa.thu", "sai-mat-khau-123").exc_type == "LoginFailed"
    fifth = refusal(system, "khoa.thu", "sai-mat-khau-123")
    assert fifth.exc_type == "AccountLocked"
    # Locked: even the right password is refused, and the answer says until when.
    locked = refusal(system, "khoa.thu", PASSWORD)
    assert locked.exc_type == "AccountLocked"
    assert (NOW + timedelta(minutes=15)).isoformat() in locked.value
    clock.set(NOW + timedelta(minutes=14))
    assert refusal(system, "khoa.thu", PASSWORD).exc_type == "AccountLocked"
    clock.set(NOW + timedelta(minutes=15, seconds=1))
    try:
        assert sign_in(system, "khoa.thu")["identity"]["account_id"] == "khoa.thu"
        # The count starts again after a success.
        for _ in range(4):
            assert refusal(system, "khoa.thu", "sai-mat-khau-123").exc_type == "LoginFailed"
        assert sign_in(system, "khoa.thu")["token"]
    finally:
        clock.set(NOW)


def test_more_than_ten_attempts_a_minute_are_refused_with_retry_after(system):
    clock = system["clock"]
    clock.set(NOW + timedelta(hours=2))
    try:
        answers = [requests.post(system["url"] + "/members/auth/token",
                                 json={"login": "gioi.han", "password": PASSWORD}, timeout=10)
                   for _ in range(11)]
        assert [a.status_code for a in answers] == [201] * 10 + [429]
        assert answers[-1].headers["Retry-After"] == "60"
        clock.set(NOW + timedelta(hours=2, seconds=61))
        again = requests.post(system["url"] + "/members/auth/token",
                              json={"login": "gioi.han", "password": PASSWORD}, timeout=10)
        assert again.status_code == 201
    finally:
        clock.set(NOW)


def test_the_second_factor(system):
    token = sign_in(system, "hai.lop")["token"]
    with ClusterRpcProxy(system["config"], context_data={"identity": token}) as rpc:
        uri = rpc.members.enrol_second_factor()["provisioning_uri"]
        assert uri.startswith("otpauth://totp/")
        secret = pyotp.parse_uri(uri).secret
        with pytest.raises(RemoteError) as wrong:
            rpc.members.confirm_second_factor({"code": "000000" if pyotp.TOTP(secret).at(
                NOW) != "000000" else "111111"})
        assert wrong.value.exc_type == "ValidationFailed"
        rpc.members.confirm_second_factor({"code": pyotp.TOTP(secret).at(NOW)})
    assert refusal(system, "hai.lop", PASSWORD).exc_type == "SecondFactorRequired"
    assert refusal(system, "hai.lop", PASSWORD, "123456" if pyotp.TOTP(secret).at(NOW)
                   != "123456" else "654321").exc_type == "LoginFailed"
    answer = sign_in(system, "hai.lop", PASSWORD, pyotp.TOTP(secret).at(NOW))
    assert TokenSigner(AUTH_SECRET).verify(answer["token"], NOW).identity.method == \
        "password+totp"


def test_a_cell_secretary_gets_the_secretary_role_of_their_cell(system):
    answer = sign_in(system, "bithu.c1")
    assert answer["identity"]["grants"] == [["secretary", "c1", "2024-01-01", None]]
    headers = {"Authorization": f"Bearer {answer['token']}"}
    own = requests.get(system["url"] + "/members/cells/c1/roll", headers=headers, timeout=10)
    other = requests.get(system["url"] + "/members/cells/c2/roll", headers=headers, timeout=10)
    assert own.status_code == 200, own.text
    assert other.status_code == 403


def test_a_scoped_caller_cannot_change_another_cell(system):
    url = system["url"] + "/members/commands/"
    before = len(system["rpc"].members.read_events(after=0, limit=5000))
    outside = requests.post(url + "admit_member", headers=bearer(STAFF_OF_C1), json={
        "member_id": "c2-new", "full_name": "Lò Thị Ánh", "cell_id": "c2",
        "admitted_on": "2026-01-05"}, timeout=10)
    assert outside.status_code == 403, outside.text
    confirm = requests.post(url + "rate_member", headers=bearer(STAFF_OF_C1), json={
        "member_id": "c2-1", "year": 2025, "level": "good"}, timeout=10)
    assert confirm.status_code == 403, confirm.text
    assert len(system["rpc"].members.read_events(after=0, limit=5000)) == before
    inside = requests.post(url + "admit_member", headers=bearer(STAFF_OF_C1), json={
        "member_id": "c1-new", "full_name": "Lò Thị Ánh", "cell_id": "c1",
        "admitted_on": "2026-01-05"}, timeout=10)
    assert inside.status_code == 201, inside.text


def test_a_forged_actor_header_is_ignored(system):
    token = sign_in(system, "canbo")["token"]
    system["rpc"].members.grant_role({"account_id": "canbo", "role": "staff",
                                      "unit_id": "x", "valid_from": "2026-01-01"})
    token = sign_in(system, "canbo")["token"]
    response = requests.post(system["url"] + "/members/commands/admit_member", headers={
        "Authorization": f"Bearer {token}", "X-Actor": "quan-tri-gia-mao"}, json={
        "member_id": "x-forged", "full_name": "Hà Văn Tú", "cell_id": "c2",
        "admitted_on": "2026-02-01"}, timeout=10)
    assert response.status_code == 201, response.text
    events = system["rpc"].members.read_events(after=0, limit=5000)
    [admitted] = [e for e in events if e["type"] == "member_admitted"
                  and e["data"]["member_id"] == "x-forged"]
    assert admitted["metadata"]["actor"] == "canbo"
    assert admitted["metadata"]["actor_name"] == "Tài khoản canbo"
    assert admitted["metadata"]["actor_roles"] == [["staff", "x"]]


def test_granting_is_limited_to_the_granters_scope(system):
    staff = Identity("tk-x", "Quản trị xã", (Grant("admin", "x"),))
    url = system["url"] + "/members/commands/grant_role"
    inside = requests.post(url, headers=bearer(staff), json={
        "account_id": "gioi.han", "role": "viewer", "unit_id": "c1",
        "valid_from": "2026-01-01"}, timeout=10)
    everywhere = requests.post(url, headers=bearer(staff), json={
        "account_id": "gioi.han", "role": "viewer", "valid_from": "2026-01-01"}, timeout=10)
    service_role = requests.post(url, headers=bearer(ADMIN), json={
        "account_id": "gioi.han", "role": "service", "valid_from": "2026-01-01"}, timeout=10)
    assert inside.status_code == 201, inside.text
    assert everywhere.status_code == 403
    assert service_role.status_code == 422 and "role" in service_role.json()["fields"]


def test_the_password_policy_names_the_field(system):
    response = requests.post(system["url"] + "/members/accounts", headers=bearer(), json={
        "login": "ngan", "display_name": "Mật khẩu ngắn", "password": "ngan"}, timeout=10)
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["password"]
    anonymous_open = requests.post(system["url"] + "/members/accounts", json={
        "login": "ngan", "display_name": "Ẩn danh", "password": PASSWORD * 2}, timeout=10)
    assert anonymous_open.status_code == 401


def test_changing_ones_own_password(system):
    token = sign_in(system, "bithu.c1")["token"]
    headers = {"Authorization": f"Bearer {token}"}
    new = "mat-khau-moi-0123"
    wrong = requests.post(system["url"] + "/members/auth/password", headers=headers, json={
        "old_password": "khong-dung-0000", "new_password": new}, timeout=10)
    assert wrong.status_code == 422 and list(wrong.json()["fields"]) == ["old_password"]
    ok = requests.post(system["url"] + "/members/auth/password", headers=headers, json={
        "old_password": PASSWORD, "new_password": new}, timeout=10)
    assert ok.status_code == 201, ok.text
    assert sign_in(system, "bithu.c1", new)["token"]
    assert refusal(system, "bithu.c1", PASSWORD).exc_type == "LoginFailed"


def test_no_event_carries_a_password_and_the_table_holds_argon2(system):
    events = system["rpc"].members.read_events(after=0, limit=5000)
    dumped = json.dumps(events, ensure_ascii=False)
    assert PASSWORD not in dumped and "$argon2" not in dumped
    changed = [e for e in events if e["type"] == "password_changed"]
    assert changed and all(set(e["data"]) == {"account_id", "reset_by_admin"} for e in changed)
    engine = create_engine(f"sqlite:///{system['tmp']}/members.db")
    with engine.connect() as connection:
        hashes = connection.execute(text("SELECT password_hash FROM account_secrets")).scalars()
        assert all(h.startswith("$argon2id$") for h in hashes)
    engine.dispose()
