"""The token endpoint's grant rules, as plain functions that return a decision.

Given what storage found (a spent code, a refresh token, the session's state), each rule says
``Issue`` (go on and issue tokens) or ``Refuse`` (answer this error; revoke what it names first).
The endpoint applies the decision explicitly: it revokes what a refusal names, commits, then
answers.  Nothing here reads a clock, a database or a request.

=====================================  ==========================================================
grant                                  rule (in order)
=====================================  ==========================================================
authorization_code (RFC 6749 §4.1.3)   the code exists and was issued to this client; a replayed
                                       code revokes what it issued (§4.1.2, RFC 9700 §4.14.2);
                                       not expired; redirect_uri as in the request; PKCE
                                       (RFC 7636 §4.6) when a challenge was sent, and no verifier
                                       when none was; the sign-in session still lives
refresh_token (RFC 6749 §6)            the client has the grant; the token is this client's, not
                                       revoked; a rotated token presented again revokes its whole
                                       grant (RFC 9700 §4.14.2) unless it was rotated within the
                                       grace of a racing tab; not expired; scope narrowed, never
                                       widened (§6); session-bound tokens need a live session; the
                                       user may still sign in.  Public clients always rotate.
client_credentials (RFC 6749 §4.4)     a confidential client registered for the grant; the scope
                                       is the requested subset of what the operator granted (all
                                       of it when none is requested, §3.3); an access token of at
                                       most an hour, no refresh token (§4.4.3), no id_token
=====================================  ==========================================================
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from exeunt.errors import OAuthError, invalid_grant, invalid_scope, unauthorized_client
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.scopes import narrowed_scope
from exeunt.security import b64url

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
SERVICE_TOKEN_LIFETIME = 3600  # seconds at most, for a client acting for itself (CAEP interop §2.6.1)


@dataclass(frozen=True)
class Issue:
    """Go on: issue tokens with ``scope``; ``rotate`` says whether a refresh token is replaced."""

    scope: str
    rotate: bool = True


@dataclass(frozen=True)
class Refuse:
    """Answer ``error``; first revoke the grant ``revoke_family`` (and the tokens of the code
    ``revoke_code``), so a leaked code or refresh token stops working everywhere."""

    error: OAuthError
    revoke_family: str | None = None
    revoke_code: str | None = None


Decision = Issue | Refuse


class SpentCode(Protocol):
    """What the rules read of an authorization code (storage's ``CodeRecord``)."""

    @property
    def client_id(self) -> str: ...
    @property
    def redirect_uri(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def code_challenge(self) -> str | None: ...
    @property
    def expires_at(self) -> datetime: ...


class HeldRefreshToken(Protocol):
    """What the rules read of a refresh token (storage's ``RefreshTokenRecord``)."""

    @property
    def client_id(self) -> str: ...
    @property
    def family_id(self) -> str: ...
    @property
    def scope(self) -> str: ...
    @property
    def offline(self) -> bool: ...
    @property
    def expires_at(self) -> datetime: ...
    @property
    def family_expires_at(self) -> datetime: ...
    @property
    def rotated_at(self) -> datetime | None: ...
    @property
    def revoked_at(self) -> datetime | None: ...


def pkce_matches(verifier: str, challenge: str) -> bool:
    """RFC 7636 §4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge, in constant time."""
    computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return hmac.compare_digest(computed, challenge)


def exchange_code(
    code: SpentCode | None,
    *,
    code_hash: str,
    first_use: bool,
    client_id: str,
    redirect_uri: str | None,
    verifier: str | None,
    session_live: bool,
    now: datetime,
) -> Decision:
    """RFC 6749 §4.1.3 with RFC 7636 §4.6.  The code was spent by this attempt (or an earlier one):
    whatever the decision, that spending stays."""
    if code is None:
        return Refuse(invalid_grant("unknown authorization code"))
    if code.client_id != client_id:
        return Refuse(invalid_grant("the code was issued to another client"))
    if not first_use:
        # RFC 6749 §4.1.2: a replayed code SHOULD revoke what it issued (refresh tokens included).
        return Refuse(
            invalid_grant("the code was already used; tokens issued for it are revoked"),
            revoke_family=code_hash,
            revoke_code=code_hash,
        )
    if now >= code.expires_at:
        return Refuse(invalid_grant("the code has expired"))
    if redirect_uri != code.redirect_uri:
        return Refuse(invalid_grant("redirect_uri does not match the authorization request"))
    if code.code_challenge is not None:
        if verifier is None:
            return Refuse(invalid_grant("code_verifier is missing"))
        if not pkce_matches(verifier, code.code_challenge):
            return Refuse(invalid_grant("code_verifier does not match code_challenge"))
    elif verifier is not None:
        return Refuse(invalid_grant("code_verifier sent, but the authorization request had no code_challenge"))
    if not session_live:
        return Refuse(invalid_grant("the sign-in session has ended"))
    return Issue(code.scope)


def refresh(
    token: HeldRefreshToken | None,
    *,
    client: ClientRecord,
    requested_scope: str | None,
    session_live: bool,
    user_active: bool,
    reuse_grace: timedelta,
    now: datetime,
) -> Decision:
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2)."""
    if not client.gets_refresh_tokens:
        return Refuse(unauthorized_client("this client is not registered for the refresh_token grant"))
    if token is None or token.client_id != client.client_id:
        # A token of another client is no token for this one (and says nothing about it).
        return Refuse(invalid_grant("unknown refresh token"))
    if token.revoked_at is not None:
        return Refuse(invalid_grant("the refresh token was revoked"))
    if token.rotated_at is not None:
        if now - token.rotated_at <= reuse_grace:
            # Two tabs raced with the same token: one won; this is not theft.
            return Refuse(invalid_grant("the refresh token was just used; use the newer one"))
        # A rotated token presented again means it leaked: the whole grant ends.
        return Refuse(
            invalid_grant("the refresh token was already used; every token of its grant is revoked"),
            revoke_family=token.family_id,
        )
    if now >= token.expires_at or now >= token.family_expires_at:
        return Refuse(invalid_grant("the refresh token has expired"))
    try:
        scope = narrowed_scope(requested_scope, token.scope)
    except ValueError as exc:
        return Refuse(invalid_scope(str(exc)))
    if not token.offline and not session_live:
        return Refuse(invalid_grant("the sign-in session has ended"))
    if not user_active:
        return Refuse(invalid_grant("the user can no longer sign in"))
    return Issue(scope, rotate=client.is_public or client.rotate_refresh_tokens)


def client_credentials(client: ClientRecord, requested_scope: str | None) -> Decision:
    """RFC 6749 §4.4: a confidential client acting for itself, within the scopes an operator granted
    it (all of them when none is asked for: §3.3's pre-defined default)."""
    if client.is_public or "client_credentials" not in client.grant_types:
        return Refuse(unauthorized_client("this client is not registered for the client_credentials grant"))
    if requested_scope is None:
        if not client.scopes:
            return Refuse(invalid_scope("no scope is granted to this client; an operator grants them (--scope)"))
        return Issue(" ".join(client.scopes), rotate=False)
    asked = list(dict.fromkeys(requested_scope.split()))
    if not asked:
        return Refuse(invalid_scope("scope is empty"))
    beyond = [s for s in asked if s not in client.scopes]
    if beyond:
        return Refuse(invalid_scope(f"not granted to this client: {' '.join(beyond)[:200]}"))
    return Issue(" ".join(asked), rotate=False)
