"""Members' commands: for each, what it reads from the log and which rule decides it.

Registered on `registry`; the pipeline (`chibo.commands`) checks the body, runs the
function in the command's transaction, appends what it returns and answers. The rules
themselves are pure and live in domain.py and roster.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from chibo.commands import Decision, Handlers
from chibo.contracts import Command
from chibo.errors import ChiboError, ValidationFailed
from chibo.eventstore.store import EventStore, StreamAppend
from services.members import commands, domain, read_model, roster, state
from services.shared.tree import UnitKinds


@dataclass(frozen=True)
class Deps:
    """What members' handlers need from outside the log."""

    today: date
    #: The unit kinds the service's config names (`UNIT_KINDS`).
    kinds: UnitKinds


registry = Handlers()
command = registry.command

UNIT = ("unit_id",)
MEMBER = ("member_id",)


# -- the tree -----------------------------------------------------------------------

@command(commands.EstablishUnit(), answer=UNIT, summary="Thành lập tổ chức (establish a unit)")
def establish_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    tree = state.tree(store, deps.kinds, [c["unit_id"], c.get("parent_id")])
    return domain.establish_unit(tree, c)


@command(commands.RenameUnit(), answer=UNIT, summary="Đổi tên (rename a unit)")
def rename_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.rename_unit(state.tree(store, deps.kinds, [c["unit_id"]]),
                              state.version(store, domain.unit_stream(c["unit_id"])), c)


@command(commands.MoveUnit(), answer=UNIT,
         summary="Chuyển trực thuộc, cả cây con (move a subtree)")
def move_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.move_unit(state.tree(store, deps.kinds),
                            state.version(store, domain.unit_stream(c["unit_id"])), c)


@command(commands.DissolveUnit(), answer=UNIT, summary="Giải thể (dissolve a unit)")
def dissolve_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    members = [m for _, m in state.members_of(store, [c["unit_id"]]).values()]
    return domain.dissolve_unit(state.tree(store, deps.kinds),
                                state.version(store, domain.unit_stream(c["unit_id"])), c,
                                members)


@command(commands.MergeUnits(), summary="Hợp nhất (merge units into a successor)")
def merge_units(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.merge_units(state.tree(store, deps.kinds), state.unit_versions(store), c,
                              state.members_of(store, c["merged_ids"]))


@command(commands.SplitUnit(), answer=UNIT, summary="Chia tách (split a unit)")
def split_unit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return domain.split_unit(state.tree(store, deps.kinds), state.unit_versions(store), c,
                             state.members_of(store, [c["unit_id"]]))


# -- members ------------------------------------------------------------------------

@command(commands.AdmitMember(), answer=MEMBER,
         summary="Kết nạp đảng viên (admit, probationary)")
def admit_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    if c.get("member_code") and read_model.member_ids_by_code(store.session,
                                                              [c["member_code"]]):
        raise ValidationFailed({"member_code": ["Another member has this code."]})
    _, member = state.member(store, c["member_id"])
    return domain.admit_member(state.tree(store, deps.kinds, [c["cell_id"]]), member, c, deps.today)


@command(commands.ConfirmMember(), answer=MEMBER,
         summary="Công nhận chính thức (confirm as full)")
def confirm_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.confirm_member(member, version, c, deps.today)


@command(commands.TransferMember(), answer=MEMBER,
         summary="Chuyển sinh hoạt chính thức (transfer)")
def transfer_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    tree = state.tree(store, deps.kinds, [c.get("to_cell_id")])
    return domain.transfer_member(tree, member, version, c, deps.today)


@command(commands.TransferTemporarily(), answer=MEMBER,
         summary="Chuyển sinh hoạt tạm thời (temporary transfer, 3 months–2 years)")
def transfer_temporarily(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.transfer_temporarily(state.tree(store, deps.kinds, [c.get("to_cell_id")]), member,
                                       version, c)


@command(commands.ExemptMember(), answer=MEMBER,
         summary="Miễn sinh hoạt (exempt from meetings)")
def exempt_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.exempt_member(member, version, c)


@command(commands.MarkWorkingAway(), answer=MEMBER, summary="Đi làm ăn xa (working away)")
def mark_working_away(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.mark_working_away(member, version, c)


@command(commands.RecordReturn(), answer=MEMBER, summary="Trở lại sinh hoạt (return)")
def record_return(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.record_return(member, version, c)


@command(commands.RemoveMember(), answer=MEMBER,
         summary="Xóa tên, khai trừ, từ trần, chuyển đi (remove from the rolls)")
def remove_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.remove_member(member, version, c, deps.today)


@command(commands.RateMember(), answer=MEMBER, summary="Xếp loại hằng năm (annual rating)")
def rate_member(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    version, member = state.member(store, c["member_id"])
    return domain.rate_member(member, version, c, deps.today)


# -- cell roles ---------------------------------------------------------------------

@command(commands.AssignRole(), answer=MEMBER,
         summary="Phân công chức danh chi bộ (assign a cell role)")
def assign_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    history = store.read_stream(domain.roles_stream(c["cell_id"]))
    _, member = state.member(store, c["member_id"])
    return domain.assign_role(state.tree(store, deps.kinds, [c["cell_id"]]), member, history,
                              len(history), c)


@command(commands.EndRole(), answer=MEMBER,
         summary="Kết thúc nhiệm kỳ chức danh (end a cell role)")
def end_role(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    history = store.read_stream(domain.roles_stream(c["cell_id"]))
    return domain.end_role(history, len(history), c)


# -- roster import ------------------------------------------------------------------

@command(commands.ImportBatch(), name="import_rows", http=False, status=200,
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
