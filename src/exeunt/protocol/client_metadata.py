"""Client metadata over HTTP (RFC 7591 §2, OpenID Connect Registration 1.0 §2), pure.

``client_from_metadata`` reads a registration (or an RFC 7592 replacement) into a ``ClientRecord``
through ``registration.build_client``: the very rules ``exeunt clients add`` applies, so every
logout field is checked exactly as if an operator had typed it.  ``metadata_of`` is the client as
the registration endpoint answers it, defaults filled in.

What exeunt decides rather than the client: no ``offline_access`` (no consent page: an operator
allows it), service scopes only as far as the initial access token allows, no software statements,
no ``private_key_jwt``.  Metadata exeunt does not know is ignored (RFC 7591 §2).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from exeunt.errors import RegistrationError
from exeunt.protocol.clients import ClientRecord
from exeunt.protocol.registration import build_client
from exeunt.protocol.scopes import SERVICE_SCOPES
from exeunt.protocol.urls import is_private_use_scheme, uri_problem

URL_FIELDS = ("client_uri", "logo_uri", "policy_uri", "tos_uri")
PERSON_SCOPES = ("openid", "profile", "email")
MAX_CONTACTS = 10
MAX_CONTACT = 320
# Given by exeunt, never by the client (RFC 7592 §2.2: a replacement must not carry them).
SERVER_FIELDS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)


def client_from_metadata(
    metadata: object, *, client_id: str, allowed_scopes: tuple[str, ...] = (), public_ok: bool = True
) -> ClientRecord:
    if not isinstance(metadata, dict):
        raise RegistrationError("the body must be a JSON object of client metadata")
    if "software_statement" in metadata:
        raise RegistrationError("exeunt does not accept software statements", error="invalid_software_statement")
    method = _choice(metadata, "token_endpoint_auth_method", ("client_secret_basic", "client_secret_post", "none"))
    public = method == "none"
    if public and not public_ok:
        raise RegistrationError("token_endpoint_auth_method none is not allowed here")
    response_types = _strings(metadata, "response_types", ["code"])
    if response_types != ["code"]:
        raise RegistrationError('response_types must be ["code"] (exeunt issues codes only)')
    grant_types = _strings(metadata, "grant_types", ["authorization_code"])
    application_type = _choice(metadata, "application_type", ("web", "native")) or "web"
    redirect_uris = _strings(metadata, "redirect_uris", [])
    for uri in redirect_uris:
        scheme = urlsplit(uri).scheme.lower()
        if application_type == "web" and is_private_use_scheme(scheme):
            raise RegistrationError(
                f"redirect_uri {uri[:200]!r}: a private-use scheme is for application_type native",
                error="invalid_redirect_uri",
            )
    scopes = _strings(metadata, "scope", [], split=True)
    unknown = [s for s in scopes if s not in PERSON_SCOPES and s not in SERVICE_SCOPES and s != "offline_access"]
    if unknown:
        raise RegistrationError(f"scope {unknown[0][:100]!r} is not one exeunt knows")
    not_allowed = [s for s in scopes if s in SERVICE_SCOPES and s not in allowed_scopes]
    if not_allowed:
        raise RegistrationError(f"scope {not_allowed[0]} is not allowed for clients registered this way")
    for name in URL_FIELDS:
        value = metadata.get(name)
        if value is not None and (not isinstance(value, str) or uri_problem(value) is not None):
            raise RegistrationError(f"{name} must be an https URI (http only on loopback)")
    contacts = _strings(metadata, "contacts", [])
    if len(contacts) > MAX_CONTACTS or any(len(c) > MAX_CONTACT or "@" not in c for c in contacts):
        raise RegistrationError(f"contacts must be at most {MAX_CONTACTS} email addresses")
    record = build_client(
        client_id=client_id,
        name=_text(metadata, "client_name"),
        redirect_uris=redirect_uris,
        public=public,
        token_endpoint_auth_method=None if public else method,
        post_logout_redirect_uris=_strings(metadata, "post_logout_redirect_uris", []),
        frontchannel_logout_uri=_text(metadata, "frontchannel_logout_uri"),
        frontchannel_logout_session_required=_flag(metadata, "frontchannel_logout_session_required"),
        backchannel_logout_uri=_text(metadata, "backchannel_logout_uri"),
        backchannel_logout_session_required=_flag(metadata, "backchannel_logout_session_required"),
        id_token_signed_response_alg=_choice(metadata, "id_token_signed_response_alg", ("RS256", "ES256")),
        grant_types=grant_types,
        scopes=[s for s in scopes if s in SERVICE_SCOPES],
    )
    return replace(
        record,
        application_type=application_type,
        contacts=contacts,
        client_uri=metadata.get("client_uri"),
        logo_uri=metadata.get("logo_uri"),
        policy_uri=metadata.get("policy_uri"),
        tos_uri=metadata.get("tos_uri"),
    )


def metadata_of(client: ClientRecord) -> dict[str, Any]:
    """RFC 7591 §3.2.1: the registered metadata, defaults filled in (never the secret's hash)."""
    scopes = [*PERSON_SCOPES, *client.scopes] if client.signs_people_in else list(client.scopes)
    metadata: dict[str, Any] = {
        "client_id": client.client_id,
        "client_name": client.name,
        "application_type": client.application_type,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "response_types": ["code"] if client.signs_people_in else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "id_token_signed_response_alg": client.id_token_signed_response_alg or "RS256",
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "scope": " ".join(scopes),
        "contacts": client.contacts,
    }
    for name in ("frontchannel_logout_uri", "backchannel_logout_uri", *URL_FIELDS):
        value = getattr(client, name)
        if value is not None:
            metadata[name] = value
    return metadata


def _strings(metadata: dict[str, Any], name: str, default: list[str], *, split: bool = False) -> list[str]:
    value = metadata.get(name)
    if value is None:
        return list(default)
    if split:
        if not isinstance(value, str) or len(value) > 2000:
            raise RegistrationError(f"{name} must be a space-separated string")
        return list(dict.fromkeys(value.split()))
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistrationError(f"{name} must be a list of strings", error=_error_for(name))
    return list(value)


def _text(metadata: dict[str, Any], name: str) -> str | None:
    value = metadata.get(name)
    if value is not None and not isinstance(value, str):
        raise RegistrationError(f"{name} must be a string")
    return value or None


def _flag(metadata: dict[str, Any], name: str) -> bool:
    value = metadata.get(name, False)
    if not isinstance(value, bool):
        raise RegistrationError(f"{name} must be true or false")
    return value


def _choice(metadata: dict[str, Any], name: str, allowed: tuple[str, ...]) -> str | None:
    value = metadata.get(name)
    if value is not None and value not in allowed:
        raise RegistrationError(f"{name} must be one of {', '.join(allowed)}")
    return value if isinstance(value, str) else None


def _error_for(name: str) -> str:
    return "invalid_redirect_uri" if name == "redirect_uris" else "invalid_client_metadata"
