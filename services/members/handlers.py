"""Members' commands: for each, what it reads from the log and which rule decides it.

Registered on `registry`; the pipeline (`chibo.commands`) checks the body, runs the
function in the command's transaction, appends what it returns and answers. The rules
themselves are pure and live in domain.py and roster.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chibo.access import AUTHENTICATED, Access, Identity, Scope
from chibo.commands import Decision, Handlers
from chibo.contracts import Command
from chibo.errors import ChiboError, DomainRuleViolated, Forbidden, NotFound, ValidationFailed
from chibo.eventstore.store import EventStore, NewEvent, StreamAppend
from services.members import accounts, commands, domain, read_model, roster, state
from services.shared.access_roles import MANAGE_ACCESS, MANAGE_ORGANISATION
from services.shared.tree import UnitKinds


@dataclass(frozen=True)
class Deps:
    """What members' handlers need from outside the log."""

    today: date
    #: The unit kinds the service's config names (`UNIT_KINDS`).
    kinds: UnitKinds
    #: The verified caller (None: anonymous), for commands about one's own account.
    identity: Identity | None = None
    #: The instant by the service's clock (a second factor's code is checked against it).
    now: datetime | None = None
    #: Passwords the entrypoint took out of the body ("password", "old_password").
    secrets: Mapping[str, Any] = field(default_factory=dict)


registry = Handlers()
command = registry.command

UNIT = ("unit_id",)
MEMBER = ("member_id",)
ACCOUNT = ("account_id",)

#: The tree: the unit a command names (a new unit: its parent).
ON_UNIT = Access(MANAGE_ORGANISATION, Scope("unit_id", "unit"))
ON_PARENT = Access(MANAGE_ORGANISATION, Scope("parent_id", "unit"))
ON_SUCCESSOR = Access(MANAGE_ORGANISATION, Scope("successor_id", "unit"))
ON_CELL = Access(MANAGE_ORGANISATION, Scope("cell_id", "cell"))
ON_MEMBER = Access(MANAGE_ORGANISATION, Scope("member_id", "member"))
WHOLE_TREE = Access(MANAGE_ORGANISATION)
#: Accounts: the unit of the grant; an existing account, where its grants and member sit.
GRANTING = Access(MANAGE_ACCESS, Scope("unit_id", "unit"))
ON_ACCOUNT = Access(MANAGE_ACCESS, Scope("account_id", "account"))
OPENING = Access(MANAGE_ACCESS)


# -- the tree -----------------------------------------------------------------------

@command(commands.EstablishUnit(), answer=UNIT, access=ON_PARENT,
         summary="Thành lập tổ chức (establish a unit)")
def establish_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    tree = state.tree(store, deps.kinds, [c["unit_id"], c.get("parent_id")])
    return domain.establish_unit(tree, c)


@command(commands.RenameUnit(), answer=UNIT, access=ON_UNIT,
         summary="Đổi tên (rename a unit)")
def rename_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.rename_unit(state.tree(store, deps.kinds, [c["unit_id"]]),
                              state.version(store, domain.unit_stream(c["unit_id"])), c)


@command(commands.MoveUnit(), answer=UNIT, access=ON_UNIT,
         summary="Chuyển trực thuộc, cả cây con (move a subtree)")
def move_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.move_unit(state.tree(store, deps.kinds),
                            state.version(store, domain.unit_stream(c["unit_id"])), c)


@command(commands.DissolveUnit(), answer=UNIT, access=ON_UNIT,
         summary="Giải thể (dissolve a unit)")
def dissolve_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    members = [m for _, m in state.members_of(store, [c["unit_id"]]).values()]
    return domain.dissolve_unit(state.tree(store, deps.kinds),
                                state.version(store, domain.unit_stream(c["unit_id"])), c,
                                members)


@command(commands.MergeUnits(), access=ON_SUCCESSOR,
         summary="Hợp nhất (merge units into a successor)")
