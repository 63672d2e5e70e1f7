"""The sign-in form (GET) and its submission (POST)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exeunt import metrics
from exeunt.errors import PageError
from exeunt.lifecycle import EndReason
from exeunt.protocol.authorization import RedirectError, validate
from exeunt.security import dummy_password_hash, new_token, verify_password
from exeunt.signout import signing_out
from exeunt.storage import sessions as session_store
from exeunt.storage import throttle as throttle_store
from exeunt.storage import users as user_store
from exeunt.throttling import ADDRESS, account_of, device_keys, sign_in_keys
from exeunt.web.authorization_response import error_redirect, issue_code
from exeunt.web.errors import NO_STORE, error_page
from exeunt.web.guessing import address_of, count_failure, locked_for, wait_message
from exeunt.web.login_form import after_sign_in, load_pending, render_login
from exeunt.web.own_forms import read_own_form
from exeunt.web.provider import Provider
from exeunt.words import N_

log = logging.getLogger("exeunt.login")
MAX_CREDENTIAL_LENGTH = 1024
BAD_CREDENTIALS = N_("Incorrect username or password.")


async def login_form(request: Request) -> Response:
    provider = Provider.of(request)
    return render_login(provider, request, params=None, then=request.query_params.get("then"))


async def login_submit(request: Request) -> Response:
    provider = Provider.of(request)
    form = await read_own_form(
        request,
        refused=N_("Sign-in refused"),
        cross_site=N_("This sign-in form was sent from another site. Open the sign-in page yourself."),
    )
    if isinstance(form, Response):
        return form

    blob = form.get("pending", "")
    pending = load_pending(provider, blob) if blob else None
    if pending is not None:
        request.state.ui_locales = pending.get("ui_locales")  # the application's language, carried in the form
    if blob and pending is None:
        return error_page(
            request,
            N_("Sign-in page expired"),
            N_("This sign-in page is too old. Go back to the application and start again."),
        )
    if not provider.csrf_ok("login", provider.cookies.read_login_binding(request), form.get("csrf")):
        return render_login(
            provider,
            request,
            params=pending,
            then=form.get("then"),
            status=400,
            message=N_("This sign-in page expired. Please sign in again."),
        )

    req = None
    if pending is not None:
        try:
            async with provider.db.read() as conn:
                req = await validate(pending, partial(provider.client, conn))
        except PageError as exc:
            return error_page(request, exc.title, exc.message)
        except RedirectError as exc:
            return error_redirect(provider, request, exc)
    client_name = req.client.name if req else None

    username = form.get("username", "").strip()
    password = form.get("password", "")
    if not username or not password:
        return render_login(
            provider,
            request,
            params=pending,
            then=form.get("then"),
            username=username,
            status=400,
            client_name=client_name,
            message=N_("Enter your username and password."),
        )
    if len(username) > MAX_CREDENTIAL_LENGTH or len(password) > MAX_CREDENTIAL_LENGTH:
        return render_login(
            provider,
            request,
            params=pending,
            then=form.get("then"),
            status=401,
            client_name=client_name,
            message=BAD_CREDENTIALS,
        )
    account = account_of(username)
    device = provider.cookies.read_device(request)
    trusted = device is not None and device[0] == account
    # A browser that signed in to this account before counts only its own failures; any other
    # counts against the account, the account from this address, and the address.
    guesses = device_keys(device[1]) if trusted and device else sign_in_keys(username, address_of(request))
    async with provider.db.read() as conn:
        wait = await locked_for(provider, conn, guesses, "password")
        user = await user_store.get_by_username(conn, username) if not wait else None
    if wait:
        # Refused before the password is looked at, so guessing on gains nothing.
        log.info("sign-in refused: too many failures (%d s left)", wait)
        return render_login(
            provider,
            request,
            params=pending,
            then=form.get("then"),
            username=username,
            status=429,
            client_name=client_name,
            message=wait_message(wait),
            headers={"Retry-After": str(wait)},
        )
    stored = user.password_hash if user else dummy_password_hash()
    ok = await asyncio.to_thread(verify_password, password, stored)
    if user is not None and user.disabled_at is not None:
        ok = False  # a disabled account signs in nowhere; it reads like any wrong password
    if user is None or not ok:
        log.info("sign-in failed")
        metrics.signins.labels("failure").inc()
        await count_failure(provider, guesses)
        return render_login(
            provider,
            request,
            params=pending,
            then=form.get("then"),
            username=username,
            status=401,
            client_name=client_name,
            message=BAD_CREDENTIALS,
        )

    old_sid = provider.cookies.read_sid(request)
    now = provider.now()
    browser_state = new_token(16)  # Session Management: the state changes on every sign-in
    # One transaction: the browser's older session ends (its clients are told) and the new one
    # begins, or neither happens.
    async with signing_out(provider.runtime) as tx:
        if old_sid is not None:
            await tx.end(old_sid, EndReason.REPLACED)
        # A success clears this browser's failures; the account's own only when the attempt counted
        # there (a trusted browser's success must not hand strangers new free guesses).
        await throttle_store.clear(tx.conn, [key for key, limit in guesses if limit is not ADDRESS])
        session = await session_store.create(
            tx.conn,
            user_id=user.id,
            sub=user.sub,
            now=now,
            lifetime=provider.config.session_lifetime,
            user_agent=request.headers.get("user-agent"),
            ip=address_of(request),
            browser_state=browser_state,
        )
        if req is not None:
            response = await issue_code(provider, tx.conn, req, session, browser_state)
        else:
            response = RedirectResponse(after_sign_in(form.get("then")), status_code=303, headers=NO_STORE)
    provider.cookies.set_session(response, session.sid)
    provider.cookies.set_browser_state(response, browser_state)
    provider.cookies.set_device(response, account)
    log.info("sign-in succeeded")
    metrics.signins.labels("success").inc()
    return response
