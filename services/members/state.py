"""What members' rules and questions read from the log: the tree, members with their
stream versions. Shared by the command handlers and the query entrypoints."""

from __future__ import annotations

from typing import Any

from chibo.eventstore.store import EventStore
from services.members import domain, read_model
from services.shared.events.members import PERSONAL_DATA_FIELDS
from services.shared.membership import Member, fold
from services.shared.tree import Tree, UnitKinds


def tree(store: EventStore, kinds: UnitKinds, only: list[str | None] | None = None) -> Tree:
    """The whole tree, or (cheaper) just the named units when that is all a rule needs,
    with the unit kinds the service's config names."""
    streams = None if only is None else [domain.unit_stream(u) for u in only if u]
    return Tree.from_events(store.read_category("unit", streams), kinds)


def members(store: EventStore, member_ids: list[str]) -> dict[str, tuple[int, Member]]:
    """Each named member that was ever admitted, with their stream's version."""
    history = store.read_category("member", [domain.member_stream(m) for m in member_ids])
    folded = fold(history)
    versions: dict[str, int] = {}
    for event in history:
        versions[event.stream_id] = event.stream_version
    return {m: (versions[domain.member_stream(m)], folded[m]) for m in folded}


def member(store: EventStore, member_id: str) -> tuple[int, Member | None]:
    found = members(store, [member_id]).get(member_id)
    return found if found else (0, None)


def members_of(store: EventStore, cell_ids: list[str]) -> dict[str, tuple[int, Member]]:
    """Everyone who ever belonged to or attended one of the cells."""
    return members(store, read_model.member_ids_of_cells(store.session, cell_ids))


def version(store: EventStore, stream_id: str) -> int:
    return len(store.read_stream(stream_id))


def unit_versions(store: EventStore) -> dict[str, int]:
    prefix = len(domain.unit_stream(""))
    return {e.stream_id[prefix:]: e.stream_version for e in store.read_category("unit")}


def personal_reads_stream(member_id: str) -> str:
    """Where the reads of a member's personal details are recorded (`personal_data_read`),
    apart from the member's own stream: a read never moves the member's version."""
    return f"personal-reads-{member_id}"


def personal_data(store: EventStore, member_id: str) -> dict[str, Any]:
    """The member's personal details as last recorded (`member_personal_data_recorded`):
    each of PERSONAL_DATA_FIELDS, None when never recorded."""
    found: dict[str, Any] = dict.fromkeys(PERSONAL_DATA_FIELDS)
    for event in store.read_stream(domain.member_stream(member_id)):
        if event.type == "member_personal_data_recorded":
            found = {name: event.data.get(name) for name in PERSONAL_DATA_FIELDS}
    return found