def merge_units(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.merge_units(state.tree(store, deps.kinds), state.unit_versions(store), c,
                              state.members_of(store, c["merged_ids"]))


@command(commands.SplitUnit(), answer=UNIT, access=ON_UNIT,
         summary="Chia tách (split a unit)")
def split_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.split_unit(state.tree(store, deps.kinds), state.unit_versions(store), c,
                             state.members_of(store, [c["unit_id"]]))


# -- members ------------------------------------------------------------------------

@command(commands.AdmitMember(), answer=MEMBER, access=ON_CELL,
         summary="Kết nạp đảng viên (admit, probationary)")
def admit_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    if c.get("member_code") and read_model.member_ids_by_code(store.session,
                                                              [c["member_code"]]):
        raise ValidationFailed({"member_code": ["Another member has this code."]})
    _, member = state.member(store, c["member_id"])
    return domain.admit_member(state.tree(store, deps.kinds, [c["cell_id"]]), member, c, deps.today)


@command(commands.ConfirmMember(), answer=MEMBER, access=ON_MEMBER,
         summary="Công nhận chính thức (confirm as full)")
def confirm_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.confirm_member(member, version, c, deps.today)


@command(commands.TransferMember(), answer=MEMBER, access=ON_MEMBER,
         summary="Chuyển sinh hoạt chính thức (transfer)")
def transfer_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    tree = state.tree(store, deps.kinds, [c.get("to_cell_id")])
    return domain.transfer_member(tree, member, version, c, deps.today)


@command(commands.TransferTemporarily(), answer=MEMBER, access=ON_MEMBER,
         summary="Chuyển sinh hoạt tạm thời (temporary transfer, 3 months–2 years)")
def transfer_temporarily(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.transfer_temporarily(state.tree(store, deps.kinds, [c.get("to_cell_id")]), member,
                                       version, c)


@command(commands.ExemptMember(), answer=MEMBER, access=ON_MEMBER,
         summary="Miễn sinh hoạt (exempt from meetings)")
def exempt_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.exempt_member(member, version, c)


@command(commands.MarkWorkingAway(), answer=MEMBER, access=ON_MEMBER,
         summary="Đi làm ăn xa (working away)")
def mark_working_away(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.mark_working_away(member, version, c)


@command(commands.RecordReturn(), answer=MEMBER, access=ON_MEMBER,
         summary="Trở lại sinh hoạt (return)")
def record_return(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.record_return(member, version, c)


@command(commands.RemoveMember(), answer=MEMBER, access=ON_MEMBER,
         summary="Xóa tên, khai trừ, từ trần, chuyển đi (remove from the rolls)")
def remove_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.remove_member(member, version, c, deps.today)


@command(commands.RateMember(), answer=MEMBER, access=ON_MEMBER,
         summary="Xếp loại hằng năm (annual rating)")
def rate_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.rate_member(member, version, c, deps.today)


# -- cell roles ---------------------------------------------------------------------

@command(commands.AssignRole(), answer=MEMBER, access=ON_CELL,
         summary="Phân công chức danh chi bộ (assign a cell role)")
def assign_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    history = store.read_stream(domain.roles_stream(c["cell_id"]))
    _, member = state.member(store, c["member_id"])
    return domain.assign_role(state.tree(store, deps.kinds, [c["cell_id"]]), member, history,
                              len(history), c)


@command(commands.EndRole(), answer=MEMBER, access=ON_CELL,
         summary="Kết thúc nhiệm kỳ chức danh (end a cell role)")
def end_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    history = store.read_stream(domain.roles_stream(c["cell_id"]))
    return domain.end_role(history, len(history), c)


# -- roster import ------------------------------------------------------------------

@command(commands.ImportBatch(), name="import_rows", http=False, status=200, access=WHOLE_TREE,
         summary="Nhập danh sách (import roster rows)")
def import_rows(store: EventStore, c: Command, deps: Deps) -> Decision:
    """Apply a batch of roster rows; a row that breaks a rule is reported, not applied.
    Answers counts (`events` is how many were appended) and the rejected rows."""
    rows: list[dict[str, Any]] = c["rows"]
    counts = {"admitted": 0, "changed": 0, "unchanged": 0}
    rejected: list[dict[str, Any]] = []
    tree = state.tree(store, deps.kinds, sorted({r["cell_code"] for r in rows}))
    known = read_model.member_ids_by_code(store.session, [r["member_code"] for r in rows])
    current = state.members(store, list(known.values()))
    appends: list[StreamAppend] = []
    for row in rows:
        try:
            outcome, planned = roster.plan_row(
                tree, current.get(known.get(row["member_code"], "")), row, deps.today)
        except ChiboError as exc:
            rejected.append({"line": row["line"], "member_code": row["member_code"],
                             "reason": roster.reason_of(exc)})
            continue
        counts[outcome] += 1
        appends.extend(planned)
    appended = sum(len(a.events) for a in appends)
    return Decision(appends, {**counts, "events": appended, "rejected": rejected})


# -- accounts -----------------------------------------------------------------------

def _account(store: EventStore, account_id: str) -> tuple[int, accounts.Account]:
    history = store.read_stream(accounts.account_stream(account_id))
    account = accounts.fold(history).get(account_id)
    if account is None:
        raise NotFound(f"Không có tài khoản {account_id} (no such account).")
    if account.closed:
        raise DomainRuleViolated(f"Tài khoản {account_id} đã đóng (the account is closed).")
    return len(history), account


def _own_account(store: EventStore, deps: Deps) -> tuple[int, accounts.Account]:
    identity = deps.identity
    if identity is None or identity.kind != "user":
        raise Forbidden("Chỉ tài khoản người dùng mới đổi được (only a person's account can "
                        "change its own sign-in).")
    return _account(store, identity.account_id)


@command(commands.OpenAccount(), answer=ACCOUNT, http=False, access=OPENING,
         summary="Mở tài khoản (open an account, with its first password)")
def open_account(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    password = accounts.check_password(deps.secrets.get("password"))
    login = accounts.normalise_login(c["login"])
    if accounts.login_taken(store.session, login):
        raise ValidationFailed({"login": ["Tên đăng nhập đã có (this login is taken)."]})
    if c.get("member_id") and state.member(store, c["member_id"])[1] is None:
        raise ValidationFailed({"member_id": ["Không có đảng viên này (no such member)."]})
    stream = accounts.account_stream(c["account_id"])
    if store.read_stream(stream):
        raise DomainRuleViolated(f"Tài khoản {c['account_id']} đã có (the account exists).")
    accounts.add_secrets(store.session, c["account_id"], login, accounts.hash_password(password))
    return [StreamAppend(stream, 0, [
        NewEvent("account_opened", {"account_id": c["account_id"], "login": login,
                                    "display_name": c["display_name"],
                                    "member_id": c.get("member_id"), "external_id": None}),
        NewEvent("password_changed", {"account_id": c["account_id"], "reset_by_admin": True}),
    ])]


@command(commands.ResetPassword(), answer=ACCOUNT, http=False, access=ON_ACCOUNT,
         summary="Đặt lại mật khẩu (an administrator sets a new password)")
def reset_password(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    password = accounts.check_password(deps.secrets.get("password"))
    version, account = _account(store, c["account_id"])
    accounts.set_secrets(store.session, account.account_id,
                         password_hash=accounts.hash_password(password), failed_logins=0,
                         locked_until=None)
    return domain_one(account.account_id, version, "password_changed",
                      {"account_id": account.account_id, "reset_by_admin": True})


@command(commands.ChangePassword(), http=False, access=AUTHENTICATED,
         summary="Đổi mật khẩu của mình (change one's own password: old and new)")
def change_password(store: EventStore, c: Command, deps: Deps) -> Decision:
    version, account = _own_account(store, deps)
    new = accounts.check_password(deps.secrets.get("new_password"), "new_password")
    found = accounts.secrets_of(store.session, account.account_id)
    old = deps.secrets.get("old_password")
    if found is None or not isinstance(old, str) or \
            not accounts.password_matches(found.password_hash, old):
        raise ValidationFailed({"old_password": ["Mật khẩu hiện tại không đúng (the current "
                                                 "password is wrong)."]})
    if new == old:
        raise ValidationFailed({"new_password": ["Mật khẩu mới phải khác mật khẩu cũ (the new "
                                                 "password must differ from the old one)."]})
    accounts.set_secrets(store.session, account.account_id,
                         password_hash=accounts.hash_password(new))
    return Decision(domain_one(account.account_id, version, "password_changed", {
        "account_id": account.account_id, "reset_by_admin": False}),
        {"account_id": account.account_id})


@command(commands.GrantRole(), answer=ACCOUNT, access=GRANTING,
         summary="Giao vai trò trên một tổ chức (grant a role on a unit's subtree)")
def grant_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, account = _account(store, c["account_id"])
    if c.get("unit_id") and not state.tree(store, deps.kinds, [c["unit_id"]]).exists(
            c["unit_id"]):
        raise ValidationFailed({"unit_id": ["Không có tổ chức này (no such unit)."]})
    until = c.get("valid_until")
    if until is not None and until < c["valid_from"]:
        raise ValidationFailed({"valid_until": ["Ngày kết thúc trước ngày bắt đầu (ends before "
                                                "it starts)."]})
    if any(g.role == c["role"] and g.unit_id == c.get("unit_id") and
           (g.valid_until is None or g.valid_until >= c["valid_from"]) and
           (until is None or g.valid_from is None or g.valid_from <= until)
           for g in account.grants):
        raise DomainRuleViolated("Tài khoản đã có vai trò này trong thời gian đó (the account "
                                 "already holds this role then).")
    return domain_one(account.account_id, version, "role_granted", {
        "account_id": account.account_id, "role": c["role"], "unit_id": c.get("unit_id"),
        "valid_from": c["valid_from"], "valid_until": until})


@command(commands.RevokeRole(), answer=ACCOUNT, access=GRANTING,
         summary="Thu hồi vai trò (revoke a role from a date)")
def revoke_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, account = _account(store, c["account_id"])
    if accounts.revoke(account.grants, c["role"], c.get("unit_id"), c["on"]) == \
            list(account.grants):
        raise DomainRuleViolated("Tài khoản không có vai trò này vào ngày đó (the account does "
                                 "not hold this role then).")
    return domain_one(account.account_id, version, "role_revoked", {
        "account_id": account.account_id, "role": c["role"], "unit_id": c.get("unit_id"),
        "on": c["on"]})


@command(commands.CloseAccount(), answer=ACCOUNT, access=ON_ACCOUNT,
         summary="Đóng tài khoản (close an account)")
def close_account(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, account = _account(store, c["account_id"])
    accounts.set_secrets(store.session, account.account_id, closed=True)
    return domain_one(account.account_id, version, "account_closed",
                      {"account_id": account.account_id})


@command(commands.ConfirmSecondFactor(), access=AUTHENTICATED,
         summary="Bật xác thực hai lớp bằng mã đầu tiên (turn on the second factor)")
def confirm_second_factor(store: EventStore, c: Command, deps: Deps) -> Decision:
    version, account = _own_account(store, deps)
    found = accounts.secrets_of(store.session, account.account_id)
    pending = found.totp_pending if found else None
    if pending is None:
        raise DomainRuleViolated("Chưa đăng ký ứng dụng xác thực (enrol first: POST "
                                 "/members/auth/second-factor).")
    assert deps.now is not None  # the entrypoint gives the service's clock
    if not accounts.totp_matches(pending, c["code"], deps.now):
        raise ValidationFailed({"code": ["Mã không đúng (wrong code)."]})
    accounts.set_secrets(store.session, account.account_id, totp_secret=pending,
                         totp_pending=None)
    return Decision(domain_one(account.account_id, version, "second_factor_enabled",
                               {"account_id": account.account_id}),
                    {"account_id": account.account_id, "second_factor": True})


@command(commands.DisableSecondFactor(), answer=ACCOUNT, access=ON_ACCOUNT,
         summary="Tắt xác thực hai lớp (an administrator turns the second factor off)")
def disable_second_factor(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, account = _account(store, c["account_id"])
    if not account.second_factor:
        raise DomainRuleViolated("Xác thực hai lớp chưa bật (the second factor is off).")
    accounts.set_secrets(store.session, account.account_id, totp_secret=None,
                         totp_pending=None)
    return domain_one(account.account_id, version, "second_factor_disabled",
                      {"account_id": account.account_id})


def domain_one(account_id: str, version: int, event_type: str, data: dict[str, Any]
               ) -> list[StreamAppend]:
    return [StreamAppend(accounts.account_stream(account_id), version,
                         [NewEvent(event_type, data)])]
