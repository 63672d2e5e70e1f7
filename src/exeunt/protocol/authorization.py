"""The authorization request (OpenID Connect Core §3.1.2.1–§3.1.2.2, RFC 7636), as a pipeline of checks.

Order matters for safety.  Until the client and its exact redirect URI are known, every error is
a ``PageError`` shown to the person (never a redirect: Core §3.1.2.6, RFC 6749 §4.1.2.1 "the
authorization server SHOULD inform the resource owner of the error and MUST NOT automatically
redirect").  After that each check in ``CHECKS`` may raise a ``RedirectError``, which goes back to the
verified redirect URI with ``state``.  Read ``CHECKS`` top to bottom to see the order.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from exeunt.errors import OAuthError, PageError
from exeunt.protocol.clients import ClientLookup, ClientRecord
from exeunt.protocol.identifiers import is_client_id
from exeunt.protocol.numbers import parse_non_negative
from exeunt.protocol.scopes import granted_scope
from exeunt.words import N_

MAX_PARAM_LENGTH = 2048
MAX_AGE_LIMIT = 10 * 365 * 86400  # a max_age beyond ten years means "any sign-in"
LONG_PARAMS = frozenset({"id_token_hint", "claims"})  # may exceed MAX_PARAM_LENGTH
PROMPTS = frozenset({"none", "login", "consent", "select_account"})
S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")


class RedirectError(OAuthError):
    """Sent back to the (verified) redirect URI as ``error`` / ``error_description`` with ``state``
    (Core §3.1.2.6).  A page error (``PageError``) is shown instead while the URI is not trusted."""

    def __init__(
        self, client: ClientRecord, redirect_uri: str, state: str | None, error: str, description: str
    ) -> None:
        super().__init__(error, description, 303)
        self.client = client
        self.redirect_uri = redirect_uri
        self.state = state


class _Refused(Exception):
    """A check's verdict before the redirect target is attached (``RedirectError`` once it is)."""

    def __init__(self, error: str, description: str, *, echo_state: bool = True) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.echo_state = echo_state


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


# -- before the redirect URI is trusted: errors are pages ---------------------------------
async def identify_client(params: Mapping[str, str], lookup: ClientLookup) -> ClientRecord:
    """Core §3.1.2.1: client_id REQUIRED; it must name a registered client."""
    client_id = params.get("client_id")
    if not client_id:
        raise PageError(
            N_("Sign-in request is incomplete"),
            N_("The application did not say who it is (the client_id parameter is missing)."),
        )
    client = await lookup(client_id) if is_client_id(client_id) else None
    if client is None:
        raise PageError(N_("Unknown application"), N_("The client_id is not one registered here."))
    return client


def registered_redirect_uri(params: Mapping[str, str], client: ClientRecord) -> str:
    """Core §3.1.2.1: redirect_uri REQUIRED and MUST exactly match a pre-registered value (simple
    string comparison, Core §3.1.2.1 and RFC 9700 §4.1.3)."""
    redirect_uri = params.get("redirect_uri")
    if not redirect_uri:
        raise PageError(
            N_("Sign-in request is incomplete"),
            N_("The application did not say where to return (redirect_uri is missing)."),
        )
    if redirect_uri not in client.redirect_uris:
        raise PageError(
            N_("Sign-in request refused"),
            N_("The redirect_uri is not registered for this application, so exeunt will not send you there."),
        )
    return redirect_uri


# -- after: each check refuses with an OAuth error code -----------------------------------
def check_state_length(params: Mapping[str, str], client: ClientRecord) -> None:
    """Echoing a huge state would make the redirect itself unusable: refuse it without echoing it."""
    state = params.get("state")
    if state is not None and len(state) > MAX_PARAM_LENGTH:
        raise _Refused("invalid_request", "state is too long", echo_state=False)


def check_parameter_lengths(params: Mapping[str, str], client: ClientRecord) -> None:
    for name, value in params.items():
        if len(value) > MAX_PARAM_LENGTH and name not in LONG_PARAMS:
            raise _Refused("invalid_request", f"{name} is too long")


def check_no_request_objects(params: Mapping[str, str], client: ClientRecord) -> None:
    """Core §6: an OP that does not support them returns request_not_supported / request_uri_not_supported."""
    if "request" in params:
        raise _Refused("request_not_supported", "request objects are not supported")
    if "request_uri" in params:
        raise _Refused("request_uri_not_supported", "request_uri is not supported")


