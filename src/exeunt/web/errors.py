"""Errors as the caller should see them: OAuth JSON (RFC 6749 §5.2), redirects, or a page for a person.

``OAuthError`` carries the wire ``error`` code and a public ``description``; anything that is not an
``OAuthError`` becomes a plain ``server_error`` without details (logged, never shown).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(Exception):
    """An error with an RFC 6749 / OpenID Connect ``error`` code."""

    def __init__(self, error: str, description: str, status: int = 400, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}

    def json(self) -> JSONResponse:
        return JSONResponse(
            {"error": self.error, "error_description": self.description},
            status_code=self.status,
            headers={**NO_STORE, **self.headers},
        )


def invalid_request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


def invalid_client(description: str) -> OAuthError:
    return OAuthError("invalid_client", description, 401, {"WWW-Authenticate": 'Basic realm="exeunt"'})


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def redirect_with(uri: str, params: dict[str, str | None]) -> Response:
    """303 to ``uri`` with ``params`` added to its query (an existing query is kept)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    separator = "&" if "?" in uri else "?"
    return Response(status_code=303, headers={"Location": uri + separator + query, **NO_STORE})


def error_page(request: Request, title: str, message: str, status: int = 400, **context: object) -> Response:
    """An HTML page a person can understand; never includes internals."""
    templates = request.app.state.provider.templates
    response: Response = templates.TemplateResponse(
        request, "error.html", {"title": title, "message": message, **context}, status_code=status, headers=NO_STORE
    )
    return response
