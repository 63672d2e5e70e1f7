"""Refresh tokens that end with the session (issue 11): rotation and reuse detection (RFC 9700
§4.14.2), scope narrowing, client binding, BCL §2.7 on every way a session ends, revocation (RFC
7009) and introspection (RFC 7662).  Real provider on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from tests.support.flows import Browser, Rp, exchange, hidden_fields, sign_out, verify_id_token
from tests.support.idp import Idp

CB = "http://localhost:9/cb"
ADMIN_TOKEN = "t" * 40


@pytest.fixture
def idp_settings() -> dict[str, str]:
    return {"EXEUNT_ADMIN_TOKEN": ADMIN_TOKEN}


def app(idp: Idp, client_id: str = "notes", **metadata: Any) -> Rp:
    metadata.setdefault("grant_types", ["authorization_code", "refresh_token"])
    secret = idp.add_client(client_id, [CB + client_id], **metadata)
    return Rp(client_id, CB + client_id, secret)


def tokens(idp: Idp, browser: Browser, rp: Rp, scope: str = "openid profile") -> dict[str, Any]:
    answer = exchange(idp, rp, browser.sign_in(rp, scope=scope))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def refresh(idp: Idp, rp: Rp, token: str, **extra: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": token, **extra}
    auth = (rp.client_id, rp.secret) if rp.secret else None
    if rp.secret is None:
        data["client_id"] = rp.client_id
    return httpx.post(idp.url("/token"), data=data, auth=auth, timeout=10)


def introspect(idp: Idp, rp: Rp, token: str) -> dict[str, Any]:
    answer = httpx.post(idp.url("/introspect"), data={"token": token}, auth=(rp.client_id, rp.secret or ""))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def error_of(answer: httpx.Response) -> str:
    return str(answer.json().get("error"))


@pytest.fixture
def alice(idp: Idp) -> Browser:
    idp.add_user("alice")
    browser = Browser(idp)
    yield browser  # type: ignore[misc]
    browser.close()


def test_refresh_rotates_and_the_id_token_keeps_sub_sid_and_auth_time(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    assert first["refresh_token"] and first["scope"] == "openid profile"
    original = verify_id_token(idp, first["id_token"], rp.client_id)
    answer = refresh(idp, rp, first["refresh_token"])
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    second = answer.json()
    assert second["refresh_token"] != first["refresh_token"] and second["access_token"] != first["access_token"]
    claims = verify_id_token(idp, second["id_token"], rp.client_id)
    assert (claims["sub"], claims["sid"], claims["auth_time"]) == (
        original["sub"],
        original["sid"],
        original["auth_time"],
    )
    assert "nonce" not in claims  # Core §12.2
    userinfo = httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {second['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["sub"] == original["sub"]


def test_reuse_of_a_rotated_token_revokes_the_whole_family(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    second = refresh(idp, rp, first["refresh_token"]).json()
    idp.clock.advance(11)  # past the race grace: this is a replay, not two tabs
    stolen = refresh(idp, rp, first["refresh_token"])
    assert stolen.status_code == 400 and error_of(stolen) == "invalid_grant" and "revoked" in stolen.text
    assert error_of(refresh(idp, rp, second["refresh_token"])) == "invalid_grant"  # the family is gone
    assert introspect(idp, rp, second["access_token"]) == {"active": False}  # and the access tokens it made
    revived = refresh(idp, rp, second["refresh_token"])
    assert error_of(revived) == "invalid_grant"  # a revoked family cannot be revived


def test_two_tabs_racing_do_not_revoke_the_family(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    winner = refresh(idp, rp, first["refresh_token"])
    loser = refresh(idp, rp, first["refresh_token"])  # the other tab, a moment later
    assert winner.status_code == 200 and error_of(loser) == "invalid_grant" and "just used" in loser.text
    assert refresh(idp, rp, winner.json()["refresh_token"]).status_code == 200  # the family lives on


def test_scopes_narrow_but_never_widen(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    narrowed = refresh(idp, rp, first["refresh_token"], scope="openid")
    assert narrowed.status_code == 200 and narrowed.json()["scope"] == "openid"
    wider = refresh(idp, rp, narrowed.json()["refresh_token"], scope="openid profile email")
    assert wider.status_code == 400 and error_of(wider) == "invalid_scope" and "email" in wider.text


def test_a_token_of_another_client_is_refused(idp: Idp, alice: Browser) -> None:
    notes, billing = app(idp), app(idp, "billing")
    first = tokens(idp, alice, notes)
    stolen = refresh(idp, billing, first["refresh_token"])
    assert stolen.status_code == 400 and error_of(stolen) == "invalid_grant"
    assert refresh(idp, notes, first["refresh_token"]).status_code == 200  # nothing happened to it
    revoke = httpx.post(
        idp.url("/revoke"), data={"token": first["access_token"]}, auth=(billing.client_id, billing.secret or "")
    )
    assert revoke.status_code == 400 and error_of(revoke) == "unauthorized_client"
    assert introspect(idp, billing, first["access_token"]) == {"active": False}


def test_clients_without_the_grant_get_no_refresh_token(idp: Idp, alice: Browser) -> None:
    rp = app(idp, grant_types=["authorization_code"])
    first = tokens(idp, alice, rp)
    assert "refresh_token" not in first
    assert error_of(refresh(idp, rp, "anything")) == "unauthorized_client"


def test_a_confidential_client_may_keep_one_refresh_token(idp: Idp, alice: Browser) -> None:
    rp = app(idp, rotate_refresh_tokens=False)
    first = tokens(idp, alice, rp)
    for _ in range(3):
        again = refresh(idp, rp, first["refresh_token"])
        assert again.status_code == 200 and again.json()["refresh_token"] == first["refresh_token"]


def test_refresh_tokens_expire_when_unused(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp, scope="openid offline_access")
    assert first["scope"] == "openid"  # this client may not have offline_access: ignored (Core §11)
    rp_offline = app(idp, "offline", allow_offline_access=True)
    offline = tokens(idp, alice, rp_offline, scope="openid offline_access")
    assert offline["scope"] == "openid offline_access"
    idp.travel(idp.config.refresh_token_idle + 1)
    assert error_of(refresh(idp, rp_offline, offline["refresh_token"])) == "invalid_grant"


# -- BCL §2.7: tokens end with the session they belong to ---------------------------------------------
def test_after_logout_a_non_offline_refresh_token_is_rejected_and_an_offline_one_lives(
    idp: Idp, alice: Browser
) -> None:
    bound, offline_app = app(idp), app(idp, "offline", allow_offline_access=True)
    session_bound = tokens(idp, alice, bound)
    offline = tokens(idp, alice, offline_app, scope="openid offline_access")
    assert introspect(idp, bound, session_bound["refresh_token"])["active"] is True
    before = introspect(idp, bound, session_bound["access_token"])
    assert before["active"] is True and before["token_type"] == "Bearer" and before["client_id"] == "notes"
    assert {"scope", "sub", "exp", "iat", "sid"} <= set(before)
    _, answer = sign_out(alice)
    assert answer.status_code == 303
    assert error_of(refresh(idp, bound, session_bound["refresh_token"])) == "invalid_grant"
    assert introspect(idp, bound, session_bound["refresh_token"]) == {"active": False}
    assert introspect(idp, bound, session_bound["access_token"]) == {"active": False}
    userinfo = httpx.get(idp.url("/userinfo"), headers={"Authorization": f"Bearer {session_bound['access_token']}"})
    assert userinfo.status_code == 401
    survived = refresh(idp, offline_app, offline["refresh_token"])
    assert survived.status_code == 200  # offline_access outlives the browser's sign-out
    assert introspect(idp, offline_app, survived.json()["refresh_token"])["active"] is True


@pytest.mark.parametrize("how", ["other_device", "admin", "password_changed"])
def test_other_endings_revoke_offline_tokens_too(idp: Idp, alice: Browser, how: str) -> None:
    offline_app = app(idp, "offline", allow_offline_access=True)
    offline = tokens(idp, alice, offline_app, scope="openid offline_access")
    phone = Browser(idp)
    phone.sign_in(Rp(offline_app.client_id, offline_app.redirect_uri, offline_app.secret))
    if how == "other_device":
        page = phone.http.get(idp.url("/account/sessions")).text
        phone.http.post(
            idp.url("/account/sessions/end-others"),
            data={"csrf": hidden_fields(page)["csrf"]},
            headers={"Origin": idp.issuer},
        )
    elif how == "admin":
        httpx.delete(idp.url("/admin/users/alice/sessions"), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    else:
        form = hidden_fields(phone.http.get(idp.url("/account/password")).text)
        phone.http.post(
            idp.url("/account/password"),
            data={**form, "current": "correct horse battery", "new": "another long one", "again": "another long one"},
            headers={"Origin": idp.issuer},
        )
    assert error_of(refresh(idp, offline_app, offline["refresh_token"])) == "invalid_grant"
    phone.close()


# -- revocation (RFC 7009) ---------------------------------------------------------------------------
def test_revocation_of_both_token_types(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    auth = (rp.client_id, rp.secret or "")
    assert httpx.post(idp.url("/revoke"), data={"token": first["access_token"]}, auth=auth).status_code == 200
    assert introspect(idp, rp, first["access_token"]) == {"active": False}
    assert refresh(idp, rp, first["refresh_token"]).status_code == 200  # an access token's revocation ends only it
    second = tokens(idp, alice, rp)
    gone = httpx.post(
        idp.url("/revoke"), data={"token": second["refresh_token"], "token_type_hint": "refresh_token"}, auth=auth
    )
    assert gone.status_code == 200
    assert error_of(refresh(idp, rp, second["refresh_token"])) == "invalid_grant"
    assert introspect(idp, rp, second["access_token"]) == {"active": False}  # §2.1: its grant's access tokens too
    for token in ("unknown", second["refresh_token"], "x" * 600):  # §2.2: unknown or already revoked: 200
        assert (
            httpx.post(idp.url("/revoke"), data={"token": token, "token_type_hint": "whatever"}, auth=auth).status_code
            == 200
        )
    assert error_of(httpx.post(idp.url("/revoke"), data={}, auth=auth)) == "invalid_request"
    unauthenticated = httpx.post(idp.url("/revoke"), data={"token": "x", "client_id": "notes"})
    assert unauthenticated.status_code == 401 and error_of(unauthenticated) == "invalid_client"
    assert "www-authenticate" in unauthenticated.headers


def test_discovery_advertises_the_grant_revocation_and_introspection(idp: Idp) -> None:
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    assert "refresh_token" in meta["grant_types_supported"] and "offline_access" in meta["scopes_supported"]
    assert meta["revocation_endpoint"] == idp.url("/revoke") and meta["introspection_endpoint"] == idp.url(
        "/introspect"
    )
    assert "client_secret_basic" in meta["revocation_endpoint_auth_methods_supported"]
    assert "client_secret_basic" in meta["introspection_endpoint_auth_methods_supported"]


# -- a third-party client library ---------------------------------------------------------------------
def test_authlib_keeps_a_user_signed_in_with_rotating_refresh_tokens(idp: Idp, alice: Browser) -> None:
    rp = app(idp)
    first = tokens(idp, alice, rp)
    meta = httpx.get(idp.url("/.well-known/openid-configuration")).json()
    with OAuth2Client(rp.client_id, rp.secret, token=first, token_endpoint=meta["token_endpoint"]) as client:
        fresh = client.refresh_token(meta["token_endpoint"], refresh_token=first["refresh_token"])
        assert fresh["refresh_token"] != first["refresh_token"]
        userinfo = client.get(meta["userinfo_endpoint"])
        assert userinfo.status_code == 200
        client.revoke_token(meta["revocation_endpoint"], token=fresh["refresh_token"], token_type_hint="refresh_token")
    header = jwt.get_unverified_header(fresh["id_token"])
    assert header["alg"] == "RS256"
    assert error_of(refresh(idp, rp, fresh["refresh_token"])) == "invalid_grant"
