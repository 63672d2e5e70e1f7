"""The admin HTTP API, for systems that deprovision people (an HR system, a SCIM bridge).

Off unless ``EXEUNT_ADMIN_TOKEN`` is set (every path then answers 404, as if it did not exist);
with it, every request needs ``Authorization: Bearer <token>`` (compared in constant time).  Answers
and errors are JSON.  Ending sessions goes through the one sign-out call (reason ``admin``), so each
application that took part is told by back-channel, and the answer says how many notifications were
queued and where to follow them.

  GET    /admin/users/{username}/sessions   live sessions of a user
  DELETE /admin/users/{username}/sessions   end them all (200, even when there were none)
  DELETE /admin/sessions/{sid}              end one (404 unknown, 409 ended already)
  GET    /admin/signouts/{id}               per-client delivery state of one sign-out (logout tokens and SETs)
  GET    /admin/streams[?client=]           every Shared Signals stream, with its events' states
  GET    /admin/streams/{id}                one stream and its latest events
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt import signout
from exeunt.errors import ApiError, OperatorError, not_found
from exeunt.operations import sessions as session_operations
from exeunt.operations import signouts as signout_operations
from exeunt.operations import streams as stream_operations
from exeunt.runtime import Runtime
from exeunt.storage.security_events import EventRecord
from exeunt.storage.streams import StreamRecord
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider

MAX_USERNAME = 200


def _check_caller(request: Request) -> None:
    """404 while the API is off; 401 without the right bearer token."""
    token = Provider.of(request).config.admin_token
    if not token:
        raise not_found("there is no such page")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), f"Bearer {token}".encode()):
        raise ApiError(
            401,
            "invalid_token",
            "the admin API needs Authorization: Bearer with the admin token",
            headers={"WWW-Authenticate": 'Bearer realm="exeunt-admin"'},
        )


def _ended(request: Request, ended: signout.Ended) -> dict[str, Any]:
    return {
        "ended": len(ended.sessions),
        "notifications": ended.notifications,
        "signouts": [
            {
                "sid": e.signout.sid,
                "reason": e.signout.reason,
                "notifications": e.notifications,
                "status": str(request.url_for("admin_signout", signout_id=e.signout.id).path),
            }
            for e in ended.sessions
        ],
    }


async def user_sessions(request: Request) -> Response:
    _check_caller(request)
    provider = Provider.of(request)
    username = request.path_params["username"]
    if not 0 < len(username) <= MAX_USERNAME or "\x00" in username:
        raise not_found("no such user")
    try:
        if request.method == "DELETE":
            ended = await session_operations.end_user_sessions(provider.runtime, username)
            return JSONResponse(_ended(request, ended), headers=NO_STORE)
        views = await session_operations.list_sessions(
            provider.db, provider.config, now=provider.now(), username=username
        )
    except OperatorError as exc:
        raise not_found(exc.description) from None
    sessions = [
        {
            "sid": v.session.sid,
            "state": v.state,
            "device": v.device,
            "ip": v.session.ip,
            "started": v.session.created_at.isoformat(),
            "last_active": v.session.last_active_at.isoformat(),
            "expires": v.session.expires_at.isoformat(),
            "applications": v.applications,
        }
        for v in views
    ]
    return JSONResponse({"user": username, "sessions": sessions}, headers=NO_STORE)


async def end_session(request: Request) -> Response:
    _check_caller(request)
    provider = Provider.of(request)
    sid = request.path_params["sid"]
    try:
        ended = await session_operations.end_sessions(provider.runtime, [sid])
    except OperatorError as exc:
        if "ended already" in exc.description:
            raise ApiError(409, "conflict", exc.description) from None
        raise not_found(exc.description) from None
    if not ended.sessions:  # another request ended it between our check and our transaction
        raise ApiError(409, "conflict", f"session {sid} ended already")
    return JSONResponse(_ended(request, ended), headers=NO_STORE)


async def signout_status(request: Request) -> Response:
    _check_caller(request)
    provider = Provider.of(request)
    try:
        report = await signout_operations.report(provider.db, request.path_params["signout_id"])
    except OperatorError:
        raise not_found("no such sign-out") from None
    signout = report.signout
    return JSONResponse(
        {
            "sid": signout.sid,
            "reason": signout.reason,
            "txn": report.txn,
            "ended_at": signout.created_at.isoformat(),
            "applications": [
                {"client_id": p.client_id, "name": p.name, "frontchannel": bool(p.frontchannel_url)}
                for p in signout.participants
            ],
            "backchannel": [
                {
                    "client_id": d.client_id,
                    "state": d.state.value,
                    "attempts": d.attempts,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                }
                for d in report.deliveries
            ],
            "signals": [_event(e) for e in report.events],
        },
        headers=NO_STORE,
    )


def _event(e: EventRecord) -> dict[str, Any]:
    return {
        "stream_id": e.stream_id,
        "client_id": e.client_id,
        "event": e.event_type,
        "delivery": e.delivery,
        "state": e.state.value,
        "attempts": e.attempts,
        "last_status": e.last_status,
        "last_error": e.last_error,
        "delivered_at": e.delivered_at.isoformat() if e.delivered_at else None,
    }


async def streams(request: Request) -> Response:
    """Every Shared Signals stream, with how many of its events are where."""
    _check_caller(request)
    runtime = Provider.of(request).runtime
    states = await stream_operations.listing(runtime, client_id=request.query_params.get("client"))
    return JSONResponse([{**_stream(runtime, s.stream), "events": s.counts} for s in states], headers=NO_STORE)


async def stream(request: Request) -> Response:
    """One stream, and its latest events."""
    _check_caller(request)
    runtime = Provider.of(request).runtime
    found = await stream_operations.find(runtime, request.path_params["stream_id"])
    recent = await stream_operations.events(runtime, stream_id=found.stream_id)
    return JSONResponse(
        {**_stream(runtime, found), "recent_events": [_event(e) for e in recent[:100]]}, headers=NO_STORE
    )


def _stream(runtime: Runtime, s: StreamRecord) -> dict[str, Any]:
    return {
        **stream_operations.view(runtime, s),
        "client_id": s.client_id,
        "status": s.status,
        "reason": s.status_reason,
    }
