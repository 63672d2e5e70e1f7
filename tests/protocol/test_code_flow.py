"""The authorization-code flow end to end, on SQLite and PostgreSQL (OpenID Connect Core §3.1)."""

from __future__ import annotations

import httpx
import pytest

from exeunt.storage import sessions as session_store
from tests.support.flows import Browser, Rp, exchange, query_of, verify_id_token
from tests.support.idp import Idp

REDIRECT = "http://localhost:9/cb"


@pytest.fixture
def rp(idp: Idp) -> Rp:
    idp.add_user("alice", email="alice@example.org", name="Alice Liddell")
    secret = idp.add_client("notes", [REDIRECT])
    return Rp("notes", REDIRECT, secret)


def participants(idp: Idp, sid: str) -> list[str]:
    async def read() -> list[str]:
        async with idp.provider.db.read() as conn:
            return [p.client_id for p in await session_store.participants(conn, sid)]

    return idp.call(read())


def test_sign_in_issues_an_id_token_whose_sid_names_a_session_with_the_client_in_it(
    idp: Idp, browser: Browser, rp: Rp
) -> None:
    signed_in = browser.sign_in(rp)
    assert signed_in.params["iss"] == idp.issuer
    assert "." in signed_in.params["session_state"]

    response = exchange(idp, rp, signed_in)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    claims = verify_id_token(idp, body["id_token"], "notes", signed_in.nonce)
    assert {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash"} <= claims.keys()
    assert participants(idp, claims["sid"]) == ["notes"]

    info = httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200
    assert info.json() == {"sub": claims["sub"]}  # scope=openid only: no profile or email


def test_a_second_client_in_the_same_browser_needs_no_password_and_shares_the_sid(
    idp: Idp, browser: Browser, rp: Rp
) -> None:
    idp.add_client("board", ["http://localhost:9/board"], public=True)
    board = Rp("board", "http://localhost:9/board")
    first = verify_id_token(idp, exchange(idp, rp, browser.sign_in(rp)).json()["id_token"], "notes")

    response = browser.authorize(board, state="s", code_challenge="x" * 43, code_challenge_method="S256")
    assert response.status_code == 303  # straight back with a code: no sign-in page
    second_sign_in = browser.sign_in(board)
    second = exchange(idp, board, second_sign_in).json()
    claims = verify_id_token(idp, second["id_token"], "board", second_sign_in.nonce)
    assert claims["sid"] == first["sid"] and claims["sub"] == first["sub"]
    assert sorted(participants(idp, claims["sid"])) == ["board", "notes"]


def test_userinfo_returns_profile_and_email_claims_the_scopes_allow(idp: Idp, browser: Browser, rp: Rp) -> None:
    signed_in = browser.sign_in(rp, scope="openid profile email")
    token = exchange(idp, rp, signed_in).json()["access_token"]
    info = httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {token}"}).json()
    assert info["preferred_username"] == "alice"
    assert info["name"] == "Alice Liddell" and info["email"] == "alice@example.org"


def test_prompt_none_without_a_session_returns_login_required_with_state(idp: Idp, browser: Browser, rp: Rp) -> None:
    response = browser.authorize(rp, state="abc", prompt="none")
    assert response.status_code == 303
    got = query_of(response.headers["location"])
    assert got["error"] == "login_required" and got["state"] == "abc" and "code" not in got


def test_prompt_login_and_max_age_zero_show_the_sign_in_page_again(idp: Idp, browser: Browser, rp: Rp) -> None:
    browser.sign_in(rp)
    assert browser.authorize(rp, state="s", prompt="login").status_code == 200
    assert browser.authorize(rp, state="s", max_age="0").status_code == 200
    assert browser.authorize(rp, state="s").status_code == 303


def test_each_sign_in_gets_a_new_sid(idp: Idp, browser: Browser, rp: Rp) -> None:
    first = browser.sign_in(rp)
    first_sid = verify_id_token(idp, exchange(idp, rp, first).json()["id_token"], "notes")["sid"]
    again = browser.sign_in(rp, prompt="login")
    second_sid = verify_id_token(idp, exchange(idp, rp, again).json()["id_token"], "notes")["sid"]
    assert first_sid != second_sid


def test_discovery_advertises_every_endpoint_and_the_jwks_serves_keys_with_kid(idp: Idp) -> None:
    response = httpx.get(idp.url("/.well-known/openid-configuration"))
    assert response.status_code == 200 and "max-age" in response.headers["cache-control"]
    meta = response.json()
    assert meta["issuer"] == idp.issuer
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert meta[name].startswith(idp.issuer + "/")
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "client_secret_basic" in meta["token_endpoint_auth_methods_supported"]
    assert meta["id_token_signing_alg_values_supported"] == ["ES256", "RS256"]  # a key for each, always
    keys = httpx.get(meta["jwks_uri"]).json()["keys"]
    assert keys and all(k["kid"] and "d" not in k and k["use"] == "sig" for k in keys)
    assert len({k["kid"] for k in keys}) == len(keys)


def test_cors_lets_browser_apps_call_discovery_token_and_userinfo(idp: Idp, rp: Rp) -> None:
    idp.add_client("spa", ["http://localhost:5173/cb"], public=True)
    anyone = httpx.get(idp.url("/.well-known/openid-configuration"), headers={"Origin": "https://elsewhere.example"})
    assert anyone.headers["access-control-allow-origin"] == "*"
    preflight = httpx.options(
        idp.url("/token"),
        headers={
            "Origin": "http://localhost:5173",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
    stranger = httpx.options(
        idp.url("/token"), headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in stranger.headers
    userinfo = httpx.get(idp.url("/userinfo"), headers={"Origin": "http://localhost:5173"})
    assert userinfo.headers["access-control-allow-origin"] == "http://localhost:5173"
