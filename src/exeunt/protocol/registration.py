"""Client registration rules, checked whenever a client is added (CLI or seed file).

The logout specs put these rules on the RP; a provider that enforces them at registration never
has to guess later (FCL §2, BCL §2.2, RIL §3.1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.urls import is_loopback_host, origin_of

MIN_CLIENT_SECRET_LENGTH = 32

CLIENT_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")


class RegistrationError(ValueError):
    """A client's metadata breaks a rule; the message names the field."""


def _absolute(field: str, uri: str, *, web_only: bool = False) -> None:
    parts = urlsplit(uri)
    if not parts.scheme or (parts.scheme in ("http", "https") and not parts.hostname):
        raise RegistrationError(f"{field} must be an absolute URI (got {uri!r})")
    if "#" in uri:
        raise RegistrationError(f"{field} must not have a fragment (got {uri!r})")
    if any(c.isspace() for c in uri):
        raise RegistrationError(f"{field} must not contain spaces (got {uri!r})")
    if web_only and parts.scheme not in ("http", "https"):
        raise RegistrationError(f"{field} must be an http or https URI (got {uri!r})")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise RegistrationError(f"{field} must use https unless it is on a loopback host (got {uri!r})")


def build_client(
    *,
    client_id: str,
    name: str | None,
    redirect_uris: Iterable[str],
    public: bool = False,
    token_endpoint_auth_method: str | None = None,
    post_logout_redirect_uris: Iterable[str] = (),
    frontchannel_logout_uri: str | None = None,
    frontchannel_logout_session_required: bool = False,
    backchannel_logout_uri: str | None = None,
    backchannel_logout_session_required: bool = False,
    id_token_signed_response_alg: str | None = None,
    secret_hash: str | None = None,
) -> ClientRecord:
    if not CLIENT_ID.match(client_id):
        raise RegistrationError("client_id must be 1 to 200 printable ASCII characters without spaces")
    redirects = list(dict.fromkeys(redirect_uris))
    if not redirects:
        raise RegistrationError("a client needs at least one redirect URI (--redirect-uri)")
    for uri in redirects:
        _absolute("redirect_uri", uri)
    post_logout = list(dict.fromkeys(post_logout_redirect_uris))
    for uri in post_logout:
        _absolute("post_logout_redirect_uri", uri)
    if frontchannel_logout_uri:
        _absolute("frontchannel_logout_uri", frontchannel_logout_uri, web_only=True)
        if origin_of(frontchannel_logout_uri) not in {origin_of(u) for u in redirects}:
            raise RegistrationError(
                "frontchannel_logout_uri must have the scheme, host and port of one of the redirect URIs "
                f"(got {frontchannel_logout_uri!r})"
            )
    elif frontchannel_logout_session_required:
        raise RegistrationError("frontchannel_logout_session_required needs a frontchannel_logout_uri")
    if backchannel_logout_uri:
        _absolute("backchannel_logout_uri", backchannel_logout_uri, web_only=True)
    elif backchannel_logout_session_required:
        raise RegistrationError("backchannel_logout_session_required needs a backchannel_logout_uri")
    method = "none" if public else (token_endpoint_auth_method or "client_secret_basic")
    if method not in AUTH_METHODS or (method == "none") != public:
        raise RegistrationError(
            "token_endpoint_auth_method must be client_secret_basic or client_secret_post for confidential "
            "clients (public clients use none)"
        )
    if id_token_signed_response_alg not in (None, "RS256", "ES256"):
        raise RegistrationError("id_token_signed_response_alg must be RS256 or ES256")
    return ClientRecord(
        client_id=client_id,
        name=name or client_id,
        token_endpoint_auth_method=method,
        redirect_uris=redirects,
        post_logout_redirect_uris=post_logout,
        frontchannel_logout_uri=frontchannel_logout_uri or None,
        frontchannel_logout_session_required=frontchannel_logout_session_required,
        backchannel_logout_uri=backchannel_logout_uri or None,
        backchannel_logout_session_required=backchannel_logout_session_required,
        id_token_signed_response_alg=id_token_signed_response_alg,
        secret_hash=None if public else secret_hash,
    )


def check_chosen_secret(secret: str) -> None:
    if len(secret) < MIN_CLIENT_SECRET_LENGTH:
        raise RegistrationError(
            f"a client secret must be at least {MIN_CLIENT_SECRET_LENGTH} characters "
            "(leave it out to have one generated)"
        )
