"""The account rules, pure: the password policy, counting failed logins to a lockout on
a fixed clock, the rate limit, grants folded from events and derived from cell roles."""

from __future__ import annotations

from datetime import date, timedelta
from types import SimpleNamespace

import pytest

from chibo.access import Grant
from chibo.errors import ValidationFailed
from services.members import accounts
from tests.support import NOW, TODAY

LOCKOUT = timedelta(minutes=15)


def ev(kind: str, **data):
    return SimpleNamespace(type=kind, data=data)


def test_a_password_needs_ten_characters_and_the_error_names_the_field():
    assert accounts.check_password("0123456789") == "0123456789"
    with pytest.raises(ValidationFailed) as short:
        accounts.check_password("012345678", "new_password")
    assert list(short.value.fields) == ["new_password"]
    assert "10" in short.value.fields["new_password"][0]
    with pytest.raises(ValidationFailed) as missing:
        accounts.check_password(None)
    assert list(missing.value.fields) == ["password"]


def test_hashes_are_argon2id_and_verify():
    stored = accounts.hash_password("mật khẩu rất dài")
    assert stored.startswith("$argon2id$")
    assert accounts.password_matches(stored, "mật khẩu rất dài")
    assert not accounts.password_matches(stored, "mật khẩu khác hẳn")
    assert not accounts.password_matches(None, "mật khẩu rất dài")  # unknown login


def test_failures_in_a_row_lock_the_account_for_the_lockout():
    state = accounts.LoginState()
    for n in range(1, 5):
        state = accounts.after_failure(state, 5, NOW, LOCKOUT)
        assert state == accounts.LoginState(n, None) and not state.locked(NOW)
    state = accounts.after_failure(state, 5, NOW, LOCKOUT)
    assert state.locked(NOW)
    assert state.locked(NOW + LOCKOUT - timedelta(seconds=1))
    assert not state.locked(NOW + LOCKOUT)
    assert state.failed == 0  # the count starts again after the lockout
    assert accounts.after_success() == accounts.LoginState()


def test_the_rate_limit_counts_the_last_minute():
    attempts = [NOW - timedelta(seconds=s) for s in range(9, -1, -1)]  # ten, 9 s ago to now
    assert accounts.retry_after(attempts[1:], NOW) is None
    assert accounts.retry_after(attempts, NOW) == 51  # the oldest leaves the window then
    assert accounts.retry_after(attempts, NOW + timedelta(seconds=51)) is None


def test_grants_fold_from_events_and_a_revocation_ends_the_day_before():
    history = [
        ev("account_opened", account_id="a", login="a", display_name="A", member_id="m1"),
        ev("role_granted", account_id="a", role="staff", unit_id="x",
           valid_from="2026-01-01", valid_until=None),
        ev("role_granted", account_id="a", role="viewer", unit_id=None,
           valid_from="2026-01-01", valid_until="2026-12-31"),
        ev("role_revoked", account_id="a", role="staff", unit_id="x", on="2026-06-17"),
    ]
    account = accounts.fold(history)["a"]
    assert account.grants == (Grant("staff", "x", date(2026, 1, 1), date(2026, 6, 16)),
                              Grant("viewer", None, date(2026, 1, 1), date(2026, 12, 31)))
    assert account.grants_on(TODAY) == (Grant("viewer", None, date(2026, 1, 1),
                                              date(2026, 12, 31)),)
    closed = accounts.fold([*history, ev("account_closed", account_id="a")])["a"]
    assert closed.closed


def test_a_secretary_or_deputy_gets_the_secretary_role_of_the_cell():
    roles = {"c1": [{"member_id": "m1", "role": "secretary", "term_from": "2024-01-01",
                     "term_until": "2028-12-31"}],
             "c2": [{"member_id": "m1", "role": "deputy_secretary", "term_from": "2025-01-01",
                     "term_until": None, "ended_on": "2026-09-30"}],
             "c3": [{"member_id": "m1", "role": "committee_member", "term_from": "2025-01-01"},
                    {"member_id": "m2", "role": "secretary", "term_from": "2025-01-01"}]}
    assert accounts.derived_secretary_grants("m1", roles) == [
        Grant("secretary", "c1", date(2024, 1, 1), date(2028, 12, 31)),
        Grant("secretary", "c2", date(2025, 1, 1), date(2026, 9, 30))]
    assert accounts.derived_secretary_grants(None, roles) == []


def test_a_token_carries_todays_grants_then_the_derived_ones_once():
    account = accounts.Account("a", "a", "A", grants=(
        Grant("viewer", None, date(2020, 1, 1), date(2021, 1, 1)), Grant("staff", "x")))
    derived = [Grant("secretary", "c1"), Grant("staff", "x")]
    assert accounts.token_grants(account, derived, TODAY) == (Grant("staff", "x"),
                                                              Grant("secretary", "c1"))


def test_identity_provider_groups_map_to_grants():
    mapping = {"chibo-admins": [["admin", None]], "ban-to-chuc": [["staff", "h1"]]}
    assert accounts.group_grants(["ban-to-chuc", "khac", "chibo-admins"], mapping) == [
        Grant("staff", "h1"), Grant("admin", None)]


def test_a_totp_code_is_checked_at_the_given_time():
    import pyotp

    secret = accounts.new_totp_secret()
    code = pyotp.TOTP(secret).at(NOW)
    assert accounts.totp_matches(secret, code, NOW)
    assert not accounts.totp_matches(secret, code, NOW + timedelta(minutes=5))
    assert accounts.provisioning_uri(secret, "bithu").startswith("otpauth://totp/chibo:bithu")