def check_response_type(params: Mapping[str, str], client: ClientRecord) -> None:
    """Core §3.1.2.1: response_type REQUIRED; only the code flow is offered (RFC 6749 §4.1.2.1)."""
    response_type = params.get("response_type")
    if not response_type:
        raise _Refused("invalid_request", "response_type is missing")
    if response_type != "code":
        raise _Refused("unsupported_response_type", "only response_type=code is supported")


def check_response_mode(params: Mapping[str, str], client: ClientRecord) -> None:
    if params.get("response_mode") not in (None, "query"):
        raise _Refused("invalid_request", "only response_mode=query is supported")


def check_openid_scope(params: Mapping[str, str], client: ClientRecord) -> None:
    """Core §3.1.2.1: scope REQUIRED, MUST contain the openid scope value."""
    if "openid" not in params.get("scope", "").split():
        raise _Refused("invalid_scope", "scope must include openid")


def prompt_of(params: Mapping[str, str]) -> frozenset[str]:
    return frozenset(params.get("prompt", "").split())


def check_prompt(params: Mapping[str, str], client: ClientRecord) -> None:
    """Core §3.1.2.1: prompt values are space-delimited; "none" with any other value is an error."""
    prompt = prompt_of(params)
    if not prompt <= PROMPTS:
        raise _Refused("invalid_request", "prompt has an unknown value")
    if "none" in prompt and len(prompt) > 1:
        raise _Refused("invalid_request", "prompt=none cannot be combined with other values")


def max_age_of(params: Mapping[str, str]) -> int | None:
    raw = params.get("max_age")
    if raw is None:
        return None
    value = parse_non_negative(raw)
    return None if value is None else min(value, MAX_AGE_LIMIT)


def check_max_age(params: Mapping[str, str], client: ClientRecord) -> None:
    """Core §3.1.2.1: max_age is a number of seconds (ASCII digits only; a Unicode digit is refused)."""
    if "max_age" in params and max_age_of(params) is None:
        raise _Refused("invalid_request", "max_age must be a non-negative whole number of seconds")


def check_pkce(params: Mapping[str, str], client: ClientRecord) -> None:
    """RFC 7636 §4.3 with S256 only (RFC 9700 §2.1.1); public clients MUST use it (RFC 9700 §2.1.1)."""
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if challenge is None:
        if method is not None:
            raise _Refused("invalid_request", "code_challenge_method without code_challenge")
        if client.is_public:
            raise _Refused("invalid_request", "public clients must use PKCE (code_challenge with S256)")
        return
    if method != "S256":
        raise _Refused("invalid_request", "code_challenge_method must be S256")
    if not S256_CHALLENGE.match(challenge):
        raise _Refused("invalid_request", "code_challenge must be 43 base64url characters")


Check = Callable[[Mapping[str, str], ClientRecord], None]

# The pipeline, in order: the first check that refuses decides the error.
CHECKS: tuple[Check, ...] = (
    check_state_length,
    check_parameter_lengths,
    check_no_request_objects,
    check_response_type,
    check_response_mode,
    check_openid_scope,
    check_prompt,
    check_max_age,
    check_pkce,
)


async def validate(params: dict[str, str], lookup: ClientLookup) -> AuthRequest:
    """The whole request: raises ``PageError`` or ``RedirectError``, else returns what was asked."""
    client = await identify_client(params, lookup)
    redirect_uri = registered_redirect_uri(params, client)
    state = params.get("state")
    for check in CHECKS:
        try:
            check(params, client)
        except _Refused as refused:
            echoed = state if refused.echo_state else None
            raise RedirectError(client, redirect_uri, echoed, refused.error, refused.description) from None
    scopes = granted_scope(params.get("scope", "").split(), offline_allowed=client.allow_offline_access)
    return AuthRequest(
        client=client,
        redirect_uri=redirect_uri,
        state=state,
        scope=" ".join(dict.fromkeys(scopes)),
        nonce=params.get("nonce"),
        code_challenge=params.get("code_challenge"),
        prompt=prompt_of(params),
        max_age=max_age_of(params),
        login_hint=params.get("login_hint"),
        params=params,
    )


def needs_login(req: AuthRequest, auth_time: datetime | None, now: datetime) -> bool:
    """Core §3.1.2.3: authenticate when there is no session, when prompt=login, or when the last
    authentication is older than max_age."""
    if auth_time is None or "login" in req.prompt:
        return True
    return req.max_age is not None and (now - auth_time) > timedelta(seconds=req.max_age)
