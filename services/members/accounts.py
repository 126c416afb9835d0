"""Accounts: who may sign in, with which roles, and the rules of signing in.

The account's history is its stream (`account-<id>`: opened, grants, revocations, the
second factor, closed); what signing in checks and must never travel in an event (the
argon2 hash of the password, the TOTP secret, failed logins in a row, the lockout)
lives in members' table `account_secrets`, written in the same transaction.

The rules here are pure (the time is an argument); the few functions at the end read
and write the tables with the caller's session.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from chibo.access import Grant
from chibo.access.policy import Unauthenticated
from chibo.errors import ChiboError, ValidationFailed
from services.members.read_model import account_secrets, sign_in_attempts

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000
#: Sign-in attempts per login in any minute, whatever their outcome.
MAX_ATTEMPTS_PER_MINUTE = 10
RATE_WINDOW = timedelta(minutes=1)
#: Cell roles that make a member's linked account the cell's `secretary`.
SECRETARY_CELL_ROLES = ("secretary", "deputy_secretary")
TOTP_ISSUER = "chibo"

hasher = PasswordHasher()
#: Verified when the login is unknown, so a wrong login costs what a wrong password does.
_DUMMY_HASH = hasher.hash(secrets.token_urlsafe(16))


def account_stream(account_id: str) -> str:
    return f"account-{account_id}"


# -- errors -------------------------------------------------------------------------

LOGIN_FAILED = "Sai tên đăng nhập hoặc mật khẩu (wrong login or password)."


class LoginFailed(Unauthenticated):
    code = "login_failed"

    def __init__(self, message: str = LOGIN_FAILED, **details: Any) -> None:
        super().__init__(message, **details)


class AccountLocked(Unauthenticated):
    code = "account_locked"


class SecondFactorRequired(Unauthenticated):
    code = "second_factor_required"


class TooManySignIns(ChiboError):
    """More sign-in attempts for one login in a minute than the rate limit allows."""

    http_status = 429
    code = "too_many_attempts"


# -- passwords ----------------------------------------------------------------------

def check_password(value: Any, field_name: str = "password") -> str:
    """The password if the policy accepts it; ValidationFailed naming the field."""
    if not isinstance(value, str) or not value:
        raise ValidationFailed({field_name: ["Bắt buộc (required)."]})
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed({field_name: [
            f"Mật khẩu cần ít nhất {MIN_PASSWORD_LENGTH} ký tự (at least "
            f"{MIN_PASSWORD_LENGTH} characters)."]})
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed({field_name: [
            f"Tối đa {MAX_PASSWORD_LENGTH} ký tự (at most {MAX_PASSWORD_LENGTH} characters)."]})
    return value


def hash_password(password: str) -> str:
    return hasher.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    """Checks against a dummy hash when there is none, at the same cost."""
    try:
        return hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_login(login: Any) -> str:
    return str(login or "").strip().lower()


def random_password() -> str:
    return secrets.token_urlsafe(12)


# -- the account, folded from its stream ---------------------------------------------

@dataclass(frozen=True)
class Account:
    account_id: str
    login: str
    display_name: str
    member_id: str | None = None
    external_id: str | None = None
    grants: tuple[Grant, ...] = ()
    second_factor: bool = False
    closed: bool = False

    def grants_on(self, day: date) -> tuple[Grant, ...]:
        return tuple(g for g in self.grants if g.valid_on(day))


def _as_day(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def fold(history: Iterable[Any]) -> dict[str, Account]:
    """Accounts by id, from their streams' events in order."""
    accounts: dict[str, Account] = {}
    for event in history:
        d = event.data
        if event.type == "account_opened":
            accounts[d["account_id"]] = Account(d["account_id"], d["login"], d["display_name"],
                                                d.get("member_id"), d.get("external_id"))
            continue
        account = accounts.get(d.get("account_id", ""))
        if account is None:
            continue
        if event.type == "role_granted":
            account = replace(account, grants=(*account.grants, Grant(
                d["role"], d.get("unit_id"), _as_day(d["valid_from"]),
                _as_day(d.get("valid_until")))))
        elif event.type == "role_revoked":
            account = replace(account, grants=tuple(
                revoke(account.grants, d["role"], d.get("unit_id"), _as_day(d["on"]))))
        elif event.type == "second_factor_enabled":
            account = replace(account, second_factor=True)
        elif event.type == "second_factor_disabled":
            account = replace(account, second_factor=False)
        elif event.type == "account_closed":
            account = replace(account, closed=True)
        accounts[account.account_id] = account
    return accounts


def revoke(grants: Sequence[Grant], role: str, unit_id: str | None, on: Any
           ) -> list[Grant]:
    """The grants with every grant of `role` on `unit_id` still open on `on` ending
    the day before (one that had not started yet is dropped)."""
    last = on - timedelta(days=1)
    out = []
    for grant in grants:
        if grant.role != role or grant.unit_id != unit_id or \
                (grant.valid_until is not None and grant.valid_until < on):
            out.append(grant)
        elif grant.valid_from is None or grant.valid_from <= last:
            out.append(replace(grant, valid_until=last))
    return out


