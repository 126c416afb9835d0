"""OpenID Connect sign-in with a province's identity provider (Keycloak, or any other
that publishes `/.well-known/openid-configuration`), a mixin for the reporting service.

* `GET /login/oidc`: sends the browser to the provider's authorization endpoint, with a
  fresh `state`, `nonce` and PKCE (S256) verifier kept in a short-lived signed,
  HttpOnly, SameSite=Lax cookie (`chibo_oidc`).
* `GET /login/oidc/callback`: checks `state` against that cookie, exchanges the code at
  the token endpoint (client secret and PKCE verifier), verifies the ID token's
  signature against the provider's JWKS and its issuer, audience, nonce and times,
  maps the groups claim to chibo's roles (`OIDC.group_roles`), and asks members to sign
  the account in (`members.sign_in_external`, as the service itself). The session
  cookie `chibo_session` then carries chibo's own token, as after a password login.

Any failure answers a page saying what went wrong (400 for the flow, 403 when the
account maps to no role, 502 when the provider or members cannot be reached) and
signs nobody in.

Times: an ID token comes from outside the system, stamped by the provider with the
real time, so its `exp`/`iat`/`nbf` are checked against the machine's real clock
(`OidcSignIn.oidc_wall_clock`, with `ID_TOKEN_LEEWAY_SECONDS` for skew), not the
service clock, which a demo or a test may set to another day. The state cookie and
chibo's own session are chibo's, and follow the service clock.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt as pyjwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jwt as jose_jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from nameko.exceptions import RemoteError
from werkzeug.wrappers import Request, Response

from chibo.access import PUBLIC
from chibo.access.secret import load_secret
from chibo.access.tokens import InvalidToken
from chibo.errors import from_remote
from chibo.nameko.access import access
from chibo.nameko.resilience import RpcProxy
from chibo.nameko.web import http
from chibo.nameko.web.json_http import SESSION_COOKIE
from services.shared.access_roles import GRANTABLE

log = logging.getLogger(__name__)

#: The cookie that keeps state, nonce and PKCE verifier between the two legs.
STATE_COOKIE = "chibo_oidc"
STATE_COOKIE_PATH = "/login/oidc"
#: How long a sign-in at the provider may take before the state cookie lapses.
STATE_SECONDS = 600
#: Clock skew allowed between the provider and this machine.
ID_TOKEN_LEEWAY_SECONDS = 60
#: Seconds to wait for the provider (discovery, JWKS, token and userinfo endpoints).
PROVIDER_TIMEOUT_SECONDS = 10
#: How long discovery and JWKS are kept before they are fetched again (an unknown key
#: id fetches the JWKS again at once: the provider rotated its keys).
METADATA_SECONDS = 3600
#: Only asymmetric signatures: the JWKS is public, a shared-secret or unsigned ID
#: token is refused.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
                      "ES256", "ES384", "ES512", "EdDSA")
DEFAULT_SCOPES = "openid profile email"
DEFAULT_GROUPS_CLAIM = "groups"
HOME = "/reporting/"
HTML = "text/html; charset=utf-8"


class OidcFailure(Exception):
    """The sign-in cannot go on: `message` (Vietnamese, English alongside) for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class OidcSettings:
    """`OIDC:` in the configuration. Sign-in is on when issuer, client id and redirect
    URI are all set."""

    issuer: str = ""
    client_id: str = ""
    client_secret: str = ""
    redirect_uri: str = ""
    scopes: str = DEFAULT_SCOPES
    groups_claim: str = DEFAULT_GROUPS_CLAIM
    group_roles: Mapping[str, Any] | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.issuer and self.client_id and self.redirect_uri)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> OidcSettings:
        section = config.get("OIDC") or {}

        def text(key: str, default: str = "") -> str:
            value = section.get(key)
            return str(value).strip() if value not in (None, "") else default

        scopes = section.get("scopes")
        if isinstance(scopes, list | tuple):
            scopes = " ".join(str(scope) for scope in scopes)
        scope_text = str(scopes or "").replace(",", " ").split()
        if "openid" not in scope_text:
            scope_text.insert(0, "openid")
        roles = section.get("group_roles")
        return cls(issuer=text("issuer").rstrip("/"), client_id=text("client_id"),
                   client_secret=text("client_secret"), redirect_uri=text("redirect_uri"),
                   scopes=" ".join(scope_text),
                   groups_claim=text("groups_claim", DEFAULT_GROUPS_CLAIM),
                   group_roles=roles if isinstance(roles, Mapping) else None)


