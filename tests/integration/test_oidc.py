"""OpenID Connect sign-in against a real provider running locally (tests/integration/
oidc_provider.py: Authlib's server classes, RS256 ID tokens, PKCE required), with every
service on RabbitMQ and PostgreSQL. chibo fetches the provider's discovery and JWKS over
HTTP and verifies the ID token itself; the test drives the browser's part with requests:
start at /login/oidc, sign in at the provider, follow the redirect back."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from chibo.access import TokenSigner
from chibo.nameko.runtime import rpc_client
from services.reporting.oidc_entrypoints import STATE_COOKIE, OidcClient, OidcFailure, OidcSettings
from tests.integration.oidc_provider import Provider, User, running_provider
from tests.support import (
    ADMIN,
    AUTH_SECRET,
    NOW,
    free_port,
    reporting_caught_up,
    running,
    services_config,
    token,
    two_cells_of_three,
    wait_until,
)

pytestmark = pytest.mark.services

TIMEOUT = 30
CLIENT_ID = "chibo-bao-cao"
CLIENT_SECRET = "bi-mat-cua-chibo-0123456789"
SESSION = "chibo_session"
USERS = {
    "an": User("kc-0001", "Nguyễn Văn An", "an@tinhuy.example", ["/chibo-admins", "ban-to-chuc"]),
    "binh": User("kc-0002", "Trần Thị Bình", "binh@tinhuy.example", ["ban-tuyen-giao"]),
    "cuong": User("kc-0003", "Lê Văn Cường", "cuong@tinhuy.example", ["may-chu"]),
}


@pytest.fixture(scope="module")
def system(tmp_path_factory: Any) -> Iterator[tuple[str, Provider]]:
    from tests.conftest import AMQP_URI, PG_ADMIN_URL, _need, _pg_problem, _rabbit_problem

    _need(_pg_problem)
    _need(_rabbit_problem)
    import subprocess
    import uuid

    from sqlalchemy import create_engine, text

    vhost = f"chibo-test-{uuid.uuid4().hex[:10]}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*",
                    ".*"], check=True)
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    prefix = f"chibo_test_{uuid.uuid4().hex[:8]}"
    created: list[str] = []

    def database(suffix: str) -> str:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{prefix}_{suffix}"'))
        created.append(f"{prefix}_{suffix}")
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{prefix}_{suffix}"

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        with running_provider(CLIENT_ID, CLIENT_SECRET, f"{base}/login/oidc/callback",
                              USERS) as provider:
            config = services_config(database, AMQP_URI.rstrip("/") + "/" + vhost, port=port)
            config["AUTH"] = {**config["AUTH"], "cookie_secure": False}  # plain http here
            config["OIDC"] = {
                "issuer": provider.issuer, "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET, "redirect_uri": f"{base}/login/oidc/callback",
                "scopes": "openid profile email groups", "groups_claim": "groups",
                "group_roles": {"/chibo-admins": [["admin", None]],
                                "ban-to-chuc": [["staff", "p"]],
                                "may-chu": [["service", None]]},
            }
            with running(config), rpc_client(config, token=token(ADMIN)) as proxy:
                two_cells_of_three(proxy, "Lò Văn Pọm")
                wait_until(lambda: reporting_caught_up(proxy), timeout=60,
                           message="reporting to read the tree")
                yield base, provider
    finally:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], check=False)


@pytest.fixture
def provider(system: tuple[str, Provider]) -> Iterator[Provider]:
    provider = system[1]
    yield provider
    provider.tamper_id_tokens = False
    provider.id_token_seconds = 300


def start(base: str, provider: Provider, username: str
          ) -> tuple[requests.Session, str, dict[str, str]]:
    """A browser starts at /login/oidc and signs in at the provider: the session, the
    callback address the provider sends it to, and the authorization request's query."""
    browser = requests.Session()
    first = browser.get(f"{base}/login/oidc", allow_redirects=False, timeout=TIMEOUT)
    assert first.status_code == 302, first.text
    location = first.headers["Location"]
    assert location.startswith(f"{provider.issuer}/authorize?")
    query = {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}
    state_cookie = first.headers["Set-Cookie"]
    assert f"{STATE_COOKIE}=" in state_cookie and "HttpOnly" in state_cookie
    assert "SameSite=Lax" in state_cookie and "Path=/login/oidc" in state_cookie
    form = browser.get(location, timeout=TIMEOUT)
    assert form.status_code == 200, form.text
    signed = browser.post(location, data={"username": username}, allow_redirects=False,
                          timeout=TIMEOUT)
    assert signed.status_code == 302, signed.text
    return browser, signed.headers["Location"], query


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, **changes})))


