"""The Shared Signals transmitter (SSF 1.0, CAEP Interoperability Profile 1.0): its configuration,
stream management, status, verification, and the poll endpoint (RFC 8936).

Every call but the configuration needs a client-credentials token in the Authorization header
(``web/service_auth.py``): ``ssf.manage`` to change, ``ssf.read`` (or ``ssf.manage``) to read.
A receiver sees and changes only its own streams.  Answers and errors are JSON, never cached.

  GET    /.well-known/ssf-configuration          the transmitter's metadata (§7.1)
  POST   /ssf/stream                             create a stream (201)
  GET    /ssf/stream[?stream_id=]                read one, or the receiver's list
  PATCH  /ssf/stream                             update (what is sent changes)
  PUT    /ssf/stream                             replace (what is not sent is deleted)
  DELETE /ssf/stream?stream_id=                  delete (204)
  GET    /ssf/status?stream_id= · POST /ssf/status     read or set enabled / paused / disabled
  POST   /ssf/verify                             a verification event (204; 429 too often)
  POST   /ssf/poll/{stream_id}                   poll: ack, setErrs, events (RFC 8936 §2.4)
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import ApiError
from exeunt.operations import streams as operations
from exeunt.protocol import streams as rules
from exeunt.protocol.clients import ClientRecord
from exeunt.web.errors import NO_STORE
from exeunt.web.params import BadParameters, read_body
from exeunt.web.provider import Provider
from exeunt.web.service_auth import service_client

MANAGE = ("ssf.manage",)
READ = ("ssf.read", "ssf.manage")
PATHS = {
    "configuration_endpoint": "/ssf/stream",
    "status_endpoint": "/ssf/status",
    "verification_endpoint": "/ssf/verify",
}
POLL_WAIT = 10.0  # seconds a long poll waits at most (within the request deadline)


def metadata(provider: Provider) -> dict[str, Any]:
    config = provider.config
    return {
        "spec_version": "1_0",
        "issuer": config.issuer,
        "jwks_uri": config.url("/jwks"),
        "delivery_methods_supported": list(rules.DELIVERY_METHODS),
        **{name: config.url(path) for name, path in PATHS.items()},
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
    }


async def ssf_configuration(request: Request) -> Response:
    """SSF §7.1: public, so a receiver can discover how to authorize itself."""
    return JSONResponse(metadata(Provider.of(request)), headers={"Cache-Control": "public, max-age=300"})


async def _json(request: Request, provider: Provider, *, optional: bool = False) -> object:
    try:
        raw = await read_body(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        raise ApiError(exc.status, "invalid_request", exc.description) from None
    if not raw.strip():
        if optional:
            return None
        raise rules.bad_request("the body must be a JSON object")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise rules.bad_request("the body is not valid JSON") from None


def _answer(body: object, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status, headers=NO_STORE)


async def stream(request: Request) -> Response:
    provider = Provider.of(request)
    runtime = provider.runtime
    if request.method == "GET":
        client = await service_client(request, provider, READ)
        stream_id = request.query_params.get("stream_id")
        if stream_id is None:
            return _answer([operations.view(runtime, s) for s in await operations.of_receiver(runtime, client)])
        return _answer(operations.view(runtime, await operations.own(runtime, client, stream_id)))
    client = await service_client(request, provider, MANAGE)
    if request.method == "POST":
        settings = rules.settings_from(await _json(request, provider))
        return _answer(operations.view(runtime, await operations.create(runtime, client, settings)), 201)
    if request.method == "DELETE":
        await operations.delete(runtime, await operations.own(runtime, client, request.query_params.get("stream_id")))
        return Response(status_code=204, headers=NO_STORE)
    return await _change(request, provider, client)


async def _change(request: Request, provider: Provider, client: ClientRecord) -> Response:
    """PATCH (update: what is absent stays) or PUT (replace: what is absent is deleted)."""
    runtime = provider.runtime
    body = await _json(request, provider)
    current = await operations.own(runtime, client, body.get("stream_id") if isinstance(body, dict) else None)
    expected = operations.expected(runtime, current)
    if request.method == "PATCH":
        settings = rules.settings_from(body, current=current.settings, expected=expected)
    else:
        settings = rules.replacing(body, current.settings, expected)
    return _answer(operations.view(runtime, await operations.change(runtime, current, settings)))


async def status(request: Request) -> Response:
    provider = Provider.of(request)
    runtime = provider.runtime
    if request.method == "GET":
        client = await service_client(request, provider, READ)
        found = await operations.own(runtime, client, request.query_params.get("stream_id"))
    else:
        client = await service_client(request, provider, MANAGE)
        stream_id, new_status, reason = rules.status_request(await _json(request, provider))
        current = await operations.own(runtime, client, stream_id)
        found = await operations.set_status(runtime, current, new_status, reason, by_operator=False)
    answer: dict[str, Any] = {"stream_id": found.stream_id, "status": found.status}
    if found.status_reason:
        answer["reason"] = found.status_reason
    return _answer(answer)


async def verify(request: Request) -> Response:
    provider = Provider.of(request)
    client = await service_client(request, provider, MANAGE)
    stream_id, state = rules.verification_request(await _json(request, provider))
    await operations.verify(provider.runtime, await operations.own(provider.runtime, client, stream_id), state)
    return Response(status_code=204, headers=NO_STORE)


async def poll(request: Request) -> Response:
    provider = Provider.of(request)
    client = await service_client(request, provider, READ)
    found = await operations.own(provider.runtime, client, request.path_params["stream_id"])
    asked = rules.poll_request(await _json(request, provider, optional=True))
    wait = max(0.0, min(POLL_WAIT, provider.config.request_timeout - 3.0))
    polled = await operations.poll(provider.runtime, found, asked, wait=wait)
    return _answer({"sets": polled.sets, "moreAvailable": polled.more})