def mapped_grants(groups: Iterable[str], group_roles: Mapping[str, Any] | None
                  ) -> list[tuple[str, str | None]]:
    """The (role, unit id or None) pairs the account's groups map to, read as members
    reads `OIDC.group_roles` when it signs the account in: `{group: [[role, unit_id or
    null], ...]}`, a group named exactly as the groups claim carries it; a null unit is
    the whole tree. Only roles a person may be granted count (never `service`)."""
    found: list[tuple[str, str | None]] = []
    for group in groups:
        entries = (group_roles or {}).get(group) or ()
        for entry in entries if isinstance(entries, list | tuple) else ():
            role, unit = (list(entry) + [None])[:2] if isinstance(entry, list | tuple) \
                else (entry, None)
            pair = (str(role).strip(), str(unit).strip() if unit else None)
            if pair[0] in GRANTABLE and pair not in found:
                found.append(pair)
    return found


def _groups_of(claims: Mapping[str, Any], claim: str) -> list[str]:
    value = claims.get(claim)
    if value is None and "." in claim:  # a nested claim: "realm_access.roles"
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(item) for item in value if isinstance(item, str | int)]
    return []


@dataclass
class _Metadata:
    discovery: dict[str, Any]
    keys: KeySet
    fetched: float


class OidcClient:
    """The relying party's side of the protocol: discovery, the authorization URL, the
    code exchange and the ID token's verification. `wall_clock` gives the real time in
    seconds (the ID token's times are the provider's)."""

    _cache: dict[str, _Metadata] = {}

    def __init__(self, settings: OidcSettings, wall_clock: Callable[[], float] = time.time,
                 http_session: requests.Session | None = None) -> None:
        self.settings = settings
        self.wall_clock = wall_clock
        self.http = http_session or requests.Session()

    # -- the provider's metadata ---------------------------------------------------

    def metadata(self, refresh_keys: bool = False) -> _Metadata:
        issuer = self.settings.issuer
        cached = self._cache.get(issuer)
        if cached is not None and time.monotonic() - cached.fetched < METADATA_SECONDS:
            if refresh_keys:
                cached.keys = self._fetch_keys(cached.discovery)
            return cached
        discovery = self._get_json(f"{issuer}/.well-known/openid-configuration")
        if str(discovery.get("issuer", "")).rstrip("/") != issuer:
            raise OidcFailure(502, (
                f"Nhà cung cấp định danh tự xưng là {discovery.get('issuer')!r}, khác với "
                f"OIDC.issuer {issuer!r} (the provider's discovery names another issuer)."))
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not discovery.get(key):
                raise OidcFailure(502, f"Tài liệu discovery của nhà cung cấp thiếu {key} "
                                       f"(the provider's discovery document has no {key}).")
        metadata = _Metadata(discovery, self._fetch_keys(discovery), time.monotonic())
        self._cache[issuer] = metadata
        return metadata

    def _fetch_keys(self, discovery: Mapping[str, Any]) -> KeySet:
        try:
            return KeySet.import_key_set(self._get_json(str(discovery["jwks_uri"])))
        except (JoseError, ValueError, TypeError, KeyError) as error:
            raise OidcFailure(502, f"Không đọc được khóa công khai của nhà cung cấp (the "
                                   f"provider's JWKS is not usable: {error}).") from None

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = self.http.get(url, timeout=PROVIDER_TIMEOUT_SECONDS)
            response.raise_for_status()
            value = response.json()
        except (requests.RequestException, ValueError) as error:
            raise OidcFailure(502, f"Không kết nối được nhà cung cấp định danh (the identity "
                                   f"provider did not answer {url}: {error}).") from None
        if not isinstance(value, dict):
            raise OidcFailure(502, f"{url} did not answer a JSON object.")
        return value

    def _oauth(self) -> OAuth2Session:
        settings = self.settings
        return OAuth2Session(
            settings.client_id, settings.client_secret or None, scope=settings.scopes,
            redirect_uri=settings.redirect_uri, code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if settings.client_secret
            else "none")

    # -- the two legs ----------------------------------------------------------------

    def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        endpoint = str(self.metadata().discovery["authorization_endpoint"])
        url, _ = self._oauth().create_authorization_url(
            endpoint, state=state, nonce=nonce, code_verifier=verifier)
        return str(url)

    def exchange(self, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for `code` (with the PKCE verifier)."""
        endpoint = str(self.metadata().discovery["token_endpoint"])
        oauth = self._oauth()
        try:
            token = oauth.fetch_token(endpoint, code=code, code_verifier=verifier,
                                      timeout=PROVIDER_TIMEOUT_SECONDS)
        except OAuth2Error as error:
            raise OidcFailure(400, f"Nhà cung cấp định danh từ chối mã đăng nhập (the "
                                   f"provider refused the code: {error.error}"
                                   f"{': ' + error.description if error.description else ''}"
                                   ").") from None
        except requests.RequestException as error:
            raise OidcFailure(502, f"Không kết nối được nhà cung cấp định danh (the token "
                                   f"endpoint did not answer: {error}).") from None
        finally:
            oauth.close()
        if not token.get("id_token"):
            raise OidcFailure(400, "Nhà cung cấp không trả về ID token (the provider's "
                                   "answer has no id_token: is 'openid' among the scopes?).")
        return dict(token)

    def verify_id_token(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's claims, once its signature (the provider's JWKS), issuer,
        audience, nonce and times are checked; OidcFailure(400) otherwise."""
        metadata = self.metadata()
        allowed = [alg for alg in metadata.discovery.get(
            "id_token_signing_alg_values_supported", ["RS256"]) if alg in SIGNING_ALGORITHMS]
        try:
            try:
                token = jose_jwt.decode(id_token, metadata.keys, algorithms=allowed)
            except InvalidKeyIdError:
                # Signed with a key published since the JWKS was read: the keys rotated.
                token = jose_jwt.decode(id_token, self.metadata(refresh_keys=True).keys,
                                        algorithms=allowed)
            claims = dict(token.claims)
            jose_jwt.JWTClaimsRegistry(
                now=lambda: int(self.wall_clock()), leeway=ID_TOKEN_LEEWAY_SECONDS,
                iss={"essential": True, "value": str(metadata.discovery["issuer"])},
                aud={"essential": True, "value": self.settings.client_id},
                sub={"essential": True}, exp={"essential": True}, iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError) as error:
            raise OidcFailure(400, f"ID token không hợp lệ (the ID token does not verify: "
                                   f"{error}).") from None
        audience = claims["aud"]
        if isinstance(audience, list) and len(audience) > 1 and \
                claims.get("azp") != self.settings.client_id:
            raise OidcFailure(400, "ID token không dành cho chibo (the ID token names several "
                                   "audiences and another authorized party).")
        return claims

    def userinfo(self, access_token: str) -> dict[str, Any]:
        endpoint = self.metadata().discovery.get("userinfo_endpoint")
        if not endpoint or not access_token:
            return {}
        try:
            response = self.http.get(str(endpoint), timeout=PROVIDER_TIMEOUT_SECONDS,
                                     headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            value = response.json()
        except (requests.RequestException, ValueError) as error:
            log.warning("oidc: userinfo not read (%s)", error)
            return {}
        return value if isinstance(value, dict) else {}


# -- the state cookie: what the callback needs of the first leg, signed ----------------

def _state_key(secret: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), b"chibo oidc state cookie", hashlib.sha256).digest()


def seal_state(secret: str, now: int, state: str, nonce: str, verifier: str) -> str:
    return pyjwt.encode({"state": state, "nonce": nonce, "verifier": verifier, "iat": now,
                         "exp": now + STATE_SECONDS}, _state_key(secret), algorithm="HS256")


def open_state(secret: str, now: int, sealed: str) -> dict[str, str]:
    try:
        claims = pyjwt.decode(sealed, _state_key(secret), algorithms=["HS256"],
                              options={"verify_exp": False, "verify_iat": False,
                                       "require": ["state", "nonce", "verifier", "exp"]})
    except pyjwt.PyJWTError:
        raise OidcFailure(400, "Phiên đăng nhập OIDC không hợp lệ (the sign-in cookie does not "
                               "verify): bắt đầu lại (start again at /login/oidc).") from None
    if int(claims["exp"]) <= now:
        raise OidcFailure(400, "Phiên đăng nhập OIDC đã hết hạn (the sign-in took too long): "
                               "bắt đầu lại (start again at /login/oidc).")
    return {key: str(claims[key]) for key in ("state", "nonce", "verifier")}


def page(status: int, title: str, message: str) -> Response:
    """A small page in Vietnamese with English alongside; no script, no external asset."""
    body = (
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<main data-testid=\"oidc-error\"><h1>{html.escape(title)}</h1>"
        f"<p class=\"message\">{html.escape(message)}</p>"
        "<p><a href=\"/login/oidc\">Đăng nhập lại (sign in again)</a> · "
        f"<a href=\"{HOME}\">Trang tổng quan (overview)</a></p>"
        f"<p class=\"code\">Mã lỗi {status} (error {status})</p></main></body></html>")
    return Response(body, status=status, content_type=HTML,
                    headers={"Cache-Control": "no-store"})


class OidcSignIn:
    """Mixin: OpenID Connect sign-in. Expects the service's `config` (OIDC, AUTH) and
    `caller` (chibo.nameko.access.Caller)."""

    config: Mapping[str, Any]
    caller: Any

    oidc_members = RpcProxy("members")
    #: The real time, in seconds, that ID tokens' times are checked against.
    oidc_wall_clock: Callable[[], float] = staticmethod(time.time)

    def _oidc(self) -> OidcClient:
        settings = OidcSettings.from_config(self.config)
        if not settings.enabled:
            raise OidcFailure(404, "Đăng nhập bằng OpenID Connect chưa được bật (OpenID Connect "
                                   "sign-in is not configured: set OIDC.issuer, client_id and "
                                   "redirect_uri; see docs/security.md).")
        return OidcClient(settings, type(self).oidc_wall_clock)

    def _cookie_secure(self) -> bool:
        value = (self.config.get("AUTH") or {}).get("cookie_secure", True)
        return str(value).strip().lower() not in ("false", "0", "no", "off")

    @http("GET", "/login/oidc")
    @access(PUBLIC)
    def oidc_login(self, request: Request) -> Response:
        try:
            client = self._oidc()
            state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
            verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
            url = client.authorization_url(state, nonce, verifier)
        except OidcFailure as failure:
            return page(failure.status, "Không đăng nhập được (sign-in failed)",
                        failure.message)
        response = Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
        now = int(self.caller.now.timestamp())
        response.set_cookie(STATE_COOKIE, seal_state(load_secret(self.config), now, state, nonce,
                                                     verifier),
                            max_age=STATE_SECONDS, path=STATE_COOKIE_PATH, httponly=True,
                            samesite="Lax", secure=self._cookie_secure())
        return response

    @http("GET", "/login/oidc/callback")
    @access(PUBLIC)
    def oidc_callback(self, request: Request) -> Response:
        try:
            response = self._oidc_complete(request)
        except OidcFailure as failure:
            log.warning("oidc: sign-in refused (%d): %s", failure.status, failure.message)
            title = ("Không có quyền truy cập (access refused)" if failure.status == 403
                     else "Không đăng nhập được (sign-in failed)")
            response = page(failure.status, title, failure.message)
        # One use: whatever happened, the state, nonce and verifier are spent.
        response.delete_cookie(STATE_COOKIE, path=STATE_COOKIE_PATH, httponly=True,
                               samesite="Lax", secure=self._cookie_secure())
        return response

    def _oidc_complete(self, request: Request) -> Response:
        client = self._oidc()
        args = request.args
        if args.get("error"):
            raise OidcFailure(400, "Nhà cung cấp định danh không cho đăng nhập (the identity "
                                   f"provider refused: {args.get('error')}"
                                   f"{': ' + args['error_description'] if args.get('error_description') else ''}"  # noqa: E501
                                   ").")
        sealed = request.cookies.get(STATE_COOKIE)
        if not sealed:
            raise OidcFailure(400, "Thiếu phiên đăng nhập OIDC (no sign-in in progress in this "
                                   "browser): bắt đầu lại (start again at /login/oidc).")
        secret = load_secret(self.config)
        kept = open_state(secret, int(self.caller.now.timestamp()), sealed)
        if not hmac.compare_digest(str(args.get("state", "")), kept["state"]):
            raise OidcFailure(400, "Tham số state không khớp (the state does not match the "
                                   "sign-in this browser started): bắt đầu lại (start again).")
        code = args.get("code")
        if not code:
            raise OidcFailure(400, "Thiếu mã đăng nhập (the provider sent no code).")
        token = client.exchange(code, kept["verifier"])
        claims = client.verify_id_token(str(token["id_token"]), kept["nonce"])
        settings = client.settings
        if settings.groups_claim not in claims or not claims.get("name"):
            # Some providers put groups or the name in userinfo only; the ID token's
            # claims stay as they are.
            extra = client.userinfo(str(token.get("access_token") or ""))
            if extra.get("sub") == claims["sub"]:
                claims = {**extra, **claims}
        groups = _groups_of(claims, settings.groups_claim)
        subject = str(claims["sub"])
        name = str(claims.get("name") or claims.get("preferred_username")
                   or claims.get("email") or subject)
        email = str(claims.get("email") or "")
        if not mapped_grants(groups, settings.group_roles):
            raise OidcFailure(403, (
                f"Tài khoản {name} chưa được giao vai trò nào trong chibo: không nhóm nào "
                f"({', '.join(groups) or 'không có nhóm'}) được gán vai trò (no group of this "
                "account maps to a chibo role; ask a provincial administrator to add it to "
                "OIDC.group_roles or to a mapped group)."))
        session = self._oidc_sign_in(str(claims["iss"]), subject, name, email, groups)
        return self._oidc_session_response(session)

    def _oidc_sign_in(self, issuer: str, subject: str, name: str, email: str,
                      groups: Sequence[str]) -> Mapping[str, Any]:
        try:
            with self.caller.acting_as_service():
                result = self.oidc_members.sign_in_external(issuer, subject, name, email,
                                                            list(groups))
        except RemoteError as error:
            known = from_remote(error.exc_type, error.value)
            if error.exc_type in ("LoginFailed", "AccountLocked", "Unauthenticated"):
                raise OidcFailure(403, "Tài khoản này đã bị đóng hoặc tạm khóa trong chibo (the "
                                       "chibo account is closed or locked).") from None
            if known is not None:
                raise OidcFailure(403 if known.http_status in (401, 403) else known.http_status,
                                  known.message) from None
            log.error("oidc: members.sign_in_external failed: %s %s", error.exc_type,
                      error.value)
            raise OidcFailure(502, "Dịch vụ members không đăng nhập được tài khoản (members "
                                   f"could not sign the account in: {error.exc_type}).") from None
        if not isinstance(result, Mapping) or not result.get("token"):
            raise OidcFailure(502, "Dịch vụ members không trả về phiên đăng nhập (members "
                                   "returned no session token).")
        return result

    def _oidc_session_response(self, session: Mapping[str, Any]) -> Response:
        token = str(session["token"])
        now = self.caller.now
        try:
            verified = self.caller.signer.verify(token, now)
        except InvalidToken as error:
            raise OidcFailure(502, f"Phiên đăng nhập members trả về không hợp lệ (members "
                                   f"returned a session that does not verify: {error}).") from None
        if any(grant.role not in GRANTABLE for grant in verified.identity.grants):
            raise OidcFailure(403, "Nhóm của tài khoản được gán một vai trò không dành cho "
                                   "người dùng (a group maps to a role no person may hold, "
                                   "such as 'service'): check OIDC.group_roles.")
        if not verified.identity.grants_on(now.date()):
            raise OidcFailure(403, (
                f"Tài khoản {verified.identity.name} không có vai trò nào còn hiệu lực (the "
                "account has no role valid today); ask a provincial administrator."))
        response = Response(status=302, headers={"Location": HOME, "Cache-Control": "no-store"})
        response.set_cookie(SESSION_COOKIE, token,
                            max_age=max(0, verified.expires_at - int(now.timestamp())),
                            path="/", httponly=True, samesite="Lax",
                            secure=self._cookie_secure())
        return response
