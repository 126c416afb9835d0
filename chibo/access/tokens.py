"""Identities as signed, short-lived tokens (JWT with HS256, via PyJWT).

The same token is a browser's session cookie, an API client's bearer token, and the
identity every RPC carries in its context data: each service verifies it with the
cluster's secret (`AUTH.secret`) and never trusts an unsigned actor."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any

import jwt

from chibo.access.identity import SERVICE, Claims, Grant, Identity

ISSUER = "chibo"
ALGORITHM = "HS256"
#: HS256 keys shorter than this are refused: a short secret can be guessed offline
#: from any token.
MIN_SECRET_BYTES = 32
#: Verified tokens a process remembers (the most recently used).
VERIFIED_TOKENS_KEPT = 4096


class InvalidToken(ValueError):
    """The token is malformed, forged, or expired; the message says which."""


class TokenSigner:
    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode("utf-8") if isinstance(secret, str) else secret
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"AUTH.secret must be at least {MIN_SECRET_BYTES} bytes "
                             "(generate one: python -c 'import secrets; "
                             "print(secrets.token_urlsafe(48))')")
        self._key = key
        # Every RPC, event and page verifies its caller's token, and the same token comes
        # again and again (a session, a service's own token on each event it publishes):
        # a signature already checked is not checked again. Expiry is still checked on
        # every call, against the caller's clock; a token that fails is never kept.
        self._decoded = functools.lru_cache(maxsize=VERIFIED_TOKENS_KEPT)(self._decode)

    def issue(self, identity: Identity, now: datetime, lifetime_seconds: int,
              csrf: str | None = None) -> str:
        issued = int(now.timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER, "sub": identity.account_id, "name": identity.name,
            "kind": identity.kind, "amr": identity.method,
            "grants": [grant.as_list() for grant in identity.grants],
            "iat": issued, "exp": issued + int(lifetime_seconds),
            "jti": secrets.token_urlsafe(12),
        }
        if csrf is not None:
            claims["csrf"] = csrf
        return jwt.encode(claims, self._key, algorithm=ALGORITHM)

    def verify(self, token: str, now: datetime) -> Claims:
        """The token's claims, checked against `now` (the service's clock, so a test's
        fixed clock decides expiry), or InvalidToken."""
        claims = self._decoded(token)
        if claims.expires_at <= int(now.timestamp()):
            raise InvalidToken("the token has expired: log in again")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"verify_exp": False, "verify_iat": False,
                                         "require": ["sub", "exp", "iat", "iss"]})
        except jwt.PyJWTError as error:
            raise InvalidToken(f"invalid token: {error}") from None
        try:
            identity = Identity(str(claims["sub"]), str(claims.get("name") or claims["sub"]),
                                tuple(Grant.from_list(g) for g in claims.get("grants", [])),
                                str(claims.get("kind") or "user"), str(claims.get("amr") or ""))
        except (TypeError, ValueError) as error:
            raise InvalidToken(f"invalid token: bad grants ({error})") from None
        return Claims(identity, int(claims["iat"]), int(claims["exp"]), claims.get("csrf"))

    def pseudonym(self, purpose: str, value: str) -> str:
        """A stable stand-in for `value` that a page may show (an account's browser
        storage is keyed by it): keyed with the cluster's secret, so it names the value
        without exposing it, and cannot be computed for another account without the
        secret. `purpose` separates uses, so one pseudonym says nothing of another."""
        digest = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def csrf_of(self, token: str) -> str | None:
        """The CSRF value a session token was issued with (signature checked, expiry
        left to the worker's check); None for a token that does not verify."""
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM], issuer=ISSUER,
                                options={"verify_exp": False, "verify_iat": False})
        except jwt.PyJWTError:
            return None
        value = claims.get("csrf")
        return str(value) if value else None


def service_identity(service: str) -> Identity:
    """A service acting on its own (its timers, its feeds): the `service` role everywhere."""
    return Identity(f"service:{service}", service, (Grant(SERVICE),), SERVICE, SERVICE)
