"""Where reporting's things sit in the organisation tree, for the access check.

`locate` answers the `Caller`'s question (chibo.nameko.access) from reporting's own
read model: the unit ids from the root down to the unit holding a unit, cell, member,
meeting, task or escalation, in the tree as it stands on `today`. A unit dissolved by
then is placed under its successor, which carries its history on: a grant over the
successor (or anything above it) covers what it brought along.

`home_units` is what a caller whose grants cover only part of the tree is shown when a
list would span the whole province: their own units.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.utils import redirect
from werkzeug.wrappers import Request

from chibo.access import Access, Identity, Scope
from chibo.errors import Forbidden, NotFound
from services.reporting import paths, queries
from services.reporting.read_model import escalations, meetings, members, tasks
from services.shared.access_roles import (
    HANDLE_ESCALATIONS,
    ROLES,
    VIEW_AUDIT,
    VIEW_PERSONAL,
    VIEW_REPORTS,
)

#: kind -> (table, id column, cell column): things that belong to one cell.
_HELD_BY_A_CELL = {
    "member": (members, members.c.member_id, members.c.cell_id),
    "meeting": (meetings, meetings.c.meeting_id, meetings.c.cell_id),
    "task": (tasks, tasks.c.task_id, tasks.c.cell_id),
    "escalation": (escalations, escalations.c.escalation_id, escalations.c.cell_id),
}
KINDS = ("unit", "cell", *_HELD_BY_A_CELL)

Route = Callable[..., Any]


#: What each kind of read needs (see docs/reporting.md, "Who sees what").
REPORTS_OF_UNIT = Access(VIEW_REPORTS, Scope("unit_id", "unit"))
REPORTS_OF_UNIT_QUERY = Access(VIEW_REPORTS, Scope("unit", "unit"))
REPORTS_OF_CELL = Access(VIEW_REPORTS, Scope("cell_id", "cell"))
REPORTS_OF_MEETING = Access(VIEW_REPORTS, Scope("meeting_id", "meeting"))
REPORTS_OF_ESCALATION = Access(VIEW_REPORTS, Scope("escalation_id", "escalation"))
RECORD_OF_MEMBER = Access(VIEW_PERSONAL, Scope("member_id", "member"))
PERSONAL_OF_CELL = Access(VIEW_PERSONAL, Scope("cell_id", "cell"))
ACT_ON_ESCALATION = Access(HANDLE_ESCALATIONS, Scope("escalation_id", "escalation"))
AUDIT = Access(VIEW_AUDIT)


def locate(session: Session, kind: str, value: str | None, today: date) -> list[str] | None:
    """The path from the root to the unit holding the `kind` thing `value`; the root's
    path for no value; None for an id reporting does not know (or a kind it does not
    keep)."""
    if value is None:
        try:
            return [queries.root_id(session)]
        except NotFound:
            return []
    if kind in ("unit", "cell"):
        return unit_path(session, value, today)
    held = _HELD_BY_A_CELL.get(kind)
    if held is None:
        return None
    _table, id_column, cell_column = held
    cell_id = session.execute(select(cell_column).where(id_column == value)).scalar()
    if cell_id is None:
        return None
    return unit_path(session, str(cell_id), today)


def unit_path(session: Session, unit_id: str, today: date) -> list[str] | None:
    """The unit's path on `today`; a unit dissolved by then sits under its successor."""
    tree = paths.places_for(session).tree
    if not tree.exists(unit_id):
        return None
    found = [version.unit_id for version in tree.path(unit_id, today)]
    if found:
        return found
    home = tree.successor(unit_id)
    if home == unit_id:
        return None  # not established yet on `today`
    above = [version.unit_id for version in tree.path(home, today)]
    return [*above, unit_id] if above else None


def home_units(identity: Identity | None, permission: str, today: date) -> list[str] | None:
    """The units `identity`'s grants valid `today` carry `permission` over, when they
    cover only part of the tree; None when one covers all of it (or when no grant
    carries the permission at all: the access check then answers)."""
    if identity is None:
        return None
    granted = [grant.unit_id for grant in identity.grants_on(today)
               if ROLES.permits(grant.role, permission)]
    if not granted or any(unit_id is None for unit_id in granted):
        return None
    return sorted({str(unit_id) for unit_id in granted})


# -- lists that span units, for a caller who sees part of the tree ---------------------

def query_with(request: Request, **params: str) -> str:
    """The request's own path and query string, with `params` set."""
    kept = [(key, value) for key, value in request.args.items(multi=True) if key not in params]
    return request.path + "?" + urlencode([*kept, *params.items()])


def sees_personal_data(service: Any, kind: str, value: str) -> bool:
    """Whether the caller's roles cover members' records where the `kind` thing `value`
    is (a cell, a meeting): who may see the people behind a page's figures."""
    return bool(service.caller.allows(Access(VIEW_PERSONAL, Scope("id", kind)), {"id": value}))


def _callers_homes(service: Any, permission: str) -> list[str] | None:
    caller = getattr(service, "caller", None)
    return home_units(getattr(caller, "identity", None), permission,
                      service.clock.now().date())


def home_unit_by_default(permission: str,
                         address: Callable[[Request, str], str] | None = None,
                         param: str = "unit") -> Callable[[Route], Route]:
    """A page or download listing the whole tree when `param` is absent: a caller whose
    grants cover only a subtree is sent (303) to the same list for their unit,
    `address(request, unit_id)` (by default this address with `param` set), instead of
    being refused. Put it above `@access`."""
    def decorate(route: Route) -> Route:
        @functools.wraps(route)
        def answer(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
            homes = None if request.args.get(param) else _callers_homes(self, permission)
            if homes:
                target = (address(request, homes[0]) if address
                          else query_with(request, **{param: homes[0]}))
                return redirect(target, 303)
            return route(self, request, *args, **kwargs)
        return answer
    return decorate


def unit_named_for_a_subtree(permission: str, param: str = "unit") -> Callable[[Route], Route]:
    """A JSON list of the whole tree when `param` is absent: a caller whose grants cover
    only a subtree is refused (403) with the parameter to send and their units. Put it
    above `@access`."""
    def decorate(route: Route) -> Route:
        @functools.wraps(route)
        def answer(self: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
            homes = None if request.args.get(param) else _callers_homes(self, permission)
            if homes:
                raise Forbidden(
                    f"Hãy gửi tham số {param}=<mã đơn vị> (send the {param!r} query "
                    f"parameter): your roles cover only {', '.join(homes)}, not the "
                    f"whole province, e.g. ?{param}={homes[0]}.",
                    permission=permission, parameter=param, units=homes)
            return route(self, request, *args, **kwargs)
        return answer
    return decorate