def derived_secretary_grants(member_id: str | None,
                             roles_by_cell: Mapping[str, Sequence[Mapping[str, Any]]]
                             ) -> list[Grant]:
    """`secretary` on each cell where the member is secretary or deputy secretary,
    given each cell's roles active today (`domain.active_roles`)."""
    if not member_id:
        return []
    grants = []
    for cell_id, roles in sorted(roles_by_cell.items()):
        for role in roles:
            if role["member_id"] == member_id and role["role"] in SECRETARY_CELL_ROLES:
                ends = [d for d in (_as_day(role.get("term_until")),
                                    _as_day(role.get("ended_on"))) if d is not None]
                grants.append(Grant("secretary", cell_id, _as_day(role.get("term_from")),
                                    min(ends) if ends else None))
                break
    return grants


def group_grants(groups: Iterable[str], mapping: Mapping[str, Any]) -> list[Grant]:
    """An identity provider's groups as grants, by `OIDC.group_roles`
    (`{group: [[role, unit_id or null], ...]}`)."""
    out: list[Grant] = []
    for group in groups or ():
        for pair in mapping.get(group) or ():
            role, unit_id = (list(pair) + [None])[:2]
            grant = Grant(str(role), unit_id or None)
            if grant not in out:
                out.append(grant)
    return out


def token_grants(account: Account | None, derived: Iterable[Grant], today: date
                 ) -> tuple[Grant, ...]:
    """What a token carries: the account's grants valid today, then the derived ones."""
    out = list(account.grants_on(today)) if account else []
    for grant in derived:
        if grant not in out:
            out.append(grant)
    return tuple(out)


# -- failed logins, lockout, rate limit ----------------------------------------------

@dataclass(frozen=True)
class LoginState:
    failed: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


def after_failure(state: LoginState, max_failed: int, now: datetime,
                  lockout: timedelta) -> LoginState:
    """One more failure in a row; the `max_failed`th locks the account for `lockout`
    and starts the count again."""
    failed = state.failed + 1
    if failed >= max_failed:
        return LoginState(0, now + lockout)
    return LoginState(failed, None)


def after_success() -> LoginState:
    return LoginState()


def retry_after(attempts: Iterable[datetime], now: datetime,
                limit: int = MAX_ATTEMPTS_PER_MINUTE, window: timedelta = RATE_WINDOW
                ) -> int | None:
    """Seconds to wait when `limit` attempts already fall in the `window` before `now`;
    None when one more is allowed."""
    recent = sorted(a for a in attempts if now - window < a <= now)
    if len(recent) < limit:
        return None
    oldest_counted = recent[-limit]
    return max(1, int((oldest_counted + window - now).total_seconds() + 0.999))


def at_utc(value: datetime | None) -> datetime | None:
    """SQLite gives back naive datetimes: they were written in UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# -- the second factor ---------------------------------------------------------------

def new_totp_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, login: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=TOTP_ISSUER)


def totp_matches(secret: str | None, code: Any, now: datetime) -> bool:
    if not secret or not code:
        return False
    return bool(pyotp.TOTP(secret).verify(str(code).strip(), for_time=now, valid_window=1))


# -- the tables ----------------------------------------------------------------------

@dataclass
class Secrets:
    """A row of `account_secrets`."""

    account_id: str
    login: str
    external_id: str | None
    password_hash: str | None
    totp_secret: str | None
    totp_pending: str | None
    state: LoginState = field(default_factory=LoginState)
    closed: bool = False


def _secrets(row: Any) -> Secrets | None:
    if row is None:
        return None
    return Secrets(row.account_id, row.login, row.external_id, row.password_hash,
                   row.totp_secret, row.totp_pending,
                   LoginState(row.failed_logins, at_utc(row.locked_until)), row.closed)


def secrets_by_login(session: Session, login: str) -> Secrets | None:
    return _secrets(session.execute(select(account_secrets).where(
        account_secrets.c.login == normalise_login(login))).first())


def secrets_of(session: Session, account_id: str) -> Secrets | None:
    return _secrets(session.execute(select(account_secrets).where(
        account_secrets.c.account_id == account_id)).first())


def secrets_by_external_id(session: Session, external_id: str) -> Secrets | None:
    return _secrets(session.execute(select(account_secrets).where(
        account_secrets.c.external_id == external_id)).first())


def login_taken(session: Session, login: str) -> bool:
    return secrets_by_login(session, login) is not None


def add_secrets(session: Session, account_id: str, login: str, password_hash: str | None,
                external_id: str | None = None) -> None:
    session.execute(insert(account_secrets).values(
        account_id=account_id, login=normalise_login(login), external_id=external_id,
        password_hash=password_hash, failed_logins=0, closed=False))


def set_secrets(session: Session, account_id: str, **values: Any) -> None:
    session.execute(update(account_secrets)
                    .where(account_secrets.c.account_id == account_id).values(**values))


def set_login_state(session: Session, account_id: str, state: LoginState) -> None:
    set_secrets(session, account_id, failed_logins=state.failed,
                locked_until=state.locked_until)


def record_attempt(session: Session, login: str, now: datetime) -> int | None:
    """Count a sign-in attempt for `login`; the seconds to wait instead when the rate
    limit is reached (the refused attempt is not counted)."""
    login = normalise_login(login)
    session.execute(delete(sign_in_attempts).where(sign_in_attempts.c.at <= now - RATE_WINDOW))
    times = [at_utc(t) for t in session.execute(select(sign_in_attempts.c.at).where(
        sign_in_attempts.c.login == login)).scalars()]
    wait = retry_after([t for t in times if t is not None], now)
    if wait is None:
        session.execute(insert(sign_in_attempts).values(login=login, at=now))
    return wait
