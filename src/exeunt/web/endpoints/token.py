"""The token endpoint (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3): code → id_token + access token."""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.scopes import narrowed_scope
from exeunt.security import b64url, new_token, sha256_hex
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection
from exeunt.tokens.id_token import mint_id_token
from exeunt.web.client_auth import authenticate_client, client_endpoint
from exeunt.web.errors import NO_STORE, OAuthError, invalid_grant, invalid_request
from exeunt.web.provider import Provider

log = logging.getLogger("exeunt.token")


def _pkce_ok(verifier: str, challenge: str) -> bool:
    computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return hmac.compare_digest(computed, challenge)


async def token(request: Request) -> Response:
    return await client_endpoint(request, "token", _grant)


async def _grant(request: Request, provider: Provider, params: dict[str, str]) -> Response:
    grant_type = params.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is missing")
    if grant_type == "refresh_token":
        return await _refresh(provider, request, params)
    if grant_type != "authorization_code":
        raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")
    code = params.get("code")
    if not code:
        raise invalid_request("code is missing")
    verifier = params.get("code_verifier")
    if verifier is not None and not (43 <= len(verifier) <= 128):
        raise invalid_request("code_verifier must be 43 to 128 characters")
    return await _exchange(provider, request, params, code, verifier)


@dataclass(frozen=True)
class _Issued:
    access_token: str
    refresh_token: str | None
    scope: str


async def _issue(
    provider: Provider,
    conn: Connection,
    client: ClientRecord,
    *,
    sid: str,
    user_id: int,
    scope: str,
    auth_time: datetime,
    family_id: str,
    offline: bool,
    family_expires_at: datetime | None,
    refresh_token: str | None = None,
) -> _Issued:
    """An access token, and (when the client has the grant) a refresh token of ``family_id``: a new one,
    or ``refresh_token`` kept (a confidential client that does not rotate)."""
    now = provider.now()
    config = provider.config
    access_token = new_token(32)
    await grants.add_access_token(
        conn,
        grants.AccessTokenRecord(
            token_hash=sha256_hex(access_token),
            client_id=client.client_id,
            sid=sid,
            user_id=user_id,
            scope=scope,
            code_hash=family_id,
            expires_at=now + timedelta(seconds=config.access_token_lifetime),
            revoked_at=None,
            family_id=family_id,
            created_at=now,
        ),
    )
    if not client.gets_refresh_tokens or refresh_token is not None:
        return _Issued(access_token, refresh_token, scope)
    fresh = new_token(32)
    family_end = family_expires_at or now + timedelta(seconds=config.refresh_token_lifetime)
    await grants.add_refresh_token(
        conn,
        grants.RefreshTokenRecord(
            token_hash=sha256_hex(fresh),
            family_id=family_id,
            client_id=client.client_id,
            sid=sid,
            user_id=user_id,
            scope=scope,
            offline=offline,
            auth_time=auth_time,
            created_at=now,
            expires_at=min(family_end, now + timedelta(seconds=config.refresh_token_idle)),
            family_expires_at=family_end,
        ),
    )
    return _Issued(access_token, fresh, scope)


async def _respond(
    provider: Provider,
    client: ClientRecord,
    issued: _Issued,
    *,
    sub: str,
    sid: str,
    auth_time: datetime,
    nonce: str | None,
) -> Response:
    now = provider.now()
    ring = await provider.runtime.key_ring()
    key = ring.signing_key_for(client.id_token_signed_response_alg, provider.config.signing_alg, now)
    if key is None:  # an operator retired every key of this algorithm, or the key files lack it
        alg = client.id_token_signed_response_alg or provider.config.signing_alg
        return OAuthError("server_error", f"no {alg} signing key is available; the operator must add one", 500).json()
    body: dict[str, object] = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": provider.config.access_token_lifetime,
        "scope": issued.scope,
    }
    if "openid" in issued.scope.split():
        body["id_token"] = mint_id_token(
            key,
            issuer=provider.config.issuer,
            client_id=client.client_id,
            sub=sub,
            sid=sid,
            auth_time=auth_time,
            nonce=nonce,
            access_token=issued.access_token,
            lifetime=provider.config.id_token_lifetime,
            now=now,
        )
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    return JSONResponse(body, headers=NO_STORE)


