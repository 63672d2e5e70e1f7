"""Every malformed, missing, duplicated or hostile input gets a clear error: never a 500, never a
redirect to an unregistered URI (RFC 6749 §4.1.2.1, §5.2; OpenID Connect Core §3.1.2.6)."""

from __future__ import annotations

import httpx
import pytest

from exeunt.web.cookies import SESSION_COOKIE
from tests.support.flows import Browser, Rp, exchange, hidden_fields, query_of
from tests.support.idp import Idp

REDIRECT = "http://localhost:9/cb"


@pytest.fixture
def rp(idp: Idp) -> Rp:
    idp.add_user("alice")
    return Rp("notes", REDIRECT, idp.add_client("notes", [REDIRECT]))


@pytest.fixture
def other(idp: Idp) -> Rp:
    return Rp("other", "http://localhost:9/other", idp.add_client("other", ["http://localhost:9/other"]))


def assert_error(response: httpx.Response, error: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    assert response.headers["cache-control"] == "no-store"


# -- authorization endpoint: errors before the redirect URI is trusted are pages -------------
@pytest.mark.parametrize(
    "query, shown",
    [
        ({}, "client_id parameter is missing"),
        ({"client_id": "nobody", "redirect_uri": REDIRECT}, "not one registered here"),
        ({"client_id": "notes"}, "redirect_uri is missing"),
        ({"client_id": "notes", "redirect_uri": "https://evil.example/cb"}, "not registered"),
        ({"client_id": "notes", "redirect_uri": REDIRECT + "/"}, "not registered"),
        ({"client_id": "notes", "redirect_uri": REDIRECT.upper()}, "not registered"),
        ({"client_id": "notes", "redirect_uri": REDIRECT + "?x=1"}, "not registered"),
    ],
)
def test_untrusted_client_or_redirect_uri_gets_a_page_never_a_redirect(
    idp: Idp, rp: Rp, query: dict[str, str], shown: str
) -> None:
    response = httpx.get(idp.url("/authorize"), params={"response_type": "code", "scope": "openid", **query})
    assert response.status_code == 400
    assert "location" not in response.headers
    assert shown in response.text and "text/html" in response.headers["content-type"]


@pytest.mark.parametrize(
    "params, error",
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": ""}, "invalid_request"),
        ({"scope": "profile"}, "invalid_scope"),
        ({"code_challenge": "x" * 43, "code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"prompt": "bogus"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"request": "eyJ..."}, "request_not_supported"),
        ({"response_mode": "form_post"}, "invalid_request"),
    ],
)
def test_bad_parameters_go_back_to_the_verified_redirect_uri_with_state(
    idp: Idp, browser: Browser, rp: Rp, params: dict[str, str], error: str
) -> None:
    response = browser.authorize(rp, state="st@te&x", **params)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    got = query_of(location)
    assert got["error"] == error and got["state"] == "st@te&x" and got["iss"] == idp.issuer


def test_a_public_client_must_use_pkce(idp: Idp, browser: Browser) -> None:
    idp.add_client("spa", ["http://localhost:9/spa"], public=True)
    response = browser.authorize(Rp("spa", "http://localhost:9/spa"), state="s")
    assert query_of(response.headers["location"])["error"] == "invalid_request"


def test_a_huge_state_is_refused_without_echoing_it(idp: Idp, browser: Browser, rp: Rp) -> None:
    response = browser.authorize(rp, state="s" * 5000)
    got = query_of(response.headers["location"])
    assert got["error"] == "invalid_request" and "state" not in got


def test_repeated_and_non_utf8_parameters_are_refused(idp: Idp, rp: Rp) -> None:
    base = idp.url("/authorize?response_type=code&scope=openid&redirect_uri=" + REDIRECT)
    repeated = httpx.get(base + "&client_id=notes&client_id=other")
    assert repeated.status_code == 400 and "repeated" in repeated.text
    non_utf8 = httpx.get(base + "&client_id=notes&state=%ff%fe")
    assert non_utf8.status_code == 400 and "UTF-8" in non_utf8.text


# -- sign-in form -----------------------------------------------------------------------------
def test_wrong_password_and_unknown_user_get_the_same_message(idp: Idp, browser: Browser, rp: Rp) -> None:
    page = browser.authorize(rp, state="s", nonce="n")
    wrong = browser.submit_login(page, "alice", "not the password")
    unknown = browser.submit_login(page, "mallory", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Incorrect username or password." in wrong.text and "Incorrect username or password." in unknown.text
    assert browser.cookie(SESSION_COOKIE) is None


def test_sign_in_without_the_csrf_token_or_from_another_site_signs_nobody_in(
    idp: Idp, browser: Browser, rp: Rp
) -> None:
    page = browser.authorize(rp, state="s")
    fields = hidden_fields(page.text)
    no_csrf = browser.http.post(
        idp.url("/login"), data={"pending": fields["pending"], "username": "alice", "password": "correct horse battery"}
    )
    assert no_csrf.status_code == 400 and "expired" in no_csrf.text
    cross = browser.http.post(
        idp.url("/login"),
        data={**fields, "username": "alice", "password": "x" * 9},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    assert browser.cookie(SESSION_COOKIE) is None


def test_a_tampered_pending_request_or_session_cookie_is_refused(idp: Idp, browser: Browser, rp: Rp) -> None:
    page = browser.authorize(rp, state="s")
    fields = hidden_fields(page.text)
    fields["pending"] = fields["pending"][:-2] + "xx"
    response = browser.http.post(
        idp.url("/login"),
        data={**fields, "username": "alice", "password": "correct horse battery"},
        headers={"Origin": idp.issuer},
    )
    assert response.status_code == 400 and "too old" in response.text

    browser.sign_in(rp)
    good = browser.cookie(SESSION_COOKIE)
    assert good
    browser.http.cookies.set(SESSION_COOKIE, good[:-3] + "abc", domain="127.0.0.1")
    assert browser.authorize(rp, state="s").status_code == 200  # treated as signed out: the form again


# -- token endpoint ---------------------------------------------------------------------------
def test_wrong_secret_and_unknown_client_get_invalid_client_401(idp: Idp, browser: Browser, rp: Rp) -> None:
    signed_in = browser.sign_in(rp)
    assert_error(exchange(idp, Rp("notes", REDIRECT, "wrong" * 8), signed_in), "invalid_client", 401)
    assert_error(exchange(idp, Rp("ghost", REDIRECT, "x" * 40), signed_in), "invalid_client", 401)
    both = httpx.post(
        idp.url("/token"),
        auth=("notes", rp.secret or ""),
        data={"grant_type": "authorization_code", "code": signed_in.code, "client_secret": "x"},
    )
    assert_error(both, "invalid_request")
    # the failed attempts did not spend the code
    assert exchange(idp, rp, signed_in).status_code == 200


def test_client_secret_post_is_refused_for_a_basic_client(idp: Idp, browser: Browser, rp: Rp) -> None:
    signed_in = browser.sign_in(rp)
    response = httpx.post(
        idp.url("/token"),
        data={
            "grant_type": "authorization_code",
            "code": signed_in.code,
            "redirect_uri": REDIRECT,
            "code_verifier": signed_in.verifier,
            "client_id": "notes",
            "client_secret": rp.secret,
        },
    )
    assert_error(response, "invalid_client", 401)


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"code_verifier": "A" * 43}, "invalid_grant"),
        ({"redirect_uri": "http://localhost:9/other"}, "invalid_grant"),
        ({"code": "not-a-code"}, "invalid_grant"),
        ({"grant_type": "password"}, "unsupported_grant_type"),
        ({"grant_type": ""}, "invalid_request"),
        ({"code_verifier": "short"}, "invalid_request"),
    ],
)
def test_token_request_errors(idp: Idp, browser: Browser, rp: Rp, overrides: dict[str, str], error: str) -> None:
    assert_error(exchange(idp, rp, browser.sign_in(rp), **overrides), error)


