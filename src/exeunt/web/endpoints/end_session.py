"""RP-Initiated Logout 1.0: the ``end_session_endpoint``, the confirmation POST, the logged-out page.

GET never removes anything.  ``/logout`` (GET or POST, RIL §2) validates the request and shows the
question; its answer is a same-origin POST to ``/logout/confirm`` carrying a CSRF token bound to
the session.  A cross-site form POST to ``/logout`` arrives without the ``SameSite=Lax`` cookie,
so it is answered with a 303 to a GET that carries the *validated* request as a signed value:
the top-level GET brings the cookie, and the person sees the question for their real session.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from exeunt import metrics
from exeunt.signout import end_session
from exeunt.storage import clients as client_store
from exeunt.storage import sessions as session_store
from exeunt.storage import signouts as signout_store
from exeunt.storage.clients import ClientRecord, origin_of
from exeunt.storage.sessions import SessionRecord
from exeunt.tokens.id_token import HintInvalid, verify_id_token_hint
from exeunt.web.errors import NO_STORE, error_page
from exeunt.web.own_forms import read_own_form
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider

MAX_STATE_LENGTH = 2048
MAX_HINT_LENGTH = 16384
PENDING_MAX_AGE = 3600


@dataclass(frozen=True)
class LogoutRequest:
    """A logout request after validation.  When ``problem`` is set every other field is empty:
    RIL §4, information that failed validation MUST NOT be used."""

    client_id: str | None = None
    client_name: str | None = None
    post_logout_redirect_uri: str | None = None
    state: str | None = None
    hint_sid: str | None = None
    hint_sub: str | None = None
    problem: str | None = None

    def redirect_target(self) -> str | None:
        """The validated post-logout URI with ``state`` (and nothing else) added, RIL §3."""
        uri = self.post_logout_redirect_uri
        if uri is None:
            return None
        if self.state is None:
            return uri
        return uri + ("&" if "?" in uri else "?") + urlencode({"state": self.state})


def _problem(message: str) -> LogoutRequest:
    return LogoutRequest(problem=message)


async def validate(conn: AsyncConnection, provider: Provider, params: dict[str, str]) -> LogoutRequest:
    state = params.get("state")
    if state is not None and len(state) > MAX_STATE_LENGTH:
        return _problem("state is too long.")
    hint = None
    raw_hint = params.get("id_token_hint")
    if raw_hint is not None:
        if len(raw_hint) > MAX_HINT_LENGTH:
            return _problem("id_token_hint invalid: it is far too long to be an id_token from this provider.")
        try:
            # RIL §2: the OP MUST validate that it issued the hint; an expired one is accepted.
            hint = verify_id_token_hint(
                raw_hint, await provider.runtime.key_ring(), issuer=provider.config.issuer, now=provider.now()
            )
        except HintInvalid as exc:
            return _problem(f"id_token_hint invalid: {exc}.")
    client: ClientRecord | None = None
    if hint is not None:
        client = await client_store.get(conn, hint.client_id)
        if client is None:
            return _problem("id_token_hint invalid: the application it was issued to is no longer registered.")
    client_id = params.get("client_id")
    if client_id is not None:
        if hint is not None and client_id != hint.client_id:
            # RIL §2: when both are present the OP MUST verify they match.
            return _problem("client_id does not match the application the id_token_hint was issued to.")
        if client is None:
            client = await client_store.get(conn, client_id) if len(client_id) <= 200 else None
            if client is None:
                return _problem("client_id is not a registered application.")
    redirect = params.get("post_logout_redirect_uri")
    if redirect is not None:
        if client is None:
            # RIL §3: without a hint (or client_id) the target cannot be confirmed as legitimate.
            return _problem(
                "post_logout_redirect_uri was sent without id_token_hint or client_id, so exeunt "
                "cannot tell which application it belongs to."
            )
        if redirect not in client.post_logout_redirect_uris:
            # RIL §3: MUST NOT redirect unless it exactly matches a registered value.
            return _problem(f"post_logout_redirect_uri not registered for {client.name}.")
    return LogoutRequest(
        client_id=client.client_id if client else None,
        client_name=client.name if client else None,
        post_logout_redirect_uri=redirect,
        state=state if redirect is not None else None,
        hint_sid=hint.sid if hint else None,
        hint_sub=hint.sub if hint else None,
    )


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


async def _app_names(provider: Provider, conn: AsyncConnection, sid: str) -> list[str]:
    taking_part = await session_store.participants(conn, sid)
    known = await client_store.get_many(conn, [p.client_id for p in taking_part])
    return [known[p.client_id].name for p in taking_part if p.client_id in known]


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
        params, req = {}, _problem(f"The sign-out request could not be read: {exc.description}.")
    else:
        if "r" in params and len(params) == 1:  # our own continuation of a cross-site POST
            loaded = _load(provider, params["r"])
            req = loaded or _problem("This sign-out request is too old. You can still sign out here.")
        else:
            async with provider.db.read() as conn:
                req = await validate(conn, provider, params)
    if request.method == "POST":
        # A cross-site POST does not carry our SameSite=Lax cookie; continue as a top-level GET, which does.
        return RedirectResponse("/logout?" + urlencode({"r": _dump(provider, req)}), status_code=303, headers=NO_STORE)
    session = await provider.current_session(request)
    if session is None:
        if req.problem:
            return provider.templates.TemplateResponse(
                request,
                "logout_confirm.html",
                {"problem": req.problem, "apps": [], "session": None},
                status_code=400,
                headers=NO_STORE,
            )
        return _nothing_to_sign_out(provider, request, req)
    async with provider.db.read() as conn:
        apps = await _app_names(provider, conn, session.sid)
    hint_matches = req.hint_sid == session.sid and req.hint_sub == session.sub
    return provider.templates.TemplateResponse(
        request,
        "logout_confirm.html",
        {
            "session": session,
            "apps": apps,
            "problem": req.problem,
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
        form="Sign-out",
        cross_site="This sign-out was sent from another site, so nobody was signed out. "
        "Use the sign-out button on this service's own page.",
    )
    if isinstance(form, Response):
        return form
    req = _load(provider, form.get("pending", ""))
    if req is None:
        return error_page(
            request,
            "Sign-out page expired",
            "This sign-out page is too old. Nobody was signed out; open the sign-out page again.",
            400,
            retry="/logout",
        )
    session = await provider.current_session(request)
    if session is None:
        return _nothing_to_sign_out(provider, request, req)
    if not provider.csrf_ok("logout", session.sid, form.get("csrf")):
        return error_page(
            request,
            "Sign-out page expired",
            "This sign-out form does not belong to your current "
            "session, so nobody was signed out. Open the sign-out page again.",
            400,
            retry="/logout",
        )
    return await _sign_out(provider, session, req)


async def _sign_out(provider: Provider, session: SessionRecord, req: LogoutRequest) -> Response:
    now = provider.now()
    async with provider.db.write() as conn:
        ended = await end_session(
            conn,
            session,
            now=now,
            reason="user",
            initiating_client_id=req.client_id,
            post_logout_redirect_uri=req.post_logout_redirect_uri,
            state=req.state,
        )
    if ended is not None:
        metrics.signouts.labels("user").inc()
    if ended is not None and ended.notifications:
        provider.runtime.outbox_changed()  # wake this process's worker now; others hear NOTIFY
    if ended is None:  # another tab signed out a moment earlier
        response: Response = RedirectResponse("/logout", status_code=303, headers=NO_STORE)
    else:
        response = RedirectResponse(f"/logout/done/{ended.signout.id}", status_code=303, headers=NO_STORE)
    provider.cookies.clear_session(response)
    provider.cookies.set_browser_state(response)  # Session Management: old session_state now reads "changed"
    return response


def frontchannel_url(client: ClientRecord, issuer: str, sid: str) -> str:
    """FCL §2: keep the registered query; add ``iss`` and ``sid`` (both) when the client requires them."""
    uri = client.frontchannel_logout_uri or ""
    if not client.frontchannel_logout_session_required:
        return uri
    return uri + ("&" if "?" in uri else "?") + urlencode({"iss": issuer, "sid": sid})


async def logged_out(request: Request) -> Response:
    """``GET /logout/done/{id}``: one hidden iframe per front-channel client, live progress, then the
    post-logout redirect once every frame has loaded or ``EXEUNT_LOGOUT_WAIT`` has passed."""
    provider = Provider.of(request)
    signout_id = request.path_params["signout_id"]
    async with provider.db.read() as conn:
        signout = await signout_store.get(conn, signout_id) if len(signout_id) <= 64 else None
        if signout is None or provider.now() >= signout.expires_at:
            return _nothing_to_sign_out(provider, request, LogoutRequest())
        taking_part = await session_store.participants(conn, signout.sid)
        known = await client_store.get_many(conn, [p.client_id for p in taking_part])
    clients = [known[p.client_id] for p in taking_part if p.client_id in known]
    frames = [
        {"client_id": c.client_id, "name": c.name, "src": frontchannel_url(c, provider.config.issuer, signout.sid)}
        for c in clients
        if c.frontchannel_logout_uri
    ]
    backchannel = [{"client_id": c.client_id, "name": c.name} for c in clients if c.backchannel_logout_uri]
    quiet = [c.name for c in clients if not c.frontchannel_logout_uri and not c.backchannel_logout_uri]
    target = LogoutRequest(
        post_logout_redirect_uri=signout.post_logout_redirect_uri, state=signout.state
    ).redirect_target()
    frame_origins = sorted({origin_of(f["src"]) for f in frames})
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
            "target": target,
            "already": False,
            "wait_ms": int(provider.config.logout_wait * 1000),
            "signout_id": signout.id,
            "initiator": signout.initiating_client_id,
        },
        headers={**NO_STORE, "Content-Security-Policy": csp},
    )
