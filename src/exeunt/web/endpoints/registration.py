"""Dynamic Client Registration (RFC 7591, OpenID Connect Registration 1.0) at ``/register`` and its
management (RFC 7592) at ``/register/{client_id}``; off unless ``EXEUNT_REGISTRATION`` (404).

  POST   /register               register (201): client_id, client_secret, registration_access_token,
                                 registration_client_uri and the metadata as stored
  GET    /register/{client_id}   read it        (Authorization: Bearer <registration access token>)
  PUT    /register/{client_id}   replace it     (the token is replaced on every use: the new one is in
  DELETE /register/{client_id}   delete it (204) the answer, and the old one no longer works)

Errors are RFC 7591 §3.2.2 (``invalid_redirect_uri``, ``invalid_client_metadata``,
``invalid_software_statement``, 400) and RFC 6750 (401 ``invalid_token``); wrong tokens count as
guesses by address, and open registration counts registrations by address (429 past the limit).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import BearerError, OAuthError, invalid_request
from exeunt.operations import registration as operations
from exeunt.protocol.client_metadata import metadata_of
from exeunt.throttling import registration_keys
from exeunt.web.bearer import bearer_token
from exeunt.web.errors import NO_STORE, oauth_response
from exeunt.web.guessing import address_of, count_failure, locked_for
from exeunt.web.params import read_body
from exeunt.web.provider import Provider

PATH = "/register"


def _answer(provider: Provider, registered: operations.Registered, status: int) -> Response:
    body: dict[str, Any] = {
        **metadata_of(registered.client),
        "client_id_issued_at": int(registered.issued_at.timestamp()),
        "registration_access_token": registered.registration_access_token,
        "registration_client_uri": provider.config.url(f"{PATH}/{registered.client.client_id}"),
    }
    if registered.secret is not None:
        body["client_secret"] = registered.secret
        body["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: it does not expire
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def _json(request: Request, provider: Provider) -> object:
    raw = await read_body(request, provider.config.max_body_bytes)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid_request("the body must be JSON client metadata") from None


async def _guarded(request: Request, provider: Provider, call: Any) -> Response:
    """Refused at once while this address is locked for guessing; a wrong token counts against it."""
    keys = registration_keys(address_of(request))
    async with provider.db.read() as conn:
        wait = await locked_for(provider, conn, keys, "registration")
    if wait:
        raise OAuthError("invalid_request", f"too many attempts from this address; retry in {wait} s", 429,
                         {"Retry-After": str(wait)})  # fmt: skip
    try:
        response: Response = await call()
    except BearerError as exc:
        if exc.error == "invalid_token":
            await count_failure(provider, keys)
        return oauth_response(exc)
    return response


async def register(request: Request) -> Response:
    provider = Provider.of(request)
    if provider.config.registration == "off":
        raise HTTPException(404, "there is no such page")

    async def call() -> Response:
        token = None
        if request.headers.get("authorization") or provider.config.registration == "token":
            token = await bearer_token(request, limit=provider.config.max_body_bytes, realm="exeunt-registration")
        registered = await operations.register(provider.runtime, await _json(request, provider), initial_token=token)
        if token is None:  # open registration: each one counts against the address
            await count_failure(provider, registration_keys(address_of(request)))
        return _answer(provider, registered, 201)

    return await _guarded(request, provider, call)


async def manage(request: Request) -> Response:
    provider = Provider.of(request)
    if provider.config.registration == "off":
        raise HTTPException(404, "there is no such page")
    client_id = request.path_params["client_id"]

    async def call() -> Response:
        token = await bearer_token(request, limit=provider.config.max_body_bytes, realm="exeunt-registration")
        provider.forget_client(client_id)  # what this process cached of it may change now
        if request.method == "GET":
            return _answer(provider, await operations.read(provider.runtime, client_id, token), 200)
        if request.method == "PUT":
            metadata = await _json(request, provider)
            replaced = await operations.replace_registration(provider.runtime, client_id, token, metadata)
            provider.forget_client(client_id)
            return _answer(provider, replaced, 200)
        await operations.delete(provider.runtime, client_id, token)
        provider.forget_client(client_id)
        return Response(status_code=204, headers=NO_STORE)

    return await _guarded(request, provider, call)
