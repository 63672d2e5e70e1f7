"""Errors as the caller should see them (the tree is in ``exeunt/errors.py``): OAuth JSON (RFC 6749
§5.2, RFC 6750 §3), a JSON API's answer, a redirect, or a page for a person.

Endpoints raise; ``install`` registers one handler per branch of the tree on the app.  A ``detail``
goes to the log, never to the caller.  Anything that is not an ``ExeuntError`` becomes a plain
``server_error`` without details (logged, never shown: see ``web/app.py``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from exeunt.errors import ApiError, ExeuntError, OAuthError, PageError
from exeunt.words import Words

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
log = logging.getLogger("exeunt.errors")


def _log_detail(exc: ExeuntError) -> None:
    if exc.detail:
        log.info("%s: %s (%s)", type(exc).__name__, exc.description, exc.detail)


def oauth_response(exc: OAuthError) -> JSONResponse:
    """``{"error", "error_description"}`` with the error's status and headers, never cached."""
    _log_detail(exc)
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})


def api_response(exc: ApiError) -> JSONResponse:
    _log_detail(exc)
    return JSONResponse(exc.body(), status_code=exc.status, headers={**NO_STORE, **exc.headers})


def redirect_with(uri: str, params: dict[str, str | None]) -> Response:
    """303 to ``uri`` with ``params`` added to its query (an existing query is kept)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in uri else "?"
    return Response(status_code=303, headers={"Location": uri + separator + query, **NO_STORE})


def error_page(request: Request, title: Words, message: Words, status: int = 400, **context: object) -> Response:
    """An HTML page a person can understand; never includes internals."""
    templates = request.app.state.provider.templates
    response: Response = templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message, **context}, status_code=status, headers=NO_STORE
    )
    return response


def page_for(request: Request, exc: PageError) -> Response:
    _log_detail(exc)
    return error_page(request, exc.title, exc.description, exc.status)


async def _oauth(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, OAuthError)
    return oauth_response(exc)


async def _api(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_response(exc)


async def _page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return page_for(request, exc)


HANDLERS = {OAuthError: _oauth, ApiError: _api, PageError: _page}
