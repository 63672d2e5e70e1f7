"""A registered client (relying party) as the protocol rules see it: plain data, no storage."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from exeunt.protocol.urls import origin_of


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

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def redirect_origins(self) -> frozenset[str]:
        return frozenset(origin_of(u) for u in self.redirect_uris)

    def public_view(self) -> dict[str, object]:
        """Registration metadata without the secret hash (for `exeunt clients show`)."""
        data = asdict(self)
        data.pop("secret_hash")
        return data


# How the protocol rules find a client by id; the caller supplies it (a cache, a database read, a dict).
ClientLookup = Callable[[str], Awaitable[ClientRecord | None]]
