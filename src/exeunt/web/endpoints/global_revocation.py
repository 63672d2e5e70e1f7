"""``POST /global-token-revocation`` (draft-parecki-oauth-global-token-revocation §2): end every
session and revoke every token of one person.

The caller is a client with a client-credentials token carrying the ``global_token_revocation``
scope (§5.1: a narrowly scoped credential), in the Authorization header.  The body is JSON
``{"sub_id": {...}}`` (RFC 9493: ``iss_sub``, ``email`` or ``opaque``).  204 when revocation is
done; 400 malformed, 401 no or bad token, 403 without the scope, 404 no such person (or one the
caller may not revoke), 422 an email more than one person has.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from exeunt.errors import ApiError
from exeunt.operations.revocation import revoke_person
from exeunt.protocol.signals import person_named
from exeunt.web.errors import NO_STORE
from exeunt.web.params import BadParameters, read_body
from exeunt.web.provider import Provider
from exeunt.web.service_auth import service_client

PATH = "/global-token-revocation"
SCOPE = "global_token_revocation"


async def revoke_everything(request: Request) -> Response:
    provider = Provider.of(request)
    caller = await service_client(request, provider, (SCOPE,))
    try:
        raw = await read_body(request, provider.config.max_body_bytes)
        body = json.loads(raw)
    except BadParameters as exc:
        raise ApiError(exc.status, "invalid_request", exc.description) from None
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_request", 'the body must be JSON: {"sub_id": {...}}') from None
    if not isinstance(body, dict) or "sub_id" not in body:
        raise ApiError(400, "invalid_request", 'the body must be JSON: {"sub_id": {...}}')
    person = person_named(body["sub_id"], issuer=provider.config.issuer)
    await revoke_person(provider.runtime, caller, person)
    return Response(status_code=204, headers=NO_STORE)
