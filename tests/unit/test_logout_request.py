"""RP-Initiated Logout 1.0 §2–§4 request validation and Front-Channel Logout §2 URLs, without a server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.logout import LogoutRequest, frontchannel_url, validate_logout_request
from exeunt.protocol.registration import build_client
from exeunt.tokens.id_token import mint_id_token
from exeunt.tokens.keys import KeyRing, LoadedKey, new_key_record

ISSUER = "https://op.example"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
NOTES = build_client(
    client_id="notes",
    name="Notes",
    redirect_uris=["https://notes.example/cb"],
    post_logout_redirect_uris=["https://notes.example/bye", "https://notes.example/bye?lang=en"],
)
BOARD = build_client(client_id="board", name="Board", redirect_uris=["https://board.example/cb"], public=True)
RING = KeyRing([new_key_record("ES256", NOW - timedelta(days=1))], publish_after_retire=timedelta(hours=1))
OTHER_RING = KeyRing([new_key_record("ES256", NOW)], publish_after_retire=timedelta(hours=1))


async def _lookup(client_id: str) -> ClientRecord | None:
    return {"notes": NOTES, "board": BOARD}.get(client_id)


def signing_key(ring: KeyRing) -> LoadedKey:
    key = ring.signing_key("ES256", NOW)
    assert key is not None
    return key


def hint(*, ring: KeyRing = RING, issuer: str = ISSUER, client_id: str = "notes", age: float = 0.0) -> str:
    issued = NOW - timedelta(seconds=age)
    return mint_id_token(
        signing_key(ring),
        issuer=issuer,
        client_id=client_id,
        sub="alice-sub",
        sid="sid-1",
        auth_time=issued,
        nonce=None,
        access_token="at",
        lifetime=600,
        now=issued,
    )


def check(params: dict[str, str]) -> LogoutRequest:
    return asyncio.run(validate_logout_request(params, ring=RING, issuer=ISSUER, now=NOW, lookup=_lookup))


def test_a_valid_hint_names_the_client_the_session_and_the_redirect() -> None:
    req = check({"id_token_hint": hint(), "post_logout_redirect_uri": "https://notes.example/bye", "state": "x y"})
    assert req.problem is None and req.client_id == "notes" and req.client_name == "Notes"
    assert req.hint_names("sid-1", "alice-sub") and not req.hint_names("sid-2", "alice-sub")
    assert req.redirect_target() == "https://notes.example/bye?state=x+y"


def test_an_expired_hint_is_still_accepted() -> None:
    assert check({"id_token_hint": hint(age=30 * 86400)}).problem is None  # RIL §2: exp may have passed


def test_the_registered_query_is_kept_and_state_appended() -> None:
    req = check({"client_id": "notes", "post_logout_redirect_uri": "https://notes.example/bye?lang=en", "state": "s"})
    assert req.redirect_target() == "https://notes.example/bye?lang=en&state=s"


def test_without_state_the_target_is_the_registered_uri_as_is() -> None:
    req = check({"client_id": "notes", "post_logout_redirect_uri": "https://notes.example/bye"})
    assert req.redirect_target() == "https://notes.example/bye" and req.state is None


def _forged(kind: str) -> str:
    if kind == "none":
        return jwt.encode({"iss": ISSUER, "sub": "s", "aud": "notes"}, None, algorithm="none")
    if kind == "hs256":
        return jwt.encode({"iss": ISSUER, "sub": "s", "aud": "notes"}, "s" * 40, algorithm="HS256")
    if kind == "other-key":
        return hint(ring=OTHER_RING)
    if kind == "other-issuer":
        return hint(issuer="https://evil.example")
    if kind == "flipped":
        good = hint()
        return good[:-5] + ("A" if good[-5] != "A" else "B") + good[-4:]
    if kind == "garbage":
        return "not-a-jwt"
    if kind == "huge":
        return "a" * 20000
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["none", "hs256", "other-key", "other-issuer", "flipped", "garbage", "huge"])
def test_a_hint_we_did_not_issue_is_refused_and_nothing_of_it_is_used(kind: str) -> None:
    req = check({"id_token_hint": _forged(kind), "post_logout_redirect_uri": "https://notes.example/bye"})
    assert req.problem is not None and req.problem.startswith("id_token_hint invalid")
    assert req == LogoutRequest(problem=req.problem, plainly=req.plainly)  # RIL §4: nothing of it is used


@pytest.mark.parametrize(
    "params, problem",
    [
        ({"state": "s" * 2049}, "state is too long"),
        ({"client_id": "nobody"}, "not a registered application"),
        ({"client_id": "x" * 201}, "not a registered application"),
        ({"post_logout_redirect_uri": "https://notes.example/bye"}, "without id_token_hint or client_id"),
        ({"client_id": "notes", "post_logout_redirect_uri": "https://evil.example/"}, "not registered for Notes"),
        ({"client_id": "notes", "post_logout_redirect_uri": "https://notes.example/bye/"}, "not registered"),
        ({"id_token_hint": "HINT", "client_id": "board"}, "does not match"),
        ({"id_token_hint": "GONE"}, "no longer registered"),
    ],
)
def test_each_rule_refuses_with_a_reason(params: dict[str, Any], problem: str) -> None:
    if params.get("id_token_hint") == "HINT":
        params["id_token_hint"] = hint()
    if params.get("id_token_hint") == "GONE":
        params["id_token_hint"] = hint(client_id="removed-app")
    req = check(params)
    assert req.problem is not None and problem in req.problem
    assert req.redirect_target() is None


def test_frontchannel_url_adds_iss_and_sid_only_when_required() -> None:
    plain = build_client(
        client_id="a", name=None, redirect_uris=["https://a.example/cb"], frontchannel_logout_uri="https://a.example/fc"
    )
    assert frontchannel_url(plain, ISSUER, "sid-1") == "https://a.example/fc"
    required = build_client(
        client_id="b",
        name=None,
        redirect_uris=["https://b.example/cb"],
        frontchannel_logout_uri="https://b.example/fc?t=1",
        frontchannel_logout_session_required=True,
    )
    assert (
        frontchannel_url(required, ISSUER, "sid-1") == "https://b.example/fc?t=1&iss=https%3A%2F%2Fop.example&sid=sid-1"
    )
    assert frontchannel_url(NOTES, ISSUER, "sid-1") is None
