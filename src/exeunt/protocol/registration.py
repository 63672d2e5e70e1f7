"""Client registration rules, checked whenever a client is added (CLI or seed file).

The logout specs put these rules on the RP; a provider that enforces them at registration never
has to guess later (FCL §2, BCL §2.2, RIL §3.1).
"""

from __future__ import annotations

from collections.abc import Iterable

from exeunt.errors import RegistrationError
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.identifiers import is_client_id
from exeunt.protocol.scopes import SERVICE_SCOPES
from exeunt.protocol.urls import origin_of, uri_problem

MIN_CLIENT_SECRET_LENGTH = 32

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "none")
MAX_URIS = 50
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
MAX_NAME_LENGTH = 200


def _check_uri(field: str, uri: str, *, native: bool = False) -> None:
    problem = uri_problem(uri, native=native)
    if problem is not None:
        error = "invalid_redirect_uri" if field == "redirect_uri" else "invalid_client_metadata"
        raise RegistrationError(f"{field} {problem} (got {uri[:200]!r})", error=error)


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
    grant_types: Iterable[str] = ("authorization_code",),
    allow_offline_access: bool = False,
    rotate_refresh_tokens: bool = True,
    scopes: Iterable[str] = (),
    all_subjects: bool = False,
) -> ClientRecord:
    if not is_client_id(client_id):
        raise RegistrationError("client_id must be 1 to 200 printable ASCII characters without spaces")
    if name is not None and (
        not name.strip() or len(name) > MAX_NAME_LENGTH or any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    ):
        raise RegistrationError(f"a client name is 1 to {MAX_NAME_LENGTH} characters without control characters")
    grants = list(dict.fromkeys(grant_types))
    if not grants or not set(grants) <= set(GRANT_TYPES):
        raise RegistrationError(f"grant_types must be some of {', '.join(GRANT_TYPES)} (RFC 7591 §2)")
    signs_people_in = "authorization_code" in grants
    redirects = list(dict.fromkeys(redirect_uris))
    if signs_people_in and not redirects:
        raise RegistrationError(
            "a client that signs people in needs at least one redirect URI (--redirect-uri)",
            error="invalid_redirect_uri",
        )
    if not signs_people_in:
        people_only = {
            "redirect_uris": redirects,
            "post_logout_redirect_uris": list(post_logout_redirect_uris),
            "frontchannel_logout_uri": frontchannel_logout_uri,
            "backchannel_logout_uri": backchannel_logout_uri,
            "allow_offline_access": allow_offline_access,
        }
        given = [name for name, value in people_only.items() if value]
        if given:
            raise RegistrationError(f"{given[0]} is for a client that signs people in (grant authorization_code)")
    if len(redirects) > MAX_URIS:
        raise RegistrationError(f"a client may register at most {MAX_URIS} redirect URIs")
    for uri in redirects:
        _check_uri("redirect_uri", uri, native=True)
    post_logout = list(dict.fromkeys(post_logout_redirect_uris))
    if len(post_logout) > MAX_URIS:
        raise RegistrationError(f"a client may register at most {MAX_URIS} post_logout_redirect_uris")
    for uri in post_logout:
        _check_uri("post_logout_redirect_uri", uri, native=True)
    if frontchannel_logout_uri:
        _check_uri("frontchannel_logout_uri", frontchannel_logout_uri)
        if origin_of(frontchannel_logout_uri) not in {origin_of(u) for u in redirects}:
            raise RegistrationError(
                "frontchannel_logout_uri must have the scheme, host and port of one of the redirect URIs "
                f"(got {frontchannel_logout_uri!r})"
            )
    elif frontchannel_logout_session_required:
        raise RegistrationError("frontchannel_logout_session_required needs a frontchannel_logout_uri")
    if backchannel_logout_uri:
        _check_uri("backchannel_logout_uri", backchannel_logout_uri)
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
    if "refresh_token" in grants and not signs_people_in:
        raise RegistrationError("the refresh_token grant needs authorization_code (refresh tokens are of a person)")
    if "client_credentials" in grants and public:
        raise RegistrationError("the client_credentials grant is for confidential clients (RFC 6749 §4.4)")
    granted = list(dict.fromkeys(scopes))
    unknown = [s for s in granted if s not in SERVICE_SCOPES]
    if unknown:
        raise RegistrationError(f"scope {unknown[0][:100]!r} is not one exeunt grants; use {', '.join(SERVICE_SCOPES)}")
    if (granted or all_subjects) and "client_credentials" not in grants:
        raise RegistrationError("scopes and all_subjects are for a client with the client_credentials grant")
    if allow_offline_access and "refresh_token" not in grants:
        raise RegistrationError("allow_offline_access needs the refresh_token grant type")
    if public and not rotate_refresh_tokens:
        raise RegistrationError("public clients always rotate refresh tokens (RFC 9700 §4.14.2)")
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
        grant_types=grants,
        allow_offline_access=allow_offline_access,
        rotate_refresh_tokens=rotate_refresh_tokens,
        scopes=granted,
        all_subjects=all_subjects,
    )


def check_chosen_secret(secret: str) -> None:
    if len(secret) < MIN_CLIENT_SECRET_LENGTH:
        raise RegistrationError(
            f"a client secret must be at least {MIN_CLIENT_SECRET_LENGTH} characters "
            "(leave it out to have one generated)"
        )
