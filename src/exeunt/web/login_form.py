"""The sign-in form: rendering it, and carrying the pending authorization request through it.

The pending request travels in the form as a signed, time-limited blob (nothing is stored for
a visitor who never signs in).  The form's CSRF token is bound to a random ``exeunt_login``
cookie, so a cross-site page cannot sign a victim in to the attacker's account.
"""

from __future__ import annotations

from typing import Any, cast

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from exeunt.security import new_token
from exeunt.web.errors import NO_STORE
from exeunt.web.provider import Provider
from exeunt.words import Words

PENDING_REQUEST_MAX_AGE = 1800  # seconds a person may take to sign in
# Where a sign-in without an application's request goes next: a fixed list of the provider's own
# pages, named by key, so no URL from a request is ever followed (no open redirect).
AFTER_SIGN_IN = {"sessions": "/account/sessions", "password": "/account/password", "console": "/console/"}


def after_sign_in(key: str | None) -> str:
    return AFTER_SIGN_IN.get(key or "", "/")


def _serializer(provider: Provider) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(provider.runtime.secret_key, salt="exeunt.pending-authorization")


def load_pending(provider: Provider, blob: str) -> dict[str, str] | None:
    try:
        data: Any = _serializer(provider).loads(blob, max_age=PENDING_REQUEST_MAX_AGE)
    except BadSignature:
        return None
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        return None
    return cast(dict[str, str], data)


def render_login(
    provider: Provider,
    request: Request,
    *,
    params: dict[str, str] | None,
    username: str = "",
    message: Words | None = None,
    status: int = 200,
    client_name: str | None = None,
    headers: dict[str, str] | None = None,
    then: str | None = None,
) -> Response:
    binding = provider.cookies.read_login_binding(request) or new_token(16)
    response = provider.templates.TemplateResponse(
        request,
        "login.html",
        {
            "csrf": provider.csrf("login", binding),
            "pending": _serializer(provider).dumps(params) if params else "",
            "username": username,
            "message": message,
            "client_name": client_name,
            "then": then if then in AFTER_SIGN_IN else "",
        },
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )
    provider.cookies.set_login_binding(response, binding)
    return response
