"""The token endpoint (RFC 6749 §4.1.3, §6; OpenID Connect Core §3.1.3, §12.2).

The rules of each grant are in ``protocol/grants.py`` and return a decision; this module reads
what they need from storage, applies the decision explicitly (a refusal revokes what it names,
then the transaction commits and the error is answered) and issues the tokens.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import OAuthError, invalid_grant, invalid_request
from exeunt.protocol import grants as rules
from exeunt.protocol.clients import ClientRecord
from exeunt.security import new_token, sha256_hex
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection
from exeunt.tokens.id_token import mint_id_token
from exeunt.web.client_auth import authenticate_client, client_endpoint, identify_client, locked_out, verified
from exeunt.web.errors import NO_STORE, oauth_response
from exeunt.web.guessing import locked_until
from exeunt.web.provider import Provider

log = logging.getLogger("exeunt.token")
MAX_REFRESH_TOKEN_LENGTH = 512


async def token(request: Request) -> Response:
    return await client_endpoint(request, "token", _grant)


async def _grant(request: Request, provider: Provider, params: dict[str, str]) -> Response:
    grant_type = params.get("grant_type")
    if not grant_type:
        raise invalid_request("grant_type is missing")
    if grant_type == "refresh_token":
        return await _refresh(provider, request, params)
    if grant_type == "client_credentials":
        return await _client_credentials(provider, request, params)
    if grant_type != "authorization_code":
        raise OAuthError("unsupported_grant_type", f"grant_type must be one of {', '.join(rules.GRANT_TYPES)}")
    code = params.get("code")
    if not code:
        raise invalid_request("code is missing")
    verifier = params.get("code_verifier")
    if verifier is not None and not (43 <= len(verifier) <= 128):
        raise invalid_request("code_verifier must be 43 to 128 characters")
    return await _exchange(provider, request, params, code, verifier)


async def _refused(conn: Connection, refusal: rules.Refuse, now: datetime) -> OAuthError:
    """Revoke what the refusal names, in the request's transaction; the error to answer once it commits."""
    if refusal.revoke_code is not None:
        await grants.revoke_tokens_of_code(conn, refusal.revoke_code, now)
    if refusal.revoke_family is not None:
        await grants.revoke_family(conn, refusal.revoke_family, now)
    return refusal.error


@dataclass(frozen=True)
class _Issued:
    access_token: str
    refresh_token: str | None
    scope: str
    # What the id_token says (Core §3.1.3.6, §12.2): set by the caller once the tokens are stored.
    sub: str = ""
    sid: str = ""
    auth_time: datetime | None = None
    nonce: str | None = None


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


async def _respond(provider: Provider, client: ClientRecord, issued: _Issued) -> Response:
    now = provider.now()
    ring = await provider.runtime.key_ring()
    key = ring.signing_key_for(client.id_token_signed_response_alg, provider.config.signing_alg, now)
    if key is None:  # an operator retired every key of this algorithm, or the key files lack it
        alg = client.id_token_signed_response_alg or provider.config.signing_alg
        return oauth_response(
            OAuthError("server_error", f"no {alg} signing key is available; the operator must add one", 500)
        )
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
            sub=issued.sub,
            sid=issued.sid,
            auth_time=issued.auth_time or now,
            nonce=issued.nonce,
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
    # The code is spent by the first attempt, successful or not (the transaction commits either
    # way).  A locked or wrong client secret raises after the spending statement (which reads the
    # lock with the code and its session) and before anything else: the rollback leaves it unspent.
    async with provider.db.write() as conn:
        who = await identify_client(provider, conn, request, params)
        spent = await grants.consume_code(conn, code_hash, now, [key for key, _ in who.guesses])
        if who.secret is not None:
            wait = locked_until(spent.locked_until, now, "client_secret")
            if wait:
                raise locked_out(wait)
        client = verified(who)
        record, first_use = spent.code, spent.first_use
        session = spent.session
        if session is not None and not session.is_live(now, provider.config.session_idle_timeout):
            session = None
        decision = rules.exchange_code(
            record,
            code_hash=code_hash,
            first_use=first_use,
            client_id=client.client_id,
            redirect_uri=params.get("redirect_uri"),
            verifier=verifier,
            session_live=session is not None,
            now=now,
        )
        if isinstance(decision, rules.Refuse):
            refusal = await _refused(conn, decision, now)
        else:
            assert record is not None and session is not None
            issued = await _issue(
                provider,
                conn,
                client,
                sid=record.sid,
                user_id=session.user_id,
                scope=decision.scope,
                auth_time=record.auth_time,
                family_id=code_hash,  # the grant: every token it leads to is revoked with it
                offline="offline_access" in decision.scope.split(),
                family_expires_at=None,
            )
            issued = replace(issued, sub=session.sub, sid=session.sid, auth_time=record.auth_time, nonce=record.nonce)
    if isinstance(decision, rules.Refuse):
        return oauth_response(refusal)
    return await _respond(provider, client, issued)


