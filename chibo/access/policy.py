"""The one access check: a permission, on the target's place in the tree, today."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chibo.access.identity import Identity, RoleBook
from chibo.errors import ChiboError, Forbidden


class Unauthenticated(ChiboError):
    """No identity, or one that does not verify: log in (or send a valid bearer token)."""

    http_status = 401
    code = "unauthenticated"


@dataclass(frozen=True)
class Scope:
    """Where a call's target sits: the argument (route segment, query parameter, RPC
    argument or command field) named `field` holds an id of a `kind` of thing the
    service can place in the tree ("unit", "cell", "member", "meeting", …). A missing
    or empty value means the whole tree (`default_root`), or, with `required`, is the
    handler's to refuse."""

    field: str
    kind: str = "unit"


@dataclass(frozen=True)
class Access:
    """What a call needs: `permission` over its target (`scope`; None: the whole tree).
    No permission: any verified caller. `public`: anyone, logged in or not (login,
    health, static assets)."""

    permission: str = ""
    scope: Scope | None = None
    public: bool = False

    def describe(self) -> str:
        if self.public:
            return "public"
        where = f" on {self.scope.kind} {self.scope.field!r}" if self.scope else " (whole tree)"
        return f"{self.permission}{where}" if self.permission else "authenticated"


PUBLIC = Access(public=True)
AUTHENTICATED = Access()

#: locate(kind, id) -> the ids of the units from the root down to the one holding the
#: thing (a unit's own path ends with itself); None when the service does not know it.
#: locate("unit", None) is the root's path: [root id], or [] for an empty tree.
Locate = Callable[[str, str | None], Sequence[str] | None]


def scope_value(scope: Scope, values: Mapping[str, Any]) -> str | None:
    value = values.get(scope.field)
    if value is None or value == "":
        return None
    return str(value)


def authorize(identity: Identity | None, access: Access, values: Mapping[str, Any],
              locate: Locate, roles: RoleBook, today: date) -> None:
    """Return if `identity` may make the call; raise Unauthenticated (401) without an
    identity, Forbidden (403) when no grant valid `today` carries the permission over
    the target. An id the service does not know is refused to a caller limited to a
    subtree (403, so ids cannot be probed) and left to the handler (404) for one whose
    grant covers the whole tree."""
    if access.public:
        return
    if identity is None:
        raise Unauthenticated(
            "Cần đăng nhập (authentication required): log in at /login, or send "
            "'Authorization: Bearer <token>' (see docs/security.md).")
    if not access.permission:
        return
    grants = [grant for grant in identity.grants_on(today)
              if roles.permits(grant.role, access.permission)]
    if not grants:
        raise Forbidden(
            f"Tài khoản {identity.name} không có quyền {access.permission} (the account has "
            f"no role allowing {access.permission!r} on {today.isoformat()}); ask a "
            "provincial administrator for the role you need.", permission=access.permission)
    if any(grant.unit_id is None for grant in grants):
        return
    target = scope_value(access.scope, values) if access.scope else None
    path = locate(access.scope.kind if access.scope and target else "unit", target)
    if path and any(grant.unit_id in path for grant in grants):
        return
    raise Forbidden(
        f"Ngoài phạm vi được giao (outside your scope): {access.permission} "
        f"{'on ' + target if target else 'on the whole province'} is not within the "
        "units your roles cover.", permission=access.permission)
