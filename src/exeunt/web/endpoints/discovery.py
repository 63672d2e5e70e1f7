"""OpenID Connect Discovery 1.0 metadata and the JWKS."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from exeunt.config import Config
from exeunt.languages import SUPPORTED
from exeunt.protocol.scopes import SERVICE_SCOPES
from exeunt.web.provider import Provider

SCOPES = ["openid", "profile", "email", "offline_access", *SERVICE_SCOPES]
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CLAIMS = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "at_hash",
    "name",
    "preferred_username",
    "email",
    "email_verified",
]

# Paths of every endpoint, in one place: discovery advertises these and the router mounts them.
PATHS = {
    "authorization_endpoint": "/authorize",
    "token_endpoint": "/token",
    "userinfo_endpoint": "/userinfo",
    "jwks_uri": "/jwks",
    "end_session_endpoint": "/logout",
    "check_session_iframe": "/session/check",
    "revocation_endpoint": "/revoke",
    "introspection_endpoint": "/introspect",
}


def metadata(config: Config, algorithms: list[str]) -> dict[str, Any]:
    urls = {name: config.url(path) for name, path in PATHS.items()}
    if config.registration != "off":
        urls["registration_endpoint"] = config.url("/register")
    return {
        "issuer": config.issuer,
        **urls,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "scopes_supported": SCOPES,
        "claims_supported": CLAIMS,
        "ui_locales_supported": list(SUPPORTED),  # Discovery 1.0 §3: the pages' languages (ui_locales)
        "token_endpoint_auth_methods_supported": AUTH_METHODS,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
        "introspection_endpoint_auth_methods_supported": AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "frontchannel_logout_supported": True,
        "frontchannel_logout_session_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # Global Token Revocation (a bearer token with the global_token_revocation scope)
        "global_token_revocation_endpoint": config.url("/global-token-revocation"),
        "global_token_revocation_endpoint_auth_methods_supported": ["Bearer"],
    }


async def openid_configuration(request: Request) -> JSONResponse:
    provider = Provider.of(request)
    ring = await provider.runtime.key_ring()
    algorithms = ring.signing_algorithms(provider.now())
    return JSONResponse(metadata(provider.config, algorithms), headers={"Cache-Control": "public, max-age=300"})


async def jwks(request: Request) -> JSONResponse:
    provider = Provider.of(request)
    ring = await provider.runtime.key_ring()
    # Short cache: a rotated-in key must reach clients well before it starts signing.
    return JSONResponse(
        ring.jwks(provider.now()),
        headers={"Cache-Control": "public, max-age=300"},
        media_type="application/jwk-set+json",
    )