async def _refresh(provider: Provider, request: Request, params: dict[str, str]) -> Response:
    """RFC 6749 §6 with rotation and reuse detection (RFC 9700 §4.14.2); OIDC Core §12.2 for the id_token."""
    presented = params.get("refresh_token")
    if not presented:
        raise invalid_request("refresh_token is missing")
    if len(presented) > MAX_REFRESH_TOKEN_LENGTH:
        raise invalid_grant("unknown refresh token")
    now = provider.now()
    config = provider.config
    token_hash = sha256_hex(presented)
    async with provider.db.write() as conn:
        client = await authenticate_client(provider, conn, request, params)
        record = await grants.get_refresh_token(conn, token_hash) if client.gets_refresh_tokens else None
        session = await session_store.get(conn, record.sid) if record is not None else None
        live = session is not None and session.is_live(now, config.session_idle_timeout)
        user = await user_store.get(conn, record.user_id) if record is not None else None
        decision = rules.refresh(
            record,
            client=client,
            requested_scope=params.get("scope"),
            session_live=live,
            user_active=user is not None and user.disabled_at is None,
            reuse_grace=timedelta(seconds=config.refresh_token_reuse_grace),
            now=now,
        )
        if isinstance(decision, rules.Refuse):
            refusal = await _refused(conn, decision, now)
            if decision.revoke_family is not None:
                log.warning("refresh token reused: family revoked client=%s", client.client_id)
        else:
            assert record is not None and user is not None
            if decision.rotate:
                if not await grants.rotate_refresh_token(conn, token_hash, now):
                    raise invalid_grant("the refresh token was just used; use the newer one")  # a racing tab won
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
                scope=decision.scope,
                auth_time=record.auth_time,
                family_id=record.family_id,
                offline=record.offline,
                family_expires_at=record.family_expires_at,
                refresh_token=None if decision.rotate else presented,
            )
            # Core §12.2: the same sub and sid, the original auth_time, no nonce.
            issued = replace(issued, sub=user.sub, sid=record.sid, auth_time=record.auth_time)
    if isinstance(decision, rules.Refuse):
        return oauth_response(refusal)
    return await _respond(provider, client, issued)


async def _client_credentials(provider: Provider, request: Request, params: dict[str, str]) -> Response:
    """RFC 6749 §4.4: an access token for the client itself (the Shared Signals API, Global Token
    Revocation): no person, no session, no refresh token, at most an hour."""
    now = provider.now()
    lifetime = min(provider.config.access_token_lifetime, rules.SERVICE_TOKEN_LIFETIME)
    async with provider.db.write() as conn:
        client = await authenticate_client(provider, conn, request, params)
        decision = rules.client_credentials(client, params.get("scope"))
        if isinstance(decision, rules.Refuse):
            raise decision.error
        access_token = new_token(32)
        await grants.add_access_token(
            conn,
            grants.AccessTokenRecord(
                token_hash=sha256_hex(access_token),
                client_id=client.client_id,
                sid=None,
                user_id=None,
                scope=decision.scope,
                code_hash=None,
                expires_at=now + timedelta(seconds=lifetime),
                revoked_at=None,
                created_at=now,
            ),
        )
    body = {"access_token": access_token, "token_type": "Bearer", "expires_in": lifetime, "scope": decision.scope}
    return JSONResponse(body, headers=NO_STORE)
