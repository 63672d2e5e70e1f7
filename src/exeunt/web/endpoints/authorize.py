"""``/authorize``: the authorization endpoint (OpenID Connect Core §3.1.2), code flow only.

The rules live in ``exeunt.protocol.authorization`` (one named check per rule); this module reads
the request, finds the browser's session, and answers with a code, an error redirect, a page, or
the sign-in form.
"""

from __future__ import annotations

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from exeunt.errors import PageError
from exeunt.protocol.authorization import RedirectError, needs_login, validate
from exeunt.security import new_token, sha256_hex
from exeunt.storage import sessions as session_store
from exeunt.web.authorization_response import error_redirect, issue_code
from exeunt.web.errors import error_page
from exeunt.web.login_form import render_login
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider
from exeunt.words import N_


async def authorize(request: Request) -> Response:
    provider = Provider.of(request)
    try:
        params = await read_params(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        return error_page(request, N_("Sign-in request is malformed"), exc.description, exc.status)
    request.state.ui_locales = params.get("ui_locales")  # Core §3.1.2.1: the pages speak it (GET or POST)
    now = provider.now()
    idle = provider.config.session_idle_timeout
    sid = provider.cookies.read_sid(request)
    browser_state = provider.cookies.read_browser_state(request)
    try:
        if sid is None:  # the common first visit: nothing to write, no write lock taken
            async with provider.db.read() as conn:
                req = await validate(params, partial(provider.client, conn))
            session = None
        else:
            # A signed-in browser: validate, find the session and issue the code in one transaction.
            async with provider.db.write() as conn:
                req = await validate(params, partial(provider.client, conn))
                found, recorded_at = await session_store.get_for_client(conn, sid, req.client.client_id)
                session = found if found is not None and found.is_live(now, idle) else None
                if session is not None and not needs_login(req, session.auth_time, now):
                    # Signed in, but the state cookie was lost (cleared by hand): give it one, so the
                    # session_state issued now can read "unchanged" in the check_session iframe.
                    state_value = browser_state or new_token(16)
                    response = await issue_code(
                        provider, conn, req, session, state_value, participation_recorded_at=recorded_at
                    )
                    if browser_state is None:
                        provider.cookies.set_browser_state(response, state_value)
                    if sha256_hex(state_value) != session.browser_state_hash:
                        # The iframe asks by this value whether the session lives: keep them paired.
                        await session_store.set_browser_state(conn, session.sid, state_value)
                    return response
            if session is None and found is not None:
                await provider.live_or_end_overdue(found)  # past a deadline the sweeper has not reached yet: end it
    except PageError as exc:
        return error_page(request, exc.title, exc.message)
    except RedirectError as exc:
        return error_redirect(provider, request, exc)

    if "none" in req.prompt:
        # Core §3.1.2.6: login_required when prompt=none cannot be honoured without a sign-in.
        reason = "the user is not signed in" if session is None else "the sign-in is older than max_age"
        return error_redirect(
            provider, request, RedirectError(req.client, req.redirect_uri, req.state, "login_required", reason)
        )
    return render_login(provider, request, params=params, username=req.login_hint or "", client_name=req.client.name)
