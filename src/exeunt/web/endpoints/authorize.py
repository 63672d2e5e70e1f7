"""The authorization endpoint (OpenID Connect Core §3.1.2), authorization-code flow only.

Order matters for safety: until the client and its exact redirect URI are known, every error is
an HTML page (never a redirect); after that, errors go back to the client with ``state``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from exeunt.security import new_token, sha256_hex
from exeunt.storage import grants
from exeunt.storage import sessions as session_store
from exeunt.storage.clients import ClientRecord, origin_of
from exeunt.storage.sessions import SessionRecord
from exeunt.tokens.session_state import session_state
from exeunt.web.errors import error_page, redirect_with
from exeunt.web.login_form import render_login
from exeunt.web.params import BadParameters, read_params
from exeunt.web.provider import Provider

MAX_PARAM_LENGTH = 2048
ACTIVITY_GRANULARITY = timedelta(minutes=1)  # last_active_at is not rewritten more often than this
PROMPTS = {"none", "login", "consent", "select_account"}
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class AuthorizePageError(Exception):
    """Shown to the person: the client or redirect URI cannot be trusted with a redirect."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


class AuthorizeRedirectError(Exception):
    """Sent back to the (verified) redirect URI as ``error`` / ``error_description``."""

    def __init__(
        self, client: ClientRecord, redirect_uri: str, state: str | None, error: str, description: str
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.client = client
        self.redirect_uri = redirect_uri
        self.state = state
        self.error = error
        self.description = description


@dataclass(frozen=True)
class AuthRequest:
    client: ClientRecord
    redirect_uri: str
    state: str | None
    scope: str
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    params: dict[str, str]


ClientLookup = Callable[[AsyncConnection, str], Awaitable[ClientRecord | None]]


async def validate(conn: AsyncConnection, params: dict[str, str], clients: ClientLookup) -> AuthRequest:
    client_id = params.get("client_id")
    if not client_id:
        raise AuthorizePageError(
            "Sign-in request is incomplete",
            "The application did not say who it is (the client_id parameter is missing).",
        )
    if len(client_id) > 200:
        raise AuthorizePageError("Unknown application", "The client_id is not one registered here.")
    client = await clients(conn, client_id)
    if client is None:
        raise AuthorizePageError("Unknown application", "The client_id is not one registered here.")
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise AuthorizePageError(
            "Sign-in request is incomplete", "The application did not say where to return (redirect_uri is missing)."
        )
    if redirect_uri not in client.redirect_uris:
        raise AuthorizePageError(
            "Sign-in request refused",
            "The redirect_uri is not registered for this application, so exeunt will not send you there.",
        )

    state = params.get("state")

    def fail(error: str, description: str) -> AuthorizeRedirectError:
        return AuthorizeRedirectError(client, redirect_uri, state, error, description)

    if state is not None and len(state) > MAX_PARAM_LENGTH:
        # Echoing a huge state would make the redirect itself unusable.
        raise AuthorizeRedirectError(client, redirect_uri, None, "invalid_request", "state is too long")
    for name, value in params.items():
        if len(value) > MAX_PARAM_LENGTH and name not in ("id_token_hint", "claims"):
            raise fail("invalid_request", f"{name} is too long")
    if "request" in params:
        raise fail("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise fail("request_uri_not_supported", "request_uri is not supported")
    response_type = params.get("response_type")
    if not response_type:
        raise fail("invalid_request", "response_type is missing")
    if response_type != "code":
        raise fail("unsupported_response_type", "only response_type=code is supported")
    response_mode = params.get("response_mode")
    if response_mode not in (None, "query"):
        raise fail("invalid_request", "only response_mode=query is supported")
    scopes = params.get("scope", "").split()
    if "openid" not in scopes:
        raise fail("invalid_scope", "scope must include openid")
    prompt = frozenset(params.get("prompt", "").split())
    if not prompt <= PROMPTS:
        raise fail("invalid_request", "prompt has an unknown value")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values")
    max_age: int | None = None
    if "max_age" in params:
        raw = params["max_age"]
        if not raw.isdigit():
            raise fail("invalid_request", "max_age must be a non-negative whole number of seconds")
        max_age = int(raw)
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise fail("invalid_request", "code_challenge_method without code_challenge")
        if client.is_public:
            raise fail("invalid_request", "public clients must use PKCE (code_challenge with S256)")
    else:
        if method != "S256":
            raise fail("invalid_request", "code_challenge_method must be S256")
        if not S256_CHALLENGE.match(challenge):
            raise fail("invalid_request", "code_challenge must be 43 base64url characters")
    return AuthRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scope=" ".join(dict.fromkeys(scopes)),
        nonce=params.get("nonce"),
        code_challenge=challenge,
        prompt=prompt,
        max_age=max_age,
        login_hint=params.get("login_hint"),
        params=params,
    )


def needs_login(req: AuthRequest, session: SessionRecord | None, now: datetime) -> bool:
    if session is None or "login" in req.prompt:
        return True
    return req.max_age is not None and (now - session.auth_time) > timedelta(seconds=req.max_age)


def error_redirect(provider: Provider, request: Request, err: AuthorizeRedirectError) -> Response:
    browser_state = provider.cookies.read_browser_state(request)
    return redirect_with(
        err.redirect_uri,
        {
            "error": err.error,
            "error_description": err.description,
            "state": err.state,
            "iss": provider.config.issuer,
            # Session Management §2: SHOULD be in error responses too (fresh salt each time).
            "session_state": session_state(err.client.client_id, origin_of(err.redirect_uri), browser_state or ""),
        },
    )


async def issue_code(
    provider: Provider, conn: AsyncConnection, req: AuthRequest, session: SessionRecord, browser_state: str
) -> Response:
    """Store a single-use code, record the client's participation, and redirect with the code."""
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
    )
    return redirect_with(
        req.redirect_uri,
        {
            "code": code,
            "state": req.state,
            "iss": provider.config.issuer,
            "session_state": session_state(req.client.client_id, origin_of(req.redirect_uri), browser_state),
        },
    )


