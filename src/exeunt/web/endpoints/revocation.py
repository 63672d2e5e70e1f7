"""``POST /revoke``: token revocation (RFC 7009).

The client authenticates as at the token endpoint.  ``token`` is an access or a refresh token of
this client; ``token_type_hint`` only says where to look first (§2.1: an unknown hint is ignored).
Revoking a refresh token ends its whole grant: every refresh token of the family and the access
tokens it produced (§2.1 SHOULD).  Unknown, expired or already revoked tokens answer 200 all the
same (§2.2): the client's goal, a token that no longer works, is met.  A token of another client is
refused (``unauthorized_client``) and left alone.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from exeunt.errors import invalid_request, unauthorized_client
from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.web.client_auth import authenticate_client, client_endpoint
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider

HINTS = ("access_token", "refresh_token")
MAX_TOKEN_LENGTH = 512


async def revoke(request: Request) -> Response:
    return await client_endpoint(request, "revocation", _revoke)


async def _revoke(request: Request, provider: Provider, params: dict[str, str]) -> Response:
    token = params.get("token")
    if not token:
        raise invalid_request("token is missing")
    now = provider.now()
    async with provider.db.write() as conn:
        client = await authenticate_client(provider, conn, request, params)
        if len(token) > MAX_TOKEN_LENGTH:
            return Response(status_code=200, headers=NO_STORE)  # cannot be one of ours
        token_hash = sha256_hex(token)
        order = ["refresh_token", "access_token"]
        if params.get("token_type_hint") == "access_token":
            order.reverse()
        for kind in order:
            if kind == "refresh_token":
                found = await grants.get_refresh_token(conn, token_hash)
                if found is not None:
                    if found.client_id != client.client_id:
                        raise unauthorized_client("the token was not issued to this client")
                    await grants.revoke_family(conn, found.family_id, now)
                    break
            else:
                access = await grants.get_access_token(conn, token_hash)
                if access is not None:
                    if access.client_id != client.client_id:
                        raise unauthorized_client("the token was not issued to this client")
                    await grants.revoke_access_token(conn, token_hash, now)
                    break
    return Response(status_code=200, headers=NO_STORE)
