"""The members service: entrypoints only. Commands are registered in handlers.py (their
RPC methods and `POST /members/commands/<name>` come from `ServesCommands`); rules live
in domain.py, roster.py and services/shared; answers are shaped in views.py."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from nameko.dependency_providers import Config
from nameko.timer import timer
from sqlalchemy.orm import Session

from chibo.access import AUTHENTICATED, PUBLIC, Access, Grant, Identity, Scope
from chibo.access.secret import auth_settings
from chibo.errors import ChiboError, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, NewEvent
from chibo.nameko.access import Caller, access
from chibo.nameko.commands import Commands, ServesCommands, command_rpc
from chibo.nameko.providers import (
    ClockProvider,
    Database,
    EventSource,
    EventSourcing,
    LoadedSettings,
    OutboxRelay,
)
from chibo.nameko.resilience import rpc
from chibo.nameko.web import http, read_json
from services.members import accounts, api, domain, handlers, read_model, state, views
from services.members import commands as command_schemas
from services.shared.access_roles import (
    MANAGE_ACCESS,
    MANAGE_ORGANISATION,
    OPERATE,
    READ_PERSONAL_DETAILS,
    ROLE_LABELS,
    ROLES,
    VIEW_PERSONAL,
    VIEW_REPORTS,
)
from services.shared.events.members import (
    PERSONAL_DATA_FIELDS,
    PERSONAL_DATA_PURPOSES,
    catalogue,
)
from services.shared.membership import add_months, roll
from services.shared.tree import default_kinds

REPORTS_OF_UNIT = Access(VIEW_REPORTS, Scope("unit_id", "unit"))
PERSONAL_OF_CELL = Access(VIEW_PERSONAL, Scope("cell_id", "cell"))
PERSONAL_OF_MEMBER = Access(VIEW_PERSONAL, Scope("member_id", "member"))
PERSONAL_DETAILS_OF_MEMBER = Access(READ_PERSONAL_DETAILS, Scope("member_id", "member"))
#: How long a `route` a read may name (the page or HTTP route it was made through).
ROUTE_LENGTH = 300


def _path(tree: Any, unit_id: str | None, today: date) -> list[str] | None:
    if unit_id is None:
        roots = sorted(v.unit_id for v in tree.as_of(today).values() if v.parent_id is None)
        return roots[:1]
    path = [v.unit_id for v in tree.path(unit_id, today)]
    return path or None


def _common(paths: Sequence[Sequence[str]]) -> list[str]:
    out: list[str] = []
    for level in zip(*paths, strict=False):
        if any(step != level[0] for step in level):
            break
        out.append(level[0])
    return out


def locate(session: Session, kind: str, value: str | None, today: date) -> list[str] | None:
    """Where a unit, cell, member or account sits in the tree as it stands today.

    A member: the cell they belong to today (or last belonged to). An account: the
    deepest unit covering all its grants and its linked member's cell, so only a manager
    over all of them can change it (an account with a whole-tree grant: the root)."""
    store = EventStore(session, catalogue)
    tree = state.tree(store, default_kinds())
    if kind in ("unit", "cell") or value is None:
        return _path(tree, value, today)
    if kind == "member":
        _, member = state.member(store, value)
        cell = (member.cell_on(today) or member.current_cell()) if member else None
        return _path(tree, cell, today) if cell else None
    if kind == "account":
        account = accounts.fold(store.read_stream(accounts.account_stream(value))).get(value)
        if account is None:
            return None
        units: list[str | None] = [g.unit_id for g in account.grants]
        if account.member_id:
            _, member = state.member(store, account.member_id)
            units.append(member.current_cell() if member else None)
        paths = []
        for unit_id in units:
            path = _path(tree, unit_id, today)
            paths.append(path if path else _path(tree, None, today) or [])
        return _common(paths) if paths else _path(tree, None, today)
    return None


class MembersService(EventSource, ServesCommands, openapi=api.openapi):
    name = "members"

    db = Database(read_model.metadata)
    events = EventSourcing(catalogue)
    commands = Commands(handlers.registry, index=read_model.index)
    clock = ClockProvider()
    caller = Caller(ROLES, locate=locate)  # who calls, and what their roles let them do
    relay = OutboxRelay()
    shared = LoadedSettings(command_schemas.configured)  # unit kinds, score sheets
    config = Config()  # AUTH (lifetimes, lockout) and OIDC (group roles)

    def command_deps(self, **secrets_: Any) -> handlers.Deps:
        return handlers.Deps(today=self._today(), kinds=self.shared.kinds,
                             identity=self.caller.identity, now=self.clock.now(),
                             secrets=secrets_)

    def _today(self) -> date:
        return self.clock.now().date()

    # -- the clock --------------------------------------------------------------------

    @timer(interval=3600, eager=True)
    @rpc
    @access(Access(OPERATE))
    def issue_confirmation_reminders(self) -> int:
        """Probationary members whose 12 months are up get a reminder event, once."""
        today = self._today()
        with self.events.unit_of_work() as store:
            ids = read_model.unconfirmed_member_ids(store.session, add_months(today, -12))
            recorded = store.append_many(domain.confirmation_reminders(
                state.members(store, ids), today))
            read_model.index(store.session, recorded)
        return len(recorded)

    # -- questions ------------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    @access(Access(VIEW_REPORTS, Scope("unit")))
    def tree(self, on: str | None = None, unit: str | None = None) -> dict[str, Any]:
        """The whole tree, or with `unit` the subtree a committee's staff may see."""
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            tree = state.tree(store, self.shared.kinds)
        return views.tree_view(tree, day, unit or None)

    @rpc(expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def unit(self, unit_id: str, on: str | None = None) -> dict[str, Any]:
        today = self._today()
        day = views.day_asked(on, today)
        with self.events.unit_of_work() as store:
            tree = state.tree(store, self.shared.kinds)
        return views.unit_view(tree, unit_id, day, today)

    @rpc(expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)
    def attendance_roll(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            members = [m for _, m in state.members_of(store, [cell_id]).values()]
        return {"cell_id": cell_id, "on": day.isoformat(), **roll(members, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)
    def cell_roles(self, cell_id: str, on: str | None = None) -> dict[str, Any]:
        day = views.day_asked(on, self._today())
        with self.events.unit_of_work() as store:
            history = store.read_stream(domain.roles_stream(cell_id))
            members = [m for _, m in state.members_of(store, [cell_id]).values()]
        return {"roles": domain.active_roles(history, day),
                **domain.committee_flag(members, history, cell_id, day)}

    @rpc(expected_exceptions=ChiboError)
    @access(PERSONAL_OF_MEMBER)
    def member(self, member_id: str) -> dict[str, Any]:
        with self.events.unit_of_work() as store:
            version, member = state.member(store, member_id)
        return views.member_view(member_id, member, version, self._today())

    @rpc(expected_exceptions=ChiboError)
    @access(PERSONAL_DETAILS_OF_MEMBER)
    def personal_data(self, member_id: str, purpose: str | None = None,
                      route: str | None = None) -> dict[str, Any]:
        """The member's birth date and identity number, read for `purpose` (one of
        PERSONAL_DATA_PURPOSES) through `route` (the page or route that asked, if any).

        The read is recorded as `personal_data_read` (the reader is its actor) in the
        same transaction that reads the values: if the record cannot be written, nothing
        is answered."""
        if purpose not in PERSONAL_DATA_PURPOSES:
            raise ValidationFailed({"purpose": [
                "Cần nêu mục đích xem thông tin cá nhân (state why the personal details "
                f"are read): one of {', '.join(PERSONAL_DATA_PURPOSES)}."]})
        if route is not None and (not isinstance(route, str) or len(route) > ROUTE_LENGTH):
            raise ValidationFailed({"route": [
                f"Expected the path of a page or route, at most {ROUTE_LENGTH} characters."]})
        with self.events.unit_of_work() as store:
            _, member = state.member(store, member_id)
            if member is None or not member.admitted:
                raise NotFound(f"Không có đảng viên {member_id} (no such member).",
                               member_id=member_id)
            details = state.personal_data(store, member_id)
            [read] = store.append(state.personal_reads_stream(member_id), None, [
                NewEvent("personal_data_read", {
                    "member_id": member_id, "fields": list(PERSONAL_DATA_FIELDS),
                    "purpose": purpose, "route": route or None})])
            answer = {"member_id": member_id, "full_name": member.full_name,
                      **details, "purpose": purpose,
                      "read": {"event_id": read.event_id, "recorded_at": read.recorded_at}}
        return answer

    # -- HTTP -----------------------------------------------------------------------

    @http("POST", "/members/import-batches", expected_exceptions=ChiboError)
    @access(Access(MANAGE_ORGANISATION))
    def import_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        return self.commands.respond("import_rows", read_json(request), self.command_deps())

    @http("GET", "/members/tree", expected_exceptions=ChiboError)
    @access(Access(VIEW_REPORTS, Scope("unit")))
    def tree_http(self, request: Any) -> dict[str, Any]:
        return self.tree(request.args.get("on"), request.args.get("unit"))

    @http("GET", "/members/units/<unit_id>", expected_exceptions=ChiboError)
    @access(REPORTS_OF_UNIT)
    def unit_http(self, request: Any, unit_id: str) -> dict[str, Any]:
        return self.unit(unit_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roll", expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)
    def roll_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.attendance_roll(cell_id, request.args.get("on"))

    @http("GET", "/members/cells/<cell_id>/roles", expected_exceptions=ChiboError)
    @access(PERSONAL_OF_CELL)
    def roles_http(self, request: Any, cell_id: str) -> dict[str, Any]:
        return self.cell_roles(cell_id, request.args.get("on"))

    @http("GET", "/members/members/<member_id>", expected_exceptions=ChiboError)
    @access(PERSONAL_OF_MEMBER)
    def member_http(self, request: Any, member_id: str) -> dict[str, Any]:
        return self.member(member_id)

    @http("GET", "/members/members/<member_id>/personal", expected_exceptions=ChiboError)
    @access(PERSONAL_DETAILS_OF_MEMBER)
    def personal_data_http(self, request: Any, member_id: str
                           ) -> tuple[int, dict[str, str], dict[str, Any]]:
        """`?purpose=`: see `personal_data`; the answer is never to be kept by a cache."""
        answer = self.personal_data(member_id, request.args.get("purpose"), route=request.path)
        return 200, {"Cache-Control": "no-store"}, answer

    # -- accounts -------------------------------------------------------------------

    @command_rpc(expected_exceptions=ChiboError)
    @access(handlers.OPENING)
    def open_account(self, payload: dict[str, Any]) -> dict[str, Any]:
        """open_account: the body's `password` travels beside the command, never in it."""
        body, password = _without(payload, "password")
        return self.commands.handle("open_account", body, self.command_deps(password=password))

    @command_rpc(expected_exceptions=ChiboError)
    @access(Access(MANAGE_ACCESS))
    def reset_password(self, payload: dict[str, Any]) -> dict[str, Any]:
        body, password = _without(payload, "password")
        return self.commands.handle("reset_password", body,
                                    self.command_deps(password=password))

    @command_rpc(expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def change_password(self, payload: dict[str, Any]) -> dict[str, Any]:
        body, old = _without(payload, "old_password")
        body, new = _without(body, "new_password")
        return self.commands.handle("change_password", body,
                                    self.command_deps(old_password=old, new_password=new))

    @http("POST", "/members/accounts", expected_exceptions=ChiboError)
    @access(handlers.OPENING)
    def open_account_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        body, password = _without(read_json(request), "password")
        return self.commands.respond("open_account", body, self.command_deps(password=password))

    @http("POST", "/members/accounts/<account_id>/password", expected_exceptions=ChiboError)
    @access(handlers.ON_ACCOUNT)
    def reset_password_http(self, request: Any, account_id: str
                            ) -> tuple[int, dict[str, str], dict[str, Any]]:
        body, password = _without(read_json(request), "password")
        return self.commands.respond("reset_password", {**body, "account_id": account_id},
                                     self.command_deps(password=password))

    @http("POST", "/members/auth/password", expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def change_password_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        body, old = _without(read_json(request), "old_password")
        body, new = _without(body, "new_password")
        return self.commands.respond("change_password", body,
                                     self.command_deps(old_password=old, new_password=new))

    @rpc(expected_exceptions=ChiboError)
    @access(Access(MANAGE_ACCESS))
    def account(self, account_id: str) -> dict[str, Any]:
        """An account as administrators see it (no secrets)."""
        with self.events.unit_of_work() as store:
            found = accounts.fold(store.read_stream(accounts.account_stream(account_id)))
            row = accounts.secrets_of(store.session, account_id)
        account = found.get(account_id)
        if account is None:
            raise NotFound(f"Không có tài khoản {account_id} (no such account).")
        now = self.clock.now()
        return {"account_id": account.account_id, "login": account.login,
                "display_name": account.display_name, "member_id": account.member_id,
                "external_id": account.external_id, "closed": account.closed,
                "second_factor": account.second_factor,
                "grants": [g.as_list() for g in account.grants],
                "locked_until": (row.state.locked_until.isoformat()
                                 if row and row.state.locked(now) and row.state.locked_until
                                 else None)}

    @http("GET", "/members/accounts/<account_id>", expected_exceptions=ChiboError)
    @access(Access(MANAGE_ACCESS))
    def account_http(self, request: Any, account_id: str) -> dict[str, Any]:
        return self.account(account_id)

    @rpc(expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def enrol_second_factor(self) -> dict[str, Any]:
        """A new TOTP secret for the signed-in account, as an otpauth:// URI for an
        authenticator app, shown this once; `confirm_second_factor` with its first code
        turns it on."""
        identity = self.caller.identity
        if identity is None or identity.kind != "user":
            raise ValidationFailed({"account": ["Chỉ tài khoản người dùng (a person's "
                                                "account only)."]})
        secret = accounts.new_totp_secret()
        with self.db.transaction() as session:
            row = accounts.secrets_of(session, identity.account_id)
            if row is None or row.closed:
                raise NotFound("Không có tài khoản (no such account).")
            accounts.set_secrets(session, identity.account_id, totp_pending=secret)
        return {"account_id": identity.account_id,
                "provisioning_uri": accounts.provisioning_uri(secret, row.login)}

    @http("POST", "/members/auth/second-factor", expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def enrol_second_factor_http(self, request: Any) -> tuple[int, dict[str, Any]]:
        return 201, self.enrol_second_factor()

    # -- signing in -----------------------------------------------------------------

    @rpc(expected_exceptions=ChiboError)
    @access(PUBLIC)
    def authenticate(self, login: str, password: str, totp: str | None = None,
                     purpose: str = "session") -> dict[str, Any]:
        """A signed token for the account, or one generic 401 (`login_failed`); see
        docs/members.md for the lockout, the rate limit and the second factor."""
        if purpose not in ("session", "api"):
            raise ValidationFailed({"purpose": ["Must be one of: session, api."]})
        settings = auth_settings(self.config)
        now = self.clock.now()
        outcome: ChiboError | None = None
        row: accounts.Secrets | None = None
        with self.db.transaction() as session:
            wait = accounts.record_attempt(session, str(login or ""), now)
            if wait is not None:
                outcome = accounts.TooManySignIns(
                    f"Quá nhiều lần đăng nhập; thử lại sau {wait} giây (too many sign-in "
                    f"attempts: try again in {wait} seconds).", retry_after=wait)
            else:
                row = accounts.secrets_by_login(session, str(login or ""))
                outcome = self._check(session, row, str(password or ""), totp, settings)
        if outcome is not None:
            raise outcome
        assert row is not None  # no outcome: the password matched
        method = "password+totp" if row.totp_secret else "password"
        return self._signed(row.account_id, method, purpose, settings)

    def _check(self, session: Session, row: accounts.Secrets | None, password: str,
               totp: str | None, settings: Any) -> ChiboError | None:
        """None when the password (and code) are right; else the error to answer, with
        the failure counted in the same transaction."""
        now = self.clock.now()
        matches = accounts.password_matches(row.password_hash if row else None, password)
        if row is None or row.closed or row.password_hash is None:
            return accounts.LoginFailed()
        if row.state.locked(now):
            assert row.state.locked_until is not None
            return _locked(row.state.locked_until)
        if matches and row.totp_secret and not totp:
            return accounts.SecondFactorRequired(
                "Cần mã xác thực hai lớp (enter the code from your authenticator app).")
        if matches and (not row.totp_secret or
                        accounts.totp_matches(row.totp_secret, totp, now)):
            accounts.set_login_state(session, row.account_id, accounts.after_success())
            if accounts.hasher.check_needs_rehash(row.password_hash):
                accounts.set_secrets(session, row.account_id,
                                     password_hash=accounts.hash_password(password))
            return None
        after = accounts.after_failure(row.state, int(settings.get("max_failed_logins") or 5),
                                       now, timedelta(minutes=int(
                                           settings.get("lockout_minutes") or 15)))
        accounts.set_login_state(session, row.account_id, after)
        if after.locked(now):
            assert after.locked_until is not None
            return _locked(after.locked_until)
        return accounts.LoginFailed()

    def _signed(self, account_id: str, method: str, purpose: str, settings: Any,
                extra: Sequence[Grant] = ()) -> dict[str, Any]:
        today = self._today()
        with self.events.unit_of_work() as store:
            account = accounts.fold(store.read_stream(
                accounts.account_stream(account_id))).get(account_id)
            derived = list(extra) + self._secretary_grants(
                store, account.member_id if account else None, today)
        grants = accounts.token_grants(account, derived, today)
        identity = Identity(account_id, account.display_name if account else account_id,
                            grants, method=method)
        now = self.clock.now()
        if purpose == "session":
            lifetime = int(settings.get("session_hours") or 8) * 3600
            csrf: str | None = secrets.token_urlsafe(24)
        else:
            lifetime = int(settings.get("token_minutes") or 60) * 60
            csrf = None
        token = self.caller.signer.issue(identity, now, lifetime, csrf=csrf)
        return {"token": token, "csrf": csrf,
                "expires_at": (now + timedelta(seconds=lifetime)).isoformat(),
                "identity": {"account_id": account_id, "name": identity.name,
                             "grants": [g.as_list() for g in grants]}}

    def _secretary_grants(self, store: EventStore, member_id: str | None, today: date
                          ) -> list[Grant]:
        if not member_id:
            return []
        cell_ids = read_model.cells_of_member(store.session, member_id)
        roles = {cell: domain.active_roles(store.read_stream(domain.roles_stream(cell)), today)
                 for cell in cell_ids}
        return accounts.derived_secretary_grants(member_id, roles)

    @rpc(expected_exceptions=ChiboError)
    @access(Access(MANAGE_ACCESS))
    def sign_in_external(self, issuer: str, subject: str, name: str, email: str | None,
                         groups: list[str]) -> dict[str, Any]:
        """The account linked to an identity provider's user (opened on first sign-in),
        with grants mapped from its groups by `OIDC.group_roles`; answers as
        `authenticate` does for a browser session."""
        external_id = f"{issuer}|{subject}"
        with self.events.unit_of_work() as store:
            row = accounts.secrets_by_external_id(store.session, external_id)
            if row is None:
                account_id = "oidc-" + secrets.token_hex(8)
                login = accounts.normalise_login(email or subject)
                if not login or accounts.login_taken(store.session, login):
                    login = accounts.normalise_login(f"{subject}@{account_id}")[:100]
                accounts.add_secrets(store.session, account_id, login, None, external_id)
                store.append(accounts.account_stream(account_id), 0, [
                    NewEvent("account_opened", {
                        "account_id": account_id, "login": login,
                        "display_name": (name or email or subject)[:200], "member_id": None,
                        "external_id": external_id})])
            elif row.closed:
                raise accounts.LoginFailed()
            else:
                account_id = row.account_id
        mapping = (self.config.get("OIDC") or {}).get("group_roles") or {}
        return self._signed(account_id, "oidc", "session",
                            auth_settings(self.config),
                            accounts.group_grants(groups, mapping))

    @http("POST", "/members/auth/token", expected_exceptions=ChiboError)
    @access(PUBLIC)
    def token_http(self, request: Any) -> tuple[int, dict[str, str], dict[str, Any]]:
        body = read_json(request)
        try:
            answer = self.authenticate(body.get("login"), body.get("password"),
                                       body.get("totp"), purpose="api")
        except accounts.TooManySignIns as refused:
            return 429, {"Retry-After": str(refused.details["retry_after"])}, refused.to_dict()
        return 201, {}, answer

    @http("GET", "/members/auth/me", expected_exceptions=ChiboError)
    @access(AUTHENTICATED)
    def me_http(self, request: Any) -> dict[str, Any]:
        identity = self.caller.identity
        assert identity is not None  # AUTHENTICATED
        today = self._today()
        return {"account_id": identity.account_id, "name": identity.name,
                "kind": identity.kind, "method": identity.method,
                "grants": [g.as_list() for g in identity.grants],
                "roles": sorted({g.role for g in identity.grants_on(today)}),
                "role_labels": {g.role: ROLE_LABELS.get(g.role, g.role)
                                for g in identity.grants_on(today)}}


def _without(payload: Any, name: str) -> tuple[Any, Any]:
    """The body without the secret `name`, and the secret."""
    if not isinstance(payload, dict):
        return payload, None
    body = dict(payload)
    return body, body.pop(name, None)


def _locked(until: Any) -> accounts.AccountLocked:
    return accounts.AccountLocked(
        f"Tài khoản tạm khóa đến {until.strftime('%H:%M %d/%m/%Y')} UTC vì đăng nhập sai "
        f"nhiều lần (the account is locked until {until.isoformat()} after repeated failed "
        "sign-ins).", locked_until=until.isoformat())