async def _exchange(
    provider: Provider, request: Request, params: dict[str, str], code: str, verifier: str | None
) -> Response:
    now = provider.now()
    code_hash = sha256_hex(code)
    redirect_uri = params.get("redirect_uri")
    # The code is spent by the first attempt, successful or not; errors are returned (not raised)
    # inside the transaction so that spending it, and any revocation, is committed.  A failed client
    # authentication raises before anything is written, so it leaves the code unspent.
    async with provider.db.write() as conn:
        client = await authenticate_client(provider, conn, request, params)
        record, first_use = await grants.consume_code(conn, code_hash, now)
        if record is None:
            return invalid_grant("unknown authorization code").json()
        if record.client_id != client.client_id:
            return invalid_grant("the code was issued to another client").json()
        if not first_use:
            # RFC 6749 §4.1.2: a replayed code SHOULD revoke what it issued (refresh tokens included).
            await grants.revoke_tokens_of_code(conn, code_hash, now)
            await grants.revoke_family(conn, code_hash, now)
            return invalid_grant("the code was already used; tokens issued for it are revoked").json()
        if now >= record.expires_at:
            return invalid_grant("the code has expired").json()
        if redirect_uri != record.redirect_uri:
            return invalid_grant("redirect_uri does not match the authorization request").json()
        if record.code_challenge is not None:
            if verifier is None:
                return invalid_grant("code_verifier is missing").json()
            if not _pkce_ok(verifier, record.code_challenge):
                return invalid_grant("code_verifier does not match code_challenge").json()
        elif verifier is not None:
            return invalid_grant("code_verifier sent, but the authorization request had no code_challenge").json()
        session = await session_store.get_live(conn, record.sid, now, provider.config.session_idle_timeout)
        if session is None:
            return invalid_grant("the sign-in session has ended").json()
        issued = await _issue(
            provider,
            conn,
            client,
            sid=record.sid,
            user_id=session.user_id,
            scope=record.scope,
            auth_time=record.auth_time,
            family_id=code_hash,  # the grant: every token it leads to is revoked with it
            offline="offline_access" in record.scope.split(),
            family_expires_at=None,
        )
    return await _respond(
        provider, client, issued, sub=session.sub, sid=session.sid, auth_time=record.auth_time, nonce=record.nonce
    )


async def _refresh(provider: Provider, request: Request, params: dict[str, str]) -> Response:
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2); OIDC Core §12.2 for the id_token."""
    presented = params.get("refresh_token")
    if not presented:
        raise invalid_request("refresh_token is missing")
    if len(presented) > 512:
        raise invalid_grant("unknown refresh token")
    now = provider.now()
    config = provider.config
    async with provider.db.write() as conn:
        client = await authenticate_client(provider, conn, request, params)
        if not client.gets_refresh_tokens:
            raise OAuthError("unauthorized_client", "this client is not registered for the refresh_token grant")
        token_hash = sha256_hex(presented)
        record = await grants.get_refresh_token(conn, token_hash)
        if record is None or record.client_id != client.client_id:
            # A token of another client is no token for this one (and says nothing about it).
            raise invalid_grant("unknown refresh token")
        if record.revoked_at is not None:
            raise invalid_grant("the refresh token was revoked")
        if record.rotated_at is not None:
            if now - record.rotated_at <= timedelta(seconds=config.refresh_token_reuse_grace):
                # Two tabs raced with the same token: one won; this is not theft.
                raise invalid_grant("the refresh token was just used; use the newer one")
            # RFC 9700 §4.14.2: a rotated token presented again means it leaked: the whole grant ends.
            await grants.revoke_family(conn, record.family_id, now)
            log.warning("refresh token reused: family revoked client=%s sid=%s", client.client_id, record.sid)
            return invalid_grant("the refresh token was already used; every token of its grant is revoked").json()
        if now >= record.expires_at or now >= record.family_expires_at:
            raise invalid_grant("the refresh token has expired")
        try:
            scope = narrowed_scope(params.get("scope"), record.scope)
        except ValueError as exc:
            raise OAuthError("invalid_scope", str(exc)) from None
        session = await session_store.get(conn, record.sid)
        live = session is not None and session.is_live(now, config.session_idle_timeout)
        if not record.offline and not live:
            raise invalid_grant("the sign-in session has ended")
        user = await user_store.get(conn, record.user_id)
        if user is None or user.disabled_at is not None:
            raise invalid_grant("the user can no longer sign in")
        rotate = client.is_public or client.rotate_refresh_tokens
        if rotate:
            if not await grants.rotate_refresh_token(conn, token_hash, now):
                raise invalid_grant("the refresh token was just used; use the newer one")
        else:
            idle_end = min(record.family_expires_at, now + timedelta(seconds=config.refresh_token_idle))
            await grants.touch_refresh_token(conn, token_hash, idle_end)
        if live and session is not None:
            await session_store.touch(conn, session.sid, now)  # a refresh in a live session is activity
        issued = await _issue(
            provider,
            conn,
            client,
            sid=record.sid,
            user_id=record.user_id,
            scope=scope,
            auth_time=record.auth_time,
            family_id=record.family_id,
            offline=record.offline,
            family_expires_at=record.family_expires_at,
            refresh_token=None if rotate else presented,
        )
    # Core §12.2: the same sub and sid, the original auth_time, no nonce.
    return await _respond(
        provider, client, issued, sub=user.sub, sid=record.sid, auth_time=record.auth_time, nonce=None
    )