async def authorize(request: Request) -> Response:
    provider = Provider.of(request)
    try:
        params = await read_params(request, provider.config.max_body_bytes)
    except BadParameters as exc:
        return error_page(request, "Sign-in request is malformed", exc.description, exc.status)
    now = provider.now()
    sid = provider.cookies.read_sid(request)
    browser_state = provider.cookies.read_browser_state(request)
    try:
        if sid is None:  # the common first visit: nothing to write, no write lock taken
            async with provider.db.read() as conn:
                req = await validate(conn, params, provider.client)
            session = None
        else:
            # A signed-in browser: validate, find the session and issue the code in one transaction.
            async with provider.db.write() as conn:
                req = await validate(conn, params, provider.client)
                session = await session_store.get_live(conn, sid, now)
                if session is not None and not needs_login(req, session, now):
                    # Signed in, but the state cookie was lost (cleared by hand): give it one, so the
                    # session_state issued now can read "unchanged" in the check_session iframe.
                    state_value = browser_state or new_token(16)
                    response = await issue_code(provider, conn, req, session, state_value)
                    if browser_state is None:
                        provider.cookies.set_browser_state(response, state_value)
                    return response
    except AuthorizePageError as exc:
        return error_page(request, exc.title, exc.message)
    except AuthorizeRedirectError as exc:
        return error_redirect(provider, request, exc)

    if "none" in req.prompt:
        reason = "the user is not signed in" if session is None else "the sign-in is older than max_age"
        return error_redirect(
            provider,
            request,
            AuthorizeRedirectError(req.client, req.redirect_uri, req.state, "login_required", reason),
        )
    return render_login(provider, request, params=params, username=req.login_hint or "", client_name=req.client.name)
