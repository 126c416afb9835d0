"""Supervision's commands: for each, what it reads and which rule decides it.

Registered on `registry`; the pipeline (`chibo.commands`) checks the body, runs
`prepare` (what waits on another service) before the command's transaction and the
function itself inside it, appends what it returns and answers. The rules live in
domain.py; what talks to other services reaches the handlers as plain callables in
`Deps`.

Who may give each command is its `access` rule (services/shared/access_roles.py),
checked by the pipeline against the verified caller before anything is read. The
person a visit or an action on an escalation records (`visitor`, `by`) is that caller,
from `Deps.identity`: a name in the body is ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from chibo.access import Access, Identity, Scope, Unauthenticated
from chibo.commands import Decision, Handlers
from chibo.contracts import Command
from chibo.eventstore.store import EventStore, NewEvent, RecordedEvent, StreamAppend
from services.shared.access_roles import (
    HANDLE_ESCALATIONS,
    MANAGE_ORGANISATION,
    SUPERVISE,
)
from services.shared.score_sheet import ScoreSheet, sheet_for
from services.shared.text import nfc
from services.shared.tree import UnitKinds
from services.supervision import commands, domain, replica

#: A meeting as the meetings service recorded it, or None when it has no record of it.
MeetingLookup = Callable[[str], dict[str, Any] | None]


@dataclass(frozen=True)
class Deps:
    """What supervision's handlers need from outside its log."""

    today: date
    #: The unit kinds and score sheets the service's config names.
    kinds: UnitKinds
    sheets: Sequence[ScoreSheet]
    #: Asks the meetings service for a meeting (`get_meeting`).
    meeting: MeetingLookup
    #: Brings the replica of members' events up to date.
    sync_members: Callable[[], None]
    #: The verified caller (None: nobody signed in): who a visit or an action on an
    #: escalation records.
    identity: Identity | None = None
    #: Set by `log_visit`'s prepare: the visited meeting as recorded, and the sheet a
    #: visitor's changed scores are scored on (None when they changed none).
    visited_meeting: dict[str, Any] | None = None
    sheet: ScoreSheet | None = None


registry = Handlers()
command = registry.command


def signed_in_name(deps: Deps) -> str:
    """The name of the person giving the command, as their login has it."""
    if deps.identity is None:
        raise Unauthenticated("Cần đăng nhập (authentication required): the person who "
                              "visits or handles an escalation is the one signed in.")
    return nfc(deps.identity.name)[:200]


def _on_stream(store: EventStore, stream: str,
               rule: Callable[[list[RecordedEvent]], list[NewEvent]]) -> list[StreamAppend]:
    """The events `rule` decides from the stream's history, appended at its end."""
    history = store.read_stream(stream)
    return [StreamAppend(stream, len(history), rule(history))]


# -- visits and follow-up -------------------------------------------------------------

def _visited_meeting(c: Command, deps: Deps) -> Deps:
    """The meeting as the meetings service recorded it (an RPC, before the transaction),
    and the sheet in force on the day when the visitor changed the scores."""
    sheet = sheet_for(c["visited_on"], deps.sheets) if c.get("changed_scores") else None
    return replace(deps, visited_meeting=deps.meeting(c["meeting_id"]), sheet=sheet)


@command(commands.LogVisit(), answer=("visit_id",), prepare=_visited_meeting,
         access=Access(SUPERVISE, Scope("cell_id", "cell")),
         summary="Dự sinh hoạt chi bộ, xác nhận/điều chỉnh điểm (log a visit, confirm the score)")
def log_visit(store: EventStore, c: Command, deps: Deps) -> Decision:
    # The visited meeting must be the named cell's (domain.log_visit), so the scope on
    # `cell_id` covers the meeting too.
    visit = {**c, "visitor": signed_in_name(deps)}
    appends = _on_stream(store, domain.visit_stream(c["visit_id"]),
                         lambda history: domain.log_visit(history, visit,
                                                          deps.visited_meeting, deps.sheet))
    return Decision(appends, {"visitor": visit["visitor"]})


def _members_synced(c: Command, deps: Deps) -> Deps:
    """The cells named are checked against the tree as members' log has it now."""
    deps.sync_members()
    return deps


@command(commands.AssignFollower(), answer=("assignment_id",), prepare=_members_synced,
         # Several cells at once, anywhere: the organisation's whole tree.
         access=Access(MANAGE_ORGANISATION),
         summary="Phân công theo dõi chi bộ (assign a follower to cells)")
def assign_follower(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    tree = replica.load_tree(store.session, replica.EVERYTHING, deps.kinds)
    not_cells = domain.not_cells(tree, c["cell_ids"])
    return _on_stream(store, domain.follow_stream(c["assignment_id"]),
                      lambda history: domain.assign_follower(history, c, not_cells))


# -- escalations ----------------------------------------------------------------------

ESCALATION = ("escalation_id",)


ESCALATION_ACCESS = Access(HANDLE_ESCALATIONS, Scope("escalation_id", "escalation"))


@command(commands.AcknowledgeEscalation(), answer=ESCALATION, access=ESCALATION_ACCESS,
         summary="Tiếp nhận cảnh báo (acknowledge an escalation)")
def acknowledge_escalation(store: EventStore, c: Command, deps: Deps) -> Decision:
    action = {**c, "by": signed_in_name(deps)}
    return Decision(_on_stream(store, domain.escalation_stream(c["escalation_id"]),
                               lambda history: domain.acknowledge(history, action, deps.today)),
                    {"by": action["by"]})


@command(commands.ResolveEscalation(), answer=ESCALATION, access=ESCALATION_ACCESS,
         summary="Xử lý xong cảnh báo (resolve an escalation)")
def resolve_escalation(store: EventStore, c: Command, deps: Deps) -> Decision:
    action = {**c, "by": signed_in_name(deps)}
    return Decision(_on_stream(store, domain.escalation_stream(c["escalation_id"]),
                               lambda history: domain.resolve(history, action, deps.today)),
                    {"by": action["by"]})
