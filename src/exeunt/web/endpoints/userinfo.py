"""The userinfo endpoint (OpenID Connect Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import BearerError
from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.storage import users as user_store
from exeunt.web.bearer import bearer_token
from exeunt.web.errors import NO_STORE, oauth_response
from exeunt.web.provider import Provider


async def userinfo(request: Request) -> Response:
    provider = Provider.of(request)
    try:
        access_token = await bearer_token(request, limit=provider.config.max_body_bytes, body_allowed=True)
        claims = await _claims(provider, access_token)
    except BearerError as exc:
        return oauth_response(exc)
    return JSONResponse(claims, headers=NO_STORE)


async def _claims(provider: Provider, access_token: str) -> dict[str, Any]:
    now = provider.now()
    async with provider.db.read() as conn:
        record = await grants.get_access_token(conn, sha256_hex(access_token))
        if record is None or record.revoked_at is not None or now >= record.expires_at:
            raise BearerError("invalid_token", "the access token is unknown, expired or revoked")
        if record.user_id is None:
            raise BearerError("invalid_token", "the access token was issued to a client for itself, not for a person")
        user = await user_store.get(conn, record.user_id)
    if user is None:
        raise BearerError("invalid_token", "the user no longer exists")
    scopes = set(record.scope.split())
    claims: dict[str, Any] = {"sub": user.sub}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = False
    return claims
