"""RP-Initiated Logout 1.0: the ``end_session_endpoint``, the confirmation POST, the logged-out page.

GET never removes anything.  ``/logout`` (GET or POST, RIL §2) validates the request and shows the
question; its answer is a same-origin POST to ``/logout/confirm`` carrying a CSRF token bound to
the session.  A cross-site form POST to ``/logout`` arrives without the ``SameSite=Lax`` cookie,
so it is answered with a 303 to a GET that carries the *validated* request as a signed value:
the top-level GET brings the cookie, and the person sees the question for their real session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import asdict
from functools import partial
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exeunt.lifecycle import EndReason
from exeunt.protocol.delivery import DeliveryState
from exeunt.protocol.identifiers import is_random_id
from exeunt.protocol.logout import LogoutRequest, refused, validate_logout_request
from exeunt.protocol.urls import safe_origin
from exeunt.signout import sign_out
from exeunt.storage import outbox
from exeunt.storage import sessions as session_store
from exeunt.storage import signouts as signout_store
from exeunt.storage.sessions import SessionRecord
from exeunt.storage.signouts import SignoutRecord
from exeunt.web.errors import NO_STORE, error_page
from exeunt.web.own_forms import read_own_form
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider
from exeunt.words import N_

log = logging.getLogger("exeunt.signout")

PENDING_MAX_AGE = 3600
# How long the logged-out page stays at least, when it has progress to show: long enough to read
# "You are signed out" and which applications were told (a screen reader announces them); a page
# with nothing to show moves on at once.  The "Continue" button is there all the while.
SHOW_SECONDS = 3.0
CONTINUE_POLL = 0.05  # seconds between looks at the initiating client's delivery


def _serializer(provider: Provider) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(provider.runtime.secret_key, salt="exeunt.logout-request")


def _dump(provider: Provider, req: LogoutRequest) -> str:
    return _serializer(provider).dumps({k: v for k, v in asdict(req).items() if v is not None})


def _load(provider: Provider, blob: str) -> LogoutRequest | None:
    try:
        data: Any = _serializer(provider).loads(blob, max_age=PENDING_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return LogoutRequest(**{k: v for k, v in data.items() if isinstance(v, str)})
    except TypeError:
        return None


def _nothing_to_sign_out(provider: Provider, request: Request, req: LogoutRequest) -> Response:
    """RIL §4: logout requests are idempotent; nobody signed in is not an error."""
    target = req.redirect_target()
    if target is not None:
        return RedirectResponse(target, status_code=303, headers=NO_STORE)
    return provider.templates.TemplateResponse(
        request,
        "logged_out.html",
        {"frames": [], "backchannel": [], "target": None, "already": True, "wait_ms": 0, "signout_id": None},
        headers=NO_STORE,
    )


async def end_session_endpoint(request: Request) -> Response:
    """``GET|POST /logout``: validate, then ask (RIL §2: the OP SHOULD ask, and MUST without a valid hint)."""
    provider = Provider.of(request)
    try:
        params = await read_params(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        params, req = {}, refused(f"The sign-out request could not be read: {exc.description}.")
    else:
        if "r" in params and len(params) == 1:  # our own continuation of a cross-site POST
            loaded = _load(provider, params["r"])
            req = loaded or refused("This sign-out request is too old. You can still sign out here.")
        else:
            async with provider.db.read() as conn:
                req = await validate_logout_request(
                    params,
                    ring=await provider.runtime.key_ring(),
                    issuer=provider.config.issuer,
                    now=provider.now(),
                    lookup=partial(provider.client, conn),
                )
    request.state.ui_locales = req.ui_locales  # the pages of this sign-out speak the application's language
    if request.method == "POST":
        # A cross-site POST does not carry our SameSite=Lax cookie; continue as a top-level GET, which does.
        return RedirectResponse("/logout?" + urlencode({"r": _dump(provider, req)}), status_code=303, headers=NO_STORE)
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        if req.problem:
            return provider.templates.TemplateResponse(
                request,
                "logout_confirm.html",
                {"problem": req.problem, "plainly": req.plainly, "apps": [], "session": None},
                status_code=400,
                headers=NO_STORE,
            )
        return _nothing_to_sign_out(provider, request, req)
    async with provider.db.read() as conn:
        apps = [c.name for c in await session_store.participants(conn, session.sid)]
    hint_matches = req.hint_names(session.sid, session.sub)
    return provider.templates.TemplateResponse(
        request,
        "logout_confirm.html",
        {
            "session": session,
            "apps": apps,
            "problem": req.problem,
            "plainly": req.plainly,
            "client_name": req.client_name,
            "csrf": provider.csrf("logout", session.sid),
            "pending": _dump(provider, req),
            "skip": provider.config.logout_skip_confirmation and hint_matches and not req.problem,
            "foreign_hint": req.hint_sid is not None and not hint_matches,
        },
        status_code=400 if req.problem else 200,
        headers=NO_STORE,
    )


async def confirm(request: Request) -> Response:
    """``POST /logout/confirm``: the only request that signs anyone out."""
    provider = Provider.of(request)
    form = await read_own_form(
        request,
        refused=N_("Sign-out refused"),
        cross_site=N_(
            "This sign-out was sent from another site, so nobody was signed out. "
            "Use the sign-out button on this service's own page."
        ),
    )
    if isinstance(form, Response):
        return form
    req = _load(provider, form.get("pending", ""))
    if req is not None:
        request.state.ui_locales = req.ui_locales
    if req is None:
        return error_page(
            request,
            N_("Sign-out page expired"),
            N_("This sign-out page is too old. Nobody was signed out; open the sign-out page again."),
            400,
            retry="/logout",
        )
    session = await provider.live_session_ending_overdue(request)
    if session is None:
        return _nothing_to_sign_out(provider, request, req)
    if not provider.csrf_ok("logout", session.sid, form.get("csrf")):
        return error_page(
            request,
            N_("Sign-out page expired"),
            N_(
                "This sign-out form does not belong to your current "
                "session, so nobody was signed out. Open the sign-out page again."
            ),
            400,
            retry="/logout",
        )
    return await _sign_out(provider, session, req)


async def _sign_out(provider: Provider, session: SessionRecord, req: LogoutRequest) -> Response:
    ended = await sign_out(
        provider.runtime,
        session.sid,
        EndReason.RP_INITIATED if req.client_id else EndReason.USER,
        initiator=req.client_id,
        post_logout_redirect_uri=req.post_logout_redirect_uri,
        state=req.state,
    )
    if ended is None:  # another tab signed out a moment earlier
        response: Response = RedirectResponse("/logout", status_code=303, headers=NO_STORE)
    else:
        language = f"?{urlencode({'ui_locales': req.ui_locales})}" if req.ui_locales else ""
        response = RedirectResponse(f"/logout/done/{ended.signout.id}{language}", status_code=303, headers=NO_STORE)
    provider.cookies.clear_session(response)
    provider.cookies.set_browser_state(response)  # Session Management: old session_state now reads "changed"
    return response


async def _recent_signout(provider: Provider, signout_id: str) -> SignoutRecord | None:
    """The sign-out behind a logged-out page's id, while its page lives (15 minutes)."""
    async with provider.db.read() as conn:
        signout = await signout_store.get(conn, signout_id) if is_random_id(signout_id) else None
    if signout is None or provider.now() >= signout.expires_at:
        return None
    return signout


