"""Who could do what, when: the accounts' grants on a day, and every change to them,
folded from the members log (`chibo access`).

Grants and revocations are events, so the answer for any past day is what the log
says, and every change names who made it (the actor of its event). A secretary's
role is not granted but derived from the cell roles of the day; it is derived here the
same way sign-in derives it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.members import accounts, domain

#: The events that change who may do what.
ACCESS_EVENTS = ("account_opened", "role_granted", "role_revoked", "account_closed",
                 "second_factor_enabled", "second_factor_disabled", "password_changed")


@dataclass(frozen=True)
class Holding:
    """One role an account held over a unit on the day asked."""

    account_id: str
    name: str
    role: str
    unit_id: str | None
    valid_from: date | None
    valid_until: date | None
    derived: bool  # from the cell roles of the day (a secretary), not a grant


def holdings_on(history: Sequence[Any], day: date, account_id: str | None = None,
                unit_path: Sequence[str] | None = None) -> list[Holding]:
    """The roles held on `day` (by `account_id` alone, or over a unit whose path from
    the root is `unit_path`: the grants covering it), from the members log `history`
    (events in log order). Closed accounts hold nothing from their closing on."""
    account_events = [e for e in history if e.stream_id.startswith("account-")]
    closed_on = {e.data["account_id"]: date.fromisoformat(e.recorded_at[:10])
                 for e in account_events if e.type == "account_closed"}
    folded = accounts.fold(account_events)
    roles_by_cell = {e.stream_id.removeprefix("roles-"): None for e in history
                     if e.stream_id.startswith("roles-")}
    for cell_id in roles_by_cell:
        stream = [e for e in history if e.stream_id == domain.roles_stream(cell_id)]
        roles_by_cell[cell_id] = domain.active_roles(stream, day)
    found = []
    for account in folded.values():
        if account_id is not None and account.account_id != account_id:
            continue
        if account.account_id in closed_on and closed_on[account.account_id] <= day:
            continue
        derived = accounts.derived_secretary_grants(
            account.member_id, {c: r or [] for c, r in roles_by_cell.items()})
        for grant, is_derived in [*((g, False) for g in account.grants_on(day)),
                                  *((g, True) for g in derived if g.valid_on(day))]:
            if unit_path is not None and grant.unit_id is not None and \
                    grant.unit_id not in unit_path:
                continue
            found.append(Holding(account.account_id, account.display_name, grant.role,
                                 grant.unit_id, grant.valid_from, grant.valid_until,
                                 is_derived))
    return sorted(found, key=lambda h: (h.account_id, h.role, h.unit_id or ""))


def changes(history: Iterable[Any], account_id: str | None = None) -> Iterator[dict[str, Any]]:
    """Every change to accounts and their roles, oldest first, with who made it."""
    for event in history:
        if event.type not in ACCESS_EVENTS or not event.stream_id.startswith("account-"):
            continue
        if account_id is not None and event.data.get("account_id") != account_id:
            continue
        yield {"recorded_at": event.recorded_at, "type": event.type,
               "account_id": event.data.get("account_id"),
               "role": event.data.get("role"), "unit_id": event.data.get("unit_id"),
               "from": event.data.get("valid_from"),
               "until": event.data.get("valid_until") or event.data.get("on"),
               "by": event.metadata.get("actor_name") or event.metadata.get("actor"),
               "by_account": event.metadata.get("actor")}


# -- the command line: chibo access -------------------------------------------------

def add_arguments(parser: Any) -> None:
    parser.add_argument("--on", default=None, help="the day asked, YYYY-MM-DD or DD/MM/YYYY "
                        "(default: today by the configured clock)")
    parser.add_argument("--account", default=None, help="only this account")
    parser.add_argument("--unit", default=None,
                        help="only the roles covering this unit (who could act on it)")
    parser.add_argument("--history", action="store_true",
                        help="every change to accounts and roles, with who made it")
    parser.add_argument("--config", default=None, help="YAML config (default: distributed)")


def run_from_args(args: Any, config: dict[str, Any]) -> int:
    import sys

    from chibo import settings
    from chibo.clock import clock_from_setting
    from chibo.db import make_engine, session_factory
    from chibo.eventstore.store import EventStore
    from services.shared.events.members import catalogue
    from services.shared.settings import from_config
    from services.shared.tree import Tree

    try:
        day = _day(args.on) if args.on else clock_from_setting(config.get("CLOCK")).now().date()
    except ValueError:
        print(f"chibo access: --on {args.on!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)",
              file=sys.stderr)
        return 2
    url = settings.required_database(config, "members")
    engine = make_engine(str(url))
    try:
        with session_factory(engine)() as session:
            store = EventStore(session, catalogue)
            history, after = [], 0
            while batch := store.read_all(after, 5000):
                history += batch
                after = batch[-1].position
    finally:
        engine.dispose()
    if args.history:
        for change in changes(history, args.account):
            what = change["type"] + (f" {change['role']} @ {change['unit_id'] or 'toàn tỉnh'}"
                                     if change["role"] else "")
            print(f"{change['recorded_at'][:19]}  {change['account_id']:<20} {what:<45} "
                  f"bởi (by) {change['by']}")
        return 0
    path = None
    if args.unit:
        tree = Tree.from_events([e for e in history if e.stream_id.startswith("unit-")],
                                from_config(config).kinds)
        path = [version.unit_id for version in tree.path(args.unit, day)]
        if not path:
            print(f"chibo access: unit {args.unit!r} did not exist on {day:%d/%m/%Y}",
                  file=sys.stderr)
            return 2
    held = holdings_on(history, day, args.account, path)
    print(f"Quyền ngày {day:%d/%m/%Y} (roles held on {day.isoformat()})"
          + (f", phủ (covering) {args.unit}" if args.unit else "") + f": {len(held)}")
    for h in held:
        dates = (f"{h.valid_from:%d/%m/%Y}" if h.valid_from else "…") + " – " + \
            (f"{h.valid_until:%d/%m/%Y}" if h.valid_until else "…")
        print(f"  {h.account_id:<20} {h.name:<30} {h.role:<11} {h.unit_id or 'toàn tỉnh':<16} "
              f"{dates}{'  (từ chức danh chi bộ, from the cell roles)' if h.derived else ''}")
    return 0


def _day(text: str) -> date:
    if "/" in text:
        day, month, year = (int(part) for part in text.split("/"))
        return date(year, month, day)
    return date.fromisoformat(text)
