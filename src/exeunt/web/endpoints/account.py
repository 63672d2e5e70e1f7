"""The signed-in person's own pages: where they are signed in (and signing other devices out), and
changing their password (which signs every other device out).

Every POST is one of our own forms: same origin only, with a CSRF token bound to the current
session.  A person can only see and end their own sessions: rows are found among the sessions of
the user of the current session, by a handle (a hash of the sid) that names nothing elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exeunt.errors import OperatorError
from exeunt.lifecycle import EndReason, device_summary
from exeunt.operations import accounts
from exeunt.security import verify_password
from exeunt.seed_file import MAX_PASSWORD, MIN_PASSWORD
from exeunt.signout import sign_out, sign_out_user
from exeunt.storage import sessions as session_store
from exeunt.storage import throttle as throttle_store
from exeunt.storage import users as user_store
from exeunt.storage.database import Connection
from exeunt.storage.sessions import SessionRecord
from exeunt.throttling import WINDOW, account_key
from exeunt.web.errors import NO_STORE, error_page
from exeunt.web.own_forms import read_own_form
from exeunt.web.provider import Provider
from exeunt.words import N_, NN_, Phrase, Words

CROSS_SITE = N_("This request was sent from another site, so nothing was changed. Use this service's own page.")


def handle_of(sid: str) -> str:
    return hashlib.sha256(b"exeunt.session-handle\x00" + sid.encode()).hexdigest()[:24]


async def sessions_page(request: Request) -> Response:
    provider = Provider.of(request)
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        return RedirectResponse("/login?then=sessions", status_code=303, headers=NO_STORE)
    return await _render_sessions(provider, request, session, request.query_params.get("done"))


async def _render_sessions(provider: Provider, request: Request, current: SessionRecord, done: str | None) -> Response:
    now = provider.now()
    async with provider.db.read() as conn:
        live = await session_store.of_user(conn, current.user_id, live_at=now)
        rows = []
        for s in live:
            if not s.is_live(now, provider.config.session_idle_timeout):
                continue
            rows.append(
                {
                    "handle": handle_of(s.sid),
                    "current": s.sid == current.sid,
                    "device": device_summary(s.user_agent),
                    "ip": s.ip,
                    "started": s.created_at,
                    "last_active": s.last_active_at,
                    "applications": [c.name for c in await session_store.participants(conn, s.sid)],
                }
            )
        user = await user_store.get(conn, current.user_id)
        guessed = await _guessed(conn, user.username, now) if user else None
    rows.sort(key=lambda r: not r["current"])
    messages = {
        "one": N_("That device is signed out, and its applications are being told."),
        "others": N_("Every other device is signed out, and their applications are being told."),
    }
    return provider.templates.TemplateResponse(
        request,
        "account_sessions.html",
        {
            "sessions": rows,
            "others": any(not r["current"] for r in rows),
            "csrf": provider.csrf("account", current.sid),
            "message": messages.get(done or ""),
            "guessed": guessed,
        },
        headers=NO_STORE,
    )


async def _guessed(conn: Connection, username: str, now: datetime) -> dict[str, object] | None:
    """How often the account was guessed at (wrong passwords from anywhere) in the last hour."""
    key = account_key(username)
    counter = (await throttle_store.read(conn, [key])).get(key)
    if counter is None or now - counter.last_failure_at >= WINDOW:
        return None
    return {"failures": counter.failures, "last": counter.last_failure_at}


async def _own_post(request: Request) -> tuple[Provider, SessionRecord, dict[str, str]] | Response:
    provider = Provider.of(request)
    form = await read_own_form(request, refused=N_("Request refused"), cross_site=CROSS_SITE)
    if isinstance(form, Response):
        return form
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        return RedirectResponse("/login?then=sessions", status_code=303, headers=NO_STORE)
    if not provider.csrf_ok("account", session.sid, form.get("csrf")):
        return error_page(
            request, N_("Page expired"), N_("This page is too old; nothing was changed. Open it again."), 400
        )
    return provider, session, form


async def end_one(request: Request) -> Response:
    """``POST /account/sessions/end``: sign out one of the person's other devices."""
    checked = await _own_post(request)
    if isinstance(checked, Response):
        return checked
    provider, current, form = checked
    handle = form.get("session", "")
    async with provider.db.read() as conn:
        mine = await session_store.of_user(conn, current.user_id, live_at=provider.now())
    target = next((s for s in mine if handle_of(s.sid) == handle and s.sid != current.sid), None)
    if target is None:
        return error_page(
            request, N_("Session not found"), N_("That device is not signed in any more (or is not one of yours)."), 404
        )
    await sign_out(provider.runtime, target.sid, EndReason.OTHER_DEVICE)
    return RedirectResponse("/account/sessions?done=one", status_code=303, headers=NO_STORE)


async def end_others(request: Request) -> Response:
    """``POST /account/sessions/end-others``: sign out every device but this browser."""
    checked = await _own_post(request)
    if isinstance(checked, Response):
        return checked
    provider, current, _ = checked
    await sign_out_user(provider.runtime, current.user_id, EndReason.OTHER_DEVICE, keep_sid=current.sid)
    return RedirectResponse("/account/sessions?done=others", status_code=303, headers=NO_STORE)


async def password_page(request: Request) -> Response:
    provider = Provider.of(request)
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        return RedirectResponse("/login?then=password", status_code=303, headers=NO_STORE)
    return _render_password(provider, request, session)


def _render_password(
    provider: Provider, request: Request, session: SessionRecord, message: Words | None = None, *, status: int = 200
) -> Response:
    return provider.templates.TemplateResponse(
        request,
        "account_password.html",
        {"csrf": provider.csrf("account", session.sid), "message": message, "done": status == 200 and bool(message)},
        status_code=status,
        headers=NO_STORE,
    )


async def change_password(request: Request) -> Response:
    """``POST /account/password``: the current password, then the new one twice.  Every other
    session of the person ends (reason ``password_changed``); this browser stays signed in."""
    checked = await _own_post(request)
    if isinstance(checked, Response):
        return checked
    provider, session, form = checked
    current, new, again = form.get("current", ""), form.get("new", ""), form.get("again", "")
    async with provider.db.read() as conn:
        user = await user_store.get(conn, session.user_id)
    if user is None:
        return RedirectResponse("/login?then=password", status_code=303, headers=NO_STORE)
    if len(current) > 1024 or not await asyncio.to_thread(verify_password, current, user.password_hash):
        return _render_password(provider, request, session, N_("Your current password is not right."), status=400)
    if new != again:
        return _render_password(provider, request, session, N_("The two new passwords differ."), status=400)
    if not MIN_PASSWORD <= len(new) <= MAX_PASSWORD:
        length = Phrase(
            N_("A password must be %(least)s to %(most)s characters long."),
            {"least": MIN_PASSWORD, "most": MAX_PASSWORD},
        )
        return _render_password(provider, request, session, length, status=400)
    try:
        ended = await accounts.set_password(provider.runtime, user.username, new, keep_sid=session.sid, by_owner=True)
    except OperatorError as exc:
        return _render_password(provider, request, session, f"{str(exc).capitalize()}.", status=400)
    others = len(ended.sessions)
    return _render_password(
        provider,
        request,
        session,
        Phrase.counted(
            NN_(
                "Your password is changed. %(n)s other device signed out.",
                "Your password is changed. %(n)s other devices signed out.",
            ),
            others,
        ),
    )
