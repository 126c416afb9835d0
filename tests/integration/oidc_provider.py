"""A small but real OpenID Connect provider for the tests, built on Authlib's server
classes and served by werkzeug on a local port.

It publishes discovery (`/.well-known/openid-configuration`) and its RSA key (`/jwks`),
runs the authorization code grant with PKCE required (S256) and the client secret
checked at the token endpoint, and signs ID tokens with RS256 carrying the nonce, the
user's name, email and groups. A person signs in by posting their username to the
authorization endpoint (what a real provider's login form does).

Faults a test can ask for: `tamper_id_tokens` (the payload is changed after signing,
so the signature no longer matches) and `id_token_seconds` (negative: tokens already
expired)."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    JsonPayload,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid", "profile", "email", "groups"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic" if endpoint == "token" else True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int | None:
        return None


class _Payload(OAuth2Payload):
    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def data(self) -> Any:
        return self._request.values

    @property
    def datalist(self) -> Any:
        return {key: self._request.values.getlist(key) for key in self._request.values}


class _Request(OAuth2Request):
    def __init__(self, request: Request) -> None:
        super().__init__(request.method, request.url, headers=request.headers)
        self._request = request
        self.payload = _Payload(request)

    @property
    def args(self) -> Any:
        return self._request.args

    @property
    def form(self) -> Any:
        return self._request.form


class _JsonPayload(JsonPayload):
    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def data(self) -> Any:
        return self._request.get_json()


class _JsonRequest(JsonRequest):
    def __init__(self, request: Request) -> None:
        super().__init__(request.method, request.url, request.headers)
        self.payload = _JsonPayload(request)


@dataclass
class User:
    sub: str
    name: str
    email: str
    groups: list[str] = field(default_factory=list)


class Provider:
    """The provider's state: its key, client, users and issued codes."""

    def __init__(self, client_id: str, client_secret: str, redirect_uri: str,
                 users: Mapping[str, User]) -> None:
        self.issuer = ""  # set once the port is known
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key-1", "use": "sig"})
        self.client = Client(client_id, client_secret, redirect_uri)
        self.users = dict(users)
        self.codes: dict[str, Code] = {}
        self.tamper_id_tokens = False
        self.id_token_seconds = 300
        self.token_requests: list[dict[str, str]] = []
        self.server = self._server()

    def _server(self) -> AuthorizationServer:
        provider = self

        class Server(AuthorizationServer):
            def query_client(self, client_id: str) -> Client | None:
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
                pass

            def create_oauth2_request(self, request: Request) -> OAuth2Request:
                return _Request(request)

            def create_json_request(self, request: Request) -> JsonRequest:
                return _JsonRequest(request)

            def handle_response(self, status: int, body: Any, headers: Any) -> Response:
                if isinstance(body, dict):
                    body = json.dumps(body)
                return Response(body, status=status, headers=headers)

            def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
                pass

        class Grant(AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
                data = request.payload.data
                provider.codes[code] = Code(
                    code, request.client.get_client_id(), data.get("redirect_uri"),
                    request.scope, request.user.sub, data.get("nonce"),
                    data.get("code_challenge"), data.get("code_challenge_method"))

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = provider.codes.get(code)
                return found if found and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: Code) -> User:
                return next(user for user in provider.users.values()
                            if user.sub == authorization_code.user)

        class IdToken(OpenIDCode):
            def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
                return any(code.nonce == nonce for code in provider.codes.values()
                           if code.code != request.payload.data.get("code"))

            def resolve_client_private_key(self, client: Client) -> Any:
                return provider.key

            def get_client_algorithm(self, client: Client) -> str:
                return "RS256"

            def get_encode_header(self, client: Client) -> dict[str, str]:
                return {"alg": "RS256", "kid": "test-key-1"}

            def get_client_claims(self, client: Client) -> dict[str, Any]:
                return {"iss": provider.issuer, "aud": [client.get_client_id()],
                        "exp": int(time.time()) + provider.id_token_seconds}

            def generate_user_info(self, user: User, scope: str) -> dict[str, Any]:
                return {"sub": user.sub, "name": user.name, "email": user.email,
                        "groups": list(user.groups)}

            def encode_id_token(self, token: dict[str, Any], request: OAuth2Request) -> str:
                encoded = str(super().encode_id_token(token, request))
                if not provider.tamper_id_tokens:
                    return encoded
                header, payload, signature = encoded.split(".")
                claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
                claims["groups"] = ["chibo-admins"]
                forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=")
                return f"{header}.{forged.decode()}.{signature}"

        server = Server()
        server.register_token_generator("default", BearerTokenGenerator(
            lambda *args, **kwargs: secrets.token_urlsafe(32)))
        server.register_grant(Grant, [IdToken(require_nonce=True), CodeChallenge(required=True)])
        return server

    # -- HTTP ------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        path = request.path
        if path == "/.well-known/openid-configuration":
            return _json({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            })
        if path == "/jwks":
            return _json({"keys": [self.key.as_dict(private=False)]})
        if path == "/authorize":
            try:
                grant = self.server.get_consent_grant(request)
            except Exception as error:  # noqa: BLE001 - shown to the person, as a provider does
                return Response(f"invalid authorization request: {error}", status=400)
            if request.method == "GET":
                return Response("<form method=post><input name=username>"
                                "<button>Đăng nhập</button></form>", content_type="text/html")
            user = self.users.get(request.form.get("username", ""))
            if user is None:
                return self.server.create_authorization_response(request, grant_user=None,
                                                                 grant=grant)
            return self.server.create_authorization_response(request, grant_user=user,
                                                             grant=grant)
        if path == "/token" and request.method == "POST":
            self.token_requests.append(dict(request.form))
            return self.server.create_token_response(request)
        return Response("not found", status=404)


def _json(value: Any) -> Response:
    return Response(json.dumps(value), content_type="application/json")


@contextmanager
def running_provider(client_id: str, client_secret: str, redirect_uri: str,
                     users: Mapping[str, User]) -> Iterator[Provider]:
    """The provider on a free local port, in a thread, stopped afterwards."""
    provider = Provider(client_id, client_secret, redirect_uri, users)
    server = make_server("127.0.0.1", 0, provider, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