async def logged_out(request: Request) -> Response:
    """``GET /logout/done/{id}``: one hidden iframe per front-channel client, live progress, then the
    post-logout redirect once every frame has loaded or ``EXEUNT_LOGOUT_WAIT`` has passed.  What it
    shows is the snapshot the sign-out took in its transaction."""
    provider = Provider.of(request)
    signout = await _recent_signout(provider, request.path_params["signout_id"])
    if signout is None:
        return _nothing_to_sign_out(provider, request, LogoutRequest())
    frames = [
        {"client_id": p.client_id, "name": p.name, "src": p.frontchannel_url, "origin": safe_origin(p.frontchannel_url)}
        for p in signout.participants
        if p.frontchannel_url
    ]
    backchannel = [{"client_id": p.client_id, "name": p.name} for p in signout.participants if p.backchannel]
    quiet = [p.name for p in signout.participants if not p.frontchannel_url and not p.backchannel]
    if quiet:
        log.info(
            "signout %s: %s registered no front- or back-channel logout URI; they learn of it only "
            "through the session check iframe, if they poll it",
            signout.id,
            ", ".join(p.client_id for p in signout.participants if not p.frontchannel_url and not p.backchannel),
        )
    target = _target(signout)
    initiator = next((p for p in signout.participants if p.client_id == signout.initiating_client_id), None)
    frame_origins = sorted(
        {o for p in signout.participants if p.frontchannel_url and (o := safe_origin(p.frontchannel_url))}
    )
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'; "
        f"frame-src {' '.join(frame_origins) if frame_origins else chr(39) + 'none' + chr(39)}"
    )
    return provider.templates.TemplateResponse(
        request,
        "logged_out.html",
        {
            "frames": frames,
            "backchannel": backchannel,
            "quiet": quiet,
            "target": f"/logout/continue/{signout.id}" if target else None,
            "already": False,
            "wait_ms": int(provider.config.logout_wait * 1000),
            "wait_s": f"{provider.config.logout_wait:g}",
            "show_ms": int(SHOW_SECONDS * 1000),
            "show_s": f"{SHOW_SECONDS:g}",
            "signout_id": signout.id,
            "initiator": signout.initiating_client_id,
            "initiator_name": initiator.name if initiator else None,
            "initiator_backchannel": bool(initiator and initiator.backchannel),
        },
        headers={**NO_STORE, "Content-Security-Policy": csp},
    )


