"""Session Management 1.0: the ``check_session_iframe`` and the origins it accepts messages from."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.storage import sessions as session_store
from exeunt.web.provider import Provider


async def check_session_iframe(request: Request) -> Response:
    """Frameable by client origins only (every other page sends ``frame-ancestors 'none'``)."""
    provider = Provider.of(request)
    ancestors = " ".join(sorted(await provider.redirect_origins())) or "'none'"
    csp = f"default-src 'none'; script-src 'self'; connect-src 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    return provider.templates.TemplateResponse(
        request,
        "check_session.html",
        {},
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )


async def live(request: Request) -> Response:
    """``GET /session/check/live?bs=…``: whether the session this browser-state value was set for
    still lives.  The iframe asks after its own check says "unchanged", so a session ended elsewhere
    (another device, an operator, expiry) reads "changed" the next time an application polls.  The
    value is 128 random bits known only to this browser's provider-origin pages."""
    provider = Provider.of(request)
    state = request.query_params.get("bs", "")
    if not 0 < len(state) <= 64 or not state.isascii():
        return JSONResponse({"live": False}, headers={"Cache-Control": "no-store"})
    async with provider.db.read() as conn:
        alive = await session_store.live_by_browser_state(
            conn, state, provider.now(), provider.config.session_idle_timeout
        )
    return JSONResponse({"live": alive}, headers={"Cache-Control": "no-store"})


async def client_origins(request: Request) -> Response:
    """The RFC 6454 origins of a client's redirect URIs (§3.2: the iframe MUST check the sender)."""
    provider = Provider.of(request)
    client_id = request.query_params.get("client_id", "")
    async with provider.db.read() as conn:
        client = await provider.client(conn, client_id)
    if client is None:
        return JSONResponse({"origins": []}, status_code=404, headers={"Cache-Control": "no-store"})
    return JSONResponse({"origins": sorted(client.redirect_origins)}, headers={"Cache-Control": "max-age=60"})
