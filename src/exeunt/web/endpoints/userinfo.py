"""The userinfo endpoint (OpenID Connect Core §5.3) with Bearer tokens (RFC 6750)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.storage import users as user_store
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider


def _bearer_error(error: str | None, description: str, status: int = 401) -> Response:
    challenge = 'Bearer realm="exeunt"'
    if error:
        challenge += f', error="{error}", error_description="{description}"'
    body = {"error": error or "invalid_request", "error_description": description}
    return JSONResponse(body, status_code=status, headers={**NO_STORE, "WWW-Authenticate": challenge})


async def userinfo(request: Request) -> Response:
    provider = Provider.of(request)
    header = request.headers.get("authorization", "")
    if header[:7].lower() != "bearer ":
        return _bearer_error(None, "an access token is required")
    access_token = header[7:].strip()
    if not access_token or len(access_token) > 512:
        return _bearer_error("invalid_token", "the access token is malformed")
    now = provider.now()
    async with provider.db.read() as conn:
        record = await grants.get_access_token(conn, sha256_hex(access_token))
        if record is None or record.revoked_at is not None or now >= record.expires_at:
            return _bearer_error("invalid_token", "the access token is unknown, expired or revoked")
        user = await user_store.get(conn, record.user_id)
    if user is None:
        return _bearer_error("invalid_token", "the user no longer exists")
    scopes = set(record.scope.split())
    claims: dict[str, Any] = {"sub": user.sub}
    if "profile" in scopes:
        claims["preferred_username"] = user.username
        if user.name:
            claims["name"] = user.name
    if "email" in scopes and user.email:
        claims["email"] = user.email
        claims["email_verified"] = False
    return JSONResponse(claims, headers=NO_STORE)