def _target(signout: SignoutRecord) -> str | None:
    return LogoutRequest(
        post_logout_redirect_uri=signout.post_logout_redirect_uri, state=signout.state
    ).redirect_target()


async def continue_to_application(request: Request) -> Response:
    """``GET /logout/continue/{id}``: the way back to the application that asked for the sign-out.

    The logged-out page's button and script both come here, so every browser (with script or
    without, or any HTTP client following the link) reaches ``post_logout_redirect_uri`` only after
    the initiating client's logout token has been delivered (or given up), or ``EXEUNT_LOGOUT_WAIT``
    has passed since the sign-out: the application never sees the user back before it knows.
    Then RIL §3: a 303 to the validated URI with ``state``.
    """
    provider = Provider.of(request)
    signout = await _recent_signout(provider, request.path_params["signout_id"])
    if signout is None:
        return _nothing_to_sign_out(provider, request, LogoutRequest())
    target = _target(signout)
    if target is None:
        return RedirectResponse(f"/logout/done/{signout.id}", status_code=303, headers=NO_STORE)
    initiator = next((p for p in signout.participants if p.client_id == signout.initiating_client_id), None)
    if initiator is not None and initiator.backchannel:
        await _await_delivery(provider, signout, initiator.client_id)
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


async def _await_delivery(provider: Provider, signout: SignoutRecord, client_id: str) -> None:
    """Until ``client_id``'s delivery for ``signout`` is settled, or the wait since the sign-out is over
    (and always inside the request deadline)."""
    waited = (provider.now() - signout.created_at).total_seconds()
    budget = min(provider.config.logout_wait - waited, provider.config.request_timeout - 1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget
    recorded = asyncio.Event()  # a worker (this process's, or on PostgreSQL any) recorded outcomes: look at once
    unsubscribe = provider.runtime.on_outcomes(recorded.set)
    await provider.runtime.hear_outcomes_of_other_processes()
    try:
        while True:
            recorded.clear()
            async with provider.db.read() as conn:
                states = {d.client_id: d.state for d in await outbox.of_signout(conn, signout.id)}
            if states.get(client_id) in (None, DeliveryState.DELIVERED, DeliveryState.GIVEN_UP):
                return
            left = deadline - loop.time()
            if left <= 0:
                return
            # A worker in another process on SQLite records without telling this one: look again now and then.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorded.wait(), min(left, CONTINUE_POLL))
    finally:
        unsubscribe()
