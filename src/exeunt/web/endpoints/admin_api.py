"""The admin HTTP API, for systems that deprovision people (an HR system, a SCIM bridge).

Off unless ``EXEUNT_ADMIN_TOKEN`` is set (every path then answers 404, as if it did not exist);
with it, every request needs ``Authorization: Bearer <token>`` (compared in constant time).  Answers
and errors are JSON.  Ending sessions goes through the one sign-out call (reason ``admin``), so each
application that took part is told by back-channel, and the answer says how many notifications were
queued and where to follow them.

  GET    /admin/users/{username}/sessions   live sessions of a user
  DELETE /admin/users/{username}/sessions   end them all (200, even when there were none)
  DELETE /admin/sessions/{sid}              end one (404 unknown, 409 ended already)
  GET    /admin/signouts/{id}               per-client delivery state of one sign-out
"""

from __future__ import annotations

import hmac
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt import signout
from exeunt.errors import ApiError, OperatorError, not_found
from exeunt.operations import sessions as session_operations
from exeunt.protocol.identifiers import is_random_id
from exeunt.storage import outbox
from exeunt.storage import signouts as signout_store
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
    signout_id = request.path_params["signout_id"]
    async with provider.db.read() as conn:
        signout = await signout_store.get(conn, signout_id) if is_random_id(signout_id) else None
        if signout is None:
            raise not_found("no such sign-out")
        deliveries = await outbox.of_signout(conn, signout_id)
    return JSONResponse(
        {
            "sid": signout.sid,
            "reason": signout.reason,
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
                for d in deliveries
            ],
        },
        headers=NO_STORE,
    )
