"""Answers to an authorization request, shared by ``/authorize`` and the sign-in form's POST:
issuing a code (Core §3.1.2.5) and sending an error back to the verified redirect URI (§3.1.2.6)."""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response

from exeunt.protocol.authorization import AuthRequest, RedirectError
from exeunt.protocol.urls import safe_origin
from exeunt.security import new_token, sha256_hex
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage.database import Connection
from exeunt.storage.sessions import ACTIVITY_GRANULARITY, SessionRecord
from exeunt.tokens.session_state import session_state
from exeunt.web.errors import redirect_with
from exeunt.web.provider import Provider


def error_redirect(provider: Provider, request: Request, err: RedirectError) -> Response:
    browser_state = provider.cookies.read_browser_state(request) or ""
    origin = safe_origin(err.redirect_uri) or ""
    return redirect_with(
        err.redirect_uri,
        {
            "error": err.error,
            "error_description": err.description,
            "state": err.state,
            "iss": provider.config.issuer,  # RFC 9207
            # Session Management §2: SHOULD be in error responses too (fresh salt each time).
            "session_state": session_state(err.client.client_id, origin, browser_state),
        },
    )


async def issue_code(
    provider: Provider,
    conn: Connection,
    req: AuthRequest,
    session: SessionRecord,
    browser_state: str,
    *,
    participation_recorded_at: datetime | None = None,
) -> Response:
    """Store a single-use code, record the client's participation (unless ``participation_recorded_at``,
    read in this transaction, says it is recorded already), and redirect with the code."""
    now = provider.now()
    code = new_token(32)
    await grants.add_code(
        conn,
        grants.CodeRecord(
            code_hash=sha256_hex(code),
            client_id=req.client.client_id,
            sid=session.sid,
            redirect_uri=req.redirect_uri,
            scope=req.scope,
            nonce=req.nonce,
            code_challenge=req.code_challenge,
            auth_time=session.auth_time,
            created_at=now,
            expires_at=now + timedelta(seconds=provider.config.code_lifetime),
            consumed_at=None,
        ),
    )
    await session_store.record_participation(
        conn,
        sid=session.sid,
        client_id=req.client.client_id,
        now=now,
        touch_session=now - session.last_active_at > ACTIVITY_GRANULARITY,
        recorded_at=participation_recorded_at,
    )
    return redirect_with(
        req.redirect_uri,
        {
            "code": code,
            "state": req.state,
            "iss": provider.config.issuer,
            "session_state": session_state(req.client.client_id, safe_origin(req.redirect_uri) or "", browser_state),
        },
    )
