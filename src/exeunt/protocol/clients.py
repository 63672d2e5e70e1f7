"""A registered client (relying party) as the protocol rules see it: plain data, no storage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from exeunt.protocol.urls import safe_origin, uri_problem


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    token_endpoint_auth_method: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    frontchannel_logout_uri: str | None = None
    frontchannel_logout_session_required: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    id_token_signed_response_alg: str | None = None
    secret_hash: str | None = field(default=None, repr=False)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code"])
    allow_offline_access: bool = False  # may get offline_access refresh tokens (first-party: no consent page)
    rotate_refresh_tokens: bool = True  # public clients always rotate
    scopes: list[str] = field(default_factory=list)  # granted for the client-credentials grant
    all_subjects: bool = False  # its streams and revocations reach everyone, not only its own users
    # Registration metadata (RFC 7591 §2) kept and returned, never loaded by exeunt's pages:
    application_type: str = "web"
    contacts: list[str] = field(default_factory=list)
    client_uri: str | None = None
    logo_uri: str | None = None
    policy_uri: str | None = None
    tos_uri: str | None = None
    disabled: bool = False  # an operator stopped it: it can no longer sign anyone in or get tokens

    @property
    def gets_refresh_tokens(self) -> bool:
        return "refresh_token" in self.grant_types

    @property
    def signs_people_in(self) -> bool:
        return "authorization_code" in self.grant_types

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def redirect_origins(self) -> frozenset[str]:
        """Origins of the web redirect URIs (CORS, the session iframe's frame-ancestors).  A URI that is
        not a well-formed web URI (a native app's scheme, a row registered before the rules) is skipped."""
        return frozenset(o for o in map(safe_origin, self.redirect_uris) if o is not None)

    @property
    def odd_redirect_uris(self) -> list[str]:
        """Redirect URIs that are neither well-formed web URIs nor a native app's private-use scheme."""
        return [u for u in self.redirect_uris if uri_problem(u, native=True) is not None]

    def public_view(self) -> dict[str, object]:
        """Registration metadata without the secret hash (for `exeunt clients show`)."""
        data = asdict(self)
        data.pop("secret_hash")
        return data


# How the protocol rules find a client by id; the caller supplies it (a cache, a database read, a dict).
ClientLookup = Callable[[str], Awaitable[ClientRecord | None]]
