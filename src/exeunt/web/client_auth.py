"""Client authentication at the token, revocation and introspection endpoints (RFC 6749 §2.3):
``client_secret_basic``, ``client_secret_post`` or ``none``, with guessing throttled."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from starlette.requests import Request
from starlette.responses import Response

from exeunt.errors import OAuthError, invalid_client, invalid_request
from exeunt.protocol.clients import ClientRecord
from exeunt.security import verify_client_secret
from exeunt.storage.database import Connection
from exeunt.throttling import client_keys
from exeunt.web.errors import oauth_response
from exeunt.web.guessing import Keys, address_of, count_failure, locked_for
from exeunt.web.params import read_params
from exeunt.web.provider import Provider


def _basic_credentials(header: str) -> tuple[str, str]:
    """RFC 6749 §2.3.1: both parts are form-urlencoded before being joined and base64-encoded."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


@dataclass(frozen=True)
class Credentials:
    """Who a request says it is: a registered client, the secret presented (None: the client
    authenticates with ``none``), and the guessing keys a wrong secret counts against."""

    client: ClientRecord
    secret: str | None
    guesses: Keys


async def identify_client(
    provider: Provider, conn: Connection, request: Request, params: dict[str, str]
) -> Credentials:
    """The client a request names and the credentials it presents, not yet verified."""
    header = request.headers.get("authorization", "")
    basic = header[:6].lower() == "basic "
    if basic and "client_secret" in params:
        raise invalid_request("use one client authentication method, not two")
    if basic:
        client_id, secret = _basic_credentials(header)
        if "client_id" in params and params["client_id"] != client_id:
            raise invalid_request("client_id does not match the authenticated client")
        method = "client_secret_basic"
    elif "client_secret" in params:
        client_id, secret, method = params.get("client_id", ""), params["client_secret"], "client_secret_post"
    else:
        client_id, secret, method = params.get("client_id", ""), "", "none"
    if not client_id:
        raise invalid_client("client authentication is missing")
    client = await provider.client(conn, client_id)
    if client is None:
        raise invalid_client("unknown client or wrong credentials")
    if client.token_endpoint_auth_method != method:
        raise invalid_client(f"this client authenticates with {client.token_endpoint_auth_method}")
    if method == "none":
        return Credentials(client, None, [])
    return Credentials(client, secret, client_keys(client.client_id, address_of(request)))


def locked_out(wait: int) -> OAuthError:
    """The answer while a client's secret is locked against guessing: refused before the secret is
    looked at, so guessing on gains nothing."""
    return OAuthError(
        "invalid_client",
        f"too many failed attempts for this client; retry in {wait} s",
        429,
        {"Retry-After": str(wait)},
    )


def verified(who: Credentials) -> ClientRecord:
    """The client, once its secret is right (raises ``WrongSecret``); call only when not locked out."""
    if who.secret is not None and not verify_client_secret(who.secret, who.client.secret_hash):
        raise WrongSecret(who.guesses)
    return who.client


async def authenticate_client(
    provider: Provider, conn: Connection, request: Request, params: dict[str, str]
) -> ClientRecord:
    who = await identify_client(provider, conn, request, params)
    if who.secret is None:
        return who.client
    wait = await locked_for(provider, conn, who.guesses, "client_secret")
    if wait:
        raise locked_out(wait)
    return verified(who)


class WrongSecret(OAuthError):
    """A wrong client secret: answered ``invalid_client`` and counted as a guess (after the rollback)."""

    def __init__(self, guesses: Keys) -> None:
        error = invalid_client("unknown client or wrong credentials")
        super().__init__(error.error, error.description, error.status, error.headers)
        self.guesses = guesses


Handler = Callable[[Request, Provider, dict[str, str]], Awaitable[Response]]


async def client_endpoint(request: Request, name: str, handler: Handler) -> Response:
    """The shell of the token, revocation and introspection endpoints: POST only, strict form
    parameters, and every error as an OAuth JSON answer; a wrong client secret also counts as a guess."""
    provider = Provider.of(request)
    if request.method != "POST":
        return oauth_response(invalid_request(f"the {name} endpoint takes POST"))
    try:
        params = await read_params(request, provider.config.max_body_bytes)
        return await handler(request, provider, params)
    except WrongSecret as exc:
        await count_failure(provider, exc.guesses)  # after the attempt's own transaction rolled back
        return oauth_response(exc)
    except OAuthError as exc:  # BadParameters included
        return oauth_response(exc)