def test_a_code_issued_to_another_client_is_refused(idp: Idp, browser: Browser, rp: Rp, other: Rp) -> None:
    signed_in = browser.sign_in(rp)
    assert_error(exchange(idp, other, signed_in, redirect_uri=other.redirect_uri), "invalid_grant")


def test_an_expired_code_is_refused(idp: Idp, browser: Browser, rp: Rp) -> None:
    signed_in = browser.sign_in(rp)

    idp.travel(idp.config.code_lifetime)  # the provider's time moves past the code's expiry
    assert_error(exchange(idp, rp, signed_in), "invalid_grant")


def test_a_replayed_code_fails_and_revokes_the_access_token_it_issued(idp: Idp, browser: Browser, rp: Rp) -> None:
    signed_in = browser.sign_in(rp)
    token = exchange(idp, rp, signed_in).json()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(idp.url("/userinfo"), headers=bearer).status_code == 200
    assert_error(exchange(idp, rp, signed_in), "invalid_grant")
    revoked = httpx.get(idp.url("/userinfo"), headers=bearer)
    assert revoked.status_code == 401 and 'error="invalid_token"' in revoked.headers["www-authenticate"]


def test_oversized_non_form_and_non_utf8_bodies_are_refused(idp: Idp, rp: Rp) -> None:
    huge = httpx.post(
        idp.url("/token"), content=b"a=" + b"x" * 70000, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(huge, "invalid_request", 413)
    as_json = httpx.post(idp.url("/token"), json={"grant_type": "authorization_code"})
    assert_error(as_json, "invalid_request")
    bad_bytes = httpx.post(
        idp.url("/token"), content=b"grant_type=%ff", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert_error(bad_bytes, "invalid_request")
    assert_error(httpx.get(idp.url("/token")), "invalid_request")


def test_userinfo_without_or_with_a_bad_token(idp: Idp) -> None:
    missing = httpx.get(idp.url("/userinfo"))
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    bad = httpx.get(idp.url("/userinfo"), headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_unknown_paths_and_methods_get_pages_not_tracebacks(idp: Idp) -> None:
    missing = httpx.get(idp.url("/nothing-here"))
    assert missing.status_code == 404 and "Page not found" in missing.text
    wrong = httpx.delete(idp.url("/authorize"))
    assert wrong.status_code == 405
