"""The authorization request pipeline (Core §3.1.2, RFC 7636): one case per check, in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from exeunt.protocol.authorization import CHECKS, AuthRequest, PageError, RedirectError, needs_login, validate
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.registration import build_client

CB = "http://localhost:3000/cb"
CONFIDENTIAL = build_client(client_id="notes", name="Notes", redirect_uris=[CB])
PUBLIC = build_client(client_id="spa", name="SPA", redirect_uris=[CB], public=True)
CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
GOOD = {"client_id": "notes", "redirect_uri": CB, "response_type": "code", "scope": "openid", "state": "s"}


async def _lookup(client_id: str) -> ClientRecord | None:
    return {"notes": CONFIDENTIAL, "spa": PUBLIC}.get(client_id)


def run(params: dict[str, str]) -> AuthRequest:
    return asyncio.run(validate(params, _lookup))


def refused(params: dict[str, str]) -> RedirectError:
    with pytest.raises(RedirectError) as caught:
        run(params)
    return caught.value


@pytest.mark.parametrize(
    "params, title",
    [
        ({}, "incomplete"),
        ({"client_id": "nobody"}, "Unknown application"),
        ({"client_id": "x" * 201}, "Unknown application"),
        ({"client_id": "notes"}, "incomplete"),
        ({"client_id": "notes", "redirect_uri": CB + "/other"}, "refused"),
        ({"client_id": "notes", "redirect_uri": CB.upper()}, "refused"),
    ],
)
def test_until_the_redirect_uri_is_trusted_errors_are_pages(params: dict[str, str], title: str) -> None:
    with pytest.raises(PageError) as caught:
        run(params)
    assert title in caught.value.title


@pytest.mark.parametrize(
    "change, error, description",
    [
        ({"state": "s" * 2049}, "invalid_request", "state is too long"),
        ({"nonce": "n" * 2049}, "invalid_request", "nonce is too long"),
        ({"request": "x"}, "request_not_supported", ""),
        ({"request_uri": "https://x"}, "request_uri_not_supported", ""),
        ({"response_type": ""}, "invalid_request", "response_type is missing"),
        ({"response_type": "token"}, "unsupported_response_type", ""),
        ({"response_mode": "fragment"}, "invalid_request", "response_mode"),
        ({"scope": "profile"}, "invalid_scope", "openid"),
        ({"prompt": "maybe"}, "invalid_request", "unknown value"),
        ({"prompt": "none login"}, "invalid_request", "cannot be combined"),
        ({"max_age": "²"}, "invalid_request", "max_age"),
        ({"max_age": "-5"}, "invalid_request", "max_age"),
        ({"code_challenge_method": "S256"}, "invalid_request", "without code_challenge"),
        ({"code_challenge": CHALLENGE, "code_challenge_method": "plain"}, "invalid_request", "S256"),
        ({"code_challenge": "short", "code_challenge_method": "S256"}, "invalid_request", "43"),
        ({"client_id": "spa"}, "invalid_request", "public clients must use PKCE"),
    ],
)
def test_each_check_refuses_with_its_oauth_error(change: dict[str, str], error: str, description: str) -> None:
    err = refused({**GOOD, **change})
    assert err.error == error and description in err.description
    assert err.redirect_uri == CB
    assert err.state == (None if "state" in change else "s")  # a too-long state is not echoed


def test_the_first_check_that_refuses_decides() -> None:
    assert refused({**GOOD, "response_type": "token", "scope": "profile"}).error == "unsupported_response_type"
    assert [c.__name__ for c in CHECKS][:2] == ["check_state_length", "check_parameter_lengths"]


def test_a_good_request_is_read_whole() -> None:
    req = run({**GOOD, "scope": "openid profile openid", "prompt": "login", "max_age": "99999999999999"})
    assert req.client is CONFIDENTIAL and req.redirect_uri == CB and req.state == "s"
    assert req.scope == "openid profile" and req.prompt == frozenset({"login"})
    assert req.max_age == 10 * 365 * 86400  # clamped: a huge max_age means "any sign-in"
    pkce = run({**GOOD, "client_id": "spa", "code_challenge": CHALLENGE, "code_challenge_method": "S256"})
    assert pkce.code_challenge == CHALLENGE


def test_needs_login_follows_prompt_and_max_age() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    req = run(GOOD)
    assert needs_login(req, None, now)
    assert not needs_login(req, now - timedelta(days=1), now)
    assert needs_login(run({**GOOD, "prompt": "login"}), now, now)
    aged = run({**GOOD, "max_age": "60"})
    assert not needs_login(aged, now - timedelta(seconds=60), now)
    assert needs_login(aged, now - timedelta(seconds=61), now)
