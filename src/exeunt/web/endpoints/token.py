"""The token endpoint (RFC 6749 §4.1.3, OpenID Connect Core §3.1.3): code → id_token + access token."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import timedelta
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.protocol.clients import ClientRecord
from exeunt.security import b64url, new_token, sha256_hex, verify_client_secret
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage.database import Connection
from exeunt.throttling import client_keys
from exeunt.tokens.id_token import mint_id_token
from exeunt.web.errors import NO_STORE, OAuthError, invalid_client, invalid_grant, invalid_request
from exeunt.web.guessing import Keys, address_of, count_failure, locked_for
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider


def _basic_credentials(header: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: both parts are form-urlencoded before being joined and base64-encoded."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


async def authenticate_client(
    provider: Provider, conn: Connection, request: Request, params: dict[str, str]
) -> ClientRecord:
    header = request.headers.get("authorization", "")
    basic = header[:6].lower() == "basic "
    if basic and "client_secret" in params:
        raise invalid_request("use one client authentication method, not two")
    if basic:
        client_id, secret = _basic_credentials(header)
        if "client_id" in params and params["client_id"] != client_id:
            raise invalid_request("client_id does not match the authenticated client")
        method = "client_secret_basic"
    elif "client_secret" in params:
        client_id, secret, method = params.get("client_id", ""), params["client_secret"], "client_secret_post"
    else:
        client_id, secret, method = params.get("client_id", ""), "", "none"
    if not client_id:
        raise invalid_client("client authentication is missing")
    client = await provider.client(conn, client_id)
    if client is None:
        raise invalid_client("unknown client or wrong credentials")
    if client.token_endpoint_auth_method != method:
        raise invalid_client(f"this client authenticates with {client.token_endpoint_auth_method}")
    if method == "none":
        return client
    guesses = client_keys(client.client_id, address_of(request))
    wait = await locked_for(provider, conn, guesses, "client_secret")
    if wait:  # refused before the secret is looked at, so guessing on gains nothing
        raise OAuthError(
            "invalid_client",
            f"too many failed attempts for this client; retry in {wait} s",
            429,
            {"Retry-After": str(wait)},
        )
    if not verify_client_secret(secret, client.secret_hash):
        raise WrongSecret(guesses)
    return client


class WrongSecret(OAuthError):
    """A wrong client secret: answered ``invalid_client`` and counted as a guess (after the rollback)."""

    def __init__(self, guesses: Keys) -> None:
        error = invalid_client("unknown client or wrong credentials")
        super().__init__(error.error, error.description, error.status, error.headers)
        self.guesses = guesses


def _pkce_ok(verifier: str, challenge: str) -> bool:
    computed = b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
    return hmac.compare_digest(computed, challenge)


async def token(request: Request) -> Response:
    provider = Provider.of(request)
    if request.method != "POST":
        return invalid_request("the token endpoint takes POST").json()
    try:
        params = await read_params(request, provider.config.max_body_bytes)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise invalid_request("grant_type is missing")
        if grant_type != "authorization_code":
            raise OAuthError("unsupported_grant_type", "only authorization_code is supported")
        code = params.get("code")
        if not code:
            raise invalid_request("code is missing")
        verifier = params.get("code_verifier")
        if verifier is not None and not (43 <= len(verifier) <= 128):
            raise invalid_request("code_verifier must be 43 to 128 characters")
        return await _exchange(provider, request, params, code, verifier)
    except BadParameters as exc:
        return OAuthError("invalid_request", exc.description, exc.status).json()
    except WrongSecret as exc:
        await count_failure(provider, exc.guesses)
        return exc.json()
    except OAuthError as exc:
        return exc.json()


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
            # RFC 6749 §4.1.2: a replayed code SHOULD revoke what it issued.
            await grants.revoke_tokens_of_code(conn, code_hash, now)
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
        access_token = new_token(32)
        await grants.add_access_token(
            conn,
            grants.AccessTokenRecord(
                token_hash=sha256_hex(access_token),
                client_id=client.client_id,
                sid=record.sid,
                user_id=session.user_id,
                scope=record.scope,
                code_hash=code_hash,
                expires_at=now + timedelta(seconds=provider.config.access_token_lifetime),
                revoked_at=None,
            ),
        )
    ring = await provider.runtime.key_ring()
    key = ring.signing_key_for(client.id_token_signed_response_alg, provider.config.signing_alg, now)
    if key is None:  # only possible if an operator retired every key without adding one
        return OAuthError("server_error", "no signing key is available", 500).json()
    id_token = mint_id_token(
        key,
        issuer=provider.config.issuer,
        client_id=client.client_id,
        sub=session.sub,
        sid=session.sid,
        auth_time=record.auth_time,
        nonce=record.nonce,
        access_token=access_token,
        lifetime=provider.config.id_token_lifetime,
        now=now,
    )
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": provider.config.access_token_lifetime,
            "id_token": id_token,
            "scope": record.scope,
        },
        headers=NO_STORE,
    )
