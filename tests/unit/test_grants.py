"""The grant rules (``protocol/grants.py``), one test per clause of RFC 6749, RFC 7636, RFC 9700."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest

from exeunt.protocol import grants as rules
from exeunt.protocol.grants import Issue, Refuse
from exeunt.protocol.registration import build_client

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
VERIFIER = "v" * 43
CHALLENGE = "7w_YNF9DSfIdPf_pRjSq646_kPr-2-o9NAl16JGghdM"  # BASE64URL(SHA256("v" * 43))


@dataclass(frozen=True)
class Code:
    client_id: str = "notes"
    redirect_uri: str = "https://notes.example/cb"
    scope: str = "openid profile"
    code_challenge: str | None = CHALLENGE
    expires_at: datetime = NOW + timedelta(seconds=60)


@dataclass(frozen=True)
class Token:
    client_id: str = "notes"
    family_id: str = "family"
    scope: str = "openid profile offline_access"
    offline: bool = False
    expires_at: datetime = NOW + timedelta(days=1)
    family_expires_at: datetime = NOW + timedelta(days=30)
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None


def exchange(code: Code | None = Code(), **overrides: object) -> rules.Decision:
    given: dict[str, object] = {
        "code_hash": "hash",
        "first_use": True,
        "client_id": "notes",
        "redirect_uri": "https://notes.example/cb",
        "verifier": VERIFIER,
        "session_live": True,
        "now": NOW,
        **overrides,
    }
    return rules.exchange_code(code, **given)  # type: ignore[arg-type]


def refused(decision: rules.Decision, error: str = "invalid_grant") -> Refuse:
    assert isinstance(decision, Refuse), decision
    assert decision.error.error == error
    return decision


def test_pkce_s256_is_checked_in_constant_time() -> None:
    assert rules.pkce_matches(VERIFIER, CHALLENGE)
    assert not rules.pkce_matches("w" * 43, CHALLENGE)


def test_a_valid_exchange_issues_the_codes_scope() -> None:
    assert exchange() == Issue("openid profile")


@pytest.mark.parametrize(
    ("code", "overrides", "words"),
    [
        (None, {}, "unknown authorization code"),  # RFC 6749 §5.2 invalid_grant
        (Code(), {"client_id": "billing"}, "issued to another client"),  # §4.1.3: issued to the client
        (Code(expires_at=NOW), {}, "expired"),  # §4.1.2: short-lived
        (Code(), {"redirect_uri": "https://notes.example/other"}, "redirect_uri"),  # §4.1.3: identical
        (Code(), {"redirect_uri": None}, "redirect_uri"),  # §4.1.3: required when it was in the request
        (Code(), {"verifier": None}, "code_verifier is missing"),  # RFC 7636 §4.5
        (Code(), {"verifier": "w" * 43}, "does not match"),  # RFC 7636 §4.6
        (Code(code_challenge=None), {}, "had no code_challenge"),  # RFC 9700 §2.1.1: no downgrade
        (Code(), {"session_live": False}, "session has ended"),  # the session the code belongs to
    ],
)
def test_an_exchange_is_refused_without_revoking(code: Code | None, overrides: dict[str, object], words: str) -> None:
    refusal = refused(exchange(code, **overrides))
    assert words in refusal.error.description
    assert refusal.revoke_family is None and refusal.revoke_code is None


def test_a_replayed_code_revokes_everything_it_issued() -> None:
    """RFC 6749 §4.1.2: "If an authorization code is used more than once ... SHOULD revoke (when
    possible) all tokens previously issued based on that authorization code"."""
    refusal = refused(exchange(first_use=False))
    assert refusal.revoke_family == "hash" and refusal.revoke_code == "hash"


def test_a_replayed_code_of_another_client_revokes_nothing() -> None:
    refusal = refused(exchange(first_use=False, client_id="billing"))
    assert refusal.revoke_family is None


CLIENT = build_client(
    client_id="notes",
    name=None,
    redirect_uris=["https://notes.example/cb"],
    grant_types=["authorization_code", "refresh_token"],
)


def refresh(token: Token | None = Token(), **overrides: object) -> rules.Decision:
    given: dict[str, object] = {
        "client": CLIENT,
        "requested_scope": None,
        "session_live": True,
        "user_active": True,
        "reuse_grace": timedelta(seconds=10),
        "now": NOW,
        **overrides,
    }
    return rules.refresh(token, **given)  # type: ignore[arg-type]


def test_a_valid_refresh_keeps_the_scope_and_rotates() -> None:
    assert refresh() == Issue("openid profile offline_access", rotate=True)


def test_a_confidential_client_may_keep_its_refresh_token() -> None:
    keeps = replace(CLIENT, rotate_refresh_tokens=False)
    assert refresh(client=keeps) == Issue("openid profile offline_access", rotate=False)
    public = replace(keeps, token_endpoint_auth_method="none")
    assert refresh(client=public) == Issue("openid profile offline_access", rotate=True)  # RFC 9700 §4.14.2


def test_the_scope_can_narrow_but_never_widen() -> None:
    """RFC 6749 §6: "MUST NOT include any scope not originally granted"."""
    assert refresh(requested_scope="openid") == Issue("openid", rotate=True)
    refused(refresh(requested_scope="openid email"), "invalid_scope")


def test_a_client_without_the_grant_is_unauthorized() -> None:
    refused(refresh(client=replace(CLIENT, grant_types=["authorization_code"])), "unauthorized_client")


@pytest.mark.parametrize(
    ("token", "overrides", "words"),
    [
        (None, {}, "unknown refresh token"),
        (Token(client_id="billing"), {}, "unknown refresh token"),  # §6: bound to the client
        (Token(revoked_at=NOW), {}, "was revoked"),
        (Token(rotated_at=NOW - timedelta(seconds=5)), {}, "just used"),  # a racing tab, within the grace
        (Token(expires_at=NOW), {}, "expired"),
        (Token(family_expires_at=NOW), {}, "expired"),
        (Token(), {"session_live": False}, "session has ended"),  # BCL §2.7: bound to the session
        (Token(), {"user_active": False}, "can no longer sign in"),
    ],
)
def test_a_refresh_is_refused_without_revoking(token: Token | None, overrides: dict[str, object], words: str) -> None:
    refusal = refused(refresh(token, **overrides))
    assert words in refusal.error.description and refusal.revoke_family is None


def test_an_offline_token_outlives_its_session() -> None:
    assert isinstance(refresh(Token(offline=True), session_live=False), Issue)


def test_a_rotated_token_presented_again_revokes_its_grant() -> None:
    """RFC 9700 §4.14.2: refresh token rotation detects a leaked token; its whole family ends."""
    refusal = refused(refresh(Token(rotated_at=NOW - timedelta(seconds=11))))
    assert refusal.revoke_family == "family"
