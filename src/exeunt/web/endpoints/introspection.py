"""``POST /introspect``: token introspection (RFC 7662).

The client authenticates as at the token endpoint and may introspect tokens issued to it.  Anything
expired, revoked, unknown, of another client, or of an ended session (for tokens bound to it) is
``{"active": false}`` and nothing else (§2.2); an active token is described by ``scope``,
``client_id``, ``sub``, ``exp``, ``iat``, ``token_type`` and ``sid``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import invalid_request
from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage import users as user_store
from exeunt.web.client_auth import authenticate_client, client_endpoint
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider

INACTIVE = {"active": False}


async def introspect(request: Request) -> Response:
    return await client_endpoint(request, "introspection", _introspect)


async def _introspect(request: Request, provider: Provider, params: dict[str, str]) -> Response:
    token = params.get("token")
    if not token:
        raise invalid_request("token is missing")
    async with provider.db.read() as conn:
        client = await authenticate_client(provider, conn, request, params)
        answer = await _describe(provider, conn, client.client_id, token) if len(token) <= 512 else INACTIVE
    return JSONResponse(answer, headers=NO_STORE)


async def _describe(provider: Provider, conn: Any, client_id: str, token: str) -> dict[str, Any]:
    now = provider.now()
    idle = provider.config.session_idle_timeout
    token_hash = sha256_hex(token)
    access = await grants.get_access_token(conn, token_hash)
    if access is not None:
        if access.client_id != client_id or access.revoked_at is not None or now >= access.expires_at:
            return INACTIVE
        issued = access.created_at or access.expires_at
        if access.sid is None or access.user_id is None:  # a client's own (client credentials)
            return _active(access.scope, client_id, None, access.expires_at, issued, "Bearer", None)
        session = await session_store.get(conn, access.sid)
        ended = session is None or not session.is_live(now, idle)
        offline = access.family_id is not None and await grants.family_is_offline(conn, access.family_id)
        if ended and not offline:
            return INACTIVE
        user = await user_store.get(conn, access.user_id)
        if user is None:
            return INACTIVE
        return _active(access.scope, client_id, user.sub, access.expires_at, issued, "Bearer", access.sid)
    refresh = await grants.get_refresh_token(conn, token_hash)
    if refresh is None or refresh.client_id != client_id:
        return INACTIVE
    if refresh.revoked_at is not None or refresh.rotated_at is not None:
        return INACTIVE
    if now >= refresh.expires_at or now >= refresh.family_expires_at:
        return INACTIVE
    if not refresh.offline:
        session = await session_store.get(conn, refresh.sid)
        if session is None or not session.is_live(now, idle):
            return INACTIVE
    user = await user_store.get(conn, refresh.user_id)
    if user is None or user.disabled_at is not None:
        return INACTIVE
    return _active(
        refresh.scope, client_id, user.sub, refresh.expires_at, refresh.created_at, "refresh_token", refresh.sid
    )


def _active(
    scope: str, client_id: str, sub: str | None, exp: Any, iat: Any, token_type: str, sid: str | None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "active": True,
        "scope": scope,
        "client_id": client_id,
        "exp": int(exp.timestamp()),
        "iat": int(iat.timestamp()),
        "token_type": token_type,
    }
    if sub is not None:  # a person's token (a client's own names no one)
        answer["sub"] = sub
    if sid is not None:
        answer["sid"] = sid
    return answer