def test_a_mapped_admin_group_signs_in_and_reads_the_dashboard(system, provider):
    base, _ = system
    browser, callback, query = start(base, provider, "an")
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert callback.startswith(f"{base}/login/oidc/callback?")

    back = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 302, back.text
    assert back.headers["Location"] == "/reporting/"
    # The code was exchanged with the PKCE verifier whose S256 hash the request carried.
    verifier = provider.token_requests[-1]["code_verifier"]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    assert digest.rstrip(b"=").decode() == query["code_challenge"]
    cookies = back.raw.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith(f"{SESSION}="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "Path=/" in session_cookie and "Secure" not in session_cookie  # cookie_secure off
    assert any(c.startswith(f"{STATE_COOKIE}=;") for c in cookies)  # spent
    identity = TokenSigner(AUTH_SECRET).verify(browser.cookies[SESSION], NOW).identity
    assert identity.name == "Nguyễn Văn An"
    assert ("admin", None) in [(grant.role, grant.unit_id) for grant in identity.grants]

    overview = browser.get(f"{base}/reporting/api/overview", timeout=TIMEOUT)
    assert overview.status_code == 200, overview.text
    assert requests.get(f"{base}/reporting/api/overview", timeout=TIMEOUT).status_code == 401

    # The same callback again: the state cookie is spent, nothing more is signed in.
    again = requests.Session()
    again.cookies.update({STATE_COOKIE: "x"})
    replay = again.get(callback, allow_redirects=False, timeout=TIMEOUT)
    assert replay.status_code == 400 and SESSION not in again.cookies


def test_groups_mapped_to_no_role_are_refused_without_a_session(system, provider):
    base, _ = system
    browser, callback, _ = start(base, provider, "binh")

    back = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 403, back.text
    assert "vai trò" in back.text and "ban-tuyen-giao" in back.text
    assert SESSION not in browser.cookies
    assert browser.get(f"{base}/reporting/api/overview", timeout=TIMEOUT).status_code == 401


def test_a_state_that_does_not_match_is_refused_before_the_code_is_used(system, provider):
    base, _ = system
    browser, callback, _ = start(base, provider, "an")
    exchanged = len(provider.token_requests)

    back = browser.get(with_query(callback, state="khac"), allow_redirects=False,
                       timeout=TIMEOUT)

    assert back.status_code == 400 and "state" in back.text
    assert SESSION not in browser.cookies
    assert len(provider.token_requests) == exchanged


def test_a_tampered_id_token_is_refused(system, provider):
    base, _ = system
    provider.tamper_id_tokens = True
    browser, callback, _ = start(base, provider, "binh")  # forged into chibo-admins

    back = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 400, back.text
    assert "ID token" in back.text and "signature" in back.text.lower()
    assert SESSION not in browser.cookies


def test_an_expired_id_token_is_refused(system, provider):
    base, _ = system
    provider.id_token_seconds = -600
    browser, callback, _ = start(base, provider, "an")

    back = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 400, back.text
    assert "expired" in back.text.lower()
    assert SESSION not in browser.cookies


def test_a_provider_error_is_shown_and_signs_nobody_in(system, provider):
    base, _ = system
    browser = requests.Session()
    first = browser.get(f"{base}/login/oidc", allow_redirects=False, timeout=TIMEOUT)
    denied = browser.post(first.headers["Location"], data={"username": "ai-do"},
                          allow_redirects=False, timeout=TIMEOUT)
    assert "error=access_denied" in denied.headers["Location"]

    back = browser.get(denied.headers["Location"], allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 400 and "access_denied" in back.text
    assert SESSION not in browser.cookies


def own_id_token(base: str, provider: Provider, nonce: str) -> str:
    """An ID token of the provider for "an", by an authorization request of the test's
    own (its own PKCE verifier), exchanged at the token endpoint."""
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    redirect_uri = f"{base}/login/oidc/callback"
    authorize = f"{provider.issuer}/authorize?" + urlencode({
        "response_type": "code", "client_id": CLIENT_ID, "redirect_uri": redirect_uri,
        "scope": "openid profile email groups", "state": "s", "nonce": nonce,
        "code_challenge": challenge.rstrip(b"=").decode(), "code_challenge_method": "S256"})
    signed = requests.post(authorize, data={"username": "an"}, allow_redirects=False,
                           timeout=TIMEOUT)
    code = parse_qs(urlsplit(signed.headers["Location"]).query)["code"][0]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    wrong = requests.post(f"{provider.issuer}/token", auth=(CLIENT_ID, CLIENT_SECRET),
                          data={**form, "code_verifier": "w" * 50}, timeout=TIMEOUT)
    assert wrong.status_code == 400  # the provider holds chibo to PKCE
    answer = requests.post(f"{provider.issuer}/token", auth=(CLIENT_ID, CLIENT_SECRET),
                           data={**form, "code_verifier": verifier}, timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["id_token"])


def test_the_id_token_is_verified_against_the_providers_keys_and_claims(system, provider):
    """The relying party's verification alone, on the provider's real RS256 tokens."""
    base, _ = system
    redirect_uri = f"{base}/login/oidc/callback"
    id_token = own_id_token(base, provider, "nonce-1")
    chibo = OidcClient(OidcSettings(issuer=provider.issuer, client_id=CLIENT_ID,
                                    redirect_uri=redirect_uri))

    claims = chibo.verify_id_token(id_token, "nonce-1")
    assert claims["sub"] == "kc-0001" and claims["name"] == "Nguyễn Văn An"
    assert claims["groups"] == ["/chibo-admins", "ban-to-chuc"]

    header, payload, signature = id_token.split(".")
    unsigned = f"{header}.{payload}."
    other_client = OidcClient(OidcSettings(issuer=provider.issuer, client_id="another-app",
                                           redirect_uri=redirect_uri))
    for verifier, candidate, nonce, why in (
            (chibo, id_token, "nonce-2", "nonce"),
            (other_client, id_token, "nonce-1", "aud"),
            (chibo, unsigned, "nonce-1", ""),
            (chibo, f"{header}.{payload}.{signature[::-1]}", "nonce-1", "")):
        with pytest.raises(OidcFailure) as refused:
            verifier.verify_id_token(candidate, nonce)
        assert refused.value.status == 400 and why in refused.value.message


def test_a_group_mapped_to_the_service_role_gives_a_person_nothing(system, provider):
    base, _ = system
    browser, callback, _ = start(base, provider, "cuong")

    back = browser.get(callback, allow_redirects=False, timeout=TIMEOUT)

    assert back.status_code == 403, back.text
    assert SESSION not in browser.cookies
