"""A reporting worker's caller without nameko: for calling the page and query methods
directly as a given identity, with the service's own locate over its read model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chibo.access import Access, Identity, authorize
from chibo.errors import ChiboError
from services.reporting.access_rules import locate
from services.shared.access_roles import ROLES
from tests.support import ADMIN


class FixedCaller:
    """What `self.caller` is in a reporting worker (chibo.nameko.access.WorkerCaller),
    for `identity` (None: nobody logged in), checked on the service's clock."""

    def __init__(self, service: Any, identity: Identity | None = ADMIN,
                 csrf: str | None = "csrf-kiem-thu") -> None:
        self.service = service
        self.identity = identity
        self.csrf = csrf if identity is not None else None

    def require(self, rule: Access, values: Mapping[str, Any]) -> Identity | None:
        today = self.service.clock.now().date()

        def located(kind: str, value: str | None):
            with self.service.db.transaction() as session:
                return locate(session, kind, value, today)

        authorize(self.identity, rule, values, located, ROLES, today)
        return self.identity

    def allows(self, rule: Access, values: Mapping[str, Any]) -> bool:
        try:
            self.require(rule, values)
        except ChiboError:
            return False
        return True

    def count_heavy(self, kind: str) -> None:
        """Rate limits are the web edge's (tests/integration/test_rate_limits.py)."""


def as_identity(service: Any, identity: Identity | None = ADMIN) -> Any:
    """`service` with its caller set to `identity`."""
    service.caller = FixedCaller(service, identity)
    return service
