"""Identities and their grants: a role on a subtree of the organisation tree, as of a date."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Grant:
    """`role` over the subtree of `unit_id` (None: the whole tree) from `valid_from` to
    `valid_until` (inclusive; None: open)."""

    role: str
    unit_id: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None

    def valid_on(self, day: date) -> bool:
        return ((self.valid_from is None or self.valid_from <= day)
                and (self.valid_until is None or day <= self.valid_until))

    def as_list(self) -> list[Any]:
        return [self.role, self.unit_id,
                self.valid_from.isoformat() if self.valid_from else None,
                self.valid_until.isoformat() if self.valid_until else None]

    @classmethod
    def from_list(cls, value: Any) -> Grant:
        role, unit_id, valid_from, valid_until = value
        return cls(str(role), unit_id,
                   date.fromisoformat(valid_from) if valid_from else None,
                   date.fromisoformat(valid_until) if valid_until else None)


#: Identity kinds: a person's account, or a service acting on its own (timers, feeds).
USER = "user"
SERVICE = "service"


@dataclass(frozen=True)
class Identity:
    """Who is calling: the account id events record as their actor, the name people
    read, and what the account was granted."""

    account_id: str
    name: str
    grants: tuple[Grant, ...] = ()
    kind: str = USER
    #: How the caller proved it: "password", "password+totp", "oidc", "token", "service".
    method: str = ""

    def grants_on(self, day: date) -> tuple[Grant, ...]:
        return tuple(grant for grant in self.grants if grant.valid_on(day))

    def event_metadata(self, day: date) -> dict[str, Any]:
        """What every event appended on this identity's behalf records of it."""
        current = self.grants_on(day)
        return {"actor_name": self.name, "actor_kind": self.kind,
                "actor_roles": [[grant.role, grant.unit_id] for grant in current]}


class RoleBook:
    """Which permissions each role carries: the application's table, the kernel's lookup."""

    def __init__(self, permissions_by_role: Mapping[str, Iterable[str]]) -> None:
        self._by_role = {role: frozenset(perms) for role, perms in permissions_by_role.items()}

    def permits(self, role: str, permission: str) -> bool:
        return permission in self._by_role.get(role, frozenset())


@dataclass(frozen=True)
class Claims:
    """A token's standard claims beside the identity (for the session's CSRF check)."""

    identity: Identity
    issued_at: int
    expires_at: int
    csrf: str | None = None
