"""A client acting for itself, at the Shared Signals and Global Token Revocation endpoints: an
access token from the client-credentials grant, in the Authorization header only (the CAEP
Interoperability Profile §2.6.3 forbids the query, RFC 6750 §2.3), live, of a client that still
exists, with one of the scopes the endpoint accepts (RFC 6750 §3.1: 403 ``insufficient_scope``)."""

from __future__ import annotations

from starlette.requests import Request

from exeunt.errors import BearerError
from exeunt.protocol.clients import ClientRecord
from exeunt.security import sha256_hex
from exeunt.storage import grants
from exeunt.web.bearer import bearer_token
from exeunt.web.provider import Provider


async def service_client(request: Request, provider: Provider, accepted: tuple[str, ...]) -> ClientRecord:
    """The client behind the request's token, or a ``BearerError`` (401, 403) saying why not."""
    token = await bearer_token(request, limit=provider.config.max_body_bytes)
    now = provider.now()
    async with provider.db.read() as conn:
        record = await grants.get_access_token(conn, sha256_hex(token))
        if record is None or record.revoked_at is not None or now >= record.expires_at:
            raise BearerError("invalid_token", "the access token is unknown, expired or revoked")
        client = await provider.client(conn, record.client_id)
    if client is None:
        raise BearerError("invalid_token", "the client of this access token is no longer registered")
    if record.user_id is not None or not set(record.scope.split()) & set(accepted):
        raise BearerError(
            "insufficient_scope",
            f"this needs a client-credentials token with the scope {' or '.join(accepted)}",
            scope=" ".join(accepted),
        )
    return client
