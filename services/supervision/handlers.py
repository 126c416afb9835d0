"""Supervision's commands: for each, what it reads and which rule decides it.

Registered on `registry`; the pipeline (`chibo.commands`) checks the body, runs
`prepare` (what waits on another service) before the command's transaction and the
function itself inside it, appends what it returns and answers. The rules live in
domain.py; what talks to other services reaches the handlers as plain callables in
`Deps`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from chibo.commands import Handlers
from chibo.contracts import Command
from chibo.eventstore.store import EventStore, NewEvent, RecordedEvent, StreamAppend
from services.shared.score_sheet import ScoreSheet, sheet_for
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
    #: Set by `log_visit`'s prepare: the visited meeting as recorded, and the sheet a
    #: visitor's changed scores are scored on (None when they changed none).
    visited_meeting: dict[str, Any] | None = None
    sheet: ScoreSheet | None = None


registry = Handlers()
command = registry.command


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
         summary="Dự sinh hoạt chi bộ, xác nhận/điều chỉnh điểm (log a visit, confirm the score)")
def log_visit(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_stream(store, domain.visit_stream(c["visit_id"]),
                      lambda history: domain.log_visit(history, c, deps.visited_meeting,
                                                       deps.sheet))


def _members_synced(c: Command, deps: Deps) -> Deps:
    """The cells named are checked against the tree as members' log has it now."""
    deps.sync_members()
    return deps


@command(commands.AssignFollower(), answer=("assignment_id",), prepare=_members_synced,
         summary="Phân công theo dõi chi bộ (assign a follower to cells)")
def assign_follower(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    tree = replica.load_tree(store.session, replica.EVERYTHING, deps.kinds)
    not_cells = domain.not_cells(tree, c["cell_ids"])
    return _on_stream(store, domain.follow_stream(c["assignment_id"]),
                      lambda history: domain.assign_follower(history, c, not_cells))


# -- escalations ----------------------------------------------------------------------

ESCALATION = ("escalation_id",)


@command(commands.AcknowledgeEscalation(), answer=ESCALATION,
         summary="Tiếp nhận cảnh báo (acknowledge an escalation)")
def acknowledge_escalation(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_stream(store, domain.escalation_stream(c["escalation_id"]),
                      lambda history: domain.acknowledge(history, c, deps.today))


@command(commands.ResolveEscalation(), answer=ESCALATION,
         summary="Xử lý xong cảnh báo (resolve an escalation)")
def resolve_escalation(store: EventStore, c: Command, deps: Deps) -> list[StreamAppend]:
    return _on_stream(store, domain.escalation_stream(c["escalation_id"]),
                      lambda history: domain.resolve(history, c, deps.today))
