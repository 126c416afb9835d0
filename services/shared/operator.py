"""The identity of chibo's own command-line tools when they reach the services over RPC.

Whoever can read the cluster's signing secret (the config and its secrets file) can
run the services' commands anyway; `chibo simulate`, `chibo demo`'s sample loading and
`chibo audit` then act as the operator account, a provincial administrator, and every
event they cause says so. Over HTTP the tools send a bearer token instead
(`chibo token`, or one from POST /members/auth/token)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chibo.access import Grant, Identity, TokenSigner
from chibo.access.secret import auth_settings, load_secret
from chibo.clock import clock_from_setting
from services.shared.access_roles import ADMIN

OPERATOR = Identity("operator", "Vận hành hệ thống (operator, command line)",
                    (Grant(ADMIN),), method="secret")


def operator_token(config: Mapping[str, Any], identity: Identity = OPERATOR,
                   minutes: int | None = None) -> str:
    """A token for `identity`, signed with the configured secret, valid for the
    configured token lifetime (AUTH.token_minutes) from the configured clock's now."""
    lifetime = int(minutes or auth_settings(config).get("token_minutes") or 60) * 60
    now = clock_from_setting(config.get("CLOCK")).now()
    return TokenSigner(load_secret(config)).issue(identity, now, lifetime)
